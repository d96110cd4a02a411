"""Stage 6, accept: a leader's signed revision is judged (signing/validation.py) and, when it passes, becomes the
document's current revision; the last signature completes the round."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from signing.ltv import load_crls
from signing.timestamping import (
    add_document_timestamp,
    add_signature_timestamp,
    differs_only_in_contents,
    receipt_timestamp_field,
)
from signing.validation import Pin, SignatureRejected, judge_submission, load_roots, signed_names
from workflow.context import SYSTEM, Ctx, document
from workflow.errors import NotFound
from workflow.issuance import is_organisation, issue_on_acceptance, order_refusal
from workflow.states import WAITING, RoundStatus, SlotStatus, StateConflict, move_round, move_slot
from workflow.storage import DocumentRow, SlotRow, utcnow
from workflow.trust import is_online, round_crls, round_timestamper, tsa_source

# a certificate that is not the one the slot names (signing/validation.py: check_pin)
PIN_CODES = frozenset({"signature.wrong_signer", "signature.wrong_certificate", "signature.wrong_identity"})


@contextmanager
def document_lock(ctx: Ctx, doc_id: int) -> Iterator[Session]:
    """A session that holds the document's lock until it commits: one revision at a time. On PostgreSQL a row
    lock (SELECT … FOR UPDATE), which workers on several machines share; on SQLite, whose users are all on one
    machine, a lock file."""
    if ctx.settings.database_url.startswith("sqlite"):
        lock_dir = ctx.settings.data_dir / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / f"document-{doc_id}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                with ctx.session() as s:
                    yield s
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    with ctx.session() as s:
        s.execute(select(DocumentRow.id).where(DocumentRow.id == doc_id).with_for_update())
        yield s


def slot_images(ctx: Ctx, slot: SlotRow) -> tuple[bytes | None, bytes | None]:
    """The signature image and seal image (PNG bytes) the slot's stamp carries, if the round gave any."""
    return (
        ctx.blobs.get(slot.signature_image) if slot.signature_image else None,
        ctx.blobs.get(slot.seal_image) if slot.seal_image else None,
    )


def round_of_slot(ctx: Ctx, slot_id: int) -> str:
    with ctx.session() as s:
        slot = s.get(SlotRow, slot_id)
        if slot is None:
            raise NotFound(f"no slot {slot_id}")
        return slot.document.round_id


