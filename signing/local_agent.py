"""`covenant agent`: a local signing service on the leader's own machine that speaks the Government CA's VGCA Sign
Service protocol, so that the leader's web page can sign with the USB token in one click.

The protocol, as public e-government projects use it (VietOpenCPS, others): the page opens
`wss://127.0.0.1:8987/SignApproved`, sends one JSON text message (`FileName`: a URL to download the PDF from,
`FileUploadHandler`: a URL to post the signed PDF to, multipart field `uploadfile`; `SessionId`, `JWTToken`,
`MetaData: [{Key, Value}]`) and receives one JSON answer (`Status` 0 when signed, else a `Message`).

What this agent adds to the protocol, because a service any page can drive is a known hole in such tools:
- it listens on 127.0.0.1 only, over TLS (`make_certificate`: a certificate for 127.0.0.1 the browser is told to
  trust once);
- it answers only the origins it was paired with (`covenant agent pair URL`); a page from another origin gets a
  refusal and nothing else; the download and upload URLs must belong to the same origin as the page;
- before anything is signed it shows, on a page of its own (https://127.0.0.1:8987/confirm/<id>, opened in the
  browser), the document, the field, the signer and the requesting site, and asks there for the token's PIN (or the
  PKCS#12 passphrase): the PIN and the key never reach the covenant page, which only learns the outcome.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import ipaddress
import json
import secrets
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from signing.errors import CovenantError
from signing.keys import KeySource

CONFIRM_TIMEOUT = 300  # seconds the leader has to confirm on the agent's page
MAX_PDF = 50 * 1024 * 1024


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def make_certificate(folder: Path, days: int = 825) -> tuple[Path, Path]:
    """A self-signed TLS certificate for 127.0.0.1 and localhost (`agent.pem`, `agent.key` in `folder`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "covenant agent (127.0.0.1)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "agent.pem", folder / "agent.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Request:
    """One signing request from a paired page, waiting for the leader on the agent's confirmation page."""

    id: str
    origin: str
    download: str
    upload: str
    meta: dict[str, str]
    answer: asyncio.Future[dict[str, Any]]
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))


