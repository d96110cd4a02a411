"""The issue's journey in Chromium (Playwright), on `covenant serve` with an empty directory: the office types the Cụm 4
2024 round into the forms — the cluster and its five units into the directory, then the conference and the covenant
into the editor, never a YAML file — sees the total red at 99 and green at 100, closes the browser half-way and
finds its draft, previews, launches. The launched documents' text (pdftotext) equals that of
`examples/cum-4-2024.yaml` launched from YAML. Then next year's draft from the directory, Bắc Giang (the vice-chair)
now chair: it differs from the 2024 round only where the rotation and the office changed it.

What is typed is read from the example round file (so the two launches can be compared), one input at a time,
through the form the editor makes from the round model: a leaf of the file without an input fails the test."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, EXAMPLES, example_without_files, run_covenant, serving
from workflow.drafts import changed_paths, draft_from_yaml

pytestmark = pytest.mark.live

PASSWORD = "Cum4-van-phong-2024"
EXAMPLE = EXAMPLES / "cum-4-2024.yaml"
SHOTS = ARTIFACTS / "web"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("from-nothing")
    env = {"COVENANT_DATA_DIR": str(data)}
    assert run_covenant("pki", "demo", str(data / "pki"), "--round", str(EXAMPLE), env=env).returncode == 0
    secret = data / "secret"
    secret.write_text(PASSWORD)
    made = run_covenant("user", "add", "vanphong", "--role", "secretariat", "--password-file", str(secret), env=env)
    assert made.returncode == 0, made.stderr
    with serving(env) as served:
        yield {**served, "data": data, "env": env}


def _login(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "vanphong")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/rounds")


def _settled(page: Any) -> None:
    """Until the editor has saved what was typed last (no save waiting, the last one answered)."""
    page.wait_for_timeout(450)  # the editor saves 400 ms after the last keystroke
    page.wait_for_function("() => document.getElementById('saved').textContent.startsWith('Đã lưu')")


def _type(page: Any, value: object, path: str) -> None:
    """Type `value` at `path` as an office would: lists grown or shortened with their buttons, one of several
    forms chosen in its list, a date in its date input, a unit chosen among the units."""
    choice = page.locator(f"#c-f-{path.replace('.', '-')}")
    if choice.count():
        consts = choice.locator("xpath=ancestor::div[@data-kind='choice'][1]").evaluate(
            "c => Array.from(c.querySelectorAll(':scope > .alts > .alt')).map(a => a.dataset.const ?? null)"
        )
        wanted = json.dumps(value)
        index = consts.index(wanted) if wanted in consts else consts.index(None)
        choice.select_option(str(index))
        if wanted in consts:
            return
    if isinstance(value, dict):
        for key, inner in value.items():
            _type(page, inner, f"{path}.{key}" if path else key)
        return
    if isinstance(value, list):
        array = page.locator(f'fieldset[data-kind="array"][data-path="{path}"]:visible')
        items = array.locator(":scope > ol > li")
        while items.count() < len(value):
            array.locator(":scope > button[data-action=add]").click()
        while items.count() > len(value):
            items.last.locator(":scope > .item-tools > button[data-action=remove]").click()
        for i, inner in enumerate(value):
            _type(page, inner, f"{path}.{i}")
        return
    field = page.locator(f'[data-path="{path}"]')
    assert field.count() == 1, f"no input for {path}"
    tag = field.evaluate("e => e.tagName + ':' + e.type")
    if tag.startswith("SELECT"):
        field.select_option(str(value))
    elif tag == "INPUT:checkbox":
        field.set_checked(bool(value))
    else:
        field.fill(str(value))


def _draft_in_page(page: Any, data: dict[str, Any]) -> dict[str, Any]:
    """A draft made by the logged-in page itself (POST /api/drafts with the page's CSRF token), as the API answers."""
    made: dict[str, Any] = page.evaluate(
        """async ([body]) => { const csrf = document.querySelector('input[name=csrf]').value;
             const r = await fetch('/api/drafts', {method: 'POST', body,
               headers: {'content-type': 'application/json', 'x-csrf-token': csrf}}); return await r.json(); }""",
        [json.dumps(data)],
    )
    return made


def _directory_by_forms(page: Any, base: str, example: dict[str, Any]) -> str:
    """The cluster and its units typed into the directory's forms; the cluster's id."""
    page.goto(f"{base}/drafts")
    assert "chưa có cụm nào" in page.content()
    cluster = example["cluster"]
    page.fill("#nc-name", cluster["name"])
    page.fill("#nc-sector", cluster["sector"])
    page.fill("#nc-gnumber", cluster["guidance"]["number"])
    page.fill("#nc-gdate", cluster["guidance"]["date"])
    page.fill("#nc-gissuer", cluster["guidance"]["issuer"])
    page.click("#new-cluster button[type=submit]")
    page.wait_for_url(f"{base}/directory/*")
    cluster_id = page.url.rsplit("/", 1)[1]
    for unit in example["units"]:
        form = page.locator("#unit-new form")
        for key in ("id", "name", "short_name", "place"):
            form.locator(f"[name='{key}']").fill(unit[key])
        for key, value in unit["signer"].items():
            form.locator(f"[name='leader.{key}']").fill(value)
        for key, value in (unit.get("clerk") or {}).items():  # the clerk, who seals after the leader
            form.locator(f"[name='clerk.{key}']").fill(value)
        form.locator("button[type=submit]").click()
        page.wait_for_url(f"{base}/directory/{cluster_id}#unit-{unit['id']}")
    assert page.locator("#problems").count() == 0
    return cluster_id


def _round_open(page: Any, base: str, round_id: str) -> None:
    for _ in range(240):
        page.goto(f"{base}/rounds/{round_id}")
        if page.locator("#round-status").get_attribute("data-status") == "open":
            return
        time.sleep(0.5)
    pytest.fail(f"round {round_id} did not open")


def _text(env: dict[str, str], round_id: str, document: str, out: Path) -> str:
    made = run_covenant("round", "pdf", round_id, "--document", document, "--out", str(out), env=env)
    assert made.returncode == 0, made.stderr
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(out), "-"], capture_output=True, check=True).stdout
    return text.decode()


