"""Each revision judged against the one just before it: the rule that keeps every accepted signature exactly as
its signer made it.

After the secretariat's certification, a covenant document only ever grows by revisions of three kinds:

- **signature**: one signature field that was empty is filled (its `/V` set to a new signature dictionary, its
  widget given an appearance), nothing else changes;
- **validation data**: the Document Security Store grows (certificates, CRLs, OCSP responses, VRI), the document
  information and XMP metadata may be rewritten;
- **document timestamp**: one new, invisible field holding a `/DocTimeStamp`, appended to the form's `/Fields` and
  to a page's `/Annots`.

A revision is judged by what its own cross-reference section writes (O(size of the revision)): every object it
overwrites must be one of those few, changed only in the keys its kind may change, and every object it adds must be
reachable from what it legitimately added (no orphan that an old dangling reference could pick up). Because each
revision was judged against the one before it, the whole chain holds by induction: an earlier signer's field,
widget, appearance and signature dictionary are never overwritten, so they stay byte for byte as signed.

This is stricter than pyHanko's own difference analysis (which compares every later revision with each
signature's revision, n²/2 comparisons, each indexing the whole older revision); the test corpus in
`tests/test_forgery_corpus.py` checks that everything pyHanko refuses is refused here too.

It reads pyHanko's cross-reference bookkeeping (`XRefCache` sections), which pyHanko calls internal: that is why
pyproject.toml bounds pyHanko from above, and why this module is the only one that touches it.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.pdf_utils.xref import XRefSectionType

from signing.errors import Refused
from signing.patches import xref_sections

# What a signer's tool may change on the field it fills (pyHanko's VALUE_UPDATE_KEYS): the value, the appearance
# and its state, the widget's flags, default appearance and quadding, the field flags, and /Type set to /Annot;
# and the annotation's modification date /M, which poppler sets (the reference policy allows it too:
# signing/reference.py).
FILLED_FIELD_KEYS = frozenset({"/V", "/AP", "/AS", "/F", "/DA", "/Q", "/Ff", "/Type", "/M"})
CATALOG_KEYS = frozenset({"/DSS", "/Extensions"})
ACROFORM_KEYS = frozenset({"/SigFlags", "/Fields"})
# Bounds on what one revision may bring: a signature needs a few dozen objects (dictionary, appearance, an image
# or two, validation data); a revision with more is refused before anything is resolved.
MAX_OBJECTS_PER_REVISION = 5000
MAX_WALK = 20000
MAX_STAMP_CONTENT = 2 * 1024 * 1024  # decoded bytes of a stamp's content streams (ours: ~3 KB)
MAX_STAMP_OPERATORS = 20000  # drawing operators in a stamp (ours: ~150)
MAX_STAMP_PIXELS = 16 * 1024 * 1024  # pixels of a stamp's images (a seal at 600 dpi: ~1 M)
_OPERATOR = re.compile(rb"(?<![A-Za-z0-9/#.\\])(?:[A-Za-z]{1,3}\*?|'|\")(?![A-Za-z0-9])")
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


@dataclass(frozen=True)
class Verdict:
    revision: int
    kind: str  # signature | validation-data | document-timestamp | refused
    field: str | None = None  # the field filled (signature) or added (document timestamp)
    problem: str | None = None
    host: str | None = None  # a signature in a new field: the empty prepared field whose block it lies in
    code: str = "signature.modified"  # the refusal's code (signing/errors.py, workflow/texts.py)
    harmed: tuple[str, ...] = ()  # fields already signed whose objects this revision changed
    ref: tuple[int, int] | None = None  # the object number and generation of `field`

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class _Field:
    name: str
    ref: generic.Reference
    is_sig: bool
    signed: bool
    widgets: list[generic.Reference] = field(default_factory=list)  # separate widget objects (kids)


def _raw(obj: Any) -> Any:
    """The object itself, a reference followed (typed Any: pyHanko's own types do not tell dict from array)."""
    return obj.get_object() if isinstance(obj, generic.IndirectObject) else obj


def same(a: Any, b: Any) -> bool:
    """Structural equality of two PDF objects, references compared by number (not followed)."""
    if isinstance(a, generic.IndirectObject) or isinstance(b, generic.IndirectObject):
        return (
            isinstance(a, generic.IndirectObject)
            and isinstance(b, generic.IndirectObject)
            and (a.idnum, a.generation) == (b.idnum, b.generation)
        )
    if isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject):
        if not (isinstance(a, generic.StreamObject) and isinstance(b, generic.StreamObject)):
            return False
        return _same_dict(a, b) and a.encoded_data == b.encoded_data
    if isinstance(a, generic.DictionaryObject):
        return isinstance(b, generic.DictionaryObject) and _same_dict(a, b)
    if isinstance(a, generic.ArrayObject):
        return (
            isinstance(b, generic.ArrayObject)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, generic.NullObject) or a is None:
        return isinstance(b, generic.NullObject) or b is None
    if isinstance(a, generic.BooleanObject):
        return isinstance(b, generic.BooleanObject) and bool(a) == bool(b)
    if isinstance(a, (generic.NumberObject, generic.FloatObject)):
        return (
            isinstance(b, (generic.NumberObject, generic.FloatObject))
            and not isinstance(b, generic.BooleanObject)
            and a == b
        )
    if isinstance(a, generic.NameObject):
        return isinstance(b, generic.NameObject) and str(a) == str(b)
    if isinstance(a, (generic.TextStringObject, generic.ByteStringObject)):
        return (
            isinstance(b, (generic.TextStringObject, generic.ByteStringObject)) and a.original_bytes == b.original_bytes
        )
    return type(a) is type(b) and a == b


def _same_dict(a: generic.DictionaryObject, b: generic.DictionaryObject, ignore: frozenset[str] = frozenset()) -> bool:
    keys = {str(k) for k in a.keys()} | {str(k) for k in b.keys()}
    for key in keys - ignore:
        if (key in a) != (key in b):
            return False
        if key in a and not same(a.raw_get(key), b.raw_get(key)):
            return False
    return True


def _changed_keys(a: generic.DictionaryObject, b: generic.DictionaryObject) -> set[str]:
    keys = {str(k) for k in a.keys()} | {str(k) for k in b.keys()}
    return {k for k in keys if (k in a) != (k in b) or (k in a and not same(a.raw_get(k), b.raw_get(k)))}


