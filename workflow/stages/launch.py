"""Stage 2, launch: a checked round file becomes a stored round with its documents and slots (status generating)."""

from __future__ import annotations

import secrets
from pathlib import Path

from signing.names import slugify
from workflow.context import Ctx
from workflow.documents import KINDS, SlotSpec, slot_specs, template_path
from workflow.errors import LaunchError
from workflow.model import Round, TrustSpec
from workflow.stages.check import OutsideError, inside, template_folder
from workflow.states import RoundStatus, SlotStatus, move_round, record
from workflow.storage import DocumentRow, RoundRow, SlotRow, utcnow


def _trust_roots(ctx: Ctx, model: Round, base: Path) -> list[bytes]:
    if isinstance(model.signing.trust, TrustSpec):
        try:
            paths = [inside(base, p) for p in model.signing.trust.roots]
        except OutsideError as exc:
            raise LaunchError(f"signing.trust.roots: {exc}") from None
    else:
        from signing.pki import demo_root_paths

        paths = demo_root_paths(ctx.settings.pki_dir)
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


def _seal_of(model: Round, spec: SlotSpec, images: dict[tuple[str, str, str], str]) -> str | None:
    """The unit's seal image: on the covenant, in the leader's stamp, or, when the round has organisation
    signatures, in the seal's own (the leader's stamp then carries only the signature); never in the issuing one."""
    if spec.kind != "covenant" or spec.role == "issue" or (spec.role == "unit" and model.signing.seals):
        return None
    return images.get(("seal", spec.unit_id, ""))


def launch(ctx: Ctx, text: str, model: Round, base: Path, actor: str) -> str:
    """Store a checked round file as a new round with its documents and slots; returns the round id."""
    roots = _trust_roots(ctx, model, base)
    round_id = utcnow().strftime("%Y%m%d") + "-" + secrets.token_hex(4)
    launched = utcnow()
    with ctx.session() as s:
        rnd = RoundRow(
            id=round_id,
            cluster=model.cluster.name,
            cluster_slug=slugify(model.cluster.name),
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
                        status=SlotStatus.PENDING.value,
                        signature_image=None
                        if spec.organisation
                        else images.get(("signature", spec.unit_id, spec.signer_name)),
                        seal_image=_seal_of(model, spec, images),
                        anchor=spec.place,
                        email=spec.email,
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
        move_round(s, rnd, RoundStatus.GENERATING, actor)
    return round_id
