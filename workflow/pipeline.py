"""The stages of a round as plain functions over ids (design §5). Celery tasks in tasks/ only call these.

Every stage is idempotent: it looks at what is stored and does nothing when its result is already there, so a
retried or repeated task changes nothing.
"""

from __future__ import annotations

import fcntl
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from signing import fields as pdf_fields
from signing.ltv import add_long_term_validation, load_crls
from signing.signers import load_pkcs12
from signing.validation import Pin, SignatureRejected, judge_submission, load_roots
from workflow.config import Settings
from workflow.convert import docx_to_pdf
from workflow.documents import KINDS, anchor_name, render_docx, slot_specs, template_path
from workflow.model import Round, TrustSpec
from workflow.roundfile import OutsideError, inside, parse_round, template_folder
from workflow.states import StateConflict, move_round, move_slot, record
from workflow.storage import BlobStore, DocumentRow, RoundRow, SlotRow, session_scope, utcnow

SYSTEM = "covenant"


class LaunchError(Exception):
    """A round that cannot be launched as given (missing trust roots, ...)."""


@dataclass(frozen=True)
class Ctx:
    settings: Settings

    @property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.blob_dir)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.settings.database_url) as s:
            yield s


def round_model(ctx: Ctx, rnd: RoundRow) -> Round:
    return _stored_round(ctx.blobs, rnd.round_file, rnd.id)


@lru_cache(maxsize=32)
def _stored_round(blobs: BlobStore, digest: str, round_id: str) -> Round:
    # Blobs never change, so a parsed round file can be kept. The file was checked at launch; its deadline may
    # have passed since, which is no reason to refuse it now.
    return parse_round(blobs.get(digest).decode("utf-8"), f"round {round_id}", check_deadline=False)


def _trust_roots(ctx: Ctx, model: Round, base: Path) -> list[bytes]:
    if isinstance(model.signing.trust, TrustSpec):
        try:
            paths = [inside(base, p) for p in model.signing.trust.roots]
        except OutsideError as exc:
            raise LaunchError(f"signing.trust.roots: {exc}") from None
    else:
        paths = [ctx.settings.pki_dir / "root.pem"]
    pems = []
    for path in paths:
        if not path.is_file():
            hint = " (run `covenant pki demo` first)" if model.signing.trust == "demo" else ""
            raise LaunchError(f"signing.trust: root certificate {path} not found{hint}")
        pems.append(path.read_bytes())
    return pems


def _stamp_images(ctx: Ctx, model: Round, base: Path) -> dict[tuple[str, str, str], str]:
    """Blobs of the signature images (by unit and signer: a unit's signer signs with it wherever they sign) and
    of the seals (by unit: on the covenant, where each unit commits)."""
    found: dict[tuple[str, str, str], str] = {}
    for unit in model.units:
        for key, image in [
            (("signature", unit.id, unit.signer.name), unit.signer.signature_image),
            (("seal", unit.id, ""), unit.seal_image),
        ]:
            if image:
                try:
                    found[key] = ctx.blobs.put(inside(base, image).read_bytes())
                except OutsideError as exc:
                    raise LaunchError(str(exc)) from None
                except OSError as exc:
                    raise LaunchError(f"{image}: cannot read the image: {exc.strerror}") from None
    return found


