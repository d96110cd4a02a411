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

from signing.validation import load_roots, status_ok, validate_signatures
from tests.conftest import ARTIFACTS, launched_ctx, pdfsig_verdicts, person, run_covenant, slot_state

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


def _pyhanko_cli(launched: dict, tmp_path: Path, field: str, key: str) -> Path:
    p12, passfile = person(launched, key)
    source, out = tmp_path / "current.pdf", tmp_path / "pyhanko-cli.pdf"
    source.write_bytes(_current(launched, field))
    pyhanko = Path(sys.executable).with_name("pyhanko")
    addsig = ["sign", "addsig", "--field", field, "--existing-only", "--use-pades"]
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
    roots = load_roots([(launched["data"] / "pki" / "root.pem").read_bytes()])
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
