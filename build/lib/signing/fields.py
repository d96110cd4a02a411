"""Prepare a converted PDF for signing: normalise it, place one empty field per signer, certify it.

Order matters (design §7): every field first, then the secretariat's certification signature with DocMDP
FILL_FORMS, then the leaders fill their own fields; nothing is ever drawn into page content afterwards.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pikepdf
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter, append_signature_field
from pyhanko.sign.timestamps import TimeStamper

from signing.appearance import embed_stamp_font
from signing.errors import PdfError

CERTIFICATION_FIELD = "certification"
RIGHT_MARGIN = 15 / 25.4 * 72  # Decree 30's smallest right margin, for a block in the last column
GAP = 6.0


@dataclass(frozen=True)
class Anchor:
    page: int
    x: float
    y: float


@dataclass(frozen=True)
class FieldPlacement:
    name: str
    page: int
    box: tuple[int, int, int, int]  # whole points: pyHanko's layout code wants rationals


def normalise(pdf: bytes, language: str = "vi-VN") -> bytes:
    """Rewrite LibreOffice output once with qpdf (pikepdf): plain cross-reference table, no hybrid sections;
    the document language in the XMP too (LibreOffice puts it only in the catalogue's /Lang)."""
    try:
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            author = str(doc.docinfo.get("/Author", "")) if doc.trailer.get("/Info") is not None else ""
            with doc.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
                if not meta.get("dc:language"):
                    meta["dc:language"] = [language]
                if author and not meta.get("dc:creator"):
                    meta["dc:creator"] = [author]  # LibreOffice leaves it empty; PDF/A wants it to match /Author
            out = io.BytesIO()
            doc.save(out, object_stream_mode=pikepdf.ObjectStreamMode.disable, deterministic_id=True)
            return out.getvalue()
    except pikepdf.PdfError as exc:
        raise PdfError(f"not a readable PDF: {exc}") from None


def read_anchors(pdf: bytes) -> dict[str, Anchor]:
    """Named destinations (covsigNNNa / covsigNNNb) exported from the templates' bookmarks."""
    anchors: dict[str, Anchor] = {}
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        page_index = {page.objgen: i for i, page in enumerate(doc.pages)}
        dests = doc.Root.get("/Dests")
        items: list[tuple[str, object]] = []
        if dests is not None:
            items = [(str(k)[1:], v) for k, v in dests.items()]
        elif "/Names" in doc.Root and "/Dests" in doc.Root.Names:
            tree = pikepdf.NameTree(doc.Root.Names.Dests)
            items = [(k, v) for k, v in tree.items()]
        for name, dest in items:
            if isinstance(dest, pikepdf.Dictionary):
                dest = dest.D
            if not name.startswith("covsig") or not isinstance(dest, pikepdf.Array) or len(dest) < 4:
                continue
            anchors[name] = Anchor(page_index[dest[0].objgen], float(dest[2]), float(dest[3]))  # type: ignore[index]  # pikepdf types objgen loosely
    return anchors


def placements(pdf: bytes, fields: list[tuple[str, str]]) -> list[FieldPlacement]:
    """For each (field name, anchor), the rectangle between the block's top anchor and its name line."""
    anchors = read_anchors(pdf)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        widths = [float(p.mediabox[2]) for p in doc.pages]
    # Column edges of the signature grid, whatever the template: the left edges of all blocks.
    columns = sorted({round(a.x, 1) for name, a in anchors.items() if name.endswith("a")})
    out = []
    for field, anchor in fields:
        top, name = anchors.get(anchor + "a"), anchors.get(anchor + "b")
        if top is None or name is None:
            raise PdfError(f"the PDF has no signature anchor {anchor} for field {field}", code="pdf.anchor")
        if name.page != top.page:
            raise PdfError(
                f"the signature block of field {field} is split across pages {top.page + 1}-{name.page + 1}",
                code="pdf.anchor",
            )
        further = [x for x in columns if x > top.x + GAP]
        right = (further[0] - GAP) if further else widths[top.page] - RIGHT_MARGIN
        box = (round(top.x), round(name.y + 1), round(right), round(top.y))
        out.append(FieldPlacement(field, top.page, box))
    return out


def add_fields(pdf: bytes, fields: list[FieldPlacement]) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for f in fields:
        append_signature_field(writer, SigFieldSpec(sig_field_name=f.name, on_page=f.page, box=f.box))
    embed_stamp_font(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def certify(pdf: bytes, signer: signers.Signer, timestamper: TimeStamper | None = None) -> bytes:
    """The secretariat's certification: after it only filling the existing signature fields is allowed."""
    meta = signers.PdfSignatureMetadata(
        field_name=CERTIFICATION_FIELD,
        certify=True,
        docmdp_permissions=MDPPerm.FILL_FORMS,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason="Văn bản đã được Văn phòng Cụm thi đua chuẩn bị để ký số",
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    # No preset slot size: pyHanko sizes /Contents with a trial signature. Every later signer's pyHanko reads
    # this signature dictionary (to honour its DocMDP rules), and its parser reads the hex string a character at
    # a time: a 16 KiB slot cost each later signature about 17 ms, a tight one a quarter of that.
    out = signers.PdfSigner(meta, signer, timestamper=timestamper).sign_pdf(writer)
    return out.getvalue()
