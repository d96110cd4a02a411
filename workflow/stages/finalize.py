"""Stage 7, finalize: PAdES B-LTA for every document of a completed round (DSS with every certificate and CRL,
then a document timestamp), and the validation report of the round as it stands."""

from __future__ import annotations

from typing import Any, TypedDict

from signing.ltv import add_long_term_validation, load_crls
from signing.revisions import signature_hosts
from signing.validation import load_roots, open_pdf, pades_level, status_ok, validate_signatures
from workflow.context import SYSTEM, Ctx, get_round
from workflow.states import record
from workflow.storage import FILE_NAMES
from workflow.trust import is_online, round_crls, round_timestamper


def finalize(ctx: Ctx, round_id: str) -> None:
    """PAdES B-LTA for every document of a completed round: DSS (certificates, CRLs) + document timestamp.
    Idempotent: a document already finalised is left alone. Without a TSA the documents stay as signed."""
    with ctx.session() as s:
        rnd = get_round(s, round_id)
        timestamper = round_timestamper(ctx, rnd)
        if timestamper is None:
            return
        roots = load_roots([ctx.blobs.get(h) for h in rnd.trust_roots])
        crls = load_crls(round_crls(ctx, rnd))
        online = is_online(ctx, rnd)
        for doc in rnd.documents:
            if doc.final or not doc.current:
                continue
            final = add_long_term_validation(ctx.blobs.get(doc.current), roots, crls, timestamper, online)
            doc.final = ctx.blobs.put(final)
            record(s, round_id, "document.finalized", SYSTEM, document=doc.kind, pdf=doc.final, long_term=True)


class DocumentReport(TypedDict):
    name: str  # covenant | minutes
    file: str  # its path in the package
    level: str  # the PAdES level it reaches
    signatures: list[dict[str, Any]]  # SignatureReport.to_dict() and "ok"
    valid: bool


class RoundReport(TypedDict):
    """The validation report of a round (validation/report.json in the package)."""

    round_id: str
    cluster: str
    year: int
    status: str
    documents: list[DocumentReport]


def validation_report(ctx: Ctx, round_id: str) -> RoundReport:
    """Validate every signature of every document of a round as it stands."""
    with ctx.session() as s:
        rnd = get_round(s, round_id)
        roots = load_roots([ctx.blobs.get(h) for h in rnd.trust_roots])
        crls = load_crls(round_crls(ctx, rnd))
        docs: list[DocumentReport] = []
        for doc in rnd.documents:
            pdf = ctx.blobs.get(doc.final or doc.current or "") if doc.current else b""
            reports = validate_signatures(pdf, roots, crls=crls) if pdf else []
            expected = {sl.field_name for sl in doc.slots}
            hosts = signature_hosts(open_pdf(pdf)) if pdf else {}
            signed = {hosts.get(r.field, r.field) for r in reports}
            docs.append(
                {
                    "name": doc.kind,
                    "file": f"data/signed/{FILE_NAMES[doc.kind]}.pdf",
                    "level": pades_level(reports, pdf) if pdf else "none",
                    "signatures": [{**r.to_dict(), "ok": status_ok(r)} for r in reports],
                    "valid": bool(reports) and all(status_ok(r) for r in reports) and expected <= signed,
                }
            )
        return {"round_id": rnd.id, "cluster": rnd.cluster, "year": rnd.year, "status": rnd.status, "documents": docs}
