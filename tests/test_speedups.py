"""signing/speedups.py reads hex strings exactly as pyHanko's own reader does: same objects, same errors, and the
stream left at the same place."""

from __future__ import annotations

import io
import random

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError

from signing import speedups

CASES = [
    b"<>",
    b"<41>",
    b"<4>",  # odd: a trailing 0 is implied
    b"<48 65\n6c\r6c\t6f\x00>",
    b"<FEFF0054>",  # a text string with a byte-order mark
    b"<0102 % a comment\n0304>",  # pyHanko skips comments: left to its reader
    b"<41x2>",  # not a hex digit
    b"<4142",  # no closing bracket
    b"<" + b"ab" * 40_000 + b">",  # longer than one chunk
    b"<" + b"0" * 70_000 + b"> trailing",
]


def _read(reader, data: bytes) -> tuple[object, int]:
    stream = io.BytesIO(b"xx" + data + b" 42 0 R")
    stream.seek(2)
    try:
        value = reader(stream)
    except PdfStreamError as exc:
        return ("error", type(exc)), stream.tell()
    return (type(value), value.original_bytes if hasattr(value, "original_bytes") else bytes(value)), stream.tell()


@pytest.mark.parametrize("data", CASES, ids=range(len(CASES)))
def test_same_as_pyhanko(data: bytes) -> None:
    theirs = _read(speedups._original_reader, data)
    ours = _read(speedups.read_hex_string_from_stream, data)
    assert ours[0] == theirs[0]
    if theirs[0][0] != "error":
        assert ours[1] == theirs[1]


def test_random_strings_match() -> None:
    rng = random.Random(7)
    for _ in range(300):
        body = bytes(rng.choice(b"0123456789abcdefABCDEF \n\r\t") for _ in range(rng.randrange(0, 200)))
        data = b"<" + body + b">"
        assert _read(speedups.read_hex_string_from_stream, data) == _read(speedups._original_reader, data)


def test_installed_in_pyhankos_parser() -> None:
    import signing  # noqa: F401  (installs it)

    assert generic.read_hex_string_from_stream is speedups.read_hex_string_from_stream
    parsed = generic.read_object(io.BytesIO(b"<3082 0a0b>"), None)  # type: ignore[arg-type]
    assert parsed.original_bytes == b"\x30\x82\x0a\x0b"
