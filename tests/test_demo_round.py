"""The whole demo round, end to end, checked with independent tools: poppler (pdfsig, pdftotext) and qpdf."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from signing.validation import load_roots, status_ok, validate_signatures
from tests.conftest import EXAMPLES, run_covenant
from workflow.stages.check import parse_round

pytestmark = pytest.mark.live
MODEL = parse_round((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
# the certification; each leader and each unit's seal (the example units have clerks); the issuing signature
SIGNED = {"ban-giao-uoc-thi-dua.pdf": 1 + 2 * len(MODEL.units) + 1, "bien-ban-hoi-nghi.pdf": 1 + 2 + 1}


def test_demo_summary(demo_run: dict) -> None:
    summary = demo_run["summary"]
    assert summary["status"] == "archived"
    assert set(summary) == {"round_id", "status", "archive", "documents", "seconds"}
    assert {d["name"]: d["signatures"] for d in summary["documents"]} == SIGNED
    assert {d["level"] for d in summary["documents"]} == {"PAdES-B-LTA"}
    assert all(d["valid"] for d in summary["documents"])
    assert Path(summary["archive"]).is_file()


def _signed_pdfs(demo_run: dict) -> list[Path]:
    return sorted((demo_run["bag"] / "data" / "signed").glob("*.pdf"))


def test_every_signature_valid_by_pdfsig(demo_run: dict) -> None:
    for pdf in _signed_pdfs(demo_run):
        proc = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True)
        valid = proc.stdout.count("Signature Validation: Signature is Valid.")
        fields = re.findall(r"Signature Field Name: (\S+)", proc.stdout)
        assert valid == SIGNED[pdf.name] == len(fields) - 1, proc.stdout
        assert "certification" in fields
        assert fields[-1] == "ArchiveTimestamp"  # pdfsig does not verify document timestamps; pyHanko does


def test_every_signature_valid_by_pyhanko(demo_run: dict) -> None:
    roots = load_roots([p.read_bytes() for p in (demo_run["bag"] / "data" / "trust").glob("*.pem")])
    for pdf in _signed_pdfs(demo_run):
        every = validate_signatures(pdf.read_bytes(), roots)
        assert all(status_ok(r) for r in every), [r.summary for r in every]
        # B-LTA: one document timestamp last, revocation checked from the file's own DSS, every signature
        # carrying its own RFC 3161 timestamp
        assert [r.kind for r in every].count("document-timestamp") == 1 and every[-1].kind == "document-timestamp"
        assert all(r.revocation_checked for r in every)
        reports = [r for r in every if r.kind != "document-timestamp"]
        assert len(reports) == SIGNED[pdf.name]
        assert all(r.timestamp and r.timestamp_ok for r in reports)
        signers = {r.signer_cn for r in reports if not r.certification}
        # people, and the organisations (their certificates named as the unit): each unit's seal on the covenant,
        # the chair unit's issuing signature on both
        if pdf.name.startswith("ban-giao"):
            assert signers == {u.signer.name for u in MODEL.units} | {u.name for u in MODEL.units}
        else:
            chair = MODEL.chair_unit.name
            assert signers == {MODEL.conference.chair.name, MODEL.conference.secretary.name, chair}
        # The certification came first, and everyone after it only filled a field.
        cert = next(r for r in reports if r.certification)
        assert cert.docmdp_ok is True


def test_qpdf_check_clean_on_every_pdf(demo_run: dict) -> None:
    pdfs = [p for p in (demo_run["data_dir"] / "blobs").rglob("*") if p.is_file() and p.read_bytes()[:5] == b"%PDF-"]
    # per document: converted, prepared, one revision per signer
    assert len(pdfs) >= 2 * 2 + len(MODEL.units) + 2
    for pdf in [*pdfs, *_signed_pdfs(demo_run)]:
        proc = subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True, text=True)
        assert proc.returncode == 0, (pdf, proc.stdout, proc.stderr)
        assert "No syntax or stream encoding errors found" in proc.stdout


def test_every_archived_revision_is_pdfa_in_its_metadata(demo_run: dict) -> None:
    """ISO 19005-2 asks the Info dictionary and the XMP to agree and the XMP to say PDF/A-2b: after LibreOffice,
    after the prepared document, after each signature and after the document timestamp (each revision as it stood).
    pikepdf reads both; our check compares them entry by entry."""
    from signing.pdfa import metadata_problems, revisions

    for pdf in _signed_pdfs(demo_run):
        stages = revisions(pdf.read_bytes())
        assert len(stages) >= 1 + SIGNED[pdf.name] + 1, pdf.name  # converted, prepared … timestamped
        for number, revision in enumerate(stages):
            assert metadata_problems(revision) == [], (pdf.name, number)


def test_the_pdfa_check_sees_a_disagreement() -> None:
    """The check can fail: pyHanko's own habit (an Info /Producer "LibreOffice 7.4; pyHanko …" beside an XMP
    "pyHanko …") and a lost identification are both named."""
    import io

    import pikepdf

    from signing.pdfa import metadata_problems

    with pikepdf.new() as doc:
        doc.add_blank_page()
        doc.docinfo["/Producer"] = "LibreOffice 7.4; pyHanko 0.38.0"
        with doc.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            meta["pdf:Producer"] = "pyHanko 0.38.0"
        out = io.BytesIO()
        doc.save(out)
    problems = metadata_problems(out.getvalue())
    assert any("not PDF/A-2b" in p for p in problems) and any("/Producer" in p for p in problems)


def _text(pdf: Path) -> str:
    raw = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True).stdout
    return " ".join(raw.decode("utf-8").split())


def test_covenant_text(demo_run: dict) -> None:
    text = _text(demo_run["bag"] / "data" / "signed" / "ban-giao-uoc-thi-dua.pdf")
    assert unicodedata.is_normalized("NFC", text)
    for unit in MODEL.units:
        assert unit.name in text, unit.name
        assert unit.signer.name in text
    assert MODEL.covenant.motto in text
    assert "Tổng cộng 100" in text
    assert "KT. VIỆN TRƯỞNG PHÓ VIỆN TRƯỞNG" in text
    assert "Phú Thọ, ngày 20 tháng 3 năm 2024" in text
    # the signature stamps are text too
    assert "Ký bởi: Đỗ Đình Chữ" in text
    # issued: the register's first number of the year, drawn by the issuing signature in the number line's blank
    assert re.search(r"Số: ?01 ?/GƯ-CTĐ", text), text[:400]
    # each unit's organisation signature: its name and the time in ISO 8601 with +07:00 under the seal
    assert len(re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", text)) == 2 * len(MODEL.units)


def test_minutes_text(demo_run: dict) -> None:
    text = _text(demo_run["bag"] / "data" / "signed" / "bien-ban-hoi-nghi.pdf")
    assert "BIÊN BẢN HỘI NGHỊ" in text
    assert re.search(r"Số: ?02 ?/BB-CTĐ", text), text[:400]  # a minutes' number (BB), the register's next
    assert "Vào hồi 08 giờ 00 phút, ngày 20 tháng 3 năm 2024" in text
    assert "kết thúc vào hồi 11 giờ 30 phút" in text
    assert "Viện kiểm sát nhân dân tỉnh Bắc Giang là đơn vị Cụm phó" in text
    for person in ("Đỗ Đình Chữ", "Hoàng Thùy"):
        assert person in text


def test_signature_fields_sit_over_their_blocks(demo_run: dict) -> None:
    """Each field's rectangle lies just above its signer's name, on the name's page."""
    import pikepdf

    pdf = demo_run["bag"] / "data" / "signed" / "ban-giao-uoc-thi-dua.pdf"
    raw = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    with pikepdf.open(pdf) as doc:
        heights = [float(p.mediabox[3]) for p in doc.pages]
        fields = {}
        for i, page in enumerate(doc.pages):
            for annot in page.get("/Annots", []):
                if annot.get("/FT") == "/Sig" and str(annot.get("/T")).startswith("unit-"):
                    fields[str(annot.T)] = (i, [float(v) for v in annot.Rect])
    assert len(fields) == len(MODEL.units)
    pages = raw.split("<page ")[1:]
    for unit in MODEL.units:
        page_no, (x0, y0, x1, y1) = fields[f"unit-{unit.id}"]
        first = unit.signer.name.split()[0]
        words = re.findall(
            rf'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">{first}</word>', pages[page_no]
        )
        # pdftotext's y grows downwards; the field's upwards
        tops = [heights[page_no] - float(w[1]) for w in words if x0 <= float(w[0]) <= x1]
        assert any(0 <= y0 - top <= 4 for top in tops), (unit.id, (x0, y0, x1, y1), words)