def _refs_in(obj: generic.PdfObject) -> Iterator[generic.IndirectObject]:
    """The references directly inside an object (through its direct dictionaries and arrays)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, generic.IndirectObject):
            yield item
        elif isinstance(item, generic.DictionaryObject):  # streams too: their dictionary
            stack.extend(item.raw_get(k) for k in item.keys())
        elif isinstance(item, generic.ArrayObject):
            stack.extend(item)


class RevisionJudge:
    """Verdicts on the revisions of one file, each computed once."""

    def __init__(self, reader: PdfFileReader) -> None:
        self.reader = reader
        self._verdicts: dict[int, Verdict] = {}
        self._introduced: dict[int, int] | None = None

    # --- cross-reference bookkeeping (pyHanko internals, fenced here) -----------------------------------------
    def _sections(self) -> list[Any]:
        return xref_sections(self.reader)

    def introduced(self) -> dict[int, int]:
        """Object number → the first revision whose cross-reference section lists it."""
        if self._introduced is None:
            found: dict[int, int] = {}
            for number, section in enumerate(self._sections()):
                for data in (
                    section.xref_data,
                    *([section.xref_data.hybrid.xref_data] if section.xref_data.hybrid else []),
                ):
                    for idnum in (*data.standard_xrefs, *data.xrefs_in_objstm):
                        found.setdefault(idnum, number)
            self._introduced = found
        return self._introduced

    def earlier_signatures_rewritten(self, first: int) -> list[int]:
        """The objects of revision `first - 1` that a revision from `first` on writes again (or frees) and that
        there were an earlier signature: a filled signature field, or a signature dictionary. By what is written,
        not by walking the form: O(the new revisions).

        It finds at least what the whole-form walk did (every filled signature field's object and its value's, not
        written since): a filled signature field has /V and either /FT /Sig or no /FT of its own (it may inherit
        one); its value was accepted as a signature or a document timestamp (or is the certification), so it has
        /ByteRange and /Contents. Each revision is also judged by the rule (`verdict`), which refuses changing
        them; this refuses even writing them again unchanged."""
        before = self.reader.get_historical_resolver(first - 1)
        introduced = self.introduced()
        found: list[int] = []
        for section in self._sections()[first:]:
            data = section.xref_data
            for idnum in sorted({*data.standard_xrefs, *data.xrefs_in_objstm, *data.freed}):
                if introduced.get(idnum, first) >= first:
                    continue  # new in these revisions
                try:
                    obj = before.get_object(generic.Reference(idnum, 0, self.reader))
                except (generic.PdfError, ValueError, KeyError, TypeError, IndexError):
                    continue
                if not isinstance(obj, generic.DictionaryObject) or isinstance(obj, generic.StreamObject):
                    continue
                own_type = _name(obj.get("/FT")) if "/FT" in obj else None
                field = "/V" in obj and own_type in (None, "/Sig")
                value = ("/ByteRange" in obj and "/Contents" in obj) or _name(obj.get("/Type")) in (
                    "/Sig",
                    "/DocTimeStamp",
                )
                if field or value:
                    found.append(idnum)
        return found

    def verdict(self, revision: int) -> Verdict:
        known = self._verdicts.get(revision)
        if known is None:
            try:
                known = self._judge(revision)
            except Refused as exc:
                known = Verdict(
                    revision, "refused", problem=f"revision {revision + 1}: {exc}", harmed=exc.harmed, code=exc.code
                )
            except (generic.PdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
                known = Verdict(revision, "refused", problem=f"revision {revision + 1} cannot be read: {exc}")
            self._verdicts[revision] = known
        return known

    # --- the rule ---------------------------------------------------------------------------------------------
    def _judge(self, k: int) -> Verdict:
        if k < 1:
            raise Refused("the first revision has nothing to be compared with")
        section = self._sections()[k]
        meta, data = section.meta_info, section.xref_data
        if data.hybrid is not None or meta.xref_section_type in (
            XRefSectionType.HYBRID_MAIN,
            XRefSectionType.HYBRID_STREAM,
        ):
            raise Refused("hybrid cross-reference sections are not accepted in an incremental update")
        introduced = self.introduced()
        written = set(data.standard_xrefs) | set(data.xrefs_in_objstm)
        if len(written) > MAX_OBJECTS_PER_REVISION:
            raise Refused(f"the revision writes {len(written)} objects (at most {MAX_OBJECTS_PER_REVISION})")
        for idnum, (generation, _) in data.standard_xrefs.items():
            if generation != 0:
                raise Refused(
                    f"object {idnum} is written with generation {generation} (the signing tool reused an object "
                    "number instead of adding a new object)"
                )
        freed = [idnum for idnum, gen in data.freed.items() if gen > 0 and introduced.get(idnum, k) < k]
        if freed:
            raise Refused(f"the revision deletes objects {sorted(freed)[:10]}")
        # A revision's objects lie in its own bytes: after the revision before it, before its own xref section.
        previous_end = self._sections()[k - 1].meta_info.end_location
        offsets = [offset for _generation, offset in data.standard_xrefs.values()]
        misplaced = [o for o in offsets if not previous_end < o <= meta.start_location]
        if misplaced:
            raise Refused(
                f"the revision's cross-reference section points outside its own bytes (offset {misplaced[0]})"
            )
        self._check_gaps_in_bytes(previous_end, meta.start_location, [*offsets, meta.start_location])
        old, new = self.reader.get_historical_resolver(k - 1), self.reader.get_historical_resolver(k)
        overwritten = sorted(i for i in written if introduced.get(i, k) < k)
        added = {i for i in written if introduced.get(i, k) >= k}
        structural = set(data.obj_streams_used)
        if meta.stream_ref is not None:
            structural.add(meta.stream_ref.idnum)
        judgement = _Judgement(self, k, old, new, overwritten, added, structural)
        verdict = judgement.run()
        if verdict.kind == "signature" and judgement.signed_ref is not None:
            self._check_gap(new, verdict, judgement.signed_ref, [*offsets, meta.start_location])
        return verdict

    def _check_gaps_in_bytes(self, begin: int, end: int, offsets: list[int]) -> None:
        """Before anything is parsed: the holes of the byte ranges written in the revision's own bytes."""
        stream = self.reader.stream
        position = stream.tell()
        try:
            stream.seek(begin)
            data = stream.read(max(0, end - begin))
        finally:
            stream.seek(position)
        for match in _BYTE_RANGE.finditer(data):
            start, length, gap_end = int(match.group(1)), int(match.group(2)), int(match.group(3))
            if any(start + length <= offset < gap_end for offset in offsets):
                raise Refused("an object of the revision lies inside the unsigned gap of its signature")

    @staticmethod
    def _check_gap(new: HistoricalResolver, verdict: Verdict, field_ref: generic.Reference, offsets: list[int]) -> None:
        """No object of a signing revision may lie in the part of the file its signature leaves unsigned (the
        /Contents hex string): whoever rewrites those bytes would rewrite the object without breaking it.
        `field_ref`: the field the revision signs (the judgement found it among the objects the revision writes;
        the form is not walked, so that the cost does not grow with the fields signed before)."""
        field_obj = _raw(new.get_object(field_ref))
        if not isinstance(field_obj, generic.DictionaryObject) or "/V" not in field_obj:
            raise Refused(f"the signature field {verdict.field!r} has no signature")
        signature = _raw(field_obj.raw_get("/V"))
        byte_range = (
            _raw(signature.raw_get("/ByteRange"))
            if isinstance(signature, generic.DictionaryObject) and "/ByteRange" in signature
            else None
        )
        if not isinstance(byte_range, generic.ArrayObject) or len(byte_range) != 4:
            raise Refused(f"the signature of field {verdict.field!r} has no valid /ByteRange")
        try:
            start, length, gap_end = int(_raw(byte_range[0])), int(_raw(byte_range[1])), int(_raw(byte_range[2]))
        except (TypeError, ValueError):
            raise Refused(f"the signature of field {verdict.field!r} has no valid /ByteRange") from None
        gap = (start + length, gap_end)
        if any(gap[0] <= offset < gap[1] for offset in offsets):
            raise Refused(f"an object of the revision lies inside the unsigned gap of the signature {verdict.field!r}")


