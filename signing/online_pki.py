"""A test PKI served like a real certification authority: certomancer on 127.0.0.1.

Root CA → intermediate CA → one signing certificate per leader, plus the secretariat's certification key, an OCSP
responder for the intermediate, CRLs for both CAs and an RFC 3161 time-stamping authority. The certificates point
at the services (AIA OCSP, CRL distribution points) by their loopback URLs, so validation fetches revocation data
over HTTP exactly as it does from a Vietnamese CA, and finalisation puts the OCSP responses and CRLs it fetched into
the DSS for offline verification later. A round uses it as a real PKI: `signing.trust: {roots: [root.pem],
tsa: <tsa_url>}`. The embedded demo PKI (signing/pki.py) stays the default for `covenant demo`: it needs no server.

Files in the folder, in the layout of the demo PKI: root.pem, one PKCS#12 + passphrase per person, index.json
(with the service URLs), and certomancer.yml with keys/ for the server (`covenant pki serve`).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

if TYPE_CHECKING:
    from certomancer.integrations.animator import Animator
    from certomancer.registry import PKIArchitecture

from signing.pki import Identity, _write, cert_sha256

ARCH = "covenant"


def _key_file(folder: Path, label: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(folder / "keys" / f"{label}.key.pem", pem, private=True)
    return f"{label}.key.pem"


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _validity(start: dt.datetime, days: int) -> dict[str, str]:
    return {"valid-from": _when(start), "valid-to": _when(start + dt.timedelta(days=days))}


def _ku(*usages: str) -> dict[str, Any]:
    return {"id": "key_usage", "critical": True, "smart-value": {"schema": "key-usage", "params": list(usages)}}


def _ca(ca: bool = True) -> dict[str, Any]:
    return {"id": "basic_constraints", "critical": True, "value": {"ca": ca}}


def _crl_dp(repo: str) -> dict[str, Any]:
    return {
        "id": "crl_distribution_points",
        "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": [repo]}},
    }


def make_online_pki(
    folder: Path,
    people: list[Identity],
    secretariat: Identity,
    port: int,
    revoked: Sequence[Identity] = (),
) -> dict[str, Any]:
    """Keys, certomancer.yml, root.pem, one PKCS#12 per person (revoked ones marked so by the CA); index.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keys").mkdir(exist_ok=True)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # certomancer publishes CRLs on a simulated schedule counted from the CA's validity start: the CAs start ten
    # days back and the signing CA issues hourly, so the latest CRL already lists a revocation of two hours ago.
    ca_start = now - dt.timedelta(days=10)
    start = now - dt.timedelta(hours=3)
    url = f"http://127.0.0.1:{port}"
    keys = {label: {"path": _key_file(folder, label)} for label in ("root", "interm", "ocsp", "tsa")}
    entities: dict[str, Any] = {
        "root": {"common-name": "covenant test root CA", "organization-name": "covenant test PKI"},
        "interm": {"common-name": "covenant test signing CA", "organization-name": "covenant test PKI"},
        "ocsp": {"common-name": "covenant test OCSP responder", "organization-name": "covenant test PKI"},
        "tsa": {"common-name": "covenant test TSA", "organization-name": "covenant test PKI"},
    }
    certs: dict[str, Any] = {
        "root": {
            "subject": "root",
            "issuer": "root",
            "validity": _validity(ca_start, 25 * 365),
            "extensions": [_ca(), _ku("digital_signature", "key_cert_sign", "crl_sign")],
        },
        "interm": {
            "subject": "interm",
            "issuer": "root",
            "validity": _validity(ca_start, 20 * 365),
            "extensions": [_ca(), _ku("digital_signature", "key_cert_sign", "crl_sign"), _crl_dp("root")],
        },
        "ocsp": {
            "subject": "ocsp",
            "issuer": "interm",
            "validity": _validity(ca_start, 20 * 365),
            "extensions": [
                _ku("digital_signature"),
                {"id": "extended_key_usage", "critical": True, "value": ["ocsp_signing"]},
                {"id": "ocsp_no_check"},
            ],
        },
        "tsa": {
            "subject": "tsa",
            "issuer": "root",
            "validity": _validity(ca_start, 20 * 365),
            "extensions": [
                _ku("digital_signature"),
                {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]},
            ],
        },
    }
    signer_ext = [
        _ku("digital_signature", "non_repudiation"),
        _crl_dp("interm"),
        {
            "id": "authority_information_access",
            "smart-value": {"schema": "aia-urls", "params": {"ocsp-responder-names": ["interm"]}},
        },
    ]
    revoked_keys = {who.key for who in revoked}
    for who in [secretariat, *people, *revoked]:
        keys[who.key] = {"path": _key_file(folder, who.key)}
        entities[who.key] = {"common-name": who.name, "organization-name": who.organization, "country-name": "VN"}
        spec: dict[str, Any] = {
            "subject": who.key,
            "issuer": "interm",
            "validity": _validity(start, 730),
            "extensions": signer_ext,
        }
        if who.key in revoked_keys:
            spec["revocation"] = {"revoked-since": _when(now - dt.timedelta(hours=2)), "reason": "key_compromise"}
        certs[who.key] = spec
    config = {
        "external-url-prefix": url,
        "keysets": {ARCH: {"path-prefix": "keys", "keys": keys}},
        "pki-architectures": {
            ARCH: {
                "keyset": ARCH,
                "entity-defaults": {"country-name": "VN"},
                "entities": entities,
                "certs": certs,
                "services": {
                    "ocsp": {"interm": {"for-issuer": "interm", "responder-cert": "ocsp", "signing-key": "ocsp"}},
                    "crl-repo": {
                        "root": {"for-issuer": "root", "signing-key": "root", "simulated-update-schedule": "P1D"},
                        "interm": {
                            "for-issuer": "interm",
                            "signing-key": "interm",
                            "simulated-update-schedule": "PT1H",
                        },
                    },
                    "time-stamping": {"tsa": {"signing-key": "tsa", "signing-cert": "tsa"}},
                },
            }
        },
    }
    (folder / "certomancer.yml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")
    from certomancer.registry import CertLabel
    from cryptography import x509

    arch = load_arch(folder)
    _write(folder / "root.pem", _pem(arch.get_cert(CertLabel("root")).dump()))
    index: dict[str, Any] = {
        "kind": "certomancer",
        "url": url,
        "root": "root.pem",
        "tsa_url": f"{url}/{ARCH}/tsa/tsa",
        "people": {},
        "secretariat": secretariat.key,
    }
    for who in [secretariat, *people, *revoked]:
        passphrase = secrets.token_urlsafe(18)
        p12 = folder / f"{who.key}.p12"
        _write(p12, arch.package_pkcs12(CertLabel(who.key), password=passphrase.encode()), private=True)
        _write(p12.with_suffix(".pass"), passphrase.encode(), private=True)
        cert = x509.load_der_x509_certificate(arch.get_cert(CertLabel(who.key)).dump())
        index["people"][who.key] = {
            "name": who.name,
            "organization": who.organization,
            "p12": p12.name,
            "passphrase_file": p12.with_suffix(".pass").name,
            "sha256": cert_sha256(cert),
            "revoked": who.key in revoked_keys,
        }
    (folder / "index.json").write_text(json.dumps(index, ensure_ascii=False, indent=2), encoding="utf-8")
    return index


def _pem(der: bytes) -> bytes:
    from asn1crypto import pem

    return pem.armor("CERTIFICATE", der)


def load_arch(folder: Path) -> PKIArchitecture:
    from certomancer.registry import ArchLabel, CertomancerConfig

    return CertomancerConfig.from_file(str(folder / "certomancer.yml")).get_pki_arch(ArchLabel(ARCH))


def wsgi_app(folder: Path) -> Animator:
    """certomancer's Animator for this PKI: OCSP, CRLs, TSA, certificates."""
    from certomancer.integrations.animator import Animator, AnimatorArchStore
    from certomancer.registry import CertomancerConfig

    config = CertomancerConfig.from_file(str(folder / "certomancer.yml"))
    return Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)


def serve(folder: Path) -> None:
    """Serve the PKI on the loopback port its certificates name, until interrupted."""
    from werkzeug.serving import make_server

    port = int(json.loads((folder / "index.json").read_text(encoding="utf-8"))["url"].rsplit(":", 1)[1])
    make_server("127.0.0.1", port, wsgi_app(folder), threaded=True).serve_forever()