def test_archive_verify_ok(demo_run: dict) -> None:
    for target in (demo_run["zip"], demo_run["bag"]):
        proc = run_covenant("archive", "verify", str(target), "--json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        report = json.loads(proc.stdout)
        assert report["ok"] and not report["problems"]
        assert report["audit_events"] > 10


def test_the_package_records_each_document_as_an_archive_expects(demo_run: dict) -> None:
    """bag-info.txt and report.json say per document its type, summary (trích yếu), language, page count, number
    and date of issue (the register's, the chair unit's clerk issues), who signed for which unit and when (+07:00), and
    the retention the round states. The page count is poppler's, the signers the round file's (leaders and the
    conference's chair and secretary, then the clerks: seals and issuance)."""
    import bagit

    bag = bagit.Bag(str(demo_run["bag"]))
    info = bag.info
    report = json.loads((demo_run["bag"] / "data" / "validation" / "report.json").read_text(encoding="utf-8"))
    assert info["Document-Count"] == "2" and info["Retention-Period"] == "not stated"
    for i, doc in enumerate(report["documents"], start=1):
        record = doc["record"]
        pdf = demo_run["bag"] / doc["file"]
        pdfinfo = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        pages = int(re.search(r"Pages:\s+(\d+)", pdfinfo).group(1))  # type: ignore[union-attr]
        assert record["pages"] == pages and info[f"Document-{i}-Pages"] == str(pages)
        number = {"covenant": "01/GƯ-CTĐ", "minutes": "02/BB-CTĐ"}[doc["name"]]
        assert record["language"] == "vi" and record["number"] == number
        assert info[f"Document-{i}-Number"] == number
        issuing = next(s for s in record["signers"] if s["field"] == "issue")  # the chair unit's clerk, last
        assert issuing["signed_at"] == max(s["signed_at"] for s in record["signers"])
        assert record["issued"] == info[f"Document-{i}-Issued"] == issuing["signed_at"][:10]
        assert info[f"Document-{i}-Type"] == {"covenant": "Giao ước", "minutes": "Biên bản"}[doc["name"]]
        assert record["summary"].endswith("năm 2024 của Cụm thi đua số 4 ngành Kiểm sát nhân dân")
        signers = info[f"Document-{i}-Signer"]
        signers = signers if isinstance(signers, list) else [signers]
        expected = 2 * len(MODEL.units) + 1 if doc["name"] == "covenant" else 2 + 1
        assert len(signers) == len(record["signers"]) == expected
        assert all(s["signed_at"].endswith("+07:00") for s in record["signers"])
    covenant = report["documents"][0]["record"]
    clerks = {u.clerk.name for u in MODEL.units if u.clerk}
    assert {s["name"] for s in covenant["signers"]} == {u.signer.name for u in MODEL.units} | clerks


def test_bag_layout(demo_run: dict) -> None:
    bag = demo_run["bag"]
    round_id = demo_run["summary"]["round_id"]
    assert bag.name == f"covenant-cum-thi-dua-so-4-2024-{round_id}"
    for rel in [
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
        "data/signed/ban-giao-uoc-thi-dua.pdf",
        "data/signed/bien-ban-hoi-nghi.pdf",
        "data/sources/covenant.docx",
        "data/sources/minutes.docx",
        "data/sources/round.yaml",
        "data/validation/report.json",
        "data/validation/report.html",
        "data/audit/events.jsonl",
    ]:
        assert (bag / rel).is_file(), rel
    assert list((bag / "data" / "trust").glob("*.pem"))
    assert f"External-Identifier: {round_id}" in (bag / "bag-info.txt").read_text(encoding="utf-8")


def _tampered(demo_run: dict, tmp_path: Path) -> Path:
    copy = tmp_path / demo_run["bag"].name
    shutil.copytree(demo_run["bag"], copy)
    return copy


def _verify_fails_naming(path: Path, name: str) -> None:
    proc = run_covenant("archive", "verify", str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert name in proc.stderr, proc.stderr


def test_tamper_flipped_byte_in_signed_pdf(demo_run: dict, tmp_path: Path) -> None:
    bag = _tampered(demo_run, tmp_path)
    pdf = bag / "data" / "signed" / "ban-giao-uoc-thi-dua.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    pdf.write_bytes(bytes(data))
    _verify_fails_naming(bag, "data/signed/ban-giao-uoc-thi-dua.pdf")


def test_tamper_edited_manifest(demo_run: dict, tmp_path: Path) -> None:
    bag = _tampered(demo_run, tmp_path)
    manifest = bag / "manifest-sha256.txt"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    lines[0] = "0" * 64 + lines[0][64:]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _verify_fails_naming(bag, "manifest-sha256.txt")


def test_tamper_stray_file(demo_run: dict, tmp_path: Path) -> None:
    bag = _tampered(demo_run, tmp_path)
    (bag / "data" / "signed" / "extra.pdf").write_bytes(b"%PDF-1.7\n")
    _verify_fails_naming(bag, "data/signed/extra.pdf")


def test_tamper_audit_line_edited(demo_run: dict, tmp_path: Path) -> None:
    """Edit an audit line and re-hash the manifests, as a careful forger would: the hash chain still catches it."""
    import bagit

    bag = _tampered(demo_run, tmp_path)
    events = bag / "data" / "audit" / "events.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines()
    ev = json.loads(lines[2])
    ev["actor"] = "someone else"
    lines[2] = json.dumps(ev, ensure_ascii=False, sort_keys=True)
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    b = bagit.Bag(str(bag))
    b.save(manifests=True)
    _verify_fails_naming(bag, "data/audit/events.jsonl: event 3")


def test_tampered_zip(demo_run: dict, tmp_path: Path) -> None:
    import zipfile

    src = demo_run["zip"]
    dst = tmp_path / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.endswith("report.json"):
                data = data.replace(b'"valid": true', b'"valid": false', 1)
            zout.writestr(item, data)
    _verify_fails_naming(dst, "data/validation/report.json")


def test_pdfa_identification_and_fonts_survive_signing(demo_run: dict) -> None:
    import pikepdf

    for pdf in _signed_pdfs(demo_run):
        with pikepdf.open(pdf) as doc:
            meta = doc.open_metadata()
            assert meta.get("pdfaid:part") == "2" and meta.get("pdfaid:conformance") == "B"
            assert str(doc.Root.Lang) == "vi-VN"
            assert "vi-VN" in meta.get("dc:language", set())
            assert meta.get("dc:title") in ("Bản giao ước thi đua", "Biên bản hội nghị")
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
        rows = fonts.splitlines()[2:]
        assert rows, fonts
        for row in rows:
            assert " yes " in row[-20:], f"font not embedded: {row}"  # the 'emb' column


def _faketime_verify(path: Path, *args: str) -> subprocess.CompletedProcess:
    """`covenant archive verify` with the clock moved 15 years ahead (pyHanko's past validation reads the
    real clock, so the clock itself must move: Debian's faketime)."""
    from tests.conftest import COVENANT, REPO

    return subprocess.run(
        ["faketime", "-f", "+15y", *COVENANT, "archive", "verify", str(path), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_package_verifies_15_years_ahead(demo_run: dict) -> None:
    proc = _faketime_verify(demo_run["zip"], "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    for doc in report["documents"]:
        assert doc["level"] == "PAdES-B-LTA"
        assert set(doc["long_term"].values()) == {"OK"}
        assert len(doc["long_term"]) == SIGNED[doc["file"].rsplit("/", 1)[-1]]


def test_package_without_document_timestamp_is_not_long_term(demo_run: dict, tmp_path: Path) -> None:
    """The same signed documents before finalisation (PAdES B-T): today they verify, with a note saying they are
    not protected for the long term; 15 years ahead they fail, and the report says B-T, not B-LTA."""
    import sqlite3

    import bagit

    bag = _tampered(demo_run, tmp_path)
    db = sqlite3.connect(demo_run["data_dir"] / "covenant.sqlite3")
    rows = db.execute("select kind, current, final from documents order by id desc limit 2").fetchall()
    for kind, current, final in rows:
        assert final and final != current
        name = "ban-giao-uoc-thi-dua.pdf" if kind == "covenant" else "bien-ban-hoi-nghi.pdf"
        blob = demo_run["data_dir"] / "blobs" / current[:2] / current[2:]
        shutil.copy(blob, bag / "data" / "signed" / name)
    bagit.Bag(str(bag)).save(manifests=True)
    today = run_covenant("archive", "verify", str(bag), "--json")
    assert today.returncode == 0, today.stdout + today.stderr
    report = json.loads(today.stdout)
    assert {d["level"] for d in report["documents"]} == {"PAdES-B-T"}
    assert len(report["notes"]) == 2 and all("not protected for the long term" in n for n in report["notes"])
    later = _faketime_verify(bag, "--json")
    assert later.returncode == 1
    assert {d["level"] for d in json.loads(later.stdout)["documents"]} == {"PAdES-B-T"}


def test_pdfsig_trusts_the_signers_through_the_packaged_root(demo_run: dict, tmp_path: Path) -> None:
    """poppler with an NSS database that trusts only the package's roots: the certificates chain to them.
    (pdfsig's certificate line is unreliable past 3-4 signatures, an NSS quirk: the minutes have four, the
    chair unit's issuing signature among them.)"""
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    for i, root in enumerate(sorted((demo_run["bag"] / "data" / "trust").glob("root-*.pem"))):
        subprocess.run(
            ["certutil", "-A", "-n", f"covenant-root-{i}", "-t", "CT,C,C", "-i", str(root), "-d", f"sql:{nss}"],
            check=True,
        )
    minutes = demo_run["bag"] / "data" / "signed" / "bien-ban-hoi-nghi.pdf"
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(minutes)], capture_output=True, text=True).stdout
    assert out.count("Certificate Validation: Certificate is Trusted.") == 4, out
    assert out.count("Signature Validation: Signature is Valid.") == 4, out