class _Judgement:
    """The verdict on revision `k` (new) against revision `k - 1` (old)."""

    def __init__(
        self,
        judge: RevisionJudge,
        k: int,
        old: HistoricalResolver,
        new: HistoricalResolver,
        overwritten: list[int],
        added: set[int],
        structural: set[int],
    ) -> None:
        self.judge, self.k, self.old, self.new = judge, k, old, new
        self.overwritten, self.added, self.structural = overwritten, added, structural
        self.roots: list[generic.PdfObject] = []  # where legitimately added objects hang from
        self.filled: list[str] = []
        self.signed_ref: generic.Reference | None = None  # the field the revision signs (filled or new)
        self.stamp_ref: generic.Reference | None = None  # the document timestamp's new field
        self.new_fields: list[generic.IndirectObject] = []
        self.new_annots: list[generic.IndirectObject] = []
        self.appearances: list[generic.PdfObject] = []  # the new stamp's appearance dictionaries
        self.host: str | None = None
        self.page_of: dict[int, int] = {}  # a new annotation → the page object whose /Annots it was appended to

    def ref(self, idnum: int) -> generic.Reference:
        return generic.Reference(idnum, 0, self.judge.reader)

    def is_new(self, ref: generic.IndirectObject) -> bool:
        return ref.idnum in self.added

    def run(self) -> Verdict:
        old_trailer, new_trailer = self.old.trailer_view, self.new.trailer_view
        if "/Encrypt" in new_trailer:
            raise Refused("the revision encrypts the document")
        root_ref = old_trailer.raw_get("/Root")
        if not same(root_ref, new_trailer.raw_get("/Root")):
            raise Refused("the revision replaces the document catalog (/Root)")
        info_old = old_trailer.raw_get("/Info") if "/Info" in old_trailer else None
        info_new = new_trailer.raw_get("/Info") if "/Info" in new_trailer else None
        if info_new is not None and not same(info_old, info_new):
            self._check_info(info_new)
            self.roots.append(info_new)

        catalog_old = self.old.root
        roles: dict[int, str] = {}
        roles[root_ref.idnum] = "catalog"
        if isinstance(info_old, generic.IndirectObject):
            roles[info_old.idnum] = "info"
        metadata = catalog_old.raw_get("/Metadata") if "/Metadata" in catalog_old else None
        if isinstance(metadata, generic.IndirectObject):
            roles[metadata.idnum] = "metadata"
        form_old = catalog_old.raw_get("/AcroForm") if "/AcroForm" in catalog_old else None
        if isinstance(form_old, generic.IndirectObject):
            roles[form_old.idnum] = "acroform"
        fields_array = (
            _raw(form_old).raw_get("/Fields") if form_old is not None and "/Fields" in _raw(form_old) else None
        )
        if isinstance(fields_array, generic.IndirectObject):
            roles[fields_array.idnum] = "fields"
        dss_old = catalog_old.raw_get("/DSS") if "/DSS" in catalog_old else None

        @functools.cache
        def signed_parts() -> dict[int, tuple[str, str]]:  # computed when first asked, once
            fields = self._fields(self.old, form_old) if form_old is not None else []
            return self._signed_parts(fields)

        @functools.cache
        def dss_refs() -> set[int]:
            return set(self._subtree_refs(self.old, dss_old)) if dss_old is not None else set()

        top_fields = (
            {ref.idnum for ref in _raw(fields_array) if isinstance(ref, generic.IndirectObject)}
            if isinstance(_raw(fields_array), generic.ArrayObject)
            else set()
        )
        changes = []
        for idnum in self.overwritten:
            ref = self.ref(idnum)
            before, after = self.old.get_object(ref), self.new.get_object(ref)
            if not same(before, after):
                owner = self._owner(idnum, before, top_fields) if idnum not in roles else None
                changes.append((idnum, before, after, owner))
        # the catalog first (it may carry the form directly), then fields before their separate widgets
        changes.sort(key=lambda c: (roles.get(c[0]) != "catalog", c[3] is None or c[3].ref.idnum != c[0]))
        targets: set[int] = set()
        for idnum, before, after, owner in changes:
            role = roles.get(idnum)
            if role == "catalog":
                self._check_catalog(before, after)
            elif role == "info":
                self._check_info(after)
            elif role == "metadata":
                self._check_metadata(after)
            elif role == "acroform":
                self._check_acroform(before, after)
            elif role == "fields":
                self._check_appended(before, after, "the form's /Fields", self.new_fields)
            elif owner is not None and owner.ref.idnum == idnum:
                self._check_field(owner, before, after)
                targets.add(idnum)
            elif owner is not None:  # a separate widget of a field
                if owner.ref.idnum not in targets:
                    self._harm(owner, "its widget annotation was changed" + self._keys(before, after))
                    raise Refused(f"a widget of the field {owner.name!r}, which is not being signed, was changed")
                self._check_widget(owner, before, after)
            elif idnum in signed_parts():
                name, what = signed_parts()[idnum]
                raise Refused(f"the {what} of the signed field {name!r} was rewritten", harmed=[name])
            elif idnum in dss_refs():
                if not _grows(before, after):
                    raise Refused(f"validation data (object {idnum}) was removed from the Document Security Store")
                self.roots.append(after)
            elif isinstance(before, generic.DictionaryObject) and _name(before.get("/Type")) == "/Page":
                self._check_page(idnum, before, after)
            else:
                raise Refused(f"object {idnum} ({_describe(before)}) was changed{self._keys(before, after)}")
        kind, filled = self._classify()
        self._check_reachable()
        self._check_appearance_weight()
        found = {"signature": self.signed_ref, "document-timestamp": self.stamp_ref}.get(kind)
        number = (found.idnum, found.generation) if found is not None else None
        return Verdict(self.k, kind, field=filled, host=self.host, ref=number)

    def _check_appearance_weight(self) -> None:
        """A stamp is a few lines of text and an image or two: one that would cost a renderer seconds (a million
        fill operators in 40 KB, an image of a billion pixels, a decompression bomb) is refused before any
        viewer, pdftoppm or archivist meets it."""
        decoded_total, operators, pixels = 0, 0, 0
        stack, seen = list(self.appearances), set()
        while stack:
            item = stack.pop()
            for ref in [item] if isinstance(item, generic.IndirectObject) else list(_refs_in(item)):
                if ref.idnum in seen or ref.idnum not in self.added:
                    continue  # objects already in the document were judged with it
                seen.add(ref.idnum)
                obj = self.new.get_object(ref.reference)
                if not isinstance(obj, generic.StreamObject):
                    stack.append(obj)
                    continue
                stack.extend(obj.raw_get(k) for k in obj.keys())
                if _name(obj.get("/Subtype")) == "/Image":
                    width, height = _number(obj.get("/Width")), _number(obj.get("/Height"))
                    pixels += width * height
                    if pixels > MAX_STAMP_PIXELS:
                        raise Refused(f"the stamp's images have {pixels} pixels (at most {MAX_STAMP_PIXELS})")
                    continue
                content = _inflate(obj, MAX_STAMP_CONTENT - decoded_total)
                decoded_total += len(content)
                operators += len(_OPERATOR.findall(content))
                if operators > MAX_STAMP_OPERATORS:
                    raise Refused(f"the stamp's appearance has more than {MAX_STAMP_OPERATORS} drawing operators")

    # --- the parts ---------------------------------------------------------------------------------------------
    def _owner(self, idnum: int, obj: generic.PdfObject, top_fields: set[int]) -> _Field | None:
        """The form field an object is (or is a separate widget of), found by climbing its /Parent chain to a
        field the form lists: only the objects a revision overwrites are looked at, not the whole form."""
        if not isinstance(obj, generic.DictionaryObject) or isinstance(obj, generic.StreamObject):
            return None
        if not ("/FT" in obj or "/T" in obj or "/Parent" in obj):
            return None
        chain: list[tuple[int, generic.DictionaryObject]] = [(idnum, obj)]
        current = obj
        while "/Parent" in current and len(chain) < 32:
            parent = current.raw_get("/Parent")
            if not isinstance(parent, generic.IndirectObject) or any(parent.idnum == i for i, _ in chain):
                break
            current = self.old.get_object(parent.reference)
            if not isinstance(current, generic.DictionaryObject):
                return None
            chain.append((parent.idnum, current))
        if chain[-1][0] not in top_fields:
            return None  # not in the form (a page, an annotation with a parent)
        widget_only = "/T" not in obj and "/FT" not in obj and len(chain) > 1
        field_chain = chain[1:] if widget_only else chain
        field_id, field_obj = field_chain[0]
        names = [str(o["/T"]) for _, o in reversed(field_chain) if "/T" in o]
        ft = next((_name(o.get("/FT")) for _, o in field_chain if "/FT" in o), None)
        widgets = [self.ref(idnum)] if widget_only else []
        return _Field(".".join(names) or f"#{field_id}", self.ref(field_id), ft == "/Sig", "/V" in field_obj, widgets)

    def _fields(self, resolver: HistoricalResolver, form: generic.PdfObject) -> list[_Field]:
        out: list[_Field] = []
        form_dict = _raw(form)
        top = form_dict.raw_get("/Fields") if "/Fields" in form_dict else generic.ArrayObject()
        stack: list[tuple[generic.PdfObject, str, str | None, int]] = [(item, "", None, 0) for item in _raw(top)]
        seen: set[int] = set()
        while stack:
            item, parent_name, parent_ft, depth = stack.pop()
            if not isinstance(item, generic.IndirectObject) or item.idnum in seen or depth > 32:
                continue
            seen.add(item.idnum)
            obj = resolver.get_object(item.reference)
            if not isinstance(obj, generic.DictionaryObject):
                continue
            partial = str(obj["/T"]) if "/T" in obj else None
            name = f"{parent_name}.{partial}" if parent_name and partial else (partial or parent_name)
            ft = _name(obj.get("/FT")) or parent_ft
            kids = obj.get("/Kids") if "/Kids" in obj else None
            kid_fields = []
            widgets = []
            if kids is not None:
                for kid in _raw(obj.raw_get("/Kids")):
                    kid_obj = _raw(kid)
                    if isinstance(kid_obj, generic.DictionaryObject) and "/T" not in kid_obj:
                        if isinstance(kid, generic.IndirectObject):
                            widgets.append(kid.reference)
                            seen.add(kid.idnum)
                    else:
                        kid_fields.append(kid)
            out.append(_Field(name or f"#{item.idnum}", item.reference, ft == "/Sig", "/V" in obj, widgets))
            stack.extend((kid, name or "", ft, depth + 1) for kid in kid_fields)
        return out

    def _signed_parts(self, fields: list[_Field]) -> dict[int, tuple[str, str]]:
        """Objects that belong to a signed field: its signature dictionary and its appearance streams."""
        parts: dict[int, tuple[str, str]] = {}
        for f in fields:
            if not f.signed:
                continue
            obj = self.old.get_object(f.ref)
            value = obj.raw_get("/V")
            if isinstance(value, generic.IndirectObject):
                parts[value.idnum] = (f.name, "signature dictionary")
            for holder in [obj, *(self.old.get_object(w) for w in f.widgets)]:
                if "/AP" not in holder:
                    continue
                for ref in _refs_in(holder.raw_get("/AP")):
                    parts[ref.idnum] = (f.name, "appearance (stamp)")
                    target = self.old.get_object(ref.reference)
                    if isinstance(target, generic.StreamObject):  # its resources: fonts, images, forms
                        for inner in _refs_in(target):
                            parts.setdefault(inner.idnum, (f.name, "stamp resources"))
        return parts

    def _subtree_refs(self, resolver: HistoricalResolver, start: generic.PdfObject) -> Iterator[int]:
        """Object numbers reachable from the DSS through dictionaries and arrays (streams are leaves)."""
        stack, seen = [start], set[int]()
        while stack and len(seen) < MAX_WALK:
            item = stack.pop()
            for ref in _refs_in(item) if not isinstance(item, generic.IndirectObject) else [item]:
                if ref.idnum in seen:
                    continue
                seen.add(ref.idnum)
                yield ref.idnum
                target = resolver.get_object(ref.reference)
                if not isinstance(target, generic.StreamObject):
                    stack.append(target)

    def _harm(self, owner: _Field, what: str) -> None:
        if owner.signed:
            raise Refused(f"the signed field {owner.name!r}: {what}", harmed=[owner.name])

    @staticmethod
    def _keys(before: generic.PdfObject, after: generic.PdfObject) -> str:
        if isinstance(before, generic.DictionaryObject) and isinstance(after, generic.DictionaryObject):
            keys = _changed_keys(before, after)
            if isinstance(before, generic.StreamObject) and isinstance(after, generic.StreamObject):
                if before.encoded_data != after.encoded_data:
                    keys.add("stream content")
            return f" ({', '.join(sorted(keys))})" if keys else ""
        return ""

    def _check_info(self, info: generic.PdfObject) -> None:
        obj = _raw(info)
        if not isinstance(obj, generic.DictionaryObject) or isinstance(obj, generic.StreamObject):
            raise Refused("the document information is not a dictionary")
        for key in obj.keys():
            if isinstance(obj.raw_get(key), (generic.IndirectObject, generic.DictionaryObject, generic.ArrayObject)):
                raise Refused(f"the document information entry {key} is not a plain value")

    def _check_metadata(self, after: generic.PdfObject) -> None:
        if not (
            isinstance(after, generic.StreamObject)
            and _name(after.get("/Type")) == "/Metadata"
            and _name(after.get("/Subtype")) == "/XML"
        ):
            raise Refused("the XMP metadata was replaced by something that is not metadata")
        if any(True for _ in _refs_in(after)):
            raise Refused("the XMP metadata refers to other objects")

    def _check_catalog(self, before: generic.DictionaryObject, after: generic.PdfObject) -> None:
        if not isinstance(after, generic.DictionaryObject):
            raise Refused("the document catalog was replaced")
        changed = _changed_keys(before, after)
        if "/AcroForm" in changed:
            form_before = before.raw_get("/AcroForm") if "/AcroForm" in before else None
            form_after = after.raw_get("/AcroForm") if "/AcroForm" in after else None
            if isinstance(form_before, generic.DictionaryObject) and isinstance(form_after, generic.DictionaryObject):
                self._check_acroform(form_before, form_after)
                changed.discard("/AcroForm")
        extra = changed - CATALOG_KEYS
        if extra:
            raise Refused(f"the document catalog was changed ({', '.join(sorted(extra))})")
        if "/DSS" in changed:
            if "/DSS" not in after:
                raise Refused("the Document Security Store was removed")
            dss_before = before.raw_get("/DSS") if "/DSS" in before else None
            dss_after = after.raw_get("/DSS")
            if dss_before is not None and not _grows(_raw(dss_before), _raw(dss_after)):
                raise Refused("validation data was removed from the Document Security Store")
            self.roots.append(dss_after)
        if "/Extensions" in changed and "/Extensions" in after:
            extensions = after.raw_get("/Extensions")
            if not isinstance(_raw(extensions), generic.DictionaryObject):
                raise Refused("the catalog's /Extensions is not a dictionary")
            self.roots.append(extensions)

    def _check_acroform(self, before: generic.PdfObject, after: generic.PdfObject) -> None:
        if not isinstance(after, generic.DictionaryObject) or not isinstance(before, generic.DictionaryObject):
            raise Refused("the interactive form (/AcroForm) was replaced")
        extra = _changed_keys(before, after) - ACROFORM_KEYS
        if extra:
            raise Refused(f"the interactive form was changed ({', '.join(sorted(extra))})")
        if "/SigFlags" in after and not isinstance(after.raw_get("/SigFlags"), generic.NumberObject):
            raise Refused("the form's /SigFlags is not a number")
        fields_before = before.raw_get("/Fields") if "/Fields" in before else generic.ArrayObject()
        fields_after = after.raw_get("/Fields") if "/Fields" in after else None
        if fields_after is None:
            raise Refused("the form's /Fields was removed")
        if not same(fields_before, fields_after):
            if isinstance(fields_before, generic.IndirectObject) or isinstance(fields_after, generic.IndirectObject):
                raise Refused("the form's /Fields array was replaced")
            self._check_appended(fields_before, fields_after, "the form's /Fields", self.new_fields)

    def _check_appended(
        self, before: generic.PdfObject, after: generic.PdfObject, what: str, into: list[generic.IndirectObject]
    ) -> None:
        """`after` is the array `before` with new objects appended, nothing removed or reordered."""
        if not isinstance(before, generic.ArrayObject) or not isinstance(after, generic.ArrayObject):
            raise Refused(f"{what} was replaced")
        if len(after) < len(before) or not all(same(x, y) for x, y in zip(before, after, strict=False)):
            raise Refused(f"{what}: entries were removed or replaced")
        for item in list(after)[len(before) :]:
            if not isinstance(item, generic.IndirectObject) or not self.is_new(item):
                raise Refused(f"{what}: an entry was added that is not a new object")
            into.append(item)

    def _check_field(self, owner: _Field, before: generic.PdfObject, after: generic.PdfObject) -> None:
        if not isinstance(after, generic.DictionaryObject) or not isinstance(before, generic.DictionaryObject):
            raise Refused(f"the field {owner.name!r} was replaced", harmed=[owner.name] if owner.signed else [])
        changed = _changed_keys(before, after)
        if owner.signed:
            raise Refused(
                f"the signed field {owner.name!r} was changed ({', '.join(sorted(changed))})", harmed=[owner.name]
            )
        if not owner.is_sig:
            raise Refused(f"the form field {owner.name!r} was changed ({', '.join(sorted(changed))})")
        if "/V" not in after:
            raise Refused(f"the empty signature field {owner.name!r} was changed ({', '.join(sorted(changed))})")
        extra = changed - FILLED_FIELD_KEYS
        if extra:
            raise Refused(
                f"the signature field {owner.name!r} was changed beyond being signed ({', '.join(sorted(extra))})"
            )
        if "/Type" in changed and _name(after.get("/Type")) != "/Annot":
            raise Refused(f"the /Type of field {owner.name!r} was changed")
        _check_modified_date(owner.name, before, after)
        value = after.raw_get("/V")
        if not isinstance(value, generic.IndirectObject) or not self.is_new(value):
            raise Refused(f"the value of field {owner.name!r} is not a new signature dictionary")
        signature = self.new.get_object(value.reference)
        if not isinstance(signature, generic.DictionaryObject) or isinstance(signature, generic.StreamObject):
            raise Refused(f"the value of field {owner.name!r} is not a signature dictionary")
        if _name(signature.get("/Type")) not in (None, "/Sig"):
            raise Refused(f"the value of field {owner.name!r} is a {signature.get('/Type')}, not a signature")
        self.filled.append(owner.name)
        self.signed_ref = owner.ref
        self.roots.append(value)
        for key in ("/AP",):
            if key in after:
                self.roots.append(after.raw_get(key))
                self.appearances.append(after.raw_get(key))

    def _check_widget(self, owner: _Field, before: generic.PdfObject, after: generic.PdfObject) -> None:
        if not isinstance(after, generic.DictionaryObject) or not isinstance(before, generic.DictionaryObject):
            raise Refused(f"a widget of field {owner.name!r} was replaced")
        extra = _changed_keys(before, after) - (FILLED_FIELD_KEYS - {"/V"})
        if extra:
            raise Refused(f"a widget of field {owner.name!r} was changed ({', '.join(sorted(extra))})")
        _check_modified_date(owner.name, before, after)

        if "/AP" in after:
            self.roots.append(after.raw_get("/AP"))
            self.appearances.append(after.raw_get("/AP"))

    def _check_page(self, idnum: int, before: generic.DictionaryObject, after: generic.PdfObject) -> None:
        if not isinstance(after, generic.DictionaryObject):
            raise Refused(f"page object {idnum} was replaced")
        extra = _changed_keys(before, after) - {"/Annots"}
        if extra:
            raise Refused(
                f"a page (object {idnum}) was changed ({', '.join(sorted(extra))}): the signing tool rewrote the page "
                "object (some round its /MediaBox); a signature may only add its own appearance"
            )
        annots_before = before.raw_get("/Annots") if "/Annots" in before else generic.ArrayObject()
        if "/Annots" not in after:
            raise Refused(f"the annotations of a page (object {idnum}) were removed")
        appended: list[generic.IndirectObject] = []
        self._check_appended(_raw(annots_before), _raw(after.raw_get("/Annots")), "a page's /Annots", appended)
        self.new_annots.extend(appended)
        self.page_of.update((annot.idnum, idnum) for annot in appended)

    def _classify(self) -> tuple[str, str | None]:
        if len(self.filled) > 1:
            raise Refused(f"the revision fills {len(self.filled)} signature fields ({', '.join(self.filled)})")
        timestamps: list[str] = []
        signed_new: list[tuple[str, generic.IndirectObject, generic.DictionaryObject]] = []
        widgets: set[int] = set()
        for ref in self.new_fields:
            obj = self.new.get_object(ref.reference)
            if not isinstance(obj, generic.DictionaryObject) or _name(obj.get("/FT")) != "/Sig" or "/Kids" in obj:
                raise Refused("a new form field was added")
            value = obj.raw_get("/V") if "/V" in obj else None
            if not isinstance(value, generic.IndirectObject) or not self.is_new(value):
                raise Refused(NEW_EMPTY_FIELD)
            signature = self.new.get_object(value.reference)
            kind = _name(signature.get("/Type")) if isinstance(signature, generic.DictionaryObject) else None
            name = str(obj.get("/T", f"#{ref.idnum}"))
            extra = {str(k) for k in obj.keys()} - NEW_FIELD_KEYS
            if extra:  # actions (/A, /AA), a lock on other fields (/Lock), seed values, a field tree
                raise Refused(f"the new field {name!r} carries {', '.join(sorted(extra))}", code="signature.new_field")
            rect = obj.get("/Rect") if "/Rect" in obj else None
            if kind == "/DocTimeStamp":
                if rect is None or not _zero_area(rect):
                    raise Refused("a document timestamp field was added with a visible widget")
                timestamps.append(name)
                self.stamp_ref = ref.reference
            elif kind in (None, "/Sig") and isinstance(signature, generic.DictionaryObject):
                signed_new.append((name, ref, obj))
            else:
                raise Refused(f"the value of the new field {name!r} is not a signature")
            widgets.add(ref.idnum)
            self.roots.append(value)
            self.roots.append(ref)
            if "/AP" in obj:
                self.appearances.append(obj.raw_get("/AP"))
        stray = [a for a in self.new_annots if a.idnum not in widgets]
        if stray:
            raise Refused(f"{len(stray)} annotation(s) were added to a page")
        if len(self.filled) + len(signed_new) + len(timestamps) > 1:
            raise Refused("the revision adds more than one signature or timestamp")
        if signed_new:
            name, ref, obj = signed_new[0]
            self.host = self._host(name, ref, obj)
            self.signed_ref = ref.reference
            return "signature", name
        if self.filled:
            return "signature", self.filled[0]
        if timestamps:
            return "document-timestamp", timestamps[0]
        return "validation-data", None

    def _host(self, name: str, ref: generic.IndirectObject, obj: generic.DictionaryObject) -> str:
        """A signature in a new field (what several signing tools do instead of filling the prepared one) stands
        for the prepared field whose block its widget lies in: one that is still empty, on the same page."""
        page = self.page_of.get(ref.idnum)
        if page is None:
            raise Refused(f"the new signature field {name!r} is on no page")
        box = _box(obj.get("/Rect")) if "/Rect" in obj else None
        if box is None or box[0] == box[2] or box[1] == box[3]:
            raise Refused(f"the new signature field {name!r} has no visible widget")
        form = _raw(self.old.root.raw_get("/AcroForm")) if "/AcroForm" in self.old.root else None
        if not isinstance(form, generic.DictionaryObject):
            raise Refused(NEW_FIELD)
        fields = self._fields(self.old, form)
        hosts: list[_Field] = []
        for prepared in fields:
            if not prepared.is_sig:
                continue
            candidate = self.old.get_object(prepared.ref)
            if not isinstance(candidate, generic.DictionaryObject) or "/Rect" not in candidate:
                continue
            block = _box(candidate.get("/Rect"))
            on_page = candidate.raw_get("/P") if "/P" in candidate else None
            same_page = isinstance(on_page, generic.IndirectObject) and on_page.idnum == page
            if block is not None and same_page and _inside(box, block):
                hosts.append(prepared)
        if not hosts:
            raise Refused(
                f"a new signature field {name!r} was added outside every signer's block (sign in the prepared "
                "field, or draw the new field inside your own block)",
                code="signature.new_field",
            )
        # A seal's field lies over the left third of its leader's: a widget there is inside both. It stands for
        # the one that is still empty; inside two empty fields it is ambiguous and refused (never guessed).
        empty = [h for h in hosts if not h.signed]
        if len(empty) > 1:
            raise Refused(
                f"a new signature field {name!r} lies inside the empty fields "
                f"{', '.join(repr(h.name) for h in empty)} at once: sign in the prepared field",
                code="signature.new_field",
            )
        if not empty:
            raise Refused(
                f"a new signature field {name!r} was added over the block of {hosts[0].name!r}, which is signed "
                "already",
                harmed=[hosts[0].name],
                code="signature.new_field",
            )
        host = empty[0]
        if any(f.name == name for f in fields):
            raise Refused(f"a second field named {name!r} was added", code="signature.new_field")
        return host.name

    def _check_reachable(self) -> None:
        """Every object the revision adds that hangs from what it may add is judged as part of it (walked from
        there); no object it writes refers to an object that does not exist.

        The second rule keeps, by induction from the prepared document (`dangling_references`, checked when it is
        prepared), a document in which no reference dangles: an object added later can never be picked up by an
        older reference. An added object that nothing refers to (poppler leaves one: the appearance it generates
        before it copies it into the field) is therefore inert: no reader can reach it, nothing shows it."""
        reached: set[int] = set()
        stack = list(self.roots)
        while stack:
            item = stack.pop()
            for ref in [item] if isinstance(item, generic.IndirectObject) else list(_refs_in(item)):
                if ref.idnum in reached or ref.idnum not in self.added:
                    continue
                reached.add(ref.idnum)
                if len(reached) > MAX_WALK:
                    raise Refused("the revision's objects are nested too deeply")
                stack.append(self.new.get_object(ref.reference))
        introduced = self.judge.introduced()
        for idnum in (*self.overwritten, *sorted(self.added - self.structural)):
            for ref in _refs_in(self.new.get_object(self.ref(idnum))):
                if ref.generation != 0 or introduced.get(ref.idnum, self.k + 1) > self.k:
                    raise Refused(
                        f"object {idnum} refers to object {ref.idnum} {ref.generation}, which does not exist "
                        "(a dangling reference: a later revision could make it point at anything)"
                    )


