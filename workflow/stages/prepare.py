"""Stage 5, prepare: one empty signature field over each signer's block, then the secretariat's certification
(DocMDP: fill forms only); when every document is prepared the round opens."""

from __future__ import annotations

from signing import fields as pdf_fields
from signing.signers import load_pkcs12
from workflow.context import SYSTEM, Ctx, document, get_round
from workflow.documents import anchor_name
from workflow.states import RoundStatus, StateConflict, move_round, record
from workflow.trust import certifier_paths, round_timestamper


def prepare(ctx: Ctx, doc_id: int) -> str:
    """Empty signature field over every signer's block, then the secretariat's certification."""
    with ctx.session() as s:
        doc = document(s, doc_id)
        if doc.current:
            return doc.current
        if not doc.pdf:
            raise StateConflict(f"document {doc_id} has not been converted")
        pdf = ctx.blobs.get(doc.pdf)
        # people's blocks first, then the seals over them and the number line's field (drawn on top)
        ordered = sorted(doc.slots, key=lambda sl: (sl.anchor is not None, sl.position))
        wanted = [(slot.field_name, slot.anchor or anchor_name(slot.position)) for slot in ordered]
        with_fields = pdf_fields.add_fields(pdf, pdf_fields.placements(pdf, wanted))
        p12, passphrase = certifier_paths(ctx)
        prepared = pdf_fields.certify(with_fields, load_pkcs12(p12, passphrase), round_timestamper(ctx, doc.round))
        doc.current = ctx.blobs.put(prepared)
        doc.revisions = 1
        record(
            s,
            doc.round_id,
            "document.prepared",
            SYSTEM,
            document=doc.kind,
            pdf=doc.current,
            fields=[f for f, _ in wanted],
        )
        return doc.current


def open_round(ctx: Ctx, round_id: str) -> str:
    with ctx.session() as s:
        rnd = get_round(s, round_id)
        if rnd.status == RoundStatus.GENERATING:
            if not all(d.current for d in rnd.documents):
                raise StateConflict(f"round {round_id}: documents are not all prepared")
            move_round(s, rnd, RoundStatus.OPEN, SYSTEM)
        return rnd.status
