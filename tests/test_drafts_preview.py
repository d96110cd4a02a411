"""A draft's preview: its documents rendered and converted by the real (warm) LibreOffice, drawn by pdftoppm, once
per draft content; a draft with problems answers them instead."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests import factories
from tests.conftest import example_without_files
from workflow.webapp import create_app

pytestmark = pytest.mark.live


def test_preview_pages_once_per_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workflow import libreoffice

    conversions: list[int] = []
    real = libreoffice.docx_to_pdf

    def counted(docx: bytes) -> bytes:
        conversions.append(len(docx))
        return real(docx)

    monkeypatch.setattr(libreoffice, "docx_to_pdf", counted)
    ctx = factories.data_folder(tmp_path / "data")
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
        csrf = {"x-csrf-token": factories.login(web, ctx, "vanphong", "secretariat")}
        data = example_without_files()
        draft = web.post("/api/drafts", json=data, headers=csrf).json()
        first = web.get(f"/api/drafts/{draft['id']}/preview/covenant/1.png")
        assert first.status_code == 200 and first.headers["content-type"] == "image/png", first.text
        assert first.content.startswith(b"\x89PNG") and len(first.content) > 10_000
        again = web.get(f"/api/drafts/{draft['id']}/preview/covenant/2.png")
        assert again.status_code == 200 and len(conversions) == 1  # the same content: converted once
        # what the preview shows is the draft: its text, read back from the cached PDF
        cached = next((Path(ctx.settings.data_dir) / "cache" / "previews").glob("*.pdf"))
        text = subprocess.run(["pdftotext", str(cached), "-"], capture_output=True, text=True).stdout
        assert "GIAO ƯỚC THI ĐUA" in text.upper() and "Phú Thọ" in text, text[:400]
        changed = copy.deepcopy(draft["round"])
        changed["conference"]["place"] = "Hội trường Viện kiểm sát nhân dân tỉnh Bắc Giang"
        web.put(f"/api/drafts/{draft['id']}", json=changed, headers=csrf)
        assert web.get(f"/api/drafts/{draft['id']}/preview/minutes/1.png").status_code == 200
        assert len(conversions) == 2
        assert web.get(f"/api/drafts/{draft['id']}/preview/minutes/99.png").status_code == 404
        assert web.get(f"/api/drafts/{draft['id']}/preview/letter/1.png").status_code == 404
        changed["covenant"]["criteria"][0]["points"] = 19  # the groups sum to 99
        web.put(f"/api/drafts/{draft['id']}", json=changed, headers=csrf)
        refused = web.get(f"/api/drafts/{draft['id']}/preview/covenant/1.png")
        assert refused.status_code == 422 and refused.json()["problems"][0]["path"] == "covenant.criteria"
        assert len(conversions) == 2  # nothing is rendered from a draft with problems
