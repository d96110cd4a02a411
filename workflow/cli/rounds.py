"""`covenant round …`: check, launch, resume, status, pdf, remind, void, reissue, links, archive; and `render`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from signing.errors import EXIT_FAILED
from workflow.cli.common import JsonOption, app, context, err, fail, out, print_result, require_round, round_file
from workflow.errors import ConversionError, StateConflict
from workflow.model import Round

round_app = typer.Typer(help="Check, launch and follow signing rounds.", no_args_is_help=True)
app.add_typer(round_app, name="round")
SECRETARIAT = "secretariat (cli)"


@round_app.command("check")
def round_check(file: Annotated[Path, typer.Argument(help="round.yaml to check")]) -> None:
    """Check a round file; print one `FILE:LINE: field: message` line per problem (exit 2 if any)."""
    model = round_file(file)
    out.print(f"{file}: ok — {model.cluster.name} {model.cluster.year}, {len(model.units)} units", highlight=False)
    _warn_revocation(file, model)


def _warn_revocation(file: Path, model: Round) -> list[str]:
    """The round's revocation services that this server cannot reach (workflow/trust.py), one line each."""
    from workflow.trust import revocation_warnings

    warnings = revocation_warnings(context(), model, file.parent)
    for warning in warnings:
        err.print(f"{file}: warning: {warning}", highlight=False, soft_wrap=True)
    return warnings


@round_app.command("launch")
def round_launch(file: Path, json_out: JsonOption = False) -> None:
    """Launch a round: render, convert, add signature fields and certify both documents."""
    from workflow.stages.launch import launch

    model = round_file(file)
    _warn_revocation(file, model)
    round_id = launch(context(), file.read_text(encoding="utf-8"), model, file.parent, actor="secretariat")
    _generate(round_id, json_out)


def _generate(round_id: str, json_out: bool, quiet: bool = False) -> None:
    """Run (or re-run) a stored round's generation, waiting for it (a command line may wait), and say where it
    ended."""
    from tasks.pipeline import generate_and_wait

    try:
        status = generate_and_wait(round_id)
    except ConversionError as exc:
        raise ConversionError(
            f"round {round_id} was stored but its documents could not be converted: {exc}. "
            f"Fix LibreOffice, then run `covenant round resume {round_id}`."
        ) from None
    if quiet:
        return
    if json_out:
        print(json.dumps({"round_id": round_id, "status": status}))
    else:
        out.print(f"round [bold]{round_id}[/] is {status}")


@round_app.command("resume")
def round_resume(round_id: str, json_out: JsonOption = False) -> None:
    """Run a round's generation again after a failure (LibreOffice down, ...): finished steps are kept."""
    from workflow.states import RoundStatus
    from workflow.views import round_view

    view = round_view(context(), round_id)
    if view.status != RoundStatus.GENERATING:
        raise StateConflict(f"round {round_id} is {view.status}: there is nothing to resume")
    _generate(round_id, json_out)


@round_app.command("remind")
def round_remind(round_id: str, json_out: JsonOption = False) -> None:
    """Write now to every signer whose turn it is and who has not signed: a first invitation to those not yet
    written to, a reminder with a fresh link to the others (COVENANT_SMTP_URL). One mail per slot."""
    from workflow.routing import remind_now

    ctx = context()
    require_round(ctx, round_id)
    if not ctx.settings.smtp_url:
        fail("COVENANT_SMTP_URL is not set: no mail can be sent (`covenant round links` prints the links)")
    result = remind_now(ctx, round_id, actor=SECRETARIAT)
    print_result(result, json_out, f"invited {len(result['invited'])}, reminded {len(result['reminded'])} signer(s)")


@round_app.command("void")
def round_void(
    round_id: str,
    reason: Annotated[str, typer.Option(help="why the round is called off (sent to the signers)")],
    json_out: JsonOption = False,
) -> None:
    """Call a round off: its links stop working, every signer written to is told."""
    from workflow.routing import void

    ctx = context()
    require_round(ctx, round_id)
    if not reason.strip():
        fail("--reason must say why")
    result = void(ctx, round_id, reason.strip(), actor=SECRETARIAT)
    print_result(result, json_out, f"round {round_id} voided; {result['told']} unit(s) told")


