"""Demo PKI made with `cryptography`: a root CA, the secretariat's certification key, one key per signer.

Each signer gets a PKCS#12 file protected by a passphrase kept in a file beside it (never on a command line).
The certificates carry the key usages a real Vietnamese signing certificate carries (digitalSignature,
nonRepudiation), so validation runs with the same key-usage settings as for real certificates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT_NAME = "covenant demo root CA"
DEMO_CRL_URL = "http://pki.covenant.invalid/root.crl"


@dataclass(frozen=True)
class Identity:
    """Someone who signs: `key` names their files in the PKI folder."""

    key: str
    name: str
    organization: str
    email: str | None = None
    identity_number: str | None = None  # as Vietnamese CAs write it in the subject UID, e.g. "CCCD:001080001234"


def _name(cn: str, org: str | None = None, uid: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if uid:
        attrs.append(x509.NameAttribute(NameOID.USER_ID, uid))
    return x509.Name(attrs)


def _new_key(kind: str = "rsa") -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """RSA-2048 (what Vietnamese CAs issue to officials today) or ECDSA P-256."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def make_root(valid_days: int = 25 * 365, name_cn: str = ROOT_NAME) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    name = _name(name_cn, "covenant demo")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    who: Identity,
    *,
    valid_from: dt.datetime | None = None,
    valid_days: int = 730,
    timestamping: bool = False,
    key_type: str = "rsa",
    crl_url: str | None = None,
) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf certificate: a signer's (digitalSignature + nonRepudiation) or a TSA's (timeStamping only)."""
    key = _new_key(key_type)
    start = valid_from or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(who.name, who.organization, who.identity_number))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # digitalSignature, and contentCommitment (nonRepudiation) for a person's signing key
            x509.KeyUsage(True, not timestamping, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
            if timestamping
            else x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=timestamping,  # RFC 3161: a TSA certificate's EKU is critical and says timeStamping only
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]  # our CAs are RSA or EC; the union also has keys that cannot issue
            critical=False,
        )
    )
    if who.email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(who.email)]), critical=False)
    # Declare where revocation data lives, so that validators check it (pyHanko checks revocation only for
    # certificates that declare it). Nothing is fetched from this name: the CRL travels with the round.
    builder = builder.add_extension(
        x509.CRLDistributionPoints(
            [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url or DEMO_CRL_URL)], None, None, None)]
        ),
        critical=False,
    )
    return key, builder.sign(ca_key, hashes.SHA256())


def cert_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def write_p12(
    path: Path,
    who: Identity,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    ca: x509.Certificate,
) -> Path:
    """PKCS#12 at `path`, its passphrase in `path.pass` (mode 600)."""
    passphrase = secrets.token_urlsafe(18)
    data = pkcs12.serialize_key_and_certificates(
        who.key.encode(), key, cert, [ca], serialization.BestAvailableEncryption(passphrase.encode())
    )
    _write(path, data, private=True)
    pass_file = path.with_suffix(".pass")
    _write(pass_file, passphrase.encode(), private=True)
    return pass_file


def _pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_crl(
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    revoked: tuple[x509.Certificate, ...] = (),
    days: int = 30,
    carried: tuple[tuple[int, dt.datetime], ...] = (),  # (serial, revocation date) from an earlier CRL
) -> x509.CertificateRevocationList:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]  # our CAs are RSA or EC; the union also has keys that cannot issue
            critical=False,
        )
    )
    for serial, when in (*((c.serial_number, now) for c in revoked), *carried):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca_key, hashes.SHA256())


# The demo's time-stamping authority has a root of its own, whose CRL is good until that root expires (it issues
# one certificate, the TSA's). The signers' root publishes short-lived CRLs, as a real CA does; an archive keeps,
# in its DSS and in data/trust/, both CRLs, and a generic ETSI validator (pyhanko sign adesverify, revocation
# required) then finds the newest document timestamp's authority in good standing, offline, 3 or 15 years on, and
# validates the signatures at the time the timestamps prove. A real TSA's status would be fetched, or the package
# renewed.
TSA_ROOT_NAME = "covenant demo TSA root CA"
TSA_ROOT_CRL_DAYS = 25 * 365
TSA_CRL_URL = "http://pki.covenant.invalid/tsa-root.crl"