@dataclass
class LocalAgent:
    """The service. `key_for(secret)` gives the key source once the leader has typed the PIN (or passphrase)."""

    origins: set[str]
    key_for: Callable[[str], KeySource]
    key_label: str  # what the confirmation page says of the key (token and key label, or the PKCS#12 file)
    port: int = 8987
    open_browser: bool = True
    announce: Callable[[str], None] = print
    pending: dict[str, Request] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.add_routes(
            [
                web.get("/", self.home),
                web.get("/SignApproved", self.sign_approved),
                web.get("/confirm/{id}", self.confirm_page),
                web.post("/confirm/{id}", self.confirm),
            ]
        )
        return app

    # -- the page's side -------------------------------------------------------------------------------------

    async def sign_approved(self, request: web.Request) -> web.StreamResponse:
        origin = (request.headers.get("Origin") or "").lower()
        socket = web.WebSocketResponse(max_msg_size=64 * 1024)
        await socket.prepare(request)
        if origin not in self.origins:
            self.announce(f"refused a request from {origin or 'a page without an origin'} (not paired)")
            await socket.send_str(_answer(403, f"Trang {origin or '(không rõ)'} chưa được ghép với dịch vụ ký số."))
            await socket.close()
            return socket
        try:
            message = await socket.receive_str(timeout=30)
            signing = self._request(origin, message)
        except (TimeoutError, ValueError, TypeError) as exc:
            await socket.send_str(_answer(400, f"Yêu cầu ký không hợp lệ: {exc}"))
            await socket.close()
            return socket
        self.pending[signing.id] = signing
        url = f"{self.base}/confirm/{signing.id}"
        self.announce(f"confirm: {url}")
        if self.open_browser:
            webbrowser.open(url)
        try:
            answer = await asyncio.wait_for(asyncio.shield(signing.answer), CONFIRM_TIMEOUT)
        except TimeoutError:
            answer = json.loads(_answer(408, "Hết thời gian chờ xác nhận trên máy; hãy bấm ký lại."))
        finally:
            self.pending.pop(signing.id, None)
        if not socket.closed:
            await socket.send_str(json.dumps(answer, ensure_ascii=False))
            await socket.close()
        return socket

    def _request(self, origin: str, message: str) -> Request:
        body = json.loads(message)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        download, upload = str(body.get("FileName") or ""), str(body.get("FileUploadHandler") or "")
        for what, url in (("FileName", download), ("FileUploadHandler", upload)):
            if origin_of(url) != origin:  # the page may not send the file (or the PIN's work) anywhere else
                raise ValueError(f"{what} is not on {origin}")
        meta = {str(m.get("Key")): str(m.get("Value") or "") for m in body.get("MetaData") or [] if isinstance(m, dict)}
        if not meta.get("field"):
            raise ValueError("MetaData names no signature field")
        loop = asyncio.get_running_loop()
        return Request(secrets.token_urlsafe(18), origin, download, upload, meta, loop.create_future())

    # -- the leader's side -----------------------------------------------------------------------------------

    async def home(self, _request: web.Request) -> web.Response:
        paired = "".join(f"<li>{html.escape(o)}</li>" for o in sorted(self.origins)) or "<li>(chưa có)</li>"
        return _page(
            "covenant agent",
            "<p>Dịch vụ ký số trên máy này đang chạy. Trình duyệt đã tin chứng thư của dịch vụ.</p>"
            f"<p>Các trang được phép yêu cầu ký:</p><ul>{paired}</ul>",
        )

    async def confirm_page(self, request: web.Request) -> web.Response:
        signing = self.pending.get(request.match_info["id"])
        if signing is None:
            return _page("Không có yêu cầu", "<p>Yêu cầu ký này không còn (đã xong hoặc đã hết hạn).</p>", 404)
        m = {k: html.escape(v) for k, v in signing.meta.items()}
        document = "Bản giao ước thi đua" if m.get("document") == "covenant" else "Biên bản hội nghị"
        return _page(
            "Xác nhận ký số",
            f"<dl><dt>Trang yêu cầu</dt><dd id='site'>{html.escape(signing.origin)}</dd>"
            f"<dt>Văn bản</dt><dd id='document'>{document} ({m.get('file_name', '')})</dd>"
            f"<dt>Ô ký</dt><dd id='field'>{m.get('field', '')}</dd>"
            f"<dt>Người ký</dt><dd id='signer'>{m.get('signer_name', '')}, {m.get('signer_title', '')}, "
            f"{m.get('unit_name', '')}</dd>"
            f"<dt>Khóa</dt><dd>{html.escape(self.key_label)}</dd></dl>"
            f"<form method='post'><input type='hidden' name='nonce' value='{signing.nonce}'>"
            "<label for='pin'>Mã PIN của token</label> <input type='password' id='pin' name='pin' autocomplete='off'>"
            " <button type='submit' name='choice' value='sign' id='sign'>Ký</button>"
            " <button type='submit' name='choice' value='refuse' id='refuse'>Không ký</button></form>",
        )

    async def confirm(self, request: web.Request) -> web.Response:
        signing = self.pending.get(request.match_info["id"])
        form = await request.post()
        if signing is None or signing.answer.done():
            return _page("Không có yêu cầu", "<p>Yêu cầu ký này không còn (đã xong hoặc đã hết hạn).</p>", 404)
        if request.headers.get("Origin", self.base).lower() != self.base or form.get("nonce") != signing.nonce:
            return _page("Từ chối", "<p>Chỉ trang xác nhận của dịch vụ mới được xác nhận yêu cầu ký.</p>", 403)
        if form.get("choice") != "sign":
            signing.answer.set_result(json.loads(_answer(1, "Đồng chí đã không đồng ý ký.")))
            return _page("Không ký", "<p>Đã hủy yêu cầu ký. Có thể đóng trang này.</p>")
        pin = str(form.get("pin") or "")
        try:
            answer = await self._sign(signing, pin)
        except CovenantError as exc:  # a wrong PIN, a missing token: the reason, for the leader and the page
            answer = json.loads(_answer(exc.exit_code, str(exc)))
        except Exception as exc:  # anything else: the page is answered all the same, the log has the details
            self.announce(f"signing failed: {type(exc).__name__}: {exc}")
            answer = json.loads(_answer(500, f"Dịch vụ ký số gặp lỗi: {type(exc).__name__}: {exc}"))
        signing.answer.set_result(answer)
        if answer.get("Status") == 0:
            return _page("Đã ký", "<p id='done'>Đã ký và gửi văn bản. Có thể đóng trang này và quay lại trang ký.</p>")
        return _page("Chưa ký được", f"<p id='failed'>{html.escape(str(answer.get('Message')))}</p>")

    async def _sign(self, signing: Request, pin: str) -> dict[str, Any]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            async with http.get(signing.download) as got:
                if got.status != 200:
                    return await _server_answer(got)
                if (got.content_length or 0) > MAX_PDF:
                    return json.loads(_answer(413, "Văn bản lớn hơn 50 MB."))
                pdf = await got.read()
            signed = await asyncio.get_running_loop().run_in_executor(None, self._sign_pdf, pdf, signing.meta, pin)
            form = aiohttp.FormData()
            form.add_field(
                "uploadfile",
                signed,
                filename=signing.meta.get("file_name") or "signed.pdf",
                content_type="application/pdf",
            )
            async with http.post(signing.upload, data=form) as sent:
                return await _server_answer(sent)

    def _sign_pdf(self, pdf: bytes, meta: dict[str, str], pin: str) -> bytes:
        from pyhanko.sign.timestamps import HTTPTimeStamper

        from signing.appearance import number_stamp, seal_stamp
        from signing.signers import sign_field

        timestamper = HTTPTimeStamper(meta["tsa_url"]) if meta.get("tsa_url") else None
        # as the Government CA's tool draws an issued document's number (SignIssued) or an organisation's seal
        # (this service has no seal image: the organisation's name and the time)
        kind = meta.get("stamp", "person")
        stamp = (
            number_stamp(meta["number"])
            if kind == "number" and meta.get("number")
            else seal_stamp(meta.get("unit_name", ""), dt.datetime.now(dt.UTC), None)
            if kind == "seal"
            else None
        )
        with self.key_for(pin).open() as signer:
            return sign_field(
                pdf,
                meta["field"],
                signer,
                signer_name=meta.get("signer_name", ""),
                title=meta.get("signer_title", ""),
                unit=meta.get("unit_name", ""),
                timestamper=timestamper,
                stamp=stamp,
            )


async def _server_answer(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The covenant server's answer as the page reads it (`Status` 0 when accepted, else its Vietnamese message)."""
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        body = None
    if isinstance(body, dict) and "Status" in body:
        return body
    message = body.get("message") if isinstance(body, dict) else None
    return json.loads(_answer(response.status, message or f"máy chủ trả lời {response.status}"))


def _answer(status: int, message: str) -> str:
    return json.dumps({"Status": status, "Message": message}, ensure_ascii=False)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f"<!doctype html><html lang='vi'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    headers = {
        "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=headers)


def run(agent: LocalAgent, cert: Path, key: Path) -> None:
    """Serve on 127.0.0.1 only, over TLS, until interrupted."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    agent.announce(f"covenant agent on {agent.base}, for {', '.join(sorted(agent.origins)) or 'no site yet'}")
    web.run_app(agent.app(), host="127.0.0.1", port=agent.port, ssl_context=context, print=None, shutdown_timeout=2)