@round_app.command("reissue")
def round_reissue(
    round_id: str,
    file: Annotated[Path, typer.Argument(help="the corrected round file")],
    json_out: JsonOption = False,
) -> None:
    """A corrected version of an open or paused round: it supersedes the old one (whose signatures are not
    carried over), everyone written to is told, and the new version is generated and sent out."""
    from workflow.routing import reissue

    model = round_file(file)
    ctx = context()
    require_round(ctx, round_id)
    result = reissue(ctx, round_id, file.read_text(encoding="utf-8"), model, file.parent, actor=SECRETARIAT)
    _generate(result["round_id"], json_out=False, quiet=json_out)
    print_result(result, json_out, f"round {round_id} reissued as {result['round_id']} (version {result['version']})")


@round_app.command("archive")
def round_archive(round_id: str) -> None:
    """Finalise (PAdES B-LTA) and archive a completed round; done by itself after the last signature, this
    runs it again if that failed (a TSA or OCSP service unreachable, ...)."""
    from celery.exceptions import Retry

    from tasks.pipeline import archive_round

    require_round(context(), round_id)
    try:
        folder = archive_round.delay(round_id).get(timeout=900)
    except (Retry, OSError) as exc:  # the TSA (or an OCSP responder) cannot be reached: nothing was changed
        fail(f"round {round_id} not archived: {getattr(exc, 'exc', None) or exc}; run this again later", EXIT_FAILED)
    out.print(f"archived: {folder}.zip", highlight=False)


@round_app.command("status")
def round_status(round_id: str, json_out: JsonOption = False) -> None:
    """Where a round stands: each document and who has signed it."""
    from workflow.views import round_view

    view = round_view(context(), round_id)
    if json_out:
        print(json.dumps(view.to_json(), ensure_ascii=False))
        return
    table = Table(title=f"{view.cluster} {view.year} — round {round_id}: {view.status}")
    for col in ("document", "field", "signer", "status"):
        table.add_column(col)
    for d in view.documents:
        for sl in d.slots:
            table.add_row(d.name, sl.field, sl.signer, sl.status)
    out.print(table)


@round_app.command("pdf")
def round_pdf(
    round_id: str,
    out_file: Annotated[Path, typer.Option("--out", help="where to write the PDF")],
    document: Annotated[str, typer.Option(help="covenant or minutes")] = "covenant",
) -> None:
    """Write a document's current revision (what a signer signs now) to a file; no personal link is touched."""
    from workflow.views import current_revision

    if document not in ("covenant", "minutes"):
        fail(f"--document {document}: give covenant or minutes")
    name, pdf = current_revision(context(), round_id, document)
    try:
        out_file.write_bytes(pdf)
    except OSError as exc:
        fail(f"{out_file}: {exc.strerror}")
    out.print(f"wrote {out_file} ({name}, {len(pdf)} bytes)", highlight=False)


@round_app.command("links")
def round_links(round_id: str, json_out: JsonOption = False) -> None:
    """Issue a new personal link for every slot still to sign (earlier links of those slots stop working).
    Links are shown once: only their hashes are stored."""
    from workflow.links import issue_links

    issued = issue_links(context(), round_id, actor=SECRETARIAT)
    if json_out:
        print(json.dumps([vars(i) for i in issued], ensure_ascii=False, indent=2))
        return
    table = Table("document", "field", "signer", "link")
    for i in issued:
        table.add_row(i.document, i.field, i.signer_name, i.url)
    out.print(table)


@app.command("render")
def render(
    file: Path,
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the PDFs and page images")] = Path("preview"),
    dpi: Annotated[int, typer.Option(help="resolution of the page images")] = 100,
) -> None:
    """Preview before launching: both documents as PDF and one PNG per page, nothing stored."""
    import subprocess

    from workflow.documents import KINDS, render_docx, template_path
    from workflow.libreoffice import docx_to_pdf
    from workflow.stages.check import template_folder

    model = round_file(file)
    folder = template_folder(model, file.parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = Table(title=f"preview of {file}")
    for col in ("document", "pages", "files"):
        table.add_column(col)
    for kind in KINDS:
        try:
            pdf = docx_to_pdf(render_docx(model, kind, template_path(kind, folder) if folder else None))
        except ConversionError as exc:
            raise ConversionError(f"{kind}: {exc}") from None
        (out_dir / f"{kind}.pdf").write_bytes(pdf)
        for old in out_dir.glob(f"{kind}-*.png"):
            old.unlink()
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", str(out_dir / f"{kind}.pdf"), str(out_dir / kind)], check=True
        )
        pages = sorted(out_dir.glob(f"{kind}-*.png"))
        table.add_row(kind, str(len(pages)), f"{kind}.pdf, {pages[0].name} … {pages[-1].name}")
    out.print(table)


__all__ = ["round_app"]
