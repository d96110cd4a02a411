"""A leader signs from the page with a USB token, no terminal: Chromium (Playwright) opens the personal link,
the button speaks the VGCA Sign Service protocol to `covenant agent` on 127.0.0.1 (TLS), the agent shows the
request on its own page where the PIN is typed, signs with a SoftHSM2 token, posts the file to the one-time upload
address, and the page shows the receipt. Also: a page of another origin is refused by the agent, one-time addresses
cannot be replayed, and with no agent running the page says what to install."""

from __future__ import annotations

import asyncio
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

from signing.pki import demo_roots
from signing.softhsm import DEFAULT_MODULE, provision_token, softhsm_config
from tests.conftest import (
    ARTIFACTS,
    REPO,
    free_port,
    launched_ctx,
    pdfsig_verdicts,
    person,
    run_covenant,
    serving,
    sign_as,
)
from workflow.storage import DocumentRow, EventRow, SlotRow

pytestmark = pytest.mark.live
PIN = "2468-1357"
SHOTS = ARTIFACTS / "token"


@pytest.fixture(scope="module")
def site(launched: dict) -> Iterator[dict]:
    agent_port = free_port()
    env = {**launched["env"], "COVENANT_SIGNING_SERVICE": f"wss://127.0.0.1:{agent_port}"}
    with serving(env) as served:
        env = {k: v for k, v in served.items() if k != "base"}
        issued = run_covenant("round", "links", launched["round_id"], "--json", env=env)
        assert issued.returncode == 0, issued.stderr
        links = {(i["document"], i["field"]): i["url"] for i in json.loads(issued.stdout)}
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield {**launched, "base": served["base"], "env": env, "links": links, "agent_port": agent_port}


@pytest.fixture(scope="module")
def agent(site: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("agent")
    conf = softhsm_config(folder / "softhsm")
    provision_token(conf, "vks-phu-tho", PIN, *person(site, "phu-tho--do-dinh-chu"), key_label="do-dinh-chu")
    home = folder / "home"
    paired = run_covenant("agent", "pair", site["base"], "--home", str(home))
    assert paired.returncode == 0, paired.stderr
    log = folder / "agent.log"
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflow.cli",
            "agent",
            "--home",
            str(home),
            "--port",
            str(site["agent_port"]),
            "--pkcs11-lib",
            DEFAULT_MODULE,
            "--token-label",
            "vks-phu-tho",
            "--key-label",
            "do-dinh-chu",
            "--no-browser",
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while "covenant agent on" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    yield {"log": log, "proc": proc, "home": home}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _confirm_url(log: Path, seen: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"confirm: (https://127\.0\.0\.1:\d+/confirm/\S+)", log.read_text())
        if len(found) > seen:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"the agent asked for no confirmation: {log.read_text()}")


def _slot(site: dict, field: str) -> SlotRow:
    with launched_ctx(site).session() as s:
        slot = (
            s.query(SlotRow)
            .join(DocumentRow)
            .filter(
                DocumentRow.round_id == site["round_id"], DocumentRow.kind == "covenant", SlotRow.field_name == field
            )
            .one()
        )
        s.expunge(slot)
        return slot


