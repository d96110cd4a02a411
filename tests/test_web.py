"""The web pages in a real browser (Debian's chromium driven by Playwright), the API's refusals, and
schemathesis against the app's own OpenAPI. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import json
import re
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ARTIFACTS, EXAMPLES, REPO, copy_example_files, run_covenant, serving, sign_as
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.storage import DocumentRow, SlotRow

pytestmark = pytest.mark.live
SHOTS = ARTIFACTS / "web"
PASSWORDS = {"vanphong": "Cum4-van-phong-2024", "luutru": "Cum4-luu-tru-2024"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    data = tmp_path_factory.mktemp("web")
    env = {"COVENANT_DATA_DIR": str(data)}
    demo = run_covenant("demo", "--out", str(data), "--json", env=env)  # an archived round for the archivist
    assert demo.returncode == 0, demo.stderr
    launched = run_covenant("round", "launch", str(EXAMPLES / "cum-4-2024.yaml"), "--json", env=env)
    assert launched.returncode == 0, launched.stderr
    for name, role in [("vanphong", "secretariat"), ("luutru", "archivist")]:
        secret = data / f"{name}.pw"
        secret.write_text(PASSWORDS[name])
        made = run_covenant("user", "add", name, "--role", role, "--password-file", str(secret), env=env)
        assert made.returncode == 0, made.stderr
    with serving(env) as served:
        env = {k: v for k, v in served.items() if k != "base"}
        issued = run_covenant("round", "links", json.loads(launched.stdout)["round_id"], "--json", env=env)
        assert issued.returncode == 0, issued.stderr
        links = {(i["document"], i["field"]): i["url"] for i in json.loads(issued.stdout)}
        index = json.loads((data / "pki" / "index.json").read_text(encoding="utf-8"))
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield {
            "base": served["base"],
            "env": env,
            "links": links,
            "data": data,
            "index": index,
            "round_id": json.loads(launched.stdout)["round_id"],
        }


def _signed_elsewhere(site: dict, field: str, key: str) -> bytes:
    """What a leader's own signing tool would produce: the current revision plus their signature."""
    token = site["links"][("covenant", field)].rsplit("/", 1)[1]
    current = httpx.get(f"{site['base']}/api/links/{token}/pdf").content
    return sign_as(site["data"] / "pki", key, current, field)