def _certified_revision(reader: PdfFileReader) -> int | None:
    """The revision the certification signature (/Perms /DocMDP) signed, found from its byte range: the revisions
    whose ends (startxref) lie in the bytes it covers. Cheap (no signature is parsed); None without one."""
    try:
        perms = reader.root["/Perms"] if "/Perms" in reader.root else None
        certification = perms["/DocMDP"] if isinstance(perms, generic.DictionaryObject) else None
        ranges = certification["/ByteRange"] if isinstance(certification, generic.DictionaryObject) else None
        end = int(ranges[2]) + int(ranges[3]) if isinstance(ranges, generic.ArrayObject) and len(ranges) == 4 else 0
    except (KeyError, TypeError, ValueError):
        return None
    stream = reader.stream
    if end <= 0 or not hasattr(stream, "getbuffer"):
        return None
    covered = bytes(stream.getbuffer()[:end])
    revision = covered.count(b"startxref") - 1
    return revision if 0 <= revision < reader.xrefs.total_revisions else None


def _prepared_names(reader: PdfFileReader) -> set[str]:
    """The fields the document had when its first signature (the secretariat's certification) was made: the
    prepared ones. Empty when it has no signature."""
    revision = _certified_revision(reader)
    if revision is None:
        signatures = reader.embedded_signatures  # no certification: the first signature, at some cost
        if not signatures:
            return set()
        revision = min(sig.signed_revision for sig in signatures)
    old = reader.get_historical_resolver(revision)
    form = old.root["/AcroForm"] if "/AcroForm" in old.root else None  # resolved in that revision
    if not isinstance(form, generic.DictionaryObject) or "/Fields" not in form:
        return set()
    names = set()
    for item in form["/Fields"]:
        obj = item.get_object() if isinstance(item, generic.IndirectObject) else None
        if isinstance(obj, generic.DictionaryObject) and "/T" in obj:
            names.add(str(obj.get("/T")))
    return names


