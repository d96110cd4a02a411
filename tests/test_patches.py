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


# --- 8. a file that continues one already read -------------------------------------------------------------------
def _chain(updates: int) -> list[bytes]:
    """A small PDF (xref tables) and `updates` incremental updates of it by pyHanko's writer: every prefix."""
    import pikepdf

    blank = pikepdf.new()
    blank.add_blank_page()
    buffer = io.BytesIO()
    blank.save(buffer, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    files = [buffer.getvalue()]
    for _ in range(updates):
        files.append(_update_with_two_objects(files[-1])[0])
    return files


def _startxref(pdf: bytes) -> int:
    tail = pdf[pdf.rindex(b"startxref") + len(b"startxref") :]
    return int(tail.split()[0])


def _with_update(pdf: bytes, prev: int | None = None, startxref: int | None = None) -> bytes:
    """`pdf` and one hand-written update (an object and a trailer) whose /Prev and startxref may lie."""
    at = len(pdf)
    size = int(b"".join(pdf[pdf.rindex(b"/Size") :].split()[1:2]).rstrip(b"/>"))
    obj = b"%d 0 obj\n<< /Covenant true >>\nendobj\n" % size
    xref_at = at + len(obj)
    root = pdf[pdf.rindex(b"/Root") :].split()[1:3]
    trailer = b"<< /Size %d /Root %s %s R /Prev %d >>" % (
        size + 1,
        root[0],
        root[1],
        _startxref(pdf) if prev is None else prev,
    )
    xref = b"xref\n%d 1\n%010d 00000 n \ntrailer\n%s\nstartxref\n%d\n%%%%EOF\n" % (
        size,
        at,
        trailer,
        xref_at if startxref is None else startxref,
    )
    return pdf + obj + xref


def _reading(pdf: bytes, stock: bool) -> object:
    """What pyHanko's reader made of a file's cross-reference chain: every section and trailer, or the error."""
    from pyhanko.pdf_utils import reader as pdf_reader
    from pyhanko.pdf_utils.reader import PdfFileReader

    saved = pdf_reader._read_xrefs_and_trailer
    if stock:
        pdf_reader._read_xrefs_and_trailer = patches._original_read_xrefs
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    except Exception as exc:  # noqa: BLE001  the error itself is what is compared
        return ("error", type(exc).__name__, str(exc))
    finally:
        pdf_reader._read_xrefs_and_trailer = saved

    def plain(obj: object) -> object:
        if isinstance(obj, generic.IndirectObject):
            assert obj.get_pdf_handler() is reader  # resolved in this reader, not in the one it was kept from
            return ("ref", obj.idnum, obj.generation)
        if isinstance(obj, generic.DictionaryObject):
            return {str(k): plain(v) for k, v in dict.items(obj)}
        if isinstance(obj, generic.ArrayObject):
            return [plain(v) for v in list.__iter__(obj)]
        assert obj.container_ref is None or obj.container_ref.get_pdf_handler() is reader  # type: ignore[attr-defined]
        return (type(obj).__name__, repr(obj))

    sections = [
        (
            s.meta_info,
            s.xref_data.standard_xrefs,
            s.xref_data.xrefs_in_objstm,
            s.xref_data.freed,
            s.xref_data.explicit_refs_in_revision,
            s.xref_data.obj_streams_used,
            s.xref_data.hybrid is not None,
        )
        for s in patches.xref_sections(reader)
    ]
    trailers = [plain(t) for t in reader.trailer._trailer_revisions]
    return sections, trailers, plain(reader.trailer.flatten()), reader.last_startxref, reader.has_xref_stream


def test_continued_reading_same_as_pyhankos() -> None:
    """Every file of a generated corpus read twice: by pyHanko from the start, and after the file it continues (or
    something like it) was read and kept. The same sections, trailers and errors; and the genuine continuation
    parses only its own new section."""
    from pyhanko.pdf_utils import xref as pdf_xref

    files = _chain(5)
    kept, longer = files[3], files[4]
    newest = _startxref(kept)
    older = _startxref(files[2])
    rng = random.Random(8)
    corpus = {
        "one more revision": longer,
        "two more revisions": files[5],
        "the same file": kept,
        "a shorter file": files[2],
        "hand-written revision": _with_update(kept),
        "/Prev skips the newest revision": _with_update(kept, prev=older),
        "/Prev a byte off the newest revision": _with_update(kept, prev=newest + 1),
        "/Prev a byte before the newest revision": _with_update(kept, prev=newest - 1),
        "/Prev into the middle of the newest section": _with_update(kept, prev=newest + 9),
        "/Prev points at itself": _with_update(kept, prev=len(kept) + len(b"%d 0 obj\n<< /Covenant true >>\nendobj\n")),
        "startxref points at the newest kept section": _with_update(kept, startxref=newest),
        "startxref points past the end": _with_update(kept, startxref=10**7),
        "kept bytes changed before the new revision": longer[:200] + b"X" + longer[201:],
        "newest kept section changed": longer[: newest + 12] + b"9" + longer[newest + 13 :],
        "garbage appended": kept + b"garbage\n",
        "truncated new revision": longer[: (len(kept) + len(longer)) // 2],
    }
    for i in range(40):  # bytes of the new revision changed at random
        data = bytearray(longer)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(kept), len(longer))] = rng.choice(b"0123456789 /<>[]xrefRtrailer\n")
        corpus[f"random change {i}"] = bytes(data)
    for name, pdf in corpus.items():
        patches.forget_readings()
        stock = _reading(pdf, stock=True)
        _reading(kept, stock=False)  # read and kept, as an accepted file is
        assert patches._continued(pdf) is not None or not pdf.startswith(kept), name
        assert _reading(pdf, stock=False) == stock, name
        assert _reading(pdf, stock=False) == stock, name  # and read again, from its own kept reading
    # the genuine continuation: one section parsed, the rest taken
    parsed = []
    original = pdf_xref.XRefBuilder._read_xref_table

    def counting(self: object, declared: int) -> object:
        parsed.append(declared)
        return original(self, declared)  # type: ignore[arg-type]

    patches.forget_readings()
    _reading(kept, stock=False)
    pdf_xref.XRefBuilder._read_xref_table = counting  # type: ignore[method-assign]
    try:
        _reading(longer, stock=False)
    finally:
        pdf_xref.XRefBuilder._read_xref_table = original  # type: ignore[method-assign]
    assert parsed == [_startxref(longer)]


