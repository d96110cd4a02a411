"""Drafts: round files written in the browser, saved as they are typed, checked like `covenant round check`.

A draft is the round file as JSON (the same keys and nesting as the YAML file), stored whole at each save, valid or
not yet. Its problems are the round check's, each named by its path in the round file
(`covenant.criteria.1.items.0.points`), so one check speaks to the command line and to every input of the editor.
YAML import and export are exact: `draft_yaml` of a draft made by `draft_from_yaml(text)` reads back to the same
data. Launching a draft stores a round from its YAML, as an uploaded round file would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import update
from typing_extensions import TypedDict  # pydantic (FastAPI answers) needs this one on Python 3.11

from workflow.context import Ctx
from workflow.errors import DraftChanged, NotFound, RoundFileError, StateConflict
from workflow.model import Round
from workflow.stages.check import (
    DRAFT,
    Loc,
    Problem,
    check_round_data,
    check_round_file,
    image_problem,
    round_data_from_yaml,
    round_images,
)
from workflow.storage import DraftChangeRow, DraftRow, aware, utcnow
from workflow.texts import problem_vietnamese

MAX_DRAFT = 1024 * 1024  # bytes of JSON: a round file's own limit
MAX_DEPTH = 12


class ProblemView(TypedDict):
    path: str
    message: str  # as `covenant round check` says it
    vietnamese: str  # as the editor shows it


class FileView(TypedDict):
    name: str  # as the round file names it (e.g. "dau-phu-tho.png", "mau/covenant.docx")
    size: int
    sha256: str
    by: str
    at: str


class ChangeView(TypedDict):
    at: str
    actor: str
    paths: list[str]


class DraftView(TypedDict):
    id: str
    title: str
    round: dict[str, Any]
    problems: list[ProblemView]
    created_by: str
    created_at: str
    updated_by: str
    updated_at: str
    launched_round: str | None
    changes: list[ChangeView]
    files: list[FileView]
    version: str  # changes at every save that changes it; sent back (If-Match) so a save never hides another's


class DraftSummary(TypedDict):
    id: str
    title: str
    updated_by: str
    updated_at: str
    launched_round: str | None


def problems_of(
    data: dict[str, Any], now: dt.datetime | None = None, files: dict[str, Any] | None = None
) -> list[ProblemView]:
    """The round check's problems, and a file the round names that the draft does not hold."""
    model, problems = check_round_data(data, now)
    if model is not None:
        problems = missing_files(model, files or {})
    return [_view(p) for p in problems]


def missing_files(model: Round, files: dict[str, Any]) -> list[Problem]:
    """A problem on each field that names a file the draft does not hold."""
    return [
        Problem(DRAFT, 1, loc, f"the draft holds no file {name!r}: upload it beside this field")
        for loc, name in named_files(model)
        if _file_name(name) not in files
    ]


def named_files(model: Round) -> list[tuple[Loc, str]]:
    """Every file a round names, with where: signature and seal images, its own trust roots, and the two DOCX of its
    own template folder."""
    from workflow.documents import KINDS
    from workflow.model import TrustSpec

    found: list[tuple[Loc, str]] = list(round_images(model))
    if isinstance(model.signing.trust, TrustSpec):
        found += [(("signing", "trust", "roots", i), root) for i, root in enumerate(model.signing.trust.roots)]
    if model.templates:
        folder = _file_name(model.templates).rstrip("/")
        found += [(("templates",), f"{folder}/{kind}.docx") for kind in KINDS]
    return found