def launch(ctx: Ctx, text: str, model: Round, base: Path, actor: str) -> str:
    """Store a checked round file as a new round with its documents and slots; returns the round id."""
    roots = _trust_roots(ctx, model, base)
    round_id = utcnow().strftime("%Y%m%d") + "-" + secrets.token_hex(4)
    launched = utcnow()
    with ctx.session() as s:
        rnd = RoundRow(
            id=round_id,
            cluster=model.cluster.name,
            cluster_slug=_slug(model.cluster.name),
            year=model.cluster.year,
            status="draft",
            round_file=ctx.blobs.put(text.encode("utf-8")),
            trust_roots=[ctx.blobs.put(pem) for pem in roots],
            deadline=model.signing.deadline_at(launched),
            created_at=launched,
        )
        s.add(rnd)
        specs = slot_specs(model)
        images = _stamp_images(ctx, model, base)
        folder = template_folder(model, base)
        for position, kind in enumerate(KINDS):
            own = ctx.blobs.put(template_path(kind, folder).read_bytes()) if folder else None
            doc = DocumentRow(kind=kind, position=position, template=own)
            rnd.documents.append(doc)
            for spec in specs[kind]:
                doc.slots.append(
                    SlotRow(
                        position=spec.position,
                        field_name=spec.field_name,
                        unit_id=spec.unit_id,
                        role=spec.role,
                        signer_name=spec.signer_name,
                        signer_title=spec.signer_title,
                        unit_name=spec.unit_name,
                        pin_sha256=spec.pin_sha256,
                        pin_identity=spec.pin_identity,
                        pin_cn=spec.pin_cn,
                        status="pending",
                        signature_image=images.get(("signature", spec.unit_id, spec.signer_name)),
                        seal_image=images.get(("seal", spec.unit_id, "")) if kind == "covenant" else None,
                    )
                )
        s.flush()
        record(
            s,
            round_id,
            "round.draft",
            actor,
            cluster=model.cluster.name,
            year=model.cluster.year,
            units=len(model.units),
            deadline=rnd.deadline.isoformat(),
        )
        move_round(s, rnd, "generating", actor)
    return round_id


def _slug(text: str) -> str:
    from signing.pki import slugify

    return slugify(text)


def _doc(s: Session, doc_id: int) -> DocumentRow:
    doc = s.get(DocumentRow, doc_id)
    if doc is None:
        raise LookupError(f"no document {doc_id}")
    return doc


def document_ids(ctx: Ctx, round_id: str) -> list[int]:
    with ctx.session() as s:
        return list(
            s.scalars(select(DocumentRow.id).where(DocumentRow.round_id == round_id).order_by(DocumentRow.position))
        )


def render_document(ctx: Ctx, doc_id: int) -> str:
    with ctx.session() as s:
        doc = _doc(s, doc_id)
        if doc.docx:
            return doc.docx
        model = round_model(ctx, doc.round)
        template = ctx.blobs.get(doc.template) if doc.template else None
        doc.docx = ctx.blobs.put(render_docx(model, doc.kind, template))
        record(s, doc.round_id, "document.rendered", SYSTEM, document=doc.kind, docx=doc.docx)
        return doc.docx


def convert_document(ctx: Ctx, doc_id: int) -> str:
    with ctx.session() as s:
        doc = _doc(s, doc_id)
        if doc.pdf:
            return doc.pdf
        if not doc.docx:
            raise StateConflict(f"document {doc_id} has not been rendered")
        docx = ctx.blobs.get(doc.docx)
    pdf = pdf_fields.normalise(docx_to_pdf(docx))  # outside the transaction: LibreOffice may take a while
    with ctx.session() as s:
        doc = _doc(s, doc_id)
        if not doc.pdf:
            doc.pdf = ctx.blobs.put(pdf)
            record(s, doc.round_id, "document.converted", SYSTEM, document=doc.kind, pdf=doc.pdf)
        return doc.pdf


def certifier_paths(ctx: Ctx) -> tuple[Path, Path]:
    pki = ctx.settings.pki_dir
    return pki / "secretariat.p12", pki / "secretariat.pass"


def round_crls(ctx: Ctx, rnd: RoundRow) -> list[bytes]:
    """Revocation lists known locally for the round's trust (the demo PKI's CRL; a real PKI's are fetched)."""
    from signing.pki import current_demo_crl

    if _is_demo(ctx, rnd) and (ctx.settings.pki_dir / "root.crl").is_file():
        return [current_demo_crl(ctx.settings.pki_dir)]
    return []


def _is_demo(ctx: Ctx, rnd: RoundRow) -> bool:
    return round_model(ctx, rnd).signing.trust == "demo"


def is_online(ctx: Ctx, rnd: RoundRow) -> bool:
    """A round on a real PKI fetches revocation status (OCSP, CRL) from the services its certificates name;
    the demo PKI's CRL travels with the round instead."""
    return isinstance(round_model(ctx, rnd).signing.trust, TrustSpec)


def _tsa_source(ctx: Ctx, rnd: RoundRow) -> str | None:
    """Where the round's timestamps come from: a service URL, "demo" (the demo PKI's TSA), or None."""
    trust = round_model(ctx, rnd).signing.trust
    if isinstance(trust, TrustSpec):
        return trust.tsa
    return "demo" if (ctx.settings.pki_dir / "tsa.pem").is_file() else None


