"""Validation with pyHanko: one report per signature, and the acceptance rule for a new revision."""

from __future__ import annotations

import functools
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ParamSpec, TypeVar

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.sign.diff_analysis import (
    DiffPolicy,
    DiffResult,
    ModificationLevel,
    SuspiciousModification,
)
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm, SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature, read_certification_data
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext

from signing.errors import SignatureRejected
from signing.fields import CERTIFICATION_FIELD, PdfError
from signing.reference import REFERENCE_POLICY
from signing.revisions import RevisionJudge, Verdict, signature_hosts

# Real signing certificates carry digitalSignature and/or nonRepudiation; either is enough.
P = ParamSpec("P")
T = TypeVar("T")
KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)


class ChainDiffPolicy(DiffPolicy):
    """Difference analysis as a chain: every revision after a signature is judged against the revision just
    before it (signing.revisions), once per file, whatever the number of signatures; a signature gets the worst
    verdict of the revisions after it, and a refused revision is refused for every signature before it.

    pyHanko's `StandardDiffPolicy` judges each later revision against each signature's own revision (n²/2
    comparisons, each indexing the older revision whole). The chain rule allows less than pyHanko's rules do
    (one empty signature field filled, validation data, an invisible document timestamp), and
    tests/test_forgery_corpus.py checks on a generated corpus of forgeries that it refuses at least everything
    pyHanko refuses.

    `first_new`: judge only the revisions from there on (acceptance of a submission: the revisions already in
    the accepted file were judged, by this same rule, when they arrived)."""

    def __init__(self, first_new: int = 0) -> None:
        self.first_new = first_new
        self._judges: dict[int, tuple[PdfFileReader, RevisionJudge]] = {}

    def judge(self, reader: PdfFileReader) -> RevisionJudge:
        kept = self._judges.get(id(reader))
        if kept is None or kept[0] is not reader:
            kept = (reader, RevisionJudge(reader))
            self._judges[id(reader)] = kept
        return kept[1]

    def adopt(self, judge: RevisionJudge) -> None:
        """Use verdicts already computed for this judge's file."""
        self._judges[id(judge.reader)] = (judge.reader, judge)

    def first_problem(self, reader: PdfFileReader, base_revision: int) -> Verdict | None:
        """The first refused revision after `base_revision` (among those judged), if any."""
        judge = self.judge(reader)
        for revision in range(max(base_revision + 1, self.first_new), reader.xrefs.total_revisions):
            verdict = judge.verdict(revision)
            if not verdict.ok:
                return verdict
        return None

    def apply(
        self,
        old: HistoricalResolver,
        new: HistoricalResolver,
        field_mdp_spec: FieldMDPSpec | None = None,
        doc_mdp: MDPPerm | None = None,
    ) -> DiffResult:
        raise NotImplementedError("ChainDiffPolicy judges whole files (review_file)")

    def review_file(
        self,
        reader: PdfFileReader,
        base_revision: int | HistoricalResolver,
        field_mdp_spec: FieldMDPSpec | None = None,
        doc_mdp: MDPPerm | None = None,
    ) -> DiffResult | SuspiciousModification:
        base_no = base_revision if isinstance(base_revision, int) else base_revision.revision
        judge = self.judge(reader)
        worst, changed = ModificationLevel.NONE, set()
        for revision in range(max(base_no + 1, self.first_new), reader.xrefs.total_revisions):
            verdict = judge.verdict(revision)
            if not verdict.ok:
                return SuspiciousModification(verdict.problem)
            if verdict.kind == "signature":
                if field_mdp_spec is not None and field_mdp_spec.is_locked(verdict.field or ""):
                    return SuspiciousModification(
                        f"revision {revision + 1} signs the field {verdict.field!r}, which an earlier signature locked"
                    )
                worst = max(worst, ModificationLevel.FORM_FILLING)
                if verdict.field is not None:
                    changed.add(verdict.field)
            else:
                worst = max(worst, ModificationLevel.LTA_UPDATES)
        return DiffResult(worst, changed)


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
    # what a later revision changed that it may not (the first such revision after this signature), in words
    modification: str | None = None
    # pyHanko's AdES sub-indication when the certificate is not trusted (REVOKED_NO_POE, OUT_OF_BOUNDS_NO_POE, ...)
    trust_problem: str | None = None
    subfilter: str = "ETSI.CAdES.detached"  # what the signature dictionary says it is
    # the time of the first valid document timestamp after the signature (B-T when the CMS has no timestamp)
    document_timestamp: str | None = None
    pades: bool = True  # a PAdES signature: CAdES subfilter and the ESS signing-certificate attribute (ETSI 319 142)

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
    if online:
        return ValidationContext(
            trust_roots=roots, crls=crls or [], ocsps=ocsps or [], allow_fetching=True, revocation_mode="hard-fail"
        )
    mode = "hard-fail" if crls or ocsps else "soft-fail"
    return ValidationContext(
        trust_roots=roots, crls=crls or [], ocsps=ocsps or [], allow_fetching=False, revocation_mode=mode
    )


