"""The secretariat's and the archivists' pages, and the JSON API behind them. Roles are the routers' own
dependencies, so no route can forget them: the secretariat runs rounds and reads the archive; an archivist only
reads the archive. Every form and every API call that changes something carries the session's CSRF token, also a
dependency."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from workflow import directory, drafts, views
from workflow.context import Ctx
from workflow.model import Round
from workflow.routing import RemindResult, VoidResult
from workflow.stages.archive import search_archive
from workflow.stages.check import RoundFileError, check_round_file
from workflow.stages.launch import launch
from workflow.states import event_json, event_label
from workflow.storage import EventRow, RoundRow
from workflow.webapp.security import (
    RateLimit,
    authenticate,
    client,
    csrf_token,
    current_user,
    end_sessions,
    form_csrf,
    header_csrf,
    role_guard,
    session_user,
)

# failed logins: per client and user name, per client whatever the name (spraying), per name whatever the client
LOGIN_TRIES = RateLimit("login-client-user", limit=5, window=300)
LOGIN_CLIENT = RateLimit("login-client", limit=20, window=300)
LOGIN_USER = RateLimit("login-user", limit=20, window=300)
MAX_ROUND_FILE = 1024 * 1024
# A launch may carry the round's own files (templates, signature and seal images, trust roots) in a zip with the
# round file: the server never reads a path a user names outside that upload.
MAX_UPLOAD = 20 * 1024 * 1024
MAX_UNPACKED = 64 * 1024 * 1024
MAX_ENTRIES = 200
OFFICE = ("secretariat",)
READERS = ("secretariat", "archivist")
office_role = role_guard(*OFFICE)
reader_role = role_guard(*READERS)
OfficeUser = Annotated[dict[str, str], Depends(office_role)]
ReaderUser = Annotated[dict[str, str], Depends(reader_role)]
FORM_CSRF = [Depends(form_csrf)]
API_CSRF = [Depends(header_csrf)]


def round_view(ctx: Ctx, round_id: str) -> dict[str, Any]:
    """The round as the pages and the API show it (workflow/views.py, the same view as `covenant round status`)."""
    return views.round_view(ctx, round_id).to_json()


def _events(ctx: Ctx, round_id: str) -> list[dict[str, Any]]:
    """The round's audit trail as recorded (hash-chained), each event with its Vietnamese `label` beside it."""
    with ctx.session() as s:
        rows = s.query(EventRow).filter_by(round_id=round_id).order_by(EventRow.seq)
        return [{**event_json(e), "label": event_label(e.kind)} for e in rows]


class NewYear(BaseModel):
    year: int = Field(ge=2000, le=2100)
    chair: str = Field(min_length=1, max_length=40)
    vice_chair: str | None = Field(default=None, min_length=1, max_length=40)


def _with_checked_file(name: str, data: bytes, then: Callable[[Round, str, Path], str]) -> tuple[str | None, list[str]]:
    """Check an uploaded round file exactly as `covenant round check` does; when it passes, `then(model, text,
    folder)` launches or reissues it and its round is generated. Returns (round id, []) or (None, problems)."""
    from tasks.pipeline import launch_from_web

    safe = Path(name).name or "round.yaml"  # never a path from the client
    is_zip = data.startswith(b"PK\x03\x04")
    if len(data) > (MAX_UPLOAD if is_zip else MAX_ROUND_FILE):
        limit = "20 MiB for a zip" if is_zip else "1 MiB for a round file"
        return None, [f"{safe}: larger than {limit}"]
    with tempfile.TemporaryDirectory() as tmp:
        if is_zip:
            try:
                path = _unpack(data, Path(tmp))
            except ValueError as exc:
                return None, [f"{safe}: {exc}"]
            safe = path.name
        else:
            path = Path(tmp) / safe
            path.write_bytes(data)
        try:
            model = check_round_file(path)
        except RoundFileError as exc:
            return None, [str(p).replace(str(path), safe).replace(f"{path.parent}/", "") for p in exc.problems]
        except UnicodeDecodeError:
            return None, [f"{safe}: not UTF-8 text"]
        round_id = then(model, path.read_text(encoding="utf-8"), path.parent)
    launch_from_web(round_id)
    return round_id, []


