"""A generated corpus of forged submissions: a later signer (or anyone holding the file) tries to replace, rewrite,
hide or remove an earlier signer's stamp or signature, or to change the document around it, in the signing
revision itself, in an extra revision before it, or after it.

For every file: pyHanko's own pairwise difference analysis (the reference) and ours. The claim under test is the
one the product makes: acceptance (judge_submission) and the default validation (the chain rule, which `covenant
archive verify` uses) refuse at least everything pyHanko refuses, and every forgery here is refused. Genuine
submissions (a signature; a signature plus validation data) are accepted by all three.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

from signing.appearance import person_stamp, stamp_for
from signing.pki import demo_roots
from signing.revisions import signature_hosts
from signing.signers import load_pkcs12, sign_field
from signing.validation import (
    Pin,
    SignatureRejected,
    _signed_fields,
    judge_submission,
    load_roots,
    status_ok,
    validate_signatures,
)
from tests.conftest import ARTIFACTS, person, slot_state

pytestmark = pytest.mark.live

N = generic.NameObject
A_FIELD, B_FIELD, C_FIELD = "unit-phu-tho", "unit-bac-giang", "unit-thai-nguyen"
B_KEY, B_NAME, B_TITLE, B_UNIT = (
    "bac-giang--nguyen-truong-tho",
    "Nguyễn Trường Thọ",
    "Phó Viện trưởng",
    "VKSND Bắc Giang",
)

Change = Callable[[IncrementalPdfFileWriter], None]


# --- finding things in a writer -------------------------------------------------------------------------------
def _field(writer: IncrementalPdfFileWriter, name: str) -> generic.IndirectObject:
    for ref in writer.root["/AcroForm"].raw_get("/Fields"):
        if str(ref.get_object().get("/T")) == name:
            return ref
    raise KeyError(name)


def _page(writer: IncrementalPdfFileWriter, index: int = 0) -> generic.DictionaryObject:
    return writer.root["/Pages"]["/Kids"][index].get_object()


def _rect(writer: IncrementalPdfFileWriter, name: str) -> generic.ArrayObject:
    return _field(writer, name).get_object()["/Rect"]


def _stream(data: bytes, **entries: generic.PdfObject) -> generic.StreamObject:
    return generic.StreamObject({N("/" + k): v for k, v in entries.items()}, stream_data=data)


def _form_xobject(writer: IncrementalPdfFileWriter, data: bytes, rect: generic.ArrayObject) -> generic.IndirectObject:
    width = float(rect[2]) - float(rect[0])
    height = float(rect[3]) - float(rect[1])
    box = generic.ArrayObject([generic.FloatObject(v) for v in (0, 0, width, height)])
    return writer.add_object(_stream(data, Type=N("/XObject"), Subtype=N("/Form"), BBox=box))


# --- the kinds of change ----------------------------------------------------------------------------------------
def replace_appearance(w: IncrementalPdfFileWriter) -> None:
    ref = _field(w, A_FIELD)
    widget = ref.get_object()
    fake = _form_xobject(w, b"1 0 0 rg 0 0 50 50 re f", widget["/Rect"])
    widget[N("/AP")] = generic.DictionaryObject({N("/N"): fake})
    w.mark_update(ref)


def rewrite_appearance_in_place(w: IncrementalPdfFileWriter) -> None:
    ap_ref = _field(w, A_FIELD).get_object()["/AP"].raw_get("/N")
    old = ap_ref.get_object()
    new = _stream(b"0 0 1 rg 0 0 80 40 re f", **{str(k)[1:]: old.raw_get(k) for k in old if k != "/Length"})
    w.objects[(ap_ref.generation, ap_ref.idnum)] = new  # same object number, new content


def hide_widget(w: IncrementalPdfFileWriter) -> None:
    ref = _field(w, A_FIELD)
    ref.get_object()[N("/F")] = generic.NumberObject(2 | 4)  # hidden
    w.mark_update(ref)


def rewrite_signature_dictionary(w: IncrementalPdfFileWriter) -> None:
    value = _field(w, A_FIELD).get_object().raw_get("/V")
    sig = value.get_object()
    sig[N("/Reason")] = generic.TextStringObject("Không đồng ý")
    w.mark_update(value)


def write_field_again(w: IncrementalPdfFileWriter) -> None:
    """The earlier signer's field written again, unchanged: no difference to see, but no longer the bytes signed."""
    w.mark_update(_field(w, A_FIELD))