def test_the_office_types_a_round_from_an_empty_directory(office: dict[str, Any], browser: Any) -> None:
    base, env, data = office["base"], office["env"], office["data"]
    example = example_without_files()  # typed from nothing: the seal images are not uploaded here (test_editor)
    context = browser.new_context(viewport={"width": 1024, "height": 1366})  # a tablet
    page = context.new_page()
    _login(page, base)
    cluster_id = _directory_by_forms(page, base, example)

    # the first draft of a cluster with no round yet: the directory's units, the rest to type
    page.goto(f"{base}/directory/{cluster_id}")
    page.fill("#nd-year", "2024")
    page.select_option("#nd-chair", "phu-tho")
    page.select_option("#nd-vice", "bac-giang")
    page.click("#new-draft button[type=submit]")
    page.wait_for_url(f"{base}/drafts/*")
    draft_url = page.url
    assert page.locator('[data-path="units.4.signer.name"]').input_value() == "Đặng Thanh Nhàn"
    assert page.locator('[data-path="cluster.guidance.date"]').input_value() == "2024-03-01"

    _type(page, example["conference"], "conference")
    _settled(page)
    context.close()  # the browser closed half-way: nothing typed is lost
    context = browser.new_context(viewport={"width": 1024, "height": 1366})
    page = context.new_page()
    _login(page, base)
    page.goto(draft_url)
    assert page.locator('[data-path="conference.place"]').input_value() == example["conference"]["place"]
    assert page.locator('[data-path="conference.attendees.4.unit"]').input_value() == "phu-tho"

    _type(page, example["covenant"], "covenant")
    _type(page, example["documents"], "documents")
    _type(page, example["signing"], "signing")
    total = page.locator("#total")
    last = page.locator('[data-path="covenant.criteria.2.points"]')
    last.fill("24")
    assert "99/100" in total.inner_text() and "bad" in (total.get_attribute("class") or "")
    _settled(page)
    problem = page.locator('.problem[data-for="covenant.criteria"]')
    assert problem.is_visible() and "99" in problem.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "editor-typed-99-points.png"))
    last.fill("25")
    assert "100/100" in total.inner_text() and "ok" in (total.get_attribute("class") or "")
    _settled(page)
    assert not problem.is_visible()
    assert page.locator("#all-problems li").count() == 0, page.locator("#all-problems").inner_text()

    draft_id = draft_url.rsplit("/", 1)[1]
    stored = page.evaluate(f"async () => await (await fetch('/api/drafts/{draft_id}')).json()")
    assert stored["problems"] == []
    # the typed round is the example, but for what the example leaves to its defaults
    assert changed_paths(example, stored["round"]) == []

    page.click("#preview")
    page.wait_for_function("() => document.querySelectorAll('#pages img').length >= 2", timeout=120_000)
    alts = page.locator("#pages img").evaluate_all("imgs => imgs.map(i => i.alt)")
    assert "Bản giao ước, trang 1" in alts and "Biên bản, trang 1" in alts
    page.screenshot(path=str(SHOTS / "editor-typed-preview.png"))

    page.click("#launch")
    page.wait_for_url(f"{base}/rounds/*")
    typed_round = page.url.rsplit("/", 1)[1]
    _round_open(page, base, typed_round)

    # the same round launched from its YAML file: the same documents, word for word
    launched = run_covenant("round", "launch", str(EXAMPLE), "--json", env=env)
    assert launched.returncode == 0, launched.stderr
    yaml_round = json.loads(launched.stdout)["round_id"]
    _round_open(page, base, yaml_round)
    for document in ("covenant", "minutes"):
        typed = _text(env, typed_round, document, data / f"typed-{document}.pdf")
        from_yaml = _text(env, yaml_round, document, data / f"yaml-{document}.pdf")
        assert "Cụm thi đua số 4" in typed and typed == from_yaml, document

    # next year from the directory: Bắc Giang, last year's vice-chair, is the chair; Thái Nguyên the vice-chair
    page.goto(f"{base}/directory/{cluster_id}")
    assert page.locator("#nd-year").input_value() == "2025"
    page.select_option("#nd-chair", "bac-giang")
    page.select_option("#nd-vice", "thai-nguyen")
    page.click("#new-draft button[type=submit]")
    page.wait_for_url(f"{base}/drafts/*")
    assert page.locator('[data-path="units.0.role"]').input_value() == "member"
    page.locator('[data-path="conference.date"]').fill("2025-03-19")
    _settled(page)
    next_id = page.url.rsplit("/", 1)[1]
    next_year = page.evaluate(f"async () => await (await fetch('/api/drafts/{next_id}')).json()")
    changed = changed_paths(stored["round"], next_year["round"])
    # last year's round (the one launched from YAML, last) carries its units' seals on: named, with their files
    seals = [p for p in changed if p.endswith(".seal_image")]
    assert seals == [f"units.{i}.seal_image" for i in range(5)]
    assert sorted(f["name"] for f in next_year["files"]) == sorted(u["seal_image"] for u in next_year["round"]["units"])
    assert next_year["problems"] == []
    assert [p for p in changed if p not in seals] == [
        "cluster.year",
        "conference.date",
        "conference.elections.chair",
        "conference.elections.vice_chair",
        "units.0.role",
        "units.1.role",
        "units.2.role",
    ]
    assert next_year["round"]["units"][1]["role"] == "chair" and "role" not in next_year["round"]["units"][0]
    context.close()


