"""The `covenant` command (design §9), one module per command group:

| group                                   | module       |
|-----------------------------------------|--------------|
| `round check/launch/resume/status/...`  | `rounds.py`  |
| `sign`, `upload`, `decline`             | `sign.py`    |
| `archive verify/list/get/renew`         | `archive.py` |
| `pki demo/online/serve`                 | `pki.py`     |
| `serve`, `worker`, `beat`, `user ...`   | `serve.py`   |
| `demo`                                  | `demo.py`    |
| `agent`, `agent pair`, `agent certificate` | `agent.py` |

Exit codes (signing/errors.py): 0 ok, 1 verification failed or the machine could not do it, 2 bad input,
3 state conflict. Every `CovenantError` reaching `main` is printed as one line (a round file's problems one per
line) and exits with its own code; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import logging
import sys

from signing.errors import EXIT_CONFLICT, CovenantError, SignatureRejected
from workflow.cli import agent, archive, blobs, demo, pki, rounds, serve, sign
from workflow.cli.common import app, err

__all__ = ["app", "main"]
_GROUPS = (rounds, sign, archive, pki, serve, demo, agent, blobs)  # importing them registers their commands on `app`


def report(exc: CovenantError) -> int:
    """Print an error for the command line; its exit code."""
    from workflow.errors import RoundFileError

    if isinstance(exc, RoundFileError):
        for problem in exc.problems:
            err.print(str(problem), highlight=False, markup=False, soft_wrap=True)
    elif isinstance(exc, SignatureRejected):
        err.print(f"[bold red]error:[/] signature refused: {exc}", highlight=False, soft_wrap=True)
    else:
        label = "conflict" if exc.exit_code == EXIT_CONFLICT else "error"
        err.print(f"[bold red]{label}:[/] {exc}", highlight=False, soft_wrap=True)
    return exc.exit_code


def main() -> None:
    """Console entry point: the one handler of user errors."""
    from signing.patches import install
    from workflow.config import get_settings

    install()
    try:
        # pyHanko logs refused signatures as warnings with a traceback; the user gets our one-line reason instead.
        # COVENANT_LOG_LEVEL=DEBUG brings the libraries' own logs back.
        logging.basicConfig(level=get_settings().log_level, format="%(name)s: %(message)s")
        app()
    except CovenantError as exc:
        sys.exit(report(exc))
