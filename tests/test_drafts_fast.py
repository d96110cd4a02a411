"""Drafts (round files written in the browser) through the secretariat's JSON API, in this process (fast layer):
problems named by round-file paths as `covenant round check` says them, saves that record who changed what,
exact YAML round trips, one launch per draft, and the same authentication as every secretariat route."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.conftest import EXAMPLES, example_without_files
from workflow.context import Ctx
from workflow.drafts import changed_paths, draft_from_yaml, draft_yaml
from workflow.stages.check import RoundFileError, check_round_file
from workflow.storage import RoundRow
from workflow.webapp import create_app

EXAMPLE = EXAMPLES / "cum-4-2024.yaml"


@pytest.fixture
def office(office_api: tuple[Ctx, TestClient, dict[str, str]]) -> tuple[Ctx, TestClient, dict[str, str]]:
    return office_api


def _example() -> dict[str, Any]:
    return example_without_files()


def test_a_draft_carries_the_round_checks_problems_by_path(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    _ctx, web, csrf = office
    made = web.post("/api/drafts", json=_example(), headers=csrf)
    assert made.status_code == 201, made.text
    draft = made.json()
    assert draft["problems"] == [] and draft["title"] == "Cụm thi đua số 4 2024"
    # one item one point short: its group's items no longer sum to the group
    data = copy.deepcopy(draft["round"])
    group = data["covenant"]["criteria"][1]
    group["items"][0]["points"] -= 1
    saved = web.put(f"/api/drafts/{draft['id']}", json=data, headers=csrf).json()
    paths = {p["path"]: p["message"] for p in saved["problems"]}
    assert list(paths) == ["covenant.criteria.1.items"] and "not the group's" in paths["covenant.criteria.1.items"]
    # the group one point short too: the groups sum to 99, said on the criteria
    group["points"] -= 1
    saved = web.put(f"/api/drafts/{draft['id']}", json=data, headers=csrf).json()
    paths = {p["path"]: p["message"] for p in saved["problems"]}
    assert list(paths) == ["covenant.criteria"] and "sum to 99 points, not 100" in paths["covenant.criteria"]
    words = {p["path"]: p["vietnamese"] for p in saved["problems"]}
    assert words["covenant.criteria"] == "Các nhóm tiêu chí cộng lại 99 điểm, chưa đúng 100 điểm."
    # a missing field, a wrong type and an unknown unit, as the command line names them
    del data["conference"]["place"]
    data["covenant"]["criteria"][0]["points"] = "mười"
    data["conference"]["chair"]["unit"] = "khong-co"
    saved = web.put(f"/api/drafts/{draft['id']}", json=data, headers=csrf).json()
    paths = {p["path"] for p in saved["problems"]}
    assert {"conference.place", "covenant.criteria.0.points"} <= paths, paths
    # the same draft, as a file: `covenant round check` says the same things
    yaml_text = web.get(f"/api/drafts/{draft['id']}/round.yaml").text
    path = Path(web.app.state.ctx.settings.data_dir) / "draft.yaml"  # type: ignore[attr-defined]
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(RoundFileError) as raised:
        check_round_file(path)
    assert {p.dotted for p in raised.value.problems} == paths


def test_saves_record_who_changed_what_and_survive(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    ctx, web, csrf = office
    draft = web.post("/api/drafts", json=_example(), headers=csrf).json()
    data = copy.deepcopy(draft["round"])
    data["cluster"]["year"] = 2025
    data["conference"]["place"] = "Hội trường Viện kiểm sát nhân dân tỉnh Bắc Giang"
    web.put(f"/api/drafts/{draft['id']}", json=data, headers=csrf)
    web.put(f"/api/drafts/{draft['id']}", json=data, headers=csrf)  # the same again: no new change
    # another member of the office, in another browser
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as other:
        other_csrf = {"x-csrf-token": factories.login(other, ctx, "thuky", "secretariat")}
        again = other.get(f"/api/drafts/{draft['id']}").json()
        assert again["round"] == data  # nothing lost with the first browser
        data["conference"]["agenda"] = [*data["conference"].get("agenda", []), "Bổ sung nội dung"]
        other.put(f"/api/drafts/{draft['id']}", json=data, headers=other_csrf)
    changes = web.get(f"/api/drafts/{draft['id']}").json()["changes"]
    assert [c["actor"] for c in changes] == ["vanphong", "vanphong", "thuky"]
    assert changes[1]["paths"] == ["cluster.year", "conference.place"]
    assert any(p.startswith("conference.agenda") for p in changes[2]["paths"])
    listed = web.get("/api/drafts").json()
    assert listed[0]["id"] == draft["id"] and listed[0]["title"] == "Cụm thi đua số 4 2025"


def test_yaml_import_and_export_round_trip_exactly(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    _ctx, web, csrf = office
    text = EXAMPLE.read_text(encoding="utf-8")
    imported = web.post("/api/drafts", content=text.encode(), headers={**csrf, "content-type": "application/yaml"})
    assert imported.status_code == 201, imported.text
    data = imported.json()["round"]
    exported = web.get(f"/api/drafts/{imported.json()['id']}/round.yaml").text
    assert draft_from_yaml(exported) == data == draft_from_yaml(text)
    assert draft_yaml(draft_from_yaml(exported)) == exported
    assert "Viện kiểm sát nhân dân tỉnh Phú Thọ" in exported  # Vietnamese as text, not escapes


def test_unusable_bodies_are_refused_by_name_and_nothing_is_stored(
    office: tuple[Ctx, TestClient, dict[str, str]],
) -> None:
    _ctx, web, csrf = office
    for body, expected in [
        (b"[1, 2]", "a round file is a mapping"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{" + b'"a": "' + b"x" * (1024 * 1024) + b'"}', "larger than"),
    ]:
        answer = web.post("/api/drafts", content=body, headers={**csrf, "content-type": "application/json"})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "round_file.invalid" and expected in answer.json()["detail"], answer.text
    aliases = b"a: &x [1]\nb: *x\n"
    answer = web.post("/api/drafts", content=aliases, headers={**csrf, "content-type": "application/yaml"})
    assert answer.status_code == 422 and "aliases" in answer.json()["detail"]
    assert web.get("/api/drafts").json() == []
    assert web.get("/api/drafts/nope").status_code == 404


def test_drafts_are_the_secretariats_and_need_the_csrf_token(tmp_path: Path) -> None:
    ctx = factories.data_folder(tmp_path / "data")
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
        assert web.get("/api/drafts").status_code == 401
        assert web.post("/api/drafts", json=_example()).status_code == 401
        factories.login(web, ctx, "luutru", "archivist")
        assert web.get("/api/drafts").status_code == 403
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
        factories.login(web, ctx, "vanphong", "secretariat")
        refused = web.post("/api/drafts", json=_example())  # no x-csrf-token
        assert refused.status_code == 403
        assert web.get("/api/drafts").json() == []


def test_a_draft_launches_once(office: tuple[Ctx, TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Launching stores the round as an uploaded round file would; its generation (LibreOffice) is started, not
    waited for: here it is counted, not run (the real-parts layer runs it)."""
    ctx, web, csrf = office
    started: list[str] = []
    monkeypatch.setattr("tasks.pipeline.launch_from_web", started.append)
    draft = web.post("/api/drafts", json=_example(), headers=csrf).json()
    broken = copy.deepcopy(draft["round"])
    broken["units"][0]["role"] = "member"  # no chair any more
    web.put(f"/api/drafts/{draft['id']}", json=broken, headers=csrf)
    refused = web.post(f"/api/drafts/{draft['id']}/launch", headers=csrf)
    assert refused.status_code == 422 and {p["path"] for p in refused.json()["problems"]} == {"units"}, refused.text
    assert started == [] and web.get("/api/rounds").json() == []
    web.put(f"/api/drafts/{draft['id']}", json=draft["round"], headers=csrf)
    launched = web.post(f"/api/drafts/{draft['id']}/launch", headers=csrf)
    assert launched.status_code == 202, launched.text
    round_id = launched.json()["round_id"]
    assert started == [round_id]
    with ctx.session() as s:
        assert s.get(RoundRow, round_id) is not None
    again = web.post(f"/api/drafts/{draft['id']}/launch", headers=csrf)
    assert again.status_code == 409 and round_id in again.json()["detail"]
    assert web.put(f"/api/drafts/{draft['id']}", json=broken, headers=csrf).status_code == 409
    assert web.get(f"/api/drafts/{draft['id']}").json()["launched_round"] == round_id


