"""The archived package: finding and fetching it, and every kind of tampering caught and named."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import bagit
import pytest

from tests.conftest import run_covenant

pytestmark = pytest.mark.live
COVENANT_PDF = "data/signed/ban-giao-uoc-thi-dua.pdf"


def _env(demo_run: dict) -> dict[str, str]:
    return {"COVENANT_DATA_DIR": str(demo_run["data_dir"])}


def test_list_filters_ignore_accents(demo_run: dict) -> None:
    round_id = demo_run["summary"]["round_id"]
    for args in (
        ["--signer", "do dinh chu"],
        ["--unit", "Vinh Phuc"],
        ["--cluster", "cum thi dua so 4"],
        ["--year", "2024"],
        ["--unit", "hoa-binh"],
    ):
        proc = run_covenant("archive", "list", *args, "--json", env=_env(demo_run))
        assert proc.returncode == 0, proc.stderr
        assert [r["round_id"] for r in json.loads(proc.stdout)] == [round_id], args
    for args in (["--signer", "Nguyễn Văn Không Có"], ["--year", "2023"], ["--unit", "Cà Mau"]):
        proc = run_covenant("archive", "list", *args, "--json", env=_env(demo_run))
        assert json.loads(proc.stdout) == [], args


def test_get_copies_the_package(demo_run: dict, tmp_path: Path) -> None:
    round_id = demo_run["summary"]["round_id"]
    folder = run_covenant("archive", "get", round_id, "--out", str(tmp_path / "a"), env=_env(demo_run))
    assert folder.returncode == 0, folder.stderr
    assert run_covenant("archive", "verify", folder.stdout.strip()).returncode == 0
    pairwise = run_covenant("archive", "verify", folder.stdout.strip(), "--pairwise", "--json")
    assert pairwise.returncode == 0 and json.loads(pairwise.stdout)["ok"], pairwise.stderr
    zipped = run_covenant("archive", "get", round_id, "--out", str(tmp_path / "b"), "--zip", env=_env(demo_run))
    assert zipped.returncode == 0 and zipped.stdout.strip().endswith(".zip")
    again = run_covenant("archive", "get", round_id, "--out", str(tmp_path / "b"), "--zip", env=_env(demo_run))
    assert again.returncode == 3  # never overwrites
    missing = run_covenant("archive", "get", "no-such-round", "--out", str(tmp_path / "c"), env=_env(demo_run))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def _copy(demo_run: dict, tmp_path: Path) -> Path:
    bag = tmp_path / demo_run["bag"].name
    shutil.copytree(demo_run["bag"], bag)
    return bag


def _fails_naming(path: Path, *names: str) -> str:
    proc = run_covenant("archive", "verify", str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for name in names:
        assert name in proc.stderr, proc.stderr
    return proc.stderr


def _resave(bag: Path) -> None:
    """What a careful forger does after changing a file: recompute every manifest."""
    bagit.Bag(str(bag)).save(manifests=True)


def test_byte_flipped_in_each_pdf(demo_run: dict, tmp_path: Path) -> None:
    for name in ("ban-giao-uoc-thi-dua.pdf", "bien-ban-hoi-nghi.pdf"):
        bag = _copy(demo_run, tmp_path / name)
        pdf = bag / "data" / "signed" / name
        data = bytearray(pdf.read_bytes())
        data[len(data) // 2] ^= 0x20
        pdf.write_bytes(bytes(data))
        _fails_naming(bag, f"data/signed/{name}")


def test_truncated_pdf_even_with_fresh_manifests(demo_run: dict, tmp_path: Path) -> None:
    bag = _copy(demo_run, tmp_path)
    pdf = bag / COVENANT_PDF
    pdf.write_bytes(pdf.read_bytes()[:-5000])
    _resave(bag)
    _fails_naming(bag, COVENANT_PDF)


def test_pdf_swapped_for_an_earlier_revision(demo_run: dict, tmp_path: Path) -> None:
    """The revision before the last signature (the issuing clerk's), with fresh manifests: that signer is
    missing."""
    bag = _copy(demo_run, tmp_path)
    db = sqlite3.connect(demo_run["data_dir"] / "covenant.sqlite3")
    (last, _), (_, revision) = db.execute(
        "select s.signer_name, s.revision from slots s join documents d on s.document_id = d.id "
        "where d.kind = 'covenant' and d.round_id = ? order by s.signed_at desc limit 2",
        (demo_run["summary"]["round_id"],),
    ).fetchall()
    shutil.copy(demo_run["data_dir"] / "blobs" / revision[:2] / revision[2:], bag / COVENANT_PDF)
    _resave(bag)
    _fails_naming(bag, f"{COVENANT_PDF}: no signature by {last}")


def test_report_json_edited(demo_run: dict, tmp_path: Path) -> None:
    bag = _copy(demo_run, tmp_path)
    report = bag / "data" / "validation" / "report.json"
    report.write_text(
        report.read_text(encoding="utf-8").replace('"valid": true', '"valid": false', 1), encoding="utf-8"
    )
    _fails_naming(bag, "data/validation/report.json")


def test_audit_line_removed(demo_run: dict, tmp_path: Path) -> None:
    bag = _copy(demo_run, tmp_path)
    events = bag / "data" / "audit" / "events.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines()
    del lines[4]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _resave(bag)
    _fails_naming(bag, "data/audit/events.jsonl: event 5")


def test_file_deleted(demo_run: dict, tmp_path: Path) -> None:
    bag = _copy(demo_run, tmp_path)
    (bag / "data" / "sources" / "minutes.docx").unlink()
    _fails_naming(bag, "data/sources/minutes.docx")


def test_pdf_resigned_by_an_untrusted_key(demo_run: dict, tmp_path: Path) -> None:
    """Someone appends their own signature (a key of another PKI) and recomputes the manifests."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    from signing.pki import Identity, make_demo_pki
    from signing.signers import load_pkcs12

    bag = _copy(demo_run, tmp_path)
    other = tmp_path / "other"
    make_demo_pki(other, [Identity("intruder", "Kẻ Giả Mạo", "Không rõ")], Identity("secretariat", "x", "y"))
    pdf = bag / COVENANT_PDF
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()), strict=False)
    out = signers.sign_pdf(
        writer,
        signers.PdfSignatureMetadata(field_name="Intruder"),
        signer=load_pkcs12(other / "intruder.p12", other / "intruder.pass"),
    )
    pdf.write_bytes(out.getvalue())
    _resave(bag)
    _fails_naming(bag, f"{COVENANT_PDF}: signature Intruder (Kẻ Giả Mạo) is not valid")


