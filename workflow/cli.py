"""The `covenant` command (design §9). Exit codes: 0 ok, 1 verification failed, 2 bad input, 3 state conflict."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tasks.worker import QUEUES, worker_command
from workflow.roundfile import RoundFileError, check_round_file

app = typer.Typer(
    help="covenant: emulation-cluster covenants, signed by every unit's leader.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
round_app = typer.Typer(help="Check, launch and follow signing rounds.", no_args_is_help=True)
archive_app = typer.Typer(help="Archived covenant packages.", no_args_is_help=True)
pki_app = typer.Typer(help="Certificates for demonstrations and tests.", no_args_is_help=True)
app.add_typer(round_app, name="round")
app.add_typer(archive_app, name="archive")
app.add_typer(pki_app, name="pki")
user_app = typer.Typer(help="Accounts for the web pages (secretariat, archivists).", no_args_is_help=True)
app.add_typer(user_app, name="user")

out = Console(soft_wrap=True)  # long paths and messages stay whole, for copying
err = Console(stderr=True, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_CONFLICT = 0, 1, 2, 3


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _load_or_exit(path: Path):  # type: ignore[no-untyped-def]
    try:
        return check_round_file(path)
    except RoundFileError as exc:
        for problem in exc.problems:
            err.print(str(problem), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_INPUT) from None


def _round_or_exit(session, round_id: str):  # type: ignore[no-untyped-def]
    from workflow.storage import RoundRow

    rnd = session.get(RoundRow, round_id)
    if rnd is None:
        fail(f"no round {round_id}")
    return rnd


def _ctx():  # type: ignore[no-untyped-def]
    from workflow.config import get_settings
    from workflow.pipeline import Ctx

    return Ctx(get_settings())


@round_app.command("check")
def round_check(file: Annotated[Path, typer.Argument(help="round.yaml to check")]) -> None:
    """Check a round file; print one `FILE:LINE: field: message` line per problem (exit 2 if any)."""
    model = _load_or_exit(file)
    out.print(f"{file}: ok — {model.cluster.name} {model.cluster.year}, {len(model.units)} units", highlight=False)


@round_app.command("launch")
def round_launch(
    file: Path,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Launch a round: render, convert, add signature fields and certify both documents."""
    from workflow.pipeline import LaunchError, launch

    model = _load_or_exit(file)
    ctx = _ctx()
    try:
        round_id = launch(ctx, file.read_text(encoding="utf-8"), model, file.parent, actor="secretariat")
    except LaunchError as exc:
        fail(str(exc))
    _generate(round_id, json_out)


def _generate(round_id: str, json_out: bool, quiet: bool = False) -> None:
    """Run (or re-run) a stored round's generation and say where it ended."""
    from tasks.pipeline import generate_and_wait
    from workflow.convert import ConversionError

    try:
        status = generate_and_wait(round_id)
    except ConversionError as exc:
        fail(
            f"round {round_id} was stored but its documents could not be converted: {exc}. "
            f"Fix LibreOffice, then run `covenant round resume {round_id}`.",
            EXIT_FAILED,
        )
    if quiet:
        return
    if json_out:
        print(json.dumps({"round_id": round_id, "status": status}))
    else:
        out.print(f"round [bold]{round_id}[/] is {status}")


@round_app.command("resume")
def round_resume(
    round_id: str, json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False
) -> None:
    """Run a round's generation again after a failure (LibreOffice down, ...): finished steps are kept."""
    ctx = _ctx()
    with ctx.session() as s:
        rnd = _round_or_exit(s, round_id)
        if rnd.status != "generating":
            fail(f"round {round_id} is {rnd.status}: there is nothing to resume", EXIT_CONFLICT)
    _generate(round_id, json_out)


def _print_result(data: dict[str, Any] | list[Any], json_out: bool, message: str) -> None:
    if json_out:
        print(json.dumps(data, ensure_ascii=False))
    else:
        out.print(message, highlight=False)


