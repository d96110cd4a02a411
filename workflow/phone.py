"""Remote signing approved on the leader's phone, driven by the server (issue 16 §2): the leader picks the provider
(VNPT SmartCA, Viettel MySign) and gives their user id there once; the server fetches their certificate, checks it is
the slot's signer's and still valid, prepares the revision (signing/remote.py), sends the hash of its signed
attributes, and the page polls: each poll asks the provider once (no request waits), and when the signature comes
back it is embedded, timestamped and judged by the same acceptance rule as every signature. A refusal on the phone, an
expiry, a wrong or expired certificate: each a clear refusal, the slot left as it was.

The provider's credentials are settings (never on a page); what the flow keeps between polls is in the link's
`pending` (the prepared revision, and the provider's request id), so any server process can answer the next poll.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy.orm import Session

from signing.errors import ProviderError
from signing.providers import MySignProvider, PollingProvider, SmartCAProvider
from signing.validation import Pin, identity_problem
from workflow.config import Settings
from workflow.context import Ctx
from workflow.errors import LinkError
from workflow.links import Accept, finish_remote, link_info, open_link, prepare_remote
from workflow.storage import SignerAccountRow, SlotRow, utcnow

PROVIDER_NAMES = {"smartca": "VNPT SmartCA", "mysign": "Viettel MySign"}
T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def configured(settings: Settings) -> dict[str, str]:
    """The providers this server can use (their credentials are set), key → name shown on the page."""
    found = {}
    if settings.smartca_url and settings.smartca_sp_id:
        found["smartca"] = PROVIDER_NAMES["smartca"]
    if settings.mysign_url and settings.mysign_client_id:
        found["mysign"] = PROVIDER_NAMES["mysign"]
    return found


def provider_for(settings: Settings, key: str, user_id: str, description: str) -> PollingProvider:
    if key not in configured(settings):
        raise LinkError(
            "rejected", f"remote signing through {key!r} is not set up on this server", code="remote.provider"
        )
    if key == "smartca":
        assert settings.smartca_url is not None
        return SmartCAProvider(
            settings.smartca_url, settings.smartca_sp_id, settings.smartca_sp_password, user_id, description
        )
    assert settings.mysign_url is not None
    return MySignProvider(
        settings.mysign_url,
        settings.mysign_client_id,
        settings.mysign_client_secret,
        settings.mysign_profile_id,
        user_id,
        description,
    )


def accounts_of(s: Session, slot: SlotRow) -> dict[str, str]:
    """The provider user ids kept for this slot's signer (provider key → user id)."""
    rows = s.query(SignerAccountRow).filter_by(unit_id=slot.unit_id, signer_name=slot.signer_name)
    return {row.provider: row.user_id for row in rows}


def _check_certificate(cert: asn1_x509.Certificate, pin: Pin, signer_name: str, provider: str) -> None:
    now = dt.datetime.now(dt.UTC)
    validity = cert["tbs_certificate"]["validity"]
    if not validity["not_before"].native <= now <= validity["not_after"].native:
        raise LinkError(
            "rejected",
            f"the certificate {provider} holds for this user id is not valid now (valid "
            f"{validity['not_before'].native:%Y-%m-%d} to {validity['not_after'].native:%Y-%m-%d})",
            code="remote.certificate_expired",
        )
    problem = identity_problem(cert, pin, signer_name)
    if problem is not None:
        raise LinkError("rejected", f"{provider}: {problem}", code="remote.wrong_signer")


