"""Draw the example rounds' demo seals (examples/seals/*.png): a red round seal with the unit's name around it and
a star in the middle, on a transparent background. They are marked "MẪU" (specimen): no real seal is reproduced.

Run from the repository: .venv/bin/python scripts/make_seals.py (the PNGs are committed; this says how they were
made)."""

from __future__ import annotations

import math
import sys
import unicodedata
from pathlib import Path

import yaml
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf"
RED = (200, 16, 30, 255)
SIZE = 360


def seal(name: str, size: int = SIZE) -> Image.Image:
    img = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    d = ImageDraw.Draw(img)
    c = size / 2
    d.ellipse((4, 4, size - 4, size - 4), outline=RED, width=9)
    d.ellipse((size * 0.2, size * 0.2, size * 0.8, size * 0.8), outline=RED, width=4)
    # a five-pointed star
    r1, r2 = size * 0.17, size * 0.07
    points = []
    for i in range(10):
        r = r1 if i % 2 == 0 else r2
        a = -math.pi / 2 + i * math.pi / 5
        points.append((c + r * math.cos(a), c * 0.92 + r * math.sin(a)))
    d.polygon(points, fill=RED)
    small = ImageFont.truetype(FONT, int(size * 0.06))
    d.text((c, size * 0.69), "MẪU", font=small, fill=RED, anchor="mm")
    # the name around the upper arc, letter by letter
    text = unicodedata.normalize("NFC", name.upper())
    font = ImageFont.truetype(FONT, int(size * 0.075))
    radius = size * 0.39
    span = min(330.0, 11.0 * len(text))
    for i, ch in enumerate(text):
        angle = -90 - span / 2 + span * (i + 0.5) / len(text)
        glyph = Image.new("RGBA", (int(size * 0.12), int(size * 0.12)), (255, 255, 255, 0))
        ImageDraw.Draw(glyph).text(
            (glyph.width / 2, glyph.height / 2), ch, font=font, fill=RED, anchor="mm"
        )
        glyph = glyph.rotate(-(angle + 90), resample=Image.Resampling.BICUBIC)
        x = c + radius * math.cos(math.radians(angle)) - glyph.width / 2
        y = c + radius * math.sin(math.radians(angle)) - glyph.height / 2
        img.alpha_composite(glyph, (int(x), int(y)))
    return img


def main() -> None:
    folder = Path(__file__).resolve().parent.parent / "workflow" / "examples"
    for path in sorted(folder.glob("*.yaml")):
        for unit in yaml.safe_load(path.read_text(encoding="utf-8"))["units"]:
            if unit.get("seal_image"):
                target = folder / unit["seal_image"]
                target.parent.mkdir(parents=True, exist_ok=True)
                seal(unit["name"]).save(target, optimize=True)
                print(target.relative_to(folder), file=sys.stderr)


if __name__ == "__main__":
    main()