def round_timestamper(ctx: Ctx, rnd: RoundRow):  # type: ignore[no-untyped-def]
    """The round's RFC 3161 time-stamping authority, or None when the round has none."""
    from signing.ltv import demo_timestamper, http_timestamper

    source = _tsa_source(ctx, rnd)
    if source == "demo":
        return demo_timestamper(ctx.settings.pki_dir, load_roots([ctx.blobs.get(h) for h in rnd.trust_roots]))
    return http_timestamper(source) if source else None


def prepare_document(ctx: Ctx, doc_id: int) -> str:
    """Empty signature field over every signer's block, then the secretariat's certification."""
    with ctx.session() as s:
        doc = _doc(s, doc_id)
        if doc.current:
            return doc.current
        if not doc.pdf:
            raise StateConflict(f"document {doc_id} has not been converted")
        pdf = ctx.blobs.get(doc.pdf)
        wanted = [(slot.field_name, anchor_name(slot.position)) for slot in doc.slots]
        with_fields = pdf_fields.add_fields(pdf, pdf_fields.placements(pdf, wanted))
        p12, passphrase = certifier_paths(ctx)
        prepared = pdf_fields.certify(with_fields, load_pkcs12(p12, passphrase), round_timestamper(ctx, doc.round))
        doc.current = ctx.blobs.put(prepared)
        doc.revisions = 1
        record(
            s,
            doc.round_id,
            "document.prepared",
            SYSTEM,
            document=doc.kind,
            pdf=doc.current,
            fields=[f for f, _ in wanted],
        )
        return doc.current


def open_round(ctx: Ctx, round_id: str) -> str:
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        if rnd is None:
            raise LookupError(f"no round {round_id}")
        if rnd.status == "generating":
            if not all(d.current for d in rnd.documents):
                raise StateConflict(f"round {round_id}: documents are not all prepared")
            move_round(s, rnd, "open", SYSTEM)
        return rnd.status


@contextmanager
def document_lock(ctx: Ctx, doc_id: int) -> Iterator[Session]:
    """A session that holds the document's lock until it commits: one revision at a time. On PostgreSQL a row
    lock (SELECT … FOR UPDATE), which workers on several machines share; on SQLite, whose users are all on one
    machine, a lock file."""
    if ctx.settings.database_url.startswith("sqlite"):
        lock_dir = ctx.settings.data_dir / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / f"document-{doc_id}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                with ctx.session() as s:
                    yield s
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    with ctx.session() as s:
        s.execute(select(DocumentRow.id).where(DocumentRow.id == doc_id).with_for_update())
        yield s


def slot_images(ctx: Ctx, slot: SlotRow) -> tuple[bytes | None, bytes | None]:
    """The signature image and seal image (PNG bytes) the slot's stamp carries, if the round gave any."""
    return (
        ctx.blobs.get(slot.signature_image) if slot.signature_image else None,
        ctx.blobs.get(slot.seal_image) if slot.seal_image else None,
    )


def round_of_slot(ctx: Ctx, slot_id: int) -> str:
    with ctx.session() as s:
        slot = s.get(SlotRow, slot_id)
        if slot is None:
            raise LookupError(f"no slot {slot_id}")
        return slot.document.round_id


