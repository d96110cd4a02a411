"""Remote signing through a personal link: a real `covenant serve` on loopback, the real `covenant sign --link`
agent with a PKCS#12 file and with a SoftHSM2 token; only the certificate and the CMS cross the wire."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from signing.pki import demo_roots
from signing.softhsm import DEFAULT_MODULE, provision_token, softhsm_config
from tests.conftest import launched_ctx, person, run_covenant, slot_state

pytestmark = pytest.mark.live


def _pdfsig_valid(pdf: bytes, tmp_path: Path, field: str) -> str:
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    blocks = [b for b in out.split("Signature #")[1:] if "Signature Validation:" in b]
    assert blocks and all("Signature Validation: Signature is Valid." in b for b in blocks), out
    return next(b for b in blocks if f"Field Name: {field}" in b)


def test_links_are_stored_only_as_hashes(launched: dict, server: dict) -> None:
    from workflow.storage import LinkRow

    tokens = {url.rsplit("/", 1)[1] for url in server["links"].values()}
    assert all(len(t) >= 43 for t in tokens)  # 32 random bytes, base64url
    with launched_ctx(launched).session() as s:
        stored = {row.token_sha256 for row in s.query(LinkRow)}
    assert stored and not (stored & tokens)


def test_link_page_and_api(server: dict) -> None:
    url = server["links"][("covenant", "unit-thai-nguyen")]
    page = httpx.get(url)
    assert page.status_code == 200 and "Phùng Đức Tiến" in page.text and "covenant sign --link" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    token = url.rsplit("/", 1)[1]
    info = httpx.get(f"{server['base']}/api/links/{token}").json()
    assert info["field"] == "unit-thai-nguyen" and info["document"] == "covenant"
    pdf = httpx.get(f"{server['base']}/api/links/{token}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert httpx.get(f"{server['base']}/api/links/{token[:-2]}xx").status_code == 404


def test_remote_signing_with_a_pkcs12_file(launched: dict, server: dict, tmp_path: Path) -> None:
    p12, passphrase = person(launched, "thai-nguyen--phung-duc-tien")
    url = server["links"][("covenant", "unit-thai-nguyen")]
    proc = run_covenant("sign", "--link", url, "--p12", str(p12), "--passphrase-file", str(passphrase))
    assert proc.returncode == 0, proc.stderr
    assert "signed unit-thai-nguyen" in proc.stdout
    _, signed, _ = slot_state(launched_ctx(launched), launched["round_id"], "unit-thai-nguyen")
    block = _pdfsig_valid(signed, tmp_path, "unit-thai-nguyen")
    assert "Common Name: Phùng Đức Tiến" in block
    from signing.validation import load_roots, validate_signatures

    roots = load_roots(demo_roots(launched["data"] / "pki"))
    report = next(r for r in validate_signatures(signed, roots) if r.field == "unit-thai-nguyen")
    assert report.valid and report.trusted and report.timestamp_ok  # B-T: the server added the timestamp

    again = run_covenant("sign", "--link", url, "--p12", str(p12), "--passphrase-file", str(passphrase))
    assert again.returncode == 3 and "already signed" in again.stderr, again.stderr


def test_remote_signing_with_a_token(launched: dict, server: dict, tmp_path: Path) -> None:
    folder = tmp_path / "hsm"
    conf = softhsm_config(folder)
    provision_token(conf, "vks-hoa-binh", "2468", *person(launched, "hoa-binh--ngo-bao-ngoc"), key_label="ngoc")
    (folder / "pin").write_text("2468\n")
    url = server["links"][("covenant", "unit-hoa-binh")]
    proc = run_covenant(
        "sign",
        "--link",
        url,
        "--pkcs11-lib",
        DEFAULT_MODULE,
        "--token-label",
        "vks-hoa-binh",
        "--key-label",
        "ngoc",
        "--pin-file",
        str(folder / "pin"),
        env={"SOFTHSM2_CONF": str(conf)},
    )
    assert proc.returncode == 0, proc.stderr
    _, signed, _ = slot_state(launched_ctx(launched), launched["round_id"], "unit-hoa-binh")
    assert "Common Name: Ngô Bảo Ngọc" in _pdfsig_valid(signed, tmp_path, "unit-hoa-binh")


def test_untrusted_key_is_refused_remotely(launched: dict, server: dict) -> None:
    other = launched["other"]
    url = server["links"][("covenant", "unit-bac-giang")]
    proc = run_covenant(
        "sign", "--link", url, "--p12", str(other / "intruder.p12"), "--passphrase-file", str(other / "intruder.pass")
    )
    assert proc.returncode == 2 and "not trusted for this round" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    _, _, revisions = slot_state(launched_ctx(launched), launched["round_id"], "unit-bac-giang")
    with launched_ctx(launched).session() as s:
        from workflow.storage import SlotRow

        assert s.query(SlotRow).filter_by(field_name="unit-bac-giang").one().status == "pending"
    assert revisions >= 1


def test_a_forged_cms_is_refused(server: dict) -> None:
    token = server["links"][("covenant", "unit-vinh-phuc")].rsplit("/", 1)[1]
    api = f"{server['base']}/api/links/{token}"
    assert httpx.post(f"{api}/finish", json={"cms": "bm90IGEgY21z"}).status_code == 409  # nothing prepared yet
    assert httpx.post(f"{api}/prepare", json={"certificate": "bm90IGEgY2VydA=="}).status_code == 422
    assert httpx.post(f"{api}/prepare", json={"certificate": "***"}).status_code == 422
