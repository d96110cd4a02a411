"""The same round on a real `celery worker` process over the real Redis, compared with the embedded run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tasks.worker import worker_command
from tests.conftest import REPO, run_covenant

pytestmark = pytest.mark.live
REDIS_DB = 13  # a database of its own on the shared 127.0.0.1:6379


def _unoservers_of(data_dir: Path) -> set[int]:
    """The LibreOffice processes started for this data folder (they inherit the worker's environment): other test
    files running beside this one (pytest-xdist) start LibreOffice servers of their own."""
    out = subprocess.run(["pgrep", "-f", "covenant-lo-"], capture_output=True, text=True).stdout.split()
    mine = f"COVENANT_DATA_DIR={data_dir}".encode()
    found = set()
    for pid in map(int, out):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if mine in environ:
            found.add(pid)
    return found


@pytest.fixture
def worker(tmp_path: Path):
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.ping()
    client.flushdb()
    data_dir = tmp_path / "data"
    env = {**os.environ, "COVENANT_BROKER_URL": url, "COVENANT_DATA_DIR": str(data_dir)}
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        worker_command(name="test@%h", alone=True),
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, "worker did not start"
        time.sleep(0.3)
    yield {"env": env, "data_dir": data_dir, "log": log}
    assert _unoservers_of(data_dir), "the worker's LibreOffice is not found (the leftover check below would see none)"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    client.flushdb()
    deadline = time.monotonic() + 15  # LibreOffice takes a moment to go after its worker
    while (leftover := _unoservers_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not leftover, f"the worker left LibreOffice running: {leftover}"


def test_round_on_a_real_worker(worker: dict, demo_run: dict) -> None:
    proc = run_covenant("demo", "--out", str(worker["data_dir"]), "--json", env=worker["env"])
    log = worker["log"].read_text(errors="replace")
    assert proc.returncode == 0, proc.stderr + log[-3000:]
    summary = json.loads(proc.stdout)
    embedded = demo_run["summary"]
    assert summary["status"] == embedded["status"] == "archived"
    assert summary["documents"] == embedded["documents"]
    # The work happened in the worker, not in the client: count what the worker says it finished.
    succeeded = [line for line in log.splitlines() if "succeeded in" in line]
    expected = {
        "render_document": 2,
        "convert_document": 2,
        "prepare_document": 2,
        "open_round": 1,
        "accept_signature": 5 + 5 + 1 + 2 + 1,  # leaders, their units' seals, issuance; the minutes' two, issuance
        "archive_round": 1,
    }
    for task, count in expected.items():
        assert sum(f"tasks.pipeline.{task}[" in line for line in succeeded) == count, (task, succeeded)
    verify = run_covenant("archive", "verify", summary["archive"])
    assert verify.returncode == 0, verify.stderr


def test_demo_on_a_broker_without_a_worker_says_so_in_one_line(tmp_path: Path) -> None:
    """Before, it launched the round and hung on the result for ten minutes, then printed Celery's traceback."""
    url = f"redis://127.0.0.1:6379/{REDIS_DB + 1}"
    redis.Redis.from_url(url).flushdb()
    data_dir = tmp_path / "data"
    env = {"COVENANT_BROKER_URL": url, "COVENANT_DATA_DIR": str(data_dir)}
    started = time.monotonic()
    proc = run_covenant("demo", env=env, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no worker answers" in lines[0] and "covenant worker" in lines[0], lines
    assert time.monotonic() - started < 60
    assert "launched" not in proc.stdout  # asked before anything was stored
    unreachable = run_covenant(
        "demo", env={"COVENANT_BROKER_URL": "redis://127.0.0.1:1/0", "COVENANT_DATA_DIR": str(data_dir)}, timeout=120
    )
    assert unreachable.returncode == 1 and "the broker does not answer" in unreachable.stderr, unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1
