"""Signing on this machine's data folder (`covenant sign ROUND --field …`, `covenant demo`): the slot a signer
means, still open; its document's current revision signed with the leader's key, stamp, signature image and seal.
Handing the result to acceptance is the caller's (an entry point: the command line or the demo)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyhanko.sign.signers import Signer
from sqlalchemy.orm import Session

from signing.signers import sign_field
from workflow.context import Ctx, document
from workflow.errors import NotFound, StateConflict
from workflow.issuance import slot_stamp
from workflow.stages.accept import slot_images
from workflow.states import WAITING
from workflow.storage import DocumentRow, SlotRow
from workflow.trust import round_timestamper


@dataclass(frozen=True)
class OpenSlot:
    id: int
    document_id: int
    document: str  # covenant | minutes
    field: str
    unit_id: str
    unit_name: str
    signer_name: str
    signer_title: str
    signature_image: bytes | None = None
    seal_image: bytes | None = None
    role: str = "unit"  # documents.PERSON_ROLES, or seal | issue (an organisation's, signed by its clerk)


def _open(ctx: Ctx, slot: SlotRow) -> OpenSlot:
    signature, seal = slot_images(ctx, slot)
    return OpenSlot(
        slot.id,
        slot.document_id,
        slot.document.kind,
        slot.field_name,
        slot.unit_id,
        slot.unit_name,
        slot.signer_name,
        slot.signer_title,
        signature,
        seal,
        slot.role,
    )


def open_slot(ctx: Ctx, round_id: str, document_kind: str, field: str) -> OpenSlot:
    """The slot a signer means, still open for signing (NotFound when unknown, StateConflict when closed)."""
    with ctx.session() as s:
        slot = (
            s.query(SlotRow)
            .join(DocumentRow)
            .filter(DocumentRow.round_id == round_id, DocumentRow.kind == document_kind, SlotRow.field_name == field)
            .one_or_none()
        )
        if slot is None:
            raise NotFound(f"round {round_id} has no {document_kind} field {field!r}")
        if slot.status not in WAITING:
            raise StateConflict(f"{slot.signer_name} has already {slot.status} this {document_kind}")
        return _open(ctx, slot)


def open_slots(ctx: Ctx, round_id: str) -> list[OpenSlot]:
    """Every slot of the round still to sign, document by document, in their order."""
    with ctx.session() as s:
        rows = (
            s.query(SlotRow)
            .join(DocumentRow)
            .filter(DocumentRow.round_id == round_id)
            .order_by(DocumentRow.position, SlotRow.position)
            .all()
        )
        return [_open(ctx, slot) for slot in rows if slot.status in WAITING]


def _current(s: Session, slot: OpenSlot) -> str:
    current = document(s, slot.document_id).current
    if not current:
        raise StateConflict(f"the {slot.document} is not prepared for signing yet")
    return current


def sign_slot(ctx: Ctx, slot: OpenSlot, signer: Signer) -> bytes:
    """The document's current revision (read now: an earlier signature may have just made a new one) with this
    slot's signature, timestamped by the round's TSA where it has one."""
    when = dt.datetime.now(dt.UTC)
    stamp = slot_stamp(ctx, slot.id, when)  # refuses a seal before its leader, an issuance before the rest
    with ctx.session() as s:
        current = _current(s, slot)
        timestamper = round_timestamper(ctx, document(s, slot.document_id).round)
    return sign_field(
        ctx.blobs.get(current),
        slot.field,
        signer,
        signer_name=slot.signer_name,
        title=slot.signer_title,
        unit=slot.unit_name,
        when=when,
        timestamper=timestamper,
        stamp=stamp,
    )