def write_signature_dictionary_again(w: IncrementalPdfFileWriter) -> None:
    w.mark_update(_field(w, A_FIELD).get_object().raw_get("/V"))


def replace_signature_dictionary(w: IncrementalPdfFileWriter) -> None:
    ref = _field(w, A_FIELD)
    field = ref.get_object()
    copy = generic.DictionaryObject({k: v for k, v in field["/V"].items()})
    copy[N("/Name")] = generic.TextStringObject("Người khác")
    field[N("/V")] = w.add_object(copy)
    w.mark_update(ref)


def point_value_at_certification(w: IncrementalPdfFileWriter) -> None:
    ref = _field(w, A_FIELD)
    ref.get_object()[N("/V")] = _field(w, "certification").get_object().raw_get("/V")
    w.mark_update(ref)


def remove_signature(w: IncrementalPdfFileWriter) -> None:
    ref = _field(w, A_FIELD)
    field = ref.get_object()
    del field["/V"]
    w.mark_update(ref)


def restore_empty_field(w: IncrementalPdfFileWriter) -> None:
    ref = _field(w, A_FIELD)
    field = ref.get_object()
    del field["/V"]
    rect = field["/Rect"]
    field[N("/AP")] = generic.DictionaryObject({N("/N"): _form_xobject(w, b"", rect)})
    w.mark_update(ref)


def overlay_annotation(w: IncrementalPdfFileWriter) -> None:
    page_ref = _field(w, A_FIELD).get_object().raw_get("/P")
    page = page_ref.get_object()
    rect = _rect(w, A_FIELD)
    appearance = _form_xobject(w, b"1 1 1 rg 0 0 500 500 re f", rect)
    annot = generic.DictionaryObject(
        {
            N("/Type"): N("/Annot"),
            N("/Subtype"): N("/Square"),
            N("/Rect"): rect,
            N("/AP"): generic.DictionaryObject({N("/N"): appearance}),
        }
    )
    annots = page.get("/Annots", generic.ArrayObject())
    annots.append(w.add_object(annot))
    page[N("/Annots")] = annots
    w.mark_update(page_ref)


def add_content_stream(w: IncrementalPdfFileWriter) -> None:
    page_ref = _field(w, A_FIELD).get_object().raw_get("/P")
    page = page_ref.get_object()
    contents = page.raw_get("/Contents")
    extra = w.add_object(_stream(b"q 1 1 1 rg 0 0 600 400 re f Q"))
    page[N("/Contents")] = generic.ArrayObject(
        [*(contents if isinstance(contents, generic.ArrayObject) else [contents]), extra]
    )
    w.mark_update(page_ref)


def add_page(w: IncrementalPdfFileWriter) -> None:
    box = generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)])
    w.insert_page(generic.DictionaryObject({N("/Type"): N("/Page"), N("/MediaBox"): box}))


def remove_page(w: IncrementalPdfFileWriter) -> None:
    pages_ref = w.root.raw_get("/Pages")
    pages = pages_ref.get_object()
    kids = pages["/Kids"]
    if len(kids) < 2:
        pytest.skip("one-page document")
    pages[N("/Kids")] = generic.ArrayObject(list(kids)[:-1])
    pages[N("/Count")] = generic.NumberObject(len(kids) - 1)
    w.mark_update(pages_ref)


def swap_page_font(w: IncrementalPdfFileWriter) -> None:
    page = _page(w)
    fonts = page["/Resources"]["/Font"]
    name = next(iter(fonts))
    font_ref = fonts.raw_get(name)
    font = font_ref.get_object()
    font[N("/BaseFont")] = N("/Courier")
    w.mark_update(font_ref)


def swap_form_font(w: IncrementalPdfFileWriter) -> None:
    form_ref = w.root.raw_get("/AcroForm")
    fonts = form_ref.get_object()["/DR"]["/Font"]
    name = next(iter(fonts))
    courier = generic.DictionaryObject(
        {N("/Type"): N("/Font"), N("/Subtype"): N("/Type1"), N("/BaseFont"): N("/Courier")}
    )
    fonts[N(name)] = w.add_object(courier)
    w.mark_update(form_ref)


