"""KeptKeySigner: the same CMS as pyHanko's SimpleSigner, only faster (kept key, kept PAdES attributes)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from asn1crypto import cms
from pyhanko.sign import signers
from pyhanko.sign.ades.api import CAdESSignedAttrSpec, GenericCommitment
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.validation.generic_cms import validate_sig_integrity

from signing.pki import Identity, issue, make_root, write_p12
from signing.signers import load_pkcs12

LEADER = Identity("phu-tho--do-dinh-chu", "Đỗ Đình Chữ", "Viện kiểm sát nhân dân tỉnh Phú Thọ")


@pytest.fixture(scope="module", params=["rsa", "ec"])
def p12(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    ca_key, ca_cert = make_root()
    key, cert = issue(ca_key, ca_cert, LEADER, key_type=request.param)
    path = tmp_path_factory.mktemp(request.param) / "leader.p12"
    return path, write_p12(path, LEADER, key, cert, ca_cert)


def _attrs(signer: signers.Signer, digest: bytes, **kwargs: object) -> cms.CMSAttributes:
    return asyncio.run(signer.signed_attrs(digest, "sha256", **kwargs))  # type: ignore[arg-type]


def test_pades_signed_attributes_are_pyhankos_byte_for_byte(p12: tuple[Path, Path]) -> None:
    ours = load_pkcs12(*p12)
    stock = signers.SimpleSigner.load_pkcs12(str(p12[0]), passphrase=p12[1].read_bytes().strip())
    for n in range(3):  # the first call builds the template, the next ones reuse it with another digest
        digest = hashlib.sha256(b"revision %d" % n).digest()
        mine = _attrs(ours, digest, use_pades=True)
        theirs = _attrs(stock, digest, use_pades=True)
        assert mine.dump() == theirs.dump()
        assert [a["type"].native for a in mine] == ["content_type", "message_digest", "signing_certificate_v2"]
        assert [a["values"][0].native for a in mine if a["type"].native == "message_digest"] == [digest]


def test_other_attributes_still_come_from_pyhanko(p12: tuple[Path, Path]) -> None:
    ours = load_pkcs12(*p12)
    digest = hashlib.sha256(b"x").digest()
    when = dt.datetime(2024, 3, 8, 9, 30, tzinfo=dt.UTC)
    plain_cms = _attrs(ours, digest, use_pades=False, attr_settings=PdfCMSSignedAttributes(signing_time=when))
    assert "signing_time" in {a["type"].native for a in plain_cms}  # not PAdES: signing time, as pyHanko does
    committed = _attrs(
        ours,
        digest,
        use_pades=True,
        attr_settings=PdfCMSSignedAttributes(
            cades_signed_attrs=CAdESSignedAttrSpec(commitment_type=GenericCommitment.PROOF_OF_APPROVAL.asn1)
        ),
    )
    assert "commitment_type" in {a["type"].native for a in committed}


def test_cms_verifies(p12: tuple[Path, Path]) -> None:
    signer = load_pkcs12(*p12)
    data = "Bản giao ước thi đua năm 2024".encode()
    for _ in range(2):
        signed = asyncio.run(signer.async_sign(hashlib.sha256(data).digest(), "sha256", use_pades=True))
        signer_info = signed["content"]["signer_infos"][0]
        intact, valid = validate_sig_integrity(signer_info, signer.signing_cert, "data", hashlib.sha256(data).digest())
        assert intact and valid


def _blank_pdf() -> bytes:
    import io

    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _text(pdf: bytes, tmp_path: Path) -> str:
    import subprocess

    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.live  # poppler reads the text back
@pytest.mark.parametrize("shared", [True, False], ids=["font-embedded-once", "document-without-it"])
def test_stamp_font_embedded_once_or_per_signature(p12: tuple[Path, Path], tmp_path: Path, shared: bool) -> None:
    """Documents prepared by covenant carry the stamp font once (/AcroForm /DR): a signature adds no font program.
    A document prepared elsewhere gets pyHanko's per-signature subset. The stamp reads the same either way."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    from signing.fields import FieldPlacement, add_fields, certify
    from signing.signers import sign_field

    box = (60, 600, 300, 690)
    if shared:
        prepared = add_fields(_blank_pdf(), [FieldPlacement("unit-phu-tho", 0, box)])
        assert b"/CovenantStamp" in prepared
    else:
        writer = IncrementalPdfFileWriter(io.BytesIO(_blank_pdf()), strict=False)
        append_signature_field(writer, SigFieldSpec(sig_field_name="unit-phu-tho", on_page=0, box=box))
        out = io.BytesIO()
        writer.write(out)
        prepared = out.getvalue()
    signer = load_pkcs12(*p12)
    certified = certify(prepared, signer)
    signed = sign_field(
        certified, "unit-phu-tho", signer, signer_name="Đỗ Đình Chữ", title="Viện trưởng", unit="VKSND tỉnh Phú Thọ"
    )
    added = signed[len(certified) :]
    assert (b"/FontFile2" in added) is not shared
    text = _text(signed, tmp_path)
    assert "Ký bởi: Đỗ Đình Chữ" in text and "Cơ quan: VKSND tỉnh Phú Thọ" in text, text


