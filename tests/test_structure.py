"""The codebase's shape, checked (fast, in-process): one error hierarchy with a Vietnamese text for every code,
dependencies that point one way, one link parser, one session secret, times with their offset."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import signing.errors
import workflow.errors
from signing.errors import CovenantError, NotFound
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.texts import TEXTS, vietnamese

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("workflow", "signing", "tasks", "templates")
ENTRY_POINTS = ("workflow.cli", "workflow.webapp", "workflow.demo")


def _error_classes() -> list[type[CovenantError]]:
    found = []
    for module in (signing.errors, workflow.errors):
        for _name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, Exception):
                found.append(value)
    return found


def test_every_error_is_a_covenant_error_with_a_vietnamese_text() -> None:
    classes = _error_classes()
    assert len(classes) >= 16
    for cls in classes:
        assert issubclass(cls, CovenantError), cls
        assert vietnamese(cls.code), f"{cls.__name__}: no Vietnamese text for {cls.code!r}"
        assert cls.exit_code in (1, 2, 3) and 400 <= cls.http_status < 600


def _raised_codes() -> set[str]:
    """Every literal code= given where an error is raised."""
    codes = set()
    for path in [*ROOT.glob("signing/*.py"), *ROOT.glob("workflow/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(node.value, ast.Constant):
                codes.add(str(node.value.value))
    return codes


def test_every_code_raised_has_its_own_text() -> None:
    codes = _raised_codes()
    assert "signature.no_timestamp" in codes and "link.expired" in codes
    missing = sorted(c for c in codes if c not in TEXTS)
    assert not missing, missing


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(top_level_only: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            nodes = tree.body if top_level_only else list(ast.walk(tree))
            found = set()
            for node in nodes:
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module)
                    found.update(f"{node.module}.{a.name}" for a in node.names)
                elif isinstance(node, ast.Import):
                    found.update(a.name for a in node.names)
            graph[_module_name(path)] = found
    known = set(graph)
    return {m: {i for i in deps if i in known and i != m} for m, deps in graph.items()}


def test_no_import_cycles() -> None:
    graph = _imports(top_level_only=True)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep] if dep in path else [module, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_the_domain_never_imports_tasks_nor_entry_points_and_signing_never_imports_workflow() -> None:
    graph = _imports(top_level_only=False)  # lazy imports count too
    for module, deps in graph.items():
        if module.startswith("signing"):
            assert not [d for d in deps if d.startswith(("workflow", "tasks"))], module
        is_entry = module.startswith(ENTRY_POINTS)
        if module.startswith("workflow") and not is_entry:
            assert not [d for d in deps if d.startswith("tasks")], module
            assert not [d for d in deps if d.startswith(ENTRY_POINTS)], module


def test_an_unknown_slot_is_not_found(tmp_path: Path) -> None:
    from workflow.stages.accept import accept

    ctx = Ctx(settings_from_env({"COVENANT_DATA_DIR": str(tmp_path)}))
    with pytest.raises(NotFound) as caught:
        accept(ctx, 424242, "0" * 64)
    assert isinstance(caught.value, LookupError) and caught.value.http_status == 404


@pytest.mark.parametrize(
    "url",
    ["ftp://host/l/abc", "host/l/abc", "https://host/l/", "https:///l/abc", "https://host/x/abc", "javascript:x/l/a"],
)
def test_one_link_parser_refuses_what_is_not_a_link(url: str) -> None:
    from signing.agent import Link
    from signing.errors import RemoteSigningError

    with pytest.raises(RemoteSigningError, match="not a covenant link"):
        Link.parse(url)


def test_a_link_parses_to_its_api() -> None:
    from signing.agent import Link

    assert Link.parse("https://ky.vks.vn/cum4/l/TOKEN123/").api == "https://ky.vks.vn/cum4/api/links/TOKEN123"


def _secret(folder: str) -> str:
    from workflow.webapp.security import secret_key

    return secret_key(Ctx(settings_from_env({"COVENANT_DATA_DIR": folder})))


def test_processes_starting_at_once_share_one_session_secret(tmp_path: Path) -> None:
    for attempt in range(2):
        folder = tmp_path / str(attempt)
        with multiprocessing.get_context("fork").Pool(8) as pool:
            secrets = pool.map(_secret, [str(folder)] * 16)
        assert len(set(secrets)) == 1
        assert (folder / "secret.key").read_text().strip() == secrets[0]
        assert sorted(p.name for p in folder.iterdir()) == ["secret.key"]  # no temporary file left


def test_every_time_carries_its_offset() -> None:
    from workflow.views import iso

    naive = dt.datetime(2026, 12, 9, 14, 53, 6, 198498)  # as SQLite hands it back
    assert iso(naive) == "2026-12-09T14:53:06.198498+00:00"


def test_statuses_are_enums_over_the_stored_strings() -> None:
    from workflow.states import WAITING, RoundStatus, SlotStatus, status_label

    assert RoundStatus("open") == "open" and f"{SlotStatus.SIGNED}" == "signed"
    assert WAITING == {"pending", "notified"}
    assert status_label("signed") == "đã ký" and status_label("superseded") == "đã phát hành lại"


PUBLIC_ROUTES = {"/login", "/logout", "/", "/docs", "/openapi.json", "/tsa"}  # /tsa: the demo TSA


def _dependencies(dependant: object) -> list[object]:
    found = []
    for sub in getattr(dependant, "dependencies", []):
        found.append(sub.call)
        found.extend(_dependencies(sub))
    return found


def _routes(routes: list, inherited: tuple = ()) -> Iterator[tuple[Any, list[object]]]:
    """Every API route with the dependencies it runs under, through included routers (FastAPI keeps an included
    router as one entry that points to the original router)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route, [*inherited, *_dependencies(route.dependant)]
        elif hasattr(route, "original_router"):
            router = route.original_router
            yield from _routes(router.routes, (*inherited, *(d.dependency for d in router.dependencies)))


