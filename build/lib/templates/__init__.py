"""The DOCX templates of both documents (Decree 30/2020/NĐ-CP format), shipped as package data; `build.py`
regenerates them."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent
