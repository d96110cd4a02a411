"""covenant installed as a user installs it: `pip install .` (not editable) into a fresh venv, then `covenant demo`
from a folder that is not the source tree. The DOCX templates, the examples, the web pages and the migrations
must come from the installed package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.live


def test_pip_install_then_demo_from_another_folder(tmp_path: Path) -> None:
    source = tmp_path / "source"  # the files git tracks, as a user's download has them (pip builds in the tree)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_symlink():
            target.symlink_to(os.readlink(REPO / name))
        elif (REPO / name).is_file():
            shutil.copy2(REPO / name, target)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import templates, workflow; print(templates.TEMPLATES_DIR, workflow.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert str(source) not in where and str(venv) in where, where  # the installed copy, not the source tree

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVENANT_") and k != "PYTHONPATH"}
    demo = subprocess.run(
        [str(venv / "bin" / "covenant"), "demo", "--out", str(elsewhere / "out")],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "archived" in demo.stdout and "package verified offline" in demo.stdout
    assert list((elsewhere / "out" / "archive").glob("*.zip"))
    pages = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from workflow.webapp import HERE; print(sorted(p.name for p in (HERE / 'templates').iterdir()))",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        check=True,
    ).stdout
    assert "round.html" in pages and "message.html" in pages