def test_changed_paths_name_leaves_added_removed_and_changed() -> None:
    before = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    after = {"a": {"b": 2, "c": [1]}, "e": {}}
    assert changed_paths(before, after) == ["a.b", "a.c.1", "d", "e"]
    assert changed_paths(before, copy.deepcopy(before)) == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
ROUNDISH = st.fixed_dictionaries(
    {},
    optional={
        "version": JSON,
        "cluster": JSON,
        "units": JSON,
        "conference": JSON,
        "covenant": JSON,
        "documents": JSON,
        "signing": JSON,
    },
)


@given(body=st.one_of(JSON, ROUNDISH))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_json_is_a_draft_or_a_named_refusal_never_a_server_error(
    office: tuple[Ctx, TestClient, dict[str, str]], body: object
) -> None:
    _ctx, web, csrf = office
    answer = web.post("/api/drafts", json=body, headers=csrf)
    assert answer.status_code in (201, 422), answer.text
    if answer.status_code == 201:
        assert all(set(p) == {"path", "message", "vietnamese"} for p in answer.json()["problems"])
        assert isinstance(body, dict)
    else:
        assert answer.json()["error"] == "round_file.invalid" and answer.json()["problems"]


def test_the_drafts_page_takes_a_round_file_and_names_what_is_wrong(
    office: tuple[Ctx, TestClient, dict[str, str]],
) -> None:
    """The form behind "Tạo bản nháp": a round file becomes a draft and the editor opens; a file that is not one
    is answered on the page, naming why, and nothing is stored."""
    _ctx, web, csrf = office
    form = {"csrf": csrf["x-csrf-token"]}
    html = {"accept": "text/html"}
    made = web.post(
        "/drafts", data=form, files={"file": ("r.yaml", EXAMPLE.read_bytes())}, headers=html, follow_redirects=False
    )
    assert made.status_code == 303 and made.headers["location"].startswith("/drafts/"), made.text
    editor = web.get(made.headers["location"], headers=html).text
    assert 'data-path="covenant.criteria.0.points"' in editor and "Tên nhóm tiêu chí" in editor
    for content, expected in [(b"\xff\xfe", "not UTF-8"), (b"a: &x 1\nb: *x\n", "aliases"), (b"- 1\n", "mapping")]:
        refused = web.post("/drafts", data=form, files={"file": ("r.yaml", content)}, headers=html)
        assert refused.status_code == 422 and expected in refused.text, refused.text[:500]
    assert len(web.get("/api/drafts").json()) == 1


