"""The addresses a local signing service calls (the Government CA's VGCA Sign Service, `covenant agent`):
`GET /h/{token}` gives the revision to sign, `POST /h/{token}` (multipart field `uploadfile`, as the VGCA
service posts it) takes it back signed; each token is one-time, short-lived, scoped to one slot and one revision
(workflow/handoffs.py). `POST /tsa` is the demo PKI's RFC 3161 time-stamping authority, when this data folder has
one, so that a local signer can timestamp its signature as the round asks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from signing.errors import CovenantError
from workflow import handoffs
from workflow.context import Ctx
from workflow.errors import LinkError
from workflow.texts import vietnamese_message
from workflow.webapp.leader import MAX_UPLOAD, accept_via_task, count_guess, refuse_guessers
from workflow.webapp.security import RateLimit, client, guard

TSA_CALLS = RateLimit("demo-tsa", limit=60, window=60)  # per client and minute


def vgca_answer(exc: CovenantError | None, status: int = 200, **fields: Any) -> JSONResponse:
    """The upload handler's answer as VGCA-style services read it (`Status`, `Message`, `FileName`, `FileServer`),
    with our own error code beside it."""
    if exc is None:
        return JSONResponse({"Status": 0, "Message": "", **fields}, status_code=status)
    body = {"Status": exc.http_status, "Message": vietnamese_message(exc), "error": exc.code, "detail": str(exc)}
    return JSONResponse(body, status_code=exc.http_status)


def router(ctx: Ctx) -> APIRouter:
    api = APIRouter(dependencies=[Depends(guard(refuse_guessers))], tags=["local signing service"])

    @api.get("/h/{token}")
    def download(token: str, request: Request) -> Response:
        """The revision to sign, once (the VGCA request's `FileName`)."""
        try:
            name, pdf = handoffs.download(ctx, token)
        except LinkError as exc:
            count_guess(request, exc)
            raise
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    @api.post("/h/{token}")
    async def upload(token: str, request: Request, uploadfile: UploadFile) -> JSONResponse:
        """The signed revision, once (the VGCA request's `FileUploadHandler`; multipart field `uploadfile`). It is
        accepted only as every signature is: the revision downloaded plus exactly this slot's signature."""
        data = await uploadfile.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD or not data.startswith(b"%PDF-"):
            refusal = LinkError("rejected", "the upload is not a PDF of at most 50 MB", code="handoff.not_pdf")
            return vgca_answer(refusal)
        try:
            slot_id, status = await run_in_threadpool(handoffs.upload, ctx, token, data, accept_via_task)
        except LinkError as exc:
            count_guess(request, exc)
            return vgca_answer(exc)
        except CovenantError as exc:  # refused by the acceptance rule: the reason, in both languages
            return vgca_answer(exc)
        return vgca_answer(None, FileName=uploadfile.filename or "", FileServer="", round_status=status, slot=slot_id)

    return api


def tsa_router(ctx: Ctx) -> APIRouter:
    api = APIRouter(tags=["local signing service"])

    @api.post("/tsa", include_in_schema=True)
    async def timestamp(request: Request) -> Response:
        """RFC 3161 over HTTP with the demo PKI's TSA (404 where this data folder has none)."""
        from workflow.errors import NotFound

        pki = ctx.settings.pki_dir
        if not (pki / "tsa.key").is_file():
            raise NotFound("this server has no demo time-stamping authority")
        TSA_CALLS.check(f"tsa:{client(request)}")
        from signing.ltv import demo_timestamper, tsa_reply
        from signing.pki import demo_roots
        from signing.validation import load_roots

        roots = load_roots(demo_roots(pki))
        reply = tsa_reply(demo_timestamper(pki, roots), (await request.body())[:8193])
        if reply is None:
            return Response(b"not a time-stamp query", status_code=400, media_type="text/plain")
        return Response(reply, media_type="application/timestamp-reply")

    return api
