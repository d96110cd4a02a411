"""Stage 7, finalize: PAdES B-LTA for every document of a completed round (DSS with every certificate and CRL,
then a document timestamp), and the validation report of the round as it stands."""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy.orm import object_session

from signing.ltv import add_long_term_validation, load_crls
from signing.revisions import signature_hosts
from signing.validation import load_roots, open_pdf, pades_level, status_ok, validate_signatures
from workflow.context import SYSTEM, Ctx, get_round, round_model
from workflow.documents import number_symbol
from workflow.issuance import issued
from workflow.model import Round
from workflow.states import record
from workflow.storage import FILE_NAMES, DocumentRow, aware
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


class SignerRecord(TypedDict):
    unit_id: str
    unit: str
    name: str
    title: str
    field: str
    signed_at: str | None  # ISO 8601 in Vietnam's time (+07:00)


class DocumentRecord(TypedDict):
    """What an archive records of a document (its register entry): number and date of issue, type, summary
    (trích yếu), language, pages, who signed for which unit and when, and how long it is kept."""

    type: str  # Giao ước | Biên bản
    title: str
    summary: str
    number: str | None  # the issuing number (số ký hiệu); None while the document is not issued
    issued: str | None  # the date of issue (ISO 8601)
    language: str
    pages: int
    signers: list[SignerRecord]
    retention: str  # "permanent", "N years", or "not stated"


class DocumentReport(TypedDict):
    name: str  # covenant | minutes
    file: str  # its path in the package
    level: str  # the PAdES level it reaches
    signatures: list[dict[str, Any]]  # SignatureReport.to_dict() and "ok"
    valid: bool
    record: DocumentRecord


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
        model = round_model(ctx, rnd)
        roots = load_roots([ctx.blobs.get(h) for h in rnd.trust_roots])
        crls = load_crls(round_crls(ctx, rnd))
        docs: list[DocumentReport] = []
        for doc in rnd.documents:
            pdf = ctx.blobs.get(doc.final or doc.current or "") if doc.current else b""
            reports = validate_signatures(pdf, roots, crls=crls) if pdf else []
            expected = {sl.field_name for sl in doc.slots}
            reader = open_pdf(pdf) if pdf else None
            hosts = signature_hosts(reader) if reader else {}
            pages = int(reader.root["/Pages"]["/Count"]) if reader else 0
            signed = {hosts.get(r.field, r.field) for r in reports}
            docs.append(
                {
                    "name": doc.kind,
                    "file": f"data/signed/{FILE_NAMES[doc.kind]}.pdf",
                    "level": pades_level(reports, pdf) if pdf else "none",
                    "signatures": [{**r.to_dict(), "ok": status_ok(r)} for r in reports],
                    "valid": bool(reports) and all(status_ok(r) for r in reports) and expected <= signed,
                    "record": document_record(model, doc, pages),
                }
            )
        return {"round_id": rnd.id, "cluster": rnd.cluster, "year": rnd.year, "status": rnd.status, "documents": docs}


KINDS_RECORDED = {
    "covenant": ("Giao ước", "Bản giao ước thi đua", "Giao ước thi đua năm {year} của {cluster} {sector}"),
    "minutes": (
        "Biên bản",
        "Biên bản hội nghị",
        "Biên bản Hội nghị ký kết giao ước thi đua năm {year} của {cluster} {sector}",
    ),
}


def retention_words(model: Round) -> str:
    if model.retention is None:
        return "not stated"
    return "permanent" if model.retention == "permanent" else f"{model.retention} years"


def document_record(model: Round, doc: DocumentRow, pages: int) -> DocumentRecord:
    """The register entry of one document as it stands (`pages`: its page count)."""
    from workflow.texts import VN_ZONE

    kind, title, summary = KINDS_RECORDED[doc.kind]
    cluster = model.cluster
    session = object_session(doc)
    entry = issued(session, doc.id) if session is not None else None
    return {
        "type": kind,
        "title": title,
        "summary": summary.format(year=cluster.year, cluster=cluster.name, sector=cluster.sector),
        # the register's: "01/GƯ-CTĐ", and the day of issue in Vietnam
        "number": number_symbol(doc.kind, entry.number) if entry else None,
        "issued": aware(entry.issued_at).astimezone(VN_ZONE).date().isoformat() if entry and entry.issued_at else None,
        "language": "vi",
        "pages": pages,
        "signers": [
            {
                "unit_id": slot.unit_id,
                "unit": slot.unit_name,
                "name": slot.signer_name,
                "title": slot.signer_title,
                "field": slot.field_name,
                "signed_at": (
                    aware(slot.signed_at).astimezone(VN_ZONE).replace(microsecond=0).isoformat()
                    if slot.signed_at
                    else None
                ),
            }
            for slot in doc.slots
        ],
        "retention": retention_words(model),
    }