def test_a_leader_signs_with_the_usb_token_from_the_page(site: dict, agent: dict, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(ignore_https_errors=True, locale="vi-VN")  # the agent's certificate, trusted once
    page = context.new_page()
    page.goto(site["links"][("covenant", "unit-phu-tho")])
    page.get_by_role("button", name="Ký số bằng USB token").click()
    seen = len(re.findall("confirm: ", agent["log"].read_text()))
    confirm = context.new_page()
    confirm.goto(_confirm_url(agent["log"], seen))
    # before the PIN: the requesting site, the document, the field and the signer, on the agent's own page
    assert confirm.locator("#site").inner_text() == site["base"]
    assert "Bản giao ước thi đua" in confirm.locator("#document").inner_text()
    assert confirm.locator("#field").inner_text() == "unit-phu-tho"
    assert "Đỗ Đình Chữ" in confirm.locator("#signer").inner_text()
    confirm.screenshot(path=str(SHOTS / "agent-confirm.png"))
    confirm.fill("#pin", PIN)
    confirm.click("#sign")
    confirm.wait_for_selector("#done, #failed", timeout=90_000)
    assert confirm.locator("#done").count() == 1, confirm.inner_text("body") + agent["log"].read_text()
    page.wait_for_selector("#receipt", timeout=60_000)  # the page reloads itself with the receipt
    assert "Đỗ Đình Chữ" in page.locator("#receipt").inner_text()
    page.screenshot(path=str(SHOTS / "receipt.png"), full_page=True)
    slot = _slot(site, "unit-phu-tho")
    assert slot.status == "signed" and "Đỗ Đình Chữ" in (slot.signer_certificate or "")
    assert PIN not in page.content()  # the PIN never reached the covenant page
    with launched_ctx(site).session() as s:
        events = [e.kind for e in s.query(EventRow).filter_by(round_id=site["round_id"])]
    assert "handoff.opened" in events and "slot.signed" in events
    context.close()


def test_the_clerks_handoff_says_what_its_stamp_shows(site: dict) -> None:
    """The local signing service is told what the stamp shows (as the Government CA's tool tells SignApproved from
    SignIssued): a seal's handoff is refused before its leader has signed, naming the rule, and says "seal" after."""
    token = site["links"][("covenant", "seal-bac-giang")].rsplit("/", 1)[1]
    early = httpx.post(f"{site['base']}/api/links/{token}/handoff", timeout=30)
    assert 400 <= early.status_code < 500 and early.json()["error"] == "signature.seal_before_leader", early.text
    token = site["links"][("covenant", "seal-phu-tho")].rsplit("/", 1)[1]  # Đỗ Đình Chữ signed above
    handoff = httpx.post(f"{site['base']}/api/links/{token}/handoff", timeout=30)
    assert handoff.status_code == 200, handoff.text
    assert handoff.json()["stamp"] == "seal" and handoff.json()["number"] is None
    assert handoff.json()["signer_title"] == "Văn thư" and handoff.json()["unit_name"].endswith("Phú Thọ")


def test_a_page_from_another_origin_is_refused_by_the_agent(site: dict, agent: dict, browser) -> None:  # type: ignore[no-untyped-def]
    """The same server under another name (http://localhost:…) is another origin: not paired, refused, unsigned."""
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    other = site["links"][("covenant", "unit-thai-nguyen")].replace("127.0.0.1", "localhost")
    before = len(re.findall("confirm: ", agent["log"].read_text()))
    page.goto(other)
    page.get_by_role("button", name="Ký số bằng USB token").click()
    expect(page.locator("#token-status")).to_have_text(re.compile("^Chưa ký được"), timeout=30_000)
    assert "chưa được ghép" in page.locator("#token-status").inner_text()
    assert len(re.findall("confirm: ", agent["log"].read_text())) == before  # nothing was asked of the leader
    assert "refused a request from http://localhost" in agent["log"].read_text()
    assert _slot(site, "unit-thai-nguyen").status != "signed"
    context.close()


def _sign(site: dict, pdf: bytes, field: str, key: str, title: str = "Viện trưởng") -> bytes:
    return sign_as(site["data"] / "pki", key, pdf, field, title)


def test_one_time_addresses_cannot_be_replayed(site: dict) -> None:
    token = site["links"][("covenant", "unit-bac-giang")].rsplit("/", 1)[1]
    handoff = httpx.post(f"{site['base']}/api/links/{token}/handoff", timeout=30).json()
    assert handoff["download_url"] != handoff["upload_url"] and token not in handoff["download_url"]
    pdf = httpx.get(handoff["download_url"], timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    again = httpx.get(handoff["download_url"], timeout=30)
    assert again.status_code == 410 and again.json()["error"] == "handoff.used"
    signed = _sign(site, pdf.content, "unit-bac-giang", "bac-giang--nguyen-truong-tho", "Phó Viện trưởng")
    files = {"uploadfile": ("signed.pdf", signed, "application/pdf")}
    first = httpx.post(handoff["upload_url"], files=files, timeout=60)
    assert first.status_code == 200 and first.json()["Status"] == 0, first.text
    replay = httpx.post(handoff["upload_url"], files=files, timeout=60)
    assert replay.status_code == 410 and replay.json()["error"] == "handoff.used"
    assert "đã được dùng" in replay.json()["Message"]
    assert _slot(site, "unit-bac-giang").status == "signed"
    # an address for a revision that is no longer the current one: the document changed, sign again
    other = site["links"][("covenant", "unit-vinh-phuc")].rsplit("/", 1)[1]
    stale = httpx.post(f"{site['base']}/api/links/{other}/handoff", timeout=30).json()
    token_hoa_binh = site["links"][("covenant", "unit-hoa-binh")].rsplit("/", 1)[1]
    current = httpx.get(f"{site['base']}/api/links/{token_hoa_binh}/pdf", timeout=30).content
    hoa_binh = _sign(site, current, "unit-hoa-binh", "hoa-binh--ngo-bao-ngoc")
    uploaded = httpx.post(
        f"{site['base']}/api/links/{token_hoa_binh}/upload", files={"file": ("x.pdf", hoa_binh)}, timeout=60
    )
    assert uploaded.status_code == 200, uploaded.text
    late = httpx.get(stale["download_url"], timeout=30)
    assert late.status_code == 409 and late.json()["error"] == "handoff.stale"
    assert "đã thay đổi" in late.json()["message"]
    assert httpx.get(f"{site['base']}/h/{'x' * 43}", timeout=30).status_code == 404


def test_without_a_signing_service_the_page_says_what_to_install(site: dict, browser) -> None:  # type: ignore[no-untyped-def]
    env = {**site["env"], "COVENANT_SIGNING_SERVICE": f"wss://127.0.0.1:{free_port()}"}  # nothing listens there
    with serving(env) as served:
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        link = site["links"][("covenant", "unit-vinh-phuc")].replace(site["base"], served["base"])
        page.goto(link)
        page.get_by_role("button", name="Ký số bằng USB token").click()
        expect(page.locator("#token-status")).to_have_text(re.compile("^Không kết nối được"), timeout=30_000)
        status = page.locator("#token-status").inner_text()
        assert "VGCA Sign Service" in status and "covenant agent" in status
        assert page.locator("#token-help").get_attribute("open") is not None  # what to install, shown
        assert "pipx install covenant" in page.locator("#token-help").inner_text()
        # the other-tool path: which field, which TSA, sign the version downloaded now
        assert "unit-vinh-phuc" in page.locator("#other-tool").inner_text()
        assert page.locator("#tsa-url").inner_text() == f"{served['base']}/tsa"
        page.screenshot(path=str(SHOTS / "no-agent.png"), full_page=True)
        context.close()


def test_round_pdf_hands_out_the_current_revision_without_touching_a_link(site: dict, tmp_path: Path) -> None:
    token = site["links"][("minutes", "chair-phu-tho")].rsplit("/", 1)[1]
    out = tmp_path / "minutes.pdf"
    proc = run_covenant("round", "pdf", site["round_id"], "--document", "minutes", "--out", str(out), env=site["env"])
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == httpx.get(f"{site['base']}/api/links/{token}/pdf", timeout=30).content
    assert httpx.get(f"{site['base']}/api/links/{token}", timeout=30).status_code == 200  # the mailed link still works
    wrong = run_covenant("round", "pdf", site["round_id"], "--document", "phu-luc", "--out", str(out), env=site["env"])
    assert wrong.returncode == 2 and "covenant or minutes" in wrong.stderr
    unknown = run_covenant("round", "pdf", "20261204-deadbeef", "--out", str(out), env=site["env"])
    assert unknown.returncode == 2 and "no round" in unknown.stderr


def test_the_demo_tsa_is_served_over_http(site: dict) -> None:
    """`covenant pki serve DIR --port P` on a demo PKI: RFC 3161 at http://127.0.0.1:P/tsa, as the web app's /tsa."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko.sign.timestamps.common_utils import TimestampRequestError

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workflow.cli", "pki", "serve", str(site["data"] / "pki"), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        digest = hashlib.sha256(b"Ban giao uoc thi dua").digest()
        for url in (f"http://127.0.0.1:{port}/tsa", f"{site['base']}/tsa"):
            deadline = time.monotonic() + 20
            while True:
                try:
                    stamper = HTTPTimeStamper(url)
                    with ThreadPoolExecutor(1) as pool:
                        token = pool.submit(asyncio.run, stamper.async_timestamp(digest, "sha256")).result()
                    break
                except (OSError, httpx.HTTPError, TimestampRequestError):
                    assert time.monotonic() < deadline, url
                    time.sleep(0.3)
            info = token["content"]["encap_content_info"]["content"].parsed
            assert info["message_imprint"]["hashed_message"].native == digest, url
            garbage = httpx.post(url, content=b"not a query", timeout=10)
            assert garbage.status_code == 400, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    nothing = run_covenant("pki", "serve", str(site["data"]))
    assert nothing.returncode == 2 and "neither a test PKI" in nothing.stderr


def test_a_file_signed_on_an_older_revision_says_the_document_changed(site: dict) -> None:
    """A leader signs the version they downloaded while another leader signs meanwhile: refused, saying how many
    revisions came since and to download again (before: "rewritten, not signed incrementally")."""
    late = site["links"][("covenant", "unit-thai-nguyen")].rsplit("/", 1)[1]
    early = site["links"][("covenant", "unit-vinh-phuc")].rsplit("/", 1)[1]
    downloaded = httpx.get(f"{site['base']}/api/links/{late}/pdf", timeout=30).content
    first = _sign(site, downloaded, "unit-vinh-phuc", "vinh-phuc--dang-thanh-nhan", "Phó Viện trưởng")
    accepted = httpx.post(f"{site['base']}/api/links/{early}/upload", files={"file": ("a.pdf", first)}, timeout=60)
    assert accepted.status_code == 200, accepted.text
    second = _sign(site, downloaded, "unit-thai-nguyen", "thai-nguyen--phung-duc-tien")
    refused = httpx.post(f"{site['base']}/api/links/{late}/upload", files={"file": ("b.pdf", second)}, timeout=60)
    assert refused.status_code == 422 and refused.json()["error"] == "signature.stale", refused.text
    assert "1 new revision" in refused.json()["detail"] and "download it again" in refused.json()["detail"]
    message = refused.json()["message"]
    assert "tải bản mới nhất" in message and "Chi tiết: the document changed" in message  # the page says it too
    assert _slot(site, "unit-thai-nguyen").status != "signed"


def test_a_signature_without_timestamp_gets_the_rounds_timestamp_on_receipt(site: dict) -> None:
    """A tool with no TSA option (poppler's) signs; the round requires B-T: the server adds the signature timestamp
    in the CMS's own room (signing/timestamping.py), the result is judged again and stored; poppler and pyHanko see
    a timestamped, valid signature; the same submission again (a retried task) changes nothing."""
    from concurrent.futures import ThreadPoolExecutor

    from signing.signers import load_pkcs12, sign_field
    from signing.validation import load_roots, validate_signatures
    from workflow.stages.accept import accept

    token = site["links"][("covenant", "unit-thai-nguyen")].rsplit("/", 1)[1]
    current = httpx.get(f"{site['base']}/api/links/{token}/pdf", timeout=30).content

    def sign() -> bytes:
        signer = load_pkcs12(*person(site, "thai-nguyen--phung-duc-tien"))
        return sign_field(
            current,
            "unit-thai-nguyen",
            signer,
            signer_name="Phùng Đức Tiến",
            title="Viện trưởng",
            unit="Viện kiểm sát nhân dân tỉnh Thái Nguyên",
        )

    with ThreadPoolExecutor(1) as pool:
        plain = pool.submit(sign).result()
    uploaded = httpx.post(f"{site['base']}/api/links/{token}/upload", files={"file": ("p.pdf", plain)}, timeout=60)
    assert uploaded.status_code == 200, uploaded.text
    ctx = launched_ctx(site)
    slot = _slot(site, "unit-thai-nguyen")
    stored = ctx.blobs.get(slot.revision or "")
    assert len(stored) == len(plain) and stored != plain  # same length, same byte range: only /Contents differs
    roots = load_roots(demo_roots(site["data"] / "pki"))
    with ThreadPoolExecutor(1) as pool:  # pyHanko runs its own event loop; Playwright's runs in this thread
        reports = pool.submit(validate_signatures, stored, roots).result()
    report = next(r for r in reports if r.field == "unit-thai-nguyen")
    assert report.timestamp is not None and report.timestamp_ok and report.bottom_line, report
    path = Path(site["data"]) / "stamped.pdf"
    path.write_bytes(stored)
    verdicts = [v for v in pdfsig_verdicts(path) if "unit-thai-nguyen" in v]
    assert len(verdicts) == 1 and "Signature is Valid." in verdicts[0], verdicts  # poppler agrees
    with ThreadPoolExecutor(1) as pool:  # the task run again with the original submission
        status = pool.submit(accept, ctx, slot.id, ctx.blobs.put(plain), "retry").result()
    assert status == "open" and _slot(site, "unit-thai-nguyen").revision == slot.revision