def accept_signature(ctx: Ctx, slot_id: int, revision: str, actor: str | None = None) -> str:
    """Validate a submitted revision (blob id) for one slot and make it the document's current revision.

    The file is parsed and validated outside the document lock, against the revision that is current when it
    starts; only the final check-and-commit (that revision is still current, the slot still open) runs under the
    lock, so a heavy or hostile file never delays another leader. Raises SignatureRejected with the reason, or
    StateConflict when the slot or round is closed. A repeat of an accepted submission is a no-op.
    """
    for _attempt in range(5):
        with ctx.session() as s:
            slot = s.get(SlotRow, slot_id)
            if slot is None:
                raise LookupError(f"no slot {slot_id}")
            doc = slot.document
            if slot.status == "signed" and slot.revision == revision:
                return doc.round.status
            _check_open(doc, slot)
            base, doc_id, field = doc.current or "", doc.id, slot.field_name
            roots = load_roots([ctx.blobs.get(h) for h in doc.round.trust_roots])
            crls = load_crls(round_crls(ctx, doc.round))
            online = is_online(ctx, doc.round)
            needs_timestamp = _tsa_source(ctx, doc.round) is not None
            pin = Pin(sha256=slot.pin_sha256, identity=slot.pin_identity, cn=slot.pin_cn)
            signer_name = slot.signer_name
        acceptance = judge_submission(
            ctx.blobs.get(base), ctx.blobs.get(revision), field, roots, pin, signer_name, crls, online
        )
        report = acceptance.report
        if report.timestamp is None and needs_timestamp:
            raise SignatureRejected(
                "the signature carries no timestamp; this round requires PAdES B-T (an RFC 3161 signature "
                "timestamp from a time-stamping authority)"
            )
        with document_lock(ctx, doc_id) as s:
            slot = s.get(SlotRow, slot_id)
            assert slot is not None
            doc = slot.document
            if slot.status == "signed" and slot.revision == revision:
                return doc.round.status
            _check_open(doc, slot)
            if (doc.current or "") != base:
                continue  # another signature landed meanwhile: judge again against the document as it is now
            recorded = {sl.field_name for sl in doc.slots if sl.status == "signed"}
            missing = recorded - acceptance.signed_fields
            if missing:
                raise SignatureRejected(
                    f"the file does not carry the signatures already made in {', '.join(sorted(missing))}"
                )
            doc.current = revision
            doc.revisions += 1
            slot.revision = revision
            slot.signed_at = utcnow()
            slot.signer_certificate = report.signer_subject
            move_slot(
                s,
                slot,
                "signed",
                actor or slot.signer_name,
                revision=revision,
                certificate_sha256=report.certificate_sha256,
            )
            rnd = doc.round
            if all(sl.status == "signed" for d in rnd.documents for sl in d.slots):
                move_round(s, rnd, "completed", SYSTEM)
            return rnd.status
    raise StateConflict("the document kept changing while this signature was checked: submit it again")


def _check_open(doc: DocumentRow, slot: SlotRow) -> None:
    if doc.round.status != "open":
        raise StateConflict(f"round {doc.round_id} is {doc.round.status}: it takes no signatures")
    if slot.status not in ("pending", "notified"):
        raise StateConflict(f"{slot.signer_name} has already {slot.status} the {doc.kind} (slot {slot.field_name})")


def submit_revision(ctx: Ctx, pdf: bytes) -> str:
    """Store a submitted PDF as a blob (content-addressed: the same upload twice is one blob)."""
    return ctx.blobs.put(pdf)


def validation_report(ctx: Ctx, round_id: str) -> dict[str, object]:
    """Validate every signature of every document of a round as it stands."""
    from signing.validation import pades_level, status_ok, validate_signatures
    from workflow.archive import FILE_NAMES

    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        if rnd is None:
            raise LookupError(f"no round {round_id}")
        roots = load_roots([ctx.blobs.get(h) for h in rnd.trust_roots])
        crls = load_crls(round_crls(ctx, rnd))
        docs = []
        for doc in rnd.documents:
            pdf = ctx.blobs.get(doc.final or doc.current or "") if doc.current else b""
            reports = validate_signatures(pdf, roots, crls=crls) if pdf else []
            expected = {sl.field_name for sl in doc.slots}
            signed = {r.field for r in reports}
            docs.append(
                {
                    "name": doc.kind,
                    "file": f"data/signed/{FILE_NAMES[doc.kind]}.pdf",
                    "level": pades_level(reports, pdf) if pdf else "none",
                    "signatures": [{**r.to_dict(), "ok": status_ok(r)} for r in reports],
                    "valid": bool(reports) and all(status_ok(r) for r in reports) and expected <= signed,
                }
            )
        return {"round_id": rnd.id, "cluster": rnd.cluster, "year": rnd.year, "status": rnd.status, "documents": docs}