def start(ctx: Ctx, token: str, provider_key: str, user_id: str) -> dict[str, Any]:
    """Ask the provider for the signature; the leader approves on the phone. Returns what the page shows."""
    user_id = user_id.strip()
    if not user_id or len(user_id) > 100:
        raise LinkError("rejected", "give the user id you have at the remote-signing provider", code="remote.user")
    with ctx.session() as s:
        slot = open_link(s, token).slot
        pin = Pin(sha256=slot.pin_sha256, identity=slot.pin_identity, cn=slot.pin_cn)
        signer_name, unit_id = slot.signer_name, slot.unit_id
        description = f"{slot.document.round.cluster} {slot.document.round.year}: {slot.document.file_name}"
    provider = provider_for(ctx.settings, provider_key, user_id, description)
    try:
        cert, chain = _run(provider.certificates())
    except ProviderError as exc:
        raise LinkError.wrapping("rejected", exc) from None
    _check_certificate(cert, pin, signer_name, provider.name)
    attrs = prepare_remote(ctx, token, cert.dump())
    mechanism = algos.SignedDigestAlgorithmId("sha256_rsa").dotted
    try:
        request_id = _run(provider.request(hashlib.sha256(attrs).digest(), "sha256", mechanism))
    except ProviderError as exc:
        _forget(ctx, token)
        raise LinkError.wrapping("rejected", exc) from None
    deadline = utcnow() + dt.timedelta(seconds=ctx.settings.remote_timeout)
    with ctx.session() as s:
        link = open_link(s, token)
        link.pending = {
            **(link.pending or {}),
            "phone": {
                "provider": provider_key,
                "user_id": user_id,
                "request": request_id,
                "deadline": deadline.isoformat(),
                "chain": [base64.b64encode(c.dump()).decode("ascii") for c in chain],
            },
        }
        account = (
            s.query(SignerAccountRow)
            .filter_by(unit_id=unit_id, signer_name=signer_name, provider=provider_key)
            .one_or_none()
        )
        if account is None:
            s.add(SignerAccountRow(unit_id=unit_id, signer_name=signer_name, provider=provider_key, user_id=user_id))
        else:
            account.user_id, account.updated_at = user_id, utcnow()
    return {
        "state": "waiting",
        "provider": provider.name,
        "seconds_left": ctx.settings.remote_timeout,
        "document": description,
    }


def _forget(ctx: Ctx, token: str) -> None:
    with ctx.session() as s:
        open_link(s, token).pending = None


def poll(ctx: Ctx, token: str, accept: Accept) -> dict[str, Any]:
    """Ask the provider once whether the leader has approved; embed and accept the signature when they have."""
    with ctx.session() as s:
        link = open_link(s, token)
        pending = dict(link.pending or {})
    phone = pending.get("phone")
    if not isinstance(phone, dict):
        raise LinkError("stale", "no remote signature is waiting for this link: start again", code="remote.none")
    deadline = dt.datetime.fromisoformat(str(phone["deadline"]))
    if utcnow() > deadline:
        _forget(ctx, token)
        raise LinkError("gone", "the approval on the phone did not come in time: start again", code="remote.timeout")
    provider = provider_for(ctx.settings, str(phone["provider"]), str(phone["user_id"]), "")
    try:
        signature = _run(provider.poll(str(phone["request"])))
    except ProviderError as exc:
        _forget(ctx, token)
        raise LinkError.wrapping("gone" if exc.code == "remote.timeout" else "rejected", exc) from None
    if signature is None:
        return {
            "state": "waiting",
            "provider": provider.name,
            "seconds_left": int((deadline - utcnow()).total_seconds()),
        }
    cert = asn1_x509.Certificate.load(base64.b64decode(str(pending["certificate"])))
    chain = [asn1_x509.Certificate.load(base64.b64decode(c)) for c in phone.get("chain", [])]
    external = signers.ExternalSigner(
        cert,
        SimpleCertificateStore.from_certs([cert, *chain]),
        signature_value=signature,
        signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}),
    )
    attrs = cms.CMSAttributes.load(base64.b64decode(str(pending["signed_attrs"])))
    content = _run(external.async_sign_prescribed_attributes("sha256", signed_attrs=attrs))
    receipt = finish_remote(ctx, token, content.dump(), accept)
    return {"state": "signed", **receipt, **link_info(ctx, token)}
