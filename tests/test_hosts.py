"""Several machines that share nothing but PostgreSQL and Redis (issue 19): hosts of the test's own in network
namespaces (tests/netns.py) — "services" (a Redis and a PostgreSQL of the test's, on its address), "web" (`covenant
serve`), "w1" and "w2" (`covenant worker`), each with its own empty data folder (and the demo PKI's keys, as a
machine's configuration) — and the leaders on the driver's side of the network, signing through their links.

One round from launch to a verified archive, through the faults: a worker host killed (SIGKILL, its whole process
group) in the middle of a conversion, a worker host killed in the middle of accepting a signature (one made with
`covenant sign` on the web host, whose acceptance is a task), PostgreSQL restarted and Redis restarted between
signatures, one worker host's network cut for 30 s. The round completes; every slot is signed once (one
`slot.signed` event each, never asked again), no revision is duplicated, no blob is on any host's disk."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tasks.worker import worker_command
from tests import factories, netns
from tests.conftest import COVENANT, EXAMPLES, REPO, ProcessGroup, freeze_when_received, run_covenant, wait_for
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.demo import slot_key

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(netns.available() is not None, reason=str(netns.available())),
]
ROUND = EXAMPLES / "cum-4-2024.yaml"


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[dict]:
    net = netns.Network()
    made: list[ProcessGroup] = []
    services = None
    try:
        services = netns.Services(net, tmp_path / "services")
        services.start_redis()
        services.start_postgres(create=True)
        pki = tmp_path / "pki"
        assert run_covenant("pki", "demo", str(pki), "--round", str(ROUND)).returncode == 0
        addresses = {name: net.add(name) for name in ("web", "w1", "w2")}
        base = f"http://{addresses['web']}:8000"

        def env_of(host: str) -> dict[str, str]:
            folder = tmp_path / host
            if not folder.exists():
                folder.mkdir()
                shutil.copytree(pki, folder / "pki")  # the machine's keys: the certifier's, the demo TSA's
            return {
                "COVENANT_DATA_DIR": str(folder),
                "COVENANT_DATABASE_URL": services.database_url,
                "COVENANT_BROKER_URL": services.broker_url,
                "COVENANT_BASE_URL": base,
                "COVENANT_VISIBILITY_TIMEOUT": "6",  # a dead worker's task comes back quickly
            }

        def start(host: str, log: str | None = None) -> ProcessGroup:
            if host == "web":
                argv = [*COVENANT, "serve", "--host", addresses["web"], "--port", "8000"]
            else:
                argv = worker_command(name=f"{host}@%h", alone=True)
            proc = ProcessGroup(net.argv(host, argv), env_of(host), tmp_path / f"{log or host}.log", host)
            made.append(proc)
            if host == "web":
                wait_for(lambda: _answers(f"{base}/openapi.json"), 60, "covenant serve on the web host")
            else:
                wait_for(lambda: "ready." in proc.log.read_text(errors="replace"), 90, f"the worker on {host}")
            return proc

        yield {
            "net": net,
            "services": services,
            "start": start,
            "env_of": env_of,
            "base": base,
            "pki": pki,
            "folder": tmp_path,
        }
    finally:
        for proc in made:
            proc.stop()
        if services is not None:
            services.close()
        net.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _on(net: netns.Network, host: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        net.argv(host, [*COVENANT, *args]),
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _sign(link: str, pki: Path, key: str) -> subprocess.CompletedProcess[str]:
    """A leader (or a clerk) on the driver's side of the network: `covenant sign --link` with their own key."""
    entry = json.loads((pki / "index.json").read_text(encoding="utf-8"))["people"][key]
    argv = [*COVENANT, "sign", "--link", link, "--p12", str(pki / entry["p12"])]
    argv += ["--passphrase-file", str(pki / entry["passphrase_file"])]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COVENANT_")}
    return subprocess.run(argv, cwd=REPO, env=clean, capture_output=True, text=True, timeout=600)