def open_pdf(pdf: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    except (PdfReadError, ValueError, KeyError, IndexError) as exc:
        raise PdfError(f"not a readable PDF: {exc}") from None
    if reader.encrypted:
        raise PdfError("the PDF is encrypted; upload it without a password", code="pdf.encrypted")
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
    crls: list[asn1_crl.CertificateList] | None = None,
    online: bool = False,
    first_new: int = 0,
    pairwise: bool = False,
) -> list[SignatureReport]:
    """Every signature and document timestamp in the PDF, in order, validated against
    `roots`, with difference analysis of what came after each signature: each revision judged once against the
    one before it (ChainDiffPolicy; with `first_new`, only the revisions from there on); with `pairwise`,
    pyHanko's own analysis of every later revision against every signature's revision (n²/2 comparisons)."""
    reader = open_pdf(pdf)
    chain = None if pairwise else ChainDiffPolicy(first_new)
    return _validate(reader, roots, crls, online, chain)


def _validate(
    reader: PdfFileReader,
    roots: list[asn1_x509.Certificate],
    crls: list[asn1_crl.CertificateList] | None,
    online: bool,
    chain: ChainDiffPolicy | None,
    found: tuple[list[EmbeddedPdfSignature], list[EmbeddedPdfSignature]] | None = None,
) -> list[SignatureReport]:
    signatures, timestamps = found if found is not None else _embedded_signatures(reader)
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
                diff_policy=chain if chain is not None else REFERENCE_POLICY,
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
                modification=_modification(chain, reader, sig, status.diff_result),
                trust_problem=_trust_problem(status),
                subfilter=_subfilter(sig),
                pades=_is_pades(sig),
            )
        )
    for ts_sig in timestamps:
        ts_status = validate_pdf_timestamp(
            ts_sig,
            validation_context=_context(roots, crls, ocsps, online),
            diff_policy=chain if chain is not None else REFERENCE_POLICY,
        )
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
                modification=_modification(chain, reader, ts_sig, ts_status.diff_result),
                trust_problem=_trust_problem(ts_status),
                subfilter="ETSI.RFC3161",
                pades=True,
            )
        )
    stamped = [(ts.signed_revision, r) for ts, r in zip(timestamps, reports[len(signatures) :], strict=True)]
    for sig, report in zip(signatures, reports, strict=False):
        later = [r for revision, r in stamped if revision > sig.signed_revision and r.bottom_line]
        report.document_timestamp = later[0].timestamp if later else None
    return reports


PADES_SUBFILTER = "/ETSI.CAdES.detached"
ESS_ATTRIBUTES = {"signing_certificate", "signing_certificate_v2"}


def _subfilter(sig: EmbeddedPdfSignature) -> str:
    return str(sig.sig_object.get("/SubFilter", "")).lstrip("/")


