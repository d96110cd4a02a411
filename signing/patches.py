"""pyHanko's and asn1crypto's internals, fenced in this one module. Each patch is installed explicitly by the
entry points (`covenant`, the web app, the Celery worker, the benchmarks: `install()`), never by `import signing`,
and each has a test against the library's own behaviour (tests/test_patches.py, tests/test_signers.py).
pyproject.toml pins pyHanko, pyhanko-certvalidator and asn1crypto to the minor versions these were tested with.

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
so it is kept per DER (a bounded table); a name whose encoding differs is computed afresh. Name equality (RFC 5280
§ 7.1, the same preparation of every attribute) is likewise a function of the two encodings: pyHanko compares the
issuer of each signer, timestamp and certificate of a CMS with every certificate it carries, ~17,000 times in a
66-signature archive. Two names with the same DER are equal; otherwise asn1crypto's answer is kept per pair.

3. Kept signed attributes and a kept key (`KeptAttributes`, `KeptKeySigner`): subclasses of pyHanko's Signer
that keep the PAdES signed attributes pyHanko built once in their encoded form, and the parsed private key
(not a patch: used only by our own signers; tests/test_signers.py checks the CMS is byte for byte pyHanko's).

4. Dense object numbering in pyHanko's incremental writer. pyHanko 0.38 starts numbering an update's new objects
at the previous trailer's /Size + 1 (`obj_id_start=/Size`, then `_lastobj_id + 1`), so every update leaves the
number /Size unused: a free hole below the next /Size. Other signing tools fill such holes (poppler's pdfsig puts
its signature dictionary there), and pyHanko's own difference analysis then refuses their signature ("references an
existing object"). Numbering from /Size itself leaves no hole; the objects and the file are otherwise pyHanko's.

5. /DigestMethod in the DocMDP signature reference. pyHanko writes the certification's /Reference without it (ISO
32000 marks it optional); endesive, which signs the fields of a certified file, stops at its absence. pyHanko's
`SigMDPSetup` already carries the digest algorithm ("to write into the signature reference dictionary"): it is
written, named as ISO 32000-2 names it (/SHA256).

6. What pyHanko's long-term validation reads from the whole file, read once per file. `ades_lta_validation`, run
for each signature, first gathers the file's Document Security Store (every certificate, CRL and OCSP response in
it) and the proof-of-existence index of its document timestamps (each timestamp's revision and the DSS as it was
then) — the same for every signature of one file, and growing with the signatures: the verification of a file was
quadratic in its signatures (a 66-signature package: 67 ms per signature, against 38 ms at 12). Both functions
read only the reader they are given, which does not change (a PdfFileReader over bytes); their results are kept per
reader (weakly: dropped with it) and handed out as fresh lists, so that no caller shares a list it could change.
The certificates are then the same objects from one signature to the next, and asn1crypto's parse of each is kept.

7. `xref_sections(reader)`: the cross-reference sections pyHanko parsed, as written (signing/revisions.py judges
each revision by what its own section writes; pyHanko has no public accessor for them).

8. A file that continues one already read is read from where that one ended. An incremental PDF is read from its
last cross-reference section back through every /Prev: pyHanko parses every section and trailer of the file each
time it opens it (0.13 ms a revision: 8 ms of a signature's acceptance at the 61st signature, growing with each).
A signature's submission is the accepted file plus one or two revisions, and the accepted file was read when it was
accepted. The sections and trailers pyHanko parsed are kept for the last files read (their bytes with them; 12 MB,
two per document, at most); when pyHanko, reading a new file back along its /Prev chain, reaches the very position
where a kept file's newest section starts, and the new file begins with that kept file's bytes, the rest of the
chain is the kept one: the same bytes at the same offsets, parsed by the same code, give the same sections (pyHanko's
sections are never changed after they are read; the trailers are copied onto the new reader). Only files read
cleanly are kept: every section a plain cross-reference table exactly where its startxref points (no repaired
offsets, no cross-reference streams, no hybrid sections, no encryption); anything else is read by pyHanko from the
start, as before. The test reads a corpus both ways and compares every section and trailer (tests/test_patches.py).

9. A signature's digest goes on from the SHA-256 of the file it continues. pyHanko hashes a signature's /ByteRange
(the whole file but the /Contents hole) when it validates it: 1 ms at the 61st signature of a 60-unit covenant,
growing with the file. A kept reading (piece 8) carries the SHA-256 state of its bytes, itself carried on from the
reading it continued (only the new bytes hashed); a file read as its continuation hashes [0, a) ∪ [b, b + c) as
that state copied plus the bytes from the end of the kept ones. Only SHA-256 and a byte range of two parts that
starts at 0 and covers the kept bytes; anything else is pyHanko's own. The test compares both on many byte ranges.
"""

