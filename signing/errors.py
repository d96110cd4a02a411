"""The one error hierarchy of covenant.

Every error a user can meet derives from `CovenantError`, which carries

- a stable `code` (dotted, e.g. ``signature.revoked``): what the JSON API answers as ``error``, what the
  Vietnamese texts are keyed by (`workflow/texts.py`), what tests assert on; the English message beside it is
  for logs and the command line and may be reworded;
- the command line's exit code (`exit_code`) and the HTTP status (`http_status`), so that one handler in the
  CLI (`workflow/cli/__init__.py`) and one in FastAPI (`workflow/webapp/__init__.py`) answer every error alike.

A class gives the defaults; one raise may name a more precise code of the same family
(``SignatureRejected("…", code="signature.revoked")``). The base lives in `signing/` because `signing/` never
imports `workflow/`; the workflow's own errors are in `workflow/errors.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

EXIT_OK = 0
EXIT_FAILED = 1  # a verification failed, or the machine could not do it (LibreOffice, a service down)
EXIT_INPUT = 2  # bad input: the message names the field, line, file or option
EXIT_CONFLICT = 3  # the round, slot or link is not in a state that allows it


class CovenantError(Exception):
    """An error meant for a user: a stable code, an exit code and an HTTP status."""

    code: ClassVar[str] = "error"
    exit_code: ClassVar[int] = EXIT_INPUT
    http_status: ClassVar[int] = 422

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance narrows its class's default code

    @property
    def message(self) -> str:
        return str(self)


class NotFound(CovenantError, LookupError):
    """No such round, document, slot or package (a LookupError, as the stages always raised)."""

    code = "not_found"
    http_status = 404


class PdfError(CovenantError):
    """A PDF we cannot work with (corrupt, encrypted, missing its anchors)."""

    code = "pdf.unreadable"


class FontMissing(CovenantError):
    """The stamp font is not on this machine: the machine, not the input."""

    code = "machine.font_missing"
    exit_code = EXIT_FAILED
    http_status = 503


class SignerError(CovenantError):
    """A key that cannot be used: missing file, wrong passphrase or PIN, no such token or key."""

    code = "signer.key"


class TokenError(CovenantError):
    """A PKCS#11 token (SoftHSM2 in the tests) that cannot be set up or opened."""

    code = "signer.token"


class ProviderError(CovenantError):
    """A remote signing service (CSC) refused or could not be reached."""

    code = "signer.provider"
    http_status = 502  # exit code 2, as before: the credential or token given was refused


class RemoteSigningError(CovenantError):
    """Signed attributes from the server that the agent will not sign."""

    code = "signer.remote"


class Refused(CovenantError):
    """A revision the chain rule does not accept (signing/revisions.py); becomes a SignatureRejected."""

    code = "signature.modified"

    def __init__(self, message: str, harmed: Iterable[str] = (), *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.harmed = tuple(sorted(set(harmed)))


class SignatureRejected(CovenantError):
    """A submitted revision that must not be accepted; the message says why, in plain words."""

    code = "signature.rejected"


class ServerRefused(CovenantError):
    """The covenant server refused what the signing agent sent (its code and status, as the server said)."""

    code = "link"

    def __init__(self, message: str, *, code: str | None, http_status: int) -> None:
        super().__init__(message, code=code or "link.rejected")
        self.http_status = http_status  # type: ignore[misc]  # as the server answered
        self.exit_code = EXIT_CONFLICT if http_status in (409, 410) else EXIT_INPUT  # type: ignore[misc]  # idem