def signature_hosts(reader: PdfFileReader) -> dict[str, str]:
    """For each signature made in a new field of its own (see _Judgement._host): its field → the prepared, still
    empty field whose block its widget lies in, on the same page (the latest revision). A prepared field is never
    a new one: a unit's seal lies over its leader's block, and stands for nobody else even when that block is empty
    (a forgery that emptied the leader's field must not make the seal count as the leader's signature)."""
    root = reader.root
    form = root["/AcroForm"] if "/AcroForm" in root else None
    if not isinstance(form, generic.DictionaryObject) or "/Fields" not in form:
        return {}
    prepared = _prepared_names(reader)
    empty: list[tuple[str, int, tuple[float, float, float, float]]] = []
    signed: list[tuple[str, int, tuple[float, float, float, float]]] = []
    for item in form["/Fields"]:
        obj = item.get_object() if isinstance(item, generic.IndirectObject) else None
        if not isinstance(obj, generic.DictionaryObject) or obj.get("/FT") != "/Sig" or "/Rect" not in obj:
            continue
        box = _box(obj.raw_get("/Rect"))
        page = obj.raw_get("/P") if "/P" in obj else None
        if box is None or box[0] == box[2] or box[1] == box[3] or not isinstance(page, generic.IndirectObject):
            continue
        (signed if "/V" in obj else empty).append((str(obj.get("/T")), page.idnum, box))
    hosts = {}
    for name, page_no, box in signed:
        if name in prepared:
            continue
        inside = [host for host, host_page, block in empty if host_page == page_no and _inside(box, block)]
        if len(inside) == 1:  # inside two empty fields (a seal's over its leader's) it stands for neither
            hosts[name] = inside[0]
    return hosts


