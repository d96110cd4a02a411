"""`covenant demo --round FILE` carries any valid round file: here the six-unit Cụm 11 round of 2020."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, run_covenant

pytestmark = pytest.mark.live


def test_demo_cum_11(tmp_path: Path) -> None:
    proc = run_covenant(
        "demo",
        "--out",
        str(tmp_path),
        "--round",
        str(EXAMPLES / "cum-11-2020.yaml"),
        "--json",
        env={"COVENANT_DATA_DIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "archived"
    assert {d["name"]: (d["signatures"], d["valid"]) for d in summary["documents"]} == {
        # the certification, 6 leaders, 6 seals (every unit has a clerk) and the issuing signature; the minutes:
        # the certification, chair, secretary and the issuing signature
        "ban-giao-uoc-thi-dua.pdf": (14, True),
        "bien-ban-hoi-nghi.pdf": (4, True),
    }
    bag = Path(summary["archive"]).with_suffix("")
    assert bag.name.startswith("covenant-cum-thi-dua-so-11-2020-")
    pdf = bag / "data" / "signed" / "ban-giao-uoc-thi-dua.pdf"
    out = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True).stdout
    assert out.count("Signature is Valid.") == 14
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.split())
    assert "Kiên Giang, ngày 10 tháng 02 năm 2020" in text  # leading zero for February (Decree 30)