@round_app.command("remind")
def round_remind(
    round_id: str, json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False
) -> None:
    """Write now to every signer whose turn it is and who has not signed: a first invitation to those not yet
    written to, a reminder with a fresh link to the others (COVENANT_SMTP_URL)."""
    from workflow.mail import MailError
    from workflow.routing import notify_round, remind
    from workflow.states import StateConflict

    ctx = _ctx()
    with ctx.session() as s:
        _round_or_exit(s, round_id)
    if not ctx.settings.smtp_url:
        fail("COVENANT_SMTP_URL is not set: no mail can be sent (`covenant round links` prints the links)")
    try:
        invited = notify_round(ctx, round_id)
        reminded = remind(ctx, round_id, actor="secretariat (cli)")
    except StateConflict as exc:
        fail(str(exc), EXIT_CONFLICT)
    except MailError as exc:
        fail(f"mail not sent: {exc}", EXIT_FAILED)
    _print_result({"round_id": round_id, "invited": invited, "reminded": [f for f in reminded if f not in invited]},
                  json_out, f"invited {len(invited)}, reminded {len(reminded) - len(invited)} signer(s)")  # fmt: skip


@round_app.command("void")
def round_void(
    round_id: str,
    reason: Annotated[str, typer.Option(help="why the round is called off (sent to the signers)")],
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Call a round off: its links stop working, every signer written to is told."""
    from workflow.routing import void
    from workflow.states import StateConflict

    ctx = _ctx()
    with ctx.session() as s:
        _round_or_exit(s, round_id)
    if not reason.strip():
        fail("--reason must say why")
    try:
        result = void(ctx, round_id, reason.strip(), actor="secretariat (cli)")
    except StateConflict as exc:
        fail(str(exc), EXIT_CONFLICT)
    _print_result(result, json_out, f"round {round_id} voided; {result['told']} unit(s) told")


@round_app.command("reissue")
def round_reissue(
    round_id: str,
    file: Annotated[Path, typer.Argument(help="the corrected round file")],
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """A corrected version of an open or paused round: it supersedes the old one (whose signatures are not
    carried over), everyone written to is told, and the new version is generated and sent out."""
    from workflow.routing import reissue
    from workflow.states import StateConflict

    model = _load_or_exit(file)
    ctx = _ctx()
    with ctx.session() as s:
        _round_or_exit(s, round_id)
    try:
        result = reissue(ctx, round_id, file.read_text(encoding="utf-8"), model, file.parent, actor="secretariat (cli)")
    except StateConflict as exc:
        fail(str(exc), EXIT_CONFLICT)
    _generate(result["round_id"], json_out=False, quiet=json_out)
    _print_result(result, json_out, f"round {round_id} reissued as {result['round_id']} (version {result['version']})")


@app.command("decline")
def decline_cmd(
    link: Annotated[str, typer.Option(help="the personal link from the e-mail")],
    reason: Annotated[str, typer.Option(help="why you decline (sent to the cluster's office)")],
) -> None:
    """Decline to sign, with a reason: the round pauses and the secretariat is told."""
    import httpx

    prefix, sep, token = link.rstrip("/").rpartition("/l/")
    if not sep or not token:
        fail(f"{link}: not a covenant link (expected https://…/l/TOKEN)")
    try:
        response = httpx.post(f"{prefix}/api/links/{token}/decline", json={"reason": reason}, timeout=60)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {prefix}: {exc}")
    if response.status_code >= 400:
        body = response.json() if "json" in response.headers.get("content-type", "") else {}
        fail(f"the server refused: {body.get('detail', response.text[:200])}", EXIT_CONFLICT if response.status_code
             in (409, 410) else EXIT_INPUT)  # fmt: skip
    out.print("declined; the cluster's office has been told", highlight=False)


@app.command("beat")
def beat() -> None:
    """Start Celery beat: reminders at each round's offsets and expiry at the deadline (needs COVENANT_BROKER_URL).
    Run exactly one beat per installation, beside any number of workers."""
    if not os.environ.get("COVENANT_BROKER_URL"):
        fail("COVENANT_BROKER_URL is not set: beat hands its work to workers through the broker")
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "tasks.app", "beat", "--loglevel", "INFO"])


@round_app.command("archive")
def round_archive(round_id: str) -> None:
    """Finalise (PAdES B-LTA) and archive a completed round; done by itself after the last signature, this
    runs it again if that failed (a TSA or OCSP service unreachable, ...)."""
    from tasks.pipeline import archive_round
    from workflow.states import StateConflict

    ctx = _ctx()
    with ctx.session() as s:
        _round_or_exit(s, round_id)
    from celery.exceptions import Retry

    try:
        folder = archive_round.delay(round_id).get(timeout=900)
    except StateConflict as exc:
        fail(str(exc), EXIT_CONFLICT)
    except (Retry, OSError) as exc:  # the TSA (or an OCSP responder) cannot be reached: nothing was changed
        fail(f"round {round_id} not archived: {getattr(exc, 'exc', None) or exc}; run this again later", EXIT_FAILED)
    out.print(f"archived: {folder}.zip", highlight=False)


@round_app.command("status")
def round_status(
    round_id: str, json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False
) -> None:
    """Where a round stands: each document and who has signed it."""
    ctx = _ctx()
    with ctx.session() as s:
        rnd = _round_or_exit(s, round_id)
        data = {
            "round_id": rnd.id,
            "cluster": rnd.cluster,
            "year": rnd.year,
            "status": rnd.status,
            "deadline": rnd.deadline.isoformat(),
            "archive": rnd.archive_path,
            "documents": [
                {
                    "name": d.kind,
                    "revisions": d.revisions,
                    "slots": [
                        {"field": sl.field_name, "unit": sl.unit_id, "signer": sl.signer_name, "status": sl.status}
                        for sl in d.slots
                    ],
                }
                for d in rnd.documents
            ],
        }
    if json_out:
        print(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=f"{data['cluster']} {data['year']} — round {round_id}: {data['status']}")
    for col in ("document", "field", "signer", "status"):
        table.add_column(col)
    for d in data["documents"]:  # type: ignore[union-attr]
        for sl in d["slots"]:
            table.add_row(d["name"], sl["field"], sl["signer"], sl["status"])
    out.print(table)


@app.command("render")
def render(
    file: Path,
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the PDFs and page images")] = Path("preview"),
    dpi: Annotated[int, typer.Option(help="resolution of the page images")] = 100,
) -> None:
    """Preview before launching: both documents as PDF and one PNG per page, nothing stored."""
    import subprocess

    from workflow.convert import ConversionError, docx_to_pdf
    from workflow.documents import KINDS, render_docx, template_path
    from workflow.roundfile import template_folder

    model = _load_or_exit(file)
    folder = template_folder(model, file.parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = Table(title=f"preview of {file}")
    for col in ("document", "pages", "files"):
        table.add_column(col)
    for kind in KINDS:
        try:
            pdf = docx_to_pdf(render_docx(model, kind, template_path(kind, folder) if folder else None))
        except ConversionError as exc:
            fail(f"{kind}: {exc}", EXIT_FAILED)
        (out_dir / f"{kind}.pdf").write_bytes(pdf)
        for old in out_dir.glob(f"{kind}-*.png"):
            old.unlink()
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", str(out_dir / f"{kind}.pdf"), str(out_dir / kind)], check=True
        )
        pages = sorted(out_dir.glob(f"{kind}-*.png"))
        table.add_row(kind, str(len(pages)), f"{kind}.pdf, {pages[0].name} … {pages[-1].name}")
    out.print(table)


@dataclass(frozen=True)
class OpenSlot:
    id: int
    current: str  # blob id of the revision to sign
    signer_name: str
    signer_title: str
    unit_name: str
    signature_image: bytes | None = None
    seal_image: bytes | None = None


def _open_slot(ctx, round_id: str, document: str, field: str) -> OpenSlot:  # type: ignore[no-untyped-def]
    """The slot a signer means, still open for signing (exit 2 when unknown, 3 when already closed)."""
    from workflow.pipeline import slot_images
    from workflow.storage import DocumentRow, SlotRow

    with ctx.session() as s:
        slot = (
            s.query(SlotRow)
            .join(DocumentRow)
            .filter(DocumentRow.round_id == round_id, DocumentRow.kind == document, SlotRow.field_name == field)
            .one_or_none()
        )
        if slot is None:
            fail(f"round {round_id} has no {document} field {field!r}")
        if slot.status not in ("pending", "notified"):
            fail(f"{slot.signer_name} has already {slot.status} this {document}", EXIT_CONFLICT)
        signature, seal = slot_images(ctx, slot)
        return OpenSlot(
            slot.id, slot.document.current or "", slot.signer_name, slot.signer_title, slot.unit_name, signature, seal
        )


def _submit(ctx, slot_id: int, pdf: bytes, actor: str) -> str:  # type: ignore[no-untyped-def]
    """Hand a signed revision to the acceptance check; exit 2 with the reason when it is refused."""
    from signing.validation import SignatureRejected
    from tasks.pipeline import accept_signature
    from workflow.states import StateConflict

    try:
        return str(accept_signature.delay(slot_id, ctx.blobs.put(pdf), actor).get(timeout=300))
    except SignatureRejected as exc:
        fail(f"signature refused: {exc}")
    except StateConflict as exc:
        fail(str(exc), EXIT_CONFLICT)


@app.command("sign")
def sign(
    round_id: Annotated[str | None, typer.Argument(help="the round (not with --link)")] = None,
    field: Annotated[str | None, typer.Option(help="the signature field (slot), e.g. unit-phu-tho")] = None,
    link: Annotated[str | None, typer.Option(help="the personal link from the e-mail: sign remotely")] = None,
    p12: Annotated[Path | None, typer.Option(help="PKCS#12 file holding the signer's key")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(help="file holding the PKCS#12 passphrase")] = None,
    pkcs11_lib: Annotated[str | None, typer.Option(help="PKCS#11 module of the token, e.g. libsofthsm2.so")] = None,
    token_label: Annotated[str | None, typer.Option(help="label of the PKCS#11 token")] = None,
    key_label: Annotated[str | None, typer.Option(help="label of the key (and its certificate) on the token")] = None,
    pin_file: Annotated[Path | None, typer.Option(help="file holding the token's user PIN")] = None,
    csc_url: Annotated[str | None, typer.Option(help="a CSC signing service holding the key (cloud signing)")] = None,
    csc_credential: Annotated[str | None, typer.Option(help="the credential id at the CSC service")] = None,
    csc_token_file: Annotated[Path | None, typer.Option(help="file holding the CSC service's OAuth token")] = None,
    document: Annotated[str, typer.Option(help="covenant or minutes")] = "covenant",
) -> None:
    """Sign one slot with the leader's own key: a PKCS#12 file (--p12 --passphrase-file), a PKCS#11 token
    (--pkcs11-lib --token-label --key-label --pin-file) or a cloud signing service (--csc-url --csc-credential
    --csc-token-file; the leader approves on their phone, this waits). With --link the server prepares the
    signature and this machine signs it: the key never leaves it, only the CMS is sent. Without, ROUND --field on
    this machine's data folder."""
    from signing.signers import SignerError, sign_field
    from workflow.pipeline import round_timestamper

    csc = (csc_url, csc_credential, csc_token_file)
    if link is not None:
        if round_id is not None or field is not None:
            fail("--link names the round and the slot already: give no ROUND or --field with it")
        try:
            with _key(p12, passphrase_file, pkcs11_lib, token_label, key_label, pin_file, csc) as signer:
                _sign_remote(link, signer)
        except SignerError as exc:
            fail(str(exc))
        return
    if round_id is None or field is None:
        fail("give ROUND and --field (signing on this machine's data folder), or --link URL (remote signing)")
    ctx = _ctx()
    slot = _open_slot(ctx, round_id, document, field)
    with ctx.session() as s:
        timestamper = round_timestamper(ctx, _round_or_exit(s, round_id))
    try:
        with _key(p12, passphrase_file, pkcs11_lib, token_label, key_label, pin_file, csc) as signer:
            signed = sign_field(
                ctx.blobs.get(slot.current),
                field,
                signer,
                signer_name=slot.signer_name,
                title=slot.signer_title,
                unit=slot.unit_name,
                timestamper=timestamper,
                signature_image=slot.signature_image,
                seal_image=slot.seal_image,
            )
    except SignerError as exc:
        fail(str(exc))
    status = _submit(ctx, slot.id, signed, slot.signer_name)
    out.print(f"signed {field}; round is {status}")


def _sign_remote(link: str, signer: Any) -> None:
    """The agent's side of remote signing: send the certificate, sign the attributes the server returns, send
    back the CMS; when another leader signed in between, the server says so and this starts again."""
    import base64
    import random
    import time

    import httpx

    from signing.remote import RemoteSigningError, sign_attributes

    prefix, sep, token = link.rstrip("/").rpartition("/l/")
    if not sep or not token or not prefix.startswith(("http://", "https://")):
        fail(f"{link}: not a covenant link (expected https://…/l/TOKEN)")
    api = f"{prefix}/api/links/{token}"
    certificate = base64.b64encode(signer.signing_cert.dump()).decode("ascii")

    def call(method: str, url: str, **kw: Any) -> Any:
        try:
            response = httpx.request(method, url, timeout=120, **kw)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {prefix}: {exc}")
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": "server", "detail": response.text[:300]}
            if body.get("error") == "stale":
                return None
            code = EXIT_CONFLICT if body.get("error") in ("conflict", "gone") else EXIT_INPUT
            fail(f"the server refused: {body.get('detail')}", code)
        return response.json()

    info = call("GET", api)
    for attempt in range(40):  # leaders signing the same document at once take turns
        if attempt:
            time.sleep(random.uniform(0.1, 0.5 + 0.1 * attempt))
        prepared = call("POST", f"{api}/prepare", json={"certificate": certificate})
        if prepared is None:
            continue
        try:
            cms = sign_attributes(signer, base64.b64decode(prepared["signed_attributes"]))
        except RemoteSigningError as exc:
            fail(str(exc))
        receipt = call("POST", f"{api}/finish", json={"cms": base64.b64encode(cms).decode("ascii")})
        if receipt is not None:
            out.print(
                f"signed {receipt['field']} of the {receipt['document']} for {info['signer_name']} "
                f"({info['unit_name']}); round is {receipt['round_status']}",
                highlight=False,
            )
            return
    fail("the document kept changing while signing (other leaders signing at the same time): try again", 3)


def _csc_signer(url: str, credential: str, token_file: Path | None) -> Any:
    from signing.providers import CSCProvider, ProviderError, open_provider_signer

    token = None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"{token_file}: cannot read the OAuth token file: {exc.strerror}")
    try:
        return open_provider_signer(CSCProvider(url, credential, token))
    except ProviderError as exc:
        fail(str(exc))


