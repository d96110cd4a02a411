"""`covenant agent`: the local signing service a leader runs on their own PC (signing/local_agent.py), and
`covenant agent pair SITE` / `covenant agent certificate` to set it up once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from workflow.cli.common import app, fail, out

agent_app = typer.Typer(
    help="the local signing service for the leader's page (VGCA Sign Service protocol, USB token or PKCS#12)",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(agent_app, name="agent")

HOME = Annotated[Path, typer.Option("--home", help="the agent's folder: paired sites and its TLS certificate")]
DEFAULT_HOME = Path.home() / ".covenant-agent"


def _config(home: Path) -> dict[str, list[str]]:
    path = home / "agent.json"
    if not path.is_file():
        return {"origins": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        fail(f"{path}: not a JSON file (remove it and pair again)")
    return {"origins": [str(o) for o in data.get("origins", [])]}


def _certificate(home: Path) -> tuple[Path, Path]:
    from signing.local_agent import make_certificate

    cert, key = home / "agent.pem", home / "agent.key"
    if cert.is_file() and key.is_file():
        return cert, key
    made = make_certificate(home)
    out.print(
        f"made the agent's TLS certificate {made[0]}: the browser must trust it once, e.g.\n"
        f"  Windows: certutil -addstore -user Root {made[0]}\n"
        f"  Linux (Chrome, Chromium): certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n covenant-agent -i {made[0]}\n"
        f"  macOS: security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db {made[0]}",
        highlight=False,
    )
    return made


@agent_app.callback()
def agent(
    ctx: typer.Context,
    home: HOME = DEFAULT_HOME,
    port: Annotated[int, typer.Option(help="the port pages call (the VGCA Sign Service's is 8987)")] = 8987,
    pkcs11_lib: Annotated[str | None, typer.Option(help="the token's PKCS#11 library (.dll, .so, .dylib)")] = None,
    token_label: Annotated[str | None, typer.Option(help="label of the token")] = None,
    key_label: Annotated[str | None, typer.Option(help="label of the signing key on the token")] = None,
    p12: Annotated[Path | None, typer.Option(help="a PKCS#12 file instead of a token")] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="print the confirmation page, do not open it")
    ] = False,
) -> None:
    """Run the service on 127.0.0.1 (over TLS) for the paired sites; each request is confirmed, with the PIN, on
    the agent's own page."""
    if ctx.invoked_subcommand is not None:
        return
    from signing.keys import KeySource, Pkcs11Key, Pkcs12Key
    from signing.local_agent import LocalAgent, run

    origins = set(_config(home)["origins"])
    if not origins:
        fail("no site is paired yet: run `covenant agent pair https://<the covenant server>` first")
    if pkcs11_lib and token_label and key_label and p12 is None:
        lib, token, key_name = pkcs11_lib, token_label, key_label

        def key_for(pin: str) -> KeySource:
            return Pkcs11Key(lib, token, key_name, pin=pin)

        label = f"USB token {token_label}, khóa {key_label}"
    elif p12 is not None and not (pkcs11_lib or token_label or key_label):
        path = p12

        def key_for(pin: str) -> KeySource:  # the PKCS#12 passphrase
            return Pkcs12Key(path, ask=lambda _prompt: pin)

        label = f"tệp {p12.name}"
    else:
        fail("give the token (--pkcs11-lib, --token-label, --key-label) or a --p12 file")
    cert, cert_key = _certificate(home)

    def announce(line: str) -> None:
        print(line, flush=True)

    run(LocalAgent(origins, key_for, label, port, not no_browser, announce), cert, cert_key)


@agent_app.command("pair")
def pair(site: str, home: HOME = DEFAULT_HOME) -> None:
    """Let pages of SITE (the covenant server's address) ask this agent to sign."""
    from signing.local_agent import origin_of

    if not site.startswith(("https://", "http://")):
        fail(f"{site}: give the server's address, e.g. https://covenant.example.vn")
    home.mkdir(parents=True, exist_ok=True)
    config = _config(home)
    origin = origin_of(site)
    if origin not in config["origins"]:
        config["origins"].append(origin)
    (home / "agent.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    _certificate(home)
    out.print(f"paired {origin}: its pages may ask this agent to sign (each request is confirmed here)")


@agent_app.command("certificate")
def certificate(home: HOME = DEFAULT_HOME) -> None:
    """Make (once) the agent's TLS certificate for 127.0.0.1 and say how to make the browser trust it."""
    cert, _key = _certificate(home)
    out.print(str(cert))