def replace_catalog(w: IncrementalPdfFileWriter) -> None:
    copy = generic.DictionaryObject({k: v for k, v in w.root.items()})
    copy[N("/PageMode")] = N("/UseNone")
    w._root = w.add_object(copy)  # the trailer's /Root now names another object
    w.trailer[N("/Root")] = w._root


def replace_acroform(w: IncrementalPdfFileWriter) -> None:
    form = w.root["/AcroForm"]
    copy = generic.DictionaryObject({k: v for k, v in form.items()})
    copy[N("/NeedAppearances")] = generic.BooleanObject(True)
    w.root[N("/AcroForm")] = w.add_object(copy)
    w.update_root()


def open_action_javascript(w: IncrementalPdfFileWriter) -> None:
    action = generic.DictionaryObject(
        {N("/S"): N("/JavaScript"), N("/JS"): generic.TextStringObject("app.alert('Đã ký')")}
    )
    w.root[N("/OpenAction")] = w.add_object(action)
    w.update_root()


def page_action(w: IncrementalPdfFileWriter) -> None:
    page_ref = _field(w, A_FIELD).get_object().raw_get("/P")
    page = page_ref.get_object()
    action = generic.DictionaryObject({N("/S"): N("/JavaScript"), N("/JS"): generic.TextStringObject("this.print()")})
    page[N("/AA")] = generic.DictionaryObject({N("/O"): w.add_object(action)})
    w.mark_update(page_ref)


def widget_action(w: IncrementalPdfFileWriter) -> None:
    ref = _field(w, A_FIELD)
    action = generic.DictionaryObject(
        {N("/S"): N("/URI"), N("/URI"): generic.TextStringObject("https://example.invalid/")}
    )
    ref.get_object()[N("/A")] = w.add_object(action)
    w.mark_update(ref)


def names_javascript(w: IncrementalPdfFileWriter) -> None:
    action = generic.DictionaryObject({N("/S"): N("/JavaScript"), N("/JS"): generic.TextStringObject("1")})
    tree = generic.DictionaryObject(
        {N("/Names"): generic.ArrayObject([generic.TextStringObject("x"), w.add_object(action)])}
    )
    names = w.root.get("/Names", generic.DictionaryObject())
    names[N("/JavaScript")] = w.add_object(tree)
    w.root[N("/Names")] = names
    w.update_root()


def new_visible_field(w: IncrementalPdfFileWriter) -> None:
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    rect = [int(float(v)) for v in _rect(w, A_FIELD)]
    append_signature_field(w, SigFieldSpec(sig_field_name="overlay", on_page=0, box=tuple(rect)))  # type: ignore[arg-type]


def move_own_field_over_a(w: IncrementalPdfFileWriter) -> None:
    ref = _field(w, B_FIELD)
    ref.get_object()[N("/Rect")] = generic.ArrayObject(list(_rect(w, A_FIELD)))
    w.mark_update(ref)


def move_empty_field(w: IncrementalPdfFileWriter) -> None:
    ref = _field(w, C_FIELD)
    ref.get_object()[N("/Rect")] = generic.ArrayObject(list(_rect(w, A_FIELD)))
    w.mark_update(ref)


def lock_structure(w: IncrementalPdfFileWriter) -> None:
    w.root[N("/PageLayout")] = N("/TwoColumnLeft")
    w.update_root()


def orphan_with_dangling_reference(w: IncrementalPdfFileWriter) -> None:
    """An object nothing uses (inert: allowed) that refers to a number nothing has yet: a later revision could
    put anything there, and whoever makes the object reachable then shows it."""
    future = generic.Reference(w._lastobj_id + 50, 0, w)
    w.add_object(generic.DictionaryObject({N("/XObject"): generic.IndirectObject(future.idnum, 0, w)}))
    w.update_root()


def validation_data_with_dangling_reference(w: IncrementalPdfFileWriter) -> None:
    """Validation data (which a revision may add) that points at an object that does not exist yet."""
    future = generic.IndirectObject(w._lastobj_id + 50, 0, w)
    dss = generic.DictionaryObject({N("/Certs"): generic.ArrayObject([future])})
    w.root[N("/DSS")] = w.add_object(dss)
    w.update_root()


