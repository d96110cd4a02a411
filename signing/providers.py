"""Remote signing services: the leader's key lives with a provider that signs hashes after the leader approves.

Vietnamese providers work asynchronously: the hash is sent, the leader approves on a phone, the result is polled
for. One adapter interface covers them (`PollingProvider`: certificates, request, poll); `ProviderSigner` turns any
such provider into a pyHanko Signer, so it plugs into the same deferred flow as a key file or a token (prepare on
the server, sign the attributes, send back the CMS). `CSCProvider` is the adapter for services that speak the
Cloud Signature Consortium API, built on pyHanko's CSC client pieces (session info, credential info, the
authorisation request); a service that answers `credentials/authorize` with 202 while the leader has not yet
approved is polled until it hands out the signature activation data (SAD).
"""

from __future__ import annotations

import abc
import asyncio
import base64
import hashlib
import time

import aiohttp
from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from pyhanko.sign import signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCCredentialInfo,
    CSCServiceSessionInfo,
    fetch_certs_in_csc_credential,
)
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.errors import ProviderError


class PollingProvider(abc.ABC):
    """An asynchronous hash-signing service."""

    name = "provider"

    @abc.abstractmethod
    async def certificates(self) -> tuple[asn1_x509.Certificate, list[asn1_x509.Certificate]]:
        """The leader's certificate and its chain, as the provider holds them."""

    @abc.abstractmethod
    async def request(self, digest: bytes, digest_algorithm: str, signature_algorithm: str) -> str:
        """Ask for a signature over `digest`; the leader is asked to approve. Returns the request's id."""

    @abc.abstractmethod
    async def poll(self, request_id: str) -> bytes | None:
        """The raw signature once approved, None while waiting; ProviderError when declined or failed."""


class ProviderSigner(signers.Signer):
    """A pyHanko Signer whose private-key operation is a provider's request, approved elsewhere, polled for."""

    def __init__(
        self,
        provider: PollingProvider,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
        timeout: float = 300,
        interval: float = 1.0,
    ) -> None:
        super().__init__(
            signing_cert=certificate, cert_registry=SimpleCertificateStore.from_certs([certificate, *chain])
        )
        self.provider = provider
        self.timeout = timeout
        self.interval = interval

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return bytes(512)
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)["algorithm"].dotted
        digest = hashlib.new(digest_algorithm, data).digest()
        request_id = await self.provider.request(digest, digest_algorithm, mechanism)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            signature = await self.provider.poll(request_id)
            if signature is not None:
                return signature
            await asyncio.sleep(self.interval)
        raise ProviderError(f"{self.provider.name}: the signature was not approved within {self.timeout:.0f} s")


def open_provider_signer(provider: PollingProvider, timeout: float = 300, interval: float = 1.0) -> ProviderSigner:
    certificate, chain = asyncio.run(provider.certificates())
    return ProviderSigner(provider, certificate, chain, timeout=timeout, interval=interval)


class _AuthRequests(CSCAuthorizationManager):
    """pyHanko's formatting and parsing of `credentials/authorize`, without its SAD life cycle (we poll)."""

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        raise NotImplementedError


class CSCProvider(PollingProvider):
    """A Cloud Signature Consortium (CSC API v1) service holding the leader's credential."""

    name = "CSC service"

    def __init__(self, service_url: str, credential_id: str, oauth_token: str | None, timeout: float = 30) -> None:
        self.session_info = CSCServiceSessionInfo(service_url.rstrip("/"), credential_id, oauth_token=oauth_token)
        self.http_timeout = aiohttp.ClientTimeout(total=timeout)
        self.credential: CSCCredentialInfo | None = None
        self._pending: dict[str, dict[str, object]] = {}

    async def _post(self, endpoint: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        url = self.session_info.endpoint_url(endpoint)
        try:
            async with (
                aiohttp.ClientSession(timeout=self.http_timeout) as session,
                session.post(url, json=body, headers=self.session_info.auth_headers) as response,
            ):
                data = await response.json(content_type=None)
                return response.status, data if isinstance(data, dict) else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(f"{self.name} at {url}: {exc}") from None

    async def certificates(self) -> tuple[asn1_x509.Certificate, list[asn1_x509.Certificate]]:
        try:
            async with aiohttp.ClientSession() as session:
                self.credential = await fetch_certs_in_csc_credential(session, self.session_info)
        except SigningError as exc:
            raise ProviderError(f"{self.name}: {exc} ({exc.__cause__ or ''})") from None
        return self.credential.signing_cert, list(self.credential.chain)

    async def request(self, digest: bytes, digest_algorithm: str, signature_algorithm: str) -> str:
        assert self.credential is not None, "certificates() first"
        b64 = base64.b64encode(digest).decode("ascii")
        auth = _AuthRequests(self.session_info, self.credential)
        body = auth.format_csc_auth_request(hash_b64s=[b64], description="Ký số văn bản giao ước thi đua")
        request_id = hashlib.sha256(digest).hexdigest()
        self._pending[request_id] = {
            "authorize": body,
            "hash": b64,
            "hashAlgo": algos.DigestAlgorithmId(digest_algorithm).dotted,
            "signAlgo": signature_algorithm,
            "sad": None,
        }
        await self._authorize(request_id)
        return request_id

    async def _authorize(self, request_id: str) -> None:
        pending = self._pending[request_id]
        authorize = pending["authorize"]
        assert isinstance(authorize, dict)  # the request body built by sign_hash
        status, data = await self._post("credentials/authorize", authorize)
        if status == 202:
            return  # the leader has not approved yet
        if status != 200:
            raise ProviderError(f"{self.name}: authorisation refused ({status}): {data.get('error_description', data)}")
        pending["sad"] = _AuthRequests.parse_csc_auth_response(data).sad

    async def poll(self, request_id: str) -> bytes | None:
        pending = self._pending[request_id]
        if pending["sad"] is None:
            await self._authorize(request_id)
            if pending["sad"] is None:
                return None
        status, data = await self._post(
            "signatures/signHash",
            {
                "credentialID": self.session_info.credential_id,
                "SAD": pending["sad"],
                "hash": [pending["hash"]],
                "hashAlgo": pending["hashAlgo"],
                "signAlgo": pending["signAlgo"],
            },
        )
        if status != 200:
            raise ProviderError(f"{self.name}: signHash refused ({status}): {data.get('error_description', data)}")
        try:
            signatures = data["signatures"]
            if not isinstance(signatures, list):
                raise TypeError
            return base64.b64decode(signatures[0])
        except (KeyError, IndexError, TypeError, ValueError):
            raise ProviderError(f"{self.name}: signHash gave no signature") from None
