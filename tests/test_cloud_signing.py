"""Cloud signing through the CSC adapter: a CSC-compatible service of the tests' own on 127.0.0.1, backed by
SoftHSM2, that makes the agent wait for the leader's approval; the same personal-link flow as a key file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from signing.softhsm import provision_token, softhsm_config
from tests.conftest import REPO, free_port, launched_ctx, person, run_covenant, slot_state

pytestmark = pytest.mark.live
DELAY = 3.0


@pytest.fixture(scope="module")
def csc(launched: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("csc")
    conf = softhsm_config(folder)
    provision_token(conf, "csc-hsm", "1357", *person(launched, "vinh-phuc--dang-thanh-nhan"), key_label="nhan")
    port = free_port()
    oauth = "phien-dang-nhap-cua-lanh-dao"
    args = [
        "--port",
        str(port),
        "--token",
        "csc-hsm",
        "--pin",
        "1357",
        "--key-label",
        "nhan",
        "--credential",
        "vnpt-nhan-01",
        "--oauth",
        oauth,
        "--delay",
        str(DELAY),
    ]
    log = (folder / "csc.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.csc_service", *args],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(f"{url}/csc/v1/credentials/info", json={}, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    token_file = folder / "oauth"
    token_file.write_text(oauth)
    yield {"url": url, "token_file": token_file, "folder": folder}
    proc.terminate()
    proc.wait(timeout=10)


def test_cloud_signature_waits_for_approval(launched: dict, server: dict, csc: dict, tmp_path: Path) -> None:
    url = server["links"][("covenant", "unit-vinh-phuc")]
    started = time.monotonic()
    proc = run_covenant(
        "sign",
        "--link",
        url,
        "--csc-url",
        csc["url"],
        "--csc-credential",
        "vnpt-nhan-01",
        "--csc-token-file",
        str(csc["token_file"]),
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert took >= DELAY  # it waited for the leader's approval
    _, signed, _ = slot_state(launched_ctx(launched), launched["round_id"], "unit-vinh-phuc")
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    block = next(b for b in out.split("Signature #")[1:] if "Field Name: unit-vinh-phuc" in b)
    assert "Signature Validation: Signature is Valid." in block and "Common Name: Đặng Thanh Nhàn" in block


def test_cloud_service_refusal_is_named(launched: dict, server: dict, csc: dict, tmp_path: Path) -> None:
    wrong = tmp_path / "oauth"
    wrong.write_text("het-han")
    url = server["links"][("covenant", "unit-bac-giang")]
    proc = run_covenant(
        "sign",
        "--link",
        url,
        "--csc-url",
        csc["url"],
        "--csc-credential",
        "vnpt-nhan-01",
        "--csc-token-file",
        str(wrong),
    )
    assert proc.returncode == 2, proc.stderr
    assert "CSC service" in proc.stderr and "Traceback" not in proc.stderr