def object_with_new_generation(w: IncrementalPdfFileWriter) -> None:
    """A's appearance stream written again as generation 1 (a reader that ignores generations shows it)."""
    ref = _field(w, A_FIELD)
    stream_ref = ref.get_object()["/AP"].raw_get("/N")
    fake = _stream(b"1 0 0 rg 0 0 50 50 re f", Type=N("/XObject"), Subtype=N("/Form"))
    w.objects[(1, stream_ref.idnum)] = fake  # pyHanko's writer keeps objects by (generation, number)
    w.update_root()


KINDS: dict[str, Change] = {
    "appearance-replaced": replace_appearance,
    "appearance-rewritten-in-place": rewrite_appearance_in_place,
    "widget-hidden": hide_widget,
    "signature-dictionary-rewritten": rewrite_signature_dictionary,
    "signature-dictionary-replaced": replace_signature_dictionary,
    "field-written-again-unchanged": write_field_again,
    "signature-dictionary-written-again-unchanged": write_signature_dictionary_again,
    "value-points-at-another-signature": point_value_at_certification,
    "signature-removed": remove_signature,
    "field-restored-to-empty": restore_empty_field,
    "annotation-overlay": overlay_annotation,
    "content-stream-added": add_content_stream,
    "page-added": add_page,
    "page-removed": remove_page,
    "font-swapped-in-page": swap_page_font,
    "font-swapped-in-dr": swap_form_font,
    "catalog-replaced": replace_catalog,
    "acroform-replaced": replace_acroform,
    "catalog-entry-changed": lock_structure,
    "open-action-javascript": open_action_javascript,
    "page-action": page_action,
    "widget-action": widget_action,
    "names-javascript": names_javascript,
    "new-visible-signature-field": new_visible_field,
    "own-field-moved-over-earlier-stamp": move_own_field_over_a,
    "other-empty-field-moved": move_empty_field,
    "orphan-with-dangling-reference": orphan_with_dangling_reference,
    "validation-data-with-dangling-reference": validation_data_with_dangling_reference,
    "object-with-new-generation": object_with_new_generation,
}
# the signer's own field moved: only meaningful in the revision that signs it
WHERE = {"own-field-moved-over-earlier-stamp": ("signing",)}


