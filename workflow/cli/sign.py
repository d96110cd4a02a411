"""`covenant sign`, `covenant upload`, `covenant decline`: a leader's signature, from this machine's data folder
or remotely through a personal link (signing/agent.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signing.keys import KeySource, key_source
from workflow.cli.common import app, context, fail, out
from workflow.context import Ctx
from workflow.sign_here import open_slot, sign_slot


def _submit(ctx: Ctx, slot_id: int, pdf: bytes, actor: str) -> str:
    """Hand a signed revision to the acceptance check (a SignatureRejected says why it is refused)."""
    from tasks.pipeline import accept_signature

    return str(accept_signature.delay(slot_id, ctx.blobs.put(pdf), actor).get(timeout=300))


P12 = Annotated[Path | None, typer.Option(help="PKCS#12 file holding the signer's key")]
PASSPHRASE = Annotated[Path | None, typer.Option(help="file holding the PKCS#12 passphrase")]
PKCS11 = Annotated[str | None, typer.Option(help="PKCS#11 module of the token, e.g. libsofthsm2.so")]
TOKEN = Annotated[str | None, typer.Option(help="label of the PKCS#11 token")]
KEY = Annotated[str | None, typer.Option(help="label of the key (and its certificate) on the token")]
PIN = Annotated[Path | None, typer.Option(help="file holding the token's user PIN")]
CSC_URL = Annotated[str | None, typer.Option(help="a CSC signing service holding the key (cloud signing)")]
CSC_CREDENTIAL = Annotated[str | None, typer.Option(help="the credential id at the CSC service")]
CSC_TOKEN = Annotated[Path | None, typer.Option(help="file holding the CSC service's OAuth token")]


def _ask(prompt: str) -> str:  # asked for, unechoed; a passphrase is never an option on the command line
    return str(typer.prompt(prompt, hide_input=True, err=True))


@app.command("sign")
def sign(
    round_id: Annotated[str | None, typer.Argument(help="the round (not with --link)")] = None,
    field: Annotated[str | None, typer.Option(help="the signature field (slot), e.g. unit-phu-tho")] = None,
    link: Annotated[str | None, typer.Option(help="the personal link from the e-mail: sign remotely")] = None,
    p12: P12 = None,
    passphrase_file: PASSPHRASE = None,
    pkcs11_lib: PKCS11 = None,
    token_label: TOKEN = None,
    key_label: KEY = None,
    pin_file: PIN = None,
    csc_url: CSC_URL = None,
    csc_credential: CSC_CREDENTIAL = None,
    csc_token_file: CSC_TOKEN = None,
    document: Annotated[str, typer.Option(help="covenant or minutes")] = "covenant",
) -> None:
    """Sign one slot with the leader's own key: a PKCS#12 file (--p12 --passphrase-file), a PKCS#11 token
    (--pkcs11-lib --token-label --key-label --pin-file) or a cloud signing service (--csc-url --csc-credential
    --csc-token-file; the leader approves on their phone, this waits). With --link the server prepares the
    signature and this machine signs it: the key never leaves it, only the CMS is sent. Without, ROUND --field on
    this machine's data folder."""
    key = key_source(
        p12=p12,
        passphrase_file=passphrase_file,
        pkcs11_lib=pkcs11_lib,
        token_label=token_label,
        key_label=key_label,
        pin_file=pin_file,
        csc_url=csc_url,
        csc_credential=csc_credential,
        csc_token_file=csc_token_file,
        ask=_ask,
    )
    if link is not None:
        if round_id is not None or field is not None:
            fail("--link names the round and the slot already: give no ROUND or --field with it")
        _sign_remote(link, key)
        return
    if round_id is None or field is None:
        fail("give ROUND and --field (signing on this machine's data folder), or --link URL (remote signing)")
    _sign_here(round_id, document, field, key)


def _sign_here(round_id: str, document: str, field: str, key: KeySource) -> None:
    ctx = context()
    slot = open_slot(ctx, round_id, document, field)
    with key.open() as signer:
        signed = sign_slot(ctx, slot, signer)
    status = _submit(ctx, slot.id, signed, slot.signer_name)
    out.print(f"signed {field}; round is {status}")


def _sign_remote(url: str, key: KeySource) -> None:
    from signing.agent import Agent, Link

    with Agent(Link.parse(url)) as agent, key.open() as signer:
        receipt = agent.sign(signer)
    out.print(
        f"signed {receipt.field} of the {receipt.document} for {receipt.signer_name} ({receipt.unit_name}); "
        f"round is {receipt.round_status}",
        highlight=False,
    )


@app.command("upload")
def upload(
    round_id: str,
    pdf: Annotated[Path, typer.Argument(help="the prepared PDF, signed in another tool")],
    field: Annotated[str, typer.Option(help="the signature field (slot) it signs")],
    document: Annotated[str, typer.Option(help="covenant or minutes")] = "covenant",
) -> None:
    """Submit a PDF signed elsewhere: accepted only if it is the current revision plus exactly that slot's
    signature, nothing else changed."""
    ctx = context()
    slot = open_slot(ctx, round_id, document, field)
    try:
        data = pdf.read_bytes()
    except OSError as exc:
        fail(f"{pdf}: {exc.strerror}")
    status = _submit(ctx, slot.id, data, f"{slot.signer_name} (upload)")
    out.print(f"accepted {field}; round is {status}")


@app.command("decline")
def decline_cmd(
    link: Annotated[str, typer.Option(help="the personal link from the e-mail")],
    reason: Annotated[str, typer.Option(help="why you decline (sent to the cluster's office)")],
) -> None:
    """Decline to sign, with a reason: the round pauses and the secretariat is told."""
    from signing.agent import Agent, Link

    with Agent(Link.parse(link), timeout=60) as agent:
        agent.decline(reason)
    out.print("declined; the cluster's office has been told", highlight=False)
