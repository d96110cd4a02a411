"""Wall time of `covenant demo`, first and second run in one data folder, with the time of each stage.

    .venv/bin/python bench/demo.py [--runs 2] [--round examples/cum-4-2024.yaml] [--json bench/demo.json]

The first run pays for the demo PKI and a cold font cache; both pay for starting LibreOffice (one per process).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--round", default=str(REPO / "examples" / "cum-4-2024.yaml"))
    parser.add_argument("--json", default=str(REPO / "bench" / "demo.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="covenant-bench-") as out:
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "workflow.cli", "demo", "--out", out, "--round", args.round, "--json"],
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - started
            if proc.returncode != 0:
                sys.exit(f"demo run {run} failed:\n{proc.stderr}")
            summary = json.loads(proc.stdout)
            stages = json.loads((Path(out) / "last-demo-stages.json").read_text())
            rows.append(
                {
                    "run": run,
                    "wall_seconds": round(wall, 2),
                    "in_process_seconds": summary["seconds"],
                    "stages": stages,
                    "signatures": sum(d["signatures"] for d in summary["documents"]),
                }
            )
    table = Table(title=f"covenant demo — {Path(args.round).name}")
    for col in ("run", "wall s", "in-process s", *rows[0]["stages"].keys(), "signatures"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["run"]),
            f"{r['wall_seconds']:.2f}",
            f"{r['in_process_seconds']:.2f}",
            *(f"{v:.2f}" for v in r["stages"].values()),
            str(r["signatures"]),
        )
    Console().print(table)
    Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