def _is_pades(sig: EmbeddedPdfSignature) -> bool:
    """A PAdES signature: CAdES subfilter with the ESS signing-certificate attribute. An `adbe.pkcs7.detached`
    signature is an ISO 32000 signature, not PAdES, whatever else it carries."""
    signed_attrs = sig.signer_info["signed_attrs"]
    names = {attr["type"].native for attr in signed_attrs} if signed_attrs.native is not None else set()
    return f"/{_subfilter(sig)}" == PADES_SUBFILTER and bool(names & ESS_ATTRIBUTES)


def _trust_problem(status: Any) -> str | None:
    if status.trusted:
        return None
    if getattr(status, "revocation_details", None) is not None:
        return "REVOKED"
    indication = getattr(status, "trust_problem_indic", None)
    return getattr(indication, "name", None) or "UNTRUSTED"


NO_REVOCATION_INFO = ("TRY_LATER", "REVOCATION_OUT_OF_BOUNDS_NO_POE")


def _trust_code(report: SignatureReport) -> str:
    """The refusal's code for a certificate that is not trusted, by its true cause: revoked; no revocation
    information to be had (a CRL or OCSP responder that cannot be reached, or out of date); expired or not yet valid;
    else not of the round's CAs."""
    problem = report.trust_problem or ""
    if "REVOKED" in problem:
        return "signature.revoked"
    if problem in NO_REVOCATION_INFO:
        return "signature.no_revocation"
    if "OUT_OF_BOUNDS" in problem or "EXPIRED" in problem or "NOT_YET_VALID" in problem:
        return "signature.expired"
    return "signature.untrusted"


TRUST_REASONS = {
    "signature.revoked": "the signer's certificate is revoked",
    "signature.no_revocation": (
        "no revocation information could be obtained for the signer's certificate (the CRL or OCSP responder its "
        "certificates name could not be reached, or answered out of date): the certificate may be fine, but the "
        "round cannot tell"
    ),
    "signature.expired": "the signer's certificate is expired or not yet valid",
    "signature.untrusted": "the signer's certificate does not chain to the round's roots",
}


def _modification(
    chain: ChainDiffPolicy | None, reader: PdfFileReader, sig: EmbeddedPdfSignature, diff: object
) -> str | None:
    """In words, what was changed after `sig` that may not be (None when nothing was)."""
    if chain is not None:
        verdict = chain.first_problem(reader, sig.signed_revision)
        if verdict is not None:
            return verdict.problem
    if isinstance(diff, SuspiciousModification):
        return str(diff)
    return None


_SUBFILTERS = {subfilter.value for subfilter in SigSeedSubFilter}


def _embedded_signatures(reader: PdfFileReader) -> tuple[list[EmbeddedPdfSignature], list[EmbeddedPdfSignature]]:
    """The signatures and the document timestamps in signing order, as pyHanko's `embedded_signatures` gives them."""
    found = reader.embedded_signatures
    return [s for s in found if s.sig_object_type == "/Sig"], [s for s in found if s.sig_object_type == "/DocTimeStamp"]


def _signed_fields(reader: PdfFileReader) -> set[str]:
    return {str(name) for name, _value, _field in enumerate_sig_fields(reader, filled_status=True)}


def dss_revocation(reader: PdfFileReader) -> tuple[list[asn1_crl.CertificateList], list[asn1_ocsp.OCSPResponse]]:
    """The CRLs and OCSP responses a file's Document Security Store carries."""
    try:
        store = DocumentSecurityStore.read_dss(reader)
        return (
            [asn1_crl.CertificateList.load(ref.get_object().data) for ref in store.crls],
            [asn1_ocsp.OCSPResponse.load(ref.get_object().data) for ref in store.ocsps],
        )
    except NoDSSFoundError:
        return [], []
    except (AttributeError, TypeError, ValueError, KeyError) as exc:  # an entry that is not a stream, ...
        raise PdfError(f"the Document Security Store cannot be read ({type(exc).__name__}: {exc})") from None


