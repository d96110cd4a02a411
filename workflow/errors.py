"""The workflow's errors, in the one hierarchy whose base (and the signing errors) is `signing/errors.py`.

Each class gives a stable code, an exit code and an HTTP status; `workflow/texts.py` holds the Vietnamese text
for every code. The CLI and the web app each have one handler for `CovenantError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from signing.errors import (
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    CovenantError,
    FontMissing,
    NotFound,
    PdfError,
    ProviderError,
    Refused,
    RemoteSigningError,
    SignatureRejected,
    SignerError,
    TokenError,
)

if TYPE_CHECKING:
    from workflow.stages.check import Problem

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OK",
    "ConversionError",
    "CovenantError",
    "DocumentError",
    "DraftChanged",
    "FontMissing",
    "LaunchError",
    "LinkError",
    "MailError",
    "NotFound",
    "PdfError",
    "ProviderError",
    "Refused",
    "RemoteSigningError",
    "RoundFileError",
    "DirectoryError",
    "SignatureRejected",
    "SignerError",
    "StateConflict",
    "TokenError",
    "SettingsError",
    "UserError",
]


class StateConflict(CovenantError):
    """A transition the lifecycle does not allow (the round, slot or link is not in a state for it)."""

    code = "conflict"
    exit_code = EXIT_CONFLICT
    http_status = 409


class DraftChanged(StateConflict):
    """A draft saved over a newer version than the one its editor opened (two people at one draft)."""

    code = "draft.changed"


class RoundFileError(CovenantError):
    """A round file that cannot be used; carries every problem found (one `FILE:LINE: field: message` each)."""

    code = "round_file.invalid"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DirectoryError(RoundFileError):
    """A cluster directory entry that cannot be kept; its problems named by their paths in the entry."""

    code = "directory.invalid"

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems)
        self.args = ("\n".join(f"{p.dotted or '(entry)'}: {p.message}" for p in self.problems),)


class LaunchError(CovenantError):
    """A round that cannot be launched as given (missing trust roots, an unreadable image, ...)."""

    code = "launch.invalid"


class DocumentError(CovenantError):
    """A template that cannot be rendered for this round; the message names the template and the cause."""

    code = "document.template"


class ConversionError(CovenantError):
    """LibreOffice could not convert a document: the machine, not the input; the round stays retryable."""

    code = "machine.conversion"
    exit_code = EXIT_FAILED
    http_status = 503


class MailError(CovenantError):
    """The SMTP server refused or could not be reached; nothing was marked as sent."""

    code = "mail.failed"
    exit_code = EXIT_FAILED
    http_status = 502


class SettingsError(CovenantError):
    """A COVENANT_* variable that cannot be used (its name and why): exit 2 before anything starts."""

    code = "settings"


class UserError(CovenantError):
    """An account that cannot be added or removed as asked."""

    code = "user.invalid"


class LinkError(CovenantError):
    """A personal link that cannot be used now. kind: unknown | gone (expired, revoked or already used) | stale
    (another leader signed in between: sign again) | rejected (the signature was refused) | conflict."""

    code = "link"
    KINDS: ClassVar[dict[str, tuple[int, int]]] = {  # kind → (exit code, HTTP status)
        "unknown": (EXIT_INPUT, 404),
        "gone": (EXIT_CONFLICT, 410),
        "stale": (EXIT_CONFLICT, 409),
        "conflict": (EXIT_CONFLICT, 409),
        "rejected": (EXIT_INPUT, 422),
    }

    def __init__(self, kind: str, message: str, *, code: str | None = None) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown kind of link error {kind!r}")
        super().__init__(message)
        self.kind = kind
        # a link refused because of what lies behind it keeps that cause's code (e.g. signature.revoked)
        self.code = code or f"link.{kind}"  # type: ignore[misc]  # an instance narrows its class's default code
        self.exit_code, self.http_status = self.KINDS[kind]  # type: ignore[misc]  # chosen by the kind

    @classmethod
    def wrapping(cls, kind: str, cause: CovenantError) -> LinkError:
        return cls(kind, str(cause), code=cause.code)