def _key(
    p12: Path | None,
    passphrase_file: Path | None,
    pkcs11_lib: str | None,
    token_label: str | None,
    key_label: str | None,
    pin_file: Path | None,
    csc: tuple[str | None, str | None, Path | None] = (None, None, None),
) -> AbstractContextManager[Any]:
    """The signer from exactly one key source; a missing or doubled option is named."""
    from signing.signers import load_pkcs12, open_pkcs11

    csc_url, csc_credential, csc_token_file = csc
    if csc_url is not None:
        if p12 is not None or pkcs11_lib is not None:
            fail("give one key source: --p12, --pkcs11-lib or --csc-url")
        if csc_credential is None:
            fail("--csc-url needs --csc-credential (the credential id at the service)")
        return nullcontext(_csc_signer(csc_url, csc_credential, csc_token_file))

    token_options = {
        "--pkcs11-lib": pkcs11_lib,
        "--token-label": token_label,
        "--key-label": key_label,
        "--pin-file": pin_file,
    }
    if p12 is not None and pkcs11_lib is not None:
        fail("give either --p12 (a key file) or --pkcs11-lib (a token), not both")
    if p12 is not None:
        if passphrase_file is None:  # asked for, unechoed; never an option on the command line
            typed = typer.prompt(f"Passphrase of {p12.name}", hide_input=True, err=True)
            return nullcontext(load_pkcs12(p12, None, typed.encode("utf-8")))
        return nullcontext(load_pkcs12(p12, passphrase_file))
    if pkcs11_lib is None:
        fail(
            "give the signer's key: --p12 FILE --passphrase-file FILE, or --pkcs11-lib … --token-label … "
            "--key-label … --pin-file …"
        )
    missing = [name for name, value in token_options.items() if value is None]
    if missing:
        fail(f"signing with a token needs {', '.join(missing)}")
    assert token_label and key_label and pin_file
    return open_pkcs11(pkcs11_lib, token_label, key_label, pin_file)


