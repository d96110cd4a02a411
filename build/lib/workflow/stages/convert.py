"""Stage 4, convert: the rendered DOCX to PDF/A-2b by the warm LibreOffice (workflow/libreoffice.py), normalised."""

from __future__ import annotations

from signing import fields as pdf_fields
from workflow.context import SYSTEM, Ctx, document
from workflow.libreoffice import docx_to_pdf
from workflow.states import StateConflict, record


def convert(ctx: Ctx, doc_id: int) -> str:
    with ctx.session() as s:
        doc = document(s, doc_id)
        if doc.pdf:
            return doc.pdf
        if not doc.docx:
            raise StateConflict(f"document {doc_id} has not been rendered")
        docx = ctx.blobs.get(doc.docx)
    pdf = pdf_fields.normalise(docx_to_pdf(docx))  # outside the transaction: LibreOffice may take a while
    with ctx.session() as s:
        doc = document(s, doc_id)
        if not doc.pdf:
            doc.pdf = ctx.blobs.put(pdf)
            record(s, doc.round_id, "document.converted", SYSTEM, document=doc.kind, pdf=doc.pdf)
        return doc.pdf