def _sign_on_a_worker(
    net: netns.Network, env: dict[str, str], pki: Path, round_id: str, kind: str, field: str, key: str
) -> subprocess.Popen[str]:
    """A signature made on the web host with `covenant sign` (the secretariat's command line): its acceptance is
    the accept_signature task, run by whichever worker host takes it."""
    entry = json.loads((pki / "index.json").read_text(encoding="utf-8"))["people"][key]
    argv = [*COVENANT, "sign", round_id, "--field", field, "--document", kind, "--p12", str(pki / entry["p12"])]
    argv += ["--passphrase-file", str(pki / entry["passphrase_file"])]
    return subprocess.Popen(
        net.argv("web", argv),
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_round_on_three_hosts_through_the_faults(hosts: dict) -> None:
    net, services, start, env_of, pki = hosts["net"], hosts["services"], hosts["start"], hosts["env_of"], hosts["pki"]
    web = start("web")
    w1 = start("w1")
    # launched on the web host; w1 alone takes the first conversion and is killed in the middle of it
    launch = subprocess.Popen(
        net.argv("web", [*COVENANT, "round", "launch", str(ROUND), "--json"]),
        cwd=REPO,
        env={**os.environ, **env_of("web")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    received = re.compile(r"convert_document\[([0-9a-f-]+)\] received")
    wait_for(lambda: received.search(w1.log.read_text(errors="replace")), 120, "a conversion on w1", every=0.05)
    w1.kill9()
    first = w1.log.read_text(errors="replace")
    killed = received.search(first).group(1)  # type: ignore[union-attr]
    assert f"[{killed}] succeeded" not in first  # killed in the middle of it
    w2 = start("w2")  # the conversion comes back after the visibility timeout
    w1 = start("w1", "w1-again")
    out, err = launch.communicate(timeout=600)
    assert launch.returncode == 0, err
    round_id = json.loads(out)["round_id"]
    again = w2.log.read_text(errors="replace") + w1.log.read_text(errors="replace")
    assert f"[{killed}] succeeded" in again  # done by a worker host that lived
    engine = create_engine(services.database_url, pool_pre_ping=True)  # the driver survives the restart too

    def status() -> str:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT status FROM rounds WHERE id = :r"), {"r": round_id}).scalar())

    wait_for(lambda: status() == "open", 300, "the round to open")
    links = _on(net, "web", env_of("web"), "round", "links", round_id, "--json")
    assert links.returncode == 0, links.stderr
    by_slot = {(i["document"], i["field"]): i["url"] for i in json.loads(links.stdout)}
    with engine.connect() as conn:
        slots = conn.execute(
            text(
                "SELECT d.kind, s.field_name, s.unit_id, s.signer_name, s.role FROM slots s "
                "JOIN documents d ON s.document_id = d.id WHERE d.round_id = :r ORDER BY d.position, s.position"
            ),
            {"r": round_id},
        ).all()
    assert len(slots) == 14 and set(by_slot) == {(kind, field) for kind, field, *_ in slots}
    faults = {1: "acceptance", 3: "postgres", 7: "redis", 12: "network"}
    cut_at: float | None = None
    workers = {"w1": w1, "w2": w2}
    for n, (kind, field, unit, signer, role) in enumerate(slots):
        if faults.get(n) == "acceptance":
            # accepted on a worker host, which is killed in the middle of it; the other host accepts it again
            # after the visibility timeout, and the signer's command only hears that it was accepted
            key = slot_key(unit, signer, role)
            signing = _sign_on_a_worker(net, env_of("web"), pki, round_id, kind, field, key)
            frozen, task_id = freeze_when_received(workers, "accept_signature", 180)
            workers[frozen].kill9()
            assert f"[{task_id}] succeeded" not in workers[frozen].log.read_text(errors="replace")
            _out, err = signing.communicate(timeout=600)
            assert signing.returncode == 0, (n, field, err)
            other = "w2" if frozen == "w1" else "w1"
            assert f"[{task_id}] succeeded" in workers[other].log.read_text(errors="replace")
            workers[frozen] = start(frozen, f"{frozen}-after-acceptance")
            continue
        if faults.get(n) == "postgres":
            services.stop_postgres()
            services.start_postgres()
        elif faults.get(n) == "redis":
            services.stop_redis()
            services.start_redis()
        elif faults.get(n) == "network":
            net.cut("w2")  # w2 hears nothing for 30 s: what follows these signatures is w1's
            cut_at = time.monotonic()
        signed = _sign(by_slot[(kind, field)], pki, slot_key(unit, signer, role))
        assert signed.returncode == 0, (n, field, signed.stderr)
        if cut_at is not None and time.monotonic() - cut_at >= 30:
            net.mend("w2")
            cut_at = None
    if cut_at is not None:
        time.sleep(max(0.0, 30 - (time.monotonic() - cut_at)))
        net.mend("w2")
    wait_for(lambda: status() == "archived", 600, "the round to be archived", every=1)

    with engine.connect() as conn:
        signed_events = conn.execute(
            text("SELECT data FROM events WHERE round_id = :r AND kind = 'slot.signed'"), {"r": round_id}
        ).all()
        archive = conn.execute(text("SELECT archive_path FROM rounds WHERE id = :r"), {"r": round_id}).scalar()
        revisions = conn.execute(
            text("SELECT kind, revisions FROM documents WHERE round_id = :r"), {"r": round_id}
        ).all()
        blobs = conn.execute(text("SELECT count(*) FROM blobs")).scalar()

    # every slot signed once, nobody asked again; each document: the prepared revision and one per signature
    def data(value: object) -> dict:
        return json.loads(value) if isinstance(value, str) else dict(value)  # type: ignore[call-overload]

    signed_slots = sorted((data(row[0])["document"], data(row[0])["field"]) for row in signed_events)
    assert signed_slots == sorted((kind, field) for kind, field, *_ in slots)
    per_kind = {kind: sum(1 for k, *_ in slots if k == kind) for kind, _ in revisions}
    assert {kind: count for kind, count in revisions} == {kind: n + 1 for kind, n in per_kind.items()}
    # nothing on any host's disk but what a machine keeps for itself; the blobs are in PostgreSQL
    for host in ("web", "w1", "w2"):
        assert not (hosts["folder"] / host / "blobs").exists(), host
    assert blobs and blobs > 30
    # both worker hosts worked
    for host in ("w1", "w2"):
        logs = "".join(log.read_text(errors="replace") for log in hosts["folder"].glob(f"{host}*.log"))
        assert "succeeded in" in logs, host
    assert archive
    verify = run_covenant("archive", "verify", f"{archive}.zip")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert re.search(r"ban-giao-uoc-thi-dua\.pdf", verify.stdout + verify.stderr)
    # the web host hands the package out though another host archived it (its disk is not the web host's: the
    # archiver's copy is moved away), from the zip kept in the database
    elsewhere = hosts["folder"] / "archiver-disk.zip"
    shutil.move(f"{archive}.zip", elsewhere)
    driver = Ctx(
        settings_from_env({"COVENANT_DATABASE_URL": services.database_url}, data_dir=hosts["folder"] / "driver")
    )
    with httpx.Client(base_url=hosts["base"], timeout=300) as client:
        factories.login(client, driver, "luu-tru", "archivist")
        got = client.get(f"/api/archive/{round_id}/zip")
        assert got.status_code == 200 and got.content == elsewhere.read_bytes()
        checked = client.get(f"/api/archive/{round_id}/verification")
        assert checked.status_code == 200 and checked.json()["ok"], checked.text
    web.stop()
