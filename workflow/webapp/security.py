"""Who may do what on the web pages: users and roles, sessions, CSRF tokens, rate limits.

Users log in with a password hashed with argon2id (`covenant user add`); the session is a signed cookie
(HttpOnly, SameSite=Strict, Secure behind HTTPS) holding the user's id, role and CSRF token. Every form carries the
CSRF token and every state-changing request is checked against it; leaders need no login: their personal link is
their credential, scoped to one slot, and the forms on its page carry a CSRF token derived from it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request

from workflow.pipeline import Ctx
from workflow.storage import UserRow

ROLES = ("secretariat", "archivist")
HASHER = PasswordHasher()
_DUMMY = HASHER.hash("khong-co-nguoi-dung-nay")  # equal work for unknown users: no timing oracle


class UserError(Exception):
    pass


def secret_key(ctx: Ctx) -> str:
    """The key that signs session cookies: COVENANT_SECRET_KEY, or one made once in the data folder."""
    if os.environ.get("COVENANT_SECRET_KEY"):
        return os.environ["COVENANT_SECRET_KEY"]
    path = ctx.settings.data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{path}.{os.getpid()}")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        os.replace(tmp, path) if not path.exists() else tmp.unlink()
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
        else:
            user.password_hash, user.role = HASHER.hash(password), role


def authenticate(ctx: Ctx, username: str, password: str) -> UserRow | None:
    with ctx.session() as s:
        user = s.query(UserRow).filter_by(username=username).one_or_none()
        try:
            HASHER.verify(user.password_hash if user else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        return user


def current_user(request: Request) -> dict[str, str] | None:
    user = request.session.get("user")
    return user if isinstance(user, dict) else None


def require(request: Request, *roles: str) -> dict[str, str]:
    """The logged-in user if their role is one of `roles`: 401 without a session, 403 with another role."""
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "đăng nhập để tiếp tục")
    if user["role"] not in roles:
        raise HTTPException(403, "vai trò của tài khoản này không được làm việc này")
    return user


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


class RateLimit:
    """At most `limit` events per `window` seconds per key (in this process)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.events: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Record one event; False when the key is over its limit."""
        now = time.monotonic()
        with self.lock:
            seen = self.events[key]
            while seen and seen[0] < now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return False
            seen.append(now)
            return True

    def full(self, key: str) -> bool:
        """Over the limit already (without recording anything)."""
        now = time.monotonic()
        with self.lock:
            seen = self.events[key]
            while seen and seen[0] < now - self.window:
                seen.popleft()
            return len(seen) >= self.limit

    def check(self, key: str) -> None:
        if not self.hit(key):
            raise HTTPException(429, "quá nhiều yêu cầu: thử lại sau ít phút", headers={"Retry-After": "60"})


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"
