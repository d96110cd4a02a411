"""Signatures the pipeline must refuse, with a clear reason and the right exit code, changing nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pikepdf
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing.pki import demo_roots
from signing.signers import load_pkcs12, sign_field
from signing.validation import (
    SignatureRejected,
    check_new_revision,
    load_roots,
    pades_level,
    status_ok,
    validate_signatures,
)
from tests.conftest import launched_ctx, person, run_covenant, sign_as, sign_cli, slot_state
from workflow.stages.accept import accept as accept_signature
from workflow.states import StateConflict
from workflow.storage import RoundRow, SlotRow

pytestmark = pytest.mark.live


def test_sign_then_sign_again_is_a_conflict(launched: dict) -> None:
    p12, passphrase = person(launched, "phu-tho--do-dinh-chu")
    first = sign_cli(launched, "unit-phu-tho", p12, passphrase)
    assert first.returncode == 0, first.stderr
    again = sign_cli(launched, "unit-phu-tho", p12, passphrase)
    assert again.returncode == 3, again.stderr
    assert "already signed" in again.stderr and "Traceback" not in again.stderr
    status = json.loads(run_covenant("round", "status", launched["round_id"], "--json", env=launched["env"]).stdout)
    covenant = next(d for d in status["documents"] if d["name"] == "covenant")
    assert covenant["revisions"] == 2  # prepared + one signature, not two
    assert {s["field"]: s["status"] for s in covenant["slots"]}["unit-phu-tho"] == "signed"


def test_untrusted_key_is_refused(launched: dict) -> None:
    other = launched["other"]
    proc = sign_cli(launched, "unit-bac-giang", other / "intruder.p12", other / "intruder.pass")
    assert proc.returncode == 2, proc.stderr
    assert "not trusted for this round" in proc.stderr and "Traceback" not in proc.stderr
    ctx = launched_ctx(launched)
    slot_id, _, _ = slot_state(ctx, launched["round_id"], "unit-bac-giang")
    with ctx.session() as s:
        assert s.get(SlotRow, slot_id).status == "pending"  # type: ignore[union-attr]


def test_signature_in_another_units_field_is_refused(launched: dict) -> None:
    ctx = launched_ctx(launched)
    slot_id, current, revisions = slot_state(ctx, launched["round_id"], "unit-hoa-binh")
    signer = load_pkcs12(*person(launched, "thai-nguyen--phung-duc-tien"))
    signed = sign_field(
        current,
        "unit-thai-nguyen",
        signer,
        signer_name="Phùng Đức Tiến",
        title="Viện trưởng",
        unit="Viện kiểm sát nhân dân tỉnh Thái Nguyên",
    )
    with pytest.raises(SignatureRejected, match="not in this signer's field"):
        accept_signature(ctx, slot_id, ctx.blobs.put(signed))
    assert slot_state(ctx, launched["round_id"], "unit-hoa-binh")[2] == revisions


def test_rewritten_file_is_refused(launched: dict) -> None:
    ctx = launched_ctx(launched)
    slot_id, current, _ = slot_state(ctx, launched["round_id"], "unit-hoa-binh")
    signer = load_pkcs12(*person(launched, "hoa-binh--ngo-bao-ngoc"))
    signed = sign_field(
        current,
        "unit-hoa-binh",
        signer,
        signer_name="Ngô Bảo Ngọc",
        title="Viện trưởng",
        unit="Viện kiểm sát nhân dân tỉnh Hòa Bình",
    )
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        rewritten = io.BytesIO()
        pdf.save(rewritten)
    with pytest.raises(SignatureRejected, match="not the prepared document plus one signature"):
        accept_signature(ctx, slot_id, ctx.blobs.put(rewritten.getvalue()))


def test_annotation_added_after_certification_is_refused(launched: dict) -> None:
    ctx = launched_ctx(launched)
    slot_id, current, _ = slot_state(ctx, launched["round_id"], "unit-vinh-phuc")
    tampered = _incremental(current, _add_annotation)
    signer = load_pkcs12(*person(launched, "vinh-phuc--dang-thanh-nhan"))
    signed = sign_field(
        tampered,
        "unit-vinh-phuc",
        signer,
        signer_name="Đặng Thanh Nhàn",
        title="Phó Viện trưởng",
        unit="Viện kiểm sát nhân dân tỉnh Vĩnh Phúc",
    )
    with pytest.raises(SignatureRejected, match="certification|beyond filling"):
        accept_signature(ctx, slot_id, ctx.blobs.put(signed))


def test_pinned_certificate_refuses_another_key(launched: dict) -> None:
    ctx = launched_ctx(launched)
    _, current, _ = slot_state(ctx, launched["round_id"], "unit-thai-nguyen")
    signer = load_pkcs12(*person(launched, "thai-nguyen--phung-duc-tien"))
    signed = sign_field(
        current,
        "unit-thai-nguyen",
        signer,
        signer_name="Phùng Đức Tiến",
        title="Viện trưởng",
        unit="Viện kiểm sát nhân dân tỉnh Thái Nguyên",
    )
    roots = load_roots(demo_roots(launched["data"] / "pki"))
    right = launched["index"]["people"]["thai-nguyen--phung-duc-tien"]["sha256"]
    assert check_new_revision(current, signed, "unit-thai-nguyen", roots, pin_sha256=right).trusted
    wrong = launched["index"]["people"]["hoa-binh--ngo-bao-ngoc"]["sha256"]
    with pytest.raises(SignatureRejected, match="not the certificate pinned"):
        check_new_revision(current, signed, "unit-thai-nguyen", roots, pin_sha256=wrong)


def test_closed_round_takes_no_signature(launched: dict) -> None:
    ctx = launched_ctx(launched)
    slot_id, current, _ = slot_state(ctx, launched["round_id"], "secretary-phu-tho")
    with ctx.session() as s:
        rnd = s.get(RoundRow, launched["round_id"])
        assert rnd is not None
        status = rnd.status
        rnd.status = "voided"  # as `round void` (routing issue) will do
    try:
        with pytest.raises(StateConflict, match="voided"):
            accept_signature(ctx, slot_id, ctx.blobs.put(current + b"\n"))
    finally:
        with ctx.session() as s:
            s.get(RoundRow, launched["round_id"]).status = status  # type: ignore[union-attr]


def test_garbage_is_refused(launched: dict) -> None:
    ctx = launched_ctx(launched)
    slot_id, current, _ = slot_state(ctx, launched["round_id"], "chair-phu-tho")
    with pytest.raises(SignatureRejected, match="not a PDF"):
        accept_signature(ctx, slot_id, ctx.blobs.put(b"GIF89a not a pdf"))
    truncated = current + b"%%EOF garbage appended"
    with pytest.raises(SignatureRejected):
        accept_signature(ctx, slot_id, ctx.blobs.put(truncated))


def _issue_for(launched: dict, tmp_path: Path, unit_key: str, **kw: object) -> tuple[Path, Path]:
    """A new certificate from the round's own root for a unit's signer (same name), written as PKCS#12."""
    from signing.pki import Identity, issue, load_root_key, write_p12

    pki = launched["data"] / "pki"
    ca_key, ca_cert = load_root_key(pki)
    who = Identity(unit_key, launched["index"]["people"][unit_key]["name"], "x")
    key, cert = issue(ca_key, ca_cert, who, **kw)  # type: ignore[arg-type]
    p12 = tmp_path / f"{unit_key}.p12"
    pass_file = write_p12(p12, who, key, cert, ca_cert)
    return p12, pass_file


