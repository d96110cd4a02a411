"""Several `covenant beat` processes on one Redis, a real worker and a real SMTP server: one beat holds the lease
(celery-redbeat's lock) and schedules; killed with SIGKILL between two reminders, another takes over within a
minute and sends the next one; no reminder is sent twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import yaml

from tests.conftest import EXAMPLES, REPO, copy_example_files, run_covenant
from tests.test_routing import Inbox, smtp  # noqa: F401  (the SMTP fixture)
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.storage import EventRow

pytestmark = pytest.mark.live
REDIS_DB = 12  # a database of this test's own, emptied first
VN = dt.timezone(dt.timedelta(hours=7))


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "workflow.cli", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed whole
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _until(what: Callable[[], object], seconds: float, why: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.5)
    pytest.fail(why)


@pytest.fixture
def services(tmp_path: Path, smtp: tuple[Inbox, str]) -> Iterator[dict[str, object]]:  # noqa: F811
    broker = f"redis://127.0.0.1:6379/{REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    env = {
        "COVENANT_DATA_DIR": str(tmp_path / "data"),
        "COVENANT_BROKER_URL": broker,
        "COVENANT_SMTP_URL": smtp[1],
        "COVENANT_BEAT_INTERVAL": "2",  # the reminders' check every 2 s instead of 15 min
        "COVENANT_BEAT_LEASE": "9",  # a dead leader's lease lasts 9 s instead of 30
    }
    made = run_covenant(
        "pki", "demo", str(tmp_path / "data" / "pki"), "--round", str(EXAMPLES / "cum-4-2024.yaml"), env=env
    )
    assert made.returncode == 0, made.stderr
    running: list[subprocess.Popen[bytes]] = []
    worker = _start(["worker"], env, tmp_path / "worker.log")
    running.append(worker)
    try:
        yield {"env": env, "inbox": smtp[0], "running": running, "tmp": tmp_path}
    finally:
        for proc in running:
            _kill(proc)


def _launch(env: dict[str, str], tmp_path: Path, name: str, deadline: dt.datetime) -> str:
    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    spec["signing"].update({"deadline": deadline, "reminders": ["PT1M"]})  # a YAML timestamp
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    copy_example_files(tmp_path)
    proc = run_covenant("round", "launch", str(path), "--json", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["round_id"])


def _reminders(ctx: Ctx, round_id: str) -> list[dict[str, object]]:
    with ctx.session() as s:
        return [e.data for e in s.query(EventRow).filter_by(round_id=round_id, kind="reminder.sent")]


def _status(ctx: Ctx, round_id: str) -> str:
    from workflow.storage import RoundRow

    with ctx.session() as s:
        row = s.get(RoundRow, round_id)
        return row.status if row else ""


def test_a_killed_beat_is_replaced_and_no_reminder_is_sent_twice(services: dict) -> None:  # type: ignore[type-arg]
    env, inbox, running, tmp = services["env"], services["inbox"], services["running"], services["tmp"]
    ctx = Ctx(settings_from_env(env))
    now = dt.datetime.now(VN).replace(microsecond=0)
    # two rounds whose one reminder (a minute before the deadline) falls due 15 s and 45 s from now
    first = _launch(env, tmp, "first", now + dt.timedelta(seconds=75))
    second = _launch(env, tmp, "second", now + dt.timedelta(seconds=105))
    _until(lambda: _status(ctx, first) == "open" and _status(ctx, second) == "open", 120, "the rounds did not open")
    inbox.take()  # the invitations
    logs = [tmp / "beat-1.log", tmp / "beat-2.log"]
    leader = _start(["beat"], env, logs[0])
    running.append(leader)
    _until(lambda: "Acquired lock" in logs[0].read_text(errors="replace"), 60, "the first beat took no lease")
    standby = _start(["beat"], env, logs[1])
    running.append(standby)
    _until(lambda: _reminders(ctx, first), 60, "the first round's reminder was not sent")
    assert not _reminders(ctx, second)  # not due yet: the leader is killed between the two reminders
    time.sleep(3)  # a few more of the leader's checks: the first reminder is not sent again
    _kill(leader)
    killed_at = time.monotonic()
    assert "Acquired lock" not in logs[1].read_text(errors="replace")  # it waited while the leader lived
    _until(lambda: "Acquired lock" in logs[1].read_text(errors="replace"), 60, "no beat took over within a minute")
    took_over = time.monotonic() - killed_at
    _until(lambda: _reminders(ctx, second), 90, "the second round's reminder was not sent after the take-over")
    time.sleep(6)  # several checks of the new leader
    assert len(_reminders(ctx, first)) == 1 and len(_reminders(ctx, second)) == 1
    mails = inbox.take()
    reminded = [m for m in mails if "Nhắc" in str(m["Subject"])]
    # each of the 7 waiting slots of each round reminded once: 14 mails, never 21 or 28
    assert len(reminded) == 14, [str(m["Subject"]) for m in mails]
    assert took_over < 9 + 3 + 5  # the lease, a waiting beat's retry interval, and some slack
