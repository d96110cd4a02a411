"""Personal links and the remote signing flow behind them.

A link carries a random token (256 bits); the database keeps only its SHA-256. One link opens one slot until the
round's deadline; issuing new links revokes the old ones of the same slots. Through a link a signer's agent
(`covenant sign --link`) asks the server to prepare the next revision for its certificate, signs the returned
attributes where its key lives, and sends back the CMS, which is embedded and validated like any other signature.
Nothing here knows of HTTP: workflow/web.py maps LinkError.kind to status codes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic (FastAPI answers) needs this one on Python 3.11

from signing import remote
from signing.validation import SignatureRejected
from workflow.context import SYSTEM, Ctx
from workflow.errors import LinkError, NotFound
from workflow.issuance import order_refusal, slot_stamp
from workflow.states import WAITING, RoundStatus, StateConflict, record
from workflow.storage import LinkRow, RoundRow, SlotRow, aware, utcnow
from workflow.trust import round_timestamper

TOKEN_BYTES = 32


@dataclass
class IssuedLink:
    slot_id: int
    document: str
    field: str
    signer_name: str
    unit_name: str
    url: str


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def new_link(s: Session, ctx: Ctx, slot: SlotRow, expires: dt.datetime, now: dt.datetime | None = None) -> str:
    """A fresh personal link for `slot` (the URL, shown once); the slot's earlier links stop working."""
    revoke_links(s, [slot.id], now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    s.add(LinkRow(slot_id=slot.id, token_sha256=token_sha256(token), expires_at=expires))
    return f"{ctx.settings.base_url.rstrip('/')}/l/{token}"


def revoke_links(s: Session, slot_ids: list[int], now: dt.datetime | None = None) -> None:
    for old in s.query(LinkRow).filter(LinkRow.slot_id.in_(slot_ids), LinkRow.revoked_at.is_(None)):
        old.revoked_at = now or utcnow()


def issue_links(ctx: Ctx, round_id: str, actor: str) -> list[IssuedLink]:
    """A fresh link for every slot still waiting for its signature; earlier links of those slots are revoked."""
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        if rnd is None:
            raise NotFound(f"no round {round_id}")
        if rnd.status != RoundStatus.OPEN:
            raise StateConflict(f"round {round_id} is {rnd.status}: it takes no signatures")
        issued = []
        now = utcnow()
        for doc in rnd.documents:
            for slot in doc.slots:
                if slot.status not in WAITING:
                    continue
                url = new_link(s, ctx, slot, rnd.deadline, now)
                issued.append(IssuedLink(slot.id, doc.kind, slot.field_name, slot.signer_name, slot.unit_name, url))
        record(s, round_id, "links.issued", actor, slots=[i.slot_id for i in issued])
        return issued


def open_link(s: Session, token: str, to_read: bool = False) -> LinkRow:
    """The link's row if it may still be used (`to_read`: a signed slot's link still shows its receipt)."""
    link = s.query(LinkRow).filter_by(token_sha256=token_sha256(token)).one_or_none()
    if link is None:
        raise LinkError("unknown", "this link is not known: check that it was copied whole")
    if to_read and link.slot.status == "signed":
        return link
    if link.revoked_at is not None:
        raise LinkError("gone", "this link has been replaced or withdrawn; use the newest e-mail", code="link.replaced")
    if aware(link.expires_at) <= utcnow():
        raise LinkError("gone", "this link has expired: the round's deadline has passed", code="link.expired")
    if link.slot.status == "signed":
        raise LinkError("gone", "this slot is already signed; the link cannot be used again", code="link.used")
    if link.slot.document.round.status != RoundStatus.OPEN:
        raise LinkError(
            "gone",
            f"the round is {link.slot.document.round.status}: it takes no signatures",
            code=f"link.round_{link.slot.document.round.status}",
        )
    return link


class Receipt(TypedDict):
    signer_certificate: str | None
    signed_at: str | None
    revision_sha256: str | None


class SignedSlot(TypedDict):
    field: str
    signer_name: str
    unit_name: str


class LinkView(TypedDict):
    """What a personal link shows (the leader's page, `GET /api/links/{token}`, the signing agent)."""

    receipt: Receipt | None
    round_id: str
    cluster: str
    year: int
    document: str
    field: str
    signer_name: str
    signer_title: str
    unit_name: str
    status: str
    deadline: str
    current_sha256: str | None
    signed: list[SignedSlot]
    role: str  # unit | chair | secretary (a person's), seal | issue (the organisation's, signed by its clerk)
    not_yet: str | None  # the rule that keeps an organisation's slot waiting (its code: workflow/texts.py), or None


def link_info(ctx: Ctx, token: str) -> LinkView:
    """What the link is for and where it stands; a signed slot's link answers with its receipt."""
    with ctx.session() as s:
        return link_view(open_link(s, token, to_read=True))


def link_view(link: LinkRow) -> LinkView:
    """link_info of a link already opened (inside its session)."""
    slot = link.slot
    doc = slot.document
    receipt: Receipt | None = None
    if slot.status == "signed":
        receipt = {
            "signer_certificate": slot.signer_certificate,
            "signed_at": aware(slot.signed_at).isoformat() if slot.signed_at else None,
            "revision_sha256": slot.revision,
        }
    return {
        "receipt": receipt,
        "round_id": doc.round_id,
        "cluster": doc.round.cluster,
        "year": doc.round.year,
        "document": doc.kind,
        "field": slot.field_name,
        "signer_name": slot.signer_name,
        "signer_title": slot.signer_title,
        "unit_name": slot.unit_name,
        "status": slot.status,
        "deadline": aware(doc.round.deadline).isoformat(),
        "current_sha256": doc.current,
        "signed": [
            {"field": other.field_name, "signer_name": other.signer_name, "unit_name": other.unit_name}
            for other in doc.slots
            if other.status == "signed"
        ],
        "role": slot.role,
        "not_yet": refusal.code if (refusal := order_refusal(slot)) is not None else None,
    }


def current_pdf(ctx: Ctx, token: str) -> tuple[str, bytes]:
    with ctx.session() as s:
        doc = open_link(s, token).slot.document
        return f"{doc.file_name}.pdf", ctx.blobs.get(doc.current or "")


def prepare_remote(ctx: Ctx, token: str, certificate_der: bytes) -> bytes:
    """Prepare the slot's signature for this certificate; returns the DER signed attributes to sign."""
    with ctx.session() as s:
        slot_id = open_link(s, token).slot_id
    when = dt.datetime.now(dt.UTC)
    try:
        stamp = slot_stamp(ctx, slot_id, when)  # refuses a seal before its leader, an issuance before the rest
    except SignatureRejected as exc:
        raise LinkError.wrapping("rejected", exc) from None
    with ctx.session() as s:
        link = open_link(s, token)
        slot = link.slot
        base = slot.document.current or ""
        try:
            prepared = remote.prepare(
                ctx.blobs.get(base),
                slot.field_name,
                certificate_der,
                signer_name=slot.signer_name,
                title=slot.signer_title,
                unit=slot.unit_name,
                when=when,
                stamp=stamp,
            )
        except remote.RemoteSigningError as exc:
            raise LinkError.wrapping("rejected", exc) from None
        state = prepared.to_json()
        state["pdf"] = ctx.blobs.put(prepared.pdf)  # the revision itself goes to the blob store
        link.pending = {"base": base, **state}
        return prepared.signed_attrs


Accept = Callable[[int, str, str], str]  # (slot id, revision blob, actor) → round status


def finish_remote(ctx: Ctx, token: str, cms_der: bytes, accept: Accept) -> dict[str, Any]:
    """Embed the signer's CMS into the prepared revision, then accept it like any submitted signature (through
    `accept`: the caller's way in, the accept_signature task, so that what follows a signature follows it here)."""
    with ctx.session() as s:
        link = open_link(s, token)
        if not link.pending:
            raise LinkError("stale", "nothing is prepared for this link: prepare the signature first")
        pending = dict(link.pending)
        pending.pop("phone", None)  # what the phone flow keeps beside the prepared revision (workflow/phone.py)
        slot_id = link.slot_id
        base = pending.pop("base")
        if base != link.slot.document.current:
            link.pending = None
            raise LinkError("stale", "another leader signed this document in the meantime: sign again")
        rnd = link.slot.document.round
        timestamper = round_timestamper(ctx, rnd)
        actor = f"{link.slot.signer_name} (remote)"
    pending["pdf"] = base64.b64encode(ctx.blobs.get(str(pending["pdf"]))).decode("ascii")
    try:
        signed = remote.finish(remote.Prepared.from_json(pending), cms_der, timestamper)
        status = accept(slot_id, ctx.blobs.put(signed), actor)
    except (remote.RemoteSigningError, SignatureRejected) as exc:
        with ctx.session() as s:
            slot = s.get(SlotRow, slot_id)
            moved = slot is not None and slot.document.current != base
        if moved:  # another signature landed between the check above and the document lock: sign again
            raise LinkError("stale", "another leader signed this document in the meantime: sign again") from None
        raise LinkError.wrapping("rejected", exc) from None
    except StateConflict as exc:
        raise LinkError.wrapping("conflict", exc) from None
    with ctx.session() as s:
        slot = s.get(SlotRow, slot_id)
        assert slot is not None
        for link in s.query(LinkRow).filter_by(slot_id=slot_id):
            link.pending = None
        record(s, slot.document.round_id, "link.used", SYSTEM, slot=slot.field_name, document=slot.document.kind)
        return {
            "status": "signed",
            "round_status": status,
            "field": slot.field_name,
            "document": slot.document.kind,
            "signer_certificate": slot.signer_certificate,
            "signed_at": aware(slot.signed_at).isoformat() if slot.signed_at else None,
            "revision_sha256": slot.revision,
        }
