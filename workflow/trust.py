"""A round's trust as the stages use it: its roots, revocation lists, time-stamping authority, certification key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyhanko.sign.timestamps import TimeStamper

from signing.validation import load_roots
from workflow.context import Ctx, round_model
from workflow.model import Round, TrustSpec
from workflow.storage import RoundRow


def certifier_paths(ctx: Ctx) -> tuple[Path, Path]:
    pki = ctx.settings.pki_dir
    return pki / "secretariat.p12", pki / "secretariat.pass"


def round_crls(ctx: Ctx, rnd: RoundRow) -> list[bytes]:
    """Revocation lists known locally for the round's trust (the demo PKI's CRL; a real PKI's are fetched)."""
    from signing.pki import demo_crls

    if is_demo(ctx, rnd) and (ctx.settings.pki_dir / "root.crl").is_file():
        return demo_crls(ctx.settings.pki_dir)
    return []


def is_demo(ctx: Ctx, rnd: RoundRow) -> bool:
    return round_model(ctx, rnd).signing.trust == "demo"


def is_online(ctx: Ctx, rnd: RoundRow) -> bool:
    """A round on a real PKI fetches revocation status (OCSP, CRL) from the services its certificates name;
    the demo PKI's CRL travels with the round instead."""
    return isinstance(round_model(ctx, rnd).signing.trust, TrustSpec)


def tsa_source(ctx: Ctx, rnd: RoundRow) -> str | None:
    """Where the round's timestamps come from: a service URL, "demo" (the demo PKI's TSA), or None."""
    trust = round_model(ctx, rnd).signing.trust
    if isinstance(trust, TrustSpec):
        return trust.tsa
    return "demo" if (ctx.settings.pki_dir / "tsa.pem").is_file() else None


def round_timestamper(ctx: Ctx, rnd: RoundRow) -> TimeStamper | None:
    """The round's RFC 3161 time-stamping authority, or None when the round has none."""
    from signing.ltv import demo_timestamper, http_timestamper

    source = tsa_source(ctx, rnd)
    if source == "demo":
        return demo_timestamper(ctx.settings.pki_dir, load_roots([ctx.blobs.get(h) for h in rnd.trust_roots]))
    return http_timestamper(source) if source else None


REVOCATION_FETCH_TIMEOUT = 5.0  # seconds per service: a check, not a wait
MAX_SERVICES = 8


def revocation_warnings(ctx: Ctx, model: Round, base: Path) -> list[str]:
    """For a round on a real PKI (`signing.trust.roots`): the revocation services its certificates name that
    cannot be reached from this server. Acceptance fetches them for every signature (a round on a real PKI is
    online); one that cannot be fetched makes every signature fail for missing revocation information, so the
    office should hear it at `round check` and `round launch`, not from the first leader.

    The certificates looked at: the roots themselves (an intermediate CA names where its own status is), and the
    secretariat's certifying certificate when one of the roots issued it (the CA's services, as the leaders'
    certificates from the same CA will name them)."""
    from cryptography import x509

    trust = model.signing.trust
    if not isinstance(trust, TrustSpec):
        return []
    certificates: list[x509.Certificate] = []
    for relative in trust.roots:
        try:
            certificates.extend(x509.load_pem_x509_certificates((base / relative).read_bytes()))
        except (OSError, ValueError):
            continue  # the launch names an unreadable root itself
    certifier = _certifier_certificate(ctx)
    if certifier is not None and any(certifier.issuer == root.subject for root in certificates):
        certificates.append(certifier)
    warnings: list[str] = []
    seen: set[str] = set()
    for cert in certificates:
        for kind, url in _revocation_services(cert):
            if url in seen or len(seen) >= MAX_SERVICES:
                continue
            seen.add(url)
            problem = _fetch_problem(kind, url)
            if problem:
                who = cert.subject.rfc4514_string()
                warnings.append(
                    f"signing.trust: the certificate {who} names the {kind} service {url}, which cannot be fetched "
                    f"from this server ({problem}): every signature by a certificate naming it would be refused for "
                    "missing revocation information; make it reachable from this server (for the demo PKI, whose "
                    "CRL travels with the round, write `trust: demo`)"
                )
    return warnings


def _certifier_certificate(ctx: Ctx) -> Any:
    from cryptography import x509

    from signing.errors import CovenantError
    from signing.signers import load_pkcs12

    p12, passphrase = certifier_paths(ctx)
    if not p12.is_file():
        return None
    try:
        cert = load_pkcs12(p12, passphrase).signing_cert
        return x509.load_der_x509_certificate(cert.dump()) if cert is not None else None
    except (CovenantError, ValueError, OSError):
        return None


def _revocation_services(cert: Any) -> list[tuple[str, str]]:
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

    services = []
    try:
        points = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
        for point in points:
            for name in point.full_name or []:
                if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith("http"):
                    services.append(("CRL", name.value))
    except x509.ExtensionNotFound:
        pass
    try:
        access = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
        for item in access:
            location = item.access_location
            if item.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
                location, x509.UniformResourceIdentifier
            ):
                services.append(("OCSP", location.value))
    except x509.ExtensionNotFound:
        pass
    return services


def _fetch_problem(kind: str, url: str) -> str | None:
    """Why the service cannot be used, or None. A CRL must download and parse; an OCSP responder must answer
    HTTP (a request for no particular certificate gets an OCSP error status, which is an answer)."""
    import httpx
    from cryptography import x509

    try:
        if kind == "CRL":
            reply = httpx.get(url, timeout=REVOCATION_FETCH_TIMEOUT, follow_redirects=True)
        else:
            reply = httpx.post(
                url, content=b"", headers={"content-type": "application/ocsp-request"}, timeout=REVOCATION_FETCH_TIMEOUT
            )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if kind == "CRL":
        if reply.status_code != 200:
            return f"HTTP {reply.status_code}"
        try:
            x509.load_der_x509_crl(reply.content)
        except ValueError:
            try:
                x509.load_pem_x509_crl(reply.content)
            except ValueError:
                return "the answer is not a CRL"
    elif reply.status_code >= 500 or reply.status_code == 404:
        return f"HTTP {reply.status_code}"
    return None