def test_levels_say_what_each_signature_really_is(p12: tuple[Path, Path]) -> None:
    """A signature with SubFilter adbe.pkcs7.detached is an ISO 32000 signature, not PAdES: the report says so per
    signature, and the file reaches no PAdES level (before, both were called PAdES-B-B)."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter, append_signature_field

    from signing.validation import pades_level, validate_signatures

    writer = IncrementalPdfFileWriter(io.BytesIO(_blank_pdf()), strict=False)
    append_signature_field(writer, SigFieldSpec(sig_field_name="unit-phu-tho", on_page=0, box=(60, 600, 300, 690)))
    out = io.BytesIO()
    writer.write(out)
    prepared = out.getvalue()
    signer = load_pkcs12(*p12)
    issuer = next(c for c in signer.cert_registry if c.subject == signer.signing_cert.issuer)
    roots = [issuer]
    made = {}
    for subfilter in (SigSeedSubFilter.PADES, SigSeedSubFilter.ADOBE_PKCS7_DETACHED):
        meta = signers.PdfSignatureMetadata(field_name="unit-phu-tho", subfilter=subfilter, md_algorithm="sha256")
        pdf = signers.PdfSigner(meta, signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(prepared))).getvalue()
        reports = validate_signatures(pdf, roots)
        made[subfilter.value.lstrip("/")] = (reports[0].subfilter, reports[0].pades, pades_level(reports, pdf))
        assert reports[0].intact and reports[0].valid  # honest signatures either way
    assert made["ETSI.CAdES.detached"] == ("ETSI.CAdES.detached", True, "PAdES-B-B")
    assert made["adbe.pkcs7.detached"] == ("adbe.pkcs7.detached", False, "not PAdES (adbe.pkcs7.detached)")


def test_the_signature_timestamp_added_on_receipt_changes_only_the_cms(tmp_path: Path) -> None:
    """signing/timestamping.py: the token goes into the CMS in place (same length, same byte range); pyHanko then
    sees a B-T signature, intact and valid; a CMS without room is refused, never moved."""
    import io

    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    from signing.errors import SignatureRejected
    from signing.ltv import local_timestamper
    from signing.signers import sign_field
    from signing.timestamping import add_signature_timestamp, differs_only_in_contents
    from signing.validation import load_roots, pades_level, validate_signatures

    ca_key, ca_cert = make_root()
    leader_key, leader_cert = issue(ca_key, ca_cert, LEADER)
    tsa_key, tsa_cert = issue(ca_key, ca_cert, Identity("tsa", "covenant demo TSA", "covenant"), timestamping=True)
    p12 = tmp_path / "leader.p12"
    signer = load_pkcs12(p12, write_p12(p12, LEADER, leader_key, leader_cert, ca_cert))
    pem = serialization.Encoding.PEM
    roots = load_roots([ca_cert.public_bytes(pem)])
    tsa_pem = tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    timestamper = local_timestamper(tsa_cert.public_bytes(pem), tsa_pem, roots)
    writer = IncrementalPdfFileWriter(io.BytesIO(_blank_pdf()), strict=False)
    append_signature_field(writer, SigFieldSpec(sig_field_name="unit-phu-tho", on_page=0, box=(60, 600, 300, 690)))
    out = io.BytesIO()
    writer.write(out)
    lines = {"signer_name": "Đỗ Đình Chữ", "title": "Viện trưởng", "unit": "VKSND tỉnh Phú Thọ"}
    plain = sign_field(out.getvalue(), "unit-phu-tho", signer, **lines)  # type: ignore[arg-type]
    assert validate_signatures(plain, roots)[0].timestamp is None
    stamped = add_signature_timestamp(plain, "unit-phu-tho", timestamper)
    assert len(stamped) == len(plain) and stamped != plain and differs_only_in_contents(plain, stamped, "unit-phu-tho")
    report = validate_signatures(stamped, roots)[0]
    assert report.intact and report.valid and report.timestamp and report.timestamp_ok, report
    assert pades_level(validate_signatures(stamped, roots), stamped) == "PAdES-B-T"
    assert add_signature_timestamp(stamped, "unit-phu-tho", timestamper) == stamped  # it has one: unchanged
    tampered = bytearray(stamped)
    tampered[10] ^= 1  # a signed byte: not "only the CMS"
    assert not differs_only_in_contents(plain, bytes(tampered), "unit-phu-tho")
    used = len(plain.split(b"/Contents <", 1)[1].split(b">", 1)[0].rstrip(b"0")) // 2 + 1
    tight = sign_field(out.getvalue(), "unit-phu-tho", signer, bytes_reserved=2 * used + 64, **lines)  # type: ignore[arg-type]
    with pytest.raises(SignatureRejected, match="no room for a timestamp"):
        add_signature_timestamp(tight, "unit-phu-tho", timestamper)
    with pytest.raises(SignatureRejected, match="no signature in field"):
        add_signature_timestamp(plain, "unit-bac-giang", timestamper)


def test_certification_reference_names_its_digest(p12: tuple[Path, Path]) -> None:
    """The secretariat's DocMDP reference carries /DigestMethod (endesive will not sign a certified file without
    it), the algorithm the certification really used; pyHanko still reads the certification as it wrote it."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import read_certification_data

    from signing.fields import FieldPlacement, add_fields, certify

    certified = certify(
        add_fields(_blank_pdf(), [FieldPlacement("unit-phu-tho", 0, (60, 600, 300, 690))]), load_pkcs12(*p12)
    )
    reader = PdfFileReader(io.BytesIO(certified), strict=False)
    signature = reader.embedded_signatures[0].sig_object
    (reference,) = signature["/Reference"]
    assert reference["/TransformMethod"] == "/DocMDP" and reference["/DigestMethod"] == "/SHA256"
    data = read_certification_data(reader)
    assert data is not None and data.permission.value == 2


def test_page_boxes_are_rounded_to_what_every_writer_prints_back() -> None:
    """LibreOffice's A4 (595.303937007874 pt) becomes 595.3: a tool that writes the page again when it signs
    (endesive, through pypdf) then writes the same page, not a changed one."""
    import io

    import pikepdf

    from signing.fields import normalise

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595.303937007874, 841.889763779528))
    pdf.pages[0].obj["/CropBox"] = pikepdf.Array([0, 0, 595.303937007874, 841.889763779528])
    out = io.BytesIO()
    pdf.save(out)
    with pikepdf.open(io.BytesIO(normalise(out.getvalue()))) as doc:
        page = doc.pages[0].obj
        assert [float(v) for v in page.MediaBox] == [0, 0, 595.3, 841.89]
        assert [float(v) for v in page.CropBox] == [0, 0, 595.3, 841.89]
        assert b"595.3 841.89" in page.MediaBox.unparse()
