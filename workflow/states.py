"""The one state machine (design §4): round and slot transitions, each recorded as a hash-chained audit event."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from workflow.errors import StateConflict
from workflow.storage import EventRow, RoundRow, SlotRow, utcnow

GENESIS = "0" * 64


class RoundStatus(StrEnum):
    """Where a round stands; the stored strings are the values."""

    DRAFT = "draft"
    GENERATING = "generating"
    OPEN = "open"
    PAUSED = "paused"  # a leader declined: no signatures, no reminders, until the secretariat reissues or voids
    COMPLETED = "completed"
    ARCHIVED = "archived"
    VOIDED = "voided"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"  # reissued as a new version; stays in the record

    @property
    def vietnamese(self) -> str:
        return ROUND_LABELS[self]


class SlotStatus(StrEnum):
    """Where one signer's field stands; the stored strings are the values."""

    PENDING = "pending"  # not written to yet
    NOTIFIED = "notified"  # invited, with a personal link
    SIGNED = "signed"
    DECLINED = "declined"
    EXPIRED = "expired"

    @property
    def vietnamese(self) -> str:
        return SLOT_LABELS[self]


# the slots still waiting for their signer (the one definition)
WAITING: frozenset[SlotStatus] = frozenset({SlotStatus.PENDING, SlotStatus.NOTIFIED})

ROUND_LABELS = {
    RoundStatus.DRAFT: "nháp",
    RoundStatus.GENERATING: "đang tạo văn bản",
    RoundStatus.OPEN: "đang ký",
    RoundStatus.PAUSED: "tạm dừng",
    RoundStatus.COMPLETED: "đã ký đủ",
    RoundStatus.ARCHIVED: "đã lưu trữ",
    RoundStatus.VOIDED: "đã hủy",
    RoundStatus.EXPIRED: "hết hạn",
    RoundStatus.SUPERSEDED: "đã phát hành lại",
}
SLOT_LABELS = {
    SlotStatus.PENDING: "chờ gửi",
    SlotStatus.NOTIFIED: "chờ ký",
    SlotStatus.SIGNED: "đã ký",
    SlotStatus.DECLINED: "từ chối",
    SlotStatus.EXPIRED: "hết hạn",
}


# Every audit event, as the office and the archivists read it (a round's or a slot's move is named by its new
# status: "round.open" → "Đợt ký: đang ký").
EVENT_LABELS = {
    "round.draft": "Đợt ký được tạo từ tệp đợt ký",
    "round.reissued": "Đợt ký được phát hành lại (thay đợt trước)",
    "document.number_reserved": "Văn thư giữ số văn bản trong sổ đăng ký (chờ ký ban hành)",
    "document.issued": "Văn bản được ban hành: cấp số và ngày ban hành",
    "document.number_released": "Trả lại số văn bản đã giữ (đợt ký bị hủy hoặc phát hành lại)",
    "round.validated": "Kiểm tra toàn bộ chữ ký trước khi lưu trữ",
    "document.rendered": "Đã dựng văn bản (DOCX) từ mẫu",
    "document.converted": "Đã chuyển văn bản sang PDF/A",
    "document.prepared": "Văn phòng Cụm đã chuẩn bị ô ký và chứng thực văn bản",
    "document.finalized": "Đã bổ sung dữ liệu kiểm tra lâu dài và dấu thời gian lưu trữ",
    "links.issued": "Đã tạo liên kết ký cho người ký",
    "link.used": "Liên kết ký đã được dùng",
    "handoff.opened": "Mở địa chỉ một lần cho dịch vụ ký số trên máy lãnh đạo",
    "mail.sent": "Đã gửi thư điện tử",
    "mail.failed": "Gửi thư điện tử không thành công",
    "mail.skipped": "Chưa gửi thư (máy chủ chưa cấu hình thư điện tử)",
    "reminder.sent": "Đã gửi thư nhắc ký",
}


