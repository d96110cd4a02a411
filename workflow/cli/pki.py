"""`covenant pki …`: certificates for demonstrations and tests (a demo PKI, or one served like a real CA)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from workflow.cli.common import app, example_round, fail, out, round_file

pki_app = typer.Typer(help="Certificates for demonstrations and tests.", no_args_is_help=True)
app.add_typer(pki_app, name="pki")
RoundOption = Annotated[
    Path | None, typer.Option("--round", help="make one certificate per signer of this round (default: the example)")
]


@pki_app.command("demo")
def pki_demo(folder: Path, round_path: RoundOption = None) -> None:
    """Make a demo PKI: root CA, the secretariat's certification key, one PKCS#12 per signer."""
    from signing.pki import make_demo_pki
    from workflow.demo import identities

    people, secretariat = identities(round_file(example_round(round_path)))
    index = make_demo_pki(folder, people, secretariat)
    table = Table(title=f"demo PKI in {folder}")
    for col in ("key", "name", "PKCS#12", "certificate SHA-256"):
        table.add_column(col)
    people_index: dict[str, dict[str, str]] = index["people"]  # type: ignore[assignment]  # index.json's shape
    for key, p in people_index.items():
        table.add_row(key, p["name"], p["p12"], p["sha256"][:16] + "…")
    out.print(table)


@pki_app.command("online")
def pki_online(
    folder: Path,
    round_path: RoundOption = None,
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

    people, secretariat = identities(round_file(example_round(round_path)))
    known = {p.key: p for p in people}
    unknown = [key for key in revoked or [] if key not in known]
    if unknown:
        fail(f"--revoked {', '.join(unknown)}: no such signer key (one of {', '.join(sorted(known))})")
    extra = [Identity(f"{key}--revoked", known[key].name, known[key].organization) for key in revoked or []]
    index = make_online_pki(folder, people, secretariat, port, revoked=extra)
    out.print(f"test PKI in {folder}: root {folder / 'root.pem'}, TSA {index['tsa_url']}", highlight=False)


@pki_app.command("serve")
def pki_serve(
    folder: Path,
    port: Annotated[
        int | None, typer.Option(help="for a demo PKI: the port of its TSA (http://127.0.0.1:P/tsa)")
    ] = None,
) -> None:
    """Serve a test PKI on 127.0.0.1: one made by `covenant pki online` (OCSP, CRLs, TSA) on the port its
    certificates name, or a demo PKI's TSA (`covenant pki demo`) at http://127.0.0.1:PORT/tsa."""
    if (folder / "certomancer.yml").is_file():
        from signing.online_pki import serve as serve_pki

        serve_pki(folder)
        return
    if (folder / "tsa.key").is_file():
        from signing.ltv import serve_demo_tsa

        if port is None:
            fail(f"{folder} is a demo PKI: give --port for its TSA")
        out.print(f"demo TSA of {folder} at http://127.0.0.1:{port}/tsa", highlight=False)
        serve_demo_tsa(folder, port)
        return
    fail(f"{folder}: neither a test PKI (certomancer.yml, `covenant pki online`) nor a demo PKI (`covenant pki demo`)")