def dangling_references(reader: PdfFileReader) -> list[tuple[int, int, int]]:
    """(object, referred number, generation) for every reference, in the file's latest revision, to an object
    that does not exist: a prepared document must have none (see _Judgement._check_reachable)."""
    judge = RevisionJudge(reader)
    introduced = judge.introduced()
    latest = reader.get_historical_resolver(reader.xrefs.total_revisions - 1)
    found = []
    for idnum in sorted(introduced):
        try:
            obj = latest.get_object(generic.Reference(idnum, 0, reader))
        except (generic.PdfError, ValueError, KeyError):
            continue
        for ref in _refs_in(obj):
            if ref.generation != 0 or ref.idnum not in introduced:
                found.append((idnum, ref.idnum, ref.generation))
    return found


MAX_DATE_LENGTH = 64


def _check_modified_date(name: str, before: generic.DictionaryObject, after: generic.DictionaryObject) -> None:
    """/M, the annotation's "last modified" date, that some tools (poppler) set on the widget they fill: a date
    string, nothing else."""
    if "/M" not in after or ("/M" in before and same(before.raw_get("/M"), after.raw_get("/M"))):
        return
    value = after.raw_get("/M")
    if not isinstance(value, (generic.TextStringObject, generic.ByteStringObject)) or len(value.original_bytes) > (
        MAX_DATE_LENGTH
    ):
        raise Refused(f"the /M of field {name!r} is not a date string")


