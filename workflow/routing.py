"""Routing a round to its signers: notifications, reminders, expiry, decline, void and reissue.

Who is written to: every slot's e-mail is the address of the signer's unit from the round file (units[].signer.email);
the secretariat is the chair unit (the Cụm trưởng keeps the cluster's office). Parallel rounds notify every signer
at once; sequential ones notify the next signer of each document when the previous one has signed. Each mail is
recorded as an audit event; a slot's first mail moves it to `notified`, so a repeated or retried notification sends
nothing twice (a crash between the SMTP hand-over and the commit can repeat one message: at-least-once).
Nothing here knows of Celery; tasks/pipeline.py wraps these functions.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic (FastAPI answers) needs this one on Python 3.11

from workflow.context import SYSTEM, Ctx, round_model
from workflow.documents import ORGANISATION_ROLES, PERSON_ROLES
from workflow.errors import NotFound
from workflow.issuance import order_refusal, release_reservations
from workflow.links import LinkError, new_link, open_link, revoke_links
from workflow.mail import DOCUMENTS, Mail, MailError, compose, send
from workflow.model import Round, parse_duration
from workflow.stages.launch import launch
from workflow.states import WAITING, RoundStatus, SlotStatus, StateConflict, move_round, move_slot, record
from workflow.storage import EventRow, ReminderClaimRow, RoundRow, SlotRow, aware, utcnow
from workflow.texts import vn_time

logger = logging.getLogger(__name__)


def _round(s: Session, round_id: str) -> RoundRow:
    rnd = s.get(RoundRow, round_id)
    if rnd is None:
        raise NotFound(f"no round {round_id}")
    return rnd


def _emails(model: Round) -> dict[str, str]:
    return {unit.id: unit.signer.email for unit in model.units}


def _secretariat(model: Round) -> tuple[str, str]:
    chair = model.chair_unit
    return chair.signer.email, f"Văn phòng {model.cluster.name}"


def _deliver(ctx: Ctx, s: Session, round_id: str, mail: Mail, kind: str, **data: Any) -> str | None:
    """Send (when SMTP is configured) and record; returns the Message-ID, or None when there is no SMTP."""
    if not ctx.settings.smtp_url:
        record(s, round_id, "mail.skipped", SYSTEM, purpose=kind, to=mail.to, reason="COVENANT_SMTP_URL is not set")
        return None
    message_id = send(ctx.settings.smtp_url, ctx.settings.mail_from, mail)
    record(
        s, round_id, "mail.sent", SYSTEM, purpose=kind, to=mail.to, subject=mail.subject, message_id=message_id, **data
    )
    return message_id


def _tell(ctx: Ctx, s: Session, round_id: str, mail: Mail, kind: str, **data: Any) -> None:
    """A notice whose failure must not undo what it reports (a decline, a void): the failure is recorded."""
    try:
        _deliver(ctx, s, round_id, mail, kind, **data)
    except MailError as exc:
        logger.warning("round %s: %s mail to %s not sent: %s", round_id, kind, mail.to, exc)
        record(s, round_id, "mail.failed", SYSTEM, purpose=kind, to=mail.to, error=str(exc))


def _due_slots(rnd: RoundRow, order: str) -> list[SlotRow]:
    """People in the round's order; an organisation's slot once its rule allows it (a seal after its leader's
    signature, the issuing signature after every other: workflow/issuance.py)."""
    due = []
    for doc in rnd.documents:
        slots = sorted(doc.slots, key=lambda sl: sl.position)
        people = [sl for sl in slots if sl.role in PERSON_ROLES]
        if order == "sequential":
            first_open = next((sl for sl in people if sl.status != SlotStatus.SIGNED), None)
            due += [first_open] if first_open is not None and first_open.status == SlotStatus.PENDING else []
        else:
            due += [sl for sl in people if sl.status == SlotStatus.PENDING]
        due += [
            sl
            for sl in slots
            if sl.role in ORGANISATION_ROLES and sl.status == SlotStatus.PENDING and order_refusal(sl) is None
        ]
    return due


def _address(model: Round, slot: SlotRow) -> str:
    """A clerk's own address for an organisation's slot; the unit's leader's otherwise."""
    return slot.email or _emails(model)[slot.unit_id]


# What each kind of slot is asked to do, in the invitation's subject and first sentence.
_ASKS = {
    "seal": ("Đề nghị ký số của cơ quan", "ký số của cơ quan (đóng dấu) sau chữ ký của Thủ trưởng đơn vị trên"),
    "issue": ("Đề nghị ban hành", "cấp số, ngày ban hành và ký số của cơ quan ban hành"),
}
_TOOLS = {
    "seal": "Mở liên kết dưới đây để xem văn bản và ký bằng chứng thư số của cơ quan (của đơn vị đồng chí).",
    "issue": (
        "Tất cả các đơn vị đã ký và đóng dấu. Mở liên kết dưới đây để ban hành: số văn bản được lấy tự động từ sổ "
        "đăng ký văn bản của Cụm và hiện trong chữ ký số của cơ quan."
    ),
}


def _invitation(model: Round, slot: SlotRow, deadline: dt.datetime, link: str, reminder: bool = False) -> Mail:
    document = DOCUMENTS[slot.document.kind]
    title, ask = _ASKS.get(slot.role, ("Đề nghị ký số", "ký số"))
    subject = f"{'Nhắc ký' if reminder else title}: {document} {model.cluster.name} năm {model.cluster.year}"
    paragraphs = [
        f"Kính gửi đồng chí {slot.signer_name}, {slot.signer_title} {slot.unit_name},",
        f"{'Đồng chí chưa ký' if reminder else 'Văn phòng Cụm đề nghị đồng chí ' + ask} {document.lower()} "
        f"{model.cluster.name} năm {model.cluster.year}. Hạn ký: {vn_time(deadline, prose=True)}.",
        _TOOLS.get(
            slot.role,
            "Mở liên kết dưới đây để xem văn bản và ký bằng chứng thư số của đồng chí (tệp khóa, USB token hoặc ký số "
            "từ xa). Liên kết chỉ dùng được cho vị trí ký của đồng chí.",
        ),
    ]
    return compose(_address(model, slot), slot.signer_name, subject, paragraphs, link)


@dataclass(frozen=True)
class Written:
    """A slot written to: its document and its field (a field name alone is not unique across documents)."""

    slot_id: int
    document: str
    field: str

    def to_json(self) -> WrittenJson:
        return {"document": self.document, "field": self.field}


class WrittenJson(TypedDict):
    document: str  # covenant | minutes
    field: str


class RemindResult(TypedDict):
    round_id: str
    invited: list[WrittenJson]  # first invitations (never written to before)
    reminded: list[WrittenJson]  # reminders, each with a fresh link


class DeclineResult(TypedDict):
    status: str  # declined
    round_status: str
    field: str


class VoidResult(TypedDict):
    round_id: str
    status: str  # voided
    told: int  # units written to


class ReissueResult(TypedDict):
    round_id: str  # the new version
    supersedes: str
    version: int
    told: int


def invite_due(ctx: Ctx, round_id: str) -> list[str]:
    """Write to every signer whose turn it is and who has not been written to; returns the fields notified."""
    return [w.field for w in _invite(ctx, round_id)]


def _invite(ctx: Ctx, round_id: str) -> list[Written]:
    if not ctx.settings.smtp_url:
        return []  # no mail server: nobody can be written to (the links are handed out by `covenant round links`)
    with ctx.session() as s:
        rnd = _round(s, round_id)
        if rnd.status != RoundStatus.OPEN:
            return []
        model = round_model(ctx, rnd)
        due = [sl.id for sl in _due_slots(rnd, model.signing.order)]
    notified = []
    for slot_id in due:  # one transaction per mail: a failure later does not undo the ones sent
        with ctx.session() as s:
            slot = s.get(SlotRow, slot_id)
            assert slot is not None
            if slot.status != SlotStatus.PENDING:
                continue
            rnd = slot.document.round
            link = new_link(s, ctx, slot, aware(rnd.deadline))
            mail = _invitation(round_model(ctx, rnd), slot, aware(rnd.deadline), link)
            message_id = _deliver(ctx, s, round_id, mail, "invitation", field=slot.field_name)
            move_slot(s, slot, SlotStatus.NOTIFIED, SYSTEM, message_id=message_id)
            notified.append(Written(slot.id, slot.document.kind, slot.field_name))
    return notified


def remind(ctx: Ctx, round_id: str, actor: str, offset: str | None = None) -> list[str]:
    """A reminder, with a fresh link, to every signer written to who has not signed yet."""
    return [w.field for w in _remind(ctx, round_id, actor, offset)]


def remind_now(ctx: Ctx, round_id: str, actor: str) -> RemindResult:
    """The secretariat's "Nhắc ký" (`covenant round remind`): a first invitation to the signers whose turn it is
    and who were never written to, a reminder with a fresh link to those written to before; one mail per slot
    (a slot just invited is not reminded: that would revoke the link its invitation carries)."""
    with ctx.session() as s:
        rnd = _round(s, round_id)
        if rnd.status != RoundStatus.OPEN:
            raise StateConflict(f"round {round_id} is {rnd.status}: there is nobody to remind")
    invited = _invite(ctx, round_id)
    reminded = _remind(ctx, round_id, actor, None, skip={w.slot_id for w in invited})
    return {
        "round_id": round_id,
        "invited": [w.to_json() for w in invited],
        "reminded": [w.to_json() for w in reminded],
    }


def _remind(
    ctx: Ctx, round_id: str, actor: str, offset: str | None, skip: frozenset[int] | set[int] = frozenset()
) -> list[Written]:
    with ctx.session() as s:
        rnd = _round(s, round_id)
        if rnd.status != RoundStatus.OPEN:
            raise StateConflict(f"round {round_id} is {rnd.status}: there is nobody to remind")
        waiting = [
            sl.id for d in rnd.documents for sl in d.slots if sl.status == SlotStatus.NOTIFIED and sl.id not in skip
        ]
    reminded = []
    for slot_id in waiting:
        with ctx.session() as s:
            slot = s.get(SlotRow, slot_id)
            assert slot is not None
            rnd = slot.document.round
            link = new_link(s, ctx, slot, aware(rnd.deadline))
            mail = _invitation(round_model(ctx, rnd), slot, aware(rnd.deadline), link, reminder=True)
            _deliver(ctx, s, round_id, mail, "reminder", field=slot.field_name, offset=offset, by=actor)
            reminded.append(Written(slot.id, slot.document.kind, slot.field_name))
    with ctx.session() as s:
        record(s, round_id, "reminder.sent", actor, offset=offset, fields=[w.field for w in reminded])
    return reminded


def remind_at_offsets(ctx: Ctx, now: dt.datetime | None = None) -> dict[str, list[str]]:
    """Beat: for every open round, the reminders whose offset before the deadline has come, once each."""
    now = now or utcnow()
    sent: dict[str, list[str]] = {}
    with ctx.session() as s:
        rounds = [r.id for r in s.query(RoundRow).filter(RoundRow.status == RoundStatus.OPEN)]
    for round_id in rounds:
        with ctx.session() as s:
            rnd = _round(s, round_id)
            deadline = aware(rnd.deadline)
            done = {
                e.data.get("offset")
                for e in s.query(EventRow).filter(EventRow.round_id == round_id, EventRow.kind == "reminder.sent")
            }
            due = [
                r
                for r in round_model(ctx, rnd).signing.reminders
                if r not in done and now >= deadline - parse_duration(r)
            ]
        # several offsets passed at once (a stopped beat): the latest one only; none when another beat, or this
        # task run before, has claimed them
        if due and _claim(ctx, round_id, due):
            sent[round_id] = remind(ctx, round_id, SYSTEM, offset=due[-1])
            with ctx.session() as s:
                for skipped in due[:-1]:
                    record(s, round_id, "reminder.sent", SYSTEM, offset=skipped, fields=[], skipped=True)
    return sent


def _claim(ctx: Ctx, round_id: str, offsets: list[str]) -> bool:
    """Claim a round's due reminder offsets, all at once, before anything is sent: False when any of them was
    claimed already (by another beat, or by an earlier run of this task)."""
    from sqlalchemy.exc import IntegrityError

    try:
        with ctx.session() as s:
            s.add_all(ReminderClaimRow(round_id=round_id, offset=offset, claimed_at=utcnow()) for offset in offsets)
    except IntegrityError:
        return False
    return True


def expire_overdue(ctx: Ctx, now: dt.datetime | None = None) -> list[str]:
    """Beat: rounds past their deadline expire, with their waiting slots; their links stop working."""
    now = now or utcnow()
    expired = []
    with ctx.session() as s:
        for rnd in s.query(RoundRow).filter(RoundRow.status.in_((RoundStatus.OPEN, RoundStatus.PAUSED))):
            if aware(rnd.deadline) > now:
                continue
            for doc in rnd.documents:
                for slot in doc.slots:
                    if slot.status in WAITING:
                        move_slot(s, slot, SlotStatus.EXPIRED, SYSTEM)
            revoke_links(s, [sl.id for d in rnd.documents for sl in d.slots])
            move_round(s, rnd, RoundStatus.EXPIRED, SYSTEM, deadline=aware(rnd.deadline).isoformat())
            model = round_model(ctx, rnd)
            to, name = _secretariat(model)
            unsigned = [
                f"{sl.signer_name} ({sl.unit_name})" for d in rnd.documents for sl in d.slots if sl.status == "expired"
            ]
            mail = compose(
                to,
                name,
                f"Hết hạn ký: {model.cluster.name} năm {model.cluster.year}",
                [
                    f"Đợt ký {rnd.id} đã hết hạn lúc {vn_time(aware(rnd.deadline), prose=True)}.",
                    "Chưa ký: " + ("; ".join(unsigned) or "không có"),
                ],
            )
            _tell(ctx, s, rnd.id, mail, "expired")
            expired.append(rnd.id)
    return expired


def decline(ctx: Ctx, token: str, reason: str) -> DeclineResult:
    """A leader declines, with a reason: the slot is declined, the round pauses, the secretariat is told."""
    reason = reason.strip()
    if not reason:
        raise LinkError("rejected", "give the reason for declining", code="link.reason")
    with ctx.session() as s:
        link = open_link(s, token)
        slot = link.slot
        rnd = slot.document.round
        move_slot(s, slot, SlotStatus.DECLINED, slot.signer_name, reason=reason)
        move_round(s, rnd, RoundStatus.PAUSED, slot.signer_name, declined=slot.field_name, reason=reason)
        revoke_links(s, [sl.id for d in rnd.documents for sl in d.slots])
        model = round_model(ctx, rnd)
        to, name = _secretariat(model)
        mail = compose(
            to,
            name,
            f"Từ chối ký: {slot.signer_name} — {model.cluster.name} năm {model.cluster.year}",
            [
                f"Đồng chí {slot.signer_name}, {slot.signer_title} {slot.unit_name}, từ chối ký "
                f"{DOCUMENTS[slot.document.kind].lower()}.",
                f"Lý do: {reason}",
                f"Đợt ký {rnd.id} tạm dừng. Văn phòng Cụm có thể phát hành lại (covenant round reissue) "
                "hoặc hủy (covenant round void).",
            ],
        )
        _tell(ctx, s, rnd.id, mail, "declined", field=slot.field_name)
        return {"status": "declined", "round_status": rnd.status, "field": slot.field_name}


def _tell_signers(ctx: Ctx, s: Session, rnd: RoundRow, subject: str, paragraph: str, kind: str) -> int:
    """One mail per unit that had a slot waiting (sent a link or due one)."""
    model = round_model(ctx, rnd)
    told: dict[str, SlotRow] = {}  # by address: a unit's leader, and its clerk when it was written to
    for doc in rnd.documents:
        for slot in doc.slots:
            if slot.status in (SlotStatus.NOTIFIED, SlotStatus.SIGNED, SlotStatus.DECLINED):
                told.setdefault(_address(model, slot), slot)
    for address, slot in told.items():
        greeting = f"Kính gửi đồng chí {slot.signer_name}, {slot.signer_title} {slot.unit_name},"
        mail = compose(address, slot.signer_name, subject, [greeting, paragraph])
        _tell(ctx, s, rnd.id, mail, kind, unit=slot.unit_id)
    return len(told)


def void(ctx: Ctx, round_id: str, reason: str, actor: str) -> VoidResult:
    """The secretariat calls the round off: its links stop working and everyone written to is told."""
    with ctx.session() as s:
        rnd = _round(s, round_id)
        if rnd.status == "voided":
            raise StateConflict(f"round {round_id} is already voided")
        move_round(s, rnd, RoundStatus.VOIDED, actor, reason=reason)
        revoke_links(s, [sl.id for d in rnd.documents for sl in d.slots])
        release_reservations(s, round_id)
        model = round_model(ctx, rnd)
        told = _tell_signers(
            ctx,
            s,
            rnd,
            f"Hủy đợt ký: {model.cluster.name} năm {model.cluster.year}",
            f"Văn phòng Cụm đã hủy đợt ký {rnd.id}. Lý do: {reason}. Các liên kết ký đã gửi không còn dùng được.",
            "voided",
        )
        return {"round_id": round_id, "status": rnd.status, "told": told}


def reissue(ctx: Ctx, round_id: str, text: str, model: Round, base: Path, actor: str) -> ReissueResult:
    """A new version of the round (from a corrected round file) supersedes this one. Signatures of the old
    version are not carried over; everyone written to is told; the new version is generated and notified anew."""
    with ctx.session() as s:
        old = _round(s, round_id)
        if old.status not in (RoundStatus.OPEN, RoundStatus.PAUSED):
            raise StateConflict(f"round {round_id} is {old.status}: only an open or paused round is reissued")
        version = old.version + 1
    new_id = launch(ctx, text, model, base, actor)
    with ctx.session() as s:
        old = _round(s, round_id)
        new = _round(s, new_id)
        new.version, new.supersedes = version, round_id
        move_round(s, old, RoundStatus.SUPERSEDED, actor, by=new_id, version=version)
        revoke_links(s, [sl.id for d in old.documents for sl in d.slots])
        release_reservations(s, round_id)
        record(s, new_id, "round.reissued", actor, supersedes=round_id, version=version)
        told = _tell_signers(
            ctx,
            s,
            old,
            f"Phát hành lại: {model.cluster.name} năm {model.cluster.year}",
            f"Văn bản đợt ký {round_id} đã được sửa và phát hành lại (lần {version}). Các chữ ký "
            "trên bản cũ không được chuyển sang bản mới: đồng chí sẽ nhận liên kết ký mới.",
            "reissued",
        )
    return {"round_id": new_id, "supersedes": round_id, "version": version, "told": told}