def make_demo_pki(folder: Path, people: list[Identity], secretariat: Identity) -> dict[str, object]:
    """Root CA + certification key + one PKCS#12 per person; returns (and writes) index.json."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_root()
    _write(folder / "root.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(folder / "root.key", _pkcs8(ca_key), private=True)
    entries: dict[str, dict[str, object]] = {}
    index: dict[str, object] = {"root": "root.pem", "people": entries}
    for who in [secretariat, *people]:
        key, cert = issue(ca_key, ca_cert, who)
        p12 = folder / f"{who.key}.p12"
        write_p12(p12, who, key, cert, ca_cert)
        entries[who.key] = {
            "name": who.name,
            "organization": who.organization,
            "p12": p12.name,
            "passphrase_file": p12.with_suffix(".pass").name,
            "sha256": cert_sha256(cert),
        }
    index["secretariat"] = secretariat.key
    # The demo's RFC 3161 time-stamping authority and the root's CRL (revocation data for the archive).
    # Root 25 years, TSA 20 years, signers 2: an archive must outlive its signers' certificates, and its
    # newest document timestamp must be renewed (`archive renew`) before the TSA certificate expires.
    tsa_root_key, tsa_root = make_root(name_cn=TSA_ROOT_NAME)
    _write(folder / "tsa-root.pem", tsa_root.public_bytes(serialization.Encoding.PEM))
    _write(folder / "tsa-root.key", _pkcs8(tsa_root_key), private=True)
    tsa_key, tsa_cert = issue(
        tsa_root_key,
        tsa_root,
        Identity("tsa", "covenant demo TSA", "covenant demo"),
        valid_days=20 * 365,
        timestamping=True,
        crl_url=TSA_CRL_URL,
    )
    _write(folder / "tsa.pem", tsa_cert.public_bytes(serialization.Encoding.PEM))
    _write(folder / "tsa.key", _pkcs8(tsa_key), private=True)
    tsa_crl = make_crl(tsa_root_key, tsa_root, days=TSA_ROOT_CRL_DAYS)
    _write(folder / "tsa-root.crl", tsa_crl.public_bytes(serialization.Encoding.DER))
    _write(folder / "root.crl", make_crl(ca_key, ca_cert).public_bytes(serialization.Encoding.DER))
    index["tsa"] = {"cert": "tsa.pem", "key": "tsa.key", "root": "tsa-root.pem", "crl": "tsa-root.crl"}
    index["crl"] = "root.crl"
    (folder / "index.json").write_text(json.dumps(index, ensure_ascii=False, indent=2), encoding="utf-8")
    return index


def demo_root_paths(folder: Path) -> list[Path]:
    """The demo PKI's trust anchors: its root, and its TSA's root (a PKI made before the TSA had a root of its own
    has only the first)."""
    return [folder / "root.pem", *([folder / "tsa-root.pem"] if (folder / "tsa-root.pem").is_file() else [])]


def demo_roots(folder: Path) -> list[bytes]:
    return [path.read_bytes() for path in demo_root_paths(folder)]


def demo_crls(folder: Path) -> list[bytes]:
    """The demo PKI's CRLs (DER): its root's, reissued when about to go stale, and its TSA root's."""
    crls = [current_demo_crl(folder)]
    if (folder / "tsa-root.crl").is_file():
        crls.append((folder / "tsa-root.crl").read_bytes())
    return crls


def load_root_key(folder: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key((folder / "root.key").read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate((folder / "root.pem").read_bytes())
    assert isinstance(key, rsa.RSAPrivateKey)
    return key, cert


def current_demo_crl(folder: Path, min_validity: dt.timedelta = dt.timedelta(days=1)) -> bytes:
    """The demo root's CRL, reissued (same revocations, fresh dates) when it is about to go stale, as a real
    CA publishes a new CRL before the old one's nextUpdate."""
    path = folder / "root.crl"
    crl = x509.load_der_x509_crl(path.read_bytes())
    next_update = crl.next_update_utc
    if next_update is not None and next_update - dt.datetime.now(dt.UTC) > min_validity:
        return path.read_bytes()
    ca_key, ca_cert = load_root_key(folder)
    carried = tuple((r.serial_number, r.revocation_date_utc) for r in crl)
    fresh = make_crl(ca_key, ca_cert, carried=carried).public_bytes(serialization.Encoding.DER)
    _write(path, fresh)
    return fresh
