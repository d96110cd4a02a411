"""`covenant serve`, `covenant worker`, `covenant beat` and `covenant user …`: the long-running processes and the
web pages' accounts."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tasks.worker import QUEUES, worker_command
from workflow.cli.common import app, context, fail, out

user_app = typer.Typer(help="Accounts for the web pages (secretariat, archivists).", no_args_is_help=True)
app.add_typer(user_app, name="user")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="processes (validation is CPU-bound: one per core)")] = 1,
) -> None:
    """Serve the web pages and their API (set COVENANT_BASE_URL to the address leaders reach)."""
    import uvicorn

    from workflow.webapp import create_app

    if workers > 1:
        factory = "workflow.webapp:create_app_from_env"
        uvicorn.run(factory, factory=True, host=host, port=port, workers=workers, log_level="warning")
    else:
        uvicorn.run(create_app(context()), host=host, port=port, log_level="warning")


@app.command("worker")
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="tasks at once (1: in the worker's own process)")] = 1,
    queues: Annotated[str, typer.Option(help="queues to consume")] = QUEUES,
) -> None:
    """Start a Celery worker with the project's settings (needs COVENANT_BROKER_URL)."""
    if context().settings.eager:
        fail("COVENANT_BROKER_URL is not set: without a broker, tasks run in-process and no worker is needed")
    argv = worker_command(concurrency, queues)
    os.execvp(argv[0], argv)


@app.command("beat")
def beat() -> None:
    """Start Celery beat: reminders at each round's offsets and expiry at the deadline (needs COVENANT_BROKER_URL,
    a Redis). Any number may run: one holds the lease and schedules, the others take over when it dies."""
    settings = context().settings
    if settings.eager:
        fail("COVENANT_BROKER_URL is not set: beat hands its work to workers through the broker")
    if not (settings.broker_url or "").startswith(("redis://", "rediss://")):
        fail("COVENANT_BROKER_URL: beat keeps its schedule and its lease in Redis (redis://…)")
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "tasks.app", "beat", "--loglevel", "INFO"])


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="secretariat (runs rounds) or archivist (reads the archive)")],
    password_file: Annotated[Path | None, typer.Option(help="file holding the password (else it is asked)")] = None,
) -> None:
    """Add an account (or set its password and role); the password is stored hashed with argon2id."""
    from workflow.webapp.security import add_user

    if password_file is not None:
        try:
            password = password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"{password_file}: {exc.strerror}")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=sys.stdin.isatty(), err=True)
    add_user(context(), username, password, role)
    out.print(f"{username}: {role}", highlight=False)


@user_app.command("remove")
def user_remove(username: str) -> None:
    """Remove an account; its open sessions end at once."""
    from workflow.webapp.security import remove_user

    remove_user(context(), username)
    out.print(f"{username}: removed", highlight=False)