@pytest.mark.parametrize("example", ["cum-4-2024.yaml", "cum-11-2020.yaml"])
def test_a_draft_saved_from_the_form_unchanged_is_the_same_round_file(
    office: dict[str, Any], browser: Any, example: str
) -> None:
    """The form reads back exactly what it shows: a round file imported as a draft, shown, and saved from the form
    (a key typed and typed back) is the same data, keys the file left to their defaults included (cum-11 has no
    `online`, `attendees`, `documents`), and every path of the file has its input."""
    base = office["base"]
    data = draft_from_yaml((EXAMPLES / example).read_text(encoding="utf-8"))
    context = browser.new_context()
    page = context.new_page()
    _login(page, base)
    made = _draft_in_page(page, data)
    page.goto(f"{base}/drafts/{made['id']}")
    place = page.locator('[data-path="conference.place"]')
    place.fill(place.input_value() + " ")
    _settled(page)
    place.fill(data["conference"]["place"])
    _settled(page)
    stored = page.evaluate(f"async () => await (await fetch('/api/drafts/{made['id']}')).json()")
    assert changed_paths(data, stored["round"]) == []
    assert stored["round"] == data, (stored["round"]["signing"], data["signing"])
    context.close()


def test_two_people_at_one_draft_never_hide_each_others_work(office: dict[str, Any], browser: Any) -> None:
    """Two members of the office open one draft; the first saves; the second's save is refused on their page with
    the reason and two ways on (reload, or overwrite knowingly), and the first one's work is still there until the
    second chooses to overwrite it."""
    base = office["base"]
    data = draft_from_yaml(EXAMPLE.read_text(encoding="utf-8"))
    pages = []
    for _ in range(2):
        context = browser.new_context()
        page = context.new_page()
        _login(page, base)
        pages.append(page)
    made = _draft_in_page(pages[0], data)
    first, second = pages
    for page in pages:
        page.goto(f"{base}/drafts/{made['id']}")
    first.locator('[data-path="conference.place"]').fill("Hội trường tầng 3")
    _settled(first)
    second.locator('[data-path="conference.start"]').fill("07:30")
    second.wait_for_selector("#conflict:not([hidden])")
    assert "người khác sửa" in second.locator("#saved").inner_text()
    stored = first.evaluate(f"async () => await (await fetch('/api/drafts/{made['id']}')).json()")
    assert stored["round"]["conference"]["place"] == "Hội trường tầng 3"
    assert stored["round"]["conference"]["start"] == "08:00"
    second.click("#overwrite")
    second.wait_for_selector("#conflict[hidden]", state="attached")
    stored = first.evaluate(f"async () => await (await fetch('/api/drafts/{made['id']}')).json()")
    assert stored["round"]["conference"]["start"] == "07:30"  # chosen knowingly
    for page in pages:
        page.context.close()


