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
import secrets
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


def _b64_certificate(value: object, who: str) -> asn1_x509.Certificate:
    try:
        cert = asn1_x509.Certificate.load(base64.b64decode(str(value)))
        cert.native  # noqa: B018 - parses it all now
    except (ValueError, TypeError) as exc:
        raise ProviderError(f"{who}: the certificate it gave is not an X.509 certificate ({exc})") from None
    return cert


class _JsonProvider(PollingProvider):
    """A provider spoken to in JSON over HTTPS, statelessly: `poll` needs nothing but the request id, so the
    server may build a new adapter for every step (each step of the page's flow is its own web request)."""

    def __init__(self, base_url: str, user_id: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self.http_timeout = aiohttp.ClientTimeout(total=timeout)

    async def _post(self, path: str, body: dict[str, object], token: str | None = None) -> tuple[int, object]:
        url = f"{self.base_url}/{path}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with (
                aiohttp.ClientSession(timeout=self.http_timeout) as session,
                session.post(url, json=body, headers=headers) as response,
            ):
                return response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(f"{self.name} at {url} does not answer: {exc}") from None


class SmartCAProvider(_JsonProvider):
    """VNPT SmartCA (the "SP 769" integration): `v1/credentials/get_certificate`, `v1/signatures/sign` with
    `sign_type: hash` (the leader sees `transaction_desc` and `doc_id` in the SmartCA app and approves), then
    `v1/signatures/sign/{transaction_id}/status` until `signatures[].signature_value` comes back, or a refusal
    or expiry is reported. The service provider's `sp_id`/`sp_password` are settings; `user_id` is the leader's."""

    name = "VNPT SmartCA"

    def __init__(self, base_url: str, sp_id: str, sp_password: str, user_id: str, description: str = "") -> None:
        super().__init__(base_url, user_id)
        self.sp = {"sp_id": sp_id, "sp_password": sp_password}
        self.description = description or "Ký số văn bản"
        self.serial_number = ""

    def _body(self, status: int, body: object) -> dict[str, object]:
        if not isinstance(body, dict):
            raise ProviderError(f"{self.name} answered {status} without a JSON object")
        code = body.get("status_code", status)
        if code != 200:
            raise ProviderError(f"{self.name} refused ({code}): {body.get('message') or body}")
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    async def certificates(self) -> tuple[asn1_x509.Certificate, list[asn1_x509.Certificate]]:
        status, body = await self._post(
            "v1/credentials/get_certificate",
            {**self.sp, "user_id": self.user_id, "serial_number": "", "transaction_id": secrets.token_hex(16)},
        )
        certificates = self._body(status, body).get("user_certificates")
        if not isinstance(certificates, list) or not certificates or not isinstance(certificates[0], dict):
            raise ProviderError(f"{self.name}: user {self.user_id} has no certificate", code="remote.no_certificate")
        first = certificates[0]
        self.serial_number = str(first.get("serial_number") or "")
        chain = first.get("chain_data") or first.get("cert_chain") or []
        extra = [_b64_certificate(c, self.name) for c in chain] if isinstance(chain, list) else []
        return _b64_certificate(first.get("cert_data"), self.name), extra

    async def request(self, digest: bytes, digest_algorithm: str, signature_algorithm: str) -> str:
        transaction = secrets.token_hex(16)
        status, body = await self._post(
            "v1/signatures/sign",
            {
                **self.sp,
                "user_id": self.user_id,
                "serial_number": self.serial_number,
                "transaction_id": transaction,
                "transaction_desc": self.description,
                "time_stamp": time.strftime("%Y%m%d%H%M%S", time.gmtime()),
                "sign_files": [
                    {
                        "doc_id": self.description[:100],
                        "file_type": "pdf",
                        "sign_type": "hash",
                        "data_to_be_signed": digest.hex(),
                    }
                ],
            },
        )
        data = self._body(status, body)
        return str(data.get("transaction_id") or transaction)

    async def poll(self, request_id: str) -> bytes | None:
        status, body = await self._post(f"v1/signatures/sign/{request_id}/status", {**self.sp})
        if not isinstance(body, dict):
            raise ProviderError(f"{self.name} answered {status} without a JSON object")
        message = str(body.get("message") or "").upper()
        if "REJECT" in message or "DENIED" in message or "CANCEL" in message:
            raise ProviderError(f"{self.name}: the leader refused on the phone", code="remote.refused")
        if "EXPIRE" in message or "TIMEOUT" in message:
            raise ProviderError(f"{self.name}: the request expired before it was approved", code="remote.timeout")
        data = self._body(status, body)
        signatures = data.get("signatures")
        for signature in signatures if isinstance(signatures, list) else []:
            if isinstance(signature, dict) and signature.get("signature_value"):
                return base64.b64decode(str(signature["signature_value"]))
        return None


