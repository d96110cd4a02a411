"""Visible signature stamps in the spirit of Decree 30/2020 Appendix I, with every Vietnamese glyph.

pyHanko's default stamp font cannot draw Vietnamese (it silently prints garbage), so the stamp embeds a
subset of Liberation Serif through pyHanko's OpenType support. pyHanko writes glyph widths in font units, which
only match PDF text space for fonts of 1000 units per em: Liberation has 2048, so a rescaled copy is made once
(fontTools) and cached.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import TextStampStyle

FONT_CANDIDATES = [
    Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
]
VN_TZ = dt.timezone(dt.timedelta(hours=7), "+07:00")


class FontMissing(Exception):
    pass


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


def stamp_lines(signer: str, title: str, unit: str, when: dt.datetime) -> list[str]:
    return [
        f"Ký bởi: {signer}",
        f"Chức vụ: {title}",
        f"Cơ quan: {unit}",
        f"Thời gian ký: {when.astimezone(VN_TZ).isoformat(timespec='seconds')}",
    ]


def stamp_style(lines: list[str]) -> TextStampStyle:
    text = "\n".join(line.replace("%", "%%") for line in lines)
    return TextStampStyle(
        stamp_text=text,
        text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(stamp_font())), font_size=9, leading=11),
        border_width=1,
        border_color=(0.75, 0.1, 0.1),
        background=None,
    )
