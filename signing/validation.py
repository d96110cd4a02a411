"""Validation with pyHanko: one report per signature, and the acceptance rule for a new revision."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffResult,
    ModificationLevel,
    StandardDiffPolicy,
    SuspiciousModification,
)
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext

from signing.fields import CERTIFICATION_FIELD, PdfError

# Real signing certificates carry digitalSignature and/or nonRepudiation; either is enough.
KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)


class CertifiedBaseDiffPolicy(StandardDiffPolicy):
    """pyHanko's standard difference analysis, with every revision after the certification judged once, against
    the certified revision, instead of once per signature against that signature's own revision.

    pyHanko's `review_file` compares each later revision with the signed revision of the signature being
    validated: for n signatures that is n²/2 comparisons, each needing an index of every path through the
    signature's revision (on a 60-unit covenant: 1,830 comparisons and 60 indexes, 28.8 s; on a 100-page tagged
    PDF/A, 6 indexes of its structure tree, 1.25 s). In a certified document the certification's own analysis
    already compares every later revision with the certified one under its DocMDP rules (pyHanko, unchanged);
    this policy keeps those verdicts, one per revision, and gives each signature the worst verdict of the
    revisions after it. A revision the rules refuse is refused for every signature before it, as before.
    Signatures that lock fields (FieldMDP), or that come before the certification, get pyHanko's own analysis.

    `first_new`: judge only the revisions from there on (acceptance of a submission: the revisions already in
    the accepted file were judged when they arrived; re-judging them made acceptance grow with the signatures)."""

    def __init__(self, certified_revision: int, first_new: int = 0, certified_sha256: str | None = None) -> None:
        base = DEFAULT_DIFF_POLICY
        super().__init__(global_rules=base.global_rules, form_rule=base.form_rule)
        self.certified_revision = certified_revision
        self.first_new = first_new
        self.certified_sha256 = certified_sha256
        self._verdicts: dict[tuple[int, MDPPerm | None], DiffResult | SuspiciousModification] = {}

    def review_file(self, reader, base_revision, field_mdp_spec=None, doc_mdp=None):  # type: ignore[no-untyped-def]
        base_no = base_revision if isinstance(base_revision, int) else base_revision.revision
        if field_mdp_spec is not None or base_no < self.certified_revision:
            return super().review_file(reader, base_revision, field_mdp_spec, doc_mdp)
        certified = reader.get_historical_resolver(self.certified_revision)
        worst, changed = ModificationLevel.NONE, set()
        for revision in range(max(base_no + 1, self.first_new), reader.xrefs.total_revisions):
            verdict = self._verdict(reader, certified, revision, doc_mdp)
            if isinstance(verdict, SuspiciousModification):
                return verdict
            worst, changed = max(worst, verdict.modification_level), changed | verdict.changed_form_fields
        return DiffResult(worst, changed)

    def _verdict(
        self, reader: PdfFileReader, certified: HistoricalResolver, revision: int, doc_mdp: MDPPerm | None
    ) -> DiffResult | SuspiciousModification:
        # The same rules with a DocMDP level only refuse more (updates valid after approval signatures only), so
        # an accepted verdict under the certification's level stands for an approval signature (no level) too.
        for key in [(revision, doc_mdp), *([(revision, level) for level in MDPPerm] if doc_mdp is None else [])]:
            known = self._verdicts.get(key)
            if isinstance(known, DiffResult) or (known is not None and key[1] == doc_mdp):
                return known
        _CertifiedIndexes.lend(self.certified_sha256, certified)
        try:
            verdict: DiffResult | SuspiciousModification = self.apply(
                certified, reader.get_historical_resolver(revision), None, doc_mdp
            )
        except SuspiciousModification as exc:
            verdict = exc
        _CertifiedIndexes.keep(self.certified_sha256, certified)
        self._verdicts[(revision, doc_mdp)] = verdict
        return verdict


class _CertifiedIndexes:
    """pyHanko's difference analysis first indexes every path to every object of the older revision (it reads the
    whole revision). For the certified revision that index is the same for every later file of the document, and
    acceptance builds it once per signature: most of an acceptance on a 60-unit covenant (~0.6 of ~1 s). Kept here
    by the SHA-256 of the certified revision's bytes (what it was computed from), for a few documents.
    It lives in a private attribute of pyHanko's HistoricalResolver; without it (another pyHanko) nothing is kept."""

    SIZE = 4
    _kept: OrderedDict[str, object] = OrderedDict()
    _lock = threading.Lock()
    ATTRIBUTE = "_indirect_object_access_cache"

    @classmethod
    def lend(cls, key: str | None, resolver: HistoricalResolver) -> None:
        if key is None or getattr(resolver, cls.ATTRIBUTE, False) is not None:
            return
        with cls._lock:
            index = cls._kept.get(key)
            if index is not None:
                cls._kept.move_to_end(key)
                setattr(resolver, cls.ATTRIBUTE, index)

    @classmethod
    def keep(cls, key: str | None, resolver: HistoricalResolver) -> None:
        index = getattr(resolver, cls.ATTRIBUTE, None)
        if key is None or index is None:
            return
        if key in cls._kept:
            return
        # keys without the reader they came from (a Reference's handler is not part of its identity), so that
        # keeping the index does not keep that reader and its whole file alive
        detached = {generic.Reference(ref.idnum, ref.generation): paths for ref, paths in index.items()}  # type: ignore[attr-defined]
        with cls._lock:
            cls._kept[key] = detached
            cls._kept.move_to_end(key)
            while len(cls._kept) > cls.SIZE:
                cls._kept.popitem(last=False)