def test_leader_opens_the_link_uploads_and_sees_the_receipt(site: dict, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 412, "height": 915})  # a phone
    url = site["links"][("covenant", "unit-thai-nguyen")]
    page.goto(url)
    assert page.locator("h1").inner_text() == "Bản giao ước thi đua"
    assert "Phùng Đức Tiến" in page.content()
    page.wait_for_load_state("load")
    assert page.eval_on_selector_all("img.page", "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("img.page").count() == 3
    assert page.get_by_role("button", name="Ký số bằng USB token").is_visible()  # the first way offered: a click
    assert url in (page.locator("#command").text_content() or "")  # the command line, folded away for technicians
    page.screenshot(path=str(SHOTS / "leader-link.png"), full_page=True)

    wrong = tmp_path / "bac-giang.pdf"  # Bắc Giang's leader's signature in Thái Nguyên's field
    wrong.write_bytes(_signed_elsewhere(site, "unit-thai-nguyen", "bac-giang--nguyen-truong-tho"))
    page.set_input_files("input[type=file]", str(wrong))
    page.click("text=Tải lên và kiểm tra")
    assert "Chữ ký không được chấp nhận" in page.locator("h1").inner_text()
    assert "chứng thư số của người khác" in page.locator("#message").inner_text()  # in plain Vietnamese
    page.screenshot(path=str(SHOTS / "leader-upload-refused.png"), full_page=True)

    signed = tmp_path / "thai-nguyen.pdf"
    signed.write_bytes(_signed_elsewhere(site, "unit-thai-nguyen", "thai-nguyen--phung-duc-tien"))
    page.goto(url)
    page.set_input_files("input[type=file]", str(signed))
    page.click("text=Tải lên và kiểm tra")
    page.wait_for_selector("#receipt")
    assert "Đã ký" in page.locator("#receipt").inner_text()
    assert "Phùng Đức Tiến" in page.locator("#receipt").inner_text()
    page.screenshot(path=str(SHOTS / "leader-receipt.png"), full_page=True)
    page.close()


def _login(browser, site: dict, name: str):  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(f"{site['base']}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button:has-text('Đăng nhập')")
    return page


def test_secretariat_launches_a_round_and_watches_it_progress(site: dict, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from workflow.demo import person_key

    page = _login(browser, site, "vanphong")
    page.wait_for_url("**/rounds")
    bad = tmp_path / "sai.yaml"
    bad.write_text((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8").replace("points: 20", "points: 21", 1))
    copy_example_files(tmp_path)  # (the seals it names, for the command line's check beside it)
    page.set_input_files("input[type=file]", str(bad))
    page.click("text=Kiểm tra và phát hành")
    problems = page.locator("#problems").inner_text()
    expected = run_covenant("round", "check", str(bad)).stderr.strip().splitlines()
    assert expected and all(line.split(": ", 1)[1] in problems for line in expected)  # as `covenant round check`
    page.screenshot(path=str(SHOTS / "secretariat-check-problems.png"), full_page=True)

    # the round file with the seals it names, in one zip, as the office keeps a round
    launch_zip = tmp_path / "cum-4-2024.zip"
    with zipfile.ZipFile(launch_zip, "w") as archive:
        archive.write(EXAMPLES / "cum-4-2024.yaml", "round.yaml")
        for seal_file in sorted((EXAMPLES / "seals").glob("*.png")):
            archive.write(seal_file, f"seals/{seal_file.name}")
    page.set_input_files("input[type=file]", str(launch_zip))
    page.click("text=Kiểm tra và phát hành")
    page.wait_for_url(re.compile(r".*/rounds/\d{8}-[0-9a-f]{8}$"), timeout=120_000)
    round_id = page.url.rsplit("/", 1)[1]
    # the launch answers at once (202 on the API); the page follows the generation until the round opens
    for _ in range(240):
        if page.locator("#round-status").get_attribute("data-status") == "open":
            break
        time.sleep(0.5)
        page.reload()
    assert page.locator("#round-status").get_attribute("data-status") == "open"
    field = "covenant/unit-bac-giang"
    assert page.locator(f'[data-field="{field}"]').inner_text() == "chờ gửi"
    # the leader signs on their own machine (here: the CLI beside the browser); the page updates by itself
    pki = site["data"] / "pki"
    entry = site["index"]["people"][person_key("bac-giang", "Nguyễn Trường Thọ")]
    signed = run_covenant(
        "sign",
        round_id,
        "--field",
        "unit-bac-giang",
        "--p12",
        str(pki / entry["p12"]),
        "--passphrase-file",
        str(pki / entry["passphrase_file"]),
        env=site["env"],
    )
    assert signed.returncode == 0, signed.stderr
    from playwright.sync_api import expect

    expect(page.locator(f'[data-field="{field}"]')).to_have_text("đã ký", timeout=15_000)  # without a reload
    page.reload()
    audit = page.locator("table.audit")
    assert "Ô ký: đã ký" in audit.inner_text()  # the audit trail shows it, in words
    assert audit.locator("td[title='slot.signed']").count() == 1  # and the recorded kind behind them
    page.screenshot(path=str(SHOTS / "secretariat-progress.png"), full_page=True)
    page.close()


def test_archivist_searches_without_accents_and_downloads(site: dict, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = _login(browser, site, "luutru")
    page.wait_for_url("**/archive")
    page.fill("input[name=unit]", "Phu Tho")
    page.click("button:has-text('Tìm')")
    rows = page.locator("#results tbody tr")
    assert rows.count() >= 1 and "Cụm thi đua số 4" in rows.first.inner_text()
    page.screenshot(path=str(SHOTS / "archivist-search.png"), full_page=True)
    with page.expect_download() as download:
        page.click("text=Tải gói (zip)")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as z:
        assert any(n.endswith("bagit.txt") for n in z.namelist())
    verify = run_covenant("archive", "verify", str(saved))
    assert verify.returncode == 0, verify.stdout
    page.click("text=Kiểm tra")
    assert page.locator("#verdict").inner_text() == "Hợp lệ"
    page.screenshot(path=str(SHOTS / "archivist-verification.png"), full_page=True)
    assert page.goto(f"{site['base']}/rounds").status == 403  # read-only role
    page.close()


def _token(site: dict, field: str) -> str:
    return site["links"][("covenant", field)].rsplit("/", 1)[1]


def test_refusals_change_nothing(site: dict, tmp_path: Path) -> None:
    base = site["base"]
    token = _token(site, "unit-hoa-binh")
    other = _signed_elsewhere(site, "unit-vinh-phuc", "vinh-phuc--dang-thanh-nhan")
    # another slot's signature through this slot's link
    r = httpx.post(f"{base}/api/links/{token}/upload", files={"file": ("x.pdf", other, "application/pdf")})
    assert r.status_code == 422 and "field" in r.json()["detail"]
    # this slot's own signature, made malformed: a clean 422 naming the problem, never a 500
    import re as _re

    mine = _signed_elsewhere(site, "unit-hoa-binh", "hoa-binh--ngo-bao-ngoc")
    at = mine.rfind(b"/ByteRange")
    close = mine.index(b"]", at) + 1
    for broken in (
        mine[:at] + b"/ByteRange null".ljust(close - at) + mine[close:],
        _re.sub(rb"startxref\s+\d+\s+%%EOF\s*$", b"startxref\n999999999\n%%EOF\n", mine),
        mine[: len(mine) - 300],
    ):
        r = httpx.post(f"{base}/api/links/{token}/upload", files={"file": ("m.pdf", broken, "application/pdf")})
        assert r.status_code == 422 and r.json()["detail"], r.text
    # not a PDF; too large; a path in the file name
    r = httpx.post(f"{base}/api/links/{token}/upload", files={"file": ("a.pdf", b"GIF89a...", "application/pdf")})
    assert r.status_code == 415
    big = b"%PDF-1.7\n" + b"0" * (50 * 1024 * 1024)
    r = httpx.post(f"{base}/api/links/{token}/upload", files={"file": ("big.pdf", big, "application/pdf")}, timeout=120)
    assert r.status_code == 413
    r = httpx.post(
        f"{base}/api/links/{token}/upload",
        files={"file": ("../../../../tmp/covenant-evil.pdf", b"%PDF-1.7 x", "application/pdf")},
    )
    assert r.status_code == 422 and not Path("/tmp/covenant-evil.pdf").exists()
    # an expired link
    from workflow.config import settings_from_env
    from workflow.context import Ctx
    from workflow.links import token_sha256
    from workflow.storage import LinkRow

    ctx = Ctx(settings_from_env(site["env"]))
    expired = _token(site, "unit-phu-tho")
    with ctx.session() as s:
        link = s.query(LinkRow).filter_by(token_sha256=token_sha256(expired)).one()
        keep, link.expires_at = link.expires_at, link.expires_at.replace(year=2000)
    assert httpx.get(f"{base}/api/links/{expired}").status_code == 410
    with ctx.session() as s:
        s.query(LinkRow).filter_by(token_sha256=token_sha256(expired)).one().expires_at = keep
    # a token replayed after signing
    signed = _signed_elsewhere(site, "unit-hoa-binh", "hoa-binh--ngo-bao-ngoc")
    upload = {"file": ("s.pdf", signed, "application/pdf")}
    ok = httpx.post(f"{base}/api/links/{token}/upload", files=upload, timeout=120)
    assert ok.status_code == 200, ok.text
    again = httpx.post(f"{base}/api/links/{token}/upload", files={"file": ("s.pdf", signed, "application/pdf")})
    assert again.status_code == 410
    # forms without their CSRF token; an archivist trying to void
    no_csrf = {"username": "vanphong", "password": PASSWORDS["vanphong"]}
    assert httpx.post(f"{base}/login", data=no_csrf).status_code == 403
    with httpx.Client(base_url=base) as c:
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
        c.post("/login", data={"username": "luutru", "password": PASSWORDS["luutru"], "csrf": csrf})
        r = c.post(f"/api/rounds/{site['round_id']}/void", data={"reason": "thử"}, headers={"x-csrf-token": csrf})
        assert r.status_code == 403
        assert c.get("/api/archive").status_code == 200
    status = json.loads(run_covenant("round", "status", site["round_id"], "--json", env=site["env"]).stdout)
    assert status["status"] == "open"
    # guessing tokens is rate-limited; every answer carries the security headers
    codes = [httpx.get(f"{base}/api/links/khong-phai-token-{i}").status_code for i in range(25)]
    assert codes[0] == 404 and codes[-1] == 429
    headers = httpx.get(f"{base}/login").headers
    assert "default-src 'none'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
    assert "httponly" in httpx.Client(base_url=base).get("/login").headers.get("set-cookie", "").lower()


def test_openapi_has_no_server_errors(site: dict) -> None:
    """schemathesis against the app's own OpenAPI, unauthenticated and as the archivist: no 5xx."""
    done = subprocess.run(
        [
            str(Path(REPO / ".venv" / "bin" / "schemathesis"))
            if (REPO / ".venv" / "bin" / "schemathesis").exists()
            else "schemathesis",
            "run",
            f"{site['base']}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "15",
            "--phases",
            "examples,fuzzing",
            "--request-timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def _office(site: dict) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=site["base"], timeout=300)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
    c.post("/login", data={"username": "vanphong", "password": PASSWORDS["vanphong"], "csrf": csrf})
    page = c.get("/rounds").text  # the session's own token, after login
    return c, re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


SERVER_PATHS = [
    ("seal_image", "/etc/passwd"),
    ("seal_image", "../../x.png"),
    ("seal_image", "anh/../../../etc/hostname"),
    ("templates", "/usr/share"),
    ("templates", "~root"),
    ("trust", "/etc/ssl/certs/ca-certificates.crt"),
]


@pytest.mark.parametrize(("key", "path"), SERVER_PATHS, ids=[f"{k}:{p}" for k, p in SERVER_PATHS])
def test_a_web_launch_names_no_server_path(site: dict, key: str, path: str) -> None:
    """A round file uploaded to the server may not name a file of the server: each is a 422 naming the field,
    and nothing about the server's file is said (whether it exists, its size)."""
    import yaml

    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    if key == "seal_image":
        spec["units"][0]["seal_image"] = path
    elif key == "templates":
        spec["templates"] = path
    else:
        spec["signing"]["trust"] = {"roots": [path]}
    body = yaml.safe_dump(spec, allow_unicode=True, sort_keys=False).encode()
    c, csrf = _office(site)
    try:
        r = c.post("/api/rounds", files={"file": ("round.yaml", body)}, headers={"x-csrf-token": csrf})
    finally:
        c.close()
    assert r.status_code == 422, r.text
    text = r.text
    assert "inside the round file's folder" in text, text
    assert "KiB" not in text and "root:" not in text and "/tmp/" not in text


def test_a_web_launch_carries_its_files_in_a_zip(site: dict, tmp_path: Path) -> None:
    """round.yaml and the seal it names, in one zip: launched; a zip entry that climbs out of the upload, or a
    symbolic link in it, is refused."""
    import io
    import zipfile

    import yaml
    from PIL import Image, ImageDraw

    seal = io.BytesIO()
    img = Image.new("RGBA", (200, 200), (255, 255, 255, 0))
    ImageDraw.Draw(img).ellipse((10, 10, 190, 190), outline=(220, 20, 20, 255), width=10)
    img.save(seal, format="PNG")
    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    spec["units"][0]["seal_image"] = "anh/con-dau.png"
    body = yaml.safe_dump(spec, allow_unicode=True, sort_keys=False).encode()

    def zipped(*entries: tuple[str, bytes], link: str | None = None) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, content in entries:
                archive.writestr(name, content)
            if link:
                info = zipfile.ZipInfo(link)
                info.external_attr = 0o120777 << 16  # a symbolic link
                archive.writestr(info, "/etc/passwd")
        return out.getvalue()

    c, csrf = _office(site)
    try:
        bad = c.post(
            "/api/rounds",
            files={"file": ("dot.zip", zipped(("round.yaml", body), ("../evil.png", b"x")))},
            headers={"x-csrf-token": csrf},
        )
        assert bad.status_code == 422 and "outside the upload" in bad.text, bad.text
        linked = c.post(
            "/api/rounds",
            files={"file": ("l.zip", zipped(("round.yaml", body), link="anh/con-dau.png"))},
            headers={"x-csrf-token": csrf},
        )
        assert linked.status_code == 422 and "symbolic link" in linked.text, linked.text
        seals = [(f"seals/{p.name}", p.read_bytes()) for p in sorted((EXAMPLES / "seals").glob("*.png"))]
        good = zipped(("round.yaml", body), ("anh/con-dau.png", seal.getvalue()), *seals)
        ok = c.post("/api/rounds", files={"file": ("dot.zip", good)}, headers={"x-csrf-token": csrf})
        assert ok.status_code == 202, ok.text
        round_id = ok.json()["round_id"]
    finally:
        c.close()
    ctx = Ctx(settings_from_env({"COVENANT_DATA_DIR": str(site["data"])}))
    with ctx.session() as s:
        slot = (
            s.query(SlotRow)
            .join(DocumentRow)
            .filter(
                DocumentRow.round_id == round_id,
                SlotRow.unit_id == "phu-tho",
                DocumentRow.kind == "covenant",
                SlotRow.role == "seal",  # the unit's organisation signature draws its seal
            )
            .one()
        )
        assert slot.seal_image and ctx.blobs.get(slot.seal_image) == seal.getvalue()


def test_cli_reads_only_inside_the_round_files_folder(tmp_path: Path) -> None:
    """A symbolic link that leads out of the round file's folder is refused like a path that does."""
    import os

    import yaml

    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    spec["units"][0]["seal_image"] = "con-dau.png"
    (tmp_path / "r").mkdir()
    os.symlink("/etc/hostname", tmp_path / "r" / "con-dau.png")
    path = tmp_path / "r" / "round.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    proc = run_covenant("round", "check", str(path))
    assert proc.returncode == 2 and "outside the round file's folder" in proc.stderr, proc.stderr
    spec["units"][0]["seal_image"] = "/etc/hostname"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    proc = run_covenant("round", "check", str(path))
    assert proc.returncode == 2 and "units[0].seal_image" in proc.stderr and "Traceback" not in proc.stderr


def test_docs_work_under_the_apps_own_csp(site: dict, browser) -> None:  # type: ignore[no-untyped-def]
    """/docs: Swagger UI from the app itself (no CDN, no inline script), under the same Content-Security-Policy
    as every page; the operations of the API are listed, and nothing the page needs was blocked."""
    page = browser.new_page()
    blocked: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: blocked.append(m.text))
    page.on("pageerror", lambda e: blocked.append(f"error: {e}"))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(site["base"]) else None)
    response = page.goto(f"{site['base']}/docs")
    assert response is not None and response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    try:
        page.wait_for_selector(".opblock", timeout=30_000)
    except Exception:
        raise AssertionError(blocked) from None
    assert page.locator(".opblock").count() >= 10
    assert "/api/links/{token}/upload" in page.content()
    script_blocks = [m for m in blocked if "script" in m.lower()]
    assert not script_blocks, script_blocks
    assert outside == [], outside
    page.screenshot(path=str(SHOTS / "docs.png"), full_page=False)
    page.close()


def test_page_images_within_a_time_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A revision real pdftoppm cannot draw within its budget (a million rectangles in 46 KB) gets no images, is
    not drawn again at once, and holds its request only for the budget; a plain one is drawn once."""
    import time

    import pikepdf

    from workflow import pages

    heavy = pikepdf.new()
    page = heavy.add_blank_page(page_size=(595, 842))
    page.obj.Contents = heavy.make_stream(b"0 0 1 rg " + b"10 10 500 800 re f " * 1_000_000)
    out = tmp_path / "heavy.pdf"
    heavy.save(out, compress_streams=True)
    documents = {"heavy": out.read_bytes()}
    plain = pikepdf.new()
    plain.add_blank_page(page_size=(595, 842))
    plain.save(tmp_path / "plain.pdf")
    documents["plain"] = (tmp_path / "plain.pdf").read_bytes()
    ctx = Ctx(settings_from_env({"COVENANT_DATA_DIR": str(tmp_path / "data")}))
    monkeypatch.setattr(pages, "PAGE_BUDGET", 1)
    started = time.monotonic()
    assert pages.page_images(ctx, documents["heavy"]) == []
    assert time.monotonic() - started < 4  # the budget, not pdftoppm's minutes
    started = time.monotonic()
    assert pages.page_images(ctx, documents["heavy"]) == [] and time.monotonic() - started < 2  # not drawn again
    first = pages.page_images(ctx, documents["plain"])
    assert len(first) == 1 and pages.page_images(ctx, documents["plain"]) == first
