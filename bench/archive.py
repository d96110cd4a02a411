"""Build and verify archived packages for rounds of 6, 12, 30 and 60 units, one run.

    .venv/bin/python bench/archive.py [--sizes 6 12 30 60] [--json bench/archive.json]

For each size a whole round runs in-process (synthetic units, demo PKI, PAdES B-LTA). Reported: time to build
the package (finalisation: DSS + document timestamp, validation report, bag, zip, cover sheet), time of
`archive verify` (manifests, every signature with the ETSI long-term validation, the audit chain), and, on the
same PDFs in the same run, pyHanko's own plain validation (`validate_pdf_signature` with its default difference
analysis and its own parser) as the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parent.parent  # the repository (examples, bench outputs)


def run_size(units: int, work: Path) -> dict[str, object]:
    os.environ["COVENANT_DATA_DIR"] = str(work / "data")
    from workflow.config import get_settings, reset_settings

    reset_settings()
    from signing.validation import load_roots, validate_signatures
    from workflow.context import Ctx
    from workflow.demo import run_demo
    from workflow.package import package_roots
    from workflow.samples import synthetic_round
    from workflow.stages.check import parse_round
    from workflow.stages.verify import verify_package

    text = synthetic_round(units)
    result = run_demo(Ctx(get_settings()), text, parse_round(text), work, lambda _m: None)
    zip_path = Path(result.archive)
    t0 = time.perf_counter()
    verification = verify_package(zip_path)
    verify_s = time.perf_counter() - t0
    assert verification.ok, verification.problems
    bag = zip_path.with_suffix("")
    roots = load_roots(package_roots(bag / "data"))
    # The baseline is pyHanko as it comes: its own difference analysis (every later revision against every
    # signature), its own hex-string reader and asn1crypto's own name keys (signing.patches put aside).
    from signing import patches

    patches.uninstall()
    try:
        t0 = time.perf_counter()
        count = 0
        for pdf in (bag / "data" / "signed").glob("*.pdf"):
            count += len(validate_signatures(pdf.read_bytes(), roots, pairwise=True))
        baseline_s = time.perf_counter() - t0
    finally:
        patches.install()
    return {
        "units": units,
        "signatures": count,
        "sign_s": result.stages["sign"],
        "archive_s": result.stages["archive"],
        "verify_s": round(verify_s, 2),
        "verify_ms_per_sig": round(1000 * verify_s / count, 1),
        "pyhanko_ms_per_sig": round(1000 * baseline_s / count, 1),
        "zip_mib": round(zip_path.stat().st_size / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 12, 30, 60])
    parser.add_argument("--json", default=str(REPO_ROOT / "bench" / "archive.json"))
    args = parser.parse_args()
    rows = []
    for units in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"covenant-bench-{units}-") as tmp:
            rows.append(run_size(units, Path(tmp)))
        print(json.dumps(rows[-1]), flush=True)  # a long run shows each size as it ends
        Path(args.json).write_text(json.dumps(rows, indent=2))
    table = Table(title="archived packages: build and verify (one run)")
    columns = [
        "units",
        "signatures",
        "sign_s",
        "archive_s",
        "verify_s",
        "verify_ms_per_sig",
        "pyhanko_ms_per_sig",
        "zip_mib",
    ]
    for col in columns:
        table.add_column(col.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    Console(width=150).print(table)
    Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