from __future__ import annotations

import binascii
import copy
import dataclasses
import io
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

from asn1crypto import cms, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils import reader as pdf_reader
from pyhanko.pdf_utils import xref as pdf_xref
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import DEFAULT_CHUNK_SIZE, PDF_WHITESPACE
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.general import get_pyca_cryptography_hash, simple_cms_attribute
from pyhanko.sign.signers.cms_embedder import SigMDPSetup
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import ades, pdf_embedded

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
    value: str = _original_hashable(name)
    if len(_hashables) >= _HASHABLES_KEPT:
        _hashables.clear()
    _hashables[der] = value
    return value


_original_name_hashable = x509.Name.hashable
_original_name_eq = x509.Name.__eq__
_equalities: dict[tuple[bytes, bytes], bool] = {}


def name_eq(self: x509.Name, other: object) -> bool:
    if not isinstance(other, x509.Name):
        return False
    key = (self.dump(), other.dump())
    if key[0] == key[1]:
        return True
    try:
        return _equalities[key]
    except KeyError:
        pass
    value: bool = _original_name_eq(self, other)
    if len(_equalities) >= _HASHABLES_KEPT:
        _equalities.clear()
    _equalities[key] = value
    return value


_original_writer_init = IncrementalPdfFileWriter.__init__


def dense_writer_init(self: IncrementalPdfFileWriter, *args: Any, **kwargs: Any) -> None:
    _original_writer_init(self, *args, **kwargs)
    try:
        size = self.trailer["/Size"]
    except KeyError:
        return
    if isinstance(size, int) and size > 0 and self._lastobj_id == size:  # pyHanko's own start: /Size + 1 next
        self._lastobj_id = size - 1


_original_mdp_apply = SigMDPSetup.apply
DIGEST_NAMES = {"sha1": "/SHA1", "sha256": "/SHA256", "sha384": "/SHA384", "sha512": "/SHA512"}


def mdp_apply_with_digest(self: SigMDPSetup, sig_obj_ref: generic.IndirectObject, writer: Any) -> None:
    _original_mdp_apply(self, sig_obj_ref, writer)
    digest = DIGEST_NAMES.get(self.md_algorithm.lower())
    signature = sig_obj_ref.get_object()
    if digest is None or "/Reference" not in signature:
        return
    for reference in signature["/Reference"]:
        reference = reference.get_object()
        if reference.get("/TransformMethod") == "/DocMDP" and "/DigestMethod" not in reference:
            reference[generic.NameObject("/DigestMethod")] = generic.NameObject(digest)


_original_dss_knowledge = ades._dss_to_local_knowledge
_original_poe_index = ades._build_prima_facie_poe_index_from_pdf_timestamps
_dss_kept: weakref.WeakKeyDictionary[PdfFileReader, Any] = weakref.WeakKeyDictionary()
_poe_kept: weakref.WeakKeyDictionary[PdfFileReader, dict[tuple[bool, int], tuple[Any, list[Any]]]] = (
    weakref.WeakKeyDictionary()
)


def dss_knowledge_once(reader: PdfFileReader) -> Any:
    kept = _dss_kept.get(reader)
    if kept is None:
        kept = _dss_kept[reader] = _original_dss_knowledge(reader)
    return dataclasses.replace(
        kept,
        known_ocsps=list(kept.known_ocsps),
        known_crls=list(kept.known_crls),
        known_certs=list(kept.known_certs),
        known_poes=list(kept.known_poes),
        nonrevoked_assertions=list(kept.nonrevoked_assertions),
    )


def poe_index_once(r: PdfFileReader, include_content_ts: bool, diff_policy: Any) -> list[Any]:
    per_reader = _poe_kept.setdefault(r, {})
    key = (include_content_ts, id(diff_policy))
    kept = per_reader.get(key)
    if kept is None or kept[0] is not diff_policy:  # the policy itself is kept too: its id is never reused
        kept = per_reader[key] = (diff_policy, _original_poe_index(r, include_content_ts, diff_policy))
    return list(kept[1])