def test_every_route_but_the_public_ones_has_a_guard(tmp_path: Path) -> None:
    """Roles and personal links are FastAPI dependencies of the routers: a new route cannot be public by forgetting
    a call (the guards are marked by workflow.webapp.security.guard)."""
    from fastapi.testclient import TestClient

    from workflow.webapp import create_app

    app = create_app(Ctx(settings_from_env({}, data_dir=tmp_path)))
    found = list(_routes(app.routes))
    routes = [route for route, _ in found]
    assert len(routes) > 25
    for route, dependencies in found:
        guards = [c for c in dependencies if getattr(c, "covenant_guard", False)]
        if route.path in PUBLIC_ROUTES:
            assert not guards, route.path
        else:
            assert guards, f"{route.path} ({', '.join(route.methods)}) has no role or link guard"
    with TestClient(app) as web:  # and the guards answer: no session → 401 on the API, whatever the method
        for route in routes:
            if route.path in PUBLIC_ROUTES or not route.path.startswith("/api/") or "{token}" in route.path:
                continue
            path = route.path.replace("{round_id}", "r1").replace("{action}", "remind")
            for method in route.methods:
                answer = web.request(method, path, headers={"accept": "application/json"})
                assert answer.status_code == 401, (method, path, answer.status_code)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("COVENANT_VISIBILITY_TIMEOUT", "ten minutes"),
        ("COVENANT_VISIBILITY_TIMEOUT", "0"),
        ("COVENANT_LOG_LEVEL", "loud"),
        ("COVENANT_BASE_URL", "covenant.example.vn"),
        ("COVENANT_TRUSTED_PROXIES", "10.0.0.0/8 proxy.local"),
        ("COVENANT_BEAT_INTERVAL", "15m"),
        ("COVENANT_BEAT_LEASE", "2"),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_variable(
    variable: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workflow.cli import main
    from workflow.config import reset_settings
    from workflow.errors import SettingsError

    with pytest.raises(SettingsError, match=variable):
        settings_from_env({variable: value}, data_dir=tmp_path)
    monkeypatch.setenv("COVENANT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr("sys.argv", ["covenant", "round", "status", "20261204-deadbeef"])
    reset_settings()
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        monkeypatch.undo()
        reset_settings()
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0] and "Traceback" not in lines[0], lines


def test_the_signing_agent_closes_its_own_client_only() -> None:
    import httpx

    from signing.agent import Agent, Link

    link = Link.parse("http://127.0.0.1:8000/l/" + "A" * 43)
    with Agent(link) as agent:
        own = agent.client
    assert own.is_closed
    given = httpx.Client()
    with Agent(link, client=given):
        pass
    assert not given.is_closed  # the caller's to close
    given.close()


@pytest.mark.parametrize(
    ("indication", "code"),
    [
        ("REVOKED_NO_POE", "signature.revoked"),
        ("REVOKED", "signature.revoked"),
        ("TRY_LATER", "signature.no_revocation"),
        ("REVOCATION_OUT_OF_BOUNDS_NO_POE", "signature.no_revocation"),  # was called "expired" before
        ("OUT_OF_BOUNDS_NO_POE", "signature.expired"),
        ("NOT_YET_VALID", "signature.expired"),
        ("NO_CERTIFICATE_CHAIN_FOUND", "signature.untrusted"),
        (None, "signature.untrusted"),
    ],
)
def test_an_untrusted_certificate_is_refused_for_its_true_cause(indication: str | None, code: str) -> None:
    from signing.validation import TRUST_REASONS, SignatureReport, _trust_code

    fields = {name: "" for name in ("field", "signer_subject", "signer_cn", "certificate_sha256", "coverage")}
    report = SignatureReport(
        **fields,
        signing_time=None,
        timestamp=None,
        timestamp_ok=None,
        intact=True,
        valid=True,
        trusted=False,
        revocation_checked=True,
        modification_level="NONE",
        docmdp_ok=None,
        bottom_line=False,
        summary="",
        trust_problem=indication,
    )
    assert _trust_code(report) == code
    assert TRUST_REASONS[code] and vietnamese(code)


def test_every_audit_event_has_its_vietnamese_words() -> None:
    """Every kind of event the code records (a literal, or a round's or a slot's move) is shown in Vietnamese."""
    import re

    from workflow.states import RoundStatus, SlotStatus, event_label

    kinds = set()
    for path in (ROOT / "workflow").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        kinds |= set(re.findall(r'record\(\s*\w+,\s*[^,()]+,\s*"([a-z_]+\.[a-z_.]+)"', text, re.S))
    kinds |= {f"round.{s.value}" for s in RoundStatus} | {f"slot.{s.value}" for s in SlotStatus}
    assert len(kinds) >= 25, kinds
    untranslated = sorted(k for k in kinds if event_label(k) == k or not re.search(r"[à-ỹđ]", event_label(k)))
    assert untranslated == []


def test_the_round_checks_common_problems_have_vietnamese() -> None:
    from workflow.texts import problem_vietnamese

    said = {
        "criteria groups sum to 99 points, not 100": "Các nhóm tiêu chí cộng lại 99 điểm, chưa đúng 100 điểm.",
        "items of 'Công tác' sum to 54 points, not the group's 55": (
            "Các tiêu chí của nhóm 'Công tác' cộng lại 54 điểm, khác điểm của nhóm (55)."
        ),
        "required field is missing": "Chưa nhập (bắt buộc).",
        "unknown unit id 'ha-noi'": "Không có đơn vị mã 'ha-noi' trong danh sách đơn vị.",
        "Input should be a valid number, unable to parse string as a number": "Phải là một số.",
        "Input should be 'chair', 'vice_chair' or 'member'": "Chỉ được là 'chair', 'vice_chair' hoặc 'member'.",
        "something new": "something new",
    }
    assert {m: problem_vietnamese(m) for m in said} == said