def _write(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _incremental(pdf: bytes, change: Change) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    return _write(writer)


def _sign_b(launched: dict, pdf: bytes, change: Change | None = None) -> bytes:
    """B's signature, as sign_field makes it, with `change` made in the same revision."""
    signer = load_pkcs12(*person(launched, B_KEY))
    if change is None:
        return sign_field(pdf, B_FIELD, signer, signer_name=B_NAME, title=B_TITLE, unit=B_UNIT)
    import datetime as dt

    meta = signers.PdfSignatureMetadata(field_name=B_FIELD, subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    style = stamp_for(pdf, B_FIELD, person_stamp(B_NAME, B_TITLE, B_UNIT, dt.datetime.now(dt.UTC)))
    out = signers.PdfSigner(meta, signer, stamp_style=style).sign_pdf(
        writer, existing_fields_only=True, bytes_reserved=16384
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def base(launched: dict) -> dict:
    """The covenant after the certification and A's (Phú Thọ's) signature: what B submits against."""
    from tests.conftest import launched_ctx

    ctx = launched_ctx(launched)
    _, current, _ = slot_state(ctx, launched["round_id"], A_FIELD)
    a = load_pkcs12(*person(launched, "phu-tho--do-dinh-chu"))
    accepted = sign_field(current, A_FIELD, a, signer_name="Đỗ Đình Chữ", title="Viện trưởng", unit="VKSND Phú Thọ")
    roots = load_roots(demo_roots(launched["data"] / "pki"))
    return {"accepted": accepted, "roots": roots}


def _corpus(launched: dict, accepted: bytes) -> list[tuple[str, str, bytes]]:
    files = []
    for kind, change in KINDS.items():
        for where in WHERE.get(kind, ("signing", "before", "after")):
            try:
                if where == "signing":
                    pdf = _sign_b(launched, accepted, change)
                elif where == "before":
                    pdf = _sign_b(launched, _incremental(accepted, change))
                else:
                    pdf = _incremental(_sign_b(launched, accepted), change)
            except pytest.skip.Exception:
                continue
            files.append((kind, where, pdf))
    return files


def _pyhanko_refuses(pdf: bytes, roots: list) -> bool:  # type: ignore[type-arg]
    try:
        reports = validate_signatures(pdf, roots, pairwise=True)
    except Exception:
        return True
    return not reports or not all(status_ok(r) for r in reports)


def _chain_refuses(pdf: bytes, roots: list) -> tuple[bool, list[str]]:  # type: ignore[type-arg]
    try:
        reports = validate_signatures(pdf, roots)
    except Exception as exc:
        return True, [f"{type(exc).__name__}: {exc}"]
    bad = [f"{r.field}: {r.modification or r.summary}" for r in reports if not status_ok(r)]
    present = {r.field for r in reports}
    gone = [f"{field}: no signature any more" for field in (A_FIELD, B_FIELD) if field not in present]
    return bool(bad or gone), bad + gone


def _accepted(base: dict, pdf: bytes) -> tuple[bool, str]:
    try:
        judge_submission(base["accepted"], pdf, B_FIELD, base["roots"], Pin(), B_NAME)
    except SignatureRejected as exc:
        return False, str(exc)
    return True, ""


def test_genuine_submissions_are_accepted_by_all(launched: dict, base: dict) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import add_validation_info
    from pyhanko_certvalidator import ValidationContext

    signed = _sign_b(launched, base["accepted"])
    ok, why = _accepted(base, signed)
    assert ok, why
    # what acceptance found from the new revisions alone (the form not read) is what the whole file says: the
    # signatures of the accepted file, and one more, standing for B's prepared field
    acceptance = judge_submission(base["accepted"], signed, B_FIELD, base["roots"], Pin(), B_NAME)
    assert acceptance.stands_for == B_FIELD and acceptance.report.field == B_FIELD
    before, after = (PdfFileReader(io.BytesIO(pdf), strict=False) for pdf in (base["accepted"], signed))
    whole_before = {signature_hosts(before).get(f, f) for f in _signed_fields(before)}
    whole_after = {signature_hosts(after).get(f, f) for f in _signed_fields(after)}
    assert whole_after == whole_before | {acceptance.stands_for} and {A_FIELD, B_FIELD} < whole_after
    assert B_FIELD not in whole_before
    assert not _pyhanko_refuses(signed, base["roots"]) and not _chain_refuses(signed, base["roots"])[0]
    # what an "LTV enabling" tool does after signing: a revision with the Document Security Store
    reader = PdfFileReader(io.BytesIO(signed), strict=False)
    sig = next(s for s in reader.embedded_signatures if s.field_name == B_FIELD)
    context = ValidationContext(trust_roots=base["roots"], allow_fetching=False, revocation_mode="soft-fail")
    out = add_validation_info(sig, context, in_place=False)
    with_dss = out.getvalue()
    assert with_dss.startswith(signed) and len(with_dss) > len(signed)
    ok, why = _accepted(base, with_dss)
    assert ok, why
    assert not _pyhanko_refuses(with_dss, base["roots"]) and not _chain_refuses(with_dss, base["roots"])[0]


def test_forgery_corpus_refused_at_least_as_pyhanko_refuses(launched: dict, base: dict) -> None:
    corpus = _corpus(launched, base["accepted"])
    kinds = {kind for kind, _, _ in corpus}
    assert len(corpus) >= 40 and len(kinds) >= 20, (len(corpus), len(kinds))
    rows = []
    for kind, where, pdf in corpus:
        theirs = _pyhanko_refuses(pdf, base["roots"])
        accepted, why = _accepted(base, pdf)
        chain, problems = _chain_refuses(pdf, base["roots"])
        rows.append(
            {
                "kind": kind,
                "where": where,
                "pyhanko_refuses": theirs,
                "accepted": accepted,
                "why": why,
                "chain_refuses": chain,
                "problems": problems,
            }
        )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "forgery-corpus.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    # what pyHanko refuses, we refuse: at acceptance and in the default validation
    assert [r for r in rows if r["pyhanko_refuses"] and r["accepted"]] == []
    assert [r for r in rows if r["pyhanko_refuses"] and not r["chain_refuses"]] == []
    # and every one of these is a forgery: none is accepted, whatever pyHanko says
    assert [(r["kind"], r["where"]) for r in rows if r["accepted"]] == []
    # changes made after B's signature harm the earlier signatures in the chain validation, which names them
    for row in rows:
        unreadable = any(p.startswith("PdfError") for p in row["problems"])  # the whole file refused, by name
        if row["where"] == "after" and row["chain_refuses"] and not unreadable:
            assert any(p.startswith(A_FIELD) for p in row["problems"]), row
    # pyHanko refuses most of them too (the corpus is not a set of harmless changes)
    assert sum(r["pyhanko_refuses"] for r in rows) >= len(rows) // 2


def test_refusal_names_the_harmed_signer(base: dict, launched: dict) -> None:
    pdf = _sign_b(launched, base["accepted"], hide_widget)
    with pytest.raises(SignatureRejected, match=A_FIELD):
        judge_submission(base["accepted"], pdf, B_FIELD, base["roots"], Pin(), B_NAME)
    after = _incremental(_sign_b(launched, base["accepted"]), rewrite_appearance_in_place)
    reports = {r.field: r for r in validate_signatures(after, base["roots"])}
    assert not status_ok(reports[A_FIELD]) and not status_ok(reports[B_FIELD])
    assert A_FIELD in (reports[A_FIELD].modification or "")  # the stamp rewritten is A's, and it says so


# --- malformed signatures ----------------------------------------------------------------------------------------
def _gap(pdf: bytes) -> tuple[int, int]:
    """Where the newest signature's /Contents hex string lies (its ByteRange hole)."""
    import re

    ranges = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    start, length, end, _ = (int(v) for v in ranges[-1])
    return start + length, end


def _malformed(signed: bytes) -> dict[str, bytes]:
    import re

    start, end = _gap(signed)
    hex_len = end - start - 2  # between < and >
    out = {
        "contents-empty": signed[:start] + b"<>" + b" " * hex_len + signed[end:],
        "contents-zeroed": signed[:start] + b"<" + b"0" * hex_len + b">" + signed[end:],
        "contents-not-hex": signed[:start] + b"<" + b"zz" * (hex_len // 2) + b">" + signed[end:],
    }
    at = signed.rfind(b"/ByteRange")
    close = signed.index(b"]", at) + 1
    out["byterange-null"] = signed[:at] + b"/ByteRange null".ljust(close - at) + signed[close:]
    out["byterange-beyond-the-file"] = (
        signed[:at]
        + re.sub(rb"\d+\s*\]$", lambda m: b"9" * (len(m.group(0)) - 1) + b"]", signed[at:close])
        + signed[close:]
    )
    # an object written into the gap, and the signing revision's xref pointing at it
    inject = b">\n9999 0 obj\n(hors du champ signe)\nendobj\n<"
    tail = signed[:start] + b"<" + b"0" * (hex_len - len(inject)) + inject[:-1] + b">" + signed[end:]
    out["object-in-the-gap"] = tail
    xref_at = signed.rfind(b"startxref")
    out["xref-broken"] = signed[:xref_at] + b"startxref\n999999999\n%%EOF\n"
    out["xref-garbage"] = signed[: signed.rfind(b"xref")] + b"xref\n0 1\nthis is not an xref\ntrailer\n<<>>\n%%EOF"
    out["truncated"] = signed[: len(signed) - 300]
    return out


def test_malformed_signatures_are_refused_cleanly(launched: dict, base: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]
    signed = _sign_b(launched, base["accepted"])
    files = _malformed(signed)
    for name, pdf in files.items():
        accepted, why = _accepted(base, pdf)
        assert not accepted, name
        assert why and "Traceback" not in why, (name, why)
    # the same through the command line: exit 2, a message, no traceback, nothing recorded
    from tests.conftest import run_covenant

    for name in ("contents-empty", "byterange-null", "object-in-the-gap", "xref-broken"):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(files[name])
        proc = run_covenant(
            "upload", launched["round_id"], str(path), "--field", B_FIELD, "--document", "covenant", env=launched["env"]
        )
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.strip(), (name, proc.stderr)


def test_object_in_the_gap_of_the_signing_revision_is_refused(launched: dict, base: dict) -> None:
    """B's own revision whose xref points one of its objects into the unsigned /Contents gap: whoever edits the
    gap would edit that object without breaking B's signature."""
    import re

    signed = _sign_b(launched, base["accepted"])
    start, end = _gap(signed)
    # move the newest xref entry of the signing revision into the gap, keeping the table's width
    xref_at = signed.rfind(b"\nxref\n")
    table = signed[xref_at:]
    entries = list(re.finditer(rb"(\d{10}) 00000 n", table))
    victim = entries[-1]
    moved = b"%010d" % (start + 10)
    forged = signed[: xref_at + victim.start(1)] + moved + signed[xref_at + victim.end(1) :]
    accepted, why = _accepted(base, forged)
    assert not accepted and "unsigned gap" in why, why


def test_fuzzed_submissions_never_crash_or_pass_with_changed_signed_bytes(launched: dict, base: dict) -> None:
    """A few hundred random mutations of a valid submission's new bytes: every one gives a clean refusal or an
    acceptance whose signed bytes are those of the valid file (how fast: bench/sign.py, not a timed test)."""
    import random

    signed = _sign_b(launched, base["accepted"])
    start, end = _gap(signed)
    prefix = len(base["accepted"])
    rng = random.Random(20261202)
    accepted_count = 0
    for n in range(300):
        data = bytearray(signed)
        kind = rng.choice(["flip", "flip", "insert", "delete", "digit"])
        at = rng.randrange(prefix, len(data))
        if kind == "flip":
            data[at] = rng.randrange(256)
        elif kind == "insert":
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif kind == "delete":
            del data[at : at + rng.randrange(1, 8)]
        else:
            data[at] = rng.choice(b"0123456789")
        mutated = bytes(data)
        ok, why = _accepted(base, mutated)
        if ok:
            accepted_count += 1
            assert len(mutated) == len(signed), (n, kind, at)
            changed = [i for i in range(prefix, len(signed)) if mutated[i] != signed[i]]
            # only the signature's own unsigned hex may differ (padding the CMS ignores), never a signed byte
            assert all(start < i < end - 1 for i in changed), (n, kind, at, changed)
        else:
            assert why and "Traceback" not in why
    assert accepted_count < 300  # the mutations do break things; those that pass touched only unsigned padding


def test_absurdly_heavy_stamp_is_refused(launched: dict, base: dict) -> None:
    """A stamp of a million fill operators, about 40 KB compressed: refused at acceptance, quickly, before any
    page image is drawn from it: the refusal names the appearance's size, which is read before anything is drawn."""
    from pyhanko.stamp.text import TextStamp, TextStampStyle

    class HeavyStamp(TextStamp):
        def render(self) -> bytes:
            return super().render() + b" " + b"0 0 1 1 re f " * 1_000_000

        def as_form_xobject(self):  # type: ignore[no-untyped-def]
            xobject = super().as_form_xobject()
            xobject.compress()  # Flate: ~40 KB on disk
            return xobject

    class HeavyStyle(TextStampStyle):
        def create_stamp(self, writer, box, text_params):  # type: ignore[no-untyped-def]
            return HeavyStamp(writer=writer, style=self, box=box, text_params=text_params)

    signer = load_pkcs12(*person(launched, B_KEY))
    meta = signers.PdfSignatureMetadata(field_name=B_FIELD, subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256")
    writer = IncrementalPdfFileWriter(io.BytesIO(base["accepted"]), strict=False)
    style = HeavyStyle(stamp_text="Ký bởi: %(signer)s")
    pdf = signers.PdfSigner(meta, signer, stamp_style=style).sign_pdf(writer, existing_fields_only=True).getvalue()
    assert len(pdf) - len(base["accepted"]) < 200 * 1024  # small on disk
    accepted, why = _accepted(base, pdf)
    assert not accepted and "stamp's appearance" in why, why


def test_two_thousand_revisions_are_refused_before_any_is_judged(
    launched: dict, base: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal costs the cross-reference read only: no revision is judged, no signature validated (a count of
    the work, not a wall-clock time: speed is measured in bench/)."""
    import re

    from signing import revisions, validation

    signed = _sign_b(launched, base["accepted"])
    prev = int(re.findall(rb"startxref\s+(\d+)", signed)[-1])
    size = int(re.findall(rb"/Size (\d+)", signed)[-1])
    root = re.findall(rb"/Root (\d+ \d+ R)", signed)[-1]
    out = bytearray(signed)
    for _ in range(2000):  # empty incremental updates chained by /Prev, with a single startxref at the end
        at = len(out)
        out += b"\nxref\n0 0\ntrailer\n<< /Size %d /Root %s /Prev %d >>\n" % (size, root, prev)
        prev = at + 1
    out += b"startxref\n%d\n%%%%EOF\n" % prev
    work = {"judged": 0, "validated": 0}
    judge, validate = revisions.RevisionJudge.verdict, validation.validate_pdf_signature

    def counted_judge(self, revision):  # type: ignore[no-untyped-def]
        work["judged"] += 1
        return judge(self, revision)

    def counted_validate(*args, **kw):  # type: ignore[no-untyped-def]
        work["validated"] += 1
        return validate(*args, **kw)

    monkeypatch.setattr(revisions.RevisionJudge, "verdict", counted_judge)
    monkeypatch.setattr(validation, "validate_pdf_signature", counted_validate)
    accepted, why = _accepted(base, bytes(out))
    assert not accepted and "revisions" in why, why
    assert work == {"judged": 0, "validated": 0}


def _sign_b_in_new_field(launched: dict, pdf: bytes, box: tuple[int, int, int, int], extra: Change | None) -> bytes:
    """B's signature in a field of B's signing tool's own (as several Vietnamese tools make), at `box` on the page of
    B's block; `extra` changes that new field before it is signed."""
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    signer = load_pkcs12(*person(launched, B_KEY))
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    b_page = _field(writer, B_FIELD).get_object().raw_get("/P")
    page = next(i for i, p in enumerate(writer.root["/Pages"].raw_get("/Kids")) if p.idnum == b_page.idnum)
    append_signature_field(writer, SigFieldSpec(sig_field_name="Chu-ky-B", on_page=page, box=box))
    if extra is not None:
        extra(writer)
    meta = signers.PdfSignatureMetadata(field_name="Chu-ky-B", subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256")
    return signers.PdfSigner(meta, signer).sign_pdf(writer, existing_fields_only=True).getvalue()


def _inset(rect: generic.ArrayObject, by: int = 6) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (int(float(v)) for v in rect)
    return x1 + by, y1 + by, x2 - by, y2 - by


def _new_field_entry(key: str, value: Callable[[IncrementalPdfFileWriter], generic.PdfObject]) -> Change:
    def change(w: IncrementalPdfFileWriter) -> None:
        ref = _field(w, "Chu-ky-B")
        ref.get_object()[N(key)] = value(w)
        w.mark_update(ref)

    return change


def _javascript(w: IncrementalPdfFileWriter) -> generic.PdfObject:
    action = generic.DictionaryObject({N("/S"): N("/JavaScript"), N("/JS"): generic.TextStringObject("app.alert(1)")})
    return generic.DictionaryObject({N("/K"): action})


def _lock_all(w: IncrementalPdfFileWriter) -> generic.PdfObject:
    return w.add_object(generic.DictionaryObject({N("/Type"): N("/SigFieldLock"), N("/Action"): N("/All")}))


def test_signatures_in_a_new_field_are_judged_at_least_as_pyhanko_does(launched: dict, base: dict) -> None:
    """A new field with B's signature inside B's empty block is accepted for B's slot (pyHanko's reference allows
    new visible fields after the certification). Over A's signed block, outside every block, or carrying an
    action or a lock on the other fields, it is refused, whatever pyHanko says."""
    with_file = IncrementalPdfFileWriter(io.BytesIO(base["accepted"]), strict=False)
    b_box, a_box = _inset(_rect(with_file, B_FIELD)), _inset(_rect(with_file, A_FIELD))
    genuine = _sign_b_in_new_field(launched, base["accepted"], b_box, None)
    ok, why = _accepted(base, genuine)
    assert ok, why
    reports = validate_signatures(genuine, base["roots"])  # the chain rule
    assert [r.field for r in reports] == ["certification", A_FIELD, "Chu-ky-B"] and all(status_ok(r) for r in reports)
    assert not _pyhanko_refuses(genuine, base["roots"])
    cases: dict[str, tuple[tuple[int, int, int, int], Change | None]] = {
        "over A's signed block": (a_box, None),
        "outside every block": ((20, 20, 120, 60), None),
        "with JavaScript": (b_box, _new_field_entry("/AA", _javascript)),
        "locking every field": (b_box, _new_field_entry("/Lock", _lock_all)),
    }
    forgeries = {name: _sign_b_in_new_field(launched, base["accepted"], *case) for name, case in cases.items()}
    for name, pdf in forgeries.items():
        accepted, why = _accepted(base, pdf)
        assert not accepted, name
        assert "Traceback" not in why and why, name
        theirs, chain = _pyhanko_refuses(pdf, base["roots"]), _chain_refuses(pdf, base["roots"])[0]
        assert chain or not theirs, name  # what pyHanko refuses, the chain refuses
