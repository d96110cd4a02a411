"""The one state machine (design §4): round and slot transitions, each recorded as a hash-chained audit event."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.storage import EventRow, RoundRow, SlotRow, utcnow

GENESIS = "0" * 64

ROUND_TRANSITIONS: dict[str, set[str]] = {
    "draft": {"generating", "voided"},
    "generating": {"open", "voided"},
    "open": {"completed", "paused", "voided", "expired", "superseded"},
    # a leader declined: no signatures, no reminders, until the secretariat reissues or voids the round
    "paused": {"voided", "superseded", "expired"},
    "completed": {"archived"},
    "archived": set(),
    "voided": set(),
    "expired": set(),
    "superseded": set(),  # reissued as a new version; stays in the record
}
SLOT_TRANSITIONS: dict[str, set[str]] = {
    "pending": {"notified", "signed", "declined", "expired"},
    "notified": {"signed", "declined", "expired"},
    "signed": set(),
    "declined": set(),
    "expired": set(),
}


class StateConflict(Exception):
    """A transition the lifecycle does not allow (exit code 3 on the command line)."""


def event_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def event_fields(seq: int, round_id: str, at: str, actor: str, kind: str, data: dict[str, Any], prev: str) -> dict:
    return {"seq": seq, "round_id": round_id, "at": at, "actor": actor, "kind": kind, "data": data, "prev_hash": prev}


def record(session: Session, round_id: str, kind: str, actor: str, **data: Any) -> EventRow:
    last = session.scalars(
        select(EventRow).where(EventRow.round_id == round_id).order_by(EventRow.seq.desc()).limit(1)
    ).first()
    seq = last.seq + 1 if last else 1
    prev = last.hash if last else GENESIS
    at = utcnow().isoformat(timespec="microseconds")
    fields = event_fields(seq, round_id, at, actor, kind, data, prev)
    row = EventRow(
        round_id=round_id, seq=seq, at=at, actor=actor, kind=kind, data=data, prev_hash=prev, hash=event_hash(fields)
    )
    session.add(row)
    session.flush()
    return row


def event_json(row: EventRow) -> dict[str, Any]:
    fields = event_fields(row.seq, row.round_id, row.at, row.actor, row.kind, row.data, row.prev_hash)
    return {**fields, "hash": row.hash}


def verify_chain(events: list[dict[str, Any]]) -> list[str]:
    """Problems in a chain of exported events (empty when it holds)."""
    problems: list[str] = []
    prev = GENESIS
    for index, ev in enumerate(events, start=1):
        claimed = ev.get("hash")
        body = {k: v for k, v in ev.items() if k != "hash"}
        if ev.get("seq") != index:
            problems.append(f"event {index}: sequence number {ev.get('seq')} (an event is missing or reordered)")
        if ev.get("prev_hash") != prev:
            problems.append(f"event {index}: prev_hash does not match the event before it")
        if event_hash(body) != claimed:
            problems.append(f"event {index}: its content does not match its hash (edited)")
        prev = str(claimed)
    return problems


def move_round(session: Session, rnd: RoundRow, to: str, actor: str, **data: Any) -> None:
    if to == rnd.status:
        return  # idempotent: a retried task finds the round already there
    if to not in ROUND_TRANSITIONS[rnd.status]:
        raise StateConflict(f"round {rnd.id} is {rnd.status}; it cannot become {to}")
    record(session, rnd.id, "round." + to, actor, **{"from": rnd.status, **data})
    rnd.status = to


def move_slot(session: Session, slot: SlotRow, to: str, actor: str, **data: Any) -> None:
    if to == slot.status:
        return
    if to not in SLOT_TRANSITIONS[slot.status]:
        raise StateConflict(
            f"the {slot.document.kind} slot of {slot.signer_name} ({slot.unit_id}) is {slot.status}; "
            f"it cannot become {to}"
        )
    record(
        session,
        slot.document.round_id,
        "slot." + to,
        actor,
        **{"document": slot.document.kind, "field": slot.field_name, "unit": slot.unit_id, "from": slot.status},
        **data,
    )
    slot.status = to
