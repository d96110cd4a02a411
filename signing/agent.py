"""The signing agent: the leader's side of remote signing (`covenant sign --link`, `covenant decline --link`).

It talks to a covenant server's link API over HTTP: sends the signer's certificate, signs the CMS signed
attributes the server returns with the key where it lives (file, token, cloud service), sends back only the CMS.
When another leader signed the same document in between, the server answers `link.stale` and the agent starts
again by itself. Nothing here knows of the server's database: only its published JSON API.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from pyhanko.sign import signers

from signing.errors import RemoteSigningError, ServerRefused
from signing.remote import sign_attributes

ATTEMPTS = 40  # leaders signing the same document at once take turns


@dataclass(frozen=True)
class Link:
    """A personal link, https://host/…/l/TOKEN, and the API behind it."""

    prefix: str
    token: str

    @classmethod
    def parse(cls, url: str) -> Link:
        """The one parser of personal links (sign and decline alike): http(s), a host, /l/ then the token."""
        prefix, sep, token = url.strip().rstrip("/").rpartition("/l/")
        parts = urlsplit(prefix)
        if not sep or not token or "/" in token or parts.scheme not in ("http", "https") or not parts.netloc:
            raise RemoteSigningError(f"{url}: not a covenant link (expected https://…/l/TOKEN)", code="signer.link")
        return cls(prefix, token)

    @property
    def api(self) -> str:
        return f"{self.prefix}/api/links/{self.token}"


@dataclass(frozen=True)
class Receipt:
    field: str
    document: str
    signer_name: str
    unit_name: str
    round_status: str


class Agent:
    """The client side of a personal link; a context manager that closes its HTTP client (one given to it is the
    caller's to close)."""

    def __init__(self, link: Link, client: httpx.Client | None = None, timeout: float = 120) -> None:
        self.link = link
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=timeout)

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def _call(self, method: str, url: str, **kw: Any) -> Any:
        """The server's JSON answer; None when it says the document changed meanwhile (sign again)."""
        try:
            response = self.client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise RemoteSigningError(f"cannot reach {self.link.prefix}: {exc}", code="signer.unreachable") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text[:300]}
            code = body.get("error") if isinstance(body, dict) else None
            if code == "link.stale":
                return None
            detail = body.get("detail") if isinstance(body, dict) else None
            raise ServerRefused(f"the server refused: {detail}", code=code, http_status=response.status_code)
        return response.json()

    def sign(self, signer: signers.Signer, pause: Callable[[float], None] = time.sleep) -> Receipt:
        if signer.signing_cert is None:
            raise RemoteSigningError("the key source gave no certificate", code="signer.key")
        certificate = base64.b64encode(signer.signing_cert.dump()).decode("ascii")
        info = self._call("GET", self.link.api)
        for attempt in range(ATTEMPTS):
            if attempt:
                pause(random.uniform(0.1, 0.5 + 0.1 * attempt))
            prepared = self._call("POST", f"{self.link.api}/prepare", json={"certificate": certificate})
            if prepared is None:
                continue
            cms = sign_attributes(signer, base64.b64decode(prepared["signed_attributes"]))
            receipt = self._call("POST", f"{self.link.api}/finish", json={"cms": base64.b64encode(cms).decode("ascii")})
            if receipt is not None:
                return Receipt(
                    receipt["field"],
                    receipt["document"],
                    info["signer_name"],
                    info["unit_name"],
                    receipt["round_status"],
                )
        raise ServerRefused(
            "the document kept changing while signing (other leaders signing at the same time): try again",
            code="link.stale",
            http_status=409,
        )

    def decline(self, reason: str) -> None:
        self._call("POST", f"{self.link.api}/decline", json={"reason": reason})
