"""Who may do what on the web pages: users and roles, sessions, CSRF tokens, rate limits.

Users log in with a password hashed with argon2id (`covenant user add`); the session is a signed cookie
(HttpOnly, SameSite=Strict, Secure behind HTTPS) holding the user's id, role and CSRF token. Every form carries the
CSRF token and every state-changing request is checked against it; leaders need no login: their personal link is
their credential, scoped to one slot, and the forms on its page carry a CSRF token derived from it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Form, Header, HTTPException, Request

from workflow.context import Ctx
from workflow.errors import UserError
from workflow.storage import UserRow

ROLES = ("secretariat", "archivist")
HASHER = PasswordHasher()
_DUMMY = HASHER.hash("khong-co-nguoi-dung-nay")  # equal work for unknown users: no timing oracle


def secret_key(ctx: Ctx) -> str:
    """The key that signs session cookies: COVENANT_SECRET_KEY, or one made once in the data folder."""
    if ctx.settings.secret_key:
        return ctx.settings.secret_key
    path = ctx.settings.data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{path}.{os.getpid()}.{secrets.token_hex(4)}")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # creates the key only if no process made it first: every process reads the winner's
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def add_user(ctx: Ctx, username: str, password: str, role: str) -> None:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise UserError("the password must have at least 10 characters")
    with ctx.session() as s:
        user = s.query(UserRow).filter_by(username=username).one_or_none()
        if user is None:
            s.add(UserRow(username=username, password_hash=HASHER.hash(password), role=role))
        else:  # a new password or role: every session of the old one ends now
            user.password_hash, user.role = HASHER.hash(password), role
            user.session_epoch = (user.session_epoch or 0) + 1


def remove_user(ctx: Ctx, username: str) -> None:
    with ctx.session() as s:
        user = s.query(UserRow).filter_by(username=username).one_or_none()
        if user is None:
            raise UserError(f"no user {username}")
        s.delete(user)


def end_sessions(ctx: Ctx, username: str) -> None:
    """Every session of the user ends (logout ends them all: a copied cookie dies with the one logged out)."""
    with ctx.session() as s:
        user = s.query(UserRow).filter_by(username=username).one_or_none()
        if user is not None:
            user.session_epoch = (user.session_epoch or 0) + 1


def session_user(user: UserRow) -> dict[str, object]:
    return {"name": user.username, "role": user.role, "epoch": user.session_epoch or 0}


def authenticate(ctx: Ctx, username: str, password: str) -> UserRow | None:
    with ctx.session() as s:
        user = s.query(UserRow).filter_by(username=username).one_or_none()
        try:
            HASHER.verify(user.password_hash if user else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        return user


def current_user(request: Request) -> dict[str, str] | None:
    """The session's user, checked against the database on every request: a removed user, a changed role or
    password, or a logout elsewhere ends the session at once (the cookie alone is not enough)."""
    user = request.session.get("user")
    if not isinstance(user, dict):
        return None
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None:
        return None
    with ctx.session() as s:
        row = s.query(UserRow).filter_by(username=str(user.get("name"))).one_or_none()
        valid = row is not None and row.role == user.get("role") and (row.session_epoch or 0) == user.get("epoch")
    if not valid:
        request.session.clear()
        return None
    return {"name": str(user["name"]), "role": str(user["role"])}


def require(request: Request, *roles: str) -> dict[str, str]:
    """The logged-in user if their role is one of `roles`: 401 without a session, 403 with another role."""
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "đăng nhập để tiếp tục")
    if user["role"] not in roles:
        raise HTTPException(403, "vai trò của tài khoản này không được làm việc này")
    return user


F = TypeVar("F", bound=Callable[..., Any])


def guard(dependency: F) -> F:
    """Marks a FastAPI dependency as an access guard (a role, a personal link): tests/test_structure.py checks that
    every route but the public ones (login, logout, the home redirect, the API docs) has one."""
    dependency.__dict__["covenant_guard"] = True
    return dependency


def role_guard(*roles: str) -> Callable[[Request], dict[str, str]]:
    """A dependency that lets in users with one of `roles` (401 without a session, 403 with another role) and
    gives the route the user."""

    @guard
    def logged_in(request: Request) -> dict[str, str]:
        return require(request, *roles)

    logged_in.__name__ = f"role_{'_or_'.join(roles)}"
    return logged_in


def form_csrf(request: Request, csrf: str = Form("")) -> None:
    """A dependency for the pages' forms: the session's CSRF token in the field `csrf`."""
    check_csrf(request, csrf)


def header_csrf(request: Request, x_csrf_token: str | None = Header(None)) -> None:
    """A dependency for the JSON API: the session's CSRF token in the header `x-csrf-token`."""
    check_csrf(request, x_csrf_token)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def check_csrf(request: Request, sent: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise HTTPException(403, "phiên làm việc không hợp lệ: tải lại trang rồi thử lại (CSRF)")


def link_csrf(key: str, token: str) -> str:
    """The CSRF token of a leader's page: bound to their link, so a form from elsewhere cannot act for them."""
    return hmac.new(key.encode(), f"link:{token}".encode(), hashlib.sha256).hexdigest()[:32]


class _MemoryStore:
    """Counters in this process only, bounded (the oldest keys are dropped): for code that runs without a
    configured app (tests of one function). `covenant serve` always configures a shared store."""

    SIZE = 10000

    def __init__(self) -> None:
        self.counts: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, key: str, now: int, window: int, amount: int) -> int:
        with self.lock:
            start, count = self.counts.get(key, (now, 0))
            if start <= now - window:  # the key's window is over: a new one starts now
                start, count = now, 0
            self.counts[key] = (start, count + amount)
            self.counts.move_to_end(key)
            while len(self.counts) > self.SIZE:
                self.counts.popitem(last=False)
            return count + amount

    def count(self, key: str, now: int, window: int) -> int:
        with self.lock:
            start, count = self.counts.get(key, (now, 0))
            return count if start > now - window else 0


