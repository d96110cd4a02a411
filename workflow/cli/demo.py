"""`covenant demo`: the whole journey on this machine (demo PKI, launch, every signer signs, archive, verify)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from signing.errors import EXIT_FAILED, EXIT_OK
from workflow.cli.common import JsonOption, app, err, example_round, fail, out, round_file

if TYPE_CHECKING:
    from workflow.demo import DemoResult

DEFAULT_OUT = Path("covenant-demo")


def _workers_answer(broker_url: str) -> None:
    """With a broker, at least one `covenant worker` must answer before anything is stored."""
    from tasks.app import app as celery_app

    try:
        replies = celery_app.control.ping(timeout=3)
    except Exception as exc:  # kombu's connection errors: the broker is not there
        fail(f"COVENANT_BROKER_URL={broker_url}: the broker does not answer ({exc})", EXIT_FAILED)
    if not replies:
        fail(
            f"no worker answers on COVENANT_BROKER_URL={broker_url}: start `covenant worker` with the same "
            "COVENANT_BROKER_URL and COVENANT_DATA_DIR",
            EXIT_FAILED,
        )


def _on_workers(run: Callable[[], DemoResult]) -> DemoResult:
    """Run the demo on the workers: what fails there is one line here (its traceback is in the worker's log)."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    from signing.errors import CovenantError

    try:
        return run()
    except CovenantError:
        raise  # the one handler prints it
    except CeleryTimeout:
        fail("the workers did not finish in 600 s: see their log (`covenant worker`)", EXIT_FAILED)
    except Exception as exc:  # raised in a worker and carried back by Celery
        fail(f"a worker failed: {type(exc).__name__}: {exc} (its traceback is in the worker's log)", EXIT_FAILED)


@app.command("demo")
def demo(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="data folder for this demo (default ./covenant-demo)")
    ] = None,
    round_path: Annotated[
        Path | None, typer.Option("--round", help="round file (default: the example, Cụm thi đua số 4, 2024)")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """The whole journey: demo PKI, launch, every signer signs, archive, verify offline.

    Without a broker everything runs in this process, in --out. With COVENANT_BROKER_URL the workers do the
    work: they and this command must share one data folder, COVENANT_DATA_DIR (an --out elsewhere is refused)."""
    from workflow.config import get_settings, settings_from_env, use_settings
    from workflow.context import Ctx
    from workflow.demo import run_demo

    path = example_round(round_path)
    model = round_file(path)
    text = path.read_text(encoding="utf-8")
    settings = get_settings()
    if settings.eager:
        settings = settings_from_env(data_dir=out_dir or DEFAULT_OUT)
    elif "COVENANT_DATA_DIR" not in settings.explicit:
        fail("COVENANT_BROKER_URL is set: set COVENANT_DATA_DIR to the data folder the workers use")
    elif out_dir is not None and out_dir.resolve() != settings.data_dir:
        fail(
            f"--out {out_dir}: with COVENANT_BROKER_URL the demo runs in the workers' data folder "
            f"(COVENANT_DATA_DIR={settings.data_dir}); give no --out, or the same folder"
        )
    if not settings.eager:
        _workers_answer(settings.broker_url or "")
    console = err if json_out else out
    with (
        use_settings(settings),
        Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=json_out
        ) as progress,
    ):
        task = progress.add_task("starting", total=None)

        def step(message: str) -> None:
            progress.console.print(f"  [green]✓[/] {message}", highlight=False)
            progress.update(task, description=message)

        if settings.eager:
            result = run_demo(Ctx(settings), text, model, path.parent, step)
        else:
            result = _on_workers(lambda: run_demo(Ctx(settings), text, model, path.parent, step))
    if json_out:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        table = Table(title=f"{model.cluster.name} {model.cluster.year} — round {result.round_id}: {result.status}")
        for col in ("document", "signatures", "level", "valid"):
            table.add_column(col)
        for d in result.documents:
            ok = "[green]yes[/]" if d["valid"] else "[red]no[/]"
            table.add_row(d["name"], str(d["signatures"]), d["level"], ok)
        out.print(table)
        out.print(f"package: {result.archive}")
        out.print(
            "stages: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in result.stages.items())
            + f"; total {result.seconds:.1f} s"
        )
    for problem in result.problems:
        err.print(f"[red]FAIL[/] {problem}", highlight=False)
    raise typer.Exit(EXIT_OK if not result.problems else EXIT_FAILED)
