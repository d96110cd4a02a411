"""Where a leader's key lives: one small abstraction over the key sources `covenant sign` accepts.

- `Pkcs12Key`: a PKCS#12 file and its passphrase (from a file, or asked for unechoed);
- `Pkcs11Key`: a PKCS#11 token (a USB token, SoftHSM2 in the tests): module, token label, key label, PIN file;
- `CscKey`: a cloud signing service speaking the CSC API (the leader approves on their phone).

Each `open()`s a pyHanko signer as a context manager (a token session is closed after signing). `key_source`
picks exactly one from the options given, and names the option that is missing or doubled.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pyhanko.sign import signers

from signing.errors import SignerError


class KeySource(Protocol):
    def open(self) -> AbstractContextManager[signers.Signer]: ...


@dataclass(frozen=True)
class Pkcs12Key:
    path: Path
    passphrase_file: Path | None = None
    ask: Callable[[str], str] | None = None  # asks for the passphrase when no file holds it

    def open(self) -> AbstractContextManager[signers.Signer]:
        from signing.signers import load_pkcs12

        if self.passphrase_file is None and self.ask is not None:
            typed = self.ask(f"Passphrase of {self.path.name}")
            return nullcontext(load_pkcs12(self.path, None, typed.encode("utf-8")))
        return nullcontext(load_pkcs12(self.path, self.passphrase_file))


@dataclass(frozen=True)
class Pkcs11Key:
    module: str
    token_label: str
    key_label: str
    pin_file: Path | None = None
    pin: str | None = field(default=None, repr=False)  # typed by the leader (covenant agent's confirmation page)

    def open(self) -> AbstractContextManager[signers.Signer]:
        from signing.signers import open_pkcs11

        return open_pkcs11(self.module, self.token_label, self.key_label, self.pin_file, pin=self.pin)


@dataclass(frozen=True)
class CscKey:
    url: str
    credential: str
    token_file: Path | None = None

    def open(self) -> AbstractContextManager[signers.Signer]:
        from signing.providers import CSCProvider, open_provider_signer

        token = None
        if self.token_file is not None:
            try:
                token = self.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SignerError(f"{self.token_file}: cannot read the OAuth token file: {exc.strerror}") from None
        return nullcontext(open_provider_signer(CSCProvider(self.url, self.credential, token)))


def key_source(
    *,
    p12: Path | None = None,
    passphrase_file: Path | None = None,
    pkcs11_lib: str | None = None,
    token_label: str | None = None,
    key_label: str | None = None,
    pin_file: Path | None = None,
    csc_url: str | None = None,
    csc_credential: str | None = None,
    csc_token_file: Path | None = None,
    ask: Callable[[str], str] | None = None,
) -> KeySource:
    """The one key source the options name; a SignerError names what is missing or given twice."""
    given = [name for name, value in (("--p12", p12), ("--pkcs11-lib", pkcs11_lib), ("--csc-url", csc_url)) if value]
    if len(given) > 1:
        raise SignerError(f"give one key source, not {' and '.join(given)}: --p12, --pkcs11-lib or --csc-url")
    if csc_url is not None:
        if csc_credential is None:
            raise SignerError("--csc-url needs --csc-credential (the credential id at the service)")
        return CscKey(csc_url, csc_credential, csc_token_file)
    if p12 is not None:
        return Pkcs12Key(p12, passphrase_file, ask)
    if pkcs11_lib is None:
        raise SignerError(
            "give the signer's key: --p12 FILE --passphrase-file FILE, or --pkcs11-lib … --token-label … "
            "--key-label … --pin-file …"
        )
    options = {"--token-label": token_label, "--key-label": key_label, "--pin-file": pin_file}
    missing = [name for name, value in options.items() if value is None]
    if missing or token_label is None or key_label is None or pin_file is None:
        raise SignerError(f"signing with a token needs {', '.join(missing)}")
    return Pkcs11Key(pkcs11_lib, token_label, key_label, pin_file)