class DatabaseStore:
    """Counters in the database: shared by every `covenant serve` process and machine on it. Rows of windows
    long past are deleted as new windows begin (at most once a minute per process), so the table stays small."""

    KEEP = 3600  # seconds: the longest window of any limit

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.swept = 0.0

    def add(self, key: str, now: int, window: int, amount: int) -> int:
        from sqlalchemy import case, delete
        from sqlalchemy.dialects import postgresql, sqlite

        from workflow.storage import RateRow

        with self.ctx.session() as s:
            dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
            # one atomic statement: two requests that count the same key at once never collide on its row
            insert = dialect.insert(RateRow).values(key=key, window_start=now, count=amount)
            live = RateRow.window_start > now - window  # the key's window, begun at its first event, still runs
            statement = insert.on_conflict_do_update(
                index_elements=[RateRow.key],
                set_={
                    "count": case((live, RateRow.count + amount), else_=amount),
                    "window_start": case((live, RateRow.window_start), else_=now),
                },
            ).returning(RateRow.count)
            count = int(s.execute(statement).scalar_one())
            if time.time() - self.swept > 60:
                self.swept = time.time()
                s.execute(delete(RateRow).where(RateRow.window_start < int(self.swept) - self.KEEP))
        return count

    def count(self, key: str, now: int, window: int) -> int:
        from workflow.storage import RateRow

        with self.ctx.session() as s:
            row = s.get(RateRow, key)
            return row.count if row is not None and row.window_start > now - window else 0


class RedisStore:
    """Counters in Redis (where a broker is configured): shared by every process and machine, expiring by
    themselves."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def add(self, key: str, now: int, window: int, amount: int) -> int:
        name = f"covenant:limit:{key}"
        with self.client.pipeline() as pipe:  # MULTI: the count and its expiry together
            pipe.incrby(name, amount)
            pipe.expire(name, window, nx=True)  # the window begins with the key's first event and ends with it
            count, _ = pipe.execute()
        return int(count)

    def count(self, key: str, now: int, window: int) -> int:
        return int(self.client.get(f"covenant:limit:{key}") or 0)


_store: _MemoryStore | DatabaseStore | RedisStore = _MemoryStore()


def configure_limits(ctx: Ctx) -> None:
    """Where the counters of every RateLimit live: Redis when a broker is configured, else the database."""
    global _store
    url = ctx.settings.broker_url or ""
    _store = RedisStore(url) if url.startswith(("redis://", "rediss://")) else DatabaseStore(ctx)


class RateLimit:
    """At most `limit` events per `window` seconds per key, counted in the configured store, so that every process
    of an installation sees the same counts. A key's window begins with its first event (not on the clock's
    boundaries, across which a fixed window let twice the limit through in a moment). Keys are hashed: their size
    is bounded."""

    def __init__(self, name: str, limit: int, window: int) -> None:
        self.name, self.limit, self.window = name, limit, window

    def _key(self, key: str) -> str:
        return hashlib.sha256(f"{self.name}\x00{key}".encode()).hexdigest()

    def hit(self, key: str) -> bool:
        """Record one event; False when the key is over its limit."""
        return _store.add(self._key(key), int(time.time()), self.window, 1) <= self.limit

    def full(self, key: str) -> bool:
        """Over the limit already (without recording anything)."""
        return _store.count(self._key(key), int(time.time()), self.window) >= self.limit

    def check(self, key: str) -> None:
        if not self.hit(key):
            raise HTTPException(
                429, "quá nhiều yêu cầu: thử lại sau ít phút", headers={"Retry-After": str(self.window)}
            )


def _trusted_proxies() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """COVENANT_TRUSTED_PROXIES: addresses or networks of the reverse proxies in front of `covenant serve`."""
    from workflow.config import get_settings

    return [ipaddress.ip_network(item, strict=False) for item in get_settings().trusted_proxies]  # checked there


def _is_trusted(address: str, proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client(request: Request) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the nearest address in
    X-Forwarded-For that is not one (a client cannot forge its way past the proxies it went through)."""
    peer = request.client.host if request.client else "unknown"
    proxies = _trusted_proxies()
    if not proxies or not _is_trusted(peer, proxies):
        return peer
    forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
    for address in reversed(forwarded):
        if not _is_trusted(address, proxies):
            return address
    return forwarded[0] if forwarded else peer
