"""Whole rounds, launch → archived, in-process and on Celery workers over Redis; one run.

    .venv/bin/python bench/round.py [--sizes 6 12 30 60] [--modes …] [--throughput-rounds 8] [--json bench/round.json]

For each size a synthetic round (demo PKI, every signer signs in turn, B-LTA, archive, offline verify) runs
five ways: in-process (embedded, as `covenant demo` in a new process); in-process warm (the second round of one
process: imports done, LibreOffice running, demo PKI made); with 1 worker and with 2 workers (each as
`covenant worker` starts it: one process; Redis on 127.0.0.1:6379 db 12); and on three hosts of their own
(`3-hosts`: network namespaces, root only: `covenant demo` on a web host, a worker on each of two worker hosts,
Redis and PostgreSQL on a services host, the blobs in PostgreSQL). The archive stage is timed from the audit
trail (the round completed → archived: finalisation, package, zip), apart from the signing. Reported: seconds per
stage (pki, generate, sign, archive, verify) and the peak memory of each worker (its Python processes as the sum of
their RSS, and of their PSS, which counts shared pages once; its LibreOffice apart). Throughput: K 6-unit rounds
started at once by K warm clients (launch and sign only), against 1 and then 2 workers, as rounds per minute,
with the CPU seconds per round of the workers, of the clients and of the whole machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.table import Table

from tasks.worker import worker_command

REPO = Path(__file__).resolve().parent.parent
BROKER = "redis://127.0.0.1:6379/12"
STAGES = ["pki", "generate", "sign", "archive", "verify"]


def _proc_mib(path: str, field: str) -> float:
    """One "Field:   N kB" line of a /proc file, in MiB (0 when the process is gone)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mib(pid: int) -> float:
    return _proc_mib(f"/proc/{pid}/status", "VmRSS:")


def pss_mib(pid: int) -> float:
    """Proportional set size: pages shared by a prefork worker's processes (its pool forked from its main
    process) count once in the sum, where RSS counts them in each."""
    return _proc_mib(f"/proc/{pid}/smaps_rollup", "Pss:")


def tree(pid: int) -> list[int]:
    """pid and its descendants, from one pass over /proc (spawning `pgrep` per process, five times a second, took
    a good part of a core from the workers being measured)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def process_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used, with their children that have been waited for."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> tuple[int, int]:
    """(busy, idle) clock ticks of the whole machine so far, from /proc/stat."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return user + nice + system + irq + softirq + steal, idle + iowait


def is_libreoffice(pid: int) -> bool:
    try:
        return "soffice" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") or "lo_server" in Path(
            f"/proc/{pid}/cmdline"
        ).read_bytes().decode(errors="replace")
    except OSError:
        return False


