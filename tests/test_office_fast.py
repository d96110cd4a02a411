"""The secretariat's and the archivists' web API in this process (fast layer): FastAPI's TestClient over rounds
made by the stage functions (tests/factories.py). Roles, CSRF, refusals with their codes, the round view."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from tests import factories
from tests.conftest import EXAMPLES
from workflow.context import Ctx
from workflow.views import round_view
from workflow.webapp import create_app

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[Ctx, TestClient]]:
    ctx = factories.data_folder(tmp_path / "data")
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
        yield ctx, web


def test_the_round_view_is_what_the_api_gives(office: tuple[Ctx, TestClient]) -> None:
    ctx, web = office
    round_id = factories.launched_round(ctx)
    factories.login(web, ctx, "vanphong", "secretariat")
    listed = web.get("/api/rounds").json()
    assert [r["round_id"] for r in listed] == [round_id] and listed[0]["status"] == "generating"
    view = web.get(f"/api/rounds/{round_id}").json()
    assert view == round_view(ctx, round_id).to_json()
    slots = [s for d in view["documents"] for s in d["slots"]]
    assert {s["unit"] for s in slots} >= {"phu-tho", "bac-giang"}  # the round file's unit ids
    assert any(s["unit_name"].startswith("Viện kiểm sát nhân dân tỉnh") for s in slots)
    assert view["deadline"].endswith("+00:00")  # every time with its offset
    page = web.get(f"/rounds/{round_id}", headers={"accept": "text/html"}).text
    assert 'data-status="generating">đang tạo văn bản</b>' in page  # the status in Vietnamese words
    assert "Viện kiểm sát nhân dân tỉnh Bắc Giang" in page
    # the audit trail in words, the recorded kind kept as the cell's title
    assert ">Đợt ký được tạo từ tệp đợt ký</td>" in page and ">round.draft<" not in page
    events = web.get(f"/api/rounds/{round_id}/events").json()
    assert [e["label"] for e in events][:2] == ["Đợt ký được tạo từ tệp đợt ký", "Đợt ký: đang tạo văn bản"]


def test_a_bad_round_file_is_refused_with_every_problem_named(office: tuple[Ctx, TestClient]) -> None:
    ctx, web = office
    csrf = factories.login(web, ctx, "vanphong", "secretariat")
    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    spec["covenant"]["criteria"][0]["points"] -= 1
    bad = yaml.safe_dump(spec, allow_unicode=True, sort_keys=False).encode()
    answer = web.post(
        "/api/rounds", files={"file": ("cum-4.yaml", bad, "application/yaml")}, headers={"x-csrf-token": csrf}
    )
    assert answer.status_code == 422
    problems = answer.json()["detail"]
    assert any("cum-4.yaml" in p and "100" in p for p in problems), problems
    assert "/tmp" not in " ".join(problems)  # no server path in a message
    assert web.get("/api/rounds").json() == []  # nothing half-stored


def test_roles_and_csrf_are_checked_before_anything_is_done(office: tuple[Ctx, TestClient]) -> None:
    ctx, web = office
    round_id = factories.launched_round(ctx)
    assert web.get("/api/rounds").status_code == 401
    assert web.get("/rounds", headers={"accept": "text/html"}, follow_redirects=False).headers["location"] == "/login"
    csrf = factories.login(web, ctx, "luutru", "archivist")
    assert web.get("/api/archive").status_code == 200
    assert web.get("/api/rounds").status_code == 403  # an archivist does not run rounds
    assert (
        web.post(f"/api/rounds/{round_id}/void", data={"reason": "x"}, headers={"x-csrf-token": csrf}).status_code
        == 403
    )
    web.cookies.clear()
    csrf = factories.login(web, ctx, "vanphong", "secretariat")
    refused = web.post(f"/api/rounds/{round_id}/void", data={"reason": "nhầm đợt"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert round_view(ctx, round_id).status == "generating"  # nothing was done
    voided = web.post(f"/api/rounds/{round_id}/void", data={"reason": "nhầm đợt"}, headers={"x-csrf-token": csrf})
    assert voided.status_code == 200, voided.text
    assert round_view(ctx, round_id).status == "voided"


def test_refusals_carry_their_code_and_vietnamese(office: tuple[Ctx, TestClient]) -> None:
    ctx, web = office
    csrf = factories.login(web, ctx, "vanphong", "secretariat")
    missing = web.get("/api/rounds/20261204-deadbeef")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert missing.json()["message"] and missing.json()["message"] != missing.json()["detail"]
    round_id = factories.launched_round(ctx)
    web.post(f"/api/rounds/{round_id}/void", data={"reason": "nhầm"}, headers={"x-csrf-token": csrf})
    again = web.post(f"/api/rounds/{round_id}/remind", headers={"x-csrf-token": csrf})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    link = web.get("/api/links/" + "A" * 43)
    assert link.status_code == 404 and link.json()["error"].startswith("link")
    page = web.get("/l/" + "A" * 43, headers={"accept": "text/html"})
    assert page.status_code == 404 and "Không mở được liên kết" in page.text and 'lang="vi"' in page.text


def test_the_render_stage_makes_each_document_once(tmp_path: Path) -> None:
    from docx import Document

    from workflow.context import document_ids
    from workflow.stages.render import render

    ctx = factories.data_folder(tmp_path / "data")
    round_id = factories.rendered_round(ctx)
    ids = document_ids(ctx, round_id)
    first = [render(ctx, doc_id) for doc_id in ids]
    assert [render(ctx, doc_id) for doc_id in ids] == first  # run again, the same blobs
    covenant = Document(io.BytesIO(ctx.blobs.get(first[0])))
    text = "\n".join(p.text for p in covenant.paragraphs)
    assert "GIAO ƯỚC THI ĐUA" in text.upper() and "Phú Thọ" in text