def event_label(kind: str) -> str:
    """The Vietnamese words for an audit event's kind (the kind itself if it has none)."""
    if kind in EVENT_LABELS:
        return EVENT_LABELS[kind]
    family, _, status = kind.partition(".")
    if family == "round" and status in ROUND_LABELS:
        return f"Đợt ký: {ROUND_LABELS[RoundStatus(status)]}"
    if family == "slot" and status in SLOT_LABELS:
        return f"Ô ký: {SLOT_LABELS[SlotStatus(status)]}"
    return kind


def status_label(status: str) -> str:
    """The Vietnamese word for a round's or a slot's status (a slot's where both have it: "expired")."""
    if status in SLOT_LABELS:
        return SLOT_LABELS[SlotStatus(status)]
    if status in ROUND_LABELS:
        return ROUND_LABELS[RoundStatus(status)]
    return status


R, S = RoundStatus, SlotStatus
ROUND_TRANSITIONS: dict[RoundStatus, frozenset[RoundStatus]] = {
    R.DRAFT: frozenset({R.GENERATING, R.VOIDED}),
    R.GENERATING: frozenset({R.OPEN, R.VOIDED}),
    R.OPEN: frozenset({R.COMPLETED, R.PAUSED, R.VOIDED, R.EXPIRED, R.SUPERSEDED}),
    R.PAUSED: frozenset({R.VOIDED, R.SUPERSEDED, R.EXPIRED}),
    R.COMPLETED: frozenset({R.ARCHIVED}),
    R.ARCHIVED: frozenset(),
    R.VOIDED: frozenset(),
    R.EXPIRED: frozenset(),
    R.SUPERSEDED: frozenset(),
}
SLOT_TRANSITIONS: dict[SlotStatus, frozenset[SlotStatus]] = {
    S.PENDING: frozenset({S.NOTIFIED, S.SIGNED, S.DECLINED, S.EXPIRED}),
    S.NOTIFIED: frozenset({S.SIGNED, S.DECLINED, S.EXPIRED}),
    S.SIGNED: frozenset(),
    S.DECLINED: frozenset(),
    S.EXPIRED: frozenset(),
}
del R, S


def event_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def event_fields(seq: int, round_id: str, at: str, actor: str, kind: str, data: dict[str, Any], prev: str) -> dict:
    return {"seq": seq, "round_id": round_id, "at": at, "actor": actor, "kind": kind, "data": data, "prev_hash": prev}


def record(session: Session, round_id: str, kind: str, actor: str, **data: Any) -> EventRow:
    # One writer at a time on a round's audit chain, until the transaction ends: on PostgreSQL an advisory lock on
    # the round (not its row, which the same transaction or another may update); SQLite has one writer anyway. Two
    # workers recording events of one round at once (its covenant and minutes converted side by side, on two
    # hosts) read the same last event otherwise, and the second insert failed on (round_id, seq).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(19, hashtext(:round))"), {"round": round_id})
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


def move_round(session: Session, rnd: RoundRow, to: RoundStatus, actor: str, **data: Any) -> None:
    if to == rnd.status:
        return  # idempotent: a retried task finds the round already there
    if to not in ROUND_TRANSITIONS[RoundStatus(rnd.status)]:
        raise StateConflict(f"round {rnd.id} is {rnd.status}; it cannot become {to}")
    record(session, rnd.id, f"round.{to.value}", actor, **{"from": rnd.status, **data})
    rnd.status = to.value


def move_slot(session: Session, slot: SlotRow, to: SlotStatus, actor: str, **data: Any) -> None:
    if to == slot.status:
        return
    if to not in SLOT_TRANSITIONS[SlotStatus(slot.status)]:
        raise StateConflict(
            f"the {slot.document.kind} slot of {slot.signer_name} ({slot.unit_id}) is {slot.status}; "
            f"it cannot become {to}"
        )
    record(
        session,
        slot.document.round_id,
        f"slot.{to.value}",
        actor,
        **{"document": slot.document.kind, "field": slot.field_name, "unit": slot.unit_id, "from": slot.status},
        **data,
    )
    slot.status = to.value
