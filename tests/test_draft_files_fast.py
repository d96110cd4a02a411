"""The files a draft's round file names (signature and seal images, its own trust roots and templates), kept with
the draft through the secretariat's API, in this process (fast layer): a named file the draft does not hold is a
problem on the field that names it; uploads are judged by what they must be (a PNG the stamp check takes, an X.509
certificate, a DOCX) and by their names; the draft goes out and comes back as the zip a launch takes; and a launch
writes them beside the round file, so the round check judges them as on the command line."""

from __future__ import annotations

import copy
import io
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import EXAMPLES, example_without_files
from workflow.context import Ctx
from workflow.storage import DocumentRow, RoundRow, SlotRow


@pytest.fixture
def office(office_api: tuple[Ctx, TestClient, dict[str, str]]) -> tuple[Ctx, TestClient, dict[str, str]]:
    return office_api


def _png(color: tuple[int, int, int, int] = (200, 0, 0, 180), kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGBA" if kind == "PNG" else "RGB", (120, 120), color[: 4 if kind == "PNG" else 3]).save(out, kind)
    return out.getvalue()


def _with_seal() -> dict[str, Any]:
    data = example_without_files()
    data["units"][0]["seal_image"] = "dau-phu-tho.png"
    return data


def test_a_named_file_is_uploaded_beside_its_field(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    _ctx, web, csrf = office
    draft = web.post("/api/drafts", json=_with_seal(), headers=csrf).json()
    missing = {p["path"]: p["message"] for p in draft["problems"]}
    assert (
        list(missing) == ["units.0.seal_image"] and "holds no file 'dau-phu-tho.png'" in missing["units.0.seal_image"]
    )
    url = f"/api/drafts/{draft['id']}/files"
    # not what the name promises, or a name a server must not take: refused, named, nothing kept
    for name, content, words in [
        ("dau-phu-tho.png", _png(kind="JPEG"), "must be PNG"),
        ("dau-phu-tho.png", b"not an image", "dau-phu-tho.png"),
        ("Dấu Phú Thọ.png", _png(), "letters without accents"),
        ("a/b/c.png", _png(), "at most one folder"),
        ("..png", _png(), "letters without accents"),
        ("chay.exe", b"MZ", "PNG images, certificates"),
        ("goc.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not an X.509 certificate"),
        ("mau/covenant.docx", b"PK\x03\x04nope", "not a DOCX"),
    ]:
        refused = web.put(f"{url}/{name}", content=content, headers=csrf)
        assert refused.status_code == 422 and words in refused.json()["problems"][0]["message"], (name, refused.text)
    assert web.get(f"/api/drafts/{draft['id']}").json()["files"] == []
    kept = web.put(f"{url}/dau-phu-tho.png", content=_png(), headers=csrf)
    assert kept.status_code == 200, kept.text
    answer = kept.json()
    assert answer["problems"] == [] and [f["name"] for f in answer["files"]] == ["dau-phu-tho.png"]
    assert answer["changes"][-1]["paths"] == ["(tệp) dau-phu-tho.png"]
    assert web.get(f"{url}/dau-phu-tho.png").content == _png()
    # removed: the field's problem is back
    after = web.delete(f"{url}/dau-phu-tho.png", headers=csrf).json()
    assert [p["path"] for p in after["problems"]] == ["units.0.seal_image"]
    assert web.delete(f"{url}/dau-phu-tho.png", headers=csrf).status_code == 404
    assert web.put(f"{url}/dau-phu-tho.png", content=_png()).status_code == 403  # no x-csrf-token


def test_the_draft_goes_out_and_comes_back_as_a_zip(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    _ctx, web, csrf = office
    draft = web.post("/api/drafts", json=_with_seal(), headers=csrf).json()
    web.put(f"/api/drafts/{draft['id']}/files/dau-phu-tho.png", content=_png(), headers=csrf)
    packed = web.get(f"/api/drafts/{draft['id']}/round.zip")
    assert packed.status_code == 200 and packed.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(packed.content)) as archive:
        assert sorted(archive.namelist()) == ["dau-phu-tho.png", "round.yaml"]
        assert archive.read("dau-phu-tho.png") == _png()
    form = {"csrf": csrf["x-csrf-token"]}
    made = web.post("/drafts", data=form, files={"file": ("r.zip", packed.content)}, follow_redirects=False)
    assert made.status_code == 303, made.text
    again = web.get(f"/api/drafts/{made.headers['location'].rsplit('/', 1)[1]}").json()
    assert again["round"] == draft["round"] and [f["name"] for f in again["files"]] == ["dau-phu-tho.png"]
    assert again["problems"] == []
    # a zip whose file is not what its name says: answered on the page, no draft made
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("round.yaml", (EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
        archive.writestr("dau-phu-tho.png", b"GIF89a")
    refused = web.post("/drafts", data=form, files={"file": ("r.zip", bad.getvalue())})
    assert refused.status_code == 422 and "dau-phu-tho.png" in refused.text
    assert len(web.get("/api/drafts").json()) == 2


def test_a_launch_takes_the_drafts_files(
    office: tuple[Ctx, TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, web, csrf = office
    monkeypatch.setattr("tasks.pipeline.launch_from_web", lambda round_id: None)
    data = _with_seal()
    draft = web.post("/api/drafts", json=data, headers=csrf).json()
    refused = web.post(f"/api/drafts/{draft['id']}/launch", headers=csrf)
    assert refused.status_code == 422 and refused.json()["problems"][0]["path"] == "units.0.seal_image"
    assert "/tmp" not in refused.text  # the server's folders are not shown
    web.put(f"/api/drafts/{draft['id']}/files/dau-phu-tho.png", content=_png(), headers=csrf)
    launched = web.post(f"/api/drafts/{draft['id']}/launch", headers=csrf)
    assert launched.status_code == 202, launched.text
    with ctx.session() as s:
        row = s.get(RoundRow, launched.json()["round_id"])
        assert row is not None
    # the round keeps the seal as its own: Phú Thọ's slot on the covenant draws it
    with ctx.session() as s:
        slot = (
            s.query(SlotRow)
            .join(DocumentRow)
            .filter(DocumentRow.round_id == launched.json()["round_id"], SlotRow.unit_id == "phu-tho")
            .all()
        )
        seals = {ctx.blobs.get(x.seal_image) for x in slot if x.seal_image}
    assert seals == {_png()}
    assert web.put(f"/api/drafts/{draft['id']}/files/x.png", content=_png(), headers=csrf).status_code == 409
    other = copy.deepcopy(data)
    other["templates"] = "mau"
    templated = web.post("/api/drafts", json=other, headers=csrf).json()
    named = sorted(p["message"].split("'")[1] for p in templated["problems"])
    assert named == ["dau-phu-tho.png", "mau/covenant.docx", "mau/minutes.docx"]
