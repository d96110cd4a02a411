"""Signatures made by other PDF signing tools on a prepared covenant, uploaded as a leader would (`covenant upload`):
poppler's `pdfsig -sign` (the library under Okular), endesive (pypdf based) and pyHanko's own CLI, one after the
other on the same document, each on its own slot. Every honest one is accepted; the result is then checked by
independent validators (pdfsig, qpdf) and by the reference (pyHanko's difference analysis, signing/reference.py).

endesive's verifier imports oscrypto, which cannot read this machine's OpenSSL version string (3.0.19); only its
signer is used, so its verifier module is left out when the helper imports it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from signing.pki import demo_roots
from signing.validation import load_roots, status_ok, validate_signatures
from tests.conftest import ARTIFACTS, launched_ctx, pdfsig_verdicts, person, run_covenant, slot_state
from workflow.texts import TEXTS

pytestmark = pytest.mark.live

ENDESIVE = """
import datetime, sys, types
stub = types.ModuleType("endesive.pdf.verify")
stub.PDFVerifier = stub.verify = None
sys.modules["endesive.pdf.verify"] = stub
from cryptography.hazmat.primitives.serialization import pkcs12
from endesive.pdf import cms

source, field, page, p12, passfile, out = sys.argv[1:7]
key, cert, others = pkcs12.load_key_and_certificates(open(p12, "rb").read(), open(passfile).read().strip().encode())
data = open(source, "rb").read()
when = datetime.datetime.now(datetime.timezone.utc).strftime("D:%Y%m%d%H%M%S+00'00'")
udct = {"sigflags": 3, "sigpage": int(page), "sigfield": field, "signform": True, "signature": "Da ky",
        "contact": "vanphong@example.vn", "location": "Viet Nam", "signingdate": when, "reason": "Ky giao uoc"}
signed = cms.sign(data, udct, key, cert, others or [], "sha256")
open(out, "wb").write(data + signed)
"""


def _current(launched: dict, field: str) -> bytes:
    return slot_state(launched_ctx(launched), launched["round_id"], field)[1]


def _field_page(pdf: bytes, field: str) -> int:
    import io

    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        pages = {page.objgen: i for i, page in enumerate(doc.pages)}
        for item in doc.Root.AcroForm.Fields:
            if str(item.get("/T")) == field:
                return pages[item.P.objgen]
    raise KeyError(field)


def _upload(launched: dict, path: Path, field: str) -> subprocess.CompletedProcess:
    return run_covenant("upload", launched["round_id"], str(path), "--field", field, env=launched["env"])


def _pdfsig(launched: dict, tmp_path: Path, field: str, key: str) -> Path:
    p12, passfile = person(launched, key)
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        ["pk12util", "-i", str(p12), "-d", f"sql:{nss}", "-W", passfile.read_text().strip()],
        check=True,
        capture_output=True,
    )
    source, out = tmp_path / "current.pdf", tmp_path / "pdfsig.pdf"
    source.write_bytes(_current(launched, field))
    proc = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", "-sign", field, "-nick", key, str(source), str(out)],
        capture_output=True,
        text=True,
    )
    assert out.is_file() and out.stat().st_size > source.stat().st_size, proc.stderr
    return out


def _endesive(launched: dict, tmp_path: Path, field: str, key: str) -> Path:
    p12, passfile = person(launched, key)
    source, out = tmp_path / "current.pdf", tmp_path / "endesive.pdf"
    current = _current(launched, field)
    source.write_bytes(current)
    page = str(_field_page(current, field))
    proc = subprocess.run(
        [sys.executable, "-c", ENDESIVE, str(source), field, page, str(p12), str(passfile), str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def _field_rect(pdf: bytes, field: str) -> tuple[int, int, int, int]:
    import io

    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for item in doc.Root.AcroForm.Fields:
            if str(item.get("/T")) == field:
                x1, y1, x2, y2 = (round(float(v)) for v in item.Rect)
                return x1, y1, x2, y2
    raise KeyError(field)


def _pyhanko_cli(
    launched: dict, tmp_path: Path, field: str, key: str, new_field: str | None = None, slot: str | None = None
) -> Path:
    """pyHanko's CLI fills `field`; with `new_field` (PAGE/X1,Y1,X2,Y2/NAME), it creates that field and signs it,
    on the current revision of `slot`'s document."""
    p12, passfile = person(launched, key)
    source, out = tmp_path / "current.pdf", tmp_path / "pyhanko-cli.pdf"
    source.write_bytes(_current(launched, slot or field))
    pyhanko = Path(sys.executable).with_name("pyhanko")
    where = ["--field", new_field] if new_field else ["--field", field, "--existing-only"]
    addsig = ["sign", "addsig", *where, "--use-pades"]
    keys = ["pkcs12", "--passfile", str(passfile), str(source), str(out), str(p12)]
    proc = subprocess.run([str(pyhanko), *addsig, *keys], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


TOOLS = [
    ("pdfsig", _pdfsig, "unit-phu-tho", "phu-tho--do-dinh-chu"),
    ("endesive", _endesive, "unit-bac-giang", "bac-giang--nguyen-truong-tho"),
    ("pyhanko-cli", _pyhanko_cli, "unit-thai-nguyen", "thai-nguyen--phung-duc-tien"),
]


def test_other_tools_signatures_are_accepted_one_after_another(launched: dict, tmp_path: Path) -> None:
    matrix = []
    for name, tool, field, key in TOOLS:
        folder = tmp_path / name
        folder.mkdir()
        signed = tool(launched, folder, field, key)
        proc = _upload(launched, signed, field)
        matrix.append({"tool": name, "field": field, "returncode": proc.returncode, "message": proc.stderr.strip()})
        assert proc.returncode == 0, (name, proc.stderr)
    current = _current(launched, "unit-hoa-binh")
    path = tmp_path / "after-three-tools.pdf"
    path.write_bytes(current)
    # independent validators: poppler checks every signature, qpdf the file's structure
    verdicts = pdfsig_verdicts(path)
    signatures = [v for v in verdicts if "Field Name: timestamp-" not in v]  # pdfsig does not verify timestamps
    assert len(signatures) == 4 and all("Signature is Valid" in v for v in signatures), verdicts
    # poppler's signature had no room for a timestamp in its CMS: the server added a document timestamp after it
    assert any("Field Name: timestamp-unit-phu-tho" in v for v in verdicts), verdicts
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # the reference (pyHanko's own difference analysis, pairwise) and the chain rule agree: all intact
    roots = load_roots(demo_roots(launched["data"] / "pki"))
    for pairwise in (True, False):
        reports = validate_signatures(current, roots, pairwise=pairwise)
        fields = [r.field for r in reports]
        assert {"certification", *(t[2] for t in TOOLS)} <= set(fields), fields
        assert all(status_ok(r) for r in reports), [(r.field, r.modification or r.summary) for r in reports]
    # the round requires B-T: each tool's signature has its timestamp, in its CMS or in a document timestamp after it
    by_field = {r.field: r for r in reports}
    for row in matrix:
        report = by_field[row["field"]]
        assert report.timestamp or report.document_timestamp, row
        row |= {"subfilter": report.subfilter, "cms_timestamp": bool(report.timestamp)}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "other-tools.json").write_text(json.dumps(matrix, ensure_ascii=False, indent=1), encoding="utf-8")


