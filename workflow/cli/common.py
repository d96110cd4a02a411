"""What every command group shares: the Typer app, the consoles, `fail`, the round file and the context."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from signing.errors import EXIT_INPUT
from workflow.context import Ctx
from workflow.model import Round

app = typer.Typer(
    help="covenant: emulation-cluster covenants, signed by every unit's leader.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)  # long paths and messages stay whole, for copying
err = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
DEFAULT_ROUND = Path("examples/cum-4-2024.yaml")


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    """A command-line mistake (options missing or doubled, a file not found): one line, its exit code."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def round_file(path: Path) -> Round:
    """The round a file describes; a RoundFileError (one line per problem, exit 2) otherwise."""
    from workflow.stages.check import check_round_file

    return check_round_file(path)


def example_round(path: Path | None) -> Path:
    """The round file given, or the example bundled with covenant (so `covenant demo` runs from any folder)."""
    if path is not None:
        return path
    if DEFAULT_ROUND.is_file():
        return DEFAULT_ROUND
    from workflow.samples import EXAMPLES_DIR

    return EXAMPLES_DIR / DEFAULT_ROUND.name


def context() -> Ctx:
    from workflow.config import get_settings

    return Ctx(get_settings())


def require_round(ctx: Ctx, round_id: str) -> None:
    """A NotFound (exit 2) when the data folder has no such round."""
    from workflow.context import get_round

    with ctx.session() as s:
        get_round(s, round_id)  # one row, not the whole view


def print_result(data: Mapping[str, Any] | list[Any], json_out: bool, message: str) -> None:
    if json_out:
        print(json.dumps(data, ensure_ascii=False))
    else:
        out.print(message, highlight=False)
