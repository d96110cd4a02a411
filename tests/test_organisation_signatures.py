"""Organisation signatures and issuance (Decree 30/2020, Art. 5, 32, 33) on the example round, whose units have
clerks and seals: each leader's signature is followed by the unit's organisation signature, the seal over the left
third of the leader's; the chair unit's clerk issues each document last. Every refusal names its rule."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pytest
from sqlalchemy import select

from tests.conftest import launched_ctx, person, sign_cli, slot_state
from workflow.storage import RegisterRow, SlotRow

pytestmark = pytest.mark.live


def _sign(launched: dict, field: str, key: str, document: str = "covenant"):  # type: ignore[no-untyped-def]
    return sign_cli(launched, field, *person(launched, key), document)


def _rects(pdf: bytes) -> dict[str, tuple[float, ...]]:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return {str(f.T): tuple(float(v) for v in f.Rect) for f in doc.Root.AcroForm.Fields if "/Rect" in f}


def test_the_prepared_document_places_seals_over_the_left_third_and_the_number_in_its_line(launched: dict) -> None:
    ctx = launched_ctx(launched)
    _slot, pdf, _revisions = slot_state(ctx, launched["round_id"], "unit-bac-giang")
    rects = _rects(pdf)
    for unit in ("phu-tho", "bac-giang", "thai-nguyen", "hoa-binh", "vinh-phuc"):
        x0, y0, x1, y1 = rects[f"unit-{unit}"]
        assert x1 - x0 > 150  # a whole block (the number line's anchor once narrowed the left column's)
        assert rects[f"seal-{unit}"] == (x0, y0, x0 + (x1 - x0) // 3, y1)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        order = [str(f.T) for f in doc.Root.AcroForm.Fields]
    assert order.index("seal-phu-tho") > order.index("unit-vinh-phuc")  # drawn after (over) every leader's
    # the issuing field lies in the blank between "Số:" and "/GƯ-CTĐ", on their line
    x0, y0, x1, y1 = rects["issue"]
    path = Path(launched["data"]) / "prepared.pdf"
    path.write_bytes(pdf)
    import subprocess

    words = subprocess.run(["pdftotext", "-l", "1", "-bbox", str(path), "-"], capture_output=True, text=True).stdout
    height = 841.89
    found = {}
    for line in words.splitlines():
        for word in ("Số:", "/GƯ-CTĐ"):
            if line.strip().endswith(f">{word}</word>"):
                attrs = dict(part.split("=") for part in line.strip().split(">")[0].split()[1:])
                found[word] = {k: float(v.strip('"')) for k, v in attrs.items()}
    assert found["Số:"]["xMax"] <= x0 and x1 <= found["/GƯ-CTĐ"]["xMin"] + 1
    assert abs((height - found["Số:"]["yMin"]) - y1) < 2 and abs((height - found["Số:"]["yMax"]) - y0) < 3


def test_a_clerk_seals_only_after_the_leader_and_only_with_the_units_certificate(launched: dict) -> None:
    ctx = launched_ctx(launched)
    early = _sign(launched, "seal-bac-giang", "bac-giang--co-quan")
    assert early.returncode != 0 and "Traceback" not in early.stderr
    assert "only after the unit's leader has signed" in early.stderr, early.stderr
    assert _sign(launched, "unit-bac-giang", "bac-giang--nguyen-truong-tho").returncode == 0
    # the leader's own (personal) certificate, or another unit's organisation, is not this unit's organisation
    for key in ("bac-giang--nguyen-truong-tho", "thai-nguyen--co-quan"):
        wrong = _sign(launched, "seal-bac-giang", key)
        assert wrong.returncode != 0 and "organisation certificate" in wrong.stderr, wrong.stderr
        assert "Traceback" not in wrong.stderr
    _slot, before, revisions = slot_state(ctx, launched["round_id"], "seal-bac-giang")
    sealed = _sign(launched, "seal-bac-giang", "bac-giang--co-quan")
    assert sealed.returncode == 0, sealed.stderr
    _slot, after, now = slot_state(ctx, launched["round_id"], "seal-bac-giang")
    assert now == revisions + 1 and after.startswith(before)
    with ctx.session() as s:
        slot = s.scalars(select(SlotRow).where(SlotRow.field_name == "seal-bac-giang")).one()
        assert slot.status == "signed" and "Viện kiểm sát nhân dân tỉnh Bắc Giang" in (slot.signer_certificate or "")


def test_issuance_waits_for_every_signature_and_reserves_no_number_before(launched: dict) -> None:
    ctx = launched_ctx(launched)
    early = _sign(launched, "issue", "phu-tho--co-quan")
    assert early.returncode != 0 and "only after every signature and seal" in early.stderr, early.stderr
    assert "unit-phu-tho" in early.stderr  # what is still to sign is named
    with ctx.session() as s:
        assert s.scalars(select(RegisterRow)).all() == []  # no number taken by a refused issuance


def test_the_clerks_page_says_what_is_asked_and_why_not_yet(launched: dict) -> None:
    """The seal's link page says it is the organisation's signature and, before the leader has signed, that it is
    not yet its turn, with the rule in Vietnamese; a remote signature prepared then is refused (4xx) naming it."""
    import base64

    from fastapi.testclient import TestClient

    from workflow.config import use_settings
    from workflow.links import issue_links
    from workflow.texts import TEXTS
    from workflow.webapp import create_app

    ctx = launched_ctx(launched)
    links = {i.field: i.url for i in issue_links(ctx, launched["round_id"], "test") if i.document == "covenant"}
    token = links["seal-hoa-binh"].rsplit("/", 1)[1]
    certificate = (launched["data"] / "pki" / "root.pem").read_bytes()  # any certificate: refused before it matters
    with use_settings(ctx.settings), TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
        page = web.get(f"/l/{token}")
        assert page.status_code == 200, page.text
        assert "Ký số của cơ quan (đóng dấu)" in page.text and "Chưa đến lượt" in page.text
        assert TEXTS["signature.seal_before_leader"] in page.text
        refused = web.post(
            f"/api/links/{token}/prepare", json={"certificate": base64.b64encode(certificate).decode("ascii")}
        )
        assert 400 <= refused.status_code < 500 and refused.json()["error"] == "signature.seal_before_leader"
        assert refused.json()["message"].startswith(TEXTS["signature.seal_before_leader"])
        page = web.get(f"/l/{links['issue'].rsplit('/', 1)[1]}")
        assert "Ban hành văn bản" in page.text and TEXTS["signature.issue_before_all"] in page.text
