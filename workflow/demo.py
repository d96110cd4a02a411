"""`covenant demo`: one whole round on the embedded default, every signer signing with a demo key.

The leaders' agents are simulated in-process (each slot signed with that signer's own PKCS#12 from the demo PKI);
everything else is the real pipeline: the Celery canvas, the acceptance checks, the archive and its verifier.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from signing.names import slugify
from signing.pki import Identity, make_demo_pki
from signing.signers import load_pkcs12
from workflow.context import Ctx, get_round
from workflow.documents import ORGANISATION_ROLES, slot_specs
from workflow.model import Round
from workflow.sign_here import open_slots, sign_slot
from workflow.stages.verify import verify_package
from workflow.storage import EventRow, RoundRow

Progress = Callable[[str], None]


def person_key(unit_id: str, name: str) -> str:
    return f"{unit_id}--{slugify(name)}"


def organisation_key(unit_id: str) -> str:
    """The unit's organisation certificate (its clerk signs with it): named as the unit."""
    return f"{unit_id}--co-quan"


def slot_key(unit_id: str, signer_name: str, role: str) -> str:
    return organisation_key(unit_id) if role in ORGANISATION_ROLES else person_key(unit_id, signer_name)


def identities(model: Round) -> tuple[list[Identity], Identity]:
    """One identity per distinct signer of the round (a person, or a unit's organisation: CN and O its name), and
    the secretariat's certification identity."""
    people: dict[str, Identity] = {}
    for specs in slot_specs(model).values():
        for spec in specs:
            key = slot_key(spec.unit_id, spec.signer_name, spec.role)
            if spec.organisation:
                people.setdefault(key, Identity(key, spec.unit_name, spec.unit_name, spec.email))
                continue
            email = model.unit(spec.unit_id).signer.email if spec.role == "unit" else None
            people.setdefault(key, Identity(key, spec.signer_name, spec.unit_name, email))
    secretariat = Identity("secretariat", f"Văn phòng {model.cluster.name}", model.chair_unit.name)
    return list(people.values()), secretariat


def ensure_pki(folder: Path, model: Round) -> dict[str, Any]:
    """Reuse the demo PKI in `folder` if it covers every signer of this round, else make a new one."""
    people, secretariat = identities(model)
    index_file = folder / "index.json"
    if index_file.exists():
        index = json.loads(index_file.read_text(encoding="utf-8"))
        if all(p.key in index["people"] for p in people):
            return index
    return make_demo_pki(folder, people, secretariat)


def sign_all(ctx: Ctx, round_id: str, pki_dir: Path, progress: Progress, keys: dict[str, Any] | None = None) -> None:
    """Every leader signs in turn, as `covenant sign` would; `keys` keeps unlocked keys between calls."""
    from tasks.pipeline import accept_signature

    index = json.loads((pki_dir / "index.json").read_text(encoding="utf-8"))
    keys = {} if keys is None else keys  # a chair who signs both documents unlocks their key once
    for slot in open_slots(ctx, round_id):
        key = slot_key(slot.unit_id, slot.signer_name, slot.role)
        if key not in keys:
            entry = index["people"][key]
            keys[key] = load_pkcs12(pki_dir / entry["p12"], pki_dir / entry["passphrase_file"])
        revision = ctx.blobs.put(sign_slot(ctx, slot, keys[key]))
        accept_signature.delay(slot.id, revision, slot.signer_name).get(timeout=300)
        progress(f"{slot.signer_name} ({slot.unit_name}) signed {slot.field}")


@dataclass
class DemoResult:
    round_id: str
    status: str
    archive: str
    documents: list[dict[str, Any]]
    seconds: float
    stages: dict[str, float]
    problems: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "round_id": self.round_id,
            "status": self.status,
            "archive": self.archive,
            "documents": self.documents,
            "seconds": round(self.seconds, 2),
        }


def wait_for_archive(ctx: Ctx, round_id: str, timeout: float) -> str:
    """The last signature sends the round on to finalisation and the archive (tasks.accept_signature); wait for
    it. In the embedded mode that already happened, or failed: then run it here, so the error is seen."""
    from tasks.app import app
    from tasks.pipeline import archive_round

    deadline = time.monotonic() + timeout
    while True:
        with ctx.session() as s:
            rnd = s.get(RoundRow, round_id)
            assert rnd is not None
            if rnd.status == "archived" and rnd.archive_path:
                return rnd.archive_path
        if app.conf.task_always_eager or time.monotonic() > deadline:
            return str(archive_round.delay(round_id).get(timeout=timeout))
        time.sleep(0.2)


def _event_times(ctx: Ctx, round_id: str, *kinds: str) -> list[float]:
    """When the round's audit trail recorded each of `kinds` (its last such event), as POSIX seconds."""
    with ctx.session() as s:
        rows = s.execute(
            select(EventRow.kind, EventRow.at).where(EventRow.round_id == round_id).order_by(EventRow.seq)
        ).all()
    last = {kind: at for kind, at in rows}
    return [dt.datetime.fromisoformat(last[kind]).timestamp() for kind in kinds]  # stored with its +00:00


def run_demo(ctx: Ctx, text: str, model: Round, base: Path, progress: Progress) -> DemoResult:
    from tasks.app import settle
    from tasks.pipeline import generate_and_wait
    from workflow.stages.launch import launch

    settle()  # the embedded mode runs the tasks in this process

    started = time.perf_counter()
    stages: dict[str, float] = {}

    def stage(name: str, t0: float) -> float:
        now = time.perf_counter()
        stages[name] = round(now - t0, 3)
        return now

    t = time.perf_counter()
    ensure_pki(ctx.settings.pki_dir, model)
    t = stage("pki", t)
    progress("demo PKI ready")
    round_id = launch(ctx, text, model, base, actor="secretariat (demo)")
    progress(f"round {round_id} launched")
    generate_and_wait(round_id, timeout=600)
    t = stage("generate", t)
    progress("documents rendered, converted to PDF/A, fields added and certified")
    signing_from = time.time()
    sign_all(ctx, round_id, ctx.settings.pki_dir, progress)
    folder = wait_for_archive(ctx, round_id, timeout=600)
    # The last acceptance sends the round on to finalisation and the archive, in this very call in the embedded
    # mode: the audit trail's times part the two stages (signing until the round completed, then the archive).
    completed, archived = _event_times(ctx, round_id, "round.completed", "round.archived")
    stages["sign"] = round(completed - signing_from, 3)
    stages["archive"] = round(archived - completed, 3)
    t = time.perf_counter()
    progress(f"archived in {folder}")
    zip_path = Path(folder + ".zip")
    verification = verify_package(zip_path)
    stage("verify", t)
    progress("package verified offline" if verification.ok else "package verification FAILED")
    with ctx.session() as s:
        status = get_round(s, round_id).status
    (ctx.settings.data_dir / "last-demo-stages.json").write_text(json.dumps(stages))  # read by bench/demo.py
    documents = [
        {
            "name": d["file"].rsplit("/", 1)[-1],
            "signatures": sum(s["kind"] != "document-timestamp" for s in d["signatures"]),
            "level": d.get("level", "none"),
            "valid": d["valid"],
        }
        for d in verification.documents
    ]
    return DemoResult(
        round_id, status, str(zip_path), documents, time.perf_counter() - started, stages, verification.problems
    )