def test_expired_certificate_is_refused(launched: dict, tmp_path: Path) -> None:
    import datetime as dt

    p12, passphrase = _issue_for(
        launched,
        tmp_path,
        "bac-giang--nguyen-truong-tho",
        valid_from=dt.datetime.now(dt.UTC) - dt.timedelta(days=400),
        valid_days=30,
    )
    proc = sign_cli(launched, "unit-bac-giang", p12, passphrase)
    assert proc.returncode == 2, proc.stderr
    assert "not trusted" in proc.stderr and "expired" in proc.stderr.lower()


def test_revoked_certificate_is_refused(launched: dict, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    from signing.pki import load_root_key, make_crl

    p12, passphrase = _issue_for(launched, tmp_path, "bac-giang--nguyen-truong-tho")
    cert = pkcs12.load_key_and_certificates(p12.read_bytes(), passphrase.read_bytes())[1]
    assert isinstance(cert, x509.Certificate)
    pki = launched["data"] / "pki"
    crl_file = pki / "root.crl"
    original = crl_file.read_bytes()
    ca_key, ca_cert = load_root_key(pki)
    crl_file.write_bytes(make_crl(ca_key, ca_cert, revoked=(cert,)).public_bytes(serialization.Encoding.DER))
    try:
        proc = sign_cli(launched, "unit-bac-giang", p12, passphrase)
    finally:
        crl_file.write_bytes(original)
    assert proc.returncode == 2, proc.stderr
    assert "not trusted" in proc.stderr and "revoked" in proc.stderr.lower()


def _upload(launched: dict, pdf: bytes, field: str, tmp_path: Path, document: str = "covenant"):  # type: ignore[no-untyped-def]
    path = tmp_path / "signed elsewhere.pdf"
    path.write_bytes(pdf)
    return run_covenant(
        "upload", launched["round_id"], str(path), "--field", field, "--document", document, env=launched["env"]
    )


def _current(launched: dict, field: str) -> bytes:
    return slot_state(launched_ctx(launched), launched["round_id"], field)[1]


def _incremental(pdf: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _add_annotation(writer: IncrementalPdfFileWriter) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Square"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in (100, 100, 200, 200)]),
        }
    )
    annots = page.get("/Annots", generic.ArrayObject())
    annots.append(writer.add_object(annot))
    page[generic.NameObject("/Annots")] = annots
    writer.update_container(page)


def _add_page(writer: IncrementalPdfFileWriter) -> None:
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
        }
    )
    writer.insert_page(page)


def _edit_text(writer: IncrementalPdfFileWriter) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 14 Tf 100 700 Td (Tong cong 90 diem) Tj ET")
    page[generic.NameObject("/Contents")] = writer.add_object(stream)
    writer.update_container(page)


def _sign_hoa_binh(launched: dict, pdf: bytes, timestamped: bool = True) -> bytes:
    return sign_as(launched["data"] / "pki", "hoa-binh--ngo-bao-ngoc", pdf, "unit-hoa-binh", timestamped=timestamped)


def test_upload_without_timestamp_nor_room_for_one_gets_a_document_timestamp(launched: dict, tmp_path: Path) -> None:
    """The round requires B-T and the tool asked no TSA, and its CMS left no room in /Contents for the server to
    add the token (poppler 22.12 writes it unpadded): the server adds a document timestamp in one revision of its
    own, right after the signature (ETSI EN 319 142-1 counts it as the signature's B-T timestamp). The stored file
    is the submission, byte for byte, plus that revision; the same file sent again is the same signature."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    ctx = launched_ctx(launched)
    slot_id, current, _ = slot_state(ctx, launched["round_id"], "chair-phu-tho")
    signer = load_pkcs12(*person(launched, "phu-tho--do-dinh-chu"))
    meta = dict(signer_name="Đỗ Đình Chữ", title="Viện trưởng", unit="Viện kiểm sát nhân dân tỉnh Phú Thọ")
    loose = sign_field(current, "chair-phu-tho", signer, **meta)  # type: ignore[arg-type]
    used = len(PdfFileReader(io.BytesIO(loose)).embedded_signatures[-1].signed_data.dump())
    tight = sign_field(current, "chair-phu-tho", signer, bytes_reserved=2 * used + 128, **meta)  # type: ignore[arg-type]
    proc = _upload(launched, tight, "chair-phu-tho", tmp_path, document="minutes")
    assert proc.returncode == 0, proc.stderr
    _, stored, _ = slot_state(ctx, launched["round_id"], "chair-phu-tho")
    assert stored.startswith(tight) and stored[len(tight) :].count(b"startxref") == 1
    roots = load_roots(demo_roots(launched["data"] / "pki"))
    reports = {r.field: r for r in validate_signatures(stored, roots)}
    chair, stamp = reports["chair-phu-tho"], reports["timestamp-chair-phu-tho"]
    assert chair.timestamp is None and chair.document_timestamp == stamp.timestamp and status_ok(stamp)
    assert pades_level(list(reports.values()), stored) != "PAdES-B-B"
    accept_signature(ctx, slot_id, ctx.blobs.put(tight))  # a retried acceptance of the same submission: a no-op
    assert slot_state(ctx, launched["round_id"], "chair-phu-tho")[1] == stored


def test_upload_of_an_encrypted_pdf_is_refused(launched: dict, tmp_path: Path) -> None:
    signed = _sign_hoa_binh(launched, _current(launched, "unit-hoa-binh"))
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(owner="chu", user="khach"))
    proc = _upload(launched, out.getvalue(), "unit-hoa-binh", tmp_path)
    assert proc.returncode == 2 and "encrypted" in proc.stderr, proc.stderr


def test_page_added_before_signing_is_refused(launched: dict, tmp_path: Path) -> None:
    tampered = _incremental(_current(launched, "unit-hoa-binh"), _add_page)
    proc = _upload(launched, _sign_hoa_binh(launched, tampered), "unit-hoa-binh", tmp_path)
    assert proc.returncode == 2 and "signature refused" in proc.stderr, proc.stderr
    assert "certification" in proc.stderr or "beyond filling" in proc.stderr


def test_text_edited_before_signing_is_refused(launched: dict, tmp_path: Path) -> None:
    tampered = _incremental(_current(launched, "unit-hoa-binh"), _edit_text)
    proc = _upload(launched, _sign_hoa_binh(launched, tampered), "unit-hoa-binh", tmp_path)
    assert proc.returncode == 2 and "signature refused" in proc.stderr, proc.stderr


def test_upload_of_a_pdf_signed_elsewhere_is_accepted(launched: dict, tmp_path: Path) -> None:
    signed = _sign_hoa_binh(launched, _current(launched, "unit-hoa-binh"))
    proc = _upload(launched, signed, "unit-hoa-binh", tmp_path)
    assert proc.returncode == 0, proc.stderr
    again = _upload(launched, signed, "unit-hoa-binh", tmp_path)
    assert again.returncode == 3  # that slot is closed now


def test_passphrase_typed_at_the_prompt(launched: dict) -> None:
    p12, passphrase = person(launched, "phu-tho--hoang-thuy")
    args = ["sign", launched["round_id"], "--field", "secretary-phu-tho", "--document", "minutes", "--p12", str(p12)]
    wrong = run_covenant(*args, env=launched["env"], stdin="khong-dung\n")
    assert wrong.returncode == 2 and "not a PKCS#12 file for this passphrase" in wrong.stderr, wrong.stderr
    right = run_covenant(*args, env=launched["env"], stdin=passphrase.read_text() + "\n")
    assert right.returncode == 0, right.stderr
    assert passphrase.read_text() not in right.stdout + right.stderr  # typed, not echoed


LEADERS = [
    ("unit-thai-nguyen", "thai-nguyen--phung-duc-tien", "Phùng Đức Tiến", "Viện trưởng", "Thái Nguyên"),
    ("unit-bac-giang", "bac-giang--nguyen-truong-tho", "Nguyễn Trường Thọ", "Phó Viện trưởng", "Bắc Giang"),
    ("unit-vinh-phuc", "vinh-phuc--dang-thanh-nhan", "Đặng Thanh Nhàn", "Phó Viện trưởng", "Vĩnh Phúc"),
]


@pytest.mark.parametrize(
    "tamper", [None, _add_annotation, _add_page, _edit_text], ids=["clean", "annot", "page", "text"]
)
def test_each_revision_judged_once_agrees_with_pyhanko(launched: dict, tamper) -> None:  # type: ignore[no-untyped-def]
    """validate_signatures judges each revision once, against the one before it (ChainDiffPolicy); pyHanko
    judges every later revision against every signature. Same verdicts, signature by signature, on a clean chain
    and on one where content is changed between the second and the third signature (which every signature
    before the change must show, ours naming what changed)."""
    pdf = _current(launched, "unit-thai-nguyen")
    for n, (field, key, name, title, province) in enumerate(LEADERS):
        if n == 2 and tamper is not None:
            pdf = _incremental(pdf, tamper)
        signer = load_pkcs12(*person(launched, key))
        pdf = sign_field(pdf, field, signer, signer_name=name, title=title, unit=f"VKSND tỉnh {province}")
    roots = load_roots(demo_roots(launched["data"] / "pki"))

    def verdicts(**how: bool) -> list[tuple[str, str, bool | None, bool]]:
        return [
            (r.field, r.modification_level, r.docmdp_ok, status_ok(r)) for r in validate_signatures(pdf, roots, **how)
        ]

    ours, theirs = verdicts(), verdicts(pairwise=True)
    assert ours == theirs
    named = [r.modification for r in validate_signatures(pdf, roots)]
    assert all(m is None for m in named) if tamper is None else all(m for m in named[:-1]) and named[-1] is None
    assert [field for field, *_ in ours][-3:] == [leader[0] for leader in LEADERS]
    assert ours[0][0] == "certification" and len(ours) >= 4  # earlier tests of this module may have signed more
    ok = [good for *_, good in ours]
    assert ok == ([True] * len(ours) if tamper is None else [False] * (len(ours) - 1) + [True]), ours


def _issue_named(launched: dict, tmp_path: Path, name: str, uid: str | None = None) -> tuple[Path, Path]:
    """A certificate from the round's own root for any name (and identity number)."""
    from signing.pki import Identity, issue, load_root_key, write_p12

    pki = launched["data"] / "pki"
    ca_key, ca_cert = load_root_key(pki)
    who = Identity(f"x{abs(hash((name, uid)))}", name, "VKSND tỉnh Bắc Giang", identity_number=uid)
    key, cert = issue(ca_key, ca_cert, who)
    p12 = tmp_path / f"{who.key}.p12"
    return p12, write_p12(p12, who, key, cert, ca_cert)