def test_a_blank_draft_has_every_section_and_says_what_is_still_empty(
    office: tuple[Ctx, TestClient, dict[str, str]],
) -> None:
    """ "Tạo bản nháp trống": every section of a round file, one empty entry in each list, so a round can be typed
    from nothing; its problems are the empty fields (no key the round file does not know), and the example's values
    typed into it leave none."""
    from workflow.drafts import skeleton

    _ctx, web, csrf = office
    made = web.post("/drafts/blank", data={"csrf": csrf["x-csrf-token"], "year": "2025"}, follow_redirects=False)
    assert made.status_code == 303, made.text
    draft = web.get(f"/api/drafts/{made.headers['location'].rsplit('/', 1)[1]}").json()
    paths = {p["path"] for p in draft["problems"]}
    assert {"cluster.name", "units.0.id", "conference.date", "covenant.motto", "covenant.criteria.0.title"} <= paths
    assert not [p for p in draft["problems"] if p["message"] == "unknown key (typo?)"]
    # every key of the skeleton is a key of a real round file, at the same place
    example = _example()

    def shape(data: object, path: str = "") -> set[str]:
        if isinstance(data, dict):
            return {p for k, v in data.items() for p in {f"{path}{k}"} | shape(v, f"{path}{k}.")}
        if isinstance(data, list):
            return {p for item in data for p in shape(item, path)}
        return set()

    assert shape(skeleton(2025)) <= shape(example) | {"conference.elections.vice_chair"}


