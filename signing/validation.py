"""Validation with pyHanko: one report per signature, and the acceptance rule for a new revision."""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext

from signing.fields import CERTIFICATION_FIELD, PdfError

# Real signing certificates carry digitalSignature and/or nonRepudiation; either is enough.
KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)


class SignatureRejected(Exception):
    """A submitted revision that must not be accepted; the message says why, in plain words."""


@dataclass
class SignatureReport:
    field: str
    signer_subject: str
    signer_cn: str
    certificate_sha256: str
    signing_time: str | None
    intact: bool
    valid: bool
    trusted: bool
    coverage: str
    modification_level: str
    docmdp_ok: bool | None
    certification: bool
    bottom_line: bool
    summary: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def load_roots(pems: list[bytes]) -> list[asn1_x509.Certificate]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    roots = []
    for pem in pems:
        for cert in x509.load_pem_x509_certificates(pem):
            roots.append(asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER)))
    return roots


def _context(roots: list[asn1_x509.Certificate]) -> ValidationContext:
    # Revocation is soft-fail until the demo PKI serves OCSP/CRL (signing issue); nothing is fetched.
    return ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")


def open_pdf(pdf: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    except (PdfReadError, ValueError, KeyError, IndexError) as exc:
        raise PdfError(f"not a readable PDF: {exc}") from None
    if reader.encrypted:
        raise PdfError("the PDF is encrypted; upload it without a password")
    return reader


def validate_signatures(
    pdf: bytes, roots: list[asn1_x509.Certificate], skip: set[str] | frozenset[str] = frozenset()
) -> list[SignatureReport]:
    """Every signature in the PDF (but those in `skip`), in order, validated against `roots`, with difference
    analysis of what came after each."""
    reader = open_pdf(pdf)
    reports = []
    for sig in reader.embedded_signatures:
        if str(sig.field_name) in skip:
            continue
        try:
            status = validate_pdf_signature(
                sig, signer_validation_context=_context(roots), key_usage_settings=KEY_USAGE
            )
        except (PdfReadError, ValueError, KeyError) as exc:
            raise PdfError(f"signature {sig.field_name}: cannot be read: {exc}") from None
        cert = status.signing_cert
        reports.append(
            SignatureReport(
                field=str(sig.field_name),
                signer_subject=cert.subject.human_friendly,
                signer_cn=str(cert.subject.native.get("common_name", "")),
                certificate_sha256=hashlib.sha256(cert.dump()).hexdigest(),
                signing_time=status.signer_reported_dt.isoformat() if status.signer_reported_dt else None,
                intact=status.intact,
                valid=status.valid,
                trusted=status.trusted,
                coverage=status.coverage.name if status.coverage else "NONE",
                modification_level=status.modification_level.name if status.modification_level else "NONE",
                docmdp_ok=status.docmdp_ok,
                certification=sig.field_name == CERTIFICATION_FIELD,
                bottom_line=status.bottom_line,
                summary=status.summary(),
            )
        )
    return reports


def check_new_revision(
    previous: bytes,
    submitted: bytes,
    field: str,
    roots: list[asn1_x509.Certificate],
    pin_sha256: str | None = None,
) -> SignatureReport:
    """Accept `submitted` only if it is `previous` plus exactly one valid signature in `field`."""
    try:
        return _check_new_revision(previous, submitted, field, roots, pin_sha256)
    except PdfError as exc:
        raise SignatureRejected(str(exc)) from None


def _check_new_revision(
    previous: bytes,
    submitted: bytes,
    field: str,
    roots: list[asn1_x509.Certificate],
    pin_sha256: str | None,
) -> SignatureReport:
    if not submitted.startswith(b"%PDF"):
        raise SignatureRejected("the file is not a PDF")
    if not submitted.startswith(previous) or len(submitted) == len(previous):
        raise SignatureRejected(
            "the file is not the prepared document plus one signature (it was rewritten, not signed incrementally)"
        )
    before = {str(s.field_name) for s in open_pdf(previous).embedded_signatures}
    # The new signature, and the certification whose DocMDP rules judge every later revision; the other
    # earlier signatures were checked when they arrived and the certification's diff analysis covers them.
    reports = validate_signatures(submitted, roots, skip=before - {CERTIFICATION_FIELD})
    new = [r for r in reports if r.field not in before]
    if len(new) != 1:
        raise SignatureRejected(f"expected exactly one new signature, found {len(new)}")
    report = new[0]
    if report.field != field:
        raise SignatureRejected(f"the signature is in field {report.field!r}, not in this signer's field {field!r}")
    if not report.intact or not report.valid:
        raise SignatureRejected(f"the signature is broken: {report.summary}")
    if not report.trusted:
        raise SignatureRejected("the signer's certificate does not chain to the round's trusted roots")
    if pin_sha256 and report.certificate_sha256 != pin_sha256.lower():
        raise SignatureRejected(
            f"signed with certificate {report.certificate_sha256[:16]}…, not the certificate pinned for this signer"
        )
    if report.coverage != "ENTIRE_FILE":
        raise SignatureRejected("the signature does not cover the whole file (something was appended after it)")
    for earlier in reports:
        if earlier.field in before and earlier.docmdp_ok is False:
            raise SignatureRejected(
                f"the change breaks the permissions of signature {earlier.field!r} "
                "(content changed after certification)"
            )
        level = ModificationLevel[earlier.modification_level] if earlier.modification_level != "NONE" else None
        if earlier.field in before and level is not None and level > ModificationLevel.FORM_FILLING:
            raise SignatureRejected(
                f"the document was changed beyond filling signature fields after {earlier.field!r} "
                f"({earlier.modification_level})"
            )
    return report


def status_ok(report: SignatureReport) -> bool:
    return report.intact and report.valid and report.trusted and report.docmdp_ok is not False


__all__ = ["SignatureReport", "SignatureRejected", "check_new_revision", "validate_signatures"]
