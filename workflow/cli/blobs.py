"""`covenant blobs move --to database|files`: a data folder's blobs into the database, or back."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from workflow.cli.common import app, context, fail

blobs_app = typer.Typer(help="Where the documents' blobs are kept.", no_args_is_help=True)
app.add_typer(blobs_app, name="blobs")


@blobs_app.command("move")
def blobs_move(
    to: Annotated[str, typer.Option("--to", help="database (the `blobs` table) or files (the data folder)")],
) -> None:
    """Move every blob from the other store into this one, each read back and checked before its source is
    removed; run it with every covenant process of this data folder stopped, then set COVENANT_BLOB_STORE."""
    from workflow.storage import BlobStore, DatabaseBlobStore, move_blobs

    if to not in ("database", "files"):
        fail(f"--to: {to!r} is not database or files")
    ctx = context()
    files, database = BlobStore(ctx.settings.blob_dir), DatabaseBlobStore(ctx.settings.database_url)
    source, destination = (files, database) if to == "database" else (database, files)
    moved = move_blobs(source, destination)
    print(json.dumps({"moved": moved, "to": to, "then": f"COVENANT_BLOB_STORE={to}"}))
