"""The warm converter: PDF/A out, restarts after LibreOffice dies or hangs, safe under concurrent calls."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pikepdf
import pytest

import workflow.libreoffice as convert
from tests.conftest import EXAMPLES
from workflow.documents import render_docx
from workflow.stages.check import load_round

pytestmark = pytest.mark.live
MODEL = load_round(EXAMPLES / "cum-4-2024.yaml")


@pytest.fixture(scope="module")
def docx() -> bytes:
    return render_docx(MODEL, "minutes")


@pytest.fixture
def warm() -> convert.WarmConverter:
    c = convert.WarmConverter()
    yield c
    c.stop()


def _is_pdfa(pdf: bytes) -> bool:
    import io

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        blocks = [k for k in doc.Root.Dests.keys() if str(k).startswith("/covsig")]
        return doc.open_metadata().get("pdfaid:part") == "2" and len(blocks) == 4  # 2 blocks x 2 anchors


def test_converts_to_pdfa_with_anchors(warm: convert.WarmConverter, docx: bytes) -> None:
    assert _is_pdfa(warm.convert(docx))


def test_restarts_after_libreoffice_dies(warm: convert.WarmConverter, docx: bytes) -> None:
    warm.convert(docx)
    first = warm.soffice_pid
    assert first
    os.kill(first, signal.SIGKILL)
    assert _is_pdfa(warm.convert(docx))
    assert warm.soffice_pid and warm.soffice_pid != first


def test_restarts_after_libreoffice_hangs(
    warm: convert.WarmConverter, docx: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    warm.convert(docx)
    hung = warm.soffice_pid
    assert hung
    monkeypatch.setattr(convert, "CONVERT_TIMEOUT", 3.0)
    os.kill(hung, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert _is_pdfa(warm.convert(docx))
        assert time.monotonic() - started < 60
    finally:
        try:
            os.kill(hung, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert warm.soffice_pid != hung


def test_concurrent_calls(warm: convert.WarmConverter, docx: bytes) -> None:
    results: list[bytes] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(warm.convert(docx))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert len(results) == 6 and all(_is_pdfa(r) for r in results)


def test_a_document_libreoffice_cannot_read(warm: convert.WarmConverter) -> None:
    with pytest.raises(convert.ConversionError):
        warm.convert(b"PK\x03\x04 this is no docx")


def test_stop_leaves_no_process(docx: bytes) -> None:
    c = convert.WarmConverter()
    c.convert(docx)
    pid = c.soffice_pid
    c.stop()
    time.sleep(0.5)
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_failed_conversion_leaves_the_round_resumable(tmp_path: Path) -> None:
    """LibreOffice unusable at launch: a clear error, the round kept in `generating`, then resumed to `open`."""
    import json

    from tests.conftest import run_covenant

    env = {"COVENANT_DATA_DIR": str(tmp_path)}
    assert run_covenant("pki", "demo", str(tmp_path / "pki"), env=env).returncode == 0
    broken = run_covenant(
        "round", "launch", str(EXAMPLES / "cum-4-2024.yaml"), env={**env, "COVENANT_UNO_PYTHON": "/bin/false"}
    )
    assert broken.returncode == 1, broken.stderr
    assert "could not be converted" in broken.stderr and "Traceback" not in broken.stderr
    round_id = re.search(r"round (\S+) was stored", broken.stderr).group(1)  # type: ignore[union-attr]
    status = json.loads(run_covenant("round", "status", round_id, "--json", env=env).stdout)
    assert status["status"] == "generating"
    resumed = run_covenant("round", "resume", round_id, "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "open"
    again = run_covenant("round", "resume", round_id, env=env)
    assert again.returncode == 3  # nothing left to resume


def test_missing_document_font_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import workflow.documents as documents

    monkeypatch.setattr(documents, "DOCUMENT_FONT", Path("/nonexistent/LiberationSerif-Regular.ttf"))
    documents._printable.cache_clear()
    try:
        with pytest.raises(documents.DocumentError, match="fonts-liberation2"):
            documents.unprintable("Phú Thọ")
    finally:
        documents._printable.cache_clear()


def test_libreoffice_goes_when_its_process_is_killed(tmp_path: Path) -> None:
    """kill -9 of a process that holds a warm converter (a worker, say) leaves no LibreOffice behind."""
    import subprocess
    import sys

    from tests.conftest import REPO

    script = (
        "import os, sys, time\n"
        "from workflow.libreoffice import converter\n"
        "from workflow.documents import render_docx\n"
        "from workflow.stages.check import load_round\n"
        "from pathlib import Path\n"
        "c = converter(); c.convert(render_docx(load_round(Path('examples/cum-4-2024.yaml')), 'minutes'))\n"
        "print(c.soffice_pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    soffice = int(proc.stdout.readline())  # type: ignore[union-attr]
    assert Path(f"/proc/{soffice}").exists()
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    while Path(f"/proc/{soffice}").exists() and time.monotonic() < deadline:
        if "zombie" in Path(f"/proc/{soffice}/status").read_text().lower():
            break
        time.sleep(0.5)
    alive = Path(f"/proc/{soffice}").exists() and "zombie" not in Path(f"/proc/{soffice}/status").read_text().lower()
    assert not alive, "LibreOffice outlived the process that started it"
