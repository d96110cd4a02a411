"""HTTP face of covenant (`covenant serve`): the leader's link pages, the secretariat's and archivists' pages, and
a JSON API with OpenAPI (/docs) for everything the pages do. Server-rendered Vietnamese pages; every asset is
served by the app itself (the machines are offline); no path is ever built from what a request says.

Endpoints that do pyHanko or LibreOffice work are plain `def` functions: FastAPI runs them in its thread pool,
where pyHanko's synchronous API may start its own event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from signing.errors import CovenantError
from workflow import editor_labels
from workflow.context import Ctx
from workflow.errors import RoundFileError
from workflow.states import event_label, status_label
from workflow.texts import problem_vietnamese, vietnamese_message, vn_time
from workflow.webapp import handoff, leader, office
from workflow.webapp.security import configure_limits, current_user, secret_key

HERE = Path(__file__).parent


def security_headers_for(signing_service: str) -> dict[str, str]:
    """The headers of every answer; pages may talk to this server and to the local signing service only."""
    return {
        **SECURITY_HEADERS,
        "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"].replace(
            "connect-src 'self'", f"connect-src 'self' {signing_service}"
        ),
    }


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


PAGE_TITLES = {"l": "Không mở được liên kết"}  # first segment of a page's path → the title of its refusals


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


def error_body(exc: CovenantError) -> dict[str, Any]:
    """An error as the JSON API answers it: `error` is the stable code, `detail` the English, `message` the
    Vietnamese a page shows; a round file's problems also one by one, each with its path in the round file."""
    body: dict[str, Any] = {"error": exc.code, "detail": str(exc), "message": vietnamese_message(exc)}
    if isinstance(exc, RoundFileError):
        body["problems"] = [
            {"path": p.dotted, "message": p.message, "vietnamese": problem_vietnamese(p.message)} for p in exc.problems
        ]
    return body


def _swagger_ui_assets() -> Path:
    """Swagger UI 5 (OpenAPI 3.1, as FastAPI writes it), from the fastapi-offline package: only its files are
    used; the page that loads them is ours (templates/docs.html, static/docs.js), without inline script."""
    import importlib.resources

    return Path(str(importlib.resources.files("fastapi_offline") / "static"))


def create_app(ctx: Ctx) -> FastAPI:
    from signing.patches import install

    install()  # the web app is an entry point
    app = FastAPI(
        title="covenant",
        summary="Emulation-cluster covenants: personal links, remote signing, rounds and the archive",
        version="1",
        docs_url=None,  # FastAPI's /docs loads Swagger UI from a CDN with an inline script: ours is served here
        redoc_url=None,
    )
    key = secret_key(ctx)
    app.state.ctx = ctx  # sessions are checked against the users table on every request
    configure_limits(ctx)
    https = ctx.settings.base_url.startswith("https://")
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie="covenant_session",
        same_site="strict",
        https_only=https,
        max_age=8 * 3600,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["vn_time"] = vn_time
    templates.env.filters["vn_status"] = status_label
    templates.env.filters["vn_event"] = event_label
    templates.env.globals["label"] = editor_labels.label
    templates.env.globals["item_label"] = editor_labels.item_label

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"me": current_user(request), **context}, status_code=status)

    headers = security_headers_for(ctx.settings.signing_service)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(headers)
        return response

    @app.exception_handler(CovenantError)
    async def covenant_error(request: Request, exc: CovenantError) -> Response:
        """The one handler for every error meant for a user: its code, English and Vietnamese, its status."""
        if wants_json(request):
            return JSONResponse(error_body(exc), status_code=exc.http_status)
        return render(
            request,
            "message.html",
            {
                "title": PAGE_TITLES.get(request.url.path.split("/")[1], "Không thực hiện được"),
                "message": vietnamese_message(exc),
            },
            status=exc.http_status,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 401:
            from fastapi.responses import RedirectResponse

            return RedirectResponse("/login", status_code=303)
        return render(
            request,
            "message.html",
            {"title": "Không thực hiện được", "message": str(exc.detail)},
            status=exc.status_code,
        )

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount("/docs/assets", StaticFiles(directory=str(_swagger_ui_assets())), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "docs.html", {})

    app.include_router(leader.router(ctx, render, key))
    app.include_router(handoff.router(ctx))
    app.include_router(handoff.tsa_router(ctx))
    app.include_router(office.router(ctx, render))

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        from fastapi.responses import RedirectResponse

        user = current_user(request)
        target = "/login" if user is None else "/rounds" if user["role"] == "secretariat" else "/archive"
        return RedirectResponse(target, status_code=303)

    return app


def create_app_from_env() -> FastAPI:
    """The app for the settings of the environment (uvicorn's factory when `covenant serve --workers N`)."""
    from workflow.config import get_settings

    return create_app(Ctx(get_settings()))
