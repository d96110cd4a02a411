"""Visible signature stamps in the spirit of Decree 30/2020 Appendix I, with every Vietnamese glyph.

pyHanko's default stamp font cannot draw Vietnamese (it silently prints garbage), so the stamp uses a cut of
Liberation Serif through pyHanko's OpenType support. pyHanko writes glyph widths in font units, which only match
PDF text space for fonts of 1000 units per em: Liberation has 2048, so a rescaled copy is made once (fontTools)
and cached.

The font is embedded once per document, when the signature fields are added (before the certification), in the
form's default resources (/AcroForm /DR /Font), and every stamp draws with that one font (SharedStampFont).
Embedding a subset per signature, as pyHanko does, cost about 12 ms of each signature and ~10 KiB of each
revision. A document prepared without it (or with another cut of the font) gets pyHanko's per-signature subset.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pikepdf
from fontTools.ttLib import TTFont
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory, ShapeResult
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PdfFileWriter
from pyhanko.stamp import TextStampStyle

from signing.errors import FontMissing

FONT_CANDIDATES = [
    Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
]
VN_TZ = dt.timezone(dt.timedelta(hours=7), "+07:00")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "covenant"


@lru_cache(maxsize=1)
def stamp_font() -> Path:
    """A copy of the stamp font rescaled to 1000 units per em and cut to what a stamp needs (made once,
    written atomically)."""
    from fontTools.ttLib.scaleUpem import scale_upem

    source = next((p for p in FONT_CANDIDATES if p.exists()), None)
    if source is None:
        raise FontMissing(
            "no font with Vietnamese glyphs for signature stamps: install fonts-liberation2 (scripts/install.sh does)"
        )
    target = _cache_dir() / f"{source.stem}-stamp-upem1000.ttf"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        font = TTFont(str(source))
        if "FFTM" in font:  # FontForge's timestamp table: pyHanko's subsetter cannot carry it and says so
            del font["FFTM"]
        if font["head"].unitsPerEm != 1000:
            scale_upem(font, 1000)
        font = _stamp_subset(font)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".ttf")
        os.close(fd)
        font.save(tmp)
        os.replace(tmp, target)
    return target


# Basic Latin, Latin-1, Latin Extended-A/B (đ Đ ơ ư), combining marks, Latin Extended Additional (ạ…ỹ),
# general punctuation: every character a stamp holds once NFC-normalised.
STAMP_RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x323), (0x1EA0, 0x1EF9), (0x2010, 0x2044)]


def _stamp_subset(font: TTFont) -> TTFont:
    """Only the glyphs a stamp can need, without layout tables or hinting: pyHanko subsets the stamp font again
    for every signature, and on the whole Liberation Serif (2,600 glyphs, GSUB/GPOS) that took about 50 ms of a
    signature's 60. Vietnamese in NFC is precomposed, so no mark positioning is lost."""
    from fontTools import subset

    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern", "DSIG"]
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for lo, hi in STAMP_RANGES for c in range(lo, hi + 1)])
    subsetter.subset(font)
    return font


def stamp_characters() -> str:
    return "".join(chr(c) for lo, hi in STAMP_RANGES for c in range(lo, hi + 1))


@dataclass(frozen=True)
class StampFontMetrics:
    resource_name: str  # /DR /Font key: names this exact cut, so a document made with another one is not misread
    postscript_name: str
    glyph_of: dict[int, int]  # code point -> glyph id (= CID: pyHanko keeps glyph ids in TrueType subsets)
    advance_of: dict[int, int]  # glyph id -> advance width in 1/1000 em


@lru_cache(maxsize=1)
def stamp_font_metrics() -> StampFontMetrics:
    path = stamp_font()
    font = TTFont(str(path))
    cmap = font.getBestCmap()
    order = {name: gid for gid, name in enumerate(font.getGlyphOrder())}
    advances = {order[name]: width for name, (width, _lsb) in font["hmtx"].metrics.items()}
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return StampFontMetrics(
        resource_name=f"/CovenantStamp{digest}",
        postscript_name=str(font["name"].getDebugName(6) or path.stem),
        glyph_of={code: order[name] for code, name in cmap.items()},
        advance_of=advances,
    )


