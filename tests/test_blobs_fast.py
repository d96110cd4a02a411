"""Blobs in the database (COVENANT_BLOB_STORE=database): written in the transaction of the row that names them,
read back checked, shared by every process of the database, moved from a data folder and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from tests import factories
from tests.conftest import run_covenant
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.errors import SettingsError
from workflow.storage import BlobRow, BlobStore, DatabaseBlobStore, RoundRow, move_blobs


def _ctx(folder: Path, store: str = "database") -> Ctx:
    return factories.data_folder(folder, blob_store=store)


def test_the_store_follows_the_setting_and_the_database(tmp_path: Path) -> None:
    assert _ctx(tmp_path, "files").blobs == BlobStore(tmp_path / "blobs")
    assert isinstance(_ctx(tmp_path).blobs, DatabaseBlobStore)
    postgres = settings_from_env({"COVENANT_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test"})
    assert postgres.blob_store == "database"  # machines that share PostgreSQL share the documents
    with pytest.raises(SettingsError, match="COVENANT_BLOB_STORE"):
        settings_from_env({"COVENANT_BLOB_STORE": "s3"})


def test_a_blob_is_written_in_the_transaction_of_the_row_that_names_it(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    with pytest.raises(RuntimeError), ctx.session():
        lost = ctx.blobs.put(b"a revision nobody will name")
        assert ctx.blobs.get(lost) == b"a revision nobody will name"  # seen inside its transaction
        raise RuntimeError("the row that names it fails")
    with pytest.raises(FileNotFoundError):
        ctx.blobs.get(lost)  # rolled back with it
    with ctx.session():
        kept = ctx.blobs.put(b"%PDF-1.7 kept")
    assert ctx.blobs.put(b"%PDF-1.7 kept") == kept  # the same content twice: one blob, no error
    assert ctx.blobs.get(kept) == b"%PDF-1.7 kept"
    with ctx.session() as s:
        s.execute(update(BlobRow).where(BlobRow.digest == kept).values(data=b"%PDF-1.7 changed"))
    with pytest.raises(OSError, match="corrupt"):
        ctx.blobs.get(kept)
    with pytest.raises(ValueError):
        ctx.blobs.get("../../etc/passwd")


def test_a_round_keeps_nothing_in_the_data_folder(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path / "data")
    round_id = factories.rendered_round(ctx)
    assert not (tmp_path / "data" / "blobs").exists()
    with ctx.session() as s:
        rnd = s.get(RoundRow, round_id)
        assert rnd is not None
        assert ctx.blobs.get(rnd.round_file).startswith(b"# C")  # the round file as launched
        assert all(ctx.blobs.get(d.docx or "")[:2] == b"PK" for d in rnd.documents)  # the rendered DOCX


@pytest.mark.live  # the command line is another process
def test_a_data_folders_blobs_move_into_the_database_and_back(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    ctx = _ctx(folder, "files")
    round_id = factories.rendered_round(ctx)
    on_disk = sorted(BlobStore(folder / "blobs").digests())
    assert len(on_disk) >= 4
    env = {"COVENANT_DATA_DIR": str(folder)}
    moved = run_covenant("blobs", "move", "--to", "database", env=env)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["moved"] == len(on_disk)
    assert list(BlobStore(folder / "blobs").digests()) == []
    database = _ctx(folder)
    assert sorted(database.blobs.digests()) == on_disk
    with database.session() as s:
        rnd = s.get(RoundRow, round_id)
        assert rnd is not None and database.blobs.get(rnd.round_file)
    back = run_covenant("blobs", "move", "--to", "files", env=env)
    assert back.returncode == 0 and json.loads(back.stdout)["moved"] == len(on_disk), back.stderr
    assert sorted(BlobStore(folder / "blobs").digests()) == on_disk and list(database.blobs.digests()) == []
    wrong = run_covenant("blobs", "move", "--to", "s3", env=env)
    assert wrong.returncode == 2 and "--to" in wrong.stderr and "Traceback" not in wrong.stderr


def test_blobs_move_there_and_back_in_this_process(tmp_path: Path) -> None:
    files = BlobStore(tmp_path / "blobs")
    digests = sorted(files.put(f"revision {i}".encode()) for i in range(5))
    database = DatabaseBlobStore(_ctx(tmp_path).settings.database_url)
    assert move_blobs(files, database) == 5
    assert list(files.digests()) == [] and sorted(database.digests()) == digests
    assert move_blobs(database, files) == 5
    assert sorted(files.digests()) == digests and list(database.digests()) == []
    assert files.get(digests[0]).startswith(b"revision ")


def test_a_move_stops_before_removing_what_did_not_read_back(tmp_path: Path) -> None:
    files = BlobStore(tmp_path / "blobs")
    good = files.put(b"whole")
    bad = files.put(b"will be damaged")
    files.path(bad).write_bytes(b"damaged on disk")
    database = DatabaseBlobStore(_ctx(tmp_path).settings.database_url)
    with pytest.raises(OSError, match="corrupt"):
        move_blobs(files, database)
    assert files.path(bad).exists()  # nothing of the damaged one removed
    assert set(files.digests()) | set(database.digests()) >= {good, bad}
