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
    """A copy of the stamp font rescaled to 1000 units per em (made once, written atomically)."""
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.scaleUpem import scale_upem

    source = next((p for p in FONT_CANDIDATES if p.exists()), None)
    if source is None:
        raise FontMissing(
            "no font with Vietnamese glyphs for signature stamps: install fonts-liberation2 (scripts/install.sh does)"
        )
    target = _cache_dir() / f"{source.stem}-upem1000.ttf"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        font = TTFont(str(source))
        if "FFTM" in font:  # FontForge's timestamp table: pyHanko's subsetter cannot carry it and says so
            del font["FFTM"]
        if font["head"].unitsPerEm != 1000:
            scale_upem(font, 1000)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".ttf")
        os.close(fd)
        font.save(tmp)
        os.replace(tmp, target)
    return target


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
