"""signing/patches.py reads hex strings exactly as pyHanko's own reader does: same objects, same errors, and the
stream left at the same place; gives a distinguished name the same `hashable` and the same equality as asn1crypto
computes; and pyHanko's long-term validation judges the same with its whole-file reads kept per file."""

from __future__ import annotations

import io
import random

import pytest
from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError

from signing import patches

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
    theirs = _read(patches._original_reader, data)
    ours = _read(patches.read_hex_string_from_stream, data)
    assert ours[0] == theirs[0]
    if theirs[0][0] != "error":
        assert ours[1] == theirs[1]


def test_random_strings_match() -> None:
    rng = random.Random(7)
    for _ in range(300):
        body = bytes(rng.choice(b"0123456789abcdefABCDEF \n\r\t") for _ in range(rng.randrange(0, 200)))
        data = b"<" + body + b">"
        assert _read(patches.read_hex_string_from_stream, data) == _read(patches._original_reader, data)


def test_installed_in_pyhankos_parser() -> None:
    import signing  # noqa: F401  (installs it)

    assert generic.read_hex_string_from_stream is patches.read_hex_string_from_stream
    parsed = generic.read_object(io.BytesIO(b"<3082 0a0b>"), None)  # type: ignore[arg-type]
    assert parsed.original_bytes == b"\x30\x82\x0a\x0b"


NAMES = [
    {"common_name": "Nguyễn Văn An", "organization_name": "Viện KSND tỉnh Hà Giang", "country_name": "VN"},
    {"common_name": "NGUYỄN  VĂN   AN", "organization_name": "VIỆN KSND TỈNH HÀ GIANG", "country_name": "VN"},
    {"common_name": "Demo TSA"},
    {"common_name": "Trần Thanh Hương", "organizational_unit_name": "Văn phòng"},
]


def test_name_hashable_same_as_asn1crypto() -> None:
    assert x509.Name.hashable.fget is patches.name_hashable
    for fields in NAMES:
        for printable in (False, True) if all(v.isascii() for v in fields.values()) else (False,):
            name = x509.Name.build(fields, use_printable=printable)
            fresh = x509.Name.load(name.dump())  # a new object: nothing cached on it
            expected = patches._original_hashable(x509.Name.load(name.dump()))
            assert fresh.hashable == expected
            assert fresh.hashable == expected  # the second time from the table
    # RFC 5280 comparison survives: case and inner spaces aside, the same name files under the same key
    assert x509.Name.build(NAMES[0]).hashable == x509.Name.build(NAMES[1]).hashable
    assert x509.Name.build(NAMES[0]).hashable != x509.Name.build(NAMES[3]).hashable


def test_name_hashable_follows_the_encoding() -> None:
    """A name changed after it was looked up is looked up by its new encoding."""
    name = x509.Name.build({"common_name": "Lê Đình Phúc"})
    before = name.hashable
    changed = x509.Name.build({"common_name": "Lê Đình Phúc", "country_name": "VN"})
    assert changed.hashable != before
    assert changed.hashable == patches._original_hashable(x509.Name.load(changed.dump()))