def _number(value: Any) -> int:
    value = _raw(value) if isinstance(value, generic.PdfObject) else value
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _inflate(stream: generic.StreamObject, budget: int) -> bytes:
    """A content stream's bytes, decoded with a budget: more than `budget` bytes is refused, not allocated."""
    filters = _raw(stream.get("/Filter")) if "/Filter" in stream else None
    names = (
        [str(_raw(f)) for f in filters]
        if isinstance(filters, generic.ArrayObject)
        else ([] if filters is None else [str(filters)])
    )
    data = stream.encoded_data
    if names == []:
        decoded = data
    elif names == ["/FlateDecode"]:
        if "/DecodeParms" in stream:
            raise Refused("the stamp's appearance uses a predictor on its content stream")
        inflater = zlib.decompressobj()
        try:
            decoded = inflater.decompress(data, max(0, budget) + 1)
        except zlib.error as exc:
            raise Refused(f"the stamp's appearance stream cannot be decoded ({exc})") from None
    else:
        raise Refused(f"the stamp's appearance is encoded with {' '.join(names)} (only /FlateDecode or none)")
    if len(decoded) > budget:
        raise Refused(f"the stamp's appearance decodes to more than {MAX_STAMP_CONTENT} bytes")
    return decoded


def _name(value: object) -> str | None:
    value = _raw(value) if isinstance(value, generic.PdfObject) else value
    return str(value) if isinstance(value, generic.NameObject) else None