def _certification(signatures: list[EmbeddedPdfSignature]) -> EmbeddedPdfSignature | None:
    """The secretariat's certification signature, if the document carries one."""
    return next((sig for sig in signatures if str(sig.field_name) == CERTIFICATION_FIELD), None)


def _revision_sha256(pdf: bytes, sig: EmbeddedPdfSignature) -> str | None:
    """SHA-256 of the bytes of the revision `sig` signed (up to the end of its byte range), None if that cannot
    be told."""
    byte_range = [int(v) for v in sig.byte_range]
    if len(byte_range) == 4 and byte_range[0] == 0:
        return hashlib.sha256(pdf[: byte_range[2] + byte_range[3]]).hexdigest()
    return None


class SignatureRejected(Exception):
    """A submitted revision that must not be accepted; the message says why, in plain words."""


@dataclass
class SignatureReport:
    field: str
    signer_subject: str
    signer_cn: str
    certificate_sha256: str
    signing_time: str | None
    timestamp: str | None  # of the signature timestamp token (B-T), or of the document timestamp itself
    timestamp_ok: bool | None
    intact: bool
    valid: bool
    trusted: bool
    revocation_checked: bool
    coverage: str
    modification_level: str
    docmdp_ok: bool | None
    bottom_line: bool
    summary: str
    kind: str = "signature"  # signature | certification | document-timestamp

    @property
    def certification(self) -> bool:
        return self.kind == "certification"

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


def _context(
    roots: list[asn1_x509.Certificate],
    crls: list[asn1_crl.CertificateList] | None,
    ocsps: list[asn1_ocsp.OCSPResponse] | None = None,
    online: bool = False,
) -> ValidationContext:
    """Online (a round on a real PKI): revocation is fetched from the OCSP responders and CRL distribution
    points the certificates name, and a certificate whose status cannot be obtained is refused (hard-fail).
    Offline: nothing is fetched; with CRLs or OCSP responses at hand (the demo round's CRL, a file's DSS)
    revocation is checked (hard-fail), without any it is soft-fail and the report's `revocation_checked` says so."""
    known = {"trust_roots": roots, "crls": crls or [], "ocsps": ocsps or []}
    if online:
        return ValidationContext(**known, allow_fetching=True, revocation_mode="hard-fail")
    mode = "hard-fail" if crls or ocsps else "soft-fail"
    return ValidationContext(**known, allow_fetching=False, revocation_mode=mode)