def _numbers_written(pdf: bytes) -> list[int]:
    """Object numbers the last cross-reference section of a file lists as in use."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    section = patches.xref_sections(reader)[-1]
    return sorted(section.xref_data.standard_xrefs)


def _update_with_two_objects(pdf: bytes) -> tuple[bytes, int]:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    size = int(writer.trailer["/Size"])
    first = writer.add_object(generic.DictionaryObject({generic.NameObject("/A"): generic.NumberObject(1)}))
    writer.root[generic.NameObject("/Covenant")] = generic.ArrayObject([first, writer.add_object(generic.NullObject())])
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), size


def test_incremental_updates_number_new_objects_from_the_size_without_a_hole() -> None:
    """pyHanko's own writer skips the number /Size in every update (a free hole that other tools fill, and that its
    difference analysis then calls an existing object); with the patch the numbers run on from /Size."""
    import pikepdf

    blank = pikepdf.new()
    blank.add_blank_page()
    buffer = io.BytesIO()
    blank.save(buffer)
    pdf = buffer.getvalue()
    patches.uninstall()
    try:
        theirs, size = _update_with_two_objects(pdf)
        new = [n for n in _numbers_written(theirs) if n >= size]  # two objects and the new /Info
        assert new == [size + 1, size + 2, size + 3]  # pyHanko as it comes: /Size itself stays free
    finally:
        patches.install()
    ours, size = _update_with_two_objects(pdf)
    assert [n for n in _numbers_written(ours) if n >= size] == [size, size + 1, size + 2]
    again, size_after = _update_with_two_objects(ours)
    assert size_after == size + 3
    assert [n for n in _numbers_written(again) if n >= size_after] == [size_after, size_after + 1]
    assert b"/Size %d" % (size_after + 2) in again[len(ours) :]


def test_name_equality_same_as_asn1crypto() -> None:
    """RFC 5280 equality of every pair of names, as asn1crypto answers it, the first time and from the table."""
    assert x509.Name.__eq__ is patches.name_eq
    built = [
        x509.Name.build(fields, use_printable=printable)
        for fields in NAMES
        for printable in ((False, True) if all(v.isascii() for v in fields.values()) else (False,))
    ]
    equal = 0
    for a in built:
        for b in built:
            expected = patches._original_name_eq(x509.Name.load(a.dump()), x509.Name.load(b.dump()))
            assert (x509.Name.load(a.dump()) == x509.Name.load(b.dump())) is expected
            assert (x509.Name.load(a.dump()) == x509.Name.load(b.dump())) is expected  # from the table
            assert (x509.Name.load(a.dump()) != x509.Name.load(b.dump())) is (not expected)
            equal += expected
    assert len(built) < equal < len(built) ** 2  # the pairs hold both answers, and names equal in other encodings
    assert (built[0] == "CN=x") is False


@pytest.mark.live
def test_long_term_validation_reads_once_and_judges_the_same(demo_run: dict) -> None:
    """pyHanko's long-term validation of every signature of the demo package's files, and of a file whose DSS and
    document timestamps are gone (no proof of existence): the same ETSI result per signature with the reads kept
    per file as with pyHanko's own; and what is kept is handed out as fresh lists."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import ades

    from signing.ltv import long_term_check
    from signing.validation import load_roots
    from workflow.package import package_roots

    data = demo_run["bag"] / "data"
    roots = load_roots(package_roots(data))
    pdfs = [p.read_bytes() for p in sorted((data / "signed").glob("*.pdf"))]
    first = pdfs[0]
    last = PdfFileReader(io.BytesIO(first), strict=False).embedded_regular_signatures[-1]
    byte_range = [int(x) for x in last.sig_object["/ByteRange"]]
    unfinalised = first[: byte_range[2] + byte_range[3]]  # the last signature's revision: no archive DSS, no DTS
    results = []
    for pdf in [*pdfs, unfinalised]:
        kept = long_term_check(pdf, roots)
        patches.uninstall()
        try:
            assert ades._dss_to_local_knowledge is patches._original_dss_knowledge
            own = long_term_check(pdf, roots)
        finally:
            patches.install()
        assert kept == own
        results.append(kept)
    assert all(v == "OK" for v in results[0].values()) and len(results[0]) >= 10
    assert results[-1] and set(results[-1].values()) != {"OK"}  # without the archive's evidence, not OK today
    reader = PdfFileReader(io.BytesIO(first), strict=False)
    knowledge = ades._dss_to_local_knowledge(reader)
    knowledge.known_certs.clear()
    assert ades._dss_to_local_knowledge(reader).known_certs  # the kept list was not the one cleared
    index = ades._build_prima_facie_poe_index_from_pdf_timestamps(reader, True, None)
    index.clear()
    assert ades._build_prima_facie_poe_index_from_pdf_timestamps(reader, True, None)
