"""Names made plain: a slug for file names and identifiers ("Phú Thọ" → "phu-tho")."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str) -> str:
    """Lower-case ASCII letters and digits joined by "-": Vietnamese letters lose their marks (đ → d)."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")
