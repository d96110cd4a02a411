"""HTTP face of covenant (`covenant serve`): the personal-link API the signing agent talks to, and the link page.

Endpoints are plain `def` functions: FastAPI runs them in its thread pool, where pyHanko may start its own event
loop (its synchronous API calls asyncio.run). Errors carry a JSON body {"error": kind, "detail": message}.
"""

from __future__ import annotations

import base64
import binascii
import html

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from workflow.links import LinkError, current_pdf, finish_remote, link_info, prepare_remote
from workflow.pipeline import Ctx
from workflow.routing import decline
from workflow.states import StateConflict

STATUS = {"unknown": 404, "gone": 410, "stale": 409, "conflict": 409, "rejected": 422}
MAX_CMS = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class PrepareRequest(BaseModel):
    certificate: str  # base64 DER of the signer's certificate


class PrepareResponse(BaseModel):
    signed_attributes: str  # base64 DER: what the signer's key signs (as a CMS)
    digest_algorithm: str


class DeclineRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class FinishRequest(BaseModel):
    cms: str  # base64 DER CMS SignedData over the signed attributes


def _b64(value: str, what: str, limit: int) -> bytes:
    if len(value) > limit * 4 // 3 + 4:
        raise LinkError("rejected", f"{what} is too large")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise LinkError("rejected", f"{what} is not base64") from None


def _accept(slot_id: int, revision: str, actor: str) -> str:
    from tasks.pipeline import accept_signature

    return str(accept_signature.delay(slot_id, revision, actor).get(timeout=300))


def create_app(ctx: Ctx) -> FastAPI:
    app = FastAPI(title="covenant", summary="Emulation-cluster covenants: personal links and remote signing")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(LinkError)
    async def link_error(_request: Request, exc: LinkError) -> JSONResponse:
        return JSONResponse({"error": exc.kind, "detail": str(exc)}, status_code=STATUS[exc.kind])

    @app.exception_handler(StateConflict)
    async def state_conflict(_request: Request, exc: StateConflict) -> JSONResponse:
        return JSONResponse({"error": "conflict", "detail": str(exc)}, status_code=409)

    @app.get("/api/links/{token}")
    def get_link(token: str) -> dict[str, object]:
        """Who signs what through this link, and who has signed the document so far."""
        return link_info(ctx, token)

    @app.get("/api/links/{token}/pdf")
    def get_pdf(token: str) -> Response:
        """The document as it stands (the revision the next signature will extend)."""
        name, data = current_pdf(ctx, token)
        return Response(
            data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
        )

    @app.post("/api/links/{token}/prepare")
    def prepare(token: str, body: PrepareRequest) -> PrepareResponse:
        """Prepare the slot's signature for this certificate; returns the attributes to sign."""
        attrs = prepare_remote(ctx, token, _b64(body.certificate, "the certificate", MAX_CMS))
        return PrepareResponse(signed_attributes=base64.b64encode(attrs).decode("ascii"), digest_algorithm="sha256")

    @app.post("/api/links/{token}/finish")
    def finish(token: str, body: FinishRequest) -> dict[str, object]:
        """Embed the signer's CMS, validate the new revision, and answer with the receipt."""
        return finish_remote(ctx, token, _b64(body.cms, "the CMS", MAX_CMS), _accept)

    @app.post("/api/links/{token}/decline")
    def decline_link(token: str, body: DeclineRequest) -> dict[str, object]:
        """Decline to sign, with a reason: the round pauses and the cluster's office is told."""
        return decline(ctx, token, body.reason)

    @app.get("/l/{token}", response_class=HTMLResponse)
    def link_page(token: str, request: Request) -> HTMLResponse:
        """The leader's page: what to sign, who has signed, and the agent command that signs it."""
        try:
            info = link_info(ctx, token)
        except LinkError as exc:
            return HTMLResponse(_page("Không mở được liên kết", f"<p>{html.escape(str(exc))}</p>"), STATUS[exc.kind])
        link = str(request.url)
        signed = "".join(f"<li>{html.escape(str(s['signer_name']))} — {html.escape(str(s['unit_name']))}</li>"
                         for s in info["signed"]) or "<li>Chưa có</li>"  # type: ignore[union-attr]  # fmt: skip
        body = (
            f"<p><b>{html.escape(str(info['signer_name']))}</b>, {html.escape(str(info['signer_title']))}, "
            f"{html.escape(str(info['unit_name']))}</p>"
            f"<p>Văn bản: {'Bản giao ước thi đua' if info['document'] == 'covenant' else 'Biên bản hội nghị'} — "
            f"{html.escape(str(info['cluster']))} năm {info['year']}. Hạn ký: {html.escape(str(info['deadline']))}</p>"
            f'<p><a href="/api/links/{html.escape(token)}/pdf">Tải văn bản (PDF)</a></p>'
            f"<h2>Đã ký</h2><ul>{signed}</ul>"
            "<h2>Ký bằng khóa của mình</h2><p>Trên máy có chứng thư số (tệp PKCS#12 hoặc USB token), chạy:</p>"
            f"<pre>covenant sign --link {html.escape(link)} --pkcs11-lib … --token-label … --key-label … "
            "--pin-file …</pre>"
        )
        return HTMLResponse(_page("Ký số văn bản", body))

    return app


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
