"""From opening the link page to the receipt, for the two ways a leader signs without a terminal; one run.

    .venv/bin/python bench/leader_paths.py [--leaders 10] [--json bench/leader_paths.json]

A round of 2 × `--leaders` units is launched (demo PKI, embedded mode) and `covenant serve` started with our
SmartCA-shaped service (tests/phone_services.py, approval after 0 s: the leader's own delay is excluded). Then, one
leader after another (each signature changes the document the next one signs):
  token   GET the link page → POST …/handoff → the VGCA protocol on `covenant agent`'s WebSocket (Origin: the site) →
          the agent's confirmation page is read and confirmed with the PIN (what the leader clicks) → the agent
          downloads, signs on the SoftHSM2 token, uploads → GET the link until its receipt. The agent is started
          before the clock (a leader's agent runs all day).
  remote  GET the link page → POST …/remote (certificate fetched and checked, revision prepared, hash sent) →
          GET …/remote until signed (embedded, timestamped, accepted) → the receipt.
Reported: p50, p95 and max in milliseconds per path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CLI, REPO, launch_synthetic, percentile  # noqa: E402  (after the path)

PIN = "1357-2468"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, method: str = "GET") -> None:
    for _ in range(200):
        try:
            httpx.request(method, url, timeout=1, json={} if method == "POST" else None)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def receipt(base: str, token: str) -> None:
    while httpx.get(f"{base}/api/links/{token}", timeout=30).json().get("receipt") is None:
        time.sleep(0.05)


async def token_path(base: str, token: str, agent_port: int, log: Path) -> None:
    httpx.get(f"{base}/l/{token}", timeout=30).raise_for_status()
    handoff = httpx.post(f"{base}/api/links/{token}/handoff", timeout=30).json()
    meta = {k: handoff[k] for k in ("document", "field", "file_name", "signer_name", "signer_title", "unit_name")}
    meta["tsa_url"] = handoff["tsa_url"] or ""
    message = {
        "FileName": handoff["download_url"],
        "FileUploadHandler": handoff["upload_url"],
        "SessionId": "",
        "JWTToken": "",
        "MetaData": [{"Key": k, "Value": v} for k, v in meta.items()],
    }
    seen = len(re.findall("confirm: ", log.read_text()))
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"wss://127.0.0.1:{agent_port}/SignApproved", headers={"Origin": base}, ssl=False
        ) as socket:
            await socket.send_str(json.dumps(message))
            while len(found := re.findall(r"confirm: (\S+)", log.read_text())) <= seen:
                await asyncio.sleep(0.02)
            url = found[-1]
            async with http.get(url, ssl=False) as page:
                nonce = re.search(r"name='nonce' value='([^']+)'", await page.text())
            assert nonce, "no confirmation form"
            form = {"nonce": nonce.group(1), "pin": PIN, "choice": "sign"}
            async with http.post(url, data=form, headers={"Origin": f"https://127.0.0.1:{agent_port}"}, ssl=False):
                pass
            answer = json.loads((await socket.receive()).data)
    assert answer.get("Status") == 0, answer
    receipt(base, token)


def remote_path(base: str, token: str, user: str) -> None:
    httpx.get(f"{base}/l/{token}", timeout=30).raise_for_status()
    started = httpx.post(f"{base}/api/links/{token}/remote", json={"provider": "smartca", "user_id": user}, timeout=60)
    assert started.status_code == 200, started.text
    while (state := httpx.get(f"{base}/api/links/{token}/remote", timeout=60)).json().get("state") == "waiting":
        time.sleep(0.05)
    assert state.status_code == 200 and state.json()["state"] == "signed", state.text
    receipt(base, token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaders", type=int, default=10)
    parser.add_argument("--json", default=str(REPO / "bench" / "leader_paths.json"))
    args = parser.parse_args()
    from signing.softhsm import DEFAULT_MODULE, provision_token, softhsm_config
    from tests.phone_services import SP

    with tempfile.TemporaryDirectory(prefix="covenant-bench-leaders-") as tmp:
        folder = Path(tmp)
        data = folder / "data"
        port, services_port, agent_port = free_port(), free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        settings = {"COVENANT_BASE_URL": base, "COVENANT_SIGNING_SERVICE": f"wss://127.0.0.1:{agent_port}"}
        env, round_id, links = launch_synthetic(folder, 2 * args.leaders, settings)
        index = json.loads((data / "pki" / "index.json").read_text(encoding="utf-8"))
        by_name = {p["name"]: (key, p) for key, p in index["people"].items()}
        covenant = [link for link in links if link["document"] == "covenant"]
        token_leaders, remote_leaders = covenant[: args.leaders], covenant[args.leaders : 2 * args.leaders]
        conf = softhsm_config(folder / "softhsm")
        users = {}
        for i, link in enumerate(covenant[: 2 * args.leaders]):
            _key, person = by_name[link["signer_name"]]
            pki = data / "pki"
            provision_token(conf, f"t{i}", PIN, pki / person["p12"], pki / person["passphrase_file"], key_label="k")
            users[f"user-{i}"] = {"token": f"t{i}", "pin": PIN, "key": "k", "delay": 0, "outcome": "approve"}
        (folder / "users.json").write_text(json.dumps(users), encoding="utf-8")
        hsm_env = {**env, "SOFTHSM2_CONF": str(conf)}
        services = subprocess.Popen(
            [
                *CLI[:1],
                "-m",
                "tests.phone_services",
                "--port",
                str(services_port),
                "--users",
                str(folder / "users.json"),
            ],
            env=hsm_env,
            cwd=REPO,
        )
        env.update(
            COVENANT_SMARTCA_URL=f"http://127.0.0.1:{services_port}/sca/sp769",
            COVENANT_SMARTCA_SP_ID=SP["sp_id"],
            COVENANT_SMARTCA_SP_PASSWORD=SP["sp_password"],
        )
        server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=REPO)
        rows: list[dict[str, object]] = []
        try:
            wait_http(f"{base}/openapi.json")
            wait_http(f"http://127.0.0.1:{services_port}/sca/sp769/v1/credentials/get_certificate", "POST")
            home = folder / "agent"
            subprocess.run(
                [*CLI, "agent", "pair", base, "--home", str(home)], check=True, capture_output=True, cwd=REPO
            )
            times: dict[str, list[float]] = {"token (covenant agent, SoftHSM2)": [], "remote (SmartCA-shaped)": []}
            for i, link in enumerate(token_leaders):
                log = folder / f"agent-{i}.log"
                agent = subprocess.Popen(
                    [
                        *CLI,
                        "agent",
                        "--home",
                        str(home),
                        "--port",
                        str(agent_port),
                        "--pkcs11-lib",
                        DEFAULT_MODULE,
                        "--token-label",
                        f"t{i}",
                        "--key-label",
                        "k",
                        "--no-browser",
                    ],
                    env=hsm_env,
                    cwd=REPO,
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                )
                try:
                    while "covenant agent on" not in log.read_text():
                        time.sleep(0.05)
                    t0 = time.perf_counter()
                    asyncio.run(token_path(base, link["url"].rsplit("/", 1)[1], agent_port, log))
                    times["token (covenant agent, SoftHSM2)"].append(1000 * (time.perf_counter() - t0))
                finally:
                    agent.terminate()
                    agent.wait(timeout=30)
            for i, link in enumerate(remote_leaders, start=args.leaders):
                t0 = time.perf_counter()
                remote_path(base, link["url"].rsplit("/", 1)[1], f"user-{i}")
                times["remote (SmartCA-shaped)"].append(1000 * (time.perf_counter() - t0))
            for path, values in times.items():
                rows.append(
                    {
                        "path": path,
                        "leaders": len(values),
                        "p50_ms": round(statistics.median(values), 1),
                        "p95_ms": round(percentile(values, 0.95), 1),
                        "max_ms": round(max(values), 1),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
        finally:
            server.terminate()
            services.terminate()
            server.wait(timeout=30)
            services.wait(timeout=30)
    Path(args.json).write_text(json.dumps(rows, indent=2))
    table = Table(title=f"link page → receipt, {args.leaders} leaders per path, one after another (one run)")
    for col in ("path", "leaders", "p50_ms", "p95_ms", "max_ms"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("path", "leaders", "p50_ms", "p95_ms", "max_ms")))
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
