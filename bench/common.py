"""What the benchmarks share: a synthetic round launched with its demo PKI in a fresh data folder, and its links."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "workflow.cli"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def launch_synthetic(
    folder: Path, units: int, settings: dict[str, str] | None = None
) -> tuple[dict[str, str], str, list[dict[str, str]]]:
    """A round of `units` units (workflow.samples) launched on the embedded default in `folder`/data, with the
    demo PKI and `settings` (COVENANT_… variables, e.g. the base URL the links are made with): the environment to
    run covenant in, the round id, and every slot's link (`round links --json`)."""
    from workflow.samples import synthetic_round

    data = folder / "data"
    env = {**os.environ, **(settings or {}), "COVENANT_DATA_DIR": str(data)}
    env.pop("COVENANT_BROKER_URL", None)
    round_file = folder / "round.yaml"
    round_file.write_text(synthetic_round(units), encoding="utf-8")

    def covenant(*args: str) -> str:
        return subprocess.run([*CLI, *args], env=env, check=True, capture_output=True, text=True, cwd=REPO).stdout

    covenant("pki", "demo", str(data / "pki"), "--round", str(round_file))
    round_id = json.loads(covenant("round", "launch", str(round_file), "--json"))["round_id"]
    links = json.loads(covenant("round", "links", round_id, "--json"))
    return env, round_id, links
