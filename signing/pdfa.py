"""PDF/A across revisions: every revision of a signed document must still be PDF/A-2b as far as what a signing step
can change goes (ISO 19005-2, 6.6.2.3): the XMP identifies the part and conformance, and every entry of the Info
dictionary has its equivalent in the XMP with the same value. pyHanko writes both at each revision; these checks
say where they disagree, revision by revision."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pikepdf
from pikepdf.models.metadata import decode_pdf_date

# Info key -> its XMP property (ISO 19005-2, table 4)
EQUIVALENTS = {
    "/Title": "dc:title",
    "/Author": "dc:creator",
    "/Subject": "dc:description",
    "/Keywords": "pdf:Keywords",
    "/Creator": "xmp:CreatorTool",
    "/Producer": "pdf:Producer",
    "/CreationDate": "xmp:CreateDate",
    "/ModDate": "xmp:ModifyDate",
}
_EOF = re.compile(rb"%%EOF[ \t]*(\r\n|\r|\n)?")


def revisions(pdf: bytes) -> list[bytes]:
    """The file as it stood after each revision (each prefix ending at a %%EOF marker that opens as a PDF)."""
    out = []
    for match in _EOF.finditer(pdf):
        prefix = pdf[: match.end()]
        try:
            with pikepdf.open(io.BytesIO(prefix)):
                out.append(prefix)
        except pikepdf.PdfError:
            continue  # "%%EOF" inside a stream, not a revision's end
    return out


def _instant(value: str) -> dt.datetime | None:
    try:
        if value.startswith("D:"):
            when = decode_pdf_date(value.rstrip("'"))
        else:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _xmp_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, set):
        return "; ".join(sorted(str(v) for v in value))
    return str(value)


def metadata_problems(pdf: bytes) -> list[str]:
    """What keeps this revision from PDF/A-2b in its metadata: no PDF/A identification, or an Info entry whose XMP
    equivalent is missing or says something else. Empty when they agree."""
    problems = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        meta = doc.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        if meta.pdfa_status != "2B":
            problems.append(f"the XMP identifies PDF/A {meta.pdfa_status or 'nothing'}, not PDF/A-2b")
        info = doc.trailer.get("/Info")
        for key, prop in EQUIVALENTS.items():
            if info is None or key not in info:
                continue
            said = str(info[key])
            if prop not in meta:
                problems.append(f"Info {key} is {said!r} but the XMP has no {prop}")
                continue
            xmp = _xmp_text(meta[prop])
            if key in ("/CreationDate", "/ModDate"):
                same = _instant(said) is not None and _instant(said) == _instant(xmp)
            else:
                same = said == xmp
            if not same:
                problems.append(f"Info {key} is {said!r} but the XMP's {prop} is {xmp!r}")
    return problems