def _new_field_spec(pdf: bytes, field: str, name: str, shift: tuple[int, int] = (0, 0), inset: int = 8) -> str:
    x1, y1, x2, y2 = _field_rect(pdf, field)
    dx, dy = shift
    box = (x1 + inset + dx, y1 + inset + dy, x2 - inset + dx, y2 - inset + dy)
    return f"{_field_page(pdf, field) + 1}/{','.join(str(v) for v in box)}/{name}"


def test_a_new_field_inside_the_signers_block_is_accepted_and_nothing_else(launched: dict, tmp_path: Path) -> None:
    """Several signing tools create a field of their own instead of filling the prepared one. Drawn inside the
    signer's own (empty) block, it is accepted for that slot; anywhere else, or named like an existing field,
    it is refused with the reason."""
    slot, key = "unit-hoa-binh", "hoa-binh--ngo-bao-ngoc"
    current = _current(launched, slot)
    cases = {
        "outside": (_new_field_spec(current, slot, "Chu-ky-1", shift=(0, 400)), "outside every signer's block"),
        "other block": (_new_field_spec(current, "unit-vinh-phuc", "Chu-ky-2"), "over the block of 'unit-vinh-phuc'"),
        "signed block": (_new_field_spec(current, "unit-phu-tho", "Chu-ky-3"), "which is signed already"),
        "same name": (_new_field_spec(current, slot, "unit-bac-giang"), ""),
    }
    for case, (spec, expected) in cases.items():
        folder = tmp_path / case.replace(" ", "-")
        folder.mkdir()
        p12, passfile = person(launched, key)
        source = _write(folder / "in.pdf", current)
        addsig = ["sign", "addsig", "--field", spec, "--use-pades"]
        keys = ["pkcs12", "--passfile", str(passfile), str(source), str(folder / "out.pdf"), str(p12)]
        pyhanko = Path(sys.executable).with_name("pyhanko")
        proc = subprocess.run([str(pyhanko), *addsig, *keys], capture_output=True, text=True)
        if case == "same name":  # pyHanko itself will not make a second field of that name: nothing to upload
            assert proc.returncode != 0 and not (folder / "out.pdf").exists(), proc.stderr
            continue
        assert proc.returncode == 0, proc.stderr
        refused = _upload(launched, folder / "out.pdf", slot)
        assert refused.returncode == 2 and expected in refused.stderr, (case, refused.stderr)
        assert "Traceback" not in refused.stderr
        web = _web_upload(launched, slot, (folder / "out.pdf").read_bytes())
        assert web.status_code == 422, web.text
        body = web.json()  # the page says the same as the command line: its code's Vietnamese, and the detail
        assert body["message"].startswith(TEXTS[body["error"]]) and body["detail"] in refused.stderr, (
            body,
            refused.stderr,
        )
        if case == "outside":
            assert body["error"] == "signature.new_field"
    assert _current(launched, slot) == current  # nothing was stored
    folder = tmp_path / "inside"
    folder.mkdir()
    signed = _pyhanko_cli(launched, folder, slot, key, new_field=_new_field_spec(current, slot, "Chu-ky-Hoa-Binh"))
    accepted = _upload(launched, signed, slot)
    assert accepted.returncode == 0, accepted.stderr
    status = run_covenant("round", "status", launched["round_id"], "--json", env=launched["env"])
    slots = {s["field"]: s["status"] for d in json.loads(status.stdout)["documents"] for s in d["slots"]}
    assert slots[slot] == "signed", slots
    after = _current(launched, slot)
    roots = load_roots(demo_roots(launched["data"] / "pki"))
    for pairwise in (True, False):
        reports = validate_signatures(after, roots, pairwise=pairwise)
        assert "Chu-ky-Hoa-Binh" in {r.field for r in reports}
        assert all(status_ok(r) for r in reports), [(r.field, r.modification or r.summary) for r in reports]