MYSIGN_WAITING, MYSIGN_EXPIRED, MYSIGN_REJECTED = 4000, 4001, 4002
OID_SHA256, OID_RSA = "2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.1"


class MySignProvider(_JsonProvider):
    """Viettel MySign (remote signing, "RAS"): `ras/v1/login` gives an access token for the leader (`user_id`),
    `certificates/info` the credential and its chain, `signHash` with `async` starts the request the leader
    approves in the MySign app, `requests/status` answers 4000 while waiting, 4001 when it expired, 4002 when the
    leader refused, and the signatures once approved. Client id, secret and profile are settings."""

    name = "Viettel MySign"

    def __init__(
        self, base_url: str, client_id: str, client_secret: str, profile_id: str, user_id: str, description: str = ""
    ) -> None:
        super().__init__(base_url, user_id)
        self.client = {"client_id": client_id, "client_secret": client_secret}
        self.profile_id = profile_id
        self.description = description or "Ký số văn bản"
        self.credential_id = ""

    async def _login(self) -> str:
        status, body = await self._post(
            "vtss/service/ras/v1/login", {**self.client, "user_id": self.user_id, "profile_id": self.profile_id}
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if status != 200 or not token:
            reason = body.get("error_description") if isinstance(body, dict) else body
            raise ProviderError(f"{self.name}: cannot log in user {self.user_id} ({status}): {reason}")
        return str(token)

    async def certificates(self) -> tuple[asn1_x509.Certificate, list[asn1_x509.Certificate]]:
        token = await self._login()
        status, body = await self._post(
            "vtss/service/certificates/info",
            {
                **self.client,
                "profile_id": self.profile_id,
                "user_id": self.user_id,
                "certificates": "chain",
                "certInfo": True,
                "authInfo": True,
            },
            token,
        )
        if status != 200 or not isinstance(body, list) or not body or not isinstance(body[0], dict):
            raise ProviderError(f"{self.name}: user {self.user_id} has no certificate", code="remote.no_certificate")
        first = body[0]
        self.credential_id = str(first.get("credential_id") or "")
        cert = first.get("cert")
        listed = cert.get("certificates") if isinstance(cert, dict) else [cert]
        if not isinstance(listed, list) or not listed:
            raise ProviderError(f"{self.name}: the credential of {self.user_id} holds no certificate")
        chain = [_b64_certificate(c, self.name) for c in listed]
        return chain[0], chain[1:]

    async def request(self, digest: bytes, digest_algorithm: str, signature_algorithm: str) -> str:
        token = await self._login()
        if not self.credential_id:
            await self.certificates()
        status, body = await self._post(
            "vtss/service/signHash",
            {
                **self.client,
                "credentialID": self.credential_id,
                "numSignatures": 1,
                "documents": [{"document_id": self.description[:100], "document_name": self.description}],
                "hash": [base64.b64encode(digest).decode("ascii")],
                "hashAlgo": OID_SHA256,
                "signAlgo": OID_RSA,
                "async": 1,
            },
            token,
        )
        transaction = body.get("transactionId") if isinstance(body, dict) else None
        if status != 200 or not transaction:
            raise ProviderError(f"{self.name}: signHash refused ({status}): {body}")
        return str(transaction)

    async def poll(self, request_id: str) -> bytes | None:
        token = await self._login()
        status, body = await self._post("vtss/service/requests/status", {"transactionId": request_id}, token)
        if not isinstance(body, dict):
            raise ProviderError(f"{self.name} answered {status} without a JSON object")
        code = body.get("status")
        if code == MYSIGN_WAITING:
            return None
        if code == MYSIGN_REJECTED:
            raise ProviderError(f"{self.name}: the leader refused on the phone", code="remote.refused")
        if code == MYSIGN_EXPIRED:
            raise ProviderError(f"{self.name}: the request expired before it was approved", code="remote.timeout")
        signatures = body.get("signatures")
        if isinstance(signatures, list) and signatures:
            return base64.b64decode(str(signatures[0]))
        raise ProviderError(f"{self.name}: unexpected status {code}: {body.get('message') or body}")
