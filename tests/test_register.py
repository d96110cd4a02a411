"""The cluster's register of numbers (issuance, Decree 30 Art. 15 and 33): one sequence per cluster and year, no
duplicate and no gap, also with clerks reserving at once on PostgreSQL (threads, each its own connection)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.test_storage import database_url  # noqa: F401  (the fixture: SQLite, and PostgreSQL in the live layer)
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.issuance import release_reservations, reserve_number
from workflow.storage import DocumentRow, RegisterRow, RoundRow, utcnow


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> Iterator[Ctx]:  # noqa: F811
    yield Ctx(settings_from_env({"COVENANT_DATABASE_URL": database_url}, data_dir=tmp_path))


def _documents(ctx: Ctx, rounds: int, cluster: str = "cum-thi-dua-so-4", year: int = 2024) -> list[int]:
    """Rounds of one cluster and year, two documents each (as launch makes them, without their files)."""
    ids = []
    with ctx.session() as s:
        for r in range(rounds):
            rnd = RoundRow(
                id=f"r{r}-{cluster}-{year}"[:32],
                cluster="Cụm thi đua số 4",
                cluster_slug=cluster,
                year=year,
                status="open",
                round_file="x",
                trust_roots=[],
                deadline=utcnow(),
            )
            rnd.documents = [DocumentRow(kind="covenant", position=0), DocumentRow(kind="minutes", position=1)]
            s.add(rnd)
        s.flush()
        ids = [d.id for d in s.scalars(select(DocumentRow).order_by(DocumentRow.id))]
    return ids


def test_numbers_follow_each_other_and_a_document_keeps_its_own(ctx: Ctx) -> None:
    first, second, third, fourth = _documents(ctx, 2)
    assert [reserve_number(ctx, d) for d in (first, second, third)] == [1, 2, 3]
    assert reserve_number(ctx, second) == 2  # asked again (a clerk who prepares twice): the same number
    # another year, another cluster: their own sequences
    other_year = _documents(ctx, 1, year=2025)[-2]
    other_cluster = _documents(ctx, 1, cluster="cum-thi-dua-so-11")[-2]
    assert reserve_number(ctx, other_year) == 1 and reserve_number(ctx, other_cluster) == 1
    # a round voided before issuance gives its number back; the next document takes it: no gap
    with ctx.session() as s:
        round_of_third = s.get(DocumentRow, third).round_id  # type: ignore[union-attr]
        assert release_reservations(s, round_of_third) == [3]
    assert reserve_number(ctx, fourth) == 3
    with ctx.session() as s:
        rows = s.scalars(
            select(RegisterRow.number).where(RegisterRow.cluster_slug == "cum-thi-dua-so-4", RegisterRow.year == 2024)
        )
        assert sorted(rows) == [1, 2, 3]


def test_clerks_reserving_at_once_get_distinct_numbers_without_a_gap(ctx: Ctx) -> None:
    """Eight clerks at once (eight threads, eight connections), one document each: 1..8, each once."""
    documents = _documents(ctx, 4)
    got: dict[int, int] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(documents))

    def clerk(doc_id: int) -> None:
        try:
            start.wait()
            got[doc_id] = reserve_number(ctx, doc_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=clerk, args=(d,)) for d in documents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(got.values()) == list(range(1, len(documents) + 1)), got
