"""A round on a PKI served like a real CA: certomancer on 127.0.0.1 with a root, an intermediate, an OCSP
responder, CRLs and a TSA. Revocation is fetched over HTTP at every signature; finalisation stores the OCSP
responses and CRLs in the DSS; the package then verifies with the PKI switched off, today and 15 years ahead."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import COVENANT, EXAMPLES, REPO, copy_example_files, free_port, run_covenant
from workflow.demo import slot_key

pytestmark = pytest.mark.live
REVOKED = "bac-giang--nguyen-truong-tho"


@pytest.fixture(scope="module")
def online(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    data = tmp_path_factory.mktemp("online")
    env = {"COVENANT_DATA_DIR": str(data)}
    port = free_port()
    pki = data / "pki"
    made = run_covenant(
        "pki",
        "online",
        str(pki),
        "--round",
        str(EXAMPLES / "cum-4-2024.yaml"),
        "--port",
        str(port),
        "--revoked",
        REVOKED,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    index = json.loads((pki / "index.json").read_text(encoding="utf-8"))
    log = (data / "pki-server.log").open("w")
    server = subprocess.Popen([*COVENANT, "pki", "serve", str(pki)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{index['url']}/covenant/crls/root/latest.crl", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    round_file = data / "round.yaml"
    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    spec["signing"]["trust"] = {"roots": ["pki/root.pem"], "tsa": index["tsa_url"]}  # inside the file's folder
    round_file.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    copy_example_files(data)
    launched = run_covenant("round", "launch", str(round_file), "--json", env=env)
    assert launched.returncode == 0, launched.stderr
    assert "warning" not in launched.stderr, launched.stderr  # its OCSP responder and CRLs answer
    yield {
        "data": data,
        "env": env,
        "index": index,
        "round_id": json.loads(launched.stdout)["round_id"],
        "server": server,
        "log": data / "pki-server.log",
    }
    server.terminate()
    server.wait(timeout=10)


def _p12(online: dict, key: str) -> list[str]:
    entry = online["index"]["people"][key]
    pki = online["data"] / "pki"
    return ["--p12", str(pki / entry["p12"]), "--passphrase-file", str(pki / entry["passphrase_file"])]


def test_revoked_certificate_is_refused_through_ocsp(online: dict) -> None:
    proc = run_covenant(
        "sign", online["round_id"], "--field", "unit-bac-giang", *_p12(online, f"{REVOKED}--revoked"), env=online["env"]
    )
    assert proc.returncode == 2, proc.stderr
    assert "revoked" in proc.stderr.lower() and "Traceback" not in proc.stderr
    assert "POST /covenant/ocsp/interm" in online["log"].read_text()  # asked the CA's OCSP responder


def test_round_on_a_real_pki_verifies_offline_for_decades(online: dict, tmp_path: Path) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    status = json.loads(run_covenant("round", "status", online["round_id"], "--json", env=online["env"]).stdout)
    for doc in status["documents"]:
        for slot in doc["slots"]:
            key = slot_key(slot["unit"], slot["signer"], slot["role"])  # a clerk signs with the unit's certificate
            proc = run_covenant(
                "sign",
                online["round_id"],
                "--field",
                slot["field"],
                "--document",
                doc["name"],
                *_p12(online, key),
                env=online["env"],
            )
            assert proc.returncode == 0, proc.stderr
    status = json.loads(run_covenant("round", "status", online["round_id"], "--json", env=online["env"]).stdout)
    assert status["status"] == "archived", status  # the last signature sent the round on to the archive
    zip_path = Path(status["archive"] + ".zip")

    online["server"].terminate()  # the CA goes away: what follows uses only the package
    online["server"].wait(timeout=10)
    bag = zip_path.with_suffix("")
    for pdf in (bag / "data" / "signed").glob("*.pdf"):
        store = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf.read_bytes()), strict=False))
        assert len(store.ocsps) >= 1 and len(store.crls) >= 1, pdf.name  # fetched at finalisation, kept
    today = run_covenant("archive", "verify", str(zip_path), "--json", env=online["env"])
    assert today.returncode == 0, today.stdout + today.stderr
    report = json.loads(today.stdout)
    assert all(s["revocation_checked"] for d in report["documents"] for s in d["signatures"])
    later = subprocess.run(
        ["faketime", "-f", "+15y", *COVENANT, "archive", "verify", str(zip_path), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **online["env"]},
    )
    assert later.returncode == 0, later.stdout + later.stderr
    assert {d["level"] for d in json.loads(later.stdout)["documents"]} == {"PAdES-B-LTA"}


def test_round_check_names_the_revocation_services_it_cannot_reach(online: dict, tmp_path: Path) -> None:
    """A round on a real PKI fetches revocation status for every signature: `round check` (and `round launch`)
    try the services its CA's certificates name. The served PKI answers; the demo PKI's certificates name a CRL
    on a host that does not exist, so naming the demo root as a real PKI's is said at once, with the cure."""
    good = run_covenant("round", "check", str(online["data"] / "round.yaml"), env=online["env"])
    assert good.returncode == 0 and "warning" not in good.stderr, good.stderr
    demo = tmp_path / "demo"
    made = run_covenant("pki", "demo", str(demo / "pki"), "--round", str(EXAMPLES / "cum-4-2024.yaml"))
    assert made.returncode == 0, made.stderr
    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    spec["signing"]["trust"] = {"roots": ["pki/root.pem"]}
    round_file = demo / "round.yaml"
    round_file.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    copy_example_files(demo)
    warned = run_covenant("round", "check", str(round_file), env={"COVENANT_DATA_DIR": str(demo)})
    assert warned.returncode == 0, warned.stderr  # a warning: the file itself is right
    assert "warning: signing.trust" in warned.stderr and "http://pki.covenant.invalid/root.crl" in warned.stderr
    assert "missing revocation information" in warned.stderr and "trust: demo" in warned.stderr