_import_lock = threading.Lock()


@lru_cache(maxsize=1)
def _stamp_font_resource() -> generic.PdfObject:
    """The font resource (Type0 font, CID font, descriptor, font program, ToUnicode), made once per process in a
    PDF of its own: pyHanko's glyph accumulator writes it (subset = every glyph, widths, ToUnicode). Subsetting
    and shaping every glyph took ~0.2 s; each document now copies the finished objects."""
    glyph_of = stamp_font_metrics().glyph_of
    scratch = PdfFileWriter()
    with stamp_font().open("rb") as handle:
        engine = GlyphAccumulator(scratch, handle, font_size=9)
        for char in stamp_characters():
            if ord(char) in glyph_of:
                engine.shape(char, with_actual_text=False)  # records the glyph, its width and its Unicode
        engine.prepare_write()  # before the handle closes; the writer calls it again, a no-op
    scratch.root[generic.NameObject("/CovenantStampFont")] = engine.as_resource()
    buffer = io.BytesIO()
    scratch.write(buffer)
    return PdfFileReader(buffer).root.raw_get("/CovenantStampFont")


def embed_stamp_font(writer: BasePdfFileWriter) -> None:
    """Embed the whole stamp font once in the document's form resources (called with the writer that adds the
    signature fields)."""
    metrics = stamp_font_metrics()
    with _import_lock:  # the kept reader seeks in one buffer: one copy at a time
        font = writer.import_object(_stamp_font_resource())
    form = writer.root["/AcroForm"]
    if "/DR" not in form:
        form[generic.NameObject("/DR")] = generic.DictionaryObject()
    resources = form["/DR"]
    if "/Font" not in resources:
        resources[generic.NameObject("/Font")] = generic.DictionaryObject()
    fonts = resources["/Font"]
    fonts[generic.NameObject(metrics.resource_name)] = font
    for container in (form, resources, fonts):  # whichever of them the file already had
        writer.update_container(container)


class SharedStampFont(FontEngine):
    """Draws stamp text with the font embedded once in the document: glyph ids and widths come from the same cut
    of the font, so nothing is subset or embedded per signature. Precomposed NFC text needs no shaping (the cut
    has no GSUB/GPOS); ToUnicode is in the embedded font, and each line carries /ActualText like pyHanko's."""

    def __init__(self, writer: BasePdfFileWriter, font_ref: generic.IndirectObject, font_size: int) -> None:
        self.metrics = stamp_font_metrics()
        super().__init__(writer, self.metrics.postscript_name, embedded_subset=False, font_size=font_size)
        self.font_ref = font_ref

    def shape(self, txt: str) -> ShapeResult:
        if not txt:
            return ShapeResult(b"", 0, 0)
        glyphs = [self.metrics.glyph_of.get(ord(c), 0) for c in unicodedata.normalize("NFC", txt)]
        total = sum(self.metrics.advance_of.get(g, 0) for g in glyphs)
        cids = "".join(f"{g:04x}" for g in glyphs)
        actual = generic.DictionaryObject({generic.NameObject("/ActualText"): generic.TextStringObject(txt)})
        span = io.BytesIO()
        actual.write_to_stream(span)
        ops = b"/Span %s BDC [<%s>] TJ %g 0 Td EMC" % (span.getvalue(), cids.encode(), total / 1000 * self.font_size)
        return ShapeResult(graphics_ops=ops, x_advance=total / 1000, y_advance=0)

    def as_resource(self) -> generic.IndirectObject:
        return self.font_ref


class StampFontFactory(FontEngineFactory):
    """The shared font when the document carries it, else pyHanko's per-signature subset of the same font."""

    def __init__(self, font_size: int = 9) -> None:
        self.font_size = font_size

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: object = None) -> FontEngine:
        shared = shared_stamp_font(writer)
        if shared is not None:
            return SharedStampFont(writer, shared, self.font_size)
        return GlyphAccumulatorFactory(str(stamp_font()), font_size=self.font_size).create_font_engine(
            writer, obj_stream
        )


def shared_stamp_font(writer: BasePdfFileWriter) -> generic.IndirectObject | None:
    try:
        fonts = writer.root["/AcroForm"]["/DR"]["/Font"]
        ref = fonts.raw_get(stamp_font_metrics().resource_name)
    except KeyError:
        return None
    return ref if isinstance(ref, generic.IndirectObject) else None


