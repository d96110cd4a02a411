"""One-time URLs for a local signing service (design: issue 16). The leader's page asks, through their personal
link, for a pair: a download URL for the revision to sign and an upload URL for the signed file. The page hands
them to the signing service on the leader's machine (the Government CA's VGCA Sign Service, or `covenant agent`),
which downloads the PDF, signs it with the token and posts it back; the personal link itself never leaves the page.

Each URL carries its own random token (the database keeps its SHA-256), is scoped to one slot and one revision,
lives `LIFETIME` and is used once (the use is one atomic UPDATE, so a replay racing the first use is refused too).
An upload goes through the same acceptance rule as every signature. Nothing here knows of HTTP.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from signing.appearance import VN_TZ
from signing.errors import SignatureRejected
from workflow.context import Ctx
from workflow.errors import LinkError
from workflow.issuance import slot_stamp
from workflow.links import open_link, token_sha256
from workflow.states import WAITING, record
from workflow.storage import HandoffRow, aware, utcnow
from workflow.trust import tsa_source

LIFETIME = dt.timedelta(minutes=10)
TOKEN_BYTES = 32
Accept = Callable[[int, str, str], str]  # (slot id, blob of the signed revision, actor) -> the round's status


@dataclass(frozen=True)
class Handoff:
    """What the page gives the local signing service (the VGCA request's FileName and FileUploadHandler), and
    what the service shows the leader before asking for the PIN."""

    download_url: str
    upload_url: str
    expires_at: str
    document: str
    field: str
    file_name: str
    signer_name: str
    signer_title: str
    unit_name: str
    site: str  # the covenant server the URLs belong to
    tsa_url: str | None  # where the signature's timestamp comes from, when the round asks for one
    # what the signature's stamp shows (as the Government CA's tool tells SignApproved from SignIssued): a
    # person's lines, an organisation's seal, or the issuing number with its date
    stamp: str = "person"  # person | seal | number
    number: str | None = None  # the issuing signature's number, reserved in the register ("01")
    issued_date: str | None = None  # its date of issue, in Vietnam (ISO 8601)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def public_tsa_url(ctx: Ctx, source: str | None) -> str | None:
    """The address of the round's time-stamping authority as a signing tool can reach it (None: the round has none)."""
    if source == "demo":  # the demo PKI's TSA, served by `covenant serve` itself (webapp /tsa)
        return f"{ctx.settings.base_url}/tsa"
    return source


def open_handoff(ctx: Ctx, link_token: str) -> Handoff:
    """A fresh pair of one-time URLs for the slot this personal link opens, bound to the current revision."""
    now = utcnow()
    with ctx.session() as s:
        slot_id = open_link(s, link_token).slot_id
    try:
        stamp = slot_stamp(ctx, slot_id, now)  # refuses a seal before its leader, an issuance before the rest
    except SignatureRejected as exc:
        raise LinkError.wrapping("rejected", exc) from None
    with ctx.session() as s:
        link = open_link(s, link_token)
        slot = link.slot
        doc = slot.document
        if not doc.current:
            raise LinkError("conflict", "the document is not prepared for signing yet", code="link.round_generating")
        urls = {}
        for purpose in ("download", "upload"):
            token = secrets.token_urlsafe(TOKEN_BYTES)
            s.add(
                HandoffRow(
                    slot_id=slot.id,
                    purpose=purpose,
                    revision=doc.current,
                    token_sha256=token_sha256(token),
                    created_at=now,
                    expires_at=now + LIFETIME,
                )
            )
            urls[purpose] = f"{ctx.settings.base_url}/h/{token}"
        record(s, doc.round_id, "handoff.opened", slot.signer_name, document=doc.kind, field=slot.field_name)
        return Handoff(
            download_url=urls["download"],
            upload_url=urls["upload"],
            expires_at=(now + LIFETIME).isoformat(),
            document=doc.kind,
            field=slot.field_name,
            file_name=f"{doc.file_name}.pdf",
            signer_name=slot.signer_name,
            signer_title=slot.signer_title,
            unit_name=slot.unit_name,
            site=ctx.settings.base_url,
            tsa_url=public_tsa_url(ctx, tsa_source(ctx, doc.round)),
            stamp=stamp.kind,
            number=stamp.lines[0] if stamp.kind == "number" else None,
            issued_date=now.astimezone(VN_TZ).date().isoformat() if stamp.kind == "number" else None,
        )


def _spend(s: Session, token: str, purpose: str) -> HandoffRow:
    """The handoff this token names, used now (once: a second use, even racing the first, is refused)."""
    row = s.query(HandoffRow).filter_by(token_sha256=token_sha256(token), purpose=purpose).one_or_none()
    if row is None:
        raise LinkError("unknown", f"this {purpose} address is not known", code="handoff.unknown")
    if row.used_at is not None:
        raise LinkError(
            "gone", f"this {purpose} address has been used already: sign again from the page", code="handoff.used"
        )
    if aware(row.expires_at) <= utcnow():
        raise LinkError(
            "gone",
            f"this {purpose} address has expired (it lives {LIFETIME.seconds // 60} minutes): sign again from the page",
            code="handoff.expired",
        )
    spent = (
        s.query(HandoffRow)
        .filter(HandoffRow.id == row.id, HandoffRow.used_at.is_(None))
        .update({HandoffRow.used_at: utcnow()}, synchronize_session=False)
    )
    if spent != 1:
        raise LinkError(
            "gone", f"this {purpose} address has been used already: sign again from the page", code="handoff.used"
        )
    slot = row.slot
    if slot.status not in WAITING:
        raise LinkError("gone", "this slot is already signed", code="link.used")
    if slot.document.current != row.revision:
        raise LinkError(
            "stale",
            "the document changed since this address was made (another leader signed): sign again from the page",
            code="handoff.stale",
        )
    return row


def download(ctx: Ctx, token: str) -> tuple[str, bytes]:
    """The revision to sign (file name, bytes), once."""
    with ctx.session() as s:
        row = _spend(s, token, "download")
        name = f"{row.slot.document.file_name}.pdf"
        revision = row.revision
    return name, ctx.blobs.get(revision)


def upload(ctx: Ctx, token: str, signed: bytes, accept: Accept) -> tuple[int, str]:
    """Hand the signed file to acceptance (the rule every signature goes through), once; (slot id, round status).
    The token is spent before acceptance is tried: a refused file needs a new pair from the page."""
    with ctx.session() as s:
        row = _spend(s, token, "upload")
        slot_id, actor = row.slot_id, f"{row.slot.signer_name} (local signing service)"
    return slot_id, accept(slot_id, ctx.blobs.put(signed), actor)
