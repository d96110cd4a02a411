"""The round editor in Chromium (Playwright), on `covenant serve`: the office imports last year's round file as a
draft, changes it by typing (the points total turns red at 99 and green at 100, each problem beside its input),
adds, moves and removes items without a reload, closes the browser and finds the draft as typed, and launches it.
The editor, the drafts page and the directory page pass axe-core (vendored in tests/vendor, no CDN) without
serious violations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.conftest import ARTIFACTS, EXAMPLES, REPO, run_covenant, serving

pytestmark = pytest.mark.live

AXE = REPO / "tests" / "vendor" / "axe-core-4.14.1.min.js"
PASSWORD = "Cum4-van-phong-2025"
SHOTS = ARTIFACTS / "web"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    data = tmp_path_factory.mktemp("editor")
    env = {"COVENANT_DATA_DIR": str(data)}
    assert (
        run_covenant("pki", "demo", str(data / "pki"), "--round", str(EXAMPLES / "cum-4-2024.yaml"), env=env).returncode
        == 0
    )
    secret = data / "secret"
    secret.write_text(PASSWORD)
    made = run_covenant("user", "add", "vanphong", "--role", "secretariat", "--password-file", str(secret), env=env)
    assert made.returncode == 0, made.stderr
    with serving(env) as served:
        yield {**served, "data": data}


def _login(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "vanphong")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/rounds")


def _saved_after(page, before: str | None) -> None:  # type: ignore[no-untyped-def]
    """Until the editor says a save newer than `before` came back."""
    newer = "([before]) => { const s = document.getElementById('saved');"
    newer += " return s.dataset.saved && s.dataset.saved !== before; }"
    page.wait_for_function(newer, arg=[before or ""])


def _serious(page) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_the_office_edits_a_draft_by_typing_and_launches_it(office: dict, browser) -> None:  # type: ignore[no-untyped-def]
    base = office["base"]
    context = browser.new_context(
        viewport={"width": 1024, "height": 1366}, bypass_csp=True
    )  # a tablet; axe is injected
    page = context.new_page()
    _login(page, base)
    page.click("a[href='/drafts']")
    assert _serious(page) == []
    # the cluster directory from last year's round file, then its page (a form per unit)
    page.set_input_files("#directory-file", str(EXAMPLES / "cum-4-2024.yaml"))
    page.click("form[action='/directory/import'] button[type=submit]")
    page.wait_for_url(f"{base}/drafts")
    page.click("a[href='/directory/cum-thi-dua-so-4']")
    assert "Nguyễn Trường Thọ" in page.content()
    assert _serious(page) == []
    page.goto(f"{base}/directory")  # the clusters, and the form for a new one
    assert "Cụm thi đua số 4" in page.content()
    assert _serious(page) == []
    page.goto(f"{base}/drafts")
    # last year's round file as the office keeps it, without the seal images beside it (one is uploaded below)
    SHOTS.mkdir(parents=True, exist_ok=True)
    text = (EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8")
    last_year = SHOTS / "cum-4-2024.yaml"
    last_year.write_text(re.sub(r"(?m)^ +seal_image: .*\n", "", text), encoding="utf-8")
    page.set_input_files("#draft-file", str(last_year))
    page.click("form[action='/drafts'] button[type=submit]")
    page.wait_for_url(f"{base}/drafts/*")
    draft_url = page.url
    total = page.locator("#total")
    assert "100/100" in total.inner_text() and "ok" in (total.get_attribute("class") or "")
    assert _serious(page) == []
    # one group a point short: red at once, and after the save the round check's words beside the criteria
    points = page.locator('[data-path="covenant.criteria.0.points"]')
    before = page.locator("#saved").get_attribute("data-saved")
    points.fill("19")
    assert "99/100" in total.inner_text() and "bad" in (total.get_attribute("class") or "")
    _saved_after(page, before)
    problem = page.locator('.problem[data-for="covenant.criteria"]')
    assert problem.is_visible() and "cộng lại 99 điểm" in problem.inner_text()  # in Vietnamese on the page
    assert "sum to 99 points" in (problem.get_attribute("title") or "")  # the command line's words behind it
    SHOTS.mkdir(parents=True, exist_ok=True)
    problem.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "editor-99-points.png"))
    items_problem = page.locator('.problem[data-for="covenant.criteria.0.items"]')
    assert items_problem.is_visible()  # the group's items still sum to 20
    before = page.locator("#saved").get_attribute("data-saved")
    points.fill("20")
    assert "100/100" in total.inner_text() and "ok" in (total.get_attribute("class") or "")
    _saved_after(page, before)
    assert not problem.is_visible()
    # wherever a unit is named, the units' ids are offered
    vice_chair = page.locator('[data-path="conference.elections.vice_chair"]')
    assert vice_chair.evaluate("e => e.tagName") == "SELECT" and vice_chair.input_value() == "bac-giang"
    assert "bac-giang" in [o.get_attribute("value") for o in vice_chair.locator("option").all()]
    # by keyboard: the place, typed
    place = page.locator('[data-path="conference.place"]')
    place.focus()
    page.keyboard.press("Control+A")
    before = page.locator("#saved").get_attribute("data-saved")
    page.keyboard.type("Hội trường Viện kiểm sát nhân dân tỉnh Bắc Giang")
    _saved_after(page, before)
    # a new agenda item, moved to the top, then a commitment removed: no reload
    agenda = page.locator('[data-path="conference.agenda"]')
    count = agenda.locator(":scope > ol > li").count()
    agenda.locator(":scope > button[data-action=add]").click()
    new_item = page.locator(f'[data-path="conference.agenda.{count}"]')
    new_item.fill("Phát động phong trào thi đua năm 2025")
    for _ in range(count):
        page.locator(f'[data-path="conference.agenda.{count}"]').locator("xpath=ancestor::li[1]").locator(
            "button[data-action=up]"
        ).click()
        count -= 1
    commitments = page.locator('[data-path="covenant.commitments"]')
    kept = commitments.locator(":scope > ol > li").count()
    before = page.locator("#saved").get_attribute("data-saved")
    commitments.locator(":scope > ol > li").last.locator("button[data-action=remove]").click()
    _saved_after(page, before)
    # Phú Thọ's seal, chosen on the tablet: kept with the draft under a name without accents, named in its field
    seal = SHOTS / "Dấu Phú Thọ.png"
    Image.new("RGBA", (160, 160), (200, 0, 0, 160)).save(seal)
    before = page.locator("#saved").get_attribute("data-saved")
    page.set_input_files("#u-f-units-0-seal_image", str(seal))
    _saved_after(page, before)
    assert page.locator('[data-path="units.0.seal_image"]').input_value() == "dau-phu-tho.png"
    assert page.locator('#file-list li[data-file="dau-phu-tho.png"]').count() == 1
    assert page.locator("#all-problems li").count() == 0
    context.close()  # the browser is closed: nothing typed is lost
    context = browser.new_context()
    page = context.new_page()
    _login(page, base)
    page.goto(draft_url)
    assert (
        page.locator('[data-path="conference.place"]').input_value()
        == "Hội trường Viện kiểm sát nhân dân tỉnh Bắc Giang"
    )
    assert page.locator('[data-path="conference.agenda.0"]').input_value() == "Phát động phong trào thi đua năm 2025"
    assert page.locator('[data-path="covenant.commitments"]').locator(":scope > ol > li").count() == kept - 1
    draft_id = draft_url.rsplit("/", 1)[1]
    stored = json.loads(
        page.evaluate(f"async () => JSON.stringify(await (await fetch('/api/drafts/{draft_id}')).json())")
    )
    assert stored["problems"] == [] and stored["round"]["conference"]["agenda"][0].startswith("Phát động")
    assert [f["name"] for f in stored["files"]] == ["dau-phu-tho.png"]
    assert any(p == "conference.place" for c in stored["changes"] for p in c["paths"])
    # launched from the editor: the round's page
    page.click("#launch")
    page.wait_for_url(f"{base}/rounds/*")
    assert "Cụm thi đua số 4" in page.content()
    # next year from the directory: last year's round as launched, Bắc Giang (the vice-chair) now chair
    page.goto(f"{base}/drafts")
    page.fill("#year", "2025")
    page.fill("#chair", "bac-giang")
    page.fill("#vice_chair", "thai-nguyen")
    page.click("form[action='/drafts/from-directory'] button[type=submit]")
    page.wait_for_url(f"{base}/drafts/*")
    assert page.locator('[data-path="cluster.year"]').input_value() == "2025"
    assert page.locator('[data-path="units.1.role"]').input_value() == "chair"
    assert page.locator('[data-path="units.2.role"]').input_value() == "vice_chair"
    assert page.locator('[data-path="units.0.role"]').input_value() == "member"  # Phú Thọ is a member now
    typed = "Hội trường Viện kiểm sát nhân dân tỉnh Bắc Giang"
    assert page.locator('[data-path="conference.place"]').input_value() == typed  # as launched last year
    context.close()