def finalize_round(ctx: Ctx, round_id: str) -> None:
    """PAdES B-LTA for every document of a completed round: DSS (certificates, CRLs) + document timestamp.
    Idempotent: a document already finalised is left alone. Without a TSA the documents stay as signed."""
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        if rnd is None:
            raise LookupError(f"no round {round_id}")
        timestamper = round_timestamper(ctx, rnd)
        if timestamper is None:
            return
        roots = load_roots([ctx.blobs.get(h) for h in rnd.trust_roots])
        crls = load_crls(round_crls(ctx, rnd))
        online = is_online(ctx, rnd)
        for doc in rnd.documents:
            if doc.final or not doc.current:
                continue
            final = add_long_term_validation(ctx.blobs.get(doc.current), roots, crls, timestamper, online)
            doc.final = ctx.blobs.put(final)
            record(s, round_id, "document.finalized", SYSTEM, document=doc.kind, pdf=doc.final, level="PAdES-B-LTA")


def archive_round(ctx: Ctx, round_id: str) -> str:
    """Build the package of a completed round (idempotent); returns the bag folder's path."""
    from workflow.archive import PackageContent, write_package
    from workflow.states import event_json
    from workflow.storage import EventRow

    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        if rnd is None:
            raise LookupError(f"no round {round_id}")
        if rnd.status == "archived" and rnd.archive_path:
            return rnd.archive_path
        if rnd.status != "completed":
            raise StateConflict(f"round {round_id} is {rnd.status}; only a completed round is archived")
    finalize_round(ctx, round_id)
    report = validation_report(ctx, round_id)
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        assert rnd is not None
        record(s, round_id, "round.validated", SYSTEM, documents={d["name"]: d["valid"] for d in report["documents"]})  # type: ignore[index,union-attr]
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        assert rnd is not None
        events = [
            event_json(e)
            for e in s.scalars(select(EventRow).where(EventRow.round_id == round_id).order_by(EventRow.seq))
        ]
        sources = {f"{d.kind}.docx": ctx.blobs.get(d.docx or "") for d in rnd.documents}
        sources["round.yaml"] = ctx.blobs.get(rnd.round_file)
        name = f"covenant-{rnd.cluster_slug}-{rnd.year}-{rnd.id}"
        content = PackageContent(
            name=name,
            bag_info={
                "Source-Organization": round_model(ctx, rnd).chair_unit.name,
                "External-Identifier": rnd.id,
                "External-Description": f"Giao ước thi đua {rnd.cluster} năm {rnd.year}",
                "Cluster": rnd.cluster,
                "Year": str(rnd.year),
            },
            signed={d.kind: ctx.blobs.get(d.final or d.current or "") for d in rnd.documents},
            sources=sources,
            report=report,
            events=events,
            trust=[ctx.blobs.get(h) for h in rnd.trust_roots],
        )
    folder, zip_path = write_package(content, ctx.settings.archive_dir)
    from workflow.cover import write_cover

    write_cover(report, zip_path, docx_to_pdf)
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        assert rnd is not None
        rnd.archive_path = str(folder)
        move_round(s, rnd, "archived", SYSTEM, package=folder.name, zip=zip_path.name)
    return str(folder)


def fold(text: str) -> str:
    """Accent- and case-insensitive form for search: "Phu Tho" finds "Phú Thọ"."""
    from signing.pki import slugify

    return slugify(text).replace("-", " ")


def search_archive(
    ctx: Ctx, cluster: str | None = None, year: int | None = None, unit: str | None = None, signer: str | None = None
) -> list[dict[str, object]]:
    """Archived rounds matching every filter given (accent- and case-insensitive), oldest first."""
    rows: list[dict[str, object]] = []
    with ctx.session() as s:
        for r in s.scalars(select(RoundRow).where(RoundRow.status == "archived").order_by(RoundRow.created_at)):
            slots = [sl for d in r.documents for sl in d.slots]
            if cluster and fold(cluster) not in fold(r.cluster):
                continue
            if year and r.year != year:
                continue
            if unit and not any(fold(unit) in fold(f"{sl.unit_name} {sl.unit_id}") for sl in slots):
                continue
            if signer and not any(fold(signer) in fold(sl.signer_name) for sl in slots):
                continue
            rows.append(
                {
                    "round_id": r.id,
                    "cluster": r.cluster,
                    "year": r.year,
                    "archive": r.archive_path,
                    "units": len({sl.unit_id for sl in slots}),
                    "signers": sorted({sl.signer_name for sl in slots}),
                }
            )
    return rows