def test_forms_of_a_value_are_chosen_and_filled_on_the_page(office: dict[str, Any], browser: Any) -> None:
    """A value of several forms: the covenant signed by some units only (a list of units grown from nothing), and
    trust in roots of the round's own (a certificate uploaded beside its field); both saved as the round file says
    them, and "all" / "demo" back again."""
    base = office["base"]
    data = draft_from_yaml(EXAMPLE.read_text(encoding="utf-8"))
    context = browser.new_context()
    page = context.new_page()
    _login(page, base)
    made = _draft_in_page(page, data)
    page.goto(f"{base}/drafts/{made['id']}")
    page.select_option("#c-f-documents-covenant-signers", label="Chỉ lãnh đạo các đơn vị sau")
    signers = page.locator('fieldset[data-kind="array"][data-path="documents.covenant.signers"]')
    for unit in ("phu-tho", "bac-giang"):
        signers.locator(":scope > button[data-action=add]").click()
        signers.locator("select[data-type=unit]").last.select_option(unit)
    page.select_option("#c-f-signing-trust", label="Chứng thư gốc và dịch vụ dấu thời gian riêng")
    roots = page.locator('fieldset[data-kind="array"][data-path="signing.trust.roots"]')
    roots.locator(":scope > button[data-action=add]").click()
    before = page.locator("#saved").get_attribute("data-saved")
    page.set_input_files("#u-f-signing-trust-roots-0", str(office["data"] / "pki" / "root.pem"))
    page.wait_for_function(
        "([b]) => { const s = document.getElementById('saved'); return s.dataset.saved && s.dataset.saved !== b; }",
        arg=[before or ""],
    )
    page.locator('[data-path="signing.trust.tsa"]').fill("http://127.0.0.1:9/tsa")
    _settled(page)
    stored = page.evaluate(f"async () => await (await fetch('/api/drafts/{made['id']}')).json()")
    assert stored["round"]["documents"]["covenant"]["signers"] == ["phu-tho", "bac-giang"]
    assert stored["round"]["signing"]["trust"] == {"roots": ["root.pem"], "tsa": "http://127.0.0.1:9/tsa"}
    assert [f["name"] for f in stored["files"]] == ["root.pem"]
    assert not [p for p in stored["problems"] if p["path"].startswith("signing.trust")]
    # and back to the simple forms
    page.select_option("#c-f-documents-covenant-signers", label="Lãnh đạo tất cả các đơn vị")
    page.select_option("#c-f-signing-trust", label="Chứng thư thử nghiệm của hệ thống (demo)")
    _settled(page)
    stored = page.evaluate(f"async () => await (await fetch('/api/drafts/{made['id']}')).json()")
    assert stored["round"]["documents"]["covenant"]["signers"] == "all"
    assert stored["round"]["signing"]["trust"] == "demo"
    context.close()