def _zero_area(rect: generic.PdfObject) -> bool:
    values = _raw(rect)
    try:
        x1, y1, x2, y2 = (float(_raw(v)) for v in values)
    except (TypeError, ValueError):
        return False
    return x1 == x2 or y1 == y2


NEW_FIELD = (
    "a new signature field was added (every signer's field is placed before certification: sign the prepared "
    "field, do not let the signing tool create one)"
)
# What a new signature field (with its merged widget) may hold: what a signing tool writes for a signature or a
# document timestamp, and nothing that acts (/A, /AA), locks other fields (/Lock) or builds a field tree (/Kids).
NEW_FIELD_KEYS = frozenset("/FT /T /TU /V /Type /Subtype /F /Rect /P /AP /AS /Ff /DA /Q /MK /M /Border /NM".split())
NEW_EMPTY_FIELD = "a new, empty signature field was added (a revision may add a field only with its signature in it)"
TOLERANCE = 1.0  # points: a tool that rounds the block's corners still lies inside it


def _box(rect: Any) -> tuple[float, float, float, float] | None:
    values = _raw(rect)
    try:
        x1, y1, x2, y2 = (float(_raw(v)) for v in values)
    except (TypeError, ValueError):
        return None
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _inside(inner: tuple[float, float, float, float], outer: tuple[float, float, float, float]) -> bool:
    return (
        inner[0] >= outer[0] - TOLERANCE
        and inner[1] >= outer[1] - TOLERANCE
        and inner[2] <= outer[2] + TOLERANCE
        and inner[3] <= outer[3] + TOLERANCE
    )


def _describe(obj: generic.PdfObject) -> str:
    if isinstance(obj, generic.StreamObject):
        kind = _name(obj.get("/Subtype")) or _name(obj.get("/Type"))
        return f"a {kind} stream" if kind else "a content stream"
    if isinstance(obj, generic.DictionaryObject):
        kind = _name(obj.get("/Type")) or _name(obj.get("/Subtype")) or _name(obj.get("/FT"))
        return f"a {kind} dictionary" if kind else "a dictionary"
    return type(obj).__name__


def _grows(before: generic.PdfObject, after: generic.PdfObject) -> bool:
    """Validation data only grows: every entry of `before` is still in `after`."""
    if same(before, after):
        return True
    if isinstance(before, generic.StreamObject) or isinstance(after, generic.StreamObject):
        return False
    if isinstance(before, generic.DictionaryObject):
        if not isinstance(after, generic.DictionaryObject):
            return False
        for key in before.keys():
            if key not in after:
                return False
            b, a = before.raw_get(key), after.raw_get(key)
            if not same(b, a) and not _grows(_raw(b), _raw(a)):
                return False
        return True
    if isinstance(before, generic.ArrayObject):
        if not isinstance(after, generic.ArrayObject):
            return False
        refs = {(a.idnum, a.generation) for a in after if isinstance(a, generic.IndirectObject)}
        plain = [a for a in after if not isinstance(a, generic.IndirectObject)]
        return all(
            (b.idnum, b.generation) in refs if isinstance(b, generic.IndirectObject) else any(same(b, a) for a in plain)
            for b in before
        )
    return False
