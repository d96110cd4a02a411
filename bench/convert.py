"""DOCX → PDF/A: a cold `soffice --convert-to` process per document against the warm converter, same files, one run.

    .venv/bin/python bench/convert.py [--repeat 5] [--json bench/convert.json]

Rows: the Cụm 4 covenant (3 pages) and minutes (2 pages), cold and warm (median of --repeat runs, the first cold
run that creates the profile not counted); both documents of a 60-unit round rendered (docxtpl) and converted;
the warm LibreOffice's start-up time and resident memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from workflow.documents import render_docx
from workflow.libreoffice import WarmConverter
from workflow.samples import synthetic_round
from workflow.stages.check import parse_round

PDFA = (
    'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"},'
    '"ExportBookmarksToPDFDestination":{"type":"boolean","value":"true"}}'
)

REPO_ROOT = Path(__file__).resolve().parent.parent  # the repository (examples, bench outputs)


def pages(pdf: bytes) -> int:
    import io

    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)


def cold(docx: bytes, profile: Path, work: Path) -> float:
    src = work / "document.docx"
    src.write_bytes(docx)
    started = time.perf_counter()
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            PDFA,
            "--outdir",
            str(work),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    assert (work / "document.pdf").read_bytes()[:5] == b"%PDF-"
    return elapsed


def rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=str(REPO_ROOT / "bench" / "convert.json"))
    args = parser.parse_args()
    model = parse_round((REPO_ROOT / "examples" / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    docs = {kind: render_docx(model, kind) for kind in ("covenant", "minutes")}
    results: dict[str, object] = {"repeat": args.repeat, "documents": {}}
    warm = WarmConverter()
    started = time.perf_counter()
    warm._start()
    results["warm_start_seconds"] = round(time.perf_counter() - started, 3)
    with tempfile.TemporaryDirectory(prefix="covenant-bench-") as tmp:
        profile, work = Path(tmp) / "profile", Path(tmp) / "work"
        work.mkdir()
        cold(docs["minutes"], profile, work)  # creates the profile: not counted
        for kind, docx in docs.items():
            n = pages(warm.convert(docx))
            cold_times = [cold(docx, profile, work) for _ in range(args.repeat)]
            warm_times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                warm.convert(docx)
                warm_times.append(time.perf_counter() - t0)
            c, w = statistics.median(cold_times), statistics.median(warm_times)
            results["documents"][kind] = {
                "pages": n,
                "cold_s": round(c, 3),
                "warm_s": round(w, 3),  # type: ignore[index]
                "speedup": round(c / w, 1),
            }
    big = parse_round(synthetic_round(60))
    t0 = time.perf_counter()
    rendered = {kind: render_docx(big, kind) for kind in ("covenant", "minutes")}
    t1 = time.perf_counter()
    big_pages = {kind: pages(warm.convert(docx)) for kind, docx in rendered.items()}
    t2 = time.perf_counter()
    results["round_60"] = {
        "render_s": round(t1 - t0, 3),
        "convert_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
        "pages": big_pages,
    }
    assert warm.soffice_pid
    rss, peak = rss_mib(warm.soffice_pid)
    results["soffice_rss_mib"], results["soffice_peak_mib"] = round(rss), round(peak)
    warm.stop()

    table = Table(title="DOCX → PDF/A-2b, cold soffice process vs warm converter (median)")
    for col in ("document", "pages", "cold s", "warm s", "speed-up"):
        table.add_column(col, justify="right")
    for kind, row in results["documents"].items():  # type: ignore[union-attr]
        table.add_row(kind, str(row["pages"]), f"{row['cold_s']:.3f}", f"{row['warm_s']:.3f}", f"{row['speedup']}×")
    r60 = results["round_60"]
    table.add_row(
        "60 units: both documents",
        f"{sum(r60['pages'].values())}",
        "",  # type: ignore[index]
        f"{r60['total_s']:.3f}",
        f"render {r60['render_s']:.3f} + convert {r60['convert_s']:.3f}",
    )  # type: ignore[index]
    console = Console()
    console.print(table)
    console.print(
        f"warm converter start-up {results['warm_start_seconds']} s; "
        f"soffice resident {results['soffice_rss_mib']} MiB (peak {results['soffice_peak_mib']} MiB)"
    )
    Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
