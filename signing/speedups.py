"""Two hand-written speed-ups, installed once when `signing` is imported; tests/test_speedups.py compares each
with the original. Both belong upstream.

1. A faster hex-string reader for pyHanko's PDF parser (same results, same errors).

pyHanko 0.38 reads a hex string one byte at a time through a generator (`read_non_whitespace` per digit).
Every signature's /Contents is a hex string of 16–32 KB (the CMS, its certificates and its timestamp, padded),
and pyHanko parses the /Contents of every signature already in a file whenever it opens the form to sign or
validate: ~8 ms per existing signature on each new signature, and 2 of the 5 s of validating a 60-signature
covenant. This reader takes the string in one slice up to its closing `>`; anything unusual in it (a comment,
a stray character, a missing `>`) is left to pyHanko's own reader from the same position, so the outcome is
pyHanko's in every case. pyHanko has no hook for it.

2. Distinguished names compared by their DER. The certificate registry pyHanko builds for every signature it
validates files each certificate under `Name.hashable` of its subject, which asn1crypto computes from scratch
for each new Certificate object (parse every attribute, RFC 4518 string preparation): pyHanko's long-term
validation reads the DSS again for each signature, so a 60-signature archive computed it ~16,000 times for the
same ~130 certificates, a third of the archive's verification. The value depends only on the name's encoding,
so it is kept per DER (a bounded table); a name whose encoding differs is computed afresh.
"""

from __future__ import annotations

import binascii
import os
from typing import Any

from asn1crypto import x509
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


_original_hashable = x509.Name.hashable.fget
_hashables: dict[bytes, str] = {}
_HASHABLES_KEPT = 4096


def name_hashable(name: x509.Name) -> str:
    der = name.dump()
    try:
        return _hashables[der]
    except KeyError:
        pass
    value: str = _original_hashable(name)  # type: ignore[misc]
    if len(_hashables) >= _HASHABLES_KEPT:
        _hashables.clear()
    _hashables[der] = value
    return value


_original_name_hashable = x509.Name.hashable


def install() -> None:
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    x509.Name.hashable = property(name_hashable, doc=_original_name_hashable.__doc__)  # type: ignore[method-assign]


def uninstall() -> None:
    """pyHanko and asn1crypto as they come (bench/archive.py measures its baseline so)."""
    generic.read_hex_string_from_stream = _original_reader
    x509.Name.hashable = _original_name_hashable  # type: ignore[method-assign]