@app.command("upload")
def upload(
    round_id: str,
    pdf: Annotated[Path, typer.Argument(help="the prepared PDF, signed in another tool")],
    field: Annotated[str, typer.Option(help="the signature field (slot) it signs")],
    document: Annotated[str, typer.Option(help="covenant or minutes")] = "covenant",
) -> None:
    """Submit a PDF signed elsewhere: accepted only if it is the current revision plus exactly that slot's
    signature, nothing else changed."""
    ctx = _ctx()
    slot = _open_slot(ctx, round_id, document, field)
    try:
        data = pdf.read_bytes()
    except OSError as exc:
        fail(f"{pdf}: {exc.strerror}")
    status = _submit(ctx, slot.id, data, f"{slot.signer_name} (upload)")
    out.print(f"accepted {field}; round is {status}")


@round_app.command("links")
def round_links(
    round_id: str,
    json_out: Annotated[bool, typer.Option("--json", help="print the links as JSON")] = False,
) -> None:
    """Issue a new personal link for every slot still to sign (earlier links of those slots stop working).
    Links are shown once: only their hashes are stored."""
    from workflow.links import LinkError, issue_links
    from workflow.states import StateConflict

    try:
        issued = issue_links(_ctx(), round_id, actor="secretariat (cli)")
    except LinkError as exc:
        fail(str(exc))
    except StateConflict as exc:
        fail(str(exc), EXIT_CONFLICT)
    if json_out:
        print(json.dumps([vars(i) for i in issued], ensure_ascii=False, indent=2))
        return
    table = Table("document", "field", "signer", "link")
    for i in issued:
        table.add_row(i.document, i.field, i.signer_name, i.url)
    out.print(table)


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="secretariat (runs rounds) or archivist (reads the archive)")],
    password_file: Annotated[Path | None, typer.Option(help="file holding the password (else it is asked)")] = None,
) -> None:
    """Add an account (or set its password and role); the password is stored hashed with argon2id."""
    from workflow.webapp.security import UserError, add_user

    if password_file is not None:
        try:
            password = password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"{password_file}: {exc.strerror}")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=sys.stdin.isatty(), err=True)
    try:
        add_user(_ctx(), username, password, role)
    except UserError as exc:
        fail(str(exc))
    out.print(f"{username}: {role}", highlight=False)