def test_renew_adds_a_document_timestamp_and_keeps_history(demo_run: dict, tmp_path: Path) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    bag = _copy(demo_run, tmp_path)
    before = (bag / COVENANT_PDF).read_bytes()
    events_before = (bag / "data" / "audit" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    proc = run_covenant("archive", "renew", str(bag), env=_env(demo_run))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = (bag / COVENANT_PDF).read_bytes()
    assert after.startswith(before)  # an incremental update: every earlier revision is still there
    import io

    reader = PdfFileReader(io.BytesIO(after), strict=False)
    assert len(reader.embedded_timestamp_signatures) == 2
    events = (bag / "data" / "audit" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert events[:-1] == events_before and json.loads(events[-1])["kind"] == "archive.renewed"
    assert run_covenant("archive", "verify", str(bag)).returncode == 0
    from tests.test_demo_round import _faketime_verify

    assert _faketime_verify(bag).returncode == 0
    assert not list(tmp_path.glob(".renew-*")) and not list(tmp_path.glob(".old-*"))


def test_renew_refuses_a_zip(demo_run: dict) -> None:
    proc = run_covenant("archive", "renew", str(demo_run["zip"]), env=_env(demo_run))
    assert proc.returncode == 2 and "not a bag folder" in proc.stderr


def test_cover_sheet_beside_the_package(demo_run: dict) -> None:
    import hashlib
    import subprocess

    from tests.test_demo_round import MODEL

    zip_path = demo_run["zip"]
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    stem = str(zip_path.with_suffix(""))
    html = Path(f"{stem}.cover.html").read_text(encoding="utf-8")
    text = " ".join(
        subprocess.run(
            ["pdftotext", f"{stem}.cover.pdf", "-"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    for page in (html, text):
        assert digest in page
        for unit in MODEL.units:
            assert unit.signer.name in page
        assert "PAdES-B-LTA" in page


@pytest.mark.parametrize(
    "kind",
    [
        "widget-hidden",
        "appearance-rewritten-in-place",
        "field-restored-to-empty",
        "annotation-overlay",
        "font-swapped-in-dr",
    ],
)
def test_forged_revision_in_an_archived_pdf_is_named(demo_run: dict, tmp_path: Path, kind: str) -> None:
    """A revision appended to the archived (B-LTA) covenant that changes the chair unit's stamp or the document
    around it, with fresh manifests: verify fails, naming the signer whose signature it harms and what changed
    (the long-term validation of the cryptography alone would say OK)."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from tests.test_forgery_corpus import KINDS

    bag = _copy(demo_run, tmp_path)
    pdf = bag / COVENANT_PDF
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()), strict=False)
    KINDS[kind](writer)
    out = io.BytesIO()
    writer.write(out)
    pdf.write_bytes(out.getvalue())
    _resave(bag)
    stderr = _fails_naming(bag, COVENANT_PDF, "Đỗ Đình Chữ", "the document was changed after it: revision")
    lines = [line for line in stderr.splitlines() if "Đỗ Đình Chữ" in line]
    # his signature is named as harmed, or as gone when the forgery emptied his field
    assert any("signature unit-phu-tho" in line or "no signature by" in line for line in lines), stderr
    assert "long-term validation: OK" not in stderr


def _generic_commands(bag: Path) -> list[str]:
    """The pyHanko command lines VERIFY.txt gives (each starts with `pyhanko `)."""
    text = (bag / "VERIFY.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("pyhanko ")]


def _run_generic(bag: Path, command: str, years: int = 0) -> subprocess.CompletedProcess[str]:
    """A VERIFY.txt command run as an archivist would, from the bag's folder, with pyHanko's own CLI (the `pyhanko`
    beside this interpreter), the clock moved `years` ahead by faketime."""
    import os
    import shlex
    import sys

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    argv = shlex.split(command)
    if years:
        argv = ["faketime", "-f", f"+{years}y", *argv]
    return subprocess.run(argv, cwd=bag, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("years", [0, 3, 15])
def test_generic_pyhanko_says_valid_today_and_years_ahead(demo_run: dict, years: int) -> None:
    """VERIFY.txt's command lines, pyHanko's CLI with the package's own files only (data/trust/pyhanko.yml: the root
    as the only anchor, revocation status required), judge every signature VALID today, 3 and 15 years on."""
    bag = demo_run["bag"]
    commands = _generic_commands(bag)
    assert len(commands) == 2 and all("--config data/trust/pyhanko.yml" in c for c in commands)
    for command in commands:
        proc = _run_generic(bag, command, years)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr[-2000:])
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        assert lines and all(line.endswith(":VALID") for line in lines), proc.stdout
    pdfs = {c.rsplit(" ", 1)[1] for c in commands}
    assert pdfs == {"data/signed/ban-giao-uoc-thi-dua.pdf", "data/signed/bien-ban-hoi-nghi.pdf"}


def test_generic_pyhanko_refuses_a_tampered_file(demo_run: dict, tmp_path: Path) -> None:
    bag = _copy(demo_run, tmp_path)
    pdf = bag / COVENANT_PDF
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x20
    pdf.write_bytes(bytes(data))
    command = next(c for c in _generic_commands(bag) if c.endswith(COVENANT_PDF))
    proc = _run_generic(bag, command)
    assert proc.returncode != 0 or ":INVALID" in proc.stdout, proc.stdout


def test_the_package_keeps_its_trust_as_files_and_says_how_to_verify(demo_run: dict) -> None:
    """data/trust/ holds the root (the only anchor), the time-stamping authority's certificate and the CRL that
    vouches for it, as files; VERIFY.txt, at the bag's top and in its tag manifest, states the policy; its audit
    rule recomputes every hash with jq, a tool that shares no code with covenant."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    bag = demo_run["bag"]
    trust = bag / "data" / "trust"
    names = sorted(p.name for p in trust.iterdir())
    assert names == ["crl-1.crl", "crl-2.crl", "pyhanko.yml", "root-1.pem", "root-2.pem", "tsa-1.pem"]
    tsa = x509.load_pem_x509_certificate((trust / "tsa-1.pem").read_bytes())
    roots = {c.subject: c for c in (x509.load_pem_x509_certificate((trust / n).read_bytes()) for n in names[3:5])}
    crls = {c.issuer: c for c in (x509.load_der_x509_crl((trust / n).read_bytes()) for n in names[:2])}
    usage = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.TIME_STAMPING in usage
    # the authority's root is one of the package's anchors, and its CRL, signed by that root, is here
    root = roots[tsa.issuer]
    assert crls[tsa.issuer].is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert crls[tsa.issuer].get_revoked_certificate_by_serial_number(tsa.serial_number) is None
    assert set(crls) == set(roots)  # each root's CRL
    text = (bag / "VERIFY.txt").read_text(encoding="utf-8")
    assert "VERIFY.txt" in (bag / "tagmanifest-sha256.txt").read_text()
    assert "root-*.pem (the only trust anchors)" in text and "canonical JSON" in text
    for line in (bag / "data" / "audit" / "events.jsonl").read_text(encoding="utf-8").splitlines():
        canonical = subprocess.run(
            ["jq", "-c", "-S", "del(.hash)"], input=line, capture_output=True, text=True, check=True
        ).stdout.rstrip("\n")
        assert hashlib.sha256(canonical.encode("utf-8")).hexdigest() == json.loads(line)["hash"]
