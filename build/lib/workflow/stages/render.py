"""Stage 3, render: the round's document from its DOCX template (docxtpl), once per document."""

from __future__ import annotations

from workflow.context import SYSTEM, Ctx, document, round_model
from workflow.documents import render_docx
from workflow.states import record


def render(ctx: Ctx, doc_id: int) -> str:
    with ctx.session() as s:
        doc = document(s, doc_id)
        if doc.docx:
            return doc.docx
        model = round_model(ctx, doc.round)
        template = ctx.blobs.get(doc.template) if doc.template else None
        doc.docx = ctx.blobs.put(render_docx(model, doc.kind, template))
        record(s, doc.round_id, "document.rendered", SYSTEM, document=doc.kind, docx=doc.docx)
        return doc.docx
