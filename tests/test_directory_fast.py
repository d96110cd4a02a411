"""The cluster directory through the secretariat's JSON API, in this process (fast layer): imported from a round
file, a change of leader as an edit, problems named by their path in the unit, and next year's draft made from the
cluster's last round with the rotation's chair and vice-chair, differing from it only where it must."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests import factories
from tests.conftest import EXAMPLES
from workflow.context import Ctx
from workflow.drafts import changed_paths, draft_from_yaml
from workflow.webapp import create_app

EXAMPLE = EXAMPLES / "cum-4-2024.yaml"
CLUSTER = "cum-thi-dua-so-4"
# Bắc Giang's unit on the directory page's form, with a new leader (fields named by their path in the unit)
NEW_LEADER_FORM = {
    "id": "bac-giang",
    "name": "Viện kiểm sát nhân dân tỉnh Bắc Giang",
    "short_name": "VKSND tỉnh Bắc Giang",
    "place": "Bắc Giang",
    "leader.name": "Trần Văn Mới",
    "leader.title": "Viện trưởng",
    "leader.email": "vientruong.bg@example.vn",
}


@pytest.fixture
def office(office_api: tuple[Ctx, TestClient, dict[str, str]]) -> tuple[Ctx, TestClient, dict[str, str]]:
    return office_api


def _import(web: TestClient, csrf: dict[str, str]) -> dict:  # type: ignore[type-arg]
    answer = web.post(
        "/api/directory/import", content=EXAMPLE.read_bytes(), headers={**csrf, "content-type": "application/yaml"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_round_file_fills_the_directory(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    _ctx, web, csrf = office
    cluster = _import(web, csrf)
    assert cluster["id"] == CLUSTER and cluster["name"] == "Cụm thi đua số 4"
    assert [u["id"] for u in cluster["units"]] == ["phu-tho", "bac-giang", "thai-nguyen", "hoa-binh", "vinh-phuc"]
    bac_giang = cluster["units"][1]
    assert bac_giang["leader"] == {
        "name": "Nguyễn Trường Thọ",
        "title": "Phó Viện trưởng",
        "on_behalf_of": "Viện trưởng",
        "email": "vienbacgiang@example.vn",
    }
    listed = web.get("/api/directory").json()
    assert [(c["id"], c["sector"], c["units"]) for c in listed] == [(CLUSTER, "ngành Kiểm sát nhân dân", 5)]


def test_a_change_of_leader_is_an_edit_and_problems_name_their_field(
    office: tuple[Ctx, TestClient, dict[str, str]],
) -> None:
    _ctx, web, csrf = office
    cluster = _import(web, csrf)
    unit = {k: v for k, v in cluster["units"][1].items() if k not in ("updated_by", "updated_at")}
    deputy = unit["leader"]
    unit["leader"] = {"name": "Trần Văn Mới", "title": "Viện trưởng", "email": "vientruong.bg@example.vn"}
    unit["leader"]["remote_user_id"] = "079080001234"
    unit["deputies"] = [deputy]
    unit["clerk"] = {"name": "Lê Thị Văn Thư", "email": "vanthu.bg@example.vn"}
    saved = web.put(f"/api/directory/{CLUSTER}/units/bac-giang", json=unit, headers=csrf)
    assert saved.status_code == 200, saved.text
    after = {u["id"]: u for u in saved.json()["units"]}
    assert len(after) == 5 and after["bac-giang"]["leader"]["name"] == "Trần Văn Mới"
    assert after["bac-giang"]["deputies"] == [deputy] and after["bac-giang"]["clerk"]["name"] == "Lê Thị Văn Thư"
    assert after["bac-giang"]["updated_by"] == "vanphong"
    unit["leader"]["email"] = "không-phải-thư"
    unit["clerk"] = {"name": ""}
    refused = web.put(f"/api/directory/{CLUSTER}/units/bac-giang", json=unit, headers=csrf)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "directory.invalid"
    assert {p["path"] for p in refused.json()["problems"]} == {"leader.email", "clerk.name", "clerk.email"}
    unit["leader"]["email"], unit["clerk"] = "vientruong.bg@example.vn", None
    renamed = web.put(f"/api/directory/{CLUSTER}/units/bac-giang", json={**unit, "id": "bg"}, headers=csrf)
    assert renamed.status_code == 422 and renamed.json()["problems"][0]["path"] == "id"
    kept = web.get(f"/api/directory/{CLUSTER}").json()
    assert {u["id"]: u for u in kept["units"]}["bac-giang"]["leader"]["name"] == "Trần Văn Mới"  # nothing half-saved
    assert web.delete(f"/api/directory/{CLUSTER}/units/vinh-phuc", headers=csrf).status_code == 200
    assert [u["id"] for u in web.get(f"/api/directory/{CLUSTER}").json()["units"]][-1] == "hoa-binh"


def test_next_year_is_last_years_round_with_the_rotation(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    """From the 2024 round, launched: 2025 with Bắc Giang (the vice-chair) as chair and Thái Nguyên as vice-chair;
    the draft differs from the 2024 round file only in the year and the roles."""
    ctx, web, csrf = office
    round_2024 = factories.launched_round(ctx)
    _import(web, csrf)
    assert web.get(f"/api/directory/{CLUSTER}").json()["rounds"][0]["round_id"] == round_2024
    made = web.post(
        f"/api/directory/{CLUSTER}/drafts",
        json={"year": 2025, "chair": "bac-giang", "vice_chair": "thai-nguyen"},
        headers=csrf,
    )
    assert made.status_code == 201, made.text
    draft = made.json()
    before = draft_from_yaml(EXAMPLE.read_text(encoding="utf-8"))
    assert changed_paths(before, draft["round"]) == [
        "cluster.year",
        "conference.elections.chair",  # the conference elects the rotation's chair and vice-chair
        "conference.elections.vice_chair",
        "units.0.role",
        "units.1.role",
        "units.2.role",
    ]
    assert draft["round"]["conference"]["elections"] == {"chair": "bac-giang", "vice_chair": "thai-nguyen"}
    assert draft["round"]["units"][1]["role"] == "chair" and "role" not in draft["round"]["units"][0]
    assert draft["title"] == "Cụm thi đua số 4 2025"
    # the rotation must name units of the cluster
    wrong = web.post(f"/api/directory/{CLUSTER}/drafts", json={"year": 2025, "chair": "ha-noi"}, headers=csrf)
    assert wrong.status_code == 422 and wrong.json()["problems"][0]["path"] == "chair"


def test_a_cluster_without_a_round_gives_a_draft_that_says_what_is_missing(
    office: tuple[Ctx, TestClient, dict[str, str]],
) -> None:
    _ctx, web, csrf = office
    _import(web, csrf)
    made = web.post(f"/api/directory/{CLUSTER}/drafts", json={"year": 2025, "chair": "phu-tho"}, headers=csrf)
    assert made.status_code == 201, made.text
    problems = made.json()["problems"]
    missing = {p["path"] for p in problems}
    assert {"conference.date", "conference.place", "covenant.motto"} <= missing, missing  # empty, to be typed
    assert not [p for p in problems if p["message"] == "unknown key (typo?)"]
    assert made.json()["round"]["units"][0]["role"] == "chair"  # the directory's units, with the rotation


def test_the_directory_is_the_secretariats(tmp_path: Path) -> None:
    ctx = factories.data_folder(tmp_path / "data")
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
        assert web.get("/api/directory").status_code == 401
        factories.login(web, ctx, "luutru", "archivist")
        assert web.get("/api/directory").status_code == 403
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as web:
        factories.login(web, ctx, "vanphong", "secretariat")
        assert web.post("/api/directory/import", content=EXAMPLE.read_bytes()).status_code == 403  # no CSRF token
        assert web.get("/api/directory/nope").status_code == 404


def test_the_directory_page_edits_a_unit_by_its_form(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    """The page's form: a change of leader keeps the unit, a wrong e-mail is answered on the page by its path with
    nothing saved, a new unit is added at the end."""
    _ctx, web, csrf = office
    _import(web, csrf)
    html = {"accept": "text/html"}
    page = web.get(f"/directory/{CLUSTER}", headers=html)
    assert page.status_code == 200 and "Nguyễn Trường Thọ" in page.text and 'action="/directory/' in page.text
    form = {
        "csrf": csrf["x-csrf-token"],
        **NEW_LEADER_FORM,
        "leader.remote_user_id": "079080001234",
        "clerk.name": "Lê Thị Văn Thư",
        "clerk.email": "vanthu.bg@example.vn",
    }
    saved = web.post(f"/directory/{CLUSTER}/units", data=form, headers=html, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    units = {u["id"]: u for u in web.get(f"/api/directory/{CLUSTER}").json()["units"]}
    assert units["bac-giang"]["leader"] == {
        "name": "Trần Văn Mới",
        "title": "Viện trưởng",
        "email": "vientruong.bg@example.vn",
        "remote_user_id": "079080001234",
    }
    assert units["bac-giang"]["clerk"] == {"name": "Lê Thị Văn Thư", "email": "vanthu.bg@example.vn"}
    refused = web.post(f"/directory/{CLUSTER}/units", data={**form, "leader.email": "sai"}, headers=html)
    assert refused.status_code == 422 and "leader.email" in refused.text
    assert web.get(f"/api/directory/{CLUSTER}").json()["units"][1]["leader"]["email"] == "vientruong.bg@example.vn"
    added = web.post(
        f"/directory/{CLUSTER}/units",
        data={**form, "id": "tuyen-quang", "name": "Viện kiểm sát nhân dân tỉnh Tuyên Quang"},
    )
    assert added.status_code == 200
    assert [u["id"] for u in web.get(f"/api/directory/{CLUSTER}").json()["units"]][-1] == "tuyen-quang"


def test_a_cluster_is_typed_from_nothing_and_edited(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    _ctx, web, csrf = office
    body = {
        "name": "Cụm thi đua số 4",
        "sector": "ngành Kiểm sát nhân dân",
        "guidance": {"number": "09/HD-VKSTC", "date": "2024-03-01", "issuer": "Viện kiểm sát nhân dân tối cao"},
    }
    made = web.post("/api/directory", json=body, headers=csrf)
    assert made.status_code == 201, made.text
    assert made.json()["id"] == CLUSTER and made.json()["units"] == []
    again = web.post("/api/directory", json=body, headers=csrf)  # the same name twice: one cluster
    assert again.status_code == 422 and again.json()["problems"][0]["path"] == "name"
    wrong = web.put(
        f"/api/directory/{CLUSTER}", json={**body, "guidance": {**body["guidance"], "date": "1/3"}}, headers=csrf
    )
    assert wrong.status_code == 422 and wrong.json()["problems"][0]["path"] == "guidance.date"
    edited = web.put(f"/api/directory/{CLUSTER}", json={**body, "sector": "ngành Kiểm sát"}, headers=csrf)
    assert edited.status_code == 200 and edited.json()["sector"] == "ngành Kiểm sát"
    assert edited.json()["guidance"]["number"] == "09/HD-VKSTC"


def test_the_unit_form_keeps_deputies_pins_and_clerk(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    """The directory page's unit form (fields named by their path in the unit): a certificate pin, a deputy and
    the clerk are kept; an emptied deputy row removes that deputy; nothing is lost by an edit through the page."""
    _ctx, web, csrf = office
    _import(web, csrf)
    form = {
        "csrf": csrf["x-csrf-token"],
        **NEW_LEADER_FORM,
        "leader.certificate.serial_number": "CCCD:024080001234",
        "deputies.0.name": "Nguyễn Trường Thọ",
        "deputies.0.title": "Phó Viện trưởng",
        "deputies.0.on_behalf_of": "Viện trưởng",
        "deputies.0.email": "vienbacgiang@example.vn",
        "deputies.1.name": "",
        "deputies.1.title": "",
        "clerk.name": "Lê Thị Văn Thư",
        "clerk.email": "vanthu.bg@example.vn",
    }
    sent = web.post(f"/directory/{CLUSTER}/units", data=form, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    unit = web.get(f"/api/directory/{CLUSTER}").json()["units"][1]
    assert unit["leader"]["certificate"] == {"serial_number": "CCCD:024080001234"}
    assert [d["name"] for d in unit["deputies"]] == ["Nguyễn Trường Thọ"]
    assert unit["clerk"] == {"name": "Lê Thị Văn Thư", "email": "vanthu.bg@example.vn"}
    # the page shows what it keeps, so that saving it again changes nothing
    page = web.get(f"/directory/{CLUSTER}").text
    assert 'value="CCCD:024080001234"' in page and 'name="deputies.0.name"' in page
    emptied = {k: ("" if k.startswith("deputies.0.") else v) for k, v in form.items()}
    assert web.post(f"/directory/{CLUSTER}/units", data=emptied, follow_redirects=False).status_code == 303
    assert web.get(f"/api/directory/{CLUSTER}").json()["units"][1]["deputies"] == []
    # a wrong value: answered on the page by its path, nothing saved
    bad = web.post(f"/directory/{CLUSTER}/units", data={**form, "leader.email": "khong-phai-thu"})
    assert bad.status_code == 422 and "leader.email" in bad.text
    assert web.get(f"/api/directory/{CLUSTER}").json()["units"][1]["leader"]["email"] == "vientruong.bg@example.vn"


def test_the_directory_page_lists_clusters_and_makes_one(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    _ctx, web, csrf = office
    html = {"accept": "text/html"}
    empty = web.get("/directory", headers=html)
    assert empty.status_code == 200 and "Danh bạ chưa có cụm nào" in empty.text
    form = {"csrf": csrf["x-csrf-token"], "name": "Cụm thi đua số 11", "sector": "ngành Kiểm sát nhân dân"}
    made = web.post("/directory", data={**form, "guidance.date": "2019-09-10"}, headers=html)
    assert made.status_code == 422 and "guidance.number" in made.text  # a guidance is whole or absent
    made = web.post("/directory", data=form, headers=html, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == "/directory/cum-thi-dua-so-11"
    listed = web.get("/directory", headers=html).text
    assert 'href="/directory/cum-thi-dua-so-11"' in listed