@user_app.command("remove")
def user_remove(username: str) -> None:
    """Remove an account; its open sessions end at once."""
    from workflow.webapp.security import UserError, remove_user

    try:
        remove_user(_ctx(), username)
    except UserError as exc:
        fail(str(exc))
    out.print(f"{username}: removed", highlight=False)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="processes (validation is CPU-bound: one per core)")] = 1,
) -> None:
    """Serve the web pages and their API (set COVENANT_BASE_URL to the address leaders reach)."""
    import uvicorn

    from workflow.webapp import create_app

    if workers > 1:
        uvicorn.run("workflow.webapp:create_app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")  # fmt: skip
    else:
        uvicorn.run(create_app(_ctx()), host=host, port=port, log_level="warning")


@archive_app.command("verify")
def archive_verify(
    path: Path,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    pairwise: Annotated[
        bool,
        typer.Option(
            "--pairwise",
            help="pyHanko's own difference analysis: every later revision against every signature "
            "(n²/2 comparisons; slow for many signatures) instead of each revision once against the certified one",
        ),
    ] = False,
) -> None:
    """Verify a package offline (bag folder or zip): manifests, every signature, the audit chain."""
    from workflow.archive import verify_package

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
    from workflow.pipeline import search_archive

    rows = search_archive(_ctx(), cluster=cluster, year=year, unit=unit, signer=signer)
    if json_out:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title="archived rounds")
    for col in ("round", "cluster", "year", "units", "package"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["round_id"], r["cluster"], str(r["year"]), str(r["units"]), r["archive"] or "")
    out.print(table)