class Workers:
    """n workers as `covenant worker` starts them (concurrency 1); samples each one's peak memory."""

    def __init__(
        self,
        n: int,
        env: dict[str, str],
        logdir: Path,
        hosts: list[tuple[Callable[[list[str]], list[str]], dict[str, str]]] | None = None,
    ) -> None:
        """`hosts`: for each worker, how its command is run (on a host of its own: `ip netns exec …`) and its
        environment; by default every worker on this machine with `env`."""
        self.procs = []
        for i, (on_host, its_env) in enumerate(hosts or [(lambda argv: argv, env)] * n):
            log = (logdir / f"worker-{i}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    on_host(worker_command(loglevel="WARNING", name=f"bench{i}@%h", alone=True)),
                    cwd=REPO,
                    env=its_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        n = len(self.procs)
        time.sleep(4)  # workers connect
        self.peak_python = [0.0] * n
        self.peak_pss = [0.0] * n
        self.peak_libreoffice = [0.0] * n
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for i, proc in enumerate(self.procs):
                pids = tree(proc.pid)
                offices = [p for p in pids if is_libreoffice(p)]
                pythons = [p for p in pids if p not in offices]
                python = sum(rss_mib(p) for p in pythons)
                pss = sum(pss_mib(p) for p in pythons)
                office = sum(rss_mib(p) for p in offices)
                self.peak_python[i] = max(self.peak_python[i], python)
                self.peak_pss[i] = max(self.peak_pss[i], pss)
                self.peak_libreoffice[i] = max(self.peak_libreoffice[i], office)
            time.sleep(0.5)

    def peaks(self) -> dict[str, list[int]]:
        """Each worker's peak memory so far, MiB: its Python processes (RSS, PSS) and its LibreOffice."""
        return {
            "worker_peak_mib": [round(v) for v in self.peak_python],
            "worker_peak_pss_mib": [round(v) for v in self.peak_pss],
            "libreoffice_peak_mib": [round(v) for v in self.peak_libreoffice],
        }

    def cpu_s(self) -> float:
        """CPU seconds used so far by the workers and their LibreOffice processes."""
        return sum(process_cpu_s(tree(proc.pid)) for proc in self.procs)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for proc in self.procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def synthetic(units: int, work: Path, broker: str | None = None) -> tuple[Path, dict[str, str]]:
    """A synthetic round file of `units` units in `work`, and the environment that runs it there."""
    from workflow.samples import synthetic_round

    round_file = work / f"round-{units}.yaml"
    round_file.write_text(synthetic_round(units), encoding="utf-8")
    env = {**os.environ, "COVENANT_DATA_DIR": str(work / "data")}
    env.pop("COVENANT_BROKER_URL", None)
    if broker:
        env["COVENANT_BROKER_URL"] = broker
    return round_file, env


def demo(units: int, work: Path, broker: str | None) -> dict[str, Any]:
    """One `covenant demo` of a synthetic round; its stage times."""
    round_file, env = synthetic(units, work, broker)
    return covenant_demo(round_file, work / "data", env)


def covenant_demo(
    round_file: Path,
    data: Path,
    env: dict[str, str],
    on_host: Callable[[list[str]], list[str]] = lambda argv: argv,
) -> dict[str, Any]:
    """`covenant demo --out DATA --round ROUND_FILE --json` (run by `on_host`: on this machine, or on a host of
    its own); its wall time and the stage times it wrote in DATA."""
    argv = [sys.executable, "-m", "workflow.cli", "demo", "--out", str(data), "--round", str(round_file), "--json"]
    t0 = time.perf_counter()
    done = subprocess.run(on_host(argv), cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    summary = json.loads(done.stdout)
    stages = json.loads((data / "last-demo-stages.json").read_text())
    assert summary["status"] == "archived" and all(d["valid"] for d in summary["documents"]), summary
    return {"wall_s": round(wall, 2), **{k: stages.get(k) for k in STAGES}}


def warm_demo(units: int, work: Path) -> dict[str, Any]:
    """The same round twice in one process (`--warm`): the second one runs warm (imports done, LibreOffice
    running, demo PKI made); its stage times."""
    round_file, env = synthetic(units, work)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--warm", str(work / "data"), str(round_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    second = json.loads(done.stdout)
    assert second["status"] == "archived" and all(d["valid"] for d in second["documents"]), second
    return {"wall_s": round(second["seconds"], 2), **{k: second["stages"].get(k) for k in STAGES}}


def twice(data: Path, round_file: Path) -> None:
    os.environ["COVENANT_DATA_DIR"] = str(data)
    from workflow.config import get_settings
    from workflow.context import Ctx
    from workflow.demo import run_demo
    from workflow.stages.check import parse_round

    ctx = Ctx(get_settings())
    text = round_file.read_text(encoding="utf-8")
    for _ in range(2):
        result = run_demo(ctx, text, parse_round(text), round_file.parent, lambda _message: None)
    print(json.dumps({**result.to_json(), "stages": result.stages}), flush=True)


def run_mode(mode: str, sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for units in sizes:
        if mode == "3-hosts":
            rows.append(three_hosts(units))
            print(json.dumps(rows[-1]), flush=True)
            continue
        with tempfile.TemporaryDirectory(prefix=f"covenant-bench-round-{units}-") as tmp:
            work = Path(tmp)
            workers = None
            broker = None
            if "worker" in mode:
                redis.Redis.from_url(BROKER).flushdb()
                broker = BROKER
                env = {**os.environ, "COVENANT_BROKER_URL": broker, "COVENANT_DATA_DIR": str(work / "data")}
                workers = Workers(int(mode[0]), env, work)
            try:
                run = warm_demo(units, work) if mode == "in-process-warm" else demo(units, work, broker)
                row: dict[str, Any] = {"mode": mode, "units": units, **run}
            finally:
                if workers:
                    workers.stop()
            if workers:
                row.update(workers.peaks())
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def three_hosts(units: int) -> dict[str, Any]:
    """The round on hosts of their own (tests/netns.py, as tests/test_hosts.py makes them): "services" (a Redis and
    a PostgreSQL of the run's own, on its address), "web" (the secretariat's machine: `covenant demo` there
    launches the round, has every leader sign it and verifies the archive), "w1" and "w2" (`covenant worker`), each
    with its own empty data folder (and the demo PKI's keys); blobs in PostgreSQL, nothing shared but the services."""
    sys.path.insert(0, str(REPO))  # the tests' hosts (tests/netns.py)
    from tests import netns

    problem = netns.available()
    if problem:
        return {"mode": "3-hosts", "units": units, "skipped": problem}
    with tempfile.TemporaryDirectory(prefix=f"covenant-bench-hosts-{units}-") as tmp:
        work = Path(tmp)
        net = netns.Network()
        services = workers = None
        try:
            services = netns.Services(net, work / "services")
            services.start_redis()
            services.start_postgres(create=True)
            round_file, _ = synthetic(units, work)
            pki = work / "pki"
            demo_pki = [sys.executable, "-m", "workflow.cli", "pki", "demo", str(pki), "--round", str(round_file)]
            subprocess.run(demo_pki, cwd=REPO, check=True, capture_output=True)
            for host in ("web", "w1", "w2"):
                net.add(host)

            def env_of(host: str) -> dict[str, str]:
                folder = work / host
                if not folder.exists():
                    folder.mkdir()
                    shutil.copytree(pki, folder / "pki")  # the machine's keys: the certifier's, the demo TSA's
                env = {k: v for k, v in os.environ.items() if not k.startswith("COVENANT_")}
                assert services is not None
                return {
                    **env,
                    "COVENANT_DATA_DIR": str(folder),
                    "COVENANT_DATABASE_URL": services.database_url,
                    "COVENANT_BROKER_URL": services.broker_url,
                }

            workers = Workers(
                2, {}, work, hosts=[(lambda argv, h=h: net.argv(h, argv), env_of(h)) for h in ("w1", "w2")]
            )
            run = covenant_demo(round_file, work / "web", env_of("web"), lambda argv: net.argv("web", argv))
            blobs_on_disk = [h for h in ("web", "w1", "w2") if (work / h / "blobs").exists()]
        finally:
            if workers:
                workers.stop()
            if services is not None:
                services.close()
            net.close()
        return {"mode": "3-hosts", "units": units, **run, **workers.peaks(), "blobs_on_disk": blobs_on_disk}


def client(data: Path, round_file: Path) -> None:
    """One secretariat-and-leaders client for the throughput run (`--client`): imports and unlocks every leader's
    key first (that is the leaders' own machines' work, not the pipeline's), says "ready", waits for a line on
    stdin, then launches one round, has every leader sign it, waits until the workers have archived it, reports,
    and waits for another line before it exits."""
    os.environ["COVENANT_DATA_DIR"] = str(data)
    from tasks.pipeline import generate_and_wait
    from workflow.config import get_settings
    from workflow.context import Ctx
    from workflow.demo import sign_all, wait_for_archive
    from workflow.stages.check import parse_round
    from workflow.stages.launch import launch
    from workflow.storage import RoundRow

    ctx = Ctx(get_settings())
    text = round_file.read_text(encoding="utf-8")
    model = parse_round(text)
    pki = ctx.settings.pki_dir
    index = json.loads((pki / "index.json").read_text(encoding="utf-8"))
    from signing.signers import load_pkcs12

    keys = {k: load_pkcs12(pki / e["p12"], pki / e["passphrase_file"]) for k, e in index["people"].items()}
    # Warm, as a client that is already running: its imports done, its database opened and its stamp font
    # loaded; the demo TSA (a service of its own in a real deployment) has its key loaded.
    import tasks.pipeline  # noqa: F401
    from signing.appearance import stamp_font_metrics
    from signing.ltv import demo_timestamper
    from signing.validation import load_roots

    with ctx.session():
        pass
    stamp_font_metrics()
    from signing.pki import demo_roots

    demo_timestamper(pki, load_roots(demo_roots(pki)))

    print("ready", flush=True)
    sys.stdin.readline()
    cpu0 = time.process_time()
    round_id = launch(ctx, text, model, round_file.parent, actor="bench client")
    generate_and_wait(round_id, timeout=900)
    sign_all(ctx, round_id, pki, lambda _message: None, keys)
    wait_for_archive(ctx, round_id, timeout=900)
    with ctx.session() as s:
        status = s.get(RoundRow, round_id).status  # type: ignore[union-attr]
    print(json.dumps({"round_id": round_id, "status": status, "cpu_s": time.process_time() - cpu0}), flush=True)
    sys.stdin.readline()  # a client keeps running; it exits (and tears its interpreter down) after the clock stops


def throughput(n_workers: int, rounds: int) -> dict[str, Any]:
    """`rounds` clients each run a 6-unit round at once against n workers; rounds per minute. The clients are
    started and warm (imports done, keys unlocked) before the clock starts, and do only what the secretariat and
    the leaders do (launch, sign); the offline verification of `covenant demo` is an archivist's later work and is
    left out: on this 2-core machine the clients share the CPU with the workers they are measuring."""
    from workflow.samples import synthetic_round

    with tempfile.TemporaryDirectory(prefix="covenant-bench-throughput-") as tmp:
        work = Path(tmp)
        redis.Redis.from_url(BROKER).flushdb()
        round_file = work / "round.yaml"
        round_file.write_text(synthetic_round(6), encoding="utf-8")
        data = work / "data"
        env = {**os.environ, "COVENANT_BROKER_URL": BROKER, "COVENANT_DATA_DIR": str(data)}
        subprocess.run(
            [sys.executable, "-m", "workflow.cli", "pki", "demo", str(data / "pki"), "--round", str(round_file)],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        workers = Workers(n_workers, env, work)
        clients = [
            subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--client", str(data), str(round_file)],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(rounds)
        ]
        for c in clients:
            assert c.stdout is not None and c.stdout.readline().strip() == "ready", c.stderr
        t0, ticks0, worker_cpu0 = time.perf_counter(), cpu_ticks(), workers.cpu_s()
        for c in clients:
            assert c.stdin is not None
            c.stdin.write("go\n")
            c.stdin.flush()
        lines = [c.stdout.readline() for c in clients]  # type: ignore[union-attr]
        wall, ticks1, worker_cpu = time.perf_counter() - t0, cpu_ticks(), workers.cpu_s() - worker_cpu0
        results = [c.communicate("exit\n", timeout=600) for c in clients]
        workers.stop()
        busy, idle = ticks1[0] - ticks0[0], ticks1[1] - ticks0[1]
        reports = [
            json.loads(line) if c.returncode == 0 and line.strip() else {}
            for c, line in zip(clients, lines, strict=True)
        ]
        for c, (_, err) in zip(clients, results, strict=True):
            if c.returncode != 0:
                print(f"client failed: {err[-2000:]}", file=sys.stderr)
        client_cpu = [r["cpu_s"] for r in reports if r]
        ok = sum(r.get("status") == "archived" for r in reports)
        return {
            "workers": n_workers,
            "rounds": rounds,
            "archived": ok,
            "wall_s": round(wall, 1),
            "rounds_per_minute": round(60 * ok / wall, 2),
            "client_cpu_s_per_round": round(sum(client_cpu) / max(1, len(client_cpu)), 2),
            "worker_cpu_s_per_round": round(worker_cpu / max(1, ok), 2),  # with their LibreOffice
            # every process on the machine: workers, their LibreOffice, clients, Redis, this sampler
            "machine_cpu_s_per_round": round(busy / os.sysconf("SC_CLK_TCK") / max(1, ok), 2),
            "machine_idle_pct": round(100 * idle / max(1, busy + idle), 1),
            **workers.peaks(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 12, 30, 60])
    parser.add_argument(
        "--modes", nargs="+", default=["in-process", "in-process-warm", "1-worker", "2-workers", "3-hosts"]
    )
    parser.add_argument("--throughput-rounds", type=int, default=8)
    parser.add_argument("--json", default=str(REPO / "bench" / "round.json"))
    parser.add_argument("--client", nargs=2, metavar=("DATA", "ROUND"), help=argparse.SUPPRESS)
    parser.add_argument("--warm", nargs=2, metavar=("DATA", "ROUND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client or args.warm:
        sys.path.insert(0, str(REPO))
        (client if args.client else twice)(*map(Path, args.client or args.warm))
        return
    rows: list[dict[str, Any]] = []
    for mode in args.modes:
        rows += run_mode(mode, args.sizes)
        Path(args.json).write_text(json.dumps({"rounds": rows}, indent=2))
    flows = [throughput(n, args.throughput_rounds) for n in (1, 2)] if args.throughput_rounds else []
    for flow in flows:
        print(json.dumps(flow), flush=True)
    Path(args.json).write_text(json.dumps({"rounds": rows, "throughput": flows}, indent=2))

    console = Console(width=160)
    table = Table(title="rounds launch → archived (seconds; one run)")
    for col in ["mode", "units", "wall_s", *STAGES, "worker_peak_mib", "worker_peak_pss_mib", "libreoffice_peak_mib"]:
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            *(
                str(r.get(c, ""))
                for c in [
                    "mode",
                    "units",
                    "wall_s",
                    *STAGES,
                    "worker_peak_mib",
                    "worker_peak_pss_mib",
                    "libreoffice_peak_mib",
                ]
            )
        )
    console.print(table)
    if flows:
        t = Table(title=f"throughput: {args.throughput_rounds} six-unit rounds started at once")
        cols = [
            "workers",
            "archived",
            "wall_s",
            "rounds_per_minute",
            "worker_cpu_s_per_round",
            "client_cpu_s_per_round",
            "machine_cpu_s_per_round",
            "machine_idle_pct",
            "worker_peak_mib",
        ]
        for col in cols:
            t.add_column(col, justify="right")
        for f in flows:
            t.add_row(*(str(f[c]) for c in cols))
        console.print(t)
        console.print(f"2 workers / 1 worker: {flows[1]['rounds_per_minute'] / flows[0]['rounds_per_minute']:.2f}×")
    by = {(r["mode"], r["units"]): r for r in rows}
    for mode in ("in-process", "in-process-warm"):
        if (mode, 6) in by and (mode, 60) in by:
            ratio = by[(mode, 60)]["wall_s"] / by[(mode, 6)]["wall_s"]
            console.print(f"{mode}: 60 units took {ratio:.1f}× the 6-unit round")


if __name__ == "__main__":
    main()
