"""The storage layer on both backends: SQLite (the embedded default) and PostgreSQL (127.0.0.1:5432, database
`test`, one fresh schema per test). Alembic migrations, the audit chain, personal links, a whole round."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from tests.conftest import EXAMPLES, run_covenant
from workflow.states import event_json, record, verify_chain
from workflow.storage import Base, DocumentRow, EventRow, LinkRow, RoundRow, SlotRow, engine_for, session_scope

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.live)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'covenant.sqlite3'}"
        return
    schema = f"covenant_{secrets.token_hex(4)}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        engine_for.cache_clear()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = engine_for(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert diff == [], diff  # a model changed without a migration fails here
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from workflow.storage import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert heads == [version] and int(version) >= 12  # one line of migrations, and the database at its head


def test_database_from_before_migrations_is_upgraded(database_url: str) -> None:
    """A data folder made by the first release (tables from create_all, no alembic_version) keeps its rows."""
    from alembic import command
    from alembic.config import Config

    from workflow.storage import MIGRATIONS

    legacy = create_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with legacy.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(
            text(
                "INSERT INTO rounds (id, cluster, cluster_slug, year, status, round_file, trust_roots, deadline, "
                "created_at) VALUES ('r1', 'Cụm thi đua số 4', 'cum-4', 2024, 'open', :blob, '[]', :t, :t)"
            ),
            {"blob": "0" * 64, "t": dt.datetime(2024, 3, 27, 10, tzinfo=dt.UTC)},
        )
    legacy.dispose()
    engine = engine_for(database_url)
    columns = {c["name"] for c in inspect(engine).get_columns("slots")}
    assert {"signature_image", "seal_image", "pin_identity", "pin_cn"} <= columns
    assert "session_epoch" in {c["name"] for c in inspect(engine).get_columns("users")}
    assert "links" in inspect(engine).get_table_names()
    with session_scope(database_url) as s:
        assert s.get(RoundRow, "r1").cluster == "Cụm thi đua số 4"  # type: ignore[union-attr]


DEADLINE = dt.datetime(2024, 3, 27, 10, 0, tzinfo=dt.UTC)


def _round_row(round_id: str, status: str) -> RoundRow:
    return RoundRow(
        id=round_id,
        cluster="Cụm thi đua số 4",
        cluster_slug="cum-thi-dua-so-4",
        year=2024,
        status=status,
        round_file="a" * 64,
        trust_roots=["b" * 64],
        deadline=DEADLINE,
    )


def test_round_rows_links_and_audit_chain(database_url: str) -> None:
    deadline = DEADLINE
    with session_scope(database_url) as s:
        rnd = _round_row("20240320-abcd", "open")
        doc = DocumentRow(kind="covenant", position=0)
        doc.slots.append(
            SlotRow(
                position=0,
                field_name="unit-phu-tho",
                unit_id="phu-tho",
                role="unit",
                signer_name="Đỗ Đình Chữ",
                signer_title="Viện trưởng",
                unit_name="Viện kiểm sát nhân dân tỉnh Phú Thọ",
            )
        )
        rnd.documents.append(doc)
        s.add(rnd)
        s.flush()
        s.add(LinkRow(slot_id=doc.slots[0].id, token_sha256="c" * 64, expires_at=deadline, pending={"base": "x"}))
        for kind in ("round.draft", "round.generating", "round.open"):
            record(s, rnd.id, kind, "thư ký", note="Hội nghị ký kết giao ước thi đua")
    with session_scope(database_url) as s:
        rnd = s.get(RoundRow, "20240320-abcd")
        assert rnd is not None
        assert rnd.documents[0].slots[0].signer_name == "Đỗ Đình Chữ"
        stored = rnd.deadline if rnd.deadline.tzinfo else rnd.deadline.replace(tzinfo=dt.UTC)
        assert stored == deadline
        link = s.query(LinkRow).one()
        assert link.pending == {"base": "x"} and link.slot.unit_id == "phu-tho"
        events = [event_json(e) for e in s.query(EventRow).order_by(EventRow.seq)]
    assert [e["kind"] for e in events] == ["round.draft", "round.generating", "round.open"]
    assert verify_chain(events) == []
    events[1]["actor"] = "kẻ giả mạo"
    assert verify_chain(events)  # an edited event breaks the chain


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.live)], indirect=True)
def test_events_of_one_round_recorded_at_once_stay_one_chain(database_url: str) -> None:
    """Workers on several hosts record events of one round at the same time (its two documents converted side by
    side): every event lands, numbered in order, one unbroken chain (it failed on (round_id, seq) before)."""
    import threading
    import time

    with session_scope(database_url) as s:
        s.add(_round_row("20240320-race", "generating"))
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(8):
                with session_scope(database_url) as s:
                    record(s, "20240320-race", "document.generated", f"worker {n}", index=i)
                    time.sleep(0.002)  # the transaction stays open a moment, as a task's does
        except BaseException as exc:  # noqa: BLE001  collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(database_url) as s:
        events = [event_json(e) for e in s.query(EventRow).where(EventRow.round_id == "20240320-race")]
    assert sorted(e["seq"] for e in events) == list(range(1, 49))
    assert verify_chain(sorted(events, key=lambda e: e["seq"])) == []


@pytest.mark.live
def test_a_round_on_postgresql(tmp_path: Path) -> None:
    """The whole CLI on PostgreSQL: demo PKI, launch (render, convert, certify), two signatures, status; every blob
    in the database."""
    schema = f"covenant_{secrets.token_hex(4)}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    env = {"COVENANT_DATA_DIR": str(tmp_path), "COVENANT_DATABASE_URL": f"{PG_SERVER}?options=-csearch_path%3D{schema}"}
    try:
        round_file = EXAMPLES / "cum-4-2024.yaml"
        assert run_covenant("pki", "demo", str(tmp_path / "pki"), "--round", str(round_file), env=env).returncode == 0
        launched = run_covenant("round", "launch", str(round_file), "--json", env=env)
        assert launched.returncode == 0, launched.stderr
        round_id = json.loads(launched.stdout)["round_id"]
        index = json.loads((tmp_path / "pki" / "index.json").read_text(encoding="utf-8"))
        for field, key in [("unit-phu-tho", "phu-tho--do-dinh-chu"), ("unit-hoa-binh", "hoa-binh--ngo-bao-ngoc")]:
            entry = index["people"][key]
            key_files = ["--p12", str(tmp_path / "pki" / entry["p12"])]
            key_files += ["--passphrase-file", str(tmp_path / "pki" / entry["passphrase_file"])]
            proc = run_covenant("sign", round_id, "--field", field, *key_files, env=env)
            assert proc.returncode == 0, proc.stderr
        status = json.loads(run_covenant("round", "status", round_id, "--json", env=env).stdout)
        covenant = next(d for d in status["documents"] if d["name"] == "covenant")
        assert covenant["revisions"] == 3
        signed = {s["field"] for s in covenant["slots"] if s["status"] == "signed"}
        assert signed == {"unit-phu-tho", "unit-hoa-binh"}
        with admin.connect() as conn:
            kinds = conn.execute(text(f"SELECT kind FROM {schema}.events ORDER BY seq")).scalars().all()
        assert kinds.count("slot.signed") == 2
        # on PostgreSQL the blobs are in the database by default: the data folder holds none
        assert not (tmp_path / "blobs").exists()
        with admin.connect() as conn:
            blobs = conn.execute(text(f"SELECT count(*), sum(size) FROM {schema}.blobs")).one()
        assert blobs[0] >= 8 and blobs[1] > 100_000  # round file, roots, DOCX, PDF, revisions
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_an_absolute_deadline_is_stored_as_its_instant(tmp_path: Path) -> None:
    """A round file's deadline in Vietnam's time (+07:00) is the same instant once stored: SQLite keeps no offset,
    so a deadline stored as 17:00 local was read back as 17:00 UTC, seven hours late for reminders and expiry."""
    from tests import factories
    from workflow.storage import aware

    ctx = factories.data_folder(tmp_path / "data")
    text = (
        (EXAMPLES / "cum-4-2024.yaml")
        .read_text(encoding="utf-8")
        .replace("deadline: P7D", "deadline: 2099-03-27T17:00:00+07:00")
    )
    round_id = factories.launched_round(ctx, text=text)
    with ctx.session() as s:
        row = s.get(RoundRow, round_id)
        assert row is not None
        assert aware(row.deadline) == dt.datetime(2099, 3, 27, 10, 0, tzinfo=dt.UTC)