@archive_app.command("get")
def archive_get(
    round_id: str,
    out_dir: Annotated[Path, typer.Option("--out", help="where to put the package")],
    as_zip: Annotated[bool, typer.Option("--zip", help="the single .zip instead of the bag folder")] = False,
) -> None:
    """Copy an archived round's package (bag folder, or its zip) out of the data folder."""
    import shutil

    from workflow.storage import RoundRow

    ctx = _ctx()
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        if rnd is None or not rnd.archive_path:
            fail(f"no archived round {round_id}")
        folder = Path(rnd.archive_path)
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
    from signing.pki import current_demo_crl
    from signing.validation import load_roots
    from workflow.archive import renew_package, verify_package
    from workflow.config import get_settings

    if not (path / "bagit.txt").is_file():
        fail(f"{path}: not a bag folder (renew works on the folder; `archive get` without --zip gives one)")
    roots_pem = [p.read_bytes() for p in sorted((path / "data" / "trust").glob("*.pem"))]
    roots = load_roots(roots_pem)
    pki = get_settings().pki_dir
    if tsa:
        timestamper, crls = http_timestamper(tsa), []
    elif (pki / "tsa.pem").is_file():
        timestamper = local_timestamper((pki / "tsa.pem").read_bytes(), (pki / "tsa.key").read_bytes(), roots)
        crls = load_crls([current_demo_crl(pki)])
    else:
        fail("no time-stamping authority: give --tsa URL (or run in a data folder with a demo PKI)")
    renewed = renew_package(path, lambda pdf: renew_archive_timestamp(pdf, roots, crls, timestamper), "archivist")
    result = verify_package(path)
    for name in renewed:
        out.print(f"renewed {name}")
    for problem in result.problems:
        err.print(f"[red]FAIL[/] {problem}", highlight=False)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