def open_pdf(pdf: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    except (PdfReadError, ValueError, KeyError, IndexError) as exc:
        raise PdfError(f"not a readable PDF: {exc}") from None
    if reader.encrypted:
        raise PdfError("the PDF is encrypted; upload it without a password")
    return reader


def _cert_fields(cert: asn1_x509.Certificate) -> dict[str, str]:
    return {
        "signer_subject": cert.subject.human_friendly,
        "signer_cn": str(cert.subject.native.get("common_name", "")),
        "certificate_sha256": hashlib.sha256(cert.dump()).hexdigest(),
    }


def validate_signatures(
    pdf: bytes,
    roots: list[asn1_x509.Certificate],
    skip: set[str] | frozenset[str] = frozenset(),
    crls: list[asn1_crl.CertificateList] | None = None,
    online: bool = False,
    first_new: int = 0,
    pairwise: bool = False,
) -> list[SignatureReport]:
    """Every signature and document timestamp in the PDF (but those in `skip`), in order, validated against
    `roots`, with difference analysis of what came after each signature (pyHanko's rules; in a certified
    document each later revision judged once against the certified one, see CertifiedBaseDiffPolicy; with
    `first_new`, only the revisions from there on; with `pairwise`, pyHanko's own analysis of every later
    revision against every signature's revision, n²/2 comparisons)."""
    reader = open_pdf(pdf)
    signatures, timestamps = _embedded_signatures(reader, skip)
    certification = None if pairwise else _certification(signatures)
    diff_policy = None
    if certification is not None:
        diff_policy = CertifiedBaseDiffPolicy(
            certification.signed_revision, first_new, _revision_sha256(pdf, certification)
        )
    if diff_policy is None and first_new:
        raise PdfError("the document is not certified by the secretariat")
    # Revocation data the file carries itself (its DSS, added at finalisation) counts as local knowledge:
    # that is what lets an archived package be checked offline.
    dss_crl_list, ocsps = dss_revocation(reader)
    crls = [*(crls or []), *dss_crl_list]
    checked = bool(crls or ocsps or online)
    reports = []
    for sig in signatures:
        try:
            context = _context(roots, crls, ocsps, online)
            status = validate_pdf_signature(
                sig,
                signer_validation_context=context,
                ts_validation_context=context,
                key_usage_settings=KEY_USAGE,
                diff_policy=diff_policy,
            )
        except (PdfReadError, ValueError, KeyError) as exc:
            raise PdfError(f"signature {sig.field_name}: cannot be read: {exc}") from None
        ts = status.timestamp_validity
        reports.append(
            SignatureReport(
                field=str(sig.field_name),
                kind="certification" if sig.field_name == CERTIFICATION_FIELD else "signature",
                **_cert_fields(status.signing_cert),
                signing_time=status.signer_reported_dt.isoformat() if status.signer_reported_dt else None,
                timestamp=ts.timestamp.isoformat() if ts else None,
                timestamp_ok=bool(ts and ts.intact and ts.valid and ts.trusted) if ts else None,
                intact=status.intact,
                valid=status.valid,
                trusted=status.trusted,
                revocation_checked=checked,
                coverage=status.coverage.name if status.coverage else "NONE",
                modification_level=status.modification_level.name if status.modification_level else "NONE",
                docmdp_ok=status.docmdp_ok,
                bottom_line=status.bottom_line,
                summary=status.summary(),
            )
        )
    for ts_sig in timestamps:
        ts_status = validate_pdf_timestamp(ts_sig, validation_context=_context(roots, crls, ocsps, online))
        reports.append(
            SignatureReport(
                field=str(ts_sig.field_name),
                kind="document-timestamp",
                **_cert_fields(ts_status.signing_cert),
                signing_time=ts_status.timestamp.isoformat(),
                timestamp=ts_status.timestamp.isoformat(),
                timestamp_ok=ts_status.intact and ts_status.valid and ts_status.trusted,
                intact=ts_status.intact,
                valid=ts_status.valid,
                trusted=ts_status.trusted,
                revocation_checked=checked,
                coverage=ts_status.coverage.name if ts_status.coverage else "NONE",
                modification_level=ts_status.modification_level.name if ts_status.modification_level else "NONE",
                docmdp_ok=None,
                bottom_line=ts_status.intact and ts_status.valid and ts_status.trusted,
                summary=ts_status.summary(),
            )
        )
    return reports


_SUBFILTERS = {subfilter.value for subfilter in SigSeedSubFilter}


def _embedded_signatures(
    reader: PdfFileReader, skip: set[str] | frozenset[str]
) -> tuple[list[EmbeddedPdfSignature], list[EmbeddedPdfSignature]]:
    """The signatures and the document timestamps in signing order, as pyHanko's `embedded_signatures` gives
    them, without opening the fields in `skip`: opening one reads its CMS, and an acceptance skips every earlier
    signature (~1 ms each, each time: 60 ms per acceptance on a 60-signature covenant)."""
    if not skip:
        found = reader.embedded_signatures
    else:
        found = sorted(
            (
                EmbeddedPdfSignature(reader, field, name)
                for name, value, field in enumerate_sig_fields(reader, filled_status=True)
                if name not in skip and value.get_object().get("/SubFilter") in _SUBFILTERS  # as pyHanko filters
            ),
            key=lambda sig: sig.signed_revision,
        )
    return [s for s in found if s.sig_object_type == "/Sig"], [s for s in found if s.sig_object_type == "/DocTimeStamp"]


def _signed_fields(reader: PdfFileReader) -> set[str]:
    return {str(name) for name, _value, _field in enumerate_sig_fields(reader, filled_status=True)}


def dss_revocation(reader: PdfFileReader) -> tuple[list[asn1_crl.CertificateList], list[asn1_ocsp.OCSPResponse]]:
    """The CRLs and OCSP responses a file's Document Security Store carries."""
    try:
        store = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return [], []
    return (
        [asn1_crl.CertificateList.load(ref.get_object().data) for ref in store.crls],
        [asn1_ocsp.OCSPResponse.load(ref.get_object().data) for ref in store.ocsps],
    )


def pades_level(reports: list[SignatureReport], pdf: bytes) -> str:
    """The PAdES baseline level the file's structure reaches (the weakest signature decides). Whether the
    material is trustworthy is the validators' business; the level is what is there."""
    signatures = [r for r in reports if r.kind != "document-timestamp"]
    if not signatures:
        return "none"
    if not all(r.timestamp for r in signatures):
        return "PAdES-B-B"
    has_dss = "/DSS" in open_pdf(pdf).root
    if has_dss and any(r.kind == "document-timestamp" and r.intact for r in reports):
        return "PAdES-B-LTA"
    return "PAdES-B-LT" if has_dss else "PAdES-B-T"


def check_new_revision(
    previous: bytes,
    submitted: bytes,
    field: str,
    roots: list[asn1_x509.Certificate],
    pin_sha256: str | None = None,
    crls: list[asn1_crl.CertificateList] | None = None,
    online: bool = False,
    signer_name: str | None = None,
) -> SignatureReport:
    """Accept `submitted` only if it is `previous` plus exactly one valid signature in `field`, made with the
    pinned certificate if there is one, else with a certificate issued to `signer_name` (if given)."""
    try:
        report = _check_new_revision(previous, submitted, field, roots, pin_sha256, crls, online)
    except PdfError as exc:
        raise SignatureRejected(str(exc)) from None
    if not pin_sha256 and signer_name and not _same_person(signer_name, report.signer_cn):
        raise SignatureRejected(
            f"signed with the certificate of {report.signer_cn!r}, not of {signer_name}: "
            "the signer named for this field must sign with their own certificate"
        )
    return report


def _same_person(name: str, common_name: str) -> bool:
    """Whether a certificate's common name names this person (accents, case and extra words aside: Vietnamese
    CAs write "PHÙNG ĐỨC TIẾN" or "Phùng Đức Tiến - VKSND tỉnh Thái Nguyên")."""
    from signing.pki import slugify

    return bool(common_name) and slugify(name) in slugify(common_name)


def _check_new_revision(
    previous: bytes,
    submitted: bytes,
    field: str,
    roots: list[asn1_x509.Certificate],
    pin_sha256: str | None,
    crls: list[asn1_crl.CertificateList] | None,
    online: bool,
) -> SignatureReport:
    if not submitted.startswith(b"%PDF"):
        raise SignatureRejected("the file is not a PDF")
    open_pdf(submitted)  # a damaged or encrypted file is named as such before anything else
    if not submitted.startswith(previous) or len(submitted) == len(previous):
        raise SignatureRejected(
            "the file is not the prepared document plus one signature (it was rewritten, not signed incrementally)"
        )
    accepted = open_pdf(previous)
    before = _signed_fields(accepted)
    # The new signature, and the certification whose DocMDP rules judge every later revision; the other
    # earlier signatures were checked when they arrived and the certification's diff analysis covers them.
    known = accepted.xrefs.total_revisions
    reports = validate_signatures(
        submitted,
        roots,
        skip=before - {CERTIFICATION_FIELD},
        crls=crls,
        online=online,
        first_new=known,
    )
    new = [r for r in reports if r.field not in before]
    if len(new) != 1:
        raise SignatureRejected(f"expected exactly one new signature, found {len(new)}")
    report = new[0]
    if report.field != field:
        raise SignatureRejected(f"the signature is in field {report.field!r}, not in this signer's field {field!r}")
    if not report.intact or not report.valid:
        raise SignatureRejected(f"the signature is broken: {report.summary}")
    if not report.trusted:
        raise SignatureRejected(
            "the signer's certificate is not trusted for this round (it does not chain to the round's roots, "
            f"or it is revoked or expired): {report.summary}"
        )
    if report.timestamp_ok is False:
        raise SignatureRejected(f"the signature's timestamp is not valid: {report.summary}")
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
    """Intact, valid, trusted, within its DocMDP permissions, and its timestamp (if any) good too."""
    return (
        report.intact
        and report.valid
        and report.trusted
        and report.docmdp_ok is not False
        and report.timestamp_ok is not False
    )