def pades_level(reports: list[SignatureReport], pdf: bytes) -> str:
    """The PAdES baseline level the file's structure reaches (the weakest signature decides). Whether the
    material is trustworthy is the validators' business; the level is what is there. A file with a signature that
    is not PAdES (SubFilter adbe.pkcs7.detached, or no ESS signing-certificate attribute) reaches no PAdES level,
    and says which."""
    signatures = [r for r in reports if r.kind != "document-timestamp"]
    if not signatures:
        return "none"
    other = sorted({r.subfilter for r in signatures if not r.pades})
    if other:
        return f"not PAdES ({', '.join(other)})"
    if not all(r.timestamp or r.document_timestamp for r in signatures):
        return "PAdES-B-B"
    if long_term_protected(reports, pdf):
        return "PAdES-B-LTA"
    return "PAdES-B-LT" if "/DSS" in open_pdf(pdf).root else "PAdES-B-T"


def long_term_protected(reports: list[SignatureReport], pdf: bytes) -> bool:
    """Validation data in the file (DSS) and an intact document timestamp over it: what an archive is judged by,
    whatever kind its signatures are."""
    return "/DSS" in open_pdf(pdf).root and any(r.kind == "document-timestamp" and r.intact for r in reports)


MAX_NEW_REVISIONS = 2  # the signature, and the validation data some tools add after it (LTV)


@dataclass(frozen=True)
class Pin:
    """Who may sign a slot. With `sha256` only that certificate; with `identity` a certificate whose subject
    serialNumber or UID is that identity number (Vietnamese CAs put the personal identity number there, often
    as "CCCD:001080001234"); otherwise a certificate whose name is `name` (or `cn`, if the round pins one)."""

    sha256: str | None = None
    identity: str | None = None
    cn: str | None = None


@dataclass(frozen=True)
class Acceptance:
    report: SignatureReport  # its field: where the signature is (a new field of the signer's own, or the slot's)
    stands_for: str  # the prepared field the signature is made for (the slot's field; a new field lies over it)


def check_new_revision(
    previous: bytes,
    submitted: bytes,
    field: str,
    roots: list[asn1_x509.Certificate],
    pin_sha256: str | None = None,
    crls: list[asn1_crl.CertificateList] | None = None,
    online: bool = False,
    signer_name: str | None = None,
    pin: Pin | None = None,
) -> SignatureReport:
    """Accept `submitted` only if it is `previous` plus exactly one valid signature in `field` (see
    judge_submission)."""
    pin = pin or Pin(sha256=pin_sha256)
    return judge_submission(previous, submitted, field, roots, pin, signer_name, crls, online).report


def _refusing(judge: Callable[P, T]) -> Callable[P, T]:
    """A crafted file can make pyHanko fail in many ways: each becomes a SignatureRejected, never a traceback."""

    @functools.wraps(judge)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return judge(*args, **kwargs)
        except SignatureRejected:
            raise
        except PdfError as exc:
            raise SignatureRejected(str(exc), code=exc.code) from None
        except Exception as exc:
            raise SignatureRejected(
                f"the file cannot be read as a signed PDF ({type(exc).__name__}: {exc})", code="pdf.unreadable"
            ) from None

    return wrapper


def revisions_since(previous: bytes, submitted: bytes) -> int:
    """When `submitted` continues an earlier revision of `previous` (a leader signed the version they downloaded
    while others signed after it), how many revisions `previous` has added since; 0 otherwise."""
    ends = [m.end() for m in re.finditer(rb"%%EOF[\r\n]*", previous)]
    for end in reversed(ends[:-1]):  # the last one is `previous` itself
        if len(submitted) > end and submitted.startswith(previous[:end]):
            return len(ends) - 1 - ends.index(end)
    return 0