def _bac_giang_signed_by(launched: dict, p12: Path, passphrase: Path) -> bytes:
    current = _current(launched, "unit-bac-giang")
    signer = load_pkcs12(p12, passphrase)
    return sign_field(current, "unit-bac-giang", signer, signer_name="x", title="Phó Viện trưởng", unit="Bắc Giang")


@pytest.mark.parametrize(
    "name", ["Nguyễn Trường Thoại", "Nguyễn Trường Thơ", "Lê Nguyễn Trường Thọ Anh", "Nguyen Truong Tho"]
)
def test_another_persons_certificate_is_refused(launched: dict, tmp_path: Path, name: str) -> None:
    """The round's CA issues to millions: a name that contains the signer's, or lacks its diacritics, is not his."""
    signed = _bac_giang_signed_by(launched, *_issue_named(launched, tmp_path, name))
    roots = load_roots(demo_roots(launched["data"] / "pki"))
    with pytest.raises(SignatureRejected, match="must be exactly the signer named for this field"):
        check_new_revision(
            _current(launched, "unit-bac-giang"), signed, "unit-bac-giang", roots, signer_name="Nguyễn Trường Thọ"
        )


@pytest.mark.parametrize(
    "name", ["NGUYỄN TRƯỜNG THỌ", "Nguyễn  Trường   Thọ", "Nguye\u0302\u0303n Trươ\u0300ng Tho\u0323"]
)
def test_the_same_name_written_otherwise_is_the_signer(launched: dict, tmp_path: Path, name: str) -> None:
    """Upper case, extra spaces and decomposed diacritics (NFD) are the same name."""
    signed = _bac_giang_signed_by(launched, *_issue_named(launched, tmp_path, name))
    roots = load_roots(demo_roots(launched["data"] / "pki"))
    report = check_new_revision(
        _current(launched, "unit-bac-giang"), signed, "unit-bac-giang", roots, signer_name="Nguyễn Trường Thọ"
    )
    assert report.trusted


def test_identity_number_pin(launched: dict, tmp_path: Path) -> None:
    """Pinned by identity number (subject UID "CCCD:…"): the name may differ, another number may not."""
    from signing.validation import Pin

    roots = load_roots(demo_roots(launched["data"] / "pki"))
    current = _current(launched, "unit-bac-giang")
    mine = _bac_giang_signed_by(
        launched, *_issue_named(launched, tmp_path, "Nguyễn Trường Thọ - VKSND Bắc Giang", "CCCD:024080001234")
    )
    for pin in ("024080001234", "CCCD:024080001234"):
        report = check_new_revision(
            current, mine, "unit-bac-giang", roots, signer_name="Nguyễn Trường Thọ", pin=Pin(identity=pin)
        )
        assert report.trusted
    other = _bac_giang_signed_by(launched, *_issue_named(launched, tmp_path, "Nguyễn Trường Thọ", "CCCD:024080009999"))
    with pytest.raises(SignatureRejected, match="identity number is not 024080001234"):
        check_new_revision(
            current, other, "unit-bac-giang", roots, signer_name="Nguyễn Trường Thọ", pin=Pin(identity="024080001234")
        )
