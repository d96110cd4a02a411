"""A faster hex-string reader for pyHanko's PDF parser (same results, same errors).

pyHanko 0.38 reads a hex string one byte at a time through a generator (`read_non_whitespace` per digit).
Every signature's /Contents is a hex string of 16–32 KB (the CMS, its certificates and its timestamp, padded),
and pyHanko parses the /Contents of every signature already in a file whenever it opens the form to sign or
validate: ~8 ms per existing signature on each new signature, and 2 of the 5 s of validating a 60-signature
covenant. This reader takes the string in one slice up to its closing `>`; anything unusual in it (a comment,
a stray character, a missing `>`) is left to pyHanko's own reader from the same position, so the outcome is
pyHanko's in every case. Installed once, when `signing` is imported; tests/test_speedups.py compares both.
This is hand-written because pyHanko has no hook for it; it belongs upstream.
"""

from __future__ import annotations

import binascii
import os
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PDF_WHITESPACE

_original_reader = generic.read_hex_string_from_stream
_CHUNK = 64 * 1024


def read_hex_string_from_stream(stream: Any) -> generic.ByteStringObject | generic.TextStringObject:
    start = stream.tell()
    data = stream.read(_CHUNK)
    while b">" not in data:  # longer than a chunk
        more = stream.read(_CHUNK)
        if not more:
            break
        data += more
    end = data.find(b">")
    digits = data[1:end].translate(None, PDF_WHITESPACE) if end > 0 and data[:1] == b"<" else None
    if digits is None or digits.translate(None, generic.HEX_DIGITS):
        stream.seek(start, os.SEEK_SET)
        return _original_reader(stream)
    stream.seek(start + end + 1, os.SEEK_SET)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


def install() -> None:
    generic.read_hex_string_from_stream = read_hex_string_from_stream
