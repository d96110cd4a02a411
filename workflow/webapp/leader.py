"""The leader's side, reached from the e-mailed link: the page, its page images, upload, decline, and the JSON API
the signing agent (`covenant sign --link`) talks to. The link's token is the only credential."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from signing.errors import CovenantError
from workflow.context import Ctx
from workflow.errors import LinkError
from workflow.handoffs import public_tsa_url
from workflow.links import LinkView, current_pdf, finish_remote, link_info, prepare_remote, token_sha256
from workflow.pages import page_images
from workflow.phone import accounts_of, configured
from workflow.routing import DeclineResult, decline
from workflow.texts import TEXTS, vietnamese_message
from workflow.trust import tsa_source
from workflow.webapp.security import RateLimit, client, guard, link_csrf

MAX_CMS = 64 * 1024
MAX_UPLOAD = 50 * 1024 * 1024  # a signed covenant is a few MB; 50 MB leaves room and stops abuse
TOKEN_TRIES = RateLimit("token-tries", limit=20, window=60)  # unknown tokens per client and minute, on any route
LINK_CALLS = RateLimit("link-calls", limit=120, window=60)  # requests per link and minute


class PrepareRequest(BaseModel):
    certificate: str = Field(max_length=MAX_CMS * 2, description="base64 DER of the signer's certificate")


class PrepareResponse(BaseModel):
    signed_attributes: str  # base64 DER: what the signer's key signs (as a CMS)
    digest_algorithm: str


class FinishRequest(BaseModel):
    cms: str = Field(max_length=MAX_CMS * 2, description="base64 DER CMS SignedData over the signed attributes")


class PhoneRequest(BaseModel):
    provider: str = Field(pattern="^(smartca|mysign)$", description="smartca (VNPT SmartCA) or mysign (Viettel MySign)")
    user_id: str = Field(min_length=1, max_length=100, description="the leader's user id at that provider")


class DeclineRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise LinkError("rejected", f"{what} is not base64") from None


def accept_via_task(slot_id: int, revision: str, actor: str) -> str:
    """Acceptance judged in the request, what follows a signature (the next signer's turn, the archive) queued
    (tasks.pipeline.accept_now): no request waits on a task result."""
    from tasks.pipeline import accept_now

    return accept_now(slot_id, revision, actor)


def refuse_guessers(request: Request) -> None:
    """A client that has guessed too many unknown tokens (on any token route) is refused on all of them."""
    if TOKEN_TRIES.full(f"tries:{client(request)}"):
        raise HTTPException(429, "quá nhiều liên kết không đúng: thử lại sau ít phút", headers={"Retry-After": "60"})


def count_guess(request: Request, exc: LinkError) -> None:
    """An unknown token counts as a guess wherever it is tried."""
    if exc.kind == "unknown":
        TOKEN_TRIES.hit(f"tries:{client(request)}")


def _guard(ctx: Ctx, request: Request, token: str) -> None:
    """Every route that takes a token: a client that has guessed too many unknown tokens is refused on all of
    them; an unknown token counts as a guess wherever it is tried; calls per link are limited (hammering)."""
    from workflow.links import open_link

    refuse_guessers(request)
    try:
        with ctx.session() as s:
            open_link(s, token, to_read=True)
    except LinkError as exc:
        count_guess(request, exc)
        raise
    LINK_CALLS.check(f"link:{token_sha256(token)}")


def router(ctx: Ctx, render: Any, key: str) -> APIRouter:
    @guard
    def guarded(request: Request, token: str) -> None:
        _guard(ctx, request, token)

    # Every route of this router takes {token}: the guard is the router's own dependency, so a route cannot
    # forget it (an unknown token counts as a guess, a known one is limited per minute).
    api = APIRouter(dependencies=[Depends(guarded)])

    def refusal(request: Request, title: str, exc: CovenantError, back: str | None = None) -> HTMLResponse:
        return render(
            request,
            "message.html",
            {"title": title, "message": vietnamese_message(exc), "back": back},
            status=exc.http_status,
        )

    @api.get("/api/links/{token}", tags=["leader"])
    def get_link(token: str) -> LinkView:
        """Who signs what through this link, who has signed so far, and the receipt once signed."""
        return link_info(ctx, token)

    @api.get("/api/links/{token}/pdf", tags=["leader"])
    def get_pdf(token: str) -> Response:
        """The document as it stands (the revision the next signature will extend)."""
        name, data = current_pdf(ctx, token)
        return Response(
            data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
        )

    @api.post("/api/links/{token}/prepare", tags=["leader"])
    def prepare(token: str, body: PrepareRequest) -> PrepareResponse:
        """Prepare the slot's signature for this certificate; returns the attributes to sign."""
        attrs = prepare_remote(ctx, token, _b64(body.certificate, "the certificate"))
        return PrepareResponse(signed_attributes=base64.b64encode(attrs).decode("ascii"), digest_algorithm="sha256")

    @api.post("/api/links/{token}/finish", tags=["leader"])
    def finish(token: str, body: FinishRequest) -> dict[str, Any]:
        """Embed the signer's CMS, validate the new revision, and answer with the receipt."""
        return finish_remote(ctx, token, _b64(body.cms, "the CMS"), accept_via_task)

    @api.post("/api/links/{token}/handoff", tags=["leader"])
    def open_handoff(token: str) -> dict[str, Any]:
        """One-time download and upload addresses for the signing service on the leader's machine (VGCA Sign
        Service or `covenant agent`), scoped to this slot and the current revision, valid 10 minutes."""
        from workflow.handoffs import open_handoff

        return open_handoff(ctx, token).to_json()

    @api.post("/api/links/{token}/remote", tags=["leader"])
    def start_phone(token: str, body: PhoneRequest) -> dict[str, Any]:
        """Remote signing approved on the phone: the server fetches the leader's certificate from the provider,
        checks it, prepares the revision and sends the hash; the leader approves in the provider's app."""
        from workflow import phone

        return phone.start(ctx, token, body.provider, body.user_id)

    @api.get("/api/links/{token}/remote", tags=["leader"])
    def poll_phone(token: str) -> dict[str, Any]:
        """Whether the leader has approved yet (asks the provider once); the receipt once signed."""
        from workflow import phone

        return phone.poll(ctx, token, accept_via_task)

    @api.post("/api/links/{token}/decline", tags=["leader"])
    def decline_link(token: str, body: DeclineRequest) -> DeclineResult:
        """Decline to sign, with a reason: the round pauses and the cluster's office is told."""
        return decline(ctx, token, body.reason)

    @api.post("/api/links/{token}/upload", tags=["leader"])
    async def upload_api(token: str, file: UploadFile) -> dict[str, Any]:
        """A PDF signed in another tool: accepted only if it is the current revision plus exactly this slot's
        signature. 413 over 50 MB, 415 when it is not a PDF, 422 with the reason when refused."""
        data = await _read_pdf(file)
        return await run_in_threadpool(_accept_upload, ctx, token, data)

    @api.get("/l/{token}", response_class=HTMLResponse, include_in_schema=False)
    def page(token: str, request: Request) -> HTMLResponse:
        info, accounts, tsa_url = _page_state(ctx, token)
        current = info["current_sha256"]  # the revision the page was read at: no second read of the link
        pages = len(page_images(ctx, ctx.blobs.get(current))) if info["receipt"] is None and current else 0
        return render(
            request,
            "link.html",
            {
                "info": info,
                "texts": TEXTS,
                "token": token,
                "link": str(request.url),
                "pages": range(1, pages + 1),
                "csrf": link_csrf(key, token),
                "csc_url": ctx.settings.csc_url,  # a cloud signing service, where configured
                "phone_providers": configured(ctx.settings),
                "phone_accounts": accounts,
                "signing_service": ctx.settings.signing_service,
                "tsa_url": tsa_url,
                "site": ctx.settings.base_url,
            },
        )

    @api.get("/l/{token}/pages/{number}.png", include_in_schema=False)
    def page_image(token: str, number: int) -> FileResponse:
        images = _page_images(ctx, token)
        if not 1 <= number <= len(images):
            raise HTTPException(404, "không có trang này")
        return FileResponse(images[number - 1], media_type="image/png")

    @api.post("/l/{token}/upload", response_class=HTMLResponse, include_in_schema=False)
    async def upload_page(token: str, request: Request, file: UploadFile, csrf: str = Form("")) -> Response:
        _check_link_csrf(key, token, csrf)
        try:
            await run_in_threadpool(_accept_upload, ctx, token, await _read_pdf(file))
        except HTTPException as exc:
            return render(
                request,
                "message.html",
                {"title": "Không nhận được tệp", "message": exc.detail, "back": f"/l/{token}"},
                status=exc.status_code,
            )
        except CovenantError as exc:
            return refusal(request, "Chữ ký không được chấp nhận", exc, back=f"/l/{token}")
        return RedirectResponse(f"/l/{token}", status_code=303)

    @api.post("/l/{token}/decline", response_class=HTMLResponse, include_in_schema=False)
    def decline_page(token: str, request: Request, reason: str = Form(""), csrf: str = Form("")) -> Response:
        _check_link_csrf(key, token, csrf)
        try:
            decline(ctx, token, reason[:2000])
        except CovenantError as exc:
            return refusal(request, "Chưa ghi nhận", exc, back=f"/l/{token}")
        return render(
            request,
            "message.html",
            {
                "title": "Đã ghi nhận việc từ chối ký",
                "message": "Văn phòng Cụm đã được thông báo kèm lý do của đồng chí.",
            },
        )

    return api


def _check_link_csrf(key: str, token: str, sent: str) -> None:
    import hmac

    if not hmac.compare_digest(link_csrf(key, token), sent or ""):
        raise HTTPException(403, "biểu mẫu không hợp lệ: tải lại trang rồi thử lại (CSRF)")


async def _read_pdf(file: UploadFile) -> bytes:
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(413, "tệp lớn hơn 50 MB")
    if not data.startswith(b"%PDF-"):
        raise HTTPException(415, "tệp không phải là PDF")
    return data


def _accept_upload(ctx: Ctx, token: str, data: bytes) -> dict[str, Any]:
    from workflow.links import open_link

    with ctx.session() as s:
        link = open_link(s, token)
        slot_id, actor = link.slot_id, f"{link.slot.signer_name} (upload)"
    status = accept_via_task(slot_id, ctx.blobs.put(data), actor)  # refusals are answered by the app's handler
    return {"status": "signed", "round_status": status, **link_info(ctx, token)}


def _page_images(ctx: Ctx, token: str) -> list[Path]:
    return page_images(ctx, current_pdf(ctx, token)[1])


def _page_state(ctx: Ctx, token: str) -> tuple[LinkView, dict[str, str], str | None]:
    """What the link page shows, read in one session: the link, and while it waits for its signature the
    signer's saved remote-signing accounts and the TSA address for other tools."""
    from workflow.links import link_view, open_link

    with ctx.session() as s:
        link = open_link(s, token, to_read=True)
        info = link_view(link)
        if info["receipt"] is not None:
            return info, {}, None
        return info, accounts_of(s, link.slot), public_tsa_url(ctx, tsa_source(ctx, link.slot.document.round))
