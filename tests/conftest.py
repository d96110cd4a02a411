"""Shared fixtures. The tests drive the real `covenant` command, real LibreOffice, pyHanko, poppler and qpdf."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from signing.patches import install as install_patches
from signing.pki import Identity, demo_roots, make_demo_pki
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.storage import DocumentRow, SlotRow

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
install_patches()  # as the entry points do

COVENANT = [sys.executable, "-m", "workflow.cli"]
CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config: pytest.Config) -> None:
    """The fast layer (`-m "not live"`) runs in this process: a test there that starts a process (LibreOffice, a
    server, the covenant command, a validator) fails, so a real-parts test cannot hide in it unmarked."""
    if config.option.markexpr.replace(" ", "") != "notlive":
        return
    real_init = subprocess.Popen.__init__

    def refuse(self: subprocess.Popen, args: object, *rest: object, **kw: object) -> None:
        raise AssertionError(f"a fast-layer test started a process ({args!r}): mark it `live`")

    subprocess.Popen.__init__ = refuse  # type: ignore[method-assign,assignment]  # the fast layer only
    config.add_cleanup(lambda: setattr(subprocess.Popen, "__init__", real_init))


ARTIFACTS = REPO / "test-artifacts"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The `covenant` command run in this process (the fast layer): the same commands and the same error handler as
    the console entry point, with settings from `env` alone (not this process's environment)."""
    import contextlib
    import io

    from signing.errors import CovenantError
    from workflow.cli import app, report
    from workflow.config import use_settings

    out, err = io.StringIO(), io.StringIO()
    code: int
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), use_settings(settings_from_env(env or {})):
        try:
            app(list(args), prog_name="covenant")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except CovenantError as exc:
            code = report(exc)
    return subprocess.CompletedProcess(["covenant", *args], code, out.getvalue(), err.getvalue())


