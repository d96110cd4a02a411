"""Read models: what the command line (`covenant round status --json`) and the web (pages and `/api/rounds/…`)
show of a round, built in one place. Every moment carries its UTC offset."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from workflow.context import Ctx
from workflow.errors import NotFound
from workflow.storage import RoundRow, aware


def iso(moment: dt.datetime | None) -> str | None:
    """A stored moment (UTC, naive on SQLite) as ISO 8601 with its offset: 2026-12-09T14:53:06.198498+00:00."""
    return aware(moment).isoformat() if moment is not None else None


@dataclass(frozen=True)
class SlotView:
    field: str
    unit: str  # the unit's id in the round file (phu-tho), as `covenant round status --json` always gave it
    unit_name: str  # the unit's name, as the pages show it
    signer: str
    status: str
    signed_at: str | None
    role: str = "unit"  # unit | chair | secretary (a person), seal | issue (the organisation's, by its clerk)


@dataclass(frozen=True)
class DocumentView:
    name: str  # covenant | minutes
    file_name: str
    revisions: int
    slots: list[SlotView]


@dataclass(frozen=True)
class RoundView:
    round_id: str
    cluster: str
    year: int
    status: str
    version: int
    supersedes: str | None
    deadline: str | None
    archive: str | None
    documents: list[DocumentView]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def current_revision(ctx: Ctx, round_id: str, kind: str) -> tuple[str, bytes]:
    """A document's current revision (its file name, its bytes): what a signer signs now. Reading it touches no
    personal link."""
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        if rnd is None:
            raise NotFound(f"no round {round_id}")
        doc = next((d for d in rnd.documents if d.kind == kind), None)
        if doc is None:
            raise NotFound(f"round {round_id} has no {kind}")
        if not doc.current:
            raise NotFound(f"the {kind} of round {round_id} has no PDF yet (status {rnd.status})")
        name, current = f"{doc.file_name}.pdf", doc.current
    return name, ctx.blobs.get(current)


def round_view(ctx: Ctx, round_id: str) -> RoundView:
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        if rnd is None:
            raise NotFound(f"no round {round_id}")
        return RoundView(
            round_id=rnd.id,
            cluster=rnd.cluster,
            year=rnd.year,
            status=rnd.status,
            version=rnd.version,
            supersedes=rnd.supersedes,
            deadline=iso(rnd.deadline),
            archive=rnd.archive_path,
            documents=[
                DocumentView(
                    name=d.kind,
                    file_name=d.file_name,
                    revisions=d.revisions,
                    slots=[
                        SlotView(
                            sl.field_name,
                            sl.unit_id,
                            sl.unit_name,
                            sl.signer_name,
                            sl.status,
                            iso(sl.signed_at),
                            sl.role,
                        )
                        for sl in d.slots
                    ],
                )
                for d in rnd.documents
            ],
        )
