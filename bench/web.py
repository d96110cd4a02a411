"""Latency of the leader's page and of an upload under 20 concurrent clients on loopback; one run.

    .venv/bin/python bench/web.py [--clients 20] [--requests 10] [--json bench/web.json]

A round is launched (demo PKI, embedded mode, no broker) and `covenant serve` started. Then `--clients` clients
(httpx, asyncio) each make `--requests` requests at once:
  page    GET /l/TOKEN (each client its own leader's link: the page, who has signed, the agent command)
  upload  POST /api/links/TOKEN/upload of a PDF fully validated and refused at the end (signed in the right field
          by another leader's certificate): the whole validation runs, and the document stays as it is, so every
          upload meets the same document.
Reported: p50, p95 and max in milliseconds, and requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CLI, REPO, launch_synthetic, percentile  # noqa: E402  (after the path)


async def load(targets: list[tuple[str, bytes | None]], requests: int) -> tuple[list[float], list[int], float]:
    """Each target (url, upload or None for a GET) is one client making `requests` requests in a row."""
    times: list[float] = []
    codes: list[int] = []

    async def one_client(url: str, body: bytes | None) -> None:
        async with httpx.AsyncClient(timeout=300) as client:
            for _ in range(requests):
                t0 = time.perf_counter()
                if body is None:
                    r = await client.get(url)
                else:
                    r = await client.post(url, files={"file": ("signed.pdf", body, "application/pdf")})
                times.append(1000 * (time.perf_counter() - t0))
                codes.append(r.status_code)

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client(url, body) for url, body in targets))
    return times, codes, time.perf_counter() - t0


def wait_for(base: str) -> None:
    for _ in range(150):
        try:
            httpx.get(f"{base}/openapi.json", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("covenant serve did not start")


def wrong_signatures(base: str, data: Path, covenant: list[dict[str, str]]) -> list[bytes]:
    """For each client: another leader's signature in its own leader's field (validated in full, then refused)."""
    from signing.ltv import demo_timestamper
    from signing.signers import load_pkcs12, sign_field
    from signing.validation import load_roots

    index = json.loads((data / "pki" / "index.json").read_text(encoding="utf-8"))
    by_name = {p["name"]: p for p in index["people"].values()}
    pki = data / "pki"
    from signing.pki import demo_roots

    stamp = demo_timestamper(pki, load_roots(demo_roots(pki)))
    current = httpx.get(f"{base}/api/links/{covenant[0]['url'].rsplit('/', 1)[1]}/pdf").content
    bodies = []
    for i, link in enumerate(covenant):
        other = by_name[covenant[(i + 1) % len(covenant)]["signer_name"]]
        signer = load_pkcs12(pki / other["p12"], pki / other["passphrase_file"])
        bodies.append(
            sign_field(
                current,
                link["field"],
                signer,
                signer_name=other["name"],
                title="Viện trưởng",
                unit=link["unit_name"],
                timestamper=stamp,
            )
        )
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="`covenant serve --workers`")
    parser.add_argument("--json", default=str(REPO / "bench" / "web.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="covenant-bench-web-") as tmp:
        port = 18000 + os.getpid() % 1000
        base = f"http://127.0.0.1:{port}"
        env, _round_id, links = launch_synthetic(Path(tmp), args.clients, {"COVENANT_BASE_URL": base})
        data = Path(env["COVENANT_DATA_DIR"])
        covenant = [link for link in links if link["document"] == "covenant"][: args.clients]
        rows: list[dict[str, object]] = []
        bodies: list[bytes] = []
        for workers in args.workers:
            server = subprocess.Popen(
                [*CLI, "serve", "--port", str(port), "--workers", str(workers)], env=env, cwd=REPO
            )
            try:
                wait_for(base)
                pages = [link["url"] for link in covenant]
                bodies = bodies or wrong_signatures(base, data, covenant)
                uploads = [
                    (f"{base}/api/links/{link['url'].rsplit('/', 1)[1]}/upload", body)
                    for link, body in zip(covenant, bodies, strict=True)
                ]
                asyncio.run(load([(url, None) for url in pages], 1))  # warm: page images, each process
                for name, targets in [
                    ("leader page", [(url, None) for url in pages]),
                    ("upload (full validation)", uploads),
                ]:
                    times, codes, wall = asyncio.run(load(targets, args.requests))
                    rows.append(
                        {
                            "what": name,
                            "serve_workers": workers,
                            "clients": args.clients,
                            "requests": len(times),
                            "p50_ms": round(statistics.median(times), 1),
                            "p95_ms": round(percentile(times, 0.95), 1),
                            "max_ms": round(max(times), 1),
                            "per_second": round(len(times) / wall, 1),
                            "status_codes": sorted(set(codes)),
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                server.terminate()
                server.wait(timeout=30)
    Path(args.json).write_text(json.dumps(rows, indent=2))
    table = Table(title=f"{args.clients} concurrent clients on loopback (one run)")
    columns = ["what", "serve_workers", "requests", "p50_ms", "p95_ms", "max_ms", "per_second", "status_codes"]
    for col in columns:
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*(str(r[c]) for c in columns))
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
