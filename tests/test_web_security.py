"""Sessions that end on the server, and rate limits that hold: every token route counts a guess, login limits
per client across user names, counters shared by every `covenant serve` process (the database, or Redis where a
broker is configured), the client's address read behind a trusted proxy only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_covenant, serving

pytestmark = pytest.mark.live
PASSWORD = "Van-phong-cum-4-2024"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    data = tmp_path_factory.mktemp("websec")
    env = {"COVENANT_DATA_DIR": str(data), "COVENANT_TRUSTED_PROXIES": "127.0.0.1"}
    secret = data / "pw"
    secret.write_text(PASSWORD)
    made = run_covenant("user", "add", "vanphong", "--role", "secretariat", "--password-file", str(secret), env=env)
    assert made.returncode == 0, made.stderr
    with serving(env) as served:
        yield {"base": served["base"], "env": env, "data": data}


def _client(site: dict, address: str) -> httpx.Client:
    """A client as the server sees it behind the trusted proxy (127.0.0.1) at `address`."""
    return httpx.Client(base_url=site["base"], headers={"x-forwarded-for": address}, timeout=60)


def _login(c: httpx.Client, password: str = PASSWORD, user: str = "vanphong") -> httpx.Response:
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
    return c.post("/login", data={"username": user, "password": password, "csrf": csrf})


def _user_add(site: dict, role: str, password: str, tmp_path: Path) -> None:
    secret = tmp_path / f"pw-{uuid.uuid4().hex}"
    secret.write_text(password)
    made = run_covenant("user", "add", "vanphong", "--role", role, "--password-file", str(secret), env=site["env"])
    assert made.returncode == 0, made.stderr


def test_sessions_end_at_once_on_the_server(site: dict, tmp_path: Path) -> None:
    with _client(site, "192.0.2.10") as c1, _client(site, "192.0.2.11") as c2:
        assert _login(c1).status_code == 303
        c2.cookies.update(c1.cookies)  # a copied cookie
        assert c1.get("/api/rounds").status_code == 200 and c2.get("/api/rounds").status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', c1.get("/rounds").text).group(1)  # type: ignore[union-attr]
        assert c1.post("/logout", data={"csrf": csrf}).status_code == 303
        assert c2.get("/api/rounds").status_code == 401  # the copy ended with the logout
    changes = [
        lambda: _user_add(site, "secretariat", "Mat-khau-moi-2024", tmp_path),  # a new password
        lambda: _user_add(site, "archivist", "Mat-khau-moi-2024", tmp_path),  # a new role
        lambda: run_covenant("user", "remove", "vanphong", env=site["env"]),  # removed
    ]
    password = PASSWORD
    for change in changes:
        with _client(site, "192.0.2.12") as c:
            assert _login(c, password).status_code == 303
            assert c.get("/api/archive").status_code == 200
            change()
            assert c.get("/api/archive").status_code == 401
        password = "Mat-khau-moi-2024"
    _user_add(site, "secretariat", PASSWORD, tmp_path)


def test_token_guesses_are_counted_on_every_token_route(site: dict) -> None:
    bad = "khong-phai-token"
    pdf = {"file": ("x.pdf", b"%PDF-1.7 not really", "application/pdf")}
    tries = [
        lambda c, i: c.get(f"/api/links/{bad}{i}/pdf"),
        lambda c, i: c.get(f"/l/{bad}{i}/pages/1.png"),
        lambda c, i: c.post(f"/api/links/{bad}{i}/decline", json={"reason": "x"}),
        lambda c, i: c.post(f"/api/links/{bad}{i}/upload", files=pdf),
        lambda c, i: c.post(f"/api/links/{bad}{i}/prepare", json={"certificate": "AA=="}),
        lambda c, i: c.post(f"/api/links/{bad}{i}/finish", json={"cms": "AA=="}),
        lambda c, i: c.post(f"/l/{bad}{i}/upload", data={"csrf": "x"}, files=pdf),
        lambda c, i: c.post(f"/l/{bad}{i}/decline", data={"csrf": "x", "reason": "x"}),
    ]
    with _client(site, "198.51.100.7") as c:
        codes = [tries[i % len(tries)](c, i).status_code for i in range(20)]
        assert 429 not in codes and set(codes) <= {404}, codes
        assert c.get(f"/api/links/{bad}-21").status_code == 429
        assert c.get(f"/l/{bad}-22").status_code == 429  # every route, the page too
    with _client(site, "198.51.100.8") as other:
        assert other.get(f"/api/links/{bad}").status_code == 404  # another client is not held back


def test_login_spraying_is_limited_per_client(site: dict) -> None:
    with _client(site, "203.0.113.5") as c:
        codes = [_login(c, "sai-mat-khau", user=f"nguoi-{i}").status_code for i in range(20)]
        assert codes == [401] * 20
        assert _login(c).status_code == 429  # even the right password, from this client, for a while
    with _client(site, "203.0.113.6") as other:
        assert _login(other).status_code == 303


def test_limits_are_shared_by_every_serve_process(site: dict) -> None:
    with serving({**site["env"]}, "--workers", "2") as served:
        codes = []
        for i in range(21):
            with httpx.Client(base_url=served["base"], headers={"x-forwarded-for": "198.51.100.99"}) as c:
                codes.append(c.get(f"/api/links/geuss-{i}").status_code)  # a new connection each time
        assert codes[:20] == [404] * 20 and codes[20] == 429, codes


def test_redis_counters_are_shared_and_expire() -> None:
    from workflow.webapp import security

    url = "redis://127.0.0.1:6379/15"
    first, second = security.RedisStore(url), security.RedisStore(url)
    key = uuid.uuid4().hex
    assert first.add(key, 1000, 60, 1) == 1
    assert second.add(key, 1030, 60, 1) == 2  # another process, another machine: the same count
    assert second.add(key, 1030, 60, 0) == 2 and first.count(key, 1030, 60) == 2
    ttl = first.client.ttl(f"covenant:limit:{key}")
    assert 0 < ttl <= 60  # the window began with the first event and is not pushed back by the later ones
    short = uuid.uuid4().hex
    first.add(short, 1000, 1, 1)
    import time

    time.sleep(1.2)
    assert first.add(short, 1002, 1, 1) == 1  # that window is over: a new one begins


def test_a_window_begins_with_the_keys_first_event() -> None:
    """Twenty events across a clock boundary still count together (a fixed window let twice the limit through
    there, and failed the login test when its twenty tries straddled a five-minute boundary)."""
    from workflow.webapp import security

    store = security._MemoryStore()
    key = uuid.uuid4().hex
    counts = [store.add(key, 299 * 60 + i, 300, 1) for i in range(0, 40, 2)]  # 17940 … 17978, across 17700 + 300
    assert counts == list(range(1, 21)) and store.add(key, 18001, 300, 1) == 21
    assert store.count(key, 18001, 300) == 21 and store.count(key, 17940 + 300, 300) == 0
    assert store.add(key, 17940 + 300, 300, 1) == 1  # its window over: a new one


def test_database_counters_stay_bounded(tmp_path: Path) -> None:
    import time

    from workflow.config import settings_from_env
    from workflow.context import Ctx
    from workflow.storage import RateRow
    from workflow.webapp import security

    ctx = Ctx(settings_from_env({"COVENANT_DATA_DIR": str(tmp_path)}))
    store = security.DatabaseStore(ctx)
    old = int(time.time()) - 2 * security.DatabaseStore.KEEP
    for i in range(300):
        store.add(f"old-{i}", old, 60, 1)
    store.swept = 0.0
    store.add("new", int(time.time()), 60, 1)
    with ctx.session() as s:
        assert s.query(RateRow).count() == 1  # windows long past are gone


def test_client_address_behind_a_trusted_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.requests import Request

    from workflow.webapp.security import client

    def request(peer: str, forwarded: str | None) -> Request:
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
        return Request({"type": "http", "client": (peer, 1234), "headers": headers})

    from workflow.config import reset_settings

    monkeypatch.delenv("COVENANT_TRUSTED_PROXIES", raising=False)
    reset_settings()
    assert client(request("198.51.100.1", "1.2.3.4")) == "198.51.100.1"  # no proxy trusted: the header is ignored
    monkeypatch.setenv("COVENANT_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    reset_settings()  # settings are read once per process
    assert client(request("10.0.0.1", "1.2.3.4, 10.0.0.2")) == "1.2.3.4"
    assert client(request("10.0.0.1", "forged, 5.6.7.8")) == "5.6.7.8"  # what the client wrote is further left
    assert client(request("198.51.100.1", "1.2.3.4")) == "198.51.100.1"  # an untrusted peer's header is ignored
    monkeypatch.delenv("COVENANT_TRUSTED_PROXIES")
    reset_settings()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_counters_are_atomic_under_concurrency(tmp_path: Path, backend: str) -> None:
    """Twenty threads counting the same key at once: no collision on its row, and every event counted."""
    from concurrent.futures import ThreadPoolExecutor

    from workflow.config import settings_from_env
    from workflow.context import Ctx
    from workflow.webapp import security

    env = {"COVENANT_DATA_DIR": str(tmp_path)}
    if backend == "postgresql":
        env["COVENANT_DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    store = security.DatabaseStore(Ctx(settings_from_env(env)))
    import time

    key, start = uuid.uuid4().hex, int(time.time())
    with ThreadPoolExecutor(max_workers=20) as pool:
        counts = list(pool.map(lambda i: store.add(key, start + i % 50, 60, 1), range(40)))
    assert sorted(counts) == list(range(1, 41))  # one window, begun at the first event
    assert store.count(key, start + 59, 60) == 40  # begun at whichever event came first, by start + 49
    assert store.add(key, start + 110, 60, 1) == 1  # its window over: a new one starts afresh
    assert store.add(key, start + 169, 60, 1) == 2 and store.add(key, start + 170, 60, 1) == 1
