"""A reminder is claimed in the database before its mails go out (fast layer, no mail server: mail is recorded as
skipped): a second beat's task, or the same task run again, finds the claim and sends nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from tests import factories
from tests.conftest import EXAMPLES
from workflow.routing import remind_at_offsets
from workflow.states import RoundStatus, move_round
from workflow.storage import EventRow, ReminderClaimRow, RoundRow


def _open_round(tmp_path: Path) -> tuple[object, str]:
    ctx = factories.data_folder(tmp_path / "data")
    text = (EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8")
    round_id = factories.launched_round(ctx, text=text)
    with ctx.session() as s:
        row = s.get(RoundRow, round_id)
        assert row is not None
        move_round(s, row, RoundStatus.OPEN, "test")
    return ctx, round_id


def _reminders(ctx: object, round_id: str) -> list[dict]:  # type: ignore[type-arg]
    with ctx.session() as s:  # type: ignore[attr-defined]
        rows = s.scalars(select(EventRow).where(EventRow.round_id == round_id, EventRow.kind == "reminder.sent"))
        return [r.data for r in rows]


def test_a_claimed_reminder_is_not_sent_again(tmp_path: Path) -> None:
    ctx, round_id = _open_round(tmp_path)
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=6, hours=12)  # P2D and P1D before the P7D deadline: due
    first = remind_at_offsets(ctx, now=late)  # type: ignore[arg-type]
    assert round_id in first
    # the latest due offset sent, the earlier one passed over (recorded as skipped)
    assert sorted((r["offset"], bool(r.get("skipped"))) for r in _reminders(ctx, round_id)) == [
        ("P1D", False),
        ("P2D", True),
    ]
    with ctx.session() as s:  # type: ignore[attr-defined]
        claimed = {c.offset for c in s.scalars(select(ReminderClaimRow).where(ReminderClaimRow.round_id == round_id))}
    assert claimed == {"P2D", "P1D"}
    assert remind_at_offsets(ctx, now=late) == {}  # type: ignore[arg-type]
    assert len(_reminders(ctx, round_id)) == 2


def test_a_claim_made_elsewhere_stops_the_sending(tmp_path: Path) -> None:
    """Another beat's task claimed the offset a moment ago (its events not recorded yet): this one sends nothing."""
    ctx, round_id = _open_round(tmp_path)
    with ctx.session() as s:  # type: ignore[attr-defined]
        s.add(ReminderClaimRow(round_id=round_id, offset="P1D", claimed_at=dt.datetime.now(dt.UTC)))
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=6, hours=12)
    assert remind_at_offsets(ctx, now=late) == {}  # type: ignore[arg-type]
    assert _reminders(ctx, round_id) == []
