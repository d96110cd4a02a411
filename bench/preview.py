"""Preview latency of the round editor: from saving a draft to its first page image, against `covenant render` of
the same round file, in one run.

    .venv/bin/python bench/preview.py [--units 6 12 30] [--repeat 5] [--json bench/preview.json]

For each size, a synthetic round (workflow/samples.py) is a draft of the secretariat's API (in this process, the
warm LibreOffice already started by a first preview that is not counted); each timed run saves a changed draft
(`PUT /api/drafts/{id}`: the conference place, so nothing is cached) and asks for the covenant's page 1
(`GET …/preview/covenant/1.png`). Beside it, `covenant render ROUND --out DIR` (a process: a cold LibreOffice,
both documents, all pages), p50 of the same number of runs. Goal (issue 17): under 1.5 s for 12 units, warm.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CLI, REPO  # noqa: E402  (after the path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, nargs="+", default=[6, 12, 30])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=str(REPO / "bench" / "preview.json"))
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from signing.patches import install
    from tests import factories
    from workflow.drafts import draft_from_yaml
    from workflow.samples import synthetic_round
    from workflow.webapp import create_app

    install()
    rows = []
    with tempfile.TemporaryDirectory(prefix="covenant-bench-preview-") as tmp:
        folder = Path(tmp)
        ctx = factories.data_folder(folder / "data")
        with TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
            csrf = {"x-csrf-token": factories.login(web, ctx, "vanphong", "secretariat")}
            for units in args.units:
                text = synthetic_round(units)
                round_file = folder / f"round-{units}.yaml"
                round_file.write_text(text, encoding="utf-8")
                data = draft_from_yaml(text)
                draft = web.post("/api/drafts", json=data, headers=csrf).json()
                assert draft["problems"] == [], draft["problems"]
                warm_up = web.get(f"/api/drafts/{draft['id']}/preview/covenant/1.png")  # starts LibreOffice
                assert warm_up.status_code == 200, warm_up.text
                preview = []
                for run in range(args.repeat):
                    data["conference"]["place"] = f"Hội trường số {units}-{run}"
                    started = time.perf_counter()
                    saved = web.put(f"/api/drafts/{draft['id']}", json=data, headers=csrf)
                    image = web.get(f"/api/drafts/{draft['id']}/preview/covenant/1.png")
                    preview.append(time.perf_counter() - started)
                    assert saved.status_code == 200 and image.status_code == 200, image.text
                render = []
                for run in range(args.repeat):
                    started = time.perf_counter()
                    subprocess.run(
                        [*CLI, "render", str(round_file), "--out", str(folder / f"render-{units}-{run}")],
                        check=True,
                        capture_output=True,
                        cwd=REPO,
                    )
                    render.append(time.perf_counter() - started)
                rows.append(
                    {
                        "units": units,
                        "preview_p50_s": round(statistics.median(preview), 3),
                        "preview_max_s": round(max(preview), 3),
                        "render_cli_p50_s": round(statistics.median(render), 3),
                        "runs": args.repeat,
                    }
                )
    table = Table(title="draft saved → first page image (warm) vs covenant render (a process, both documents)")
    for column in ("units", "preview p50 (s)", "preview max (s)", "covenant render p50 (s)"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            str(row["units"]), str(row["preview_p50_s"]), str(row["preview_max_s"]), str(row["render_cli_p50_s"])
        )
    Console().print(table)
    Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