def run_covenant(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600, stdin: str | None = None
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("COVENANT_BROKER_URL", None) if env is None or "COVENANT_BROKER_URL" not in env else None
    return subprocess.run(
        [*COVENANT, *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout, input=stdin
    )


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One whole demo round (Cụm 4, 2024) through the real CLI on the embedded default."""
    out = tmp_path_factory.mktemp("demo")
    proc = run_covenant("demo", "--out", str(out), "--json", env={"COVENANT_DATA_DIR": str(out)})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    archive = Path(summary["archive"])
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(archive, ARTIFACTS / archive.name)
    return {"summary": summary, "data_dir": out, "zip": archive, "bag": archive.with_suffix(""), "stderr": proc.stderr}


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The Cụm 4 round launched through the CLI with a demo PKI, waiting for signatures (one per test module)."""
    data = tmp_path_factory.mktemp("launched")
    env = {"COVENANT_DATA_DIR": str(data)}
    proc = run_covenant("pki", "demo", str(data / "pki"), "--round", str(EXAMPLES / "cum-4-2024.yaml"), env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_covenant("round", "launch", str(EXAMPLES / "cum-4-2024.yaml"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "open"
    other = tmp_path_factory.mktemp("other-pki")
    make_demo_pki(other, [Identity("intruder", "Nguyễn Văn Giả", "Không rõ")], Identity("secretariat", "x", "y"))
    index = json.loads((data / "pki" / "index.json").read_text(encoding="utf-8"))
    return {"data": data, "env": env, "round_id": result["round_id"], "index": index, "other": other}


def person(launched: dict, key: str) -> tuple[Path, Path]:
    entry = launched["index"]["people"][key]
    pki = launched["data"] / "pki"
    return pki / entry["p12"], pki / entry["passphrase_file"]


def launched_ctx(launched: dict) -> Ctx:
    return Ctx(settings_from_env({"COVENANT_DATA_DIR": str(launched["data"])}))


def slot_state(ctx: Ctx, round_id: str, field: str) -> tuple[int, bytes, int]:
    with ctx.session() as s:
        slot = (
            s.query(SlotRow)
            .join(DocumentRow)
            .filter(DocumentRow.round_id == round_id, SlotRow.field_name == field)
            .one()
        )
        return slot.id, ctx.blobs.get(slot.document.current or ""), slot.document.revisions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(env: dict[str, str], *extra: str) -> Iterator[dict[str, str]]:
    """`covenant serve` on a free loopback port, with COVENANT_BASE_URL pointing at it (`extra`: more options)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**env, "COVENANT_BASE_URL": base}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workflow.cli", "serve", "--port", str(port), *extra],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/openapi.json", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"covenant serve did not start: {proc.communicate()[1]}")
    try:
        yield {"base": base, **env}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(launched: dict) -> Iterator[dict]:
    with serving(launched["env"]) as served:
        env = {k: v for k, v in served.items() if k != "base"}
        issued = run_covenant("round", "links", launched["round_id"], "--json", env=env)
        assert issued.returncode == 0, issued.stderr
        links = {(i["document"], i["field"]): i["url"] for i in json.loads(issued.stdout)}
        yield {"base": served["base"], "env": env, "links": links}


def sign_by_link(url: str, pki: Path, entry: dict, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A leader's agent: `covenant sign --link URL` with their PKCS#12 file from the demo PKI's index entry."""
    return subprocess.run(
        [
            *COVENANT,
            "sign",
            "--link",
            url,
            "--p12",
            str(pki / entry["p12"]),
            "--passphrase-file",
            str(pki / entry["passphrase_file"]),
        ],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


def sign_as(pki: Path, key: str, pdf: bytes, field: str, title: str = "Viện trưởng", timestamped: bool = True) -> bytes:
    """What a leader's own signing tool makes: `pdf` plus the signature of the demo PKI's person `key` in `field`
    (their name and unit from the PKI's index, the demo TSA's timestamp). pyHanko runs in a thread of its own:
    its synchronous API starts an event loop, and Playwright's may be running in this thread."""
    from concurrent.futures import ThreadPoolExecutor

    from signing.ltv import demo_timestamper
    from signing.signers import load_pkcs12, sign_field
    from signing.validation import load_roots

    entry = json.loads((pki / "index.json").read_text(encoding="utf-8"))["people"][key]

    def sign() -> bytes:
        timestamper = demo_timestamper(pki, load_roots(demo_roots(pki))) if timestamped else None
        signer = load_pkcs12(pki / entry["p12"], pki / entry["passphrase_file"])
        return sign_field(
            pdf,
            field,
            signer,
            signer_name=entry["name"],
            title=title,
            unit=entry["organization"],
            timestamper=timestamper,
        )

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(sign).result()


def pdfsig_verdicts(path: Path) -> list[str]:
    """poppler's report on each signature of a PDF that it validated (one text block per signature)."""
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    return [b for b in out.split("Signature #")[1:] if "Signature Validation:" in b]


@pytest.fixture
def office_api(tmp_path: Path) -> Iterator[tuple[Ctx, object, dict[str, str]]]:
    """The web app in this process on a fresh data folder with the demo PKI, a secretariat logged in: the context,
    FastAPI's TestClient and the headers that carry the session's CSRF token."""
    from fastapi.testclient import TestClient

    from tests import factories
    from workflow.webapp import create_app

    ctx = factories.data_folder(tmp_path / "data")
    factories.demo_pki(ctx)
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
        csrf = factories.login(web, ctx, "vanphong", "secretariat")
        yield ctx, web, {"x-csrf-token": csrf}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium driven by Playwright, headless (one per test module)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (scripts/install.sh installs it)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def example_without_files(name: str = "cum-4-2024.yaml") -> dict[str, Any]:
    """An example round as a draft's data, without the seal images it names (files a draft receives apart): what
    an office that typed or pasted the round file has before it uploads anything."""
    from workflow.drafts import draft_from_yaml

    data = draft_from_yaml((EXAMPLES / name).read_text(encoding="utf-8"))
    for unit in data["units"]:
        unit.pop("seal_image", None)
    return data


def copy_example_files(folder: Path) -> None:
    """The files the example rounds name beside them (their units' seal images), copied into `folder`, where a
    test writes a variant of an example round file."""
    shutil.copytree(EXAMPLES / "seals", folder / "seals", dirs_exist_ok=True)


def wait_for(check: Callable[[], object], timeout: float, what: str, every: float = 0.05) -> None:
    """Poll `check` until it holds; an AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


class ProcessGroup:
    """A process in a process group of its own (SIGKILL reaches its children, LibreOffice too), its output appended
    to `log`."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, name: str = "") -> None:
        self.name, self.log = name, log
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def received(log: Path, task: str) -> str | None:
    """The id of the first `task` (tasks.pipeline.<task>) a worker's log says it received, or None."""
    found = re.search(rf"Task tasks\.pipeline\.{task}\[([0-9a-f-]+)\] received", log.read_text(errors="replace"))
    return found.group(1) if found else None


def freeze_when_received(workers: dict[str, ProcessGroup], task: str, timeout: float) -> tuple[str, str]:
    """Stop the worker whose log first says it received `task` (SIGSTOP, its whole process group) the moment it
    does; (its name, the task's id). An acceptance takes a few hundred milliseconds: polling every 2 ms and
    freezing at once keeps it mid-way, for a SIGKILL after (a SIGKILL after a 50 ms poll sometimes came after the
    task had finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, worker in workers.items():
            task_id = received(worker.log, task)
            if task_id:
                os.killpg(worker.proc.pid, signal.SIGSTOP)
                return name, task_id
        time.sleep(0.002)
    raise AssertionError(f"no worker received {task}")


def sign_cli(launched: dict, field: str, p12: Path, passphrase: Path, document: str = "covenant"):  # type: ignore[no-untyped-def]
    """`covenant sign ROUND --field F` with a PKCS#12 file, on the launched round's data folder."""
    return run_covenant(
        "sign",
        launched["round_id"],
        "--field",
        field,
        "--p12",
        str(p12),
        "--passphrase-file",
        str(passphrase),
        "--document",
        document,
        env=launched["env"],
    )