# --- 8. a file that continues one already read ------------------------------------------------------------------
_original_read_xrefs = pdf_reader._read_xrefs_and_trailer
# The files whose parsed sections are kept, two per document: a worker accepts into a few documents at a time (two
# per round: the covenant and the minutes, 0.4 MB each at 6 units, 1.6 MB at 60 when all have signed).
KEPT_READINGS = 16
KEPT_BYTES = 12 * 1024 * 1024


@dataclasses.dataclass
class _Reading:
    data: bytes
    sections: list[Any]  # pyHanko's XRefSection objects, oldest first
    trailers: list[generic.DictionaryObject]  # as pyHanko read them, newest first
    last_startxref: int
    sha256: Any = None  # SHA-256 over `data`, carried on (cryptography's Hash, copied before use), once continued
    parent: int | None = None  # the kept reading it continued (its key)

    def digest_state(self) -> Any:
        if self.sha256 is None:
            state = hashes.Hash(hashes.SHA256())
            state.update(self.data)
            self.sha256 = state
        return self.sha256


_readings: OrderedDict[int, _Reading] = OrderedDict()  # id → reading, least recently used first
_readings_lock = threading.Lock()


def _clean(data: bytes, builder: Any) -> bool:
    """Read without any repair: every section a plain table at its startxref, nothing encrypted."""
    if builder.has_xref_stream:
        return False
    for section in builder.sections:
        meta = section.meta_info
        if meta.xref_section_type != pdf_xref.XRefSectionType.STANDARD or section.xref_data.hybrid is not None:
            return False
        at = meta.declared_startxref
        if data[at : at + 4] != b"xref" or meta.start_location != at + 5 or meta.end_location > len(data):
            return False
    return not any("/Encrypt" in t or "/XRefStm" in t for t in builder.trailer._trailer_revisions)


def _continued(data: bytes) -> _Reading | None:
    """The kept reading of the longest file that `data` continues (or is)."""
    with _readings_lock:
        candidates = list(_readings.values())
    best = None
    for reading in candidates:
        if len(reading.data) <= len(data) and (best is None or len(reading.data) > len(best.data)):
            if data.startswith(reading.data):
                best = reading
    return best


def _keep(reading: _Reading) -> None:
    with _readings_lock:
        for key, kept in list(_readings.items()):
            if kept.data == reading.data:
                _readings.move_to_end(key)
                return
        # a document's chain keeps its two newest readings (the accepted file and the one before it: a refused
        # submission must not cost the next one its continuation), not every revision's
        parent = _readings.get(reading.parent) if reading.parent is not None else None
        if parent is not None and parent.parent is not None:
            _readings.pop(parent.parent, None)
        _readings[id(reading)] = reading
        while len(_readings) > 1 and (
            len(_readings) > KEPT_READINGS or sum(len(r.data) for r in _readings.values()) > KEPT_BYTES
        ):
            _readings.popitem(last=False)


def _trailer_copy(obj: Any, owner: Any) -> Any:
    """A trailer value read by one reader, as the new reader would have read it (its references resolve in the new
    reader, its container is the new reader's trailer). Built directly: a trailer holds few kinds of object."""
    kind = type(obj)
    out: Any
    if kind is generic.IndirectObject:
        out = generic.IndirectObject(obj.idnum, obj.generation, owner.get_pdf_handler())
    elif kind is generic.DictionaryObject:
        out = generic.DictionaryObject()
        dict.update(out, {k: _trailer_copy(v, owner) for k, v in dict.items(obj)})  # keys are names already
    elif kind is generic.ArrayObject:
        out = generic.ArrayObject([_trailer_copy(v, owner) for v in list.__iter__(obj)])
    elif isinstance(obj, (int, str, bytes)):  # numbers, names, strings: what copy.copy does, without its machinery
        out = kind.__new__(kind, obj)
        out.__dict__.update(obj.__dict__)
    else:
        out = copy.copy(obj)
    out.container_ref = owner
    return out


