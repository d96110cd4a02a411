"""A SoftHSM2 token holding a unit's key, for the demo and the tests.

A real unit receives its token from its certification authority, already provisioned; here a SoftHSM2 token is
made the same way a CA would: initialised with a PIN, then the private key (not extractable) and its certificate
written to it through PKCS#11 under one label and id. SoftHSM2 finds its tokens through the file named by
SOFTHSM2_CONF, read once per process: provisioning runs in a process of its own, and a process that signs with the
token needs SOFTHSM2_CONF set before its first PKCS#11 call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from signing.errors import TokenError

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def softhsm_config(folder: Path) -> Path:
    """A SoftHSM2 configuration keeping its tokens under `folder`; point SOFTHSM2_CONF at it."""
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    return conf


def provision_token(
    conf: Path, label: str, pin: str, p12: Path, passphrase_file: Path, key_label: str, module: str = DEFAULT_MODULE
) -> None:
    """Initialise token `label` and store the PKCS#12's key and certificate in it under `key_label`."""
    util = shutil.which("softhsm2-util")
    if util is None:
        raise TokenError("softhsm2-util is not installed (Debian package softhsm2)")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    so_pin = pin + "-so"
    done = subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise TokenError(f"softhsm2-util --init-token: {done.stderr.strip() or done.stdout.strip()}")
    # The objects are written by a process of their own: a PKCS#11 module reads SOFTHSM2_CONF once per process,
    # so this one (a test run, say) stays free to use another token folder.
    done = subprocess.run(
        [sys.executable, "-m", "signing.softhsm", label, pin, str(p12), str(passphrase_file), key_label, module],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise TokenError(f"writing the key to token {label!r} failed: {done.stderr.strip()[-500:]}")


def _write_objects(label: str, pin: str, p12: Path, passphrase_file: Path, key_label: str, module: str) -> None:
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass
    from pkcs11.util.rsa import decode_rsa_private_key

    key, cert, _chain = pkcs12.load_key_and_certificates(p12.read_bytes(), passphrase_file.read_bytes().strip())
    if key is None or cert is None:
        raise TokenError(f"{p12}: holds no key and certificate")
    der_key = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    key_id = cert.fingerprint(hashes.SHA256())[:8]
    token = pkcs11.lib(module).get_token(token_label=label)
    with token.open(rw=True, user_pin=pin) as session:
        attrs = decode_rsa_private_key(der_key)
        attrs.update(
            {
                Attribute.TOKEN: True,
                Attribute.LABEL: key_label,
                Attribute.ID: key_id,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
            }
        )
        session.create_object(attrs)
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.CERTIFICATE,
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.LABEL: key_label,
                Attribute.ID: key_id,
                Attribute.SUBJECT: cert.subject.public_bytes(),
                Attribute.ISSUER: cert.issuer.public_bytes(),
                Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
            }
        )


if __name__ == "__main__":
    label_arg, pin_arg, p12_arg, pass_arg, key_label_arg, module_arg = sys.argv[1:7]
    _write_objects(label_arg, pin_arg, Path(p12_arg), Path(pass_arg), key_label_arg, module_arg)
