"""Storage: SQLAlchemy tables for rounds, documents, slots and audit events; content-addressed blobs on disk.

Blobs are named by their SHA-256, written to a temporary file and renamed into place, never overwritten:
a crash leaves either the whole file or nothing, and a repeated write of the same bytes is a no-op.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(moment: dt.datetime) -> dt.datetime:
    """A stored moment with its time zone (SQLite hands back naive UTC datetimes)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# a document's file name (without .pdf) wherever it is written: downloads, the archive package
FILE_NAMES = {"covenant": "ban-giao-uoc-thi-dua", "minutes": "bien-ban-hoi-nghi"}


class Base(DeclarativeBase):
    pass


class RoundRow(Base):
    __tablename__ = "rounds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(200))
    cluster_slug: Mapped[str] = mapped_column(String(120), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    round_file: Mapped[str] = mapped_column(String(64))  # blob: the round YAML as launched
    trust_roots: Mapped[list[str]] = mapped_column(JSON)  # blobs: PEM roots that signatures must chain to
    deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    archive_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    archive_zip: Mapped[str | None] = mapped_column(String(64), nullable=True)  # blob: the package's zip as archived
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    supersedes: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the round this one reissues

    documents: Mapped[list[DocumentRow]] = relationship(
        back_populates="round", order_by="DocumentRow.position", cascade="all, delete-orphan"
    )


class DocumentRow(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("round_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # covenant | minutes
    position: Mapped[int] = mapped_column(Integer)
    template: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the round's own DOCX template
    docx: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdf: Mapped[str | None] = mapped_column(String(64), nullable=True)  # as converted
    current: Mapped[str | None] = mapped_column(String(64), nullable=True)  # latest accepted revision
    final: Mapped[str | None] = mapped_column(String(64), nullable=True)  # with DSS + document timestamp
    revisions: Mapped[int] = mapped_column(Integer, default=0)

    round: Mapped[RoundRow] = relationship(back_populates="documents")
    slots: Mapped[list[SlotRow]] = relationship(
        back_populates="document", order_by="SlotRow.position", cascade="all, delete-orphan"
    )

    @property
    def file_name(self) -> str:
        return FILE_NAMES[self.kind]


class SlotRow(Base):
    """One signature a document needs: one signer, one field."""

    __tablename__ = "slots"
    __table_args__ = (UniqueConstraint("document_id", "field_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    field_name: Mapped[str] = mapped_column(String(80))
    unit_id: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(20))  # unit | chair | secretary
    signer_name: Mapped[str] = mapped_column(String(200))
    signer_title: Mapped[str] = mapped_column(String(200))
    unit_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    pin_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pin_identity: Mapped[str | None] = mapped_column(String(64), nullable=True)  # subject serialNumber / UID
    pin_cn: Mapped[str | None] = mapped_column(String(200), nullable=True)  # exact certificate name
    signed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    signer_certificate: Mapped[str | None] = mapped_column(Text, nullable=True)  # subject, for the record
    revision: Mapped[str | None] = mapped_column(String(64), nullable=True)  # blob that added this signature
    signature_image: Mapped[str | None] = mapped_column(String(64), nullable=True)  # blob: the signer's PNG
    seal_image: Mapped[str | None] = mapped_column(String(64), nullable=True)  # blob: the unit's seal PNG
    # an organisation's slot (role seal | issue): where its field lies (documents.SEAL_OF + block, or NUMBER_ANCHOR);
    # None for a person's, whose field is its own block (documents.anchor_name(position))
    anchor: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)  # the clerk's; a leader's is the unit's

    document: Mapped[DocumentRow] = relationship(back_populates="slots")


class LinkRow(Base):
    """A signer's personal link: only the SHA-256 of its random token is kept; scoped to one slot, expiring at
    the round's deadline, revoked when reissued or the round is voided, spent when the slot is signed."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    pending: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)  # a prepared remote signature

    slot: Mapped[SlotRow] = relationship()


class ReminderClaimRow(Base):
    """A reminder offset of a round, claimed before its mails are sent: one row per (round, offset), so two beats,
    or a task run twice, never send one reminder twice (at most once: a claim whose sending failed stays)."""

    __tablename__ = "reminder_claims"

    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    offset: Mapped[str] = mapped_column(String(40), primary_key=True)
    claimed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RegisterRow(Base):
    """The cluster's register of numbers (sổ đăng ký văn bản), one sequence per year: a number is reserved for a
    document when its issuing signature is prepared (the signature draws it) and issued when that signature is
    accepted. The primary key forbids a duplicate; the lowest free number is taken, so a reservation released
    (a round voided before issuance) leaves no gap."""

    __tablename__ = "register"

    cluster_slug: Mapped[str] = mapped_column(String(120), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), unique=True)
    round_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    reserved_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    issued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BlobRow(Base):
    """A blob kept in the database (COVENANT_BLOB_STORE=database, the default on PostgreSQL): content-addressed by
    its SHA-256, written in the transaction of the row that names it when that one is open (DatabaseBlobStore)."""

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DraftRow(Base):
    """A round file being written in the browser (issue 17): the round file as JSON, saved as it is typed. A draft
    need not be valid; its problems are computed when it is read. Launching it makes a round from it."""

    __tablename__ = "drafts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    body: Mapped[dict[str, object]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    launched_round: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # the files its round file names, by their name in the round file: {name: {sha256, size, by, at}} (blobs)
    files: Mapped[dict[str, dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    changes: Mapped[list[DraftChangeRow]] = relationship(
        back_populates="draft", order_by="DraftChangeRow.id", cascade="all, delete-orphan"
    )


class DraftChangeRow(Base):
    """Who changed what in a draft: the round-file paths one save changed."""

    __tablename__ = "draft_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    draft_id: Mapped[str] = mapped_column(ForeignKey("drafts.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    paths: Mapped[list[str]] = mapped_column(JSON)
    draft: Mapped[DraftRow] = relationship(back_populates="changes")


class ClusterRow(Base):
    """A cluster as the directory keeps it from year to year (issue 17): its name, sector and guidance, and its
    units with their leaders, deputies and clerk. Rounds are made from it; a change of leader is an edit."""

    __tablename__ = "clusters"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # slug of the name, as rounds' cluster_slug
    name: Mapped[str] = mapped_column(String(300))
    sector: Mapped[str] = mapped_column(String(300))
    guidance: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    units: Mapped[list[DirectoryUnitRow]] = relationship(
        back_populates="cluster", order_by="DirectoryUnitRow.position", cascade="all, delete-orphan"
    )


class DirectoryUnitRow(Base):
    """One unit of a cluster: who leads it now, its deputies and its clerk (each a JSON person)."""

    __tablename__ = "directory_units"
    __table_args__ = (UniqueConstraint("cluster_id", "unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id"), index=True)
    unit_id: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(120))
    place: Mapped[str] = mapped_column(String(200))
    leader: Mapped[dict[str, object]] = mapped_column(JSON)
    deputies: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    clerk: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cluster: Mapped[ClusterRow] = relationship(back_populates="units")


class SignerAccountRow(Base):
    """A leader's user id at a remote-signing provider (VNPT SmartCA, Viettel MySign), given once on the page and
    kept for that unit's signer, so the next round asks only for the approval."""

    __tablename__ = "signer_accounts"
    __table_args__ = (UniqueConstraint("unit_id", "signer_name", "provider"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(String(40))
    signer_name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(20))  # smartca | mysign
    user_id: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HandoffRow(Base):
    """A one-time URL for a local signing service (the Government CA's VGCA Sign Service, `covenant agent`): to
    download the revision to sign, or to upload it signed. Only the SHA-256 of its token is kept; scoped to one
    slot and one revision; valid for minutes; used once."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))  # download | upload
    revision: Mapped[str] = mapped_column(String(64))  # the blob the signer is to sign
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    slot: Mapped[SlotRow] = relationship()


class UserRow(Base):
    """Someone who logs in to the web pages: the secretariat (runs rounds) or an archivist (reads the archive)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    role: Mapped[str] = mapped_column(String(20))  # secretariat | archivist
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # every session carries the epoch it was opened in; logout, a new password or role move it on
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RateRow(Base):
    """One rate-limit counter (a key's count in its current window), shared by every process on the database."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the limit's name and key
    window_start: Mapped[int] = mapped_column(Integer, index=True)
    count: Mapped[int] = mapped_column(Integer)


class EventRow(Base):
    """Audit trail: append-only, each event carrying the SHA-256 of the previous one of its round."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("round_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601 UTC, stored as text so the hash is exact
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: sqlite3.Connection, _record: object) -> None:
            # WAL lets the web process read while a worker writes; workers share one file.
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    migrate(engine)
    return engine


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic, workflow/migrations). A database made before the
    project had migrations (tables but no alembic_version) is first stamped with the revision it matches.
    Several processes starting at once take turns: a PostgreSQL advisory lock, a lock file beside SQLite's."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    with _file_lock(Path(f"{database}.migrate.lock") if database else None), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(2024032001)"))
        config.attributes["connection"] = conn
        tables = set(inspect(conn).get_table_names())
        if "rounds" in tables and "alembic_version" not in tables:
            command.stamp(config, "0002" if "links" in tables else "0001")
        command.upgrade(config, "head")


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    import fcntl

    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# The sessions open in this thread (or task), innermost last, with their database: a blob put while one is open
# is written in its transaction (DatabaseBlobStore).
_OPEN: ContextVar[tuple[tuple[str, Session], ...]] = ContextVar("covenant_open_sessions", default=())


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, rolled back on any error."""
    session = sessionmaker(engine_for(url), expire_on_commit=False)()
    token = _OPEN.set((*_OPEN.get(), (url, session)))
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        _OPEN.reset(token)
        session.close()


def _open_session(url: str) -> Session | None:
    return next((s for u, s in reversed(_OPEN.get()) if u == url), None)


def blob_id(digest: str) -> str:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a blob id: {digest!r}")
    return digest


@dataclass(frozen=True)
class BlobStore:
    """Blobs as files under the data folder (the embedded default): blobs/ab/cdef…, written atomically."""

    root: Path
    kind: ClassVar[str] = "files"

    def path(self, digest: str) -> Path:
        blob_id(digest)
        return self.root / digest[:2] / digest[2:]

    def digests(self) -> Iterator[str]:
        """Every blob kept here."""
        if self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                if folder.is_dir() and len(folder.name) == 2:
                    for item in sorted(folder.iterdir()):
                        if len(item.name) == 62 and not item.name.startswith("."):
                            yield folder.name + item.name

    def remove(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        data = self.path(digest).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise OSError(f"blob {digest} is corrupt on disk")
        return data


@dataclass(frozen=True)
class DatabaseBlobStore:
    """Blobs in the database's `blobs` table: nothing needs a shared folder, so machines that share only PostgreSQL
    (and Redis) share the documents. A put inside an open session (session_scope) is written in its transaction,
    with the row that names the blob; outside one, in a transaction of its own (a blob nothing names yet is inert,
    content-addressed). Concurrent puts of the same blob do not collide (INSERT … ON CONFLICT DO NOTHING)."""

    url: str
    kind: ClassVar[str] = "database"

    @contextmanager
    def _session(self) -> Iterator[Session]:
        current = _open_session(self.url)
        if current is not None:
            yield current
            return
        with session_scope(self.url) as s:
            yield s

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with self._session() as s:
            values = {"digest": digest, "size": len(data), "data": data, "created_at": utcnow()}
            if s.get_bind().dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                s.execute(pg_insert(BlobRow).values(**values).on_conflict_do_nothing(index_elements=["digest"]))
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                s.execute(sqlite_insert(BlobRow).values(**values).on_conflict_do_nothing(index_elements=["digest"]))
        return digest

    def get(self, digest: str) -> bytes:
        blob_id(digest)
        with self._session() as s:
            data = s.scalar(select(BlobRow.data).where(BlobRow.digest == digest))
        if data is None:
            raise FileNotFoundError(f"blob {digest} is not in the database")
        if hashlib.sha256(data).hexdigest() != digest:
            raise OSError(f"blob {digest} is corrupt in the database")
        return bytes(data)

    def digests(self) -> Iterator[str]:
        with session_scope(self.url) as s:
            yield from list(s.scalars(select(BlobRow.digest).order_by(BlobRow.digest)))

    def remove(self, digest: str) -> None:
        with self._session() as s:
            s.execute(delete(BlobRow).where(BlobRow.digest == digest))


Blobs = BlobStore | DatabaseBlobStore


def move_blobs(source: Blobs, target: Blobs) -> int:
    """Every blob of `source` copied into `target`, read back and checked there, then removed from `source`:
    a data folder's blobs into the database, or back (`covenant blobs move`). Returns how many moved; a blob
    that does not read back whole stops the move before anything of it is removed."""
    moved = 0
    for digest in list(source.digests()):
        data = source.get(digest)  # checked against its digest
        if target.put(data) != digest or target.get(digest) != data:
            raise OSError(f"blob {digest} did not read back whole from the {target.kind} store")
        source.remove(digest)
        moved += 1
    return moved
