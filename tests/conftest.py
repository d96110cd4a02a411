"""Shared fixtures. The tests drive the real `covenant` command, real LibreOffice, pyHanko, poppler and qpdf."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
COVENANT = [sys.executable, "-m", "workflow.cli"]
ARTIFACTS = REPO / "test-artifacts"


def run_covenant(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("COVENANT_BROKER_URL", None) if env is None or "COVENANT_BROKER_URL" not in env else None
    return subprocess.run([*COVENANT, *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)


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
