"""Factories for the fast layer: a data folder, its demo PKI, a launched round and users, all made in this process
by the product's own functions (no LibreOffice, no server, no covenant process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLES
from workflow.config import settings_from_env
from workflow.context import Ctx, document_ids


def data_folder(folder: Path, **env: str) -> Ctx:
    """A context on an empty embedded data folder (SQLite, files on disk, tasks in this process)."""
    return Ctx(settings_from_env({f"COVENANT_{k.upper()}": v for k, v in env.items()}, data_dir=folder))


def demo_pki(ctx: Ctx, example: str = "cum-4-2024.yaml") -> None:
    """The demo PKI of a round (as `covenant pki demo`), in the data folder where demo trust looks for it."""
    from signing.pki import make_demo_pki
    from workflow.demo import identities
    from workflow.stages.check import check_round_file

    people, secretariat = identities(check_round_file(EXAMPLES / example))
    make_demo_pki(ctx.settings.pki_dir, people, secretariat)


def launched_round(ctx: Ctx, example: str = "cum-4-2024.yaml", text: str | None = None) -> str:
    """A round stored by the check and launch stages (status generating), its documents not generated yet."""
    from workflow.stages.check import parse_round
    from workflow.stages.launch import launch

    path = EXAMPLES / example
    text = text if text is not None else path.read_text(encoding="utf-8")
    if not ctx.settings.pki_dir.joinpath("root.pem").is_file():
        demo_pki(ctx, example)
    return launch(ctx, text, parse_round(text), path.parent, actor="secretariat (test)")


def rendered_round(ctx: Ctx, example: str = "cum-4-2024.yaml") -> str:
    """A launched round whose DOCX documents the render stage has made."""
    from workflow.stages.render import render

    round_id = launched_round(ctx, example)
    for doc_id in document_ids(ctx, round_id):
        render(ctx, doc_id)
    return round_id


def user(ctx: Ctx, name: str, role: str) -> str:
    """A web user (as `covenant user add`); their password."""
    from workflow.webapp.security import add_user

    password = f"{name}-mật-khẩu-dài-đủ"
    add_user(ctx, name, password, role)
    return password


def login(web: Any, ctx: Ctx, name: str, role: str) -> str:
    """A new web user logged in through the form (FastAPI's TestClient `web`); the session's CSRF token."""
    import re

    csrf = re.compile(r'name="csrf" value="([^"]+)"')
    password = user(ctx, name, role)
    token = csrf.search(web.get("/login").text).group(1)  # type: ignore[union-attr]
    answer = web.post("/login", data={"username": name, "password": password, "csrf": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = web.get("/rounds" if role == "secretariat" else "/archive", headers={"accept": "text/html"})
    return csrf.search(page.text).group(1)  # type: ignore[union-attr]