def stamp_lines(signer: str, title: str, unit: str, when: dt.datetime) -> list[str]:
    return [
        f"Ký bởi: {signer}",
        f"Chức vụ: {title}",
        f"Cơ quan: {unit}",
        f"Thời gian ký: {when.astimezone(VN_TZ).isoformat(timespec='seconds')}",
    ]


@dataclass(frozen=True)
class Stamp:
    """What one signature's appearance shows. A person's: four lines (who, title, unit, time) beside their
    signature image (and the unit's seal when the round has no organisation signatures); an organisation's seal
    (Decree 30, Art. 33; Appendix I): the seal image over the organisation's name and the time; the issuing
    signature: the document's number, in the blank of the number line."""

    lines: tuple[str, ...]
    signature: bytes | None = None
    seal: bytes | None = None
    kind: str = "person"  # person | seal | number
    sealed: bool = False  # a person's, whose unit's seal is signed over the left third of the field


def person_stamp(
    signer: str,
    title: str,
    unit: str,
    when: dt.datetime,
    signature: bytes | None = None,
    seal: bytes | None = None,
    sealed: bool = False,
) -> Stamp:
    return Stamp(tuple(stamp_lines(signer, title, unit, when)), signature, seal, sealed=sealed)


def seal_stamp(organisation: str, when: dt.datetime, seal: bytes | None) -> Stamp:
    return Stamp((organisation, when.astimezone(VN_TZ).isoformat(timespec="seconds")), None, seal, "seal")


def number_stamp(number: str) -> Stamp:
    return Stamp((number,), kind="number")


def _wrap(text: str, width: float, size: float) -> list[str]:
    """Greedy word wrap in the stamp font at `size` points within `width` points."""
    metrics = stamp_font_metrics()

    def points(s: str) -> float:
        return sum(metrics.advance_of.get(metrics.glyph_of.get(ord(c), 0), 500) for c in s) * size / 1000

    lines: list[str] = []
    for word in text.split():
        if lines and points(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def stamp_images(signature: bytes | None, seal: bytes | None, height: int = 240) -> Image.Image | None:
    """The picture part of a stamp: the unit's red seal with the leader's handwritten signature over its right
    side (Decree 30: the seal covers about a third of the signature, on the left), as one transparent image."""
    parts = [Image.open(io.BytesIO(data)).convert("RGBA") for data in (seal, signature) if data]
    if not parts:
        return None
    if len(parts) == 1:
        img = parts[0]
        return img.resize((max(1, round(img.width * height / img.height)), height))
    seal_img = parts[0].resize((height, height))  # a seal is round
    signature_img = parts[1].copy()
    signature_img.thumbnail((round(height * 1.3), round(height * 0.75)))  # fits beside, keeps its proportions
    left = height * 2 // 3  # the signature starts two thirds into the seal
    canvas = Image.new("RGBA", (max(height, left + signature_img.width), height), (255, 255, 255, 0))
    canvas.alpha_composite(signature_img, (left, (height - signature_img.height) // 2))
    canvas.alpha_composite(seal_img, (0, 0))  # the seal on top, opaque where it is inked
    return canvas


def stamp_style(
    lines: list[str], image: Image.Image | None = None, box_width: int = 0, leave_left: int = 0
) -> TextStampStyle:
    """The stamp: the four lines in the embedded Vietnamese font; with an image (seal, signature), the image
    on the left part of the box and the text beside it; without one, the lines after `leave_left` points (the
    third a seal signed over it covers)."""
    text = "\n".join(line.replace("%", "%%") for line in lines)
    text_box = TextBoxStyle(font=StampFontFactory(font_size=9), font_size=9, leading=11)
    if image is None:
        # no frame: a printed signature field shows a red rectangle that is no part of the document
        after = SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(left=leave_left + 4, right=2, top=2, bottom=2),
        )
        return TextStampStyle(
            stamp_text=text,
            text_box_style=text_box,
            border_width=0,
            background=None,
            inner_content_layout=after if leave_left else None,
        )
    picture_width = int(box_width * 0.42) if box_width else 90
    return TextStampStyle(
        stamp_text=text,
        text_box_style=text_box,
        border_width=0,  # with a seal and a signature the stamp looks like the paper original: no frame
        background=PdfImage(image),
        background_opacity=1.0,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(left=2, right=max(0, box_width - picture_width), top=2, bottom=2),
        ),
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(left=picture_width + 4, right=2, top=2, bottom=2),
        ),
    )