@pki_app.command("demo")
def pki_demo(
    folder: Path,
    round_file: Annotated[Path, typer.Option("--round", help="make one certificate per signer of this round")] = Path(
        "examples/cum-4-2024.yaml"
    ),
) -> None:
    """Make a demo PKI: root CA, the secretariat's certification key, one PKCS#12 per signer."""
    from signing.pki import make_demo_pki
    from workflow.demo import identities

    model = _load_or_exit(round_file)
    people, secretariat = identities(model)
    index = make_demo_pki(folder, people, secretariat)
    table = Table(title=f"demo PKI in {folder}")
    for col in ("key", "name", "PKCS#12", "certificate SHA-256"):
        table.add_column(col)
    for key, p in index["people"].items():  # type: ignore[union-attr]
        table.add_row(key, p["name"], p["p12"], p["sha256"][:16] + "…")
    out.print(table)


@pki_app.command("online")
def pki_online(
    folder: Path,
    round_file: Annotated[Path, typer.Option("--round", help="make one certificate per signer of this round")] = Path(
        "examples/cum-4-2024.yaml"
    ),
    port: Annotated[
        int, typer.Option(help="loopback port the services will answer on (named in the certificates)")
    ] = 8765,
    revoked: Annotated[
        list[str] | None, typer.Option(help="also make a revoked certificate for this signer key (for tests)")
    ] = None,
) -> None:
    """Make a test PKI served like a real CA (certomancer): root, intermediate, OCSP, CRLs, TSA on 127.0.0.1.
    Serve it with `covenant pki serve FOLDER`; a round uses it with `signing.trust: {roots: [FOLDER/root.pem],
    tsa: <the TSA URL printed here>}`."""
    from signing.online_pki import make_online_pki
    from signing.pki import Identity
    from workflow.demo import identities

    model = _load_or_exit(round_file)
    people, secretariat = identities(model)
    known = {p.key: p for p in people}
    unknown = [key for key in revoked or [] if key not in known]
    if unknown:
        fail(f"--revoked {', '.join(unknown)}: no such signer key (one of {', '.join(sorted(known))})")
    extra = [Identity(f"{key}--revoked", known[key].name, known[key].organization) for key in revoked or []]
    index = make_online_pki(folder, people, secretariat, port, revoked=extra)
    out.print(f"test PKI in {folder}: root {folder / 'root.pem'}, TSA {index['tsa_url']}", highlight=False)