@_refusing
def judge_submission(
    previous: bytes,
    submitted: bytes,
    field: str,
    roots: list[asn1_x509.Certificate],
    pin: Pin,
    signer_name: str | None,
    crls: list[asn1_crl.CertificateList] | None = None,
    online: bool = False,
    receipt_timestamp: str | None = None,
) -> Acceptance:
    """`submitted` must be `previous` with one revision that fills `field` with a signature (and at most one
    more that adds validation data), every earlier signature unchanged, made by the slot's signer with a
    certificate the round trusts. Raises SignatureRejected saying why.

    `receipt_timestamp`: the name of the field of the document timestamp the server added after the signature
    (signing/timestamping.py); `submitted` must then end with exactly that one revision, a valid timestamp."""
    extra = 1 if receipt_timestamp else 0
    if not submitted.startswith(b"%PDF"):
        raise SignatureRejected("the file is not a PDF", code="pdf.not_pdf")
    if not submitted.startswith(previous) or len(submitted) == len(previous):
        if submitted.startswith(b"%PDF"):
            open_pdf(submitted)  # a damaged or encrypted file is named as such
        since = revisions_since(previous, submitted)
        if since:
            raise SignatureRejected(
                f"the document changed since you downloaded it: {since} new revision(s) (other leaders' signatures) "
                "were added; download it again and sign the version you download",
                code="signature.stale",
            )
        raise SignatureRejected(
            "the file is not the prepared document plus one signature (it was rewritten, not signed incrementally)",
            code="signature.rewritten",
        )
    # Bounded work before any parsing: each revision of an incremental update ends with its startxref.
    appended = submitted[len(previous) :]
    markers = appended.count(b"startxref")
    if markers > MAX_NEW_REVISIONS + extra:
        raise SignatureRejected(
            f"the file adds {markers} revisions to the document; a signature needs one (at most {MAX_NEW_REVISIONS} "
            "with its validation data)",
            code="signature.revisions",
        )
    reader = open_pdf(submitted)
    # The revisions of `previous` are those of `submitted` whose xref sections start inside it; the newest of
    # them must be the one `previous` itself ends with (same bytes before it: the same chain).
    xrefs = reader.xrefs
    total = xrefs.total_revisions
    known = sum(1 for i in range(total) if xrefs.get_xref_container_info(i).start_location < len(previous))
    if known == 0 or known == total or xrefs.get_startxref_for_revision(known - 1) != _last_startxref(previous):
        raise SignatureRejected(
            "the file's cross-reference sections do not continue the prepared document's (it was rewritten, "
            "not signed incrementally)",
            code="signature.rewritten",
        )
    if any(xrefs.get_xref_container_info(i).start_location < len(previous) for i in range(known, total)):
        raise SignatureRejected(
            "a new revision's cross-reference section lies inside the prepared document", code="signature.rewritten"
        )
    if total - known > MAX_NEW_REVISIONS + extra:
        raise SignatureRejected(
            f"the file adds {total - known} revisions to the document; a signature needs one "
            f"(at most {MAX_NEW_REVISIONS} with its validation data)",
            code="signature.revisions",
        )
    accepted = reader.get_historical_resolver(known - 1)
    certification = read_certification_data(accepted)  # type: ignore[arg-type]  # it reads only .root, which a resolver has
    if certification is None:
        raise SignatureRejected("the document is not certified by the secretariat", code="signature.not_certified")
    if certification.permission == MDPPerm.NO_CHANGES:
        raise SignatureRejected(
            "the secretariat's certification allows no further signature", code="signature.not_certified"
        )
    judge = RevisionJudge(reader)
    verdicts = [judge.verdict(i) for i in range(known, total)]
    for verdict in verdicts:
        if not verdict.ok:
            harmed = f" (it harms the signature in {', '.join(verdict.harmed)})" if verdict.harmed else ""
            raise SignatureRejected(
                f"the change is not allowed after the certification: {verdict.problem}{harmed}", code=verdict.code
            )
    if receipt_timestamp:
        last = verdicts.pop()
        if last.kind != "document-timestamp" or last.field != receipt_timestamp or not verdicts:
            raise SignatureRejected("the server's timestamp revision is not as it was made", code="signature.count")
    if verdicts[0].kind != "signature" or any(v.kind != "validation-data" for v in verdicts[1:]):
        kinds = ", ".join(v.kind for v in verdicts)
        raise SignatureRejected(
            f"expected exactly one new signature (then, at most, validation data); the new revisions are: {kinds}",
            code="signature.count",
        )
    signed_as = verdicts[0].field
    if signed_as != field and verdicts[0].host != field:
        where = f"a new field {signed_as!r} over the block of {verdicts[0].host!r}" if verdicts[0].host else None
        raise SignatureRejected(
            f"the signature is in {where or f'field {signed_as!r}'}, not in this signer's field {field!r}",
            code="signature.wrong_field",
        )
    # Every earlier signature byte for byte in its own field: neither its field's object nor its signature
    # dictionary is written again by a new revision (each still resolves to the same bytes of `previous`). Found
    # from what the new revisions write, not by walking the form (the cost stays that of the new revisions).
    rewritten = judge.earlier_signatures_rewritten(known)
    if rewritten:
        raise SignatureRejected(
            f"the earlier signature in {_holding(accepted, rewritten)} is no longer in the file as it was signed",
            code="signature.earlier_changed",
        )
    chain = ChainDiffPolicy(first_new=known)
    chain.adopt(judge)
    # The new signature (and the server's timestamp): the fields the verdicts found filled or added. No other
    # field can have become a signature: the rule lets the form only grow by the field a revision fills or adds,
    # an earlier field's objects are never written again, and no reference dangles (signing/revisions.py).
    signatures = [_embedded(reader, verdicts[0])]
    stamps = [_embedded(reader, last)] if receipt_timestamp else []
    if signatures[0].sig_object_type != "/Sig" or any(t.sig_object_type != "/DocTimeStamp" for t in stamps):
        raise SignatureRejected("expected exactly one new signature, found 0", code="signature.count")
    sig = signatures[0]
    reports = _validate(reader, roots, crls, online, chain, found=(signatures, stamps))
    report = reports[0]
    if receipt_timestamp and report.document_timestamp is None:
        raise SignatureRejected(
            f"the timestamp added on receipt is not valid: {reports[-1].summary}", code="signature.timestamp"
        )
    if sig.signed_revision != known:
        raise SignatureRejected(
            "the signature does not sign the revision that fills its field", code="signature.coverage"
        )
    if report.coverage not in ("ENTIRE_FILE", "ENTIRE_REVISION"):
        raise SignatureRejected("the signature does not cover its whole revision", code="signature.coverage")
    if not report.intact or not report.valid:
        raise SignatureRejected(f"the signature is broken: {report.summary}", code="signature.broken")
    if not report.trusted:
        code = _trust_code(report)
        raise SignatureRejected(
            f"the signer's certificate is not trusted for this round: {TRUST_REASONS[code]} "
            f"({report.trust_problem or 'untrusted'}; {report.summary})",
            code=code,
        )
    if report.timestamp_ok is False:
        raise SignatureRejected(f"the signature's timestamp is not valid: {report.summary}", code="signature.timestamp")
    problem = identity_problem(sig.signer_cert, pin, signer_name)
    if problem:
        raise problem
    return Acceptance(report, verdicts[0].host or signed_as or field)