class _ContinuingBuilder(pdf_xref.XRefBuilder):
    """pyHanko's own reader of the /Prev chain, which takes a kept reading's sections where it reaches the very
    position that reading's newest section starts at (the same bytes: the same sections)."""

    def __init__(self, *args: Any, reading: _Reading | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading = reading
        self.taken: _Reading | None = None  # the kept reading whose sections this one took

    def _read_xref_table(self, declared_startxref: int) -> Any:
        reading = self.reading
        if reading is not None:
            newest = reading.sections[-1].meta_info
            seen = {s.meta_info.start_location for s in self.sections}
            if (
                declared_startxref == reading.last_startxref == newest.declared_startxref
                and self.stream.tell() == newest.start_location
                and not seen & {s.meta_info.start_location for s in reading.sections}
            ):
                self.reading = None
                self.taken = reading
                self.sections.extend(reversed(reading.sections))
                owner = self.trailer.container_ref
                for trailer in reading.trailers:
                    self.trailer.add_trailer_revision(_trailer_copy(trailer, owner))
                return None  # the chain ends where the kept one ended
        return super()._read_xref_table(declared_startxref)


def read_xrefs_continuing(stream: Any, handler_ref: Any, strict: bool) -> tuple[Any, Any]:
    if strict or not isinstance(stream, io.BytesIO):
        return _original_read_xrefs(stream, handler_ref, strict)
    data = stream.getvalue()
    stream.seek(-1, os.SEEK_END)
    last_startxref = pdf_reader.process_data_at_eof(stream)
    builder = _ContinuingBuilder(
        handler=handler_ref, stream=stream, strict=strict, last_startxref=last_startxref, reading=_continued(data)
    )
    sections = builder.read_xrefs()
    if builder.taken is not None:
        _prefixes[stream] = builder.taken  # the digest of a signature's byte range goes on from its SHA-256
    if _clean(data, builder):
        unowned = generic.TrailerReference(None)  # kept apart from this reader (and its copy of the bytes)
        read = builder.trailer._trailer_revisions
        taken = builder.taken.trailers if builder.taken is not None else []
        trailers = [_trailer_copy(t, unowned) for t in read[: len(read) - len(taken)]] + taken
        reading = _Reading(data, sections, trailers, last_startxref)
        if builder.taken is not None:  # hashed on from the reading it continues: only the new bytes
            reading.parent = id(builder.taken)
            reading.sha256 = builder.taken.digest_state().copy()
            reading.sha256.update(data[len(builder.taken.data) :])
        _keep(reading)
    return pdf_xref.XRefCache(handler_ref, sections), builder


# --- 9. a signature's digest over a file that continues one already read ------------------------------------------
_original_range_digest = pdf_embedded.byte_range_digest
_prefixes: weakref.WeakKeyDictionary[Any, _Reading] = weakref.WeakKeyDictionary()  # a reader's stream → its prefix


def byte_range_digest_continuing(
    stream: Any, byte_range: Any, md_algorithm: str, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> tuple[int, bytes]:
    """pyHanko's digest of a signature's /ByteRange ([0, a) and [b, b + c) of the file), going on from the SHA-256
    of the bytes the file continues (piece 8) instead of hashing them again; anything else is pyHanko's."""
    prefix = _prefixes.get(stream)
    ranges = list(byte_range)
    if prefix is None or md_algorithm != "sha256" or len(ranges) != 4:
        return _original_range_digest(stream, ranges, md_algorithm, chunk_size)
    try:
        lo0, len0, lo1, len1 = (int(x) for x in ranges)
    except (TypeError, ValueError):
        return _original_range_digest(stream, ranges, md_algorithm, chunk_size)
    known = len(prefix.data)
    if lo0 != 0 or min(lo0, len0, lo1, len1) < 0 or len0 < known:
        return _original_range_digest(stream, ranges, md_algorithm, chunk_size)
    md = prefix.digest_state().copy()
    stream.seek(known)
    md.update(stream.read(len0 - known))
    stream.seek(lo1)
    md.update(stream.read(len1))
    return len0 + len1, md.finalize()


def forget_readings() -> None:
    with _readings_lock:
        _readings.clear()
        _prefixes.clear()


def install() -> None:
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    x509.Name.hashable = property(name_hashable, doc=_original_name_hashable.__doc__)
    x509.Name.__eq__ = name_eq
    IncrementalPdfFileWriter.__init__ = dense_writer_init  # type: ignore[method-assign]
    SigMDPSetup.apply = mdp_apply_with_digest  # type: ignore[method-assign]
    ades._dss_to_local_knowledge = dss_knowledge_once
    ades._build_prima_facie_poe_index_from_pdf_timestamps = poe_index_once
    pdf_reader._read_xrefs_and_trailer = read_xrefs_continuing
    pdf_embedded.byte_range_digest = byte_range_digest_continuing


def uninstall() -> None:
    """pyHanko and asn1crypto as they come (bench/archive.py measures its baseline so)."""
    generic.read_hex_string_from_stream = _original_reader
    x509.Name.hashable = _original_name_hashable
    x509.Name.__eq__ = _original_name_eq
    IncrementalPdfFileWriter.__init__ = _original_writer_init  # type: ignore[method-assign]
    SigMDPSetup.apply = _original_mdp_apply  # type: ignore[method-assign]
    ades._dss_to_local_knowledge = _original_dss_knowledge
    ades._build_prima_facie_poe_index_from_pdf_timestamps = _original_poe_index
    pdf_reader._read_xrefs_and_trailer = _original_read_xrefs
    pdf_embedded.byte_range_digest = _original_range_digest
    forget_readings()


def xref_sections(reader: PdfFileReader) -> list[Any]:
    """The cross-reference sections of a file as pyHanko parsed them (a private attribute of its XRefCache)."""
    sections: list[Any] = reader.xrefs._xref_sections  # no public accessor
    return sections


# What pyHanko puts in a PAdES signature's signed attributes when no CAdES extras are asked for.
PADES_FIXED_ATTRIBUTES = {"content_type", "message_digest", "signing_certificate_v2"}


class KeptAttributes(signers.Signer):
    """Keeps pyHanko's PAdES signed attributes encoded. pyHanko builds them from Python values for every
    signature (content type, message digest, signing-certificate-v2 over the signer's certificate), and asn1crypto
    re-encodes a built value on every dump: ~17 ms of a signature's CMS. In PAdES only the message digest changes
    from one signature to the next, so the attributes pyHanko built once are kept in their encoded form and the
    digest is put in place; tests/test_signers.py checks the result is byte for byte pyHanko's."""

    _attribute_templates: dict[tuple[str, str, bool], list[cms.CMSAttribute]]

    async def signed_attrs(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        attr_settings: PdfCMSSignedAttributes | None = None,
        content_type: str = "data",
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        dry_run: bool = False,
        is_pdf_sig: bool = True,
    ) -> cms.CMSAttributes:
        def pyhankos_own() -> Awaitable[cms.CMSAttributes]:
            return super(KeptAttributes, self).signed_attrs(
                data_digest, digest_algorithm, attr_settings, content_type, use_pades, timestamper, dry_run, is_pdf_sig
            )

        cades = getattr(attr_settings, "cades_signed_attrs", None)
        if not use_pades or cades is not None or self.signed_attr_prov_spec is not None:
            return await pyhankos_own()  # may carry a signing time, a content timestamp, a commitment
        templates = self.__dict__.setdefault("_attribute_templates", {})
        key = (digest_algorithm, content_type, is_pdf_sig)
        if key not in templates:
            built = await pyhankos_own()
            template = [cms.CMSAttribute.load(attribute.dump()) for attribute in built]  # encoded once
            if {a["type"].native for a in template} != PADES_FIXED_ATTRIBUTES:
                return built
            templates[key] = template
        digest = cms.CMSAttribute.load(simple_cms_attribute("message_digest", data_digest).dump())
        return cms.CMSAttributes([digest if a["type"].native == "message_digest" else a for a in templates[key]])


class KeptKeySigner(KeptAttributes, signers.SimpleSigner):
    """pyHanko's SimpleSigner re-parses (and re-validates) its private key for every signature, about 80 ms for
    an RSA-2048 key against well under 1 ms for the signing operation itself; this one parses it once.

    `validated`: the base signer's key was read by `cryptography` a moment ago (pyHanko's load_pkcs12 reads it with
    pkcs12.load_key_and_certificates, which checks an RSA key whole), so the same bytes are not checked a second
    time (OpenSSL's RSA key check: ~40 ms, for each leader who unlocks a key)."""

    def __init__(self, base: signers.SimpleSigner, validated: bool = False) -> None:
        super().__init__(
            signing_cert=base.signing_cert,
            signing_key=base.signing_key,
            cert_registry=base.cert_registry,
            signature_mechanism=base.signature_mechanism,
        )
        self._key = serialization.load_der_private_key(
            base.signing_key.dump(), password=None, unsafe_skip_rsa_key_validation=validated
        )

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hash_algo)
        if mechanism == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hash_algo))
        return super().sign_raw(data, digest_algorithm)  # other schemes: pyHanko's own path