def test_a_new_field_over_a_seal_and_its_leader_stands_for_the_one_still_empty(launched: dict, tmp_path: Path) -> None:
    """A unit's seal field lies over the left third of its leader's. A tool's own field drawn there while both are
    empty is inside two fields: refused, never guessed. Once the leader has signed, the same drawing stands for the
    seal (the only empty one), signed by the unit's clerk with its organisation certificate."""
    leader, clerk = "unit-vinh-phuc", "seal-vinh-phuc"
    current = _current(launched, leader)
    spec = _new_field_spec(current, clerk, "Chu-ky-o-giua", inset=4)
    folder = tmp_path / "both-empty"
    folder.mkdir()
    signed = _pyhanko_cli(launched, folder, leader, "vinh-phuc--dang-thanh-nhan", new_field=spec)
    refused = _upload(launched, signed, leader)
    assert refused.returncode == 2 and "at once" in refused.stderr and repr(clerk) in refused.stderr, refused.stderr
    assert _current(launched, leader) == current  # nothing stored
    folder = tmp_path / "leader"
    folder.mkdir()
    assert (
        _upload(launched, _pyhanko_cli(launched, folder, leader, "vinh-phuc--dang-thanh-nhan"), leader).returncode == 0
    )
    folder = tmp_path / "seal"
    folder.mkdir()
    sealed = _pyhanko_cli(launched, folder, clerk, "vinh-phuc--co-quan", new_field=spec.replace("o-giua", "Dau"))
    accepted = _upload(launched, sealed, clerk)
    assert accepted.returncode == 0, accepted.stderr
    roots = load_roots(demo_roots(launched["data"] / "pki"))
    for pairwise in (True, False):  # pyHanko's own analysis and the chain rule: every signature intact
        reports = validate_signatures(_current(launched, clerk), roots, pairwise=pairwise)
        assert "Chu-ky-Dau" in {r.field for r in reports}
        assert all(status_ok(r) for r in reports), [(r.field, r.modification or r.summary) for r in reports]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _web_upload(launched: dict, slot: str, pdf: bytes):  # type: ignore[no-untyped-def]
    """The leader's upload from the link page (the JSON API behind it), in this process."""
    from fastapi.testclient import TestClient

    from workflow.config import use_settings
    from workflow.links import issue_links
    from workflow.webapp import create_app

    ctx = launched_ctx(launched)
    token = next(i.url for i in issue_links(ctx, launched["round_id"], "test") if i.field == slot).rsplit("/", 1)[1]
    with use_settings(ctx.settings), TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
        return web.post(f"/api/links/{token}/upload", files={"file": ("signed.pdf", pdf, "application/pdf")})