@pki_app.command("serve")
def pki_serve(folder: Path) -> None:
    """Serve a test PKI made by `covenant pki online` (OCSP, CRLs, TSA) on its loopback port."""
    from signing.online_pki import serve as serve_pki

    if not (folder / "certomancer.yml").is_file():
        fail(f"{folder}: no certomancer.yml here (make one with `covenant pki online`)")
    serve_pki(folder)


@app.command("demo")
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="data folder for this demo")] = Path("covenant-demo"),
    round_file: Annotated[Path, typer.Option("--round", help="round file")] = Path("examples/cum-4-2024.yaml"),
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """The whole journey: demo PKI, launch, every signer signs, archive, verify offline."""
    model = _load_or_exit(round_file)
    text = round_file.read_text(encoding="utf-8")
    os.environ["COVENANT_DATA_DIR"] = str(out_dir.resolve())
    from workflow.config import get_settings

    get_settings.cache_clear()
    from workflow.demo import run_demo

    console = err if json_out else out
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=json_out
    ) as progress:
        task = progress.add_task("starting", total=None)

        def step(message: str) -> None:
            progress.console.print(f"  [green]✓[/] {message}", highlight=False)
            progress.update(task, description=message)

        result = run_demo(_ctx(), text, model, round_file.parent, step)
    if json_out:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        table = Table(title=f"{model.cluster.name} {model.cluster.year} — round {result.round_id}: {result.status}")
        for col in ("document", "signatures", "level", "valid"):
            table.add_column(col)
        for d in result.documents:
            ok = "[green]yes[/]" if d["valid"] else "[red]no[/]"
            table.add_row(d["name"], str(d["signatures"]), d["level"], ok)
        out.print(table)
        out.print(f"package: {result.archive}")
        out.print(
            "stages: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in result.stages.items())
            + f"; total {result.seconds:.1f} s"
        )
    for problem in result.problems:
        err.print(f"[red]FAIL[/] {problem}", highlight=False)
    raise typer.Exit(EXIT_OK if not result.problems else EXIT_FAILED)


@app.command("worker")
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="tasks at once (1: in the worker's own process)")] = 1,
    queues: Annotated[str, typer.Option(help="queues to consume")] = QUEUES,
) -> None:
    """Start a Celery worker with the project's settings (needs COVENANT_BROKER_URL)."""
    if not os.environ.get("COVENANT_BROKER_URL"):
        fail("COVENANT_BROKER_URL is not set: without a broker, tasks run in-process and no worker is needed")
    argv = worker_command(concurrency, queues)
    os.execvp(argv[0], argv)


def main() -> None:
    """Console entry point: user errors exit with their code; anything else is a bug and shows its traceback."""
    from signing.appearance import FontMissing
    from workflow.convert import ConversionError
    from workflow.documents import DocumentError
    from workflow.states import StateConflict

    # pyHanko logs refused signatures as warnings with a traceback; the user gets our one-line reason instead.
    # COVENANT_LOG_LEVEL=DEBUG brings the libraries' own logs back.
    logging.basicConfig(level=os.environ.get("COVENANT_LOG_LEVEL", "ERROR").upper(), format="%(name)s: %(message)s")
    try:
        app()
    except StateConflict as exc:
        err.print(f"[bold red]conflict:[/] {exc}", highlight=False)
        sys.exit(EXIT_CONFLICT)
    except DocumentError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_INPUT)
    except (ConversionError, FontMissing) as exc:  # the machine, not the input: say what to install or fix
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
