"""Remote signing approved on the phone, driven by the server, against provider services of our own that speak the
published VNPT SmartCA and Viettel MySign shapes on SoftHSM2 tokens (tests/phone_services.py): a delayed approval
reaches the receipt in Chromium; a refusal, an expiry and another person's certificate each give their message and
leave the slot as it was; an approved MySign signature is valid for poppler too."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from signing.softhsm import provision_token, softhsm_config
from tests.conftest import ARTIFACTS, REPO, free_port, launched_ctx, pdfsig_verdicts, person, run_covenant, serving
from tests.phone_services import CLIENT, SP
from workflow.storage import DocumentRow, SignerAccountRow, SlotRow

pytestmark = pytest.mark.live
PIN = "1357-2468"
SHOTS = ARTIFACTS / "phone"
USERS = {  # provider user id → whose key, and what the leader does on the phone
    "079080000001": ("phu-tho--do-dinh-chu", 3, "approve"),
    "024080000002": ("bac-giang--nguyen-truong-tho", 1, "refuse"),
    "019080000003": ("thai-nguyen--phung-duc-tien", 1, "expire"),
    "017080000004": ("hoa-binh--ngo-bao-ngoc", 1, "approve"),
}


@pytest.fixture(scope="module")
def site(launched: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("phone")
    conf = softhsm_config(folder / "softhsm")
    users = {}
    for user, (key, delay, outcome) in USERS.items():
        label = f"t{user[-4:]}"
        provision_token(conf, label, PIN, *person(launched, key), key_label="leader")
        users[user] = {"token": label, "pin": PIN, "key": "leader", "delay": delay, "outcome": outcome}
    (folder / "users.json").write_text(json.dumps(users), encoding="utf-8")
    port = free_port()
    log = folder / "services.log"
    services = subprocess.Popen(
        [sys.executable, "-m", "tests.phone_services", "--port", str(port), "--users", str(folder / "users.json")],
        cwd=REPO,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.post(f"http://127.0.0.1:{port}/sca/sp769/v1/credentials/get_certificate", json={}, timeout=2)
            break
        except httpx.HTTPError:
            assert services.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
    env = {
        **launched["env"],
        "COVENANT_SMARTCA_URL": f"http://127.0.0.1:{port}/sca/sp769",
        "COVENANT_SMARTCA_SP_ID": SP["sp_id"],
        "COVENANT_SMARTCA_SP_PASSWORD": SP["sp_password"],
        "COVENANT_MYSIGN_URL": f"http://127.0.0.1:{port}/mysign",
        "COVENANT_MYSIGN_CLIENT_ID": CLIENT["client_id"],
        "COVENANT_MYSIGN_CLIENT_SECRET": CLIENT["client_secret"],
        "COVENANT_MYSIGN_PROFILE_ID": CLIENT["profile_id"],
    }
    try:
        with serving(env) as served:
            env = {k: v for k, v in served.items() if k != "base"}
            issued = run_covenant("round", "links", launched["round_id"], "--json", env=env)
            assert issued.returncode == 0, issued.stderr
            links = {(i["document"], i["field"]): i["url"] for i in json.loads(issued.stdout)}
            SHOTS.mkdir(parents=True, exist_ok=True)
            yield {**launched, "base": served["base"], "env": env, "links": links}
    finally:
        services.terminate()
        services.wait(timeout=10)


def _token(site: dict, field: str, document: str = "covenant") -> str:
    return site["links"][(document, field)].rsplit("/", 1)[1]


def _slot(site: dict, field: str, document: str = "covenant") -> tuple[str, int]:
    with launched_ctx(site).session() as s:
        slot = (
            s.query(SlotRow)
            .join(DocumentRow)
            .filter(DocumentRow.round_id == site["round_id"], DocumentRow.kind == document, SlotRow.field_name == field)
            .one()
        )
        return slot.status, slot.document.revisions


def _until_done(site: dict, token: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(f"{site['base']}/api/links/{token}/remote", timeout=30)
        if answer.status_code != 200 or answer.json()["state"] != "waiting":
            return answer
        assert answer.json()["seconds_left"] > 0
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.5)


def test_a_leader_approves_on_the_phone_and_the_page_shows_the_receipt(site: dict, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="vi-VN")
    page = context.new_page()
    page.goto(site["links"][("covenant", "unit-phu-tho")])
    page.select_option("#phone-provider", "smartca")
    page.fill("#phone-user", "079080000001")
    page.get_by_role("button", name="Ký số từ xa").click()
    expect(page.locator("#phone-status")).to_have_text(re.compile("VNPT SmartCA trên điện thoại.*Còn \\d+ giây"))
    page.screenshot(path=str(SHOTS / "waiting.png"), full_page=True)
    page.wait_for_selector("#receipt, #phone-status.error", timeout=60_000)
    assert page.locator("#receipt").count() == 1, page.locator("#phone-status").inner_text()
    assert "Đỗ Đình Chữ" in page.locator("#receipt").inner_text()
    assert _slot(site, "unit-phu-tho")[0] == "signed"
    with launched_ctx(site).session() as s:
        kept = s.query(SignerAccountRow).filter_by(unit_id="phu-tho", provider="smartca").one()
        assert kept.user_id == "079080000001" and kept.signer_name == "Đỗ Đình Chữ"
    # the same leader's next slot (the minutes, as chair): the user id is there already
    page.goto(site["links"][("minutes", "chair-phu-tho")])
    assert page.input_value("#phone-user") == "079080000001"
    context.close()


def test_a_refusal_on_the_phone_leaves_the_slot_as_it_was(site: dict) -> None:
    token = _token(site, "unit-bac-giang")
    before = _slot(site, "unit-bac-giang")
    started = httpx.post(
        f"{site['base']}/api/links/{token}/remote", json={"provider": "mysign", "user_id": "024080000002"}, timeout=30
    )
    assert started.status_code == 200 and started.json()["state"] == "waiting", started.text
    refused = _until_done(site, token)
    assert refused.status_code == 422 and refused.json()["error"] == "remote.refused", refused.text
    assert "từ chối" in refused.json()["message"]
    assert _slot(site, "unit-bac-giang") == before
    again = httpx.get(f"{site['base']}/api/links/{token}/remote", timeout=30)
    assert again.status_code == 409 and again.json()["error"] == "remote.none"  # nothing left waiting


def test_an_expired_request_says_so_and_changes_nothing(site: dict) -> None:
    token = _token(site, "unit-thai-nguyen")
    before = _slot(site, "unit-thai-nguyen")
    started = httpx.post(
        f"{site['base']}/api/links/{token}/remote", json={"provider": "smartca", "user_id": "019080000003"}, timeout=30
    )
    assert started.status_code == 200, started.text
    expired = _until_done(site, token)
    assert expired.status_code == 410 and expired.json()["error"] == "remote.timeout", expired.text
    assert "hết thời gian" in expired.json()["message"]
    assert _slot(site, "unit-thai-nguyen") == before


def test_another_persons_certificate_is_refused_before_anything_is_sent(site: dict) -> None:
    token = _token(site, "unit-vinh-phuc")
    before = _slot(site, "unit-vinh-phuc")
    wrong = httpx.post(
        f"{site['base']}/api/links/{token}/remote", json={"provider": "smartca", "user_id": "017080000004"}, timeout=30
    )
    assert wrong.status_code == 422 and wrong.json()["error"] == "remote.wrong_signer", wrong.text
    assert "không phải của người ký" in wrong.json()["message"]
    unknown = httpx.post(
        f"{site['base']}/api/links/{token}/remote", json={"provider": "smartca", "user_id": "000000000000"}, timeout=30
    )
    assert unknown.status_code == 422 and "USER_NOT_FOUND" in unknown.json()["detail"], unknown.text
    assert _slot(site, "unit-vinh-phuc") == before


def test_an_approved_mysign_signature_is_valid_for_poppler(site: dict, tmp_path: Path) -> None:
    token = _token(site, "unit-hoa-binh")
    started = httpx.post(
        f"{site['base']}/api/links/{token}/remote", json={"provider": "mysign", "user_id": "017080000004"}, timeout=30
    )
    assert started.status_code == 200, started.text
    signed = _until_done(site, token)
    assert signed.status_code == 200 and signed.json()["state"] == "signed", signed.text
    assert signed.json()["receipt"]["signer_certificate"]
    pdf = tmp_path / "covenant.pdf"
    pdf.write_bytes(httpx.get(f"{site['base']}/api/links/{_token(site, 'unit-vinh-phuc')}/pdf", timeout=30).content)
    verdicts = pdfsig_verdicts(pdf)
    assert len(verdicts) >= 3 and all("Signature is Valid." in v for v in verdicts), verdicts
    assert any("Ngô Bảo Ngọc" in v for v in verdicts)  # the signature approved on the phone among them
