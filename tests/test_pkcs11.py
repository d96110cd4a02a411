"""Signing with a key that never leaves a PKCS#11 token: a SoftHSM2 token made for the test, the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from signing.softhsm import DEFAULT_MODULE, provision_token, softhsm_config
from tests.conftest import launched_ctx, person, run_covenant, slot_state

pytestmark = pytest.mark.live
LEADER = "phu-tho--do-dinh-chu"
FIELD = "unit-phu-tho"
PIN = "4711-0815"


@pytest.fixture(scope="module")
def token(launched: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("softhsm")
    conf = softhsm_config(folder)
    provision_token(conf, "vks-phu-tho", PIN, *person(launched, LEADER), key_label="do-dinh-chu")
    pin_file = folder / "pin"
    pin_file.write_text(PIN + "\n")
    env = {**launched["env"], "SOFTHSM2_CONF": str(conf)}
    return {"conf": conf, "pin_file": pin_file, "env": env, "folder": folder}


def _sign(launched: dict, token: dict, pin_file: Path, field: str = FIELD, key_label: str = "do-dinh-chu"):  # type: ignore[no-untyped-def]
    return run_covenant(
        "sign",
        launched["round_id"],
        "--field",
        field,
        "--pkcs11-lib",
        DEFAULT_MODULE,
        "--token-label",
        "vks-phu-tho",
        "--key-label",
        key_label,
        "--pin-file",
        str(pin_file),
        env=token["env"],
    )


def test_the_private_key_cannot_leave_the_token(token: dict) -> None:
    # In a process of its own: a PKCS#11 module reads SOFTHSM2_CONF once per process.
    code = (
        "import pkcs11, sys\n"
        "from pkcs11 import Attribute, ObjectClass\n"
        "with pkcs11.lib(sys.argv[1]).get_token(token_label='vks-phu-tho').open(user_pin=sys.argv[2]) as s:\n"
        "    key = s.get_key(object_class=ObjectClass.PRIVATE_KEY, label='do-dinh-chu')\n"
        "    assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]\n"
        "    try:\n"
        "        key[Attribute.PRIVATE_EXPONENT]\n"
        "    except pkcs11.PKCS11Error:\n"
        "        print('the private exponent cannot be read')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, DEFAULT_MODULE, PIN],
        env={**os.environ, **token["env"]},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "the private exponent cannot be read" in done.stdout


def test_wrong_pin_is_refused_and_changes_nothing(launched: dict, token: dict) -> None:
    _, before, revisions = slot_state(launched_ctx(launched), launched["round_id"], FIELD)
    bad = token["folder"] / "bad-pin"
    bad.write_text("000000\n")
    proc = _sign(launched, token, bad)
    assert proc.returncode == 2, proc.stderr
    assert "wrong PIN" in proc.stderr and "vks-phu-tho" in proc.stderr and "Traceback" not in proc.stderr
    assert slot_state(launched_ctx(launched), launched["round_id"], FIELD)[2] == revisions


def test_unknown_key_label_is_named(launched: dict, token: dict) -> None:
    proc = _sign(launched, token, token["pin_file"], key_label="khong-co")
    assert proc.returncode == 2 and "khong-co" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_token_options_must_be_complete(launched: dict, token: dict) -> None:
    proc = run_covenant(
        "sign", launched["round_id"], "--field", FIELD, "--pkcs11-lib", DEFAULT_MODULE, env=token["env"]
    )
    assert proc.returncode == 2 and "--token-label" in proc.stderr and "--pin-file" in proc.stderr, proc.stderr


def test_sign_with_the_token(launched: dict, token: dict, tmp_path: Path) -> None:
    proc = _sign(launched, token, token["pin_file"])
    assert proc.returncode == 0, proc.stderr
    _, signed, revisions = slot_state(launched_ctx(launched), launched["round_id"], FIELD)
    assert revisions == 2
    pdf = tmp_path / "signed.pdf"
    pdf.write_bytes(signed)
    # poppler, independently of pyHanko: the token's signature is valid and made by the unit's leader
    out = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True).stdout
    signed_blocks = [b for b in out.split("Signature #")[1:] if "Signature Validation:" in b]  # not empty fields
    assert len(signed_blocks) == 2, out  # certification + the leader's
    assert all("Signature Validation: Signature is Valid." in b for b in signed_blocks), out
    leader = next(b for b in signed_blocks if f"Field Name: {FIELD}" in b)
    assert "Common Name: Đỗ Đình Chữ" in leader
    assert subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True).returncode == 0