def _unpack(data: bytes, folder: Path) -> Path:
    """A zip of a round file (one .yaml at its top) and the files it names, unpacked into `folder`; entries that
    would land outside it (absolute names, "..", links), too many or too large are refused. The round file's
    path."""
    import io
    import stat
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a readable zip ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ValueError(f"{len(infos)} entries; at most {MAX_ENTRIES}")
        if sum(i.file_size for i in infos) > MAX_UNPACKED:
            raise ValueError(f"unpacks to more than {MAX_UNPACKED // (1024 * 1024)} MiB")
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts or "\x00" in name:
                raise ValueError(f"entry {name!r}: a path outside the upload")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ValueError(f"entry {name!r}: a symbolic link")
        rounds = [i for i in infos if "/" not in i.filename.rstrip("/") and i.filename.endswith((".yaml", ".yml"))]
        if len(rounds) != 1:
            raise ValueError("the zip must hold exactly one round file (.yaml) at its top level")
        for info in infos:
            target = (folder / info.filename).resolve()
            if not target.is_relative_to(folder.resolve()):
                raise ValueError(f"entry {info.filename!r}: a path outside the upload")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source:
                content = source.read(info.file_size + 1)
            if len(content) != info.file_size:
                raise ValueError(f"entry {info.filename!r}: its size is not the one the zip declares")
            target.write_bytes(content)
    return folder / rounds[0].filename


def _launch_upload(ctx: Ctx, name: str, data: bytes) -> tuple[str | None, list[str]]:
    return _with_checked_file(
        name, data, lambda model, text, folder: launch(ctx, text, model, folder, actor="secretariat (web)")
    )


