"""Prepare a converted PDF for signing: normalise it, place one empty field per signer, certify it.

Order matters (design §7): every field first, then the secretariat's certification signature with DocMDP
FILL_FORMS, then the leaders fill their own fields; nothing is ever drawn into page content afterwards.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import pikepdf
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import RawContent
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter, append_signature_field
from pyhanko.sign.timestamps import TimeStamper

from signing.appearance import embed_stamp_font
from signing.errors import PdfError
from signing.revisions import dangling_references

CERTIFICATION_FIELD = "certification"
VISIBLE_LOCKED = 4 | 128  # annotation flags Print and Locked, as pyHanko sets them on a visible signature field
RIGHT_MARGIN = 15 / 25.4 * 72  # Decree 30's smallest right margin, for a block in the last column
GAP = 6.0
SEAL_OF = "seal:"  # workflow.documents.SEAL_OF: a seal's place over its leader's block
NUMBER_ANCHOR = "covnum"  # workflow.documents.NUMBER_ANCHOR: the number line's blank
NUMBER_HEIGHT = 16  # points: one line of the 13 pt number line


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


PAGE_BOXES = ("/MediaBox", "/CropBox", "/BleedBox", "/TrimBox", "/ArtBox")


def round_page_boxes(doc: pikepdf.Pdf) -> None:
    """Page boxes to two decimals (LibreOffice writes A4 as 595.303937007874 x 841.889763779528). Some signing
    tools (endesive, through pypdf) write the page object again when they sign, with their own number format: a
    value they print as it was read is the same page, one they round is a rewritten page, which the acceptance
    rule refuses. Two decimals are a hundredth of a point; every writer prints them unchanged."""
    holders = [doc.Root.Pages, *(page.obj for page in doc.pages)]
    for holder in holders:
        for key in PAGE_BOXES:
            box = holder.get(key)
            if isinstance(box, pikepdf.Array):
                holder[key] = pikepdf.Array([_two_decimals(v) for v in box])


def _two_decimals(value: object) -> int | Decimal:
    number = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return int(number) if number == number.to_integral_value() else number.normalize()


def normalise(pdf: bytes, language: str = "vi-VN") -> bytes:
    """Rewrite LibreOffice output once with qpdf (pikepdf): plain cross-reference table, no hybrid sections;
    the document language in the XMP too (LibreOffice puts it only in the catalogue's /Lang); page boxes rounded
    (round_page_boxes); the producer, in the Info dictionary and the XMP alike, is pyHanko's, which writes every
    later revision: pyHanko appends its name to an Info /Producer that lacks it and sets the XMP's to its name
    alone, so "LibreOffice 7.4" would become "LibreOffice 7.4; pyHanko 0.38.0" beside an XMP "pyHanko 0.38.0" (ISO
    19005-2, 6.6.2.3.1: the two must be equivalent). The XMP's xmp:CreatorTool keeps LibreOffice's name."""
    from pyhanko.pdf_utils.metadata.model import VENDOR

    try:
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            round_page_boxes(doc)
            author = str(doc.docinfo.get("/Author", "")) if doc.trailer.get("/Info") is not None else ""
            if doc.trailer.get("/Info") is not None:
                doc.docinfo["/Producer"] = pikepdf.String(VENDOR)
            with doc.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
                if not meta.get("dc:language"):
                    meta["dc:language"] = [language]
                if author and not meta.get("dc:creator"):
                    meta["dc:creator"] = [author]  # LibreOffice leaves it empty; PDF/A wants it to match /Author
                meta["pdf:Producer"] = VENDOR
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
            if not name.startswith(("covsig", NUMBER_ANCHOR)) or not isinstance(dest, pikepdf.Array) or len(dest) < 4:
                continue
            anchors[name] = Anchor(page_index[dest[0].objgen], float(dest[2]), float(dest[3]))  # type: ignore[index]  # pikepdf types objgen loosely
    return anchors


def placements(pdf: bytes, fields: list[tuple[str, str]]) -> list[FieldPlacement]:
    """For each (field name, anchor), the rectangle between the block's top anchor and its name line."""
    anchors = read_anchors(pdf)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        widths = [float(p.mediabox[2]) for p in doc.pages]
    # Column edges of the signature grid, whatever the template: the left edges of all blocks.
    columns = sorted({round(a.x, 1) for name, a in anchors.items() if name.startswith("covsig") and name.endswith("a")})
    out: list[FieldPlacement] = []
    blocks: dict[str, FieldPlacement] = {}
    for field, anchor in fields:
        if anchor.startswith(SEAL_OF):
            # an organisation's seal: the left third of its leader's block (Decree 30, Art. 33: the seal covers
            # about a third of the signature, on the left), placed after the leader's field, so drawn over it
            block = anchor[len(SEAL_OF) :]
            leader = blocks.get(block)
            if leader is None:
                raise PdfError(f"field {field}: no signature block {block} before it", code="pdf.anchor")
            x0, y0, x1, y1 = leader.box
            out.append(FieldPlacement(field, leader.page, (x0, y0, x0 + (x1 - x0) // 3, y1)))
            continue
        top, name = anchors.get(anchor + "a"), anchors.get(anchor + "b")
        if anchor == NUMBER_ANCHOR and top is not None and name is not None:
            # the number line's blank, between its two anchors on one line; the number is drawn there
            if name.page != top.page or abs(name.y - top.y) > 1 or name.x - top.x < 8:
                raise PdfError(f"field {field}: the number line's blank is not on one line", code="pdf.anchor")
            blank = (round(top.x), round(top.y - NUMBER_HEIGHT), round(name.x), round(top.y))
            out.append(FieldPlacement(field, top.page, blank))
            continue
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
        blocks[anchor] = FieldPlacement(field, top.page, box)
        out.append(blocks[anchor])
    return out


def add_fields(pdf: bytes, fields: list[FieldPlacement]) -> bytes:
    """The signature fields, and the certification's invisible field, all with one shared empty appearance.

    PDF/A wants an appearance on every visible widget. Sharing one empty stream keeps it there for good: poppler
    (`pdfsig -sign`) deletes a field's old appearance stream when it fills the field unless another annotation
    still uses it, and reuses the freed number with a new generation, which pyHanko's reader and difference
    analysis refuse; the certification's widget, signed and never changed, always uses the shared stream."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    blank = writer.add_object(RawContent(b"", box=BoxConstraints(width=1, height=1)).as_form_xobject())
    for name, page, box in [(CERTIFICATION_FIELD, 0, None), *((f.name, f.page, f.box) for f in fields)]:
        append_signature_field(writer, SigFieldSpec(sig_field_name=name, on_page=page))  # no appearance of its own
        widget = next(
            ref.get_object() for ref in writer.root["/AcroForm"]["/Fields"] if ref.get_object().get("/T") == name
        )
        if box is not None:
            widget[generic.NameObject("/Rect")] = generic.ArrayObject(generic.NumberObject(v) for v in box)
            widget[generic.NameObject("/F")] = generic.NumberObject(VISIBLE_LOCKED)
        widget[generic.NameObject("/AP")] = generic.DictionaryObject({generic.NameObject("/N"): blank})
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
    certified = out.getvalue()
    dangling = dangling_references(PdfFileReader(io.BytesIO(certified), strict=False))
    if dangling:  # the chain rule's induction starts here (signing/revisions.py)
        where = ", ".join(f"object {o} refers to {n} {g}" for o, n, g in dangling[:5])
        raise PdfError(f"the prepared document has references to objects that do not exist: {where}")
    return certified