def _embedded(reader: PdfFileReader, verdict: Verdict) -> EmbeddedPdfSignature:
    """The signature (or document timestamp) in the field a verdict names, as pyHanko's `embedded_signatures`
    would give it (which also skips a value whose /SubFilter it does not know)."""
    if verdict.ref is None or verdict.field is None:
        raise SignatureRejected("expected exactly one new signature, found 0", code="signature.count")
    field = generic.IndirectObject(*verdict.ref, reader).get_object()
    value = field["/V"] if isinstance(field, generic.DictionaryObject) and "/V" in field else None
    if not isinstance(value, generic.DictionaryObject) or value.get("/SubFilter") not in _SUBFILTERS:
        raise SignatureRejected("expected exactly one new signature, found 0", code="signature.count")
    return EmbeddedPdfSignature(reader, field, verdict.field)


def _holding(accepted: PdfHandler, idnums: list[int]) -> str:
    """Which signed field the objects were part of (a refusal's words; the form is walked only here)."""
    for name, (field_ref, value_ref) in _signature_values(accepted).items():
        if field_ref.idnum in idnums or value_ref.idnum in idnums:
            return f"field {name!r}"
    return f"object {idnums[0]}"


def signed_names(pdf: bytes, field: str) -> list[str]:
    """The fields that may hold the signature made for the prepared `field`: itself, and a new field over its
    block."""
    try:
        hosts = signature_hosts(open_pdf(pdf))
    except PdfError:
        return [field]
    return [field, *(name for name, host in hosts.items() if host == field)]


