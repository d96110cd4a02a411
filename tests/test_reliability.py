"""Crash safety on real parts: a Redis server of the test's own (append-only, on another port) and real
`celery worker` processes, killed with SIGKILL in the middle of a conversion and of a signature acceptance,
Redis restarted mid-round, 20 leaders submitting to one document at the same moment, every task run twice."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from tasks.worker import worker_command
from tests.conftest import (
    COVENANT,
    EXAMPLES,
    REPO,
    ProcessGroup,
    free_port,
    freeze_when_received,
    pdfsig_verdicts,
    received,
    run_covenant,
    serving,
    sign_by_link,
    wait_for,
)
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.demo import person_key, slot_key
from workflow.storage import DocumentRow, EventRow, RoundRow, SlotRow

pytestmark = pytest.mark.live


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=(self.folder / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=20)


class Worker(ProcessGroup):
    def __init__(self, env: dict[str, str], log: Path, name: str) -> None:
        super().__init__(worker_command(name=f"{name}@%h", alone=True), env, log, name)
        wait_for(lambda: "ready." in log.read_text(errors="replace"), 60, "worker start")


def _succeeded(log: Path, task_id: str) -> bool:
    return f"[{task_id}] succeeded" in log.read_text(errors="replace")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("reliability")
    server = RedisServer(folder)
    server.start()
    env = {
        "COVENANT_DATA_DIR": str(folder / "data"),
        "COVENANT_BROKER_URL": server.url,
        "COVENANT_VISIBILITY_TIMEOUT": "6",  # a dead worker's task comes back quickly
    }
    made = run_covenant(
        "pki", "demo", str(folder / "data" / "pki"), "--round", str(EXAMPLES / "cum-4-2024.yaml"), env=env
    )
    assert made.returncode == 0, made.stderr
    state: dict = {"folder": folder, "env": env, "redis": server, "workers": []}
    yield state
    for w in state["workers"]:
        w.stop()
    server.stop()


def _worker(cluster: dict, name: str) -> Worker:
    w = Worker(cluster["env"], cluster["folder"] / f"{name}.log", name)
    cluster["workers"].append(w)
    return w


def _ctx(cluster: dict) -> Ctx:
    return Ctx(settings_from_env({k: v for k, v in cluster["env"].items() if k != "COVENANT_BROKER_URL"}))


def _events(cluster: dict, round_id: str, kind: str) -> int:
    with _ctx(cluster).session() as s:
        return s.query(EventRow).filter_by(round_id=round_id, kind=kind).count()


def _sign_cli(cluster: dict, round_id: str, field: str, unit: str, name: str, document: str = "covenant"):  # type: ignore[no-untyped-def]
    index = json.loads((cluster["folder"] / "data" / "pki" / "index.json").read_text(encoding="utf-8"))
    role = field.split("-", 1)[0]  # a clerk's seal or issuance signs with the unit's organisation certificate
    entry = index["people"][slot_key(unit, name, role)]
    pki = cluster["folder"] / "data" / "pki"
    return subprocess.Popen(
        [
            *COVENANT,
            "sign",
            round_id,
            "--field",
            field,
            "--document",
            document,
            "--p12",
            str(pki / entry["p12"]),
            "--passphrase-file",
            str(pki / entry["passphrase_file"]),
        ],
        cwd=REPO,
        env={**os.environ, **cluster["env"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_worker_killed_in_the_middle_of_a_conversion(cluster: dict) -> None:
    first = _worker(cluster, "w1")
    launch = subprocess.Popen(
        [*COVENANT, "round", "launch", str(EXAMPLES / "cum-4-2024.yaml"), "--json"],
        cwd=REPO,
        env={**os.environ, **cluster["env"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: received(first.log, "convert_document"), 120, "a conversion to start")
    task_id = received(first.log, "convert_document")
    assert task_id
    first.kill9()
    assert not _succeeded(first.log, task_id)  # it died mid-conversion
    _worker(cluster, "w2")
    out, err = launch.communicate(timeout=600)
    assert launch.returncode == 0, err
    round_id = json.loads(out)["round_id"]
    cluster["round_id"] = round_id
    with _ctx(cluster).session() as s:
        assert s.get(RoundRow, round_id).status == "open"  # type: ignore[union-attr]
        assert [d.revisions for d in s.query(DocumentRow).filter_by(round_id=round_id)] == [1, 1]
    assert _events(cluster, round_id, "document.prepared") == 2  # each document prepared once


def test_worker_killed_in_the_middle_of_accepting_a_signature(cluster: dict) -> None:
    round_id = cluster["round_id"]
    current = cluster["workers"][-1]
    proc = _sign_cli(cluster, round_id, "unit-phu-tho", "phu-tho", "Đỗ Đình Chữ")
    try:
        _, task_id = freeze_when_received({"current": current}, "accept_signature", 120)
        current.kill9()
        assert not _succeeded(current.log, task_id)
    finally:
        _worker(cluster, "w3")  # whatever happened, the tests after this one have a worker
    _out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    with _ctx(cluster).session() as s:
        doc = s.query(DocumentRow).filter_by(round_id=round_id, kind="covenant").one()
        assert doc.revisions == 2  # prepared + exactly one signature: nothing lost, nothing twice
    assert _events(cluster, round_id, "slot.signed") == 1


def test_redis_restarted_mid_round(cluster: dict) -> None:
    round_id = cluster["round_id"]
    cluster["redis"].stop()
    time.sleep(1)
    cluster["redis"].start()
    signers = [
        ("unit-bac-giang", "bac-giang", "Nguyễn Trường Thọ", "covenant"),
        ("unit-thai-nguyen", "thai-nguyen", "Phùng Đức Tiến", "covenant"),
        ("unit-hoa-binh", "hoa-binh", "Ngô Bảo Ngọc", "covenant"),
        ("unit-vinh-phuc", "vinh-phuc", "Đặng Thanh Nhàn", "covenant"),
        ("chair-phu-tho", "phu-tho", "Đỗ Đình Chữ", "minutes"),
        ("secretary-phu-tho", "phu-tho", "Hoàng Thùy", "minutes"),
        # then each unit's clerk seals, and the chair unit's clerk issues both documents
        *(
            (f"seal-{unit}", unit, "", "covenant")
            for unit in ("phu-tho", "bac-giang", "thai-nguyen", "hoa-binh", "vinh-phuc")
        ),
        ("issue", "phu-tho", "", "covenant"),
        ("issue", "phu-tho", "", "minutes"),
    ]
    for field, unit, name, document in signers:
        proc = _sign_cli(cluster, round_id, field, unit, name, document)
        _out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    ctx = _ctx(cluster)
    wait_for(lambda: _status(ctx, round_id) == "archived", 300, "the round to be archived", every=0.5)
    with ctx.session() as s:
        archive = s.get(RoundRow, round_id).archive_path  # type: ignore[union-attr]
    verify = run_covenant("archive", "verify", f"{archive}.zip")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _status(ctx: Ctx, round_id: str) -> str:
    with ctx.session() as s:
        return s.get(RoundRow, round_id).status  # type: ignore[union-attr]


def test_every_task_run_again_changes_nothing(cluster: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks import pipeline as tasks
    from workflow.config import reset_settings

    round_id = cluster["round_id"]
    for key, value in cluster["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("COVENANT_BROKER_URL")  # run here, by hand
    reset_settings()
    ctx = _ctx(cluster)

    def snapshot() -> tuple:
        with ctx.session() as s:
            docs = [
                (d.kind, d.docx, d.pdf, d.current, d.final, d.revisions)
                for d in s.query(DocumentRow).filter_by(round_id=round_id)
            ]
            slots = sorted(
                (sl.field_name, sl.status, sl.revision) for sl in s.query(SlotRow) if sl.document.round_id == round_id
            )
            events = s.query(EventRow).filter_by(round_id=round_id).count()
            rnd = s.get(RoundRow, round_id)
            return docs, slots, events, rnd.status, rnd.archive_path  # type: ignore[union-attr]

    before = snapshot()
    try:
        with ctx.session() as s:
            doc_ids = [d.id for d in s.query(DocumentRow).filter_by(round_id=round_id)]
            accepted = [
                (sl.id, sl.revision, sl.signer_name) for sl in s.query(SlotRow) if sl.document.round_id == round_id
            ]
        for doc_id in doc_ids:
            tasks.render_document.apply(args=(doc_id,)).get()
            tasks.convert_document.apply(args=(doc_id,)).get()
            tasks.prepare_document.apply(args=(doc_id,)).get()
        tasks.open_round.apply(args=(None, round_id)).get()
        for slot_id, revision, name in accepted:
            tasks.accept_signature.apply(args=(slot_id, revision, name)).get()
        tasks.finalize_round.apply(args=(round_id,)).get()
        tasks.archive_round.apply(args=(round_id,)).get()
        tasks.notify_round.apply(args=(round_id,)).get()
    finally:
        reset_settings()
    assert snapshot() == before


def test_twenty_leaders_sign_one_document_at_the_same_moment(cluster: dict, tmp_path: Path) -> None:
    from workflow.samples import synthetic_round

    round_file = tmp_path / "round-20.yaml"
    round_file.write_text(synthetic_round(20), encoding="utf-8")
    env = cluster["env"]  # the same data and the same workers: acceptance runs in the worker
    data = Path(env["COVENANT_DATA_DIR"])
    made = run_covenant("pki", "demo", str(data / "pki"), "--round", str(round_file), env=env)
    assert made.returncode == 0, made.stderr
    launched = run_covenant("round", "launch", str(round_file), "--json", env=env)
    assert launched.returncode == 0, launched.stderr
    round_id = json.loads(launched.stdout)["round_id"]
    index = json.loads((data / "pki" / "index.json").read_text(encoding="utf-8"))
    ctx = _ctx(cluster)
    with serving(env) as served:
        env = {k: v for k, v in served.items() if k != "base"}
        issued = run_covenant("round", "links", round_id, "--json", env=env)
        assert issued.returncode == 0, issued.stderr
        links = [i for i in json.loads(issued.stdout) if i["document"] == "covenant"]
        assert len(links) == 20
        with ctx.session() as s:
            units = {
                sl.field_name: (sl.unit_id, sl.signer_name)
                for sl in s.query(SlotRow)
                if sl.document.round_id == round_id
            }
        pki = data / "pki"

        def sign(link: dict) -> subprocess.CompletedProcess:
            return sign_by_link(link["url"], pki, index["people"][person_key(*units[link["field"]])], env)

        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(sign, links))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    with ctx.session() as s:
        doc = s.query(DocumentRow).filter_by(round_id=round_id, kind="covenant").one()
        assert doc.revisions == 21  # one chain: prepared + 20 signatures
        pdf = ctx.blobs.get(doc.current or "")
    path = tmp_path / "twenty.pdf"
    path.write_bytes(pdf)
    signed = pdfsig_verdicts(path)
    assert len(signed) == 21 and all("Signature is Valid." in b for b in signed)
