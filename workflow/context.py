"""What every stage is handed: the settings, and through them the database and the blob store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.config import Settings
from workflow.errors import NotFound
from workflow.model import Round
from workflow.stages.check import parse_round
from workflow.storage import Blobs, BlobStore, DatabaseBlobStore, DocumentRow, RoundRow, session_scope

SYSTEM = "covenant"  # the actor of what the pipeline does by itself, in the audit trail


@dataclass(frozen=True)
class Ctx:
    settings: Settings

    @property
    def blobs(self) -> Blobs:
        """The blob store the settings name: files under the data folder, or the database's `blobs` table."""
        if self.settings.blob_store == "database":
            return DatabaseBlobStore(self.settings.database_url)
        return BlobStore(self.settings.blob_dir)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.settings.database_url) as s:
            yield s


def round_model(ctx: Ctx, rnd: RoundRow) -> Round:
    return _stored_round(ctx.blobs, rnd.round_file, rnd.id)


@lru_cache(maxsize=32)
def _stored_round(blobs: Blobs, digest: str, round_id: str) -> Round:
    # Blobs never change, so a parsed round file can be kept. The file was checked at launch; its deadline may
    # have passed since, which is no reason to refuse it now.
    return parse_round(blobs.get(digest).decode("utf-8"), f"round {round_id}", check_deadline=False)


def document(s: Session, doc_id: int) -> DocumentRow:
    doc = s.get(DocumentRow, doc_id)
    if doc is None:
        raise NotFound(f"no document {doc_id}")
    return doc


def document_ids(ctx: Ctx, round_id: str) -> list[int]:
    with ctx.session() as s:
        return list(
            s.scalars(select(DocumentRow.id).where(DocumentRow.round_id == round_id).order_by(DocumentRow.position))
        )


def get_round(s: Session, round_id: str) -> RoundRow:
    rnd = s.get(RoundRow, round_id)
    if rnd is None:
        raise NotFound(f"no round {round_id}")
    return rnd