def _last_startxref(pdf: bytes) -> int | None:
    """The startxref a file ends with."""
    tail = pdf[-1024:]
    at = tail.rfind(b"startxref")
    if at < 0:
        return None
    digits = tail[at + len(b"startxref") :].split(maxsplit=1)
    try:
        return int(digits[0]) if digits else None
    except ValueError:
        return None


def _signature_values(reader: PdfHandler) -> dict[str, tuple[generic.Reference, generic.Reference]]:
    """Field name → (its field object, its signature dictionary), for every filled signature field."""
    out: dict[str, tuple[generic.Reference, generic.Reference]] = {}
    for name, _value, field_ref in enumerate_sig_fields(reader, filled_status=True):
        value = field_ref.get_object().raw_get("/V")
        if not isinstance(value, generic.IndirectObject) or not isinstance(field_ref, generic.IndirectObject):
            raise SignatureRejected(
                f"the signature of field {name!r} is not a separate object", code="signature.modified"
            )
        out[str(name)] = (field_ref.reference, value.reference)
    return out


def normalise_name(name: str) -> str:
    """NFC, case-folded, spaces collapsed: "PHÙNG  ĐỨC TIẾN" and "Phùng Đức Tiến" are the same name, "Phung Duc
    Tien" and "Phùng Đức Tiền" are not."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def certificate_identities(cert: asn1_x509.Certificate) -> set[str]:
    """The subject's serialNumber and UID values, and for "CCCD:001080001234" also the number after the prefix."""
    out: set[str] = set()
    for rdn in cert.subject.chosen:
        for attribute in rdn:
            if attribute["type"].native not in ("serial_number", "user_id", "0.9.2342.19200300.100.1.1"):
                continue
            value = str(attribute["value"].native).strip()
            out.add(value.casefold())
            if ":" in value:
                out.add(value.split(":", 1)[1].strip().casefold())
    return out


def identity_problem(cert: asn1_x509.Certificate, pin: Pin, signer_name: str | None) -> SignatureRejected | None:
    """Why the certificate is not the slot's signer's (the refusal to raise), or None when it is."""
    sha256 = hashlib.sha256(cert.dump()).hexdigest()
    if pin.sha256:
        if sha256 != pin.sha256.lower():
            return SignatureRejected(
                f"signed with certificate {sha256[:16]}…, not the certificate pinned for this signer (SHA-256)",
                code="signature.wrong_certificate",
            )
        return None
    if pin.identity:
        if pin.identity.strip().casefold() not in certificate_identities(cert):
            return SignatureRejected(
                f"signed with a certificate whose identity number is not {pin.identity} (the number pinned for this "
                "signer: subject serialNumber or UID)",
                code="signature.wrong_identity",
            )
        return None
    expected = pin.cn or signer_name
    if not expected:
        return None
    cn = str(cert.subject.native.get("common_name", "") or "")
    if normalise_name(cn) != normalise_name(expected):
        rule = "the name pinned for this signer" if pin.cn else "the signer named for this field"
        return SignatureRejected(
            f"signed with the certificate of {cn!r}, not of {expected}: the certificate's name must be exactly "
            f"{rule}'s (or the round file pins the certificate: sha256 or serial_number)",
            code="signature.wrong_signer",
        )
    return None


def status_ok(report: SignatureReport) -> bool:
    """Intact, valid, trusted, within its DocMDP permissions, and its timestamp (if any) good too."""
    return (
        report.intact
        and report.valid
        and report.trusted
        and report.docmdp_ok is not False
        and report.timestamp_ok is not False
        and report.modification is None
        and report.coverage in ("ENTIRE_FILE", "ENTIRE_REVISION")
    )