def field_size(pdf: bytes, name: str) -> tuple[int, int]:
    """Width and height in points of signature field `name` ((0, 0) when the PDF has no such field)."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        form: Any = doc.Root.get("/AcroForm", {})
        for field in form.get("/Fields", []):
            if str(field.get("/T", "")) == name:
                widget = field if "/Rect" in field else field.Kids[0]
                x1, y1, x2, y2 = (float(v) for v in widget.Rect)
                return round(abs(x2 - x1)), round(abs(y2 - y1))
    return 0, 0


def field_width(pdf: bytes, name: str) -> int:
    """Width in points of signature field `name` (0 when the PDF has no such field)."""
    return field_size(pdf, name)[0]


SEAL_TEXT_SIZE = 6
NUMBER_SIZE = 13  # the number line's


def _seal_style(stamp: Stamp, width: int, height: int) -> TextStampStyle:
    """The seal on the upper part of the field, the organisation's name (wrapped) and the time beneath it."""
    width = width or 80
    height = height or 80
    name, when = stamp.lines
    lines = [*_wrap(name, width - 4, SEAL_TEXT_SIZE), when]
    text = "\n".join(line.replace("%", "%%") for line in lines)
    leading = SEAL_TEXT_SIZE + 1
    text_height = leading * len(lines) + 2
    box = TextBoxStyle(font=StampFontFactory(font_size=SEAL_TEXT_SIZE), font_size=SEAL_TEXT_SIZE, leading=leading)
    image = stamp_images(None, stamp.seal)
    if image is None:
        return TextStampStyle(stamp_text=text, text_box_style=box, border_width=0, background=None)
    return TextStampStyle(
        stamp_text=text,
        text_box_style=box,
        border_width=0,
        background=PdfImage(image),
        background_opacity=1.0,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(left=1, right=1, top=1, bottom=min(text_height, height // 2)),
        ),
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MIN,
            margins=Margins(left=1, right=1, top=max(0, height - text_height), bottom=1),
        ),
    )


def _number_style(stamp: Stamp) -> TextStampStyle:
    """The number alone, in the number line's size, against the end of the blank (before "/GƯ-CTĐ")."""
    # the text box fills the field: the number's place inside it is the text box's own layout rule
    at_the_end = SimpleBoxLayoutRule(
        x_align=AxisAlignment.ALIGN_MAX,
        y_align=AxisAlignment.ALIGN_MAX,  # from the line's top: on the baseline of the words beside it
        margins=Margins(0, 0, 0, 0),
        inner_content_scaling=InnerScaling.NO_SCALING,  # the line's own size, as typed (never shrunk)
    )
    box = TextBoxStyle(
        font=StampFontFactory(font_size=NUMBER_SIZE),
        font_size=NUMBER_SIZE,
        leading=NUMBER_SIZE,
        box_layout_rule=at_the_end,
    )
    return TextStampStyle(
        stamp_text=stamp.lines[0].replace("%", "%%"),
        text_box_style=box,
        border_width=0,
        background=None,
        inner_content_layout=at_the_end,
    )


def stamp_for(pdf: bytes, field_name: str, stamp: Stamp) -> TextStampStyle:
    """The stamp for one field of `pdf`, laid out for that field's size."""
    if stamp.kind == "seal":
        return _seal_style(stamp, *field_size(pdf, field_name))
    if stamp.kind == "number":
        return _number_style(stamp)
    image = stamp_images(stamp.signature, stamp.seal)
    if image is None:
        # sealed without a handwritten signature for the seal to overlap: the lines leave the seal its third
        return stamp_style(list(stamp.lines), leave_left=field_width(pdf, field_name) // 3 if stamp.sealed else 0)
    return stamp_style(list(stamp.lines), image, field_width(pdf, field_name))