def accept(ctx: Ctx, slot_id: int, revision: str, actor: str | None = None) -> str:
    """Validate a submitted revision (blob id) for one slot and make it the document's current revision.

    The file is parsed and validated outside the document lock, against the revision that is current when it
    starts; only the final check-and-commit (that revision is still current, the slot still open) runs under the
    lock, so a heavy or hostile file never delays another leader. Raises SignatureRejected with the reason, or
    StateConflict when the slot or round is closed. A repeat of an accepted submission is a no-op.
    """
    for _attempt in range(5):
        with ctx.session() as s:
            slot = s.get(SlotRow, slot_id)
            if slot is None:
                raise NotFound(f"no slot {slot_id}")
            doc = slot.document
            if slot.status == SlotStatus.SIGNED and _same_submission(ctx, slot, revision):
                return doc.round.status
            _check_open(doc, slot)
            refusal = order_refusal(slot)
            if refusal is not None:
                raise refusal
            organisation = is_organisation(slot)
            base, doc_id, field = doc.current or "", doc.id, slot.field_name
            roots = load_roots([ctx.blobs.get(h) for h in doc.round.trust_roots])
            crls = load_crls(round_crls(ctx, doc.round))
            online = is_online(ctx, doc.round)
            needs_timestamp = tsa_source(ctx, doc.round) is not None
            pin = Pin(sha256=slot.pin_sha256, identity=slot.pin_identity, cn=slot.pin_cn)
            signer_name = slot.signer_name
        try:
            acceptance = judge_submission(
                ctx.blobs.get(base), ctx.blobs.get(revision), field, roots, pin, signer_name, crls, online
            )
        except SignatureRejected as exc:
            if organisation and exc.code in PIN_CODES:
                raise SignatureRejected(
                    f"rule: an organisation's signature is made with the unit's organisation certificate ({exc})",
                    code="signature.not_organisation",
                ) from None
            raise
        report = acceptance.report
        if report.timestamp is None and needs_timestamp:
            # the signing tool could not ask a TSA (poppler's cannot): the server adds the signature timestamp
            # in the room its CMS left, or a document timestamp after it when it left none (signing/timestamping.py),
            # and the result is judged again from the start
            with ctx.session() as s:
                timestamper = round_timestamper(ctx, document(s, doc_id).round)
            if timestamper is None:
                raise SignatureRejected(
                    "the round's time-stamping authority is not reachable", code="signature.timestamp"
                )
            submitted = ctx.blobs.get(revision)
            receipt = None
            signed_in = report.field  # the slot's field, or a new field of the signer's own over its block
            try:
                stamped = add_signature_timestamp(submitted, signed_in, timestamper)
            except SignatureRejected as exc:
                if exc.code != "signature.no_room":
                    raise
                receipt = receipt_timestamp_field(field)
                stamped = add_document_timestamp(submitted, field, timestamper)
            revision = ctx.blobs.put(stamped)
            acceptance = judge_submission(
                ctx.blobs.get(base), stamped, field, roots, pin, signer_name, crls, online, receipt_timestamp=receipt
            )
            report = acceptance.report
            if report.timestamp is None and report.document_timestamp is None:
                raise SignatureRejected(
                    "the signature carries no timestamp; this round requires PAdES B-T (an RFC 3161 signature "
                    "timestamp from a time-stamping authority)",
                    code="signature.no_timestamp",
                )
        with document_lock(ctx, doc_id) as s:
            slot = s.get(SlotRow, slot_id)
            assert slot is not None
            doc = slot.document
            if slot.status == SlotStatus.SIGNED and slot.revision == revision:
                return doc.round.status
            _check_open(doc, slot)
            if (doc.current or "") != base:
                continue  # another signature landed meanwhile: judge again against the document as it is now
            refusal = order_refusal(slot)
            if refusal is not None:
                raise refusal
            # the signatures already recorded are those of `base`, which judge_submission kept byte for byte
            if acceptance.stands_for != slot.field_name:
                raise SignatureRejected(
                    f"the signature stands for field {acceptance.stands_for!r}, not {slot.field_name!r}",
                    code="signature.wrong_field",
                )
            doc.current = revision
            doc.revisions += 1
            slot.revision = revision
            slot.signed_at = utcnow()
            slot.signer_certificate = report.signer_subject
            move_slot(
                s,
                slot,
                SlotStatus.SIGNED,
                actor or slot.signer_name,
                revision=revision,
                certificate_sha256=report.certificate_sha256,
            )
            if slot.role == "issue":
                issue_on_acceptance(s, slot)
            rnd = doc.round
            if all(sl.status == SlotStatus.SIGNED for d in rnd.documents for sl in d.slots):
                move_round(s, rnd, RoundStatus.COMPLETED, SYSTEM)
            return rnd.status
    raise StateConflict("the document kept changing while this signature was checked: submit it again")


def _same_submission(ctx: Ctx, slot: SlotRow, revision: str) -> bool:
    """The slot's accepted revision is this submission, or this submission with the signature timestamp the server
    added (a retried acceptance is then a no-op)."""
    if slot.revision == revision:
        return True
    if not slot.revision:
        return False
    submitted, accepted = ctx.blobs.get(revision), ctx.blobs.get(slot.revision)
    if any(differs_only_in_contents(submitted, accepted, name) for name in signed_names(accepted, slot.field_name)):
        return True
    # or this submission followed by the document timestamp the server added (one revision, nothing else)
    return accepted.startswith(submitted) and accepted[len(submitted) :].count(b"startxref") == 1


def _check_open(doc: DocumentRow, slot: SlotRow) -> None:
    if doc.round.status != RoundStatus.OPEN:
        raise StateConflict(f"round {doc.round_id} is {doc.round.status}: it takes no signatures")
    if slot.status not in WAITING:
        raise StateConflict(f"{slot.signer_name} has already {slot.status} the {doc.kind} (slot {slot.field_name})")
