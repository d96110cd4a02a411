"""Stage 8, archive: the package of a completed, finalised round (BagIt, workflow/package.py) with its cover sheet;
and the search over archived rounds."""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy import select

from workflow.context import SYSTEM, Ctx, get_round, round_model
from workflow.cover import write_cover
from workflow.libreoffice import docx_to_pdf
from workflow.package import PackageContent, write_package
from workflow.stages.finalize import RoundReport, finalize, validation_report
from workflow.states import RoundStatus, StateConflict, event_json, move_round, record
from workflow.storage import EventRow, RoundRow
from workflow.texts import fold


def archive(ctx: Ctx, round_id: str) -> str:
    """Build the package of a completed round (idempotent); returns the bag folder's path."""
    with ctx.session() as s:
        rnd = get_round(s, round_id)
        if rnd.status == RoundStatus.ARCHIVED and rnd.archive_path:
            return rnd.archive_path
        if rnd.status != RoundStatus.COMPLETED:
            raise StateConflict(f"round {round_id} is {rnd.status}; only a completed round is archived")
    finalize(ctx, round_id)  # done by its own task before this one; idempotent, so run again if it was not
    report = validation_report(ctx, round_id)
    with ctx.session() as s:
        record(s, round_id, "round.validated", SYSTEM, documents={d["name"]: d["valid"] for d in report["documents"]})
    with ctx.session() as s:
        rnd = get_round(s, round_id)
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
                **records_bag_info(report),
            },
            signed={d.kind: ctx.blobs.get(d.final or d.current or "") for d in rnd.documents},
            sources=sources,
            report=report,
            events=events,
            trust=[ctx.blobs.get(h) for h in rnd.trust_roots],
        )
    folder, zip_path = write_package(content, ctx.settings.archive_dir)
    write_cover(report, zip_path, docx_to_pdf)
    with ctx.session() as s:
        rnd = get_round(s, round_id)
        rnd.archive_path = str(folder)
        # the zip as a blob too, in this transaction: with the blobs in the database, any machine hands it out
        rnd.archive_zip = ctx.blobs.put(zip_path.read_bytes())
        move_round(s, rnd, RoundStatus.ARCHIVED, SYSTEM, package=folder.name, zip=zip_path.name)
    return str(folder)


def records_bag_info(report: RoundReport) -> dict[str, str | list[str]]:
    """Each document's register entry as bag-info.txt labels (Document-1-Number, …; a signer per line), and the
    retention the round states."""
    info: dict[str, str | list[str]] = {"Document-Count": str(len(report["documents"]))}
    for i, doc in enumerate(report["documents"], start=1):
        record = doc["record"]
        info[f"Document-{i}-File"] = doc["file"]
        info[f"Document-{i}-Type"] = record["type"]
        info[f"Document-{i}-Title"] = record["title"]
        info[f"Document-{i}-Summary"] = record["summary"]
        info[f"Document-{i}-Number"] = record["number"] or "not issued"
        info[f"Document-{i}-Issued"] = record["issued"] or "not issued"
        info[f"Document-{i}-Language"] = record["language"]
        info[f"Document-{i}-Pages"] = str(record["pages"])
        info[f"Document-{i}-Signer"] = [
            f"{s['name']}, {s['title']}, {s['unit']}, {s['signed_at'] or 'not signed'}" for s in record["signers"]
        ]
        info["Retention-Period"] = record["retention"]
    return info


class ArchivedRound(TypedDict):
    """One row of `covenant archive list` and of `/api/archive` (the web leaves out `archive`, a server path)."""

    round_id: str
    cluster: str
    year: int
    archive: str | None
    units: int
    signers: list[str]


def search_archive(
    ctx: Ctx, cluster: str | None = None, year: int | None = None, unit: str | None = None, signer: str | None = None
) -> list[ArchivedRound]:
    """Archived rounds matching every filter given (accent- and case-insensitive), oldest first."""
    rows: list[ArchivedRound] = []
    with ctx.session() as s:
        for r in s.scalars(
            select(RoundRow).where(RoundRow.status == RoundStatus.ARCHIVED).order_by(RoundRow.created_at)
        ):
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
                ArchivedRound(
                    round_id=r.id,
                    cluster=r.cluster,
                    year=r.year,
                    archive=r.archive_path,
                    units=len({sl.unit_id for sl in slots}),
                    signers=sorted({sl.signer_name for sl in slots}),
                )
            )
    return rows