def router(ctx: Ctx, render: Any) -> APIRouter:
    api = APIRouter()  # public: the login form and logout (CSRF-checked)
    office = APIRouter(dependencies=[Depends(office_role)])
    readers = APIRouter(dependencies=[Depends(reader_role)])

    @api.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> HTMLResponse:
        return render(request, "login.html", {"csrf": csrf_token(request)})

    @api.post("/login", include_in_schema=False, dependencies=FORM_CSRF)
    def login(request: Request, username: str = Form(""), password: str = Form("")) -> Response:
        who = client(request)
        name = username[:80]
        limits = [(LOGIN_TRIES, f"{who}:{name}"), (LOGIN_CLIENT, who), (LOGIN_USER, name)]
        if any(limit.full(key) for limit, key in limits):  # failed attempts only are counted
            raise HTTPException(429, "quá nhiều lần đăng nhập sai: thử lại sau 5 phút", headers={"Retry-After": "300"})
        user = authenticate(ctx, username, password)
        if user is None:
            for limit, key in limits:
                limit.hit(key)
            return render(
                request,
                "login.html",
                {"csrf": csrf_token(request), "error": "Sai tên đăng nhập hoặc mật khẩu."},
                status=401,
            )
        request.session.clear()
        request.session.update({"user": session_user(user)})
        return RedirectResponse("/rounds" if user.role == "secretariat" else "/archive", status_code=303)

    @api.post("/logout", include_in_schema=False, dependencies=FORM_CSRF)
    def logout(request: Request) -> Response:
        user = current_user(request)
        if user is not None:
            end_sessions(ctx, user["name"])  # a copy of this session's cookie ends with it
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    def _rounds() -> list[dict[str, Any]]:
        with ctx.session() as s:
            return [
                {"round_id": r.id, "cluster": r.cluster, "year": r.year, "status": r.status, "version": r.version}
                for r in s.query(RoundRow).order_by(RoundRow.created_at.desc())
            ]

    @office.get("/rounds", response_class=HTMLResponse, include_in_schema=False)
    def rounds_page(request: Request, user: OfficeUser) -> HTMLResponse:
        return render(request, "rounds.html", {"user": user, "rounds": _rounds(), "csrf": csrf_token(request)})

    @office.get("/api/rounds", tags=["secretariat"])
    def list_rounds() -> list[dict[str, Any]]:
        """Every round, newest first."""
        return _rounds()

    @office.post("/rounds", response_class=HTMLResponse, include_in_schema=False, dependencies=FORM_CSRF)
    async def launch_page(request: Request, user: OfficeUser, file: UploadFile) -> Response:
        round_id, problems = await run_in_threadpool(
            _launch_upload, ctx, file.filename or "round.yaml", await file.read(MAX_UPLOAD + 1)
        )
        if problems:
            return render(
                request,
                "rounds.html",
                {"user": user, "rounds": _rounds(), "problems": problems, "csrf": csrf_token(request)},
                status=422,
            )
        return RedirectResponse(f"/rounds/{round_id}", status_code=303)

    @office.post("/api/rounds", tags=["secretariat"], status_code=202, dependencies=API_CSRF)
    async def launch_api(file: UploadFile) -> dict[str, Any]:
        """Launch a round from a round file (202: its documents are generated after the answer; GET the round to
        follow its status); 422 with the same messages as `covenant round check`."""
        round_id, problems = await run_in_threadpool(
            _launch_upload, ctx, file.filename or "round.yaml", await file.read(MAX_UPLOAD + 1)
        )
        if problems:
            raise HTTPException(422, problems)
        return round_view(ctx, round_id or "")

    # --- the editor's pages -------------------------------------------------------------------------------------
    def _drafts_page(request: Request, user: dict[str, str], problems: list[str] | None = None) -> HTMLResponse:
        import datetime as dt

        context = {
            "user": user,
            "drafts": drafts.list_drafts(ctx),
            "clusters": directory.list_clusters(ctx),
            "next_year": dt.date.today().year,
            "problems": problems or [],
            "csrf": csrf_token(request),
        }
        return render(request, "drafts.html", context, status=422 if problems else 200)

    def _problem_lines(exc: RoundFileError) -> list[str]:
        return [f"{p.dotted or '(tệp)'}: {p.message}" for p in exc.problems]

    @office.get("/drafts", response_class=HTMLResponse, include_in_schema=False)
    def drafts_page(request: Request, user: OfficeUser) -> HTMLResponse:
        return _drafts_page(request, user)

    async def _uploaded_round(file: UploadFile) -> object:
        """A round file uploaded from a form (YAML), as draft data; RoundFileError when it is not one."""
        return drafts.round_data(await file.read(drafts.MAX_DRAFT + 1), is_yaml=True)

    def _zipped_round(data: bytes) -> tuple[object, dict[str, bytes]]:
        """A zip upload (a round file and the files it names, as a launch takes it): the round file as draft data and
        the other files by their names."""
        if len(data) > MAX_UPLOAD:
            raise RoundFileError([drafts.Problem(drafts.DRAFT, 1, (), f"the zip: more than {MAX_UPLOAD // 2**20} MiB")])
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = _unpack(data, Path(tmp))
            except ValueError as exc:
                raise RoundFileError([drafts.Problem(drafts.DRAFT, 1, (), f"the zip: {exc}")]) from None
            round_file = drafts.round_data(path.read_bytes(), is_yaml=True)
            files = {
                str(p.relative_to(tmp)): p.read_bytes()
                for p in sorted(Path(tmp).rglob("*"))
                if p.is_file() and p != path
            }
        return round_file, files

    @office.post("/drafts", response_class=HTMLResponse, include_in_schema=False, dependencies=FORM_CSRF)
    async def draft_from_file(request: Request, user: OfficeUser, file: UploadFile) -> Response:
        """A draft from a round file (YAML), or from a zip of it with the files it names."""
        try:
            head = await file.read(4)
            await file.seek(0)
            if head.startswith(b"PK"):
                data, files = await run_in_threadpool(_zipped_round, await file.read(MAX_UPLOAD + 1))
                made = await run_in_threadpool(drafts.create_draft_with_files, ctx, data, files, user["name"])
            else:
                made = await run_in_threadpool(drafts.create_draft, ctx, await _uploaded_round(file), user["name"])
        except RoundFileError as exc:
            return _drafts_page(request, user, _problem_lines(exc))
        return RedirectResponse(f"/drafts/{made['id']}", status_code=303)

    @office.post(
        "/drafts/{draft_id}/delete", response_class=HTMLResponse, include_in_schema=False, dependencies=FORM_CSRF
    )
    def delete_draft_form(draft_id: str) -> Response:
        drafts.delete_draft(ctx, draft_id)
        return RedirectResponse("/drafts", status_code=303)

    @office.post("/drafts/blank", response_class=HTMLResponse, include_in_schema=False, dependencies=FORM_CSRF)
    def blank_draft(user: OfficeUser, year: int = Form(0)) -> Response:
        made = drafts.create_draft(ctx, drafts.skeleton(year if 2000 <= year <= 2100 else 0), user["name"])
        return RedirectResponse(f"/drafts/{made['id']}", status_code=303)

    @office.post("/drafts/from-directory", response_class=HTMLResponse, include_in_schema=False, dependencies=FORM_CSRF)
    def draft_from_directory(
        request: Request,
        user: OfficeUser,
        cluster: str = Form(""),
        year: int = Form(0),
        chair: str = Form(""),
        vice_chair: str = Form(""),
    ) -> Response:
        try:
            made = directory.new_year_draft(ctx, cluster, year, chair.strip(), vice_chair.strip() or None, user["name"])
        except RoundFileError as exc:
            return _drafts_page(request, user, _problem_lines(exc))
        return RedirectResponse(f"/drafts/{made['id']}", status_code=303)

    @office.post("/directory/import", response_class=HTMLResponse, include_in_schema=False, dependencies=FORM_CSRF)
    async def directory_from_file(request: Request, user: OfficeUser, file: UploadFile) -> Response:
        try:
            await run_in_threadpool(directory.import_round, ctx, await _uploaded_round(file), user["name"])
        except RoundFileError as exc:
            return _drafts_page(request, user, _problem_lines(exc))
        return RedirectResponse("/drafts", status_code=303)

    def _directory_page(
        request: Request, user: dict[str, str], cluster_id: str, problems: list[str] | None = None
    ) -> HTMLResponse:
        import datetime as dt

        cluster = directory.get_cluster(ctx, cluster_id)
        last = cluster["rounds"][0]["year"] if cluster["rounds"] else dt.date.today().year - 1
        context = {
            "user": user,
            "cluster": cluster,
            "next_year": last + 1,
            "problems": problems or [],
            "csrf": csrf_token(request),
        }
        return render(request, "directory.html", context, status=422 if problems else 200)

    @office.get("/directory", response_class=HTMLResponse, include_in_schema=False)
    def clusters_page(request: Request, user: OfficeUser) -> HTMLResponse:
        context = {"user": user, "clusters": directory.list_clusters(ctx), "csrf": csrf_token(request)}
        return render(request, "clusters.html", context)

    @office.get("/directory/{cluster_id}", response_class=HTMLResponse, include_in_schema=False)
    def directory_page(cluster_id: str, request: Request, user: OfficeUser) -> HTMLResponse:
        return _directory_page(request, user, cluster_id)

    @office.post(
        "/directory/{cluster_id}/units", response_class=HTMLResponse, include_in_schema=False, dependencies=FORM_CSRF
    )
    async def directory_unit_form(cluster_id: str, request: Request, user: OfficeUser) -> Response:
        unit = directory.unit_from_form(_form_fields(await request.form()))
        unit_id = str(unit.get("id", ""))
        try:
            await run_in_threadpool(directory.save_unit, ctx, cluster_id, unit_id, unit, user["name"])
        except RoundFileError as exc:
            return _directory_page(request, user, cluster_id, _problem_lines(exc))
        return RedirectResponse(f"/directory/{cluster_id}#unit-{unit_id}", status_code=303)

    def _form_fields(form: Any) -> dict[str, str]:
        """A directory form's text fields by name (the CSRF token aside)."""
        return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}

    def _cluster_form(form: Any) -> dict[str, Any]:
        return directory.nested_form(_form_fields(form))

    @office.post("/directory", response_class=HTMLResponse, include_in_schema=False, dependencies=FORM_CSRF)
    async def directory_new_cluster(request: Request, user: OfficeUser) -> Response:
        data = _cluster_form(await request.form())
        try:
            made = await run_in_threadpool(directory.save_cluster, ctx, data, user["name"])
        except RoundFileError as exc:
            return _drafts_page(request, user, _problem_lines(exc))
        return RedirectResponse(f"/directory/{made['id']}", status_code=303)

    @office.post(
        "/directory/{cluster_id}", response_class=HTMLResponse, include_in_schema=False, dependencies=FORM_CSRF
    )
    async def directory_cluster_form(cluster_id: str, request: Request, user: OfficeUser) -> Response:
        data = _cluster_form(await request.form())
        try:
            await run_in_threadpool(directory.save_cluster, ctx, data, user["name"], cluster_id)
        except RoundFileError as exc:
            return _directory_page(request, user, cluster_id, _problem_lines(exc))
        return RedirectResponse(f"/directory/{cluster_id}", status_code=303)

    @office.get("/drafts/{draft_id}", response_class=HTMLResponse, include_in_schema=False)
    def draft_page(draft_id: str, request: Request, user: OfficeUser) -> HTMLResponse:
        from workflow.editor_form import build, units_of
        from workflow.editor_labels import UPLOADS

        draft = drafts.get_draft(ctx, draft_id)
        units = units_of(draft["round"])
        context = {
            "user": user,
            "draft": draft,
            "form": build(draft["round"]),
            "units": units,
            "unit_ids": [u["id"] for u in units],
            "upload_words": UPLOADS,
            "csrf": csrf_token(request),
        }
        return render(request, "draft.html", context)

    # --- drafts: round files written in the browser (workflow/drafts.py) --------------------------------------
    async def _body(request: Request, limit: int) -> bytes:
        """The request's body, read up to one byte past `limit` (the caller names a body that is too large)."""
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                break
        return raw

    async def _draft_data(request: Request) -> object:
        """The request's round file: JSON (the editor), or YAML (an import), at most a round file's size."""
        raw = await _body(request, drafts.MAX_DRAFT)  # round_data names a larger one
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        return drafts.round_data(raw, is_yaml=kind in ("application/yaml", "application/x-yaml", "text/yaml"))

    @office.get("/api/drafts", tags=["secretariat"])
    def list_drafts() -> list[drafts.DraftSummary]:
        """Every draft, the last changed first."""
        return drafts.list_drafts(ctx)

    @office.post("/api/drafts", tags=["secretariat"], status_code=201, dependencies=API_CSRF)
    async def create_draft(request: Request, user: OfficeUser) -> drafts.DraftView:
        """A new draft from a round file: JSON (the same keys as the YAML file), or YAML with
        `Content-Type: application/yaml`. It may have problems (`problems`: each with its round-file `path`, such
        as `covenant.criteria.1.items.0.points`, and its `message`, as `covenant round check` says them)."""
        data = await _draft_data(request)
        return await run_in_threadpool(drafts.create_draft, ctx, data, user["name"])

    @office.get("/api/drafts/{draft_id}", tags=["secretariat"])
    def get_draft(draft_id: str) -> drafts.DraftView:
        """The draft, its problems now, and who changed what."""
        return drafts.get_draft(ctx, draft_id)

    @office.put("/api/drafts/{draft_id}", tags=["secretariat"], dependencies=API_CSRF)
    async def save_draft(draft_id: str, request: Request, user: OfficeUser) -> drafts.DraftView:
        """The whole draft as it is now (saved as it is typed); the paths it changed are recorded. With
        `If-Match: <version>` (the draft's `version` when it was read), 409 `draft.changed` and nothing saved when
        someone else changed it since."""
        data = await _draft_data(request)
        version = request.headers.get("if-match", "").strip().strip('"') or None
        return await run_in_threadpool(drafts.save_draft, ctx, draft_id, data, user["name"], version)

    @office.delete("/api/drafts/{draft_id}", tags=["secretariat"], status_code=204, dependencies=API_CSRF)
    def delete_draft(draft_id: str) -> Response:
        """Discard a draft that was not launched (409 for a launched one: it is kept)."""
        drafts.delete_draft(ctx, draft_id)
        return Response(status_code=204)

    @office.get("/api/drafts/{draft_id}/round.yaml", tags=["secretariat"])
    def draft_round_file(draft_id: str) -> Response:
        """The draft as a round file (YAML), for `covenant round check` or to keep."""
        text = drafts.draft_yaml(drafts.get_draft(ctx, draft_id)["round"])
        return Response(text, media_type="application/yaml; charset=utf-8")

    @office.get("/api/drafts/{draft_id}/round.zip", tags=["secretariat"])
    def draft_round_zip(draft_id: str) -> Response:
        """The draft as the zip a launch takes (`round.yaml` and the files it names)."""
        data = drafts.round_zip(ctx, draft_id)
        headers = {"content-disposition": f'attachment; filename="{draft_id}.zip"'}
        return Response(data, media_type="application/zip", headers=headers)

    @office.put("/api/drafts/{draft_id}/files/{name:path}", tags=["secretariat"], dependencies=API_CSRF)
    async def put_draft_file(draft_id: str, name: str, request: Request, user: OfficeUser) -> drafts.DraftView:
        """Keep a file the draft's round file names, by that name (`dau-phu-tho.png`, `mau/covenant.docx`): a PNG
        signature or seal image, a trust root certificate (.pem, .crt, .cer, .der) or a DOCX template; the body is
        the file. 422 naming why a file cannot be one."""
        raw = await _body(request, drafts.MAX_FILE)  # file_problem names a larger one
        return await run_in_threadpool(drafts.put_file, ctx, draft_id, name, raw, user["name"])

    @office.get("/api/drafts/{draft_id}/files/{name:path}", tags=["secretariat"])
    def get_draft_file(draft_id: str, name: str) -> Response:
        """A file the draft holds, as it was uploaded."""
        return Response(drafts.file_data(ctx, draft_id, name), media_type="application/octet-stream")

    @office.delete("/api/drafts/{draft_id}/files/{name:path}", tags=["secretariat"], dependencies=API_CSRF)
    def delete_draft_file(draft_id: str, name: str, user: OfficeUser) -> drafts.DraftView:
        return drafts.remove_file(ctx, draft_id, name, user["name"])

    @office.get("/api/drafts/{draft_id}/preview/{document}/{page}.png", tags=["secretariat"])
    def preview(draft_id: str, document: str, page: int) -> FileResponse:
        """A page of one of the draft's documents (`covenant` or `minutes`) as it stands, as an image (rendered
        and converted once per draft content); 422 with the problems while the draft has some."""
        images = drafts.preview_pages(ctx, draft_id, document)
        if not 1 <= page <= len(images):
            raise HTTPException(404, f"the {document} has {len(images)} page(s)")
        return FileResponse(images[page - 1], media_type="image/png")

    @office.post("/api/drafts/{draft_id}/launch", tags=["secretariat"], status_code=202, dependencies=API_CSRF)
    def launch_draft(draft_id: str, user: OfficeUser) -> dict[str, str]:
        """Launch a round from the draft (202: its documents are generated after the answer); 422 with the
        draft's problems; 409 when it was launched already."""
        from tasks.pipeline import launch_from_web

        round_id = drafts.launch_draft(ctx, draft_id, user["name"])
        launch_from_web(round_id)
        return {"round_id": round_id}

    # --- the cluster directory (workflow/directory.py) -------------------------------------------------------
    @office.get("/api/directory", tags=["secretariat"])
    def list_clusters() -> list[directory.ClusterSummary]:
        """The clusters the directory keeps."""
        return directory.list_clusters(ctx)

    @office.post("/api/directory", tags=["secretariat"], status_code=201, dependencies=API_CSRF)
    def new_cluster(body: dict[str, Any], user: OfficeUser) -> directory.ClusterView:
        """A new cluster (`name`, `sector`, `guidance`: `{number, date, issuer}`), with no unit yet; its id is its
        name's slug. Problems are named by their path (`guidance.date`)."""
        return directory.save_cluster(ctx, body, user["name"])

    @office.put("/api/directory/{cluster_id}", tags=["secretariat"], dependencies=API_CSRF)
    def save_cluster(cluster_id: str, body: dict[str, Any], user: OfficeUser) -> directory.ClusterView:
        """A cluster's name, sector and guidance, whole (its units and its id stay)."""
        return directory.save_cluster(ctx, body, user["name"], cluster_id)

    @office.post("/api/directory/import", tags=["secretariat"], dependencies=API_CSRF)
    async def import_round(request: Request, user: OfficeUser) -> directory.ClusterView:
        """A round file (JSON, or YAML with `Content-Type: application/yaml`) of any year into the directory: its
        cluster and units; each unit's leader becomes the round's signer."""
        data = await _draft_data(request)
        return await run_in_threadpool(directory.import_round, ctx, data, user["name"])

    @office.get("/api/directory/{cluster_id}", tags=["secretariat"])
    def get_cluster(cluster_id: str) -> directory.ClusterView:
        """A cluster, its units (leader, deputies, clerk) and its rounds."""
        return directory.get_cluster(ctx, cluster_id)

    @office.put("/api/directory/{cluster_id}/units/{unit_id}", tags=["secretariat"], dependencies=API_CSRF)
    def save_unit(cluster_id: str, unit_id: str, unit: dict[str, Any], user: OfficeUser) -> directory.ClusterView:
        """A unit, whole (`name`, `short_name`, `place`, `leader`, `deputies`, `clerk`); a new id adds a unit. A
        change of leader is this edit; problems are named by their path in the unit."""
        return directory.save_unit(ctx, cluster_id, unit_id, unit, user["name"])

    @office.delete("/api/directory/{cluster_id}/units/{unit_id}", tags=["secretariat"], dependencies=API_CSRF)
    def remove_unit(cluster_id: str, unit_id: str, user: OfficeUser) -> directory.ClusterView:
        return directory.remove_unit(ctx, cluster_id, unit_id, user["name"])

    @office.post("/api/directory/{cluster_id}/drafts", tags=["secretariat"], status_code=201, dependencies=API_CSRF)
    def new_year_draft(cluster_id: str, body: NewYear, user: OfficeUser) -> drafts.DraftView:
        """A draft for a new year: the cluster's last round with the directory's units and the rotation's chair
        and vice-chair, for the office to change and launch."""
        return directory.new_year_draft(ctx, cluster_id, body.year, body.chair, body.vice_chair, user["name"])

    @office.get("/rounds/{round_id}", response_class=HTMLResponse, include_in_schema=False)
    def round_page(round_id: str, request: Request, user: OfficeUser) -> HTMLResponse:
        return render(
            request,
            "round.html",
            {
                "user": user,
                "round": round_view(ctx, round_id),
                "events": _events(ctx, round_id),
                "csrf": csrf_token(request),
            },
        )

    @office.get("/api/rounds/{round_id}", tags=["secretariat"])
    def get_round(round_id: str) -> dict[str, Any]:
        """Where a round stands: each document and each signer."""
        return round_view(ctx, round_id)

    @office.get("/api/rounds/{round_id}/events", tags=["secretariat"])
    def get_events(round_id: str) -> list[dict[str, Any]]:
        """The round's audit trail, hash-chained."""
        round_view(ctx, round_id)
        return _events(ctx, round_id)

    def _reissue(round_id: str, name: str, data: bytes) -> tuple[str | None, list[str]]:
        """A corrected round file, checked as `covenant round check`, reissued as a new version of the round."""
        from workflow.routing import reissue

        round_view(ctx, round_id)

        def then(model: Round, text: str, folder: Path) -> str:
            return str(reissue(ctx, round_id, text, model, folder, "secretariat (web)")["round_id"])

        return _with_checked_file(name, data, then)

    @office.post("/api/rounds/{round_id}/reissue", tags=["secretariat"], dependencies=API_CSRF)
    async def reissue_api(round_id: str, file: UploadFile) -> dict[str, Any]:
        """A corrected version supersedes the round (signatures are not carried over; everyone is told)."""
        new_id, problems = await run_in_threadpool(_reissue, round_id, file.filename or "", await file.read())
        if problems:
            raise HTTPException(422, problems)
        return round_view(ctx, new_id or "")

    @office.post("/rounds/{round_id}/reissue", include_in_schema=False, dependencies=FORM_CSRF)
    async def reissue_page(round_id: str, request: Request, user: OfficeUser, file: UploadFile) -> Response:
        new_id, problems = await run_in_threadpool(_reissue, round_id, file.filename or "", await file.read())
        if problems:
            return render(
                request,
                "round.html",
                {
                    "user": user,
                    "round": round_view(ctx, round_id),
                    "problems": problems,
                    "events": _events(ctx, round_id),
                    "csrf": csrf_token(request),
                },
                status=422,
            )
        return RedirectResponse(f"/rounds/{new_id}", status_code=303)

    @office.post("/api/rounds/{round_id}/{action}", tags=["secretariat"], dependencies=API_CSRF)
    def act_api(round_id: str, action: str, reason: str = Form("")) -> RemindResult | VoidResult:
        """remind | void (with a reason): as `covenant round remind|void`."""
        return _act(round_id, action, reason)

    @office.post("/rounds/{round_id}/{action}", include_in_schema=False, dependencies=FORM_CSRF)
    def act_page(round_id: str, action: str, reason: str = Form("")) -> Response:
        _act(round_id, action, reason)
        return RedirectResponse(f"/rounds/{round_id}", status_code=303)

    def _act(round_id: str, action: str, reason: str) -> RemindResult | VoidResult:
        from workflow.routing import remind_now, void

        round_view(ctx, round_id)
        if action == "remind":
            return remind_now(ctx, round_id, "secretariat (web)")
        if action == "void":
            if not reason.strip():
                raise HTTPException(422, "ghi lý do hủy")
            return void(ctx, round_id, reason.strip(), "secretariat (web)")
        raise HTTPException(404, f"không có thao tác {action}")

    def _search(cluster: str | None, year: int | None, unit: str | None, signer: str | None) -> list[dict[str, Any]]:
        rows = search_archive(ctx, cluster=cluster, year=year, unit=unit, signer=signer)
        return [{k: v for k, v in r.items() if k != "archive"} for r in rows]

    @readers.get("/archive", response_class=HTMLResponse, include_in_schema=False)
    def archive_page(
        request: Request, user: ReaderUser, cluster: str = "", year: str = "", unit: str = "", signer: str = ""
    ) -> Response:
        found = _search(cluster or None, int(year) if year.isdigit() else None, unit or None, signer or None)
        return render(
            request,
            "archive.html",
            {
                "user": user,
                "found": found,
                "q": {"cluster": cluster, "year": year, "unit": unit, "signer": signer},
                "csrf": csrf_token(request),
            },
        )

    @readers.get("/api/archive", tags=["archive"])
    def search(
        cluster: str | None = None, year: int | None = None, unit: str | None = None, signer: str | None = None
    ) -> list[dict[str, Any]]:
        """Archived rounds; every filter ignores accents and case ("Phu Tho" finds "Phú Thọ")."""
        return _search(cluster, year, unit, signer)

    def _package(round_id: str) -> Path:
        """The package's zip: where it was written, if on this machine (renewed there, it is the newest), else the
        one kept as a blob, copied once into this machine's data folder (another machine archived it)."""
        with ctx.session() as s:
            rnd = s.get(RoundRow, round_id)
            if rnd is None or rnd.status != "archived" or not rnd.archive_path:
                raise HTTPException(404, f"không có gói lưu trữ của đợt ký {round_id}")
            local = Path(f"{rnd.archive_path}.zip")  # a path from the database, never from the request
            if local.is_file() or not rnd.archive_zip:
                return local
            copy = ctx.settings.data_dir / "archive-copies" / rnd.archive_zip / local.name
            if not copy.is_file():
                copy.parent.mkdir(parents=True, exist_ok=True)
                tmp = copy.with_suffix(".part")
                tmp.write_bytes(ctx.blobs.get(rnd.archive_zip))
                tmp.replace(copy)
            return copy

    def _verification(round_id: str) -> dict[str, Any]:
        from workflow.stages.verify import verify_package

        return verify_package(_package(round_id)).to_dict()

    @readers.get("/api/archive/{round_id}/zip", tags=["archive"])
    def download(round_id: str) -> FileResponse:
        """The archived package as one zip (BagIt inside)."""
        path = _package(round_id)
        return FileResponse(path, media_type="application/zip", filename=path.name)

    @readers.get("/api/archive/{round_id}/verification", tags=["archive"])
    def verification(round_id: str) -> dict[str, Any]:
        """Offline verification of the package, as `covenant archive verify`."""
        return _verification(round_id)

    @readers.get("/archive/{round_id}", response_class=HTMLResponse, include_in_schema=False)
    def verification_page(round_id: str, request: Request, user: ReaderUser) -> HTMLResponse:
        return render(
            request,
            "verification.html",
            {"user": user, "round_id": round_id, "result": _verification(round_id), "csrf": csrf_token(request)},
        )

    api.include_router(office)
    api.include_router(readers)
    return api