def _file_name(name: str) -> str:
    """A file's name as a draft keeps it: forward slashes, no leading "./"."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _view(problem: Problem) -> ProblemView:
    return {"path": problem.dotted, "message": problem.message, "vietnamese": problem_vietnamese(problem.message)}


def _plain(data: object, path: str = "", depth: int = 0) -> Any:
    """JSON data as a round file holds it: mappings with string keys, lists, strings, numbers, booleans, null;
    dates (from YAML) as ISO 8601 strings. Anything else is a problem named by its path."""
    if depth > MAX_DEPTH:
        raise _Unusable(path, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if not isinstance(key, str):
                raise _Unusable(path, f"the key {key!r} is not text")
            out[key] = _plain(value, f"{path}.{key}" if path else key, depth + 1)
        return out
    if isinstance(data, list):
        return [_plain(item, f"{path}.{i}" if path else str(i), depth + 1) for i, item in enumerate(data)]
    if isinstance(data, (dt.date, dt.datetime)):
        return data.isoformat()
    if data is None or isinstance(data, (str, int, float, bool)):
        return data
    raise _Unusable(path, f"a {type(data).__name__} is not a round file value")


class _Unusable(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def usable(data: object) -> dict[str, Any]:
    """The draft's data as stored, or a RoundFileError naming what cannot be stored (not a mapping, too large,
    a value JSON has not)."""
    if not isinstance(data, dict):
        raise RoundFileError([Problem(DRAFT, 1, (), "a round file is a mapping with version: 1")])
    try:
        plain = _plain(data)
    except _Unusable as exc:
        raise RoundFileError([Problem(DRAFT, 1, tuple(exc.path.split(".")) if exc.path else (), str(exc))]) from None
    size = len(json.dumps(plain, ensure_ascii=False).encode("utf-8"))
    if size > MAX_DRAFT:
        raise RoundFileError(
            [Problem(DRAFT, 1, (), f"the draft is {size} bytes; a round file has at most {MAX_DRAFT}")]
        )
    return plain


def draft_from_yaml(text: str) -> dict[str, Any]:
    """A round file's YAML as draft data (the same safe reader as the round check: no aliases, duplicate keys
    named)."""
    return usable(round_data_from_yaml(text))


def round_data(raw: bytes, is_yaml: bool) -> object:
    """A round file received as bytes (JSON from the editor, YAML from an import or a form), at most a round file's
    size; RoundFileError naming why it is not one. JSON is returned as sent (`usable` judges it when stored)."""
    if len(raw) > MAX_DRAFT:
        raise RoundFileError([Problem(DRAFT, 1, (), f"larger than {MAX_DRAFT} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RoundFileError([Problem(DRAFT, 1, (), "not UTF-8 text")]) from None
    if is_yaml:
        return draft_from_yaml(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RoundFileError([Problem(DRAFT, exc.lineno, (), f"not JSON: {exc.msg}")]) from None


def draft_yaml(data: dict[str, Any]) -> str:
    """The round file of a draft, as YAML (keys in the draft's order, Vietnamese as text)."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def skeleton(year: int) -> dict[str, Any]:
    """A round file with every section and one empty entry in each list: what the editor shows to type a round
    from nothing (its problems say what is still empty; an entry not wanted is removed, one more is added)."""
    person = {"unit": "", "name": "", "title": ""}
    return {
        "version": 1,
        "cluster": {"name": "", "sector": "", "year": year},
        "units": [
            {
                "id": "",
                "name": "",
                "short_name": "",
                "place": "",
                "role": "chair",
                "signer": {"name": "", "title": "", "email": ""},
            }
        ],
        "conference": {
            "date": "",
            "start": "08:00",
            "end": "11:30",
            "place": "",
            "online": False,
            "chair": dict(person),
            "secretary": dict(person),
            "attendees": [dict(person)],
            "agenda": [""],
            "proceedings": [""],
            "elections": {"chair": "", "vice_chair": ""},
            "decisions": [""],
        },
        "covenant": {
            "motto": "",
            "goals": [""],
            "criteria": [{"title": "", "points": 100, "items": [{"text": "", "points": 100}]}],
            "bonus": [{"text": "", "max_points": 0}],
            "penalty": [{"text": "", "points": 0}],
            "commitments": [""],
        },
        "documents": {"covenant": {"signers": "all"}, "minutes": {"signers": ["chair", "secretary"]}},
        "signing": {"order": "parallel", "deadline": "P7D", "reminders": ["P2D", "P1D"], "trust": "demo"},
    }


def _title(data: dict[str, Any]) -> str:
    cluster = data.get("cluster") if isinstance(data.get("cluster"), dict) else {}
    name, year = cluster.get("name"), cluster.get("year")  # type: ignore[union-attr]
    return " ".join(str(v) for v in (name, year) if v)[:300] or "Đợt ký mới"


def _leaves(data: object, path: str = "") -> dict[str, object]:
    if isinstance(data, dict):
        out: dict[str, object] = {}
        for key, value in data.items():
            out.update(_leaves(value, f"{path}.{key}" if path else str(key)))
        return out or {path: {}}
    if isinstance(data, list):
        out = {}
        for i, item in enumerate(data):
            out.update(_leaves(item, f"{path}.{i}" if path else str(i)))
        return out or {path: []}
    return {path: data}


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The round-file paths whose values differ (added, removed or changed)."""
    old, new = _leaves(before), _leaves(after)
    return sorted(p for p in old.keys() | new.keys() if old.get(p, _MISSING) != new.get(p, _MISSING))


_MISSING = object()


def _draft_view(row: DraftRow) -> DraftView:
    return {
        "id": row.id,
        "title": row.title,
        "round": row.body,
        "problems": problems_of(row.body, files=row.files or {}),
        "created_by": row.created_by,
        "created_at": aware(row.created_at).isoformat(),
        "updated_by": row.updated_by,
        "updated_at": aware(row.updated_at).isoformat(),
        "launched_round": row.launched_round,
        "changes": [
            {"at": aware(c.at).isoformat(), "actor": c.actor, "paths": c.paths} for c in row.changes[-MAX_CHANGES:]
        ],
        "version": _version(row),
        "files": [
            {"name": name, "size": int(f["size"]), "sha256": str(f["sha256"]), "by": str(f["by"]), "at": str(f["at"])}
            for name, f in sorted((row.files or {}).items())
        ],
    }


MAX_CHANGES = 200  # the newest changes shown with a draft
MAX_PATHS = 100  # paths recorded for one save (a save that changes more says how many)


def create_draft(ctx: Ctx, data: object, actor: str, files: dict[str, bytes] | None = None) -> DraftView:
    """A new draft of the round file `data`, with the `files` it names (judged already, create_draft_with_files)."""
    body = usable(data)
    now = utcnow()
    with ctx.session() as s:
        row = DraftRow(
            id=secrets.token_hex(8),
            body=body,
            title=_title(body),
            created_by=actor,
            created_at=now,
            updated_by=actor,
            updated_at=now,
        )
        row.changes.append(DraftChangeRow(at=now, actor=actor, paths=["(tạo mới)"]))
        if files:
            _keep(ctx, row, files, actor)
        s.add(row)
        s.flush()
        return _draft_view(row)


def _editable(s: Any, draft_id: str) -> DraftRow:
    """The draft's row, locked for a change; a launched draft is not changed any more."""
    row = _row(s, draft_id, lock=True)
    if row.launched_round:
        raise StateConflict(f"draft {draft_id} was launched as round {row.launched_round}: make a new draft")
    return row


def _changed(row: DraftRow, actor: str, paths: list[str]) -> None:
    """Record who changed which paths of the draft, now."""
    now = utcnow()
    row.changes.append(DraftChangeRow(at=now, actor=actor, paths=paths))
    row.updated_by, row.updated_at = actor, now


def _version(row: DraftRow) -> str:
    return f"{len(row.changes)}-{aware(row.updated_at).timestamp():.6f}"


def _row(s: Any, draft_id: str, lock: bool = False) -> DraftRow:
    known = isinstance(draft_id, str) and len(draft_id) <= 40
    row = s.get(DraftRow, draft_id, with_for_update=lock or None) if known else None
    if row is None:
        raise NotFound(f"no draft {draft_id}")
    return row


def get_draft(ctx: Ctx, draft_id: str) -> DraftView:
    with ctx.session() as s:
        return _draft_view(_row(s, draft_id))


def save_draft(ctx: Ctx, draft_id: str, data: object, actor: str, version: str | None = None) -> DraftView:
    """The whole draft as typed now; the save records which paths it changed (none: nothing is recorded). With
    `version` (the one the editor opened or last saved), a draft changed since by someone else is not overwritten:
    DraftChanged, and nothing is saved."""
    body = usable(data)
    with ctx.session() as s:
        row = _editable(s, draft_id)
        if version is not None and version != _version(row):
            raise DraftChanged(
                f"draft {draft_id} was changed by {row.updated_by} at {aware(row.updated_at).isoformat()} after "
                "this editor read it: reload it (this save was not kept)"
            )
        paths = changed_paths(row.body, body)
        if paths:
            _changed(
                row, actor, paths if len(paths) <= MAX_PATHS else [*paths[:MAX_PATHS], f"(+{len(paths) - MAX_PATHS})"]
            )
            row.body, row.title = body, _title(body)
        return _draft_view(row)


def delete_draft(ctx: Ctx, draft_id: str) -> None:
    """Discard a draft not launched (a launched one stays: it is the record of where its round came from)."""
    with ctx.session() as s:
        row = _row(s, draft_id, lock=True)
        if row.launched_round:
            raise StateConflict(f"draft {draft_id} was launched as round {row.launched_round}: it is kept")
        s.delete(row)


def list_drafts(ctx: Ctx) -> list[DraftSummary]:
    with ctx.session() as s:
        rows = s.query(DraftRow).order_by(DraftRow.updated_at.desc())
        return [
            {
                "id": r.id,
                "title": r.title,
                "updated_by": r.updated_by,
                "updated_at": aware(r.updated_at).isoformat(),
                "launched_round": r.launched_round,
            }
            for r in rows
        ]


def launch_draft(ctx: Ctx, draft_id: str, actor: str) -> str:
    """A round stored from the draft, checked exactly as an uploaded round file (its problems raise
    RoundFileError); the caller starts its generation. A draft is launched once."""
    from workflow.stages.launch import launch

    with ctx.session() as s:
        row = _row(s, draft_id)
        # claimed in one statement: two clicks (or two offices) launch one round
        claimed = s.execute(
            update(DraftRow)
            .where(DraftRow.id == draft_id, DraftRow.launched_round.is_(None))
            .values(launched_round=LAUNCHING)
        ).rowcount  # type: ignore[attr-defined]
        if not claimed:
            raise StateConflict(f"draft {draft_id} was launched already, as round {row.launched_round}")
        body, files = row.body, dict(row.files or {})
    try:
        text = draft_yaml(body)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "round.yaml"
            path.write_text(text, encoding="utf-8")
            _materialize(ctx, files, Path(tmp))
            try:
                model = check_round_file(path)
            except RoundFileError as exc:
                raise RoundFileError(
                    [Problem(DRAFT, p.line, p.loc, p.message.replace(f"{tmp}/", "")) for p in exc.problems]
                ) from None
            round_id = launch(ctx, text, model, path.parent, actor=actor)
    except BaseException:
        with ctx.session() as s:
            s.execute(update(DraftRow).where(DraftRow.id == draft_id).values(launched_round=None))
        raise
    with ctx.session() as s:
        s.execute(update(DraftRow).where(DraftRow.id == draft_id).values(launched_round=round_id))
    return round_id


LAUNCHING = "(launching)"


PREVIEW_KINDS = ("covenant", "minutes")


def preview_pages(ctx: Ctx, draft_id: str, kind: str) -> list[Path]:
    """Page images of one of the draft's documents as it stands: rendered from the templates and converted by the
    warm LibreOffice, once per draft content (kept by its hash); a draft with problems has none to show (its
    problems are raised, each by path)."""
    import hashlib

    from workflow.documents import render_docx
    from workflow.libreoffice import docx_to_pdf
    from workflow.pages import page_images, prune_cache

    if kind not in PREVIEW_KINDS:
        raise NotFound(f"no document {kind!r} (covenant or minutes)")
    with ctx.session() as s:
        row = _row(s, draft_id)
        body, files = row.body, dict(row.files or {})
    model, problems = check_round_data(body)
    if model is not None:
        problems = missing_files(model, files)
    if model is None or problems:
        raise RoundFileError(problems)
    used = {name: files[name]["sha256"] for _loc, name in named_files(model) if name.endswith(".docx")}
    key = json.dumps([kind, body, used], sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(key.encode()).hexdigest()
    cached = ctx.settings.data_dir / "cache" / "previews" / f"{digest}.pdf"
    if cached.is_file():
        pdf = cached.read_bytes()
        os.utime(cached)
    else:
        prune_cache(ctx)  # previews and page images nobody looked at for two days
        if model.templates:
            from workflow.documents import template_path

            with tempfile.TemporaryDirectory() as tmp:
                _materialize(ctx, {n: files[n] for n in used}, Path(tmp))
                folder = Path(tmp) / _file_name(model.templates)
                docx = render_docx(model, kind, template_path(kind, folder))
        else:
            docx = render_docx(model, kind)
        pdf = docx_to_pdf(docx)
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as out:
            out.write(pdf)
        Path(out.name).replace(cached)
    return page_images(ctx, pdf)


# --- the files a draft's round file names ------------------------------------------------------------------------
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?$")
MAX_FILE = 8 * 1024 * 1024  # bytes of one file (a DOCX template; images are held to 2 MiB by the image check)
MAX_FILES = 450  # a seal and a signature image for each of 200 units, roots and templates
MAX_FILES_TOTAL = 64 * 1024 * 1024  # as a zip upload unpacked
FILE_KINDS = {
    ".png": "image",
    ".pem": "certificate",
    ".crt": "certificate",
    ".cer": "certificate",
    ".der": "certificate",
    ".docx": "template",
}


def file_problem(name: str, data: bytes) -> str | None:
    """Why `data` cannot be the file `name` of a round (None when it can): by its suffix a PNG image the stamp
    check takes, an X.509 certificate (PEM or DER), or a DOCX."""
    import io
    import zipfile

    from cryptography import x509

    if not FILE_NAME.match(name) or ".." in name:
        return (
            f"{name!r}: a file name is letters without accents, digits, '.', '_' or '-', at most one folder "
            "(e.g. dau-phu-tho.png, mau/covenant.docx)"
        )
    kind = FILE_KINDS.get(Path(name).suffix.lower())
    if kind is None:
        return f"{name!r}: a round's files are PNG images, certificates (.pem, .crt, .cer, .der) or DOCX templates"
    if len(data) > MAX_FILE:
        return f"{name!r}: {len(data) // 1024} KiB, more than the {MAX_FILE // 1024} KiB a file may have"
    if kind == "image":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "image.png"
            path.write_bytes(data)
            problem = image_problem(path)
        return problem.replace(str(path), name) if problem else None
    if kind == "certificate":
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                x509.load_pem_x509_certificate(data)
            else:
                x509.load_der_x509_certificate(data)
        except ValueError as exc:
            return f"{name!r}: not an X.509 certificate ({exc})"
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "word/document.xml" not in archive.namelist():
                return f"{name!r}: a zip without word/document.xml is not a DOCX"
    except zipfile.BadZipFile:
        return f"{name!r}: not a DOCX (not a zip)"
    return None


def put_file(ctx: Ctx, draft_id: str, name: str, data: bytes, actor: str) -> DraftView:
    """Keep a file the draft's round file names (replacing one of the same name); refused, naming why, when it
    is not such a file or the draft holds too many."""
    name = _file_name(name)
    problem = file_problem(name, data)
    if problem:
        raise RoundFileError([Problem(DRAFT, 1, ("files", name), problem)])
    with ctx.session() as s:
        row = _editable(s, draft_id)
        _keep(ctx, row, {name: data}, actor)
        return _draft_view(row)


def _keep(ctx: Ctx, row: DraftRow, files: dict[str, bytes], actor: str) -> None:
    """Files already judged (file_problem) kept with the draft, within its limits; one change recorded."""
    held = dict(row.files or {})
    for name in files:
        held.pop(name, None)
    count = len(held) + len(files)
    total = sum(int(f["size"]) for f in held.values()) + sum(len(b) for b in files.values())
    if count > MAX_FILES or total > MAX_FILES_TOTAL:
        limit = f"a draft holds at most {MAX_FILES} files and {MAX_FILES_TOTAL // (1024 * 1024)} MiB"
        raise RoundFileError([Problem(DRAFT, 1, ("files", *files), limit)])
    at = utcnow().isoformat()
    for name, data in files.items():
        held[name] = {"sha256": ctx.blobs.put(data), "size": len(data), "by": actor, "at": at}
    row.files = held
    _changed(row, actor, [f"(tệp) {name}" for name in files])


def remove_file(ctx: Ctx, draft_id: str, name: str, actor: str) -> DraftView:
    name = _file_name(name)
    with ctx.session() as s:
        row = _editable(s, draft_id)
        files = dict(row.files or {})
        if name not in files:
            raise NotFound(f"draft {draft_id} holds no file {name!r}")
        del files[name]
        row.files = files
        _changed(row, actor, [f"(xóa tệp) {name}"])
        return _draft_view(row)


def file_data(ctx: Ctx, draft_id: str, name: str) -> bytes:
    with ctx.session() as s:
        entry = (_row(s, draft_id).files or {}).get(_file_name(name))
    if entry is None:
        raise NotFound(f"draft {draft_id} holds no file {name!r}")
    return ctx.blobs.get(str(entry["sha256"]))


def _materialize(ctx: Ctx, files: dict[str, Any], folder: Path) -> None:
    """The draft's files written under `folder`, by their names (checked when they were kept)."""
    for name, entry in files.items():
        if not FILE_NAME.match(name) or ".." in name:
            continue
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ctx.blobs.get(str(entry["sha256"])))


def round_zip(ctx: Ctx, draft_id: str) -> bytes:
    """The draft as the zip a launch takes: `round.yaml` at its top and the files it names."""
    import io
    import zipfile

    with ctx.session() as s:
        row = _row(s, draft_id)
        body, files = row.body, dict(row.files or {})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("round.yaml", draft_yaml(body))
        for name, entry in sorted(files.items()):
            archive.writestr(name, ctx.blobs.get(str(entry["sha256"])))
    return out.getvalue()


def create_draft_with_files(ctx: Ctx, data: object, files: dict[str, bytes], actor: str) -> DraftView:
    """A draft from a round file and the files beside it (a zip upload): each file judged as `put_file` does, all
    kept in the draft's first transaction (nothing is made when one is refused)."""
    named = {_file_name(n): b for n, b in files.items()}
    problems = [Problem(DRAFT, 1, ("files", n), p) for n, b in named.items() if (p := file_problem(n, b))]
    if problems:
        raise RoundFileError(problems)
    return create_draft(ctx, data, actor, named)
