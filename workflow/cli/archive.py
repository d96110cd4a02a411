"""`covenant archive …`: verify a package offline, list and copy out archived rounds, renew their timestamps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from signing.errors import EXIT_CONFLICT, EXIT_FAILED, EXIT_OK
from workflow.cli.common import app, context, err, fail, out
from workflow.errors import NotFound

archive_app = typer.Typer(help="Archived covenant packages.", no_args_is_help=True)
app.add_typer(archive_app, name="archive")


@archive_app.command("verify")
def archive_verify(
    path: Path,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    pairwise: Annotated[
        bool,
        typer.Option(
            "--pairwise",
            help="pyHanko's own difference analysis: every later revision against every signature "
            "(n²/2 comparisons; slow for many signatures) instead of each revision once against the one before",
        ),
    ] = False,
) -> None:
    """Verify a package offline (bag folder or zip): manifests, every signature, the audit chain."""
    from workflow.stages.verify import verify_package

    if not path.exists():
        fail(f"{path}: no such file or folder")
    result = verify_package(path, pairwise=pairwise)
    if json_out:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        for doc in result.documents:
            mark = "[green]valid[/]" if doc["valid"] else "[red]NOT valid[/]"
            count = sum(s["kind"] != "document-timestamp" for s in doc["signatures"])
            out.print(f"{doc['file']}: {count} signatures, {doc.get('level', 'none')}, {mark}")
        out.print(f"audit trail: {result.events} events")
        for note in result.notes:
            out.print(f"[yellow]note[/] {note}", highlight=False)
        for problem in result.problems:
            err.print(f"[red]FAIL[/] {problem}", highlight=False, soft_wrap=True)
        out.print("[bold green]package verified[/]" if result.ok else "[bold red]package verification failed[/]")
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


@archive_app.command("list")
def archive_list(
    cluster: Annotated[str | None, typer.Option(help="part of the cluster's name")] = None,
    year: Annotated[int | None, typer.Option(help="the round's year")] = None,
    unit: Annotated[str | None, typer.Option(help="part of a unit's name or its id")] = None,
    signer: Annotated[str | None, typer.Option(help="part of a signer's name")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Archived rounds in this data folder; the filters ignore accents and case."""
    from workflow.stages.archive import search_archive

    rows = search_archive(context(), cluster=cluster, year=year, unit=unit, signer=signer)
    if json_out:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title="archived rounds")
    for col in ("round", "cluster", "year", "units", "package"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["round_id"]), str(r["cluster"]), str(r["year"]), str(r["units"]), str(r["archive"] or ""))
    out.print(table)


@archive_app.command("get")
def archive_get(
    round_id: str,
    out_dir: Annotated[Path, typer.Option("--out", help="where to put the package")],
    as_zip: Annotated[bool, typer.Option("--zip", help="the single .zip instead of the bag folder")] = False,
) -> None:
    """Copy an archived round's package (bag folder, or its zip) out of the data folder."""
    import shutil

    from workflow.views import round_view

    view = round_view(context(), round_id)
    if not view.archive:
        raise NotFound(f"no archived round {round_id}")
    folder = Path(view.archive)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = folder.with_suffix(".zip") if as_zip else folder
    target = out_dir / source.name
    if target.exists():
        fail(f"{target} exists already; choose another --out", EXIT_CONFLICT)
    if as_zip:
        shutil.copy2(source, target)
    else:
        shutil.copytree(source, target)
    for cover in folder.parent.glob(f"{folder.name}.cover.*"):  # the printable cover sheet goes along
        shutil.copy2(cover, out_dir / cover.name)
    out.print(f"{target}")


@archive_app.command("renew")
def archive_renew(
    path: Path,
    tsa: Annotated[str | None, typer.Option(help="URL of the RFC 3161 service (default: the demo TSA)")] = None,
) -> None:
    """Add a fresh document timestamp to every PDF of a package (before the newest one's TSA certificate
    expires); the audit trail records it and the manifests are recomputed. Then verifies the package."""
    from signing.ltv import http_timestamper, load_crls, local_timestamper, renew_archive_timestamp
    from signing.pki import demo_crls
    from signing.validation import load_roots
    from workflow.package import package_roots, renew_package
    from workflow.stages.verify import verify_package

    if not (path / "bagit.txt").is_file():
        fail(f"{path}: not a bag folder (renew works on the folder; `archive get` without --zip gives one)")
    roots = load_roots(package_roots(path / "data"))
    pki = context().settings.pki_dir
    if tsa:
        timestamper, crls = http_timestamper(tsa), []
    elif (pki / "tsa.pem").is_file():
        timestamper = local_timestamper((pki / "tsa.pem").read_bytes(), (pki / "tsa.key").read_bytes(), roots)
        crls = load_crls(demo_crls(pki))
    else:
        fail("no time-stamping authority: give --tsa URL (or run in a data folder with a demo PKI)")
    renewed = renew_package(path, lambda pdf: renew_archive_timestamp(pdf, roots, crls, timestamper), "archivist")
    result = verify_package(path)
    for name in renewed:
        out.print(f"renewed {name}")
    for problem in result.problems:
        err.print(f"[red]FAIL[/] {problem}", highlight=False)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)