def test_continued_reading_keeps_only_clean_files() -> None:
    """Files with repaired offsets, cross-reference streams or encryption are not kept (read from the start)."""
    import pikepdf

    files = _chain(1)
    patches.forget_readings()
    _reading(files[1], stock=False)
    assert patches._continued(files[1]) is not None
    patches.forget_readings()
    shifted = _with_update(files[1], startxref=len(files[1]) + 1)  # startxref one byte off: pyHanko repairs it
    _reading(shifted, stock=False)
    assert patches._continued(shifted) is None
    for kind in ("streams", "encrypted"):
        pdf = pikepdf.open(io.BytesIO(files[0]))
        buffer = io.BytesIO()
        if kind == "streams":
            pdf.save(buffer, object_stream_mode=pikepdf.ObjectStreamMode.generate)
        else:
            pdf.save(buffer, encryption=pikepdf.Encryption(owner="o", user="", R=4))
        patches.forget_readings()
        _reading(buffer.getvalue(), stock=False)
        assert patches._continued(buffer.getvalue()) is None, kind


def test_byte_range_digest_continued_same_as_pyhankos() -> None:
    """The digest of a byte range of a file read as the continuation of a kept one: pyHanko's own, for the ranges
    a signature has and for ranges that are not (past the end, negative, not from 0, inside the kept bytes, other
    algorithms)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    files = _chain(3)
    kept, pdf = files[2], files[3]
    patches.forget_readings()
    PdfFileReader(io.BytesIO(kept), strict=False)
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    assert patches._prefixes.get(reader.stream) is not None  # read as the continuation of `kept`
    n, k = len(pdf), len(kept)
    rng = random.Random(9)
    ranges = [
        [0, k + 10, k + 50, n - k - 50],  # a signature's: from 0 to its hole, then to the end
        [0, n, n, 0],
        [0, k, k, n - k],
        [0, k - 1, k + 5, 10],  # the first part ends inside the kept bytes
        [1, k + 10, k + 50, 3],  # does not start at 0
        [0, k + 10, k + 50, 10**6],  # past the end
        [0, k + 10, n + 100, 5],
        [0, k + 10, -5, 5],
        [0, k + 10, k + 20, -3],
        [0, k + 10, k + 50],
        [0, k + 10, k + 50, 5, 7, 1],
    ]
    ranges += [[0, rng.randint(k, n), rng.randint(0, n), rng.randint(0, n)] for _ in range(60)]
    for byte_range in ranges:
        for algorithm in ("sha256", "sha512", "sha1"):
            try:
                theirs: object = patches._original_range_digest(reader.stream, byte_range, algorithm)
            except Exception as exc:  # noqa: BLE001  the error itself is what is compared
                theirs = type(exc).__name__
            try:
                ours: object = patches.byte_range_digest_continuing(reader.stream, byte_range, algorithm)
            except Exception as exc:  # noqa: BLE001
                ours = type(exc).__name__
            assert ours == theirs, (byte_range, algorithm)
    # the state kept for the continuation is SHA-256 over its bytes, carried on from the kept one
    import hashlib

    continued = patches._continued(pdf)
    assert continued is not None and continued.data == pdf
    assert continued.sha256 is not None and continued.sha256.copy().finalize() == hashlib.sha256(pdf).digest()


def test_kept_readings_two_per_document_and_bounded() -> None:
    """Reading a document's revisions one after another keeps the two newest of them (the accepted file and the one
    before it), not one per revision; and what is kept stays under its byte budget."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    files = _chain(5)
    patches.forget_readings()
    for pdf in files:
        PdfFileReader(io.BytesIO(pdf), strict=False)
    kept = sorted(len(r.data) for r in patches._readings.values())
    assert kept == [len(files[-2]), len(files[-1])]
    saved = patches.KEPT_BYTES
    patches.KEPT_BYTES = len(files[-1]) + 10
    try:
        patches.forget_readings()
        for pdf in (files[0], _chain(1)[1], files[1]):
            PdfFileReader(io.BytesIO(pdf), strict=False)
        assert sum(len(r.data) for r in patches._readings.values()) <= patches.KEPT_BYTES
        assert patches._continued(files[1]) is not None  # the newest one stays
    finally:
        patches.KEPT_BYTES = saved
        patches.forget_readings()
