"""Organisation signatures and issuance (Decree 30/2020/NĐ-CP, Art. 5, 32, 33).

A document has the legal value of the original when the competent person has signed it **and** it carries the
organisation's digital signature. After each leader's signature, the unit's clerk (văn thư) applies the
organisation's signature, its seal over the left third of the leader's; when every unit has signed and sealed, the
chair unit's clerk issues the document: the next number of the cluster's register for the year, drawn by the issuing
signature in the blank of the number line, and the date of issue.

The rules of order live here (`order_refusal`), asked before a signature is prepared (no number is reserved for a
document not ready for issuance) and again when it is accepted (under the document's lock). Nothing here knows of
Celery or of the web.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from signing.appearance import Stamp, number_stamp, person_stamp, seal_stamp
from signing.errors import SignatureRejected
from workflow.context import SYSTEM, Ctx
from workflow.documents import ORGANISATION_ROLES, number_text
from workflow.states import SlotStatus, record
from workflow.storage import DocumentRow, RegisterRow, SlotRow, utcnow

# The rules, named in every refusal (item 8 of the issue): English for logs and the command line, the codes'
# Vietnamese in workflow/texts.py.
SEAL_AFTER_LEADER = "the unit's clerk applies the organisation's signature only after the unit's leader has signed"
ISSUE_AFTER_ALL = (
    "the chair unit's clerk issues the document (number and date) only after every signature and seal is on it"
)


def is_organisation(slot: SlotRow) -> bool:
    return slot.role in ORGANISATION_ROLES


def order_refusal(slot: SlotRow) -> SignatureRejected | None:
    """Why this slot may not be signed yet, or None. A seal waits for its leader's signature (same unit, same
    document); the issuing signature waits for every other slot of its document."""
    others = [sl for sl in slot.document.slots if sl.id != slot.id]
    if slot.role == "seal":
        leaders = [sl for sl in others if sl.role == "unit" and sl.unit_id == slot.unit_id]
        if not leaders or any(sl.status != SlotStatus.SIGNED for sl in leaders):
            return SignatureRejected(
                f"rule: {SEAL_AFTER_LEADER} ({slot.unit_name}: not yet)", code="signature.seal_before_leader"
            )
    elif slot.role == "issue":
        waiting = [sl.field_name for sl in others if sl.status != SlotStatus.SIGNED]
        if waiting:
            return SignatureRejected(
                f"rule: {ISSUE_AFTER_ALL} (still to sign: {', '.join(waiting)})", code="signature.issue_before_all"
            )
    return None


def _lowest_free(s: Session, cluster_slug: str, year: int) -> int:
    taken = set(
        s.scalars(select(RegisterRow.number).where(RegisterRow.cluster_slug == cluster_slug, RegisterRow.year == year))
    )
    return next(n for n in range(1, len(taken) + 2) if n not in taken)


def _entry(s: Session, doc_id: int) -> RegisterRow | None:
    return s.scalars(select(RegisterRow).where(RegisterRow.document_id == doc_id)).first()


def _new_entry(s: Session, doc: DocumentRow) -> RegisterRow:
    """The lowest free number of the document's cluster and year, reserved for it (added to the session)."""
    rnd = doc.round
    entry = RegisterRow(
        cluster_slug=rnd.cluster_slug,
        year=rnd.year,
        number=_lowest_free(s, rnd.cluster_slug, rnd.year),
        document_id=doc.id,
        round_id=rnd.id,
        kind=doc.kind,
        reserved_at=utcnow(),
    )
    s.add(entry)
    return entry


def reserve_number(ctx: Ctx, doc_id: int) -> int:
    """The document's number in its cluster's register for the year: the one already reserved for it, or the lowest
    free one. The register's primary key (cluster, year, number) refuses a duplicate: two clerks reserving at once
    (PostgreSQL, several workers) collide on the insert, and the loser takes the next free number."""
    for _attempt in range(20):
        with ctx.session() as s:
            mine = _entry(s, doc_id)
            if mine is not None:
                return mine.number
            doc = s.get(DocumentRow, doc_id)
            assert doc is not None
            entry = _new_entry(s, doc)
            try:
                s.flush()
            except IntegrityError:
                s.rollback()
                continue
            record(s, doc.round_id, "document.number_reserved", SYSTEM, document=doc.kind, number=entry.number)
            return entry.number
    raise RuntimeError(f"document {doc_id}: no number could be reserved in the register")  # pragma: no cover


def slot_stamp(ctx: Ctx, slot_id: int, when: dt.datetime) -> Stamp:
    """What the slot's signature shows; for the issuing signature this reserves the document's number, so it is
    asked only when the slot may be signed (SignatureRejected otherwise)."""
    with ctx.session() as s:
        slot = s.get(SlotRow, slot_id)
        assert slot is not None
        refusal = order_refusal(slot)
        if refusal is not None:
            raise refusal
        role, doc_id, unit_name = slot.role, slot.document_id, slot.unit_name
        name, title, signature_id, seal_id = slot.signer_name, slot.signer_title, slot.signature_image, slot.seal_image
        sealed = any(sl.role == "seal" and sl.unit_id == slot.unit_id for sl in slot.document.slots)
    if role == "issue":
        return number_stamp(number_text(reserve_number(ctx, doc_id)))
    seal = ctx.blobs.get(seal_id) if seal_id else None
    if role == "seal":
        return seal_stamp(unit_name, when, seal)
    signature = ctx.blobs.get(signature_id) if signature_id else None
    return person_stamp(name, title, unit_name, when, signature, seal, sealed=sealed and role == "unit")


def issue_on_acceptance(s: Session, slot: SlotRow) -> None:
    """The issuing signature accepted: the document's reserved number is issued today (in the same transaction as
    the acceptance). A document issued without a reservation (a signing tool of the clerk's own that drew no
    number) gets the lowest free number now."""
    doc = slot.document
    entry = _entry(s, doc.id) or _new_entry(s, doc)
    entry.issued_at = utcnow()
    record(
        s,
        doc.round_id,
        "document.issued",
        slot.signer_name,
        document=doc.kind,
        number=entry.number,
        issued_at=entry.issued_at.isoformat(),
    )


def release_reservations(s: Session, round_id: str) -> list[int]:
    """A round voided before issuance gives back the numbers reserved for it (never an issued one): the register
    stays without a gap."""
    rows = list(s.scalars(select(RegisterRow).where(RegisterRow.round_id == round_id, RegisterRow.issued_at.is_(None))))
    for row in rows:
        s.delete(row)
    if rows:
        record(s, round_id, "document.number_released", SYSTEM, numbers=[r.number for r in rows])
    return [r.number for r in rows]


def issued(s: Session, doc_id: int) -> RegisterRow | None:
    """The document's entry in the register once it is issued."""
    entry = _entry(s, doc_id)
    return entry if entry is not None and entry.issued_at is not None else None