def test_the_preview_cache_keeps_what_was_used_lately(tmp_path: Path) -> None:
    """Previews and page images nobody asked for in two days are removed (drawn again when asked for); what was
    used lately stays."""
    import os
    import time

    from workflow.pages import CACHE_KEEP, prune_cache

    ctx = factories.data_folder(tmp_path / "data")
    cache = Path(ctx.settings.data_dir) / "cache"
    old_preview, new_preview = cache / "previews" / "a.pdf", cache / "previews" / "b.pdf"
    old_pages, new_pages = cache / "pages" / "c", cache / "pages" / "d"
    for folder in (old_pages, new_pages):
        folder.mkdir(parents=True)
        (folder / "page-1.png").write_bytes(b"png")
    old_preview.parent.mkdir(parents=True)
    for file in (old_preview, new_preview):
        file.write_bytes(b"%PDF")
    now = time.time()
    for entry in (old_preview, old_pages):
        os.utime(entry, (now - CACHE_KEEP - 60, now - CACHE_KEEP - 60))
    assert prune_cache(ctx, now=now) == 2
    assert not old_preview.exists() and not old_pages.exists()
    assert new_preview.exists() and (new_pages / "page-1.png").exists()


def test_a_save_over_someone_elses_change_is_refused_not_lost(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    """Two members of the office at one draft: each editor sends the version it read (If-Match); the second save
    over the first is refused (409 draft.changed, in Vietnamese), nothing of the first is lost, and the second may
    then overwrite knowingly (no If-Match)."""
    _ctx, web, csrf = office
    draft = web.post("/api/drafts", json=_example(), headers=csrf).json()
    opened = draft["version"]
    first = copy.deepcopy(draft["round"])
    first["conference"]["place"] = "Hội trường A"
    saved = web.put(f"/api/drafts/{draft['id']}", json=first, headers={**csrf, "if-match": opened})
    assert saved.status_code == 200 and saved.json()["version"] != opened
    second = copy.deepcopy(draft["round"])
    second["cluster"]["year"] = 2025
    refused = web.put(f"/api/drafts/{draft['id']}", json=second, headers={**csrf, "if-match": opened})
    assert refused.status_code == 409 and refused.json()["error"] == "draft.changed"
    assert "người khác sửa" in refused.json()["message"]
    kept = web.get(f"/api/drafts/{draft['id']}").json()
    assert kept["round"]["conference"]["place"] == "Hội trường A" and kept["round"]["cluster"]["year"] == 2024
    # the version just read saves; no version at all (an API client, or "overwrite") saves too
    ok = web.put(f"/api/drafts/{draft['id']}", json=second, headers={**csrf, "if-match": kept["version"]})
    assert ok.status_code == 200 and ok.json()["round"]["cluster"]["year"] == 2025


def test_a_draft_not_launched_can_be_discarded(
    office: tuple[Ctx, TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _ctx, web, csrf = office
    monkeypatch.setattr("tasks.pipeline.launch_from_web", lambda round_id: None)
    kept, dropped = (web.post("/api/drafts", json=_example(), headers=csrf).json() for _ in range(2))
    assert web.delete(f"/api/drafts/{dropped['id']}").status_code == 403  # no x-csrf-token
    assert web.delete(f"/api/drafts/{dropped['id']}", headers=csrf).status_code == 204
    assert web.get(f"/api/drafts/{dropped['id']}").status_code == 404
    assert web.post(f"/api/drafts/{kept['id']}/launch", headers=csrf).status_code == 202
    assert web.delete(f"/api/drafts/{kept['id']}", headers=csrf).status_code == 409  # the record of its round
    assert [d["id"] for d in web.get("/api/drafts").json()] == [kept["id"]]


def test_every_key_of_the_round_file_has_vietnamese_words() -> None:
    """The editor labels every input in Vietnamese: a key added to the round model without its words fails here."""
    from workflow.editor_labels import LABELS

    def keys(node: dict[str, Any]) -> set[str]:
        found = {node["key"]} if node.get("key") and not node["key"].isdigit() and node["key"] != "__new__" else set()
        for child in node.get("children", []):
            found |= keys(child)
        for child in [*node.get("items", []), *([node["template"]] if "template" in node else [])]:
            found |= keys(child)
        for option in node.get("options", []) if node["kind"] == "choice" else []:
            if option["node"]:
                found |= keys(option["node"])
        return found

    from workflow.editor_form import build

    every = keys(build(skeleton_with_trust()))
    assert every - set(LABELS) == set()


def skeleton_with_trust() -> dict[str, Any]:
    from workflow.drafts import skeleton

    data = skeleton(2025)
    data["signing"]["trust"] = {"roots": ["goc.pem"], "tsa": "http://tsa.example"}
    return data
