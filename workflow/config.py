"""Settings (design §5): every `COVENANT_*` variable, read in one place, once per process.

Nothing else reads the environment: code asks `get_settings()` (or is handed a `Settings`). An entry point that
needs other settings for this process (`covenant demo --out DIR`) installs them with `use_settings`, never by
rewriting `os.environ`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from workflow.errors import SettingsError

PACKAGE_ROOT = Path(__file__).resolve().parent
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_SIGNING_SERVICE = "wss://127.0.0.1:8987"  # where the VGCA Sign Service (and covenant agent) listens
DEFAULT_MAIL_FROM = "Văn phòng Cụm thi đua <covenant@localhost>"


@dataclass(frozen=True)
class Settings:
    data_dir: Path  # COVENANT_DATA_DIR: database (SQLite by default), blobs, archive, demo PKI
    database_url: str  # COVENANT_DATABASE_URL (default: SQLite in the data folder)
    broker_url: str | None = None  # COVENANT_BROKER_URL: none → tasks run in-process (eager)
    result_backend: str | None = None  # COVENANT_RESULT_BACKEND (default: the broker, when it is Redis)
    visibility_timeout: int = 600  # COVENANT_VISIBILITY_TIMEOUT: seconds before Redis hands an unacked task out again
    smtp_url: str | None = None  # COVENANT_SMTP_URL: none → no mail is sent (recorded as skipped)
    mail_from: str = DEFAULT_MAIL_FROM  # COVENANT_MAIL_FROM
    base_url: str = "http://127.0.0.1:8000"  # COVENANT_BASE_URL: the address leaders reach
    secret_key: str | None = None  # COVENANT_SECRET_KEY: signs session cookies (default: made once in the data folder)
    trusted_proxies: tuple[str, ...] = ()  # COVENANT_TRUSTED_PROXIES: reverse proxies whose X-Forwarded-For counts
    csc_url: str | None = None  # COVENANT_CSC_URL: a cloud signing service the leader's page names
    signing_service: str = DEFAULT_SIGNING_SERVICE  # COVENANT_SIGNING_SERVICE: the local signing service pages call
    # remote signing approved on the phone (the service provider's credentials; never shown on a page)
    smartca_url: str | None = (
        None  # COVENANT_SMARTCA_URL: VNPT SmartCA's SP 769 API, e.g. https://gwsca.vnpt.vn/sca/sp769
    )
    smartca_sp_id: str = ""  # COVENANT_SMARTCA_SP_ID
    smartca_sp_password: str = field(default="", repr=False)  # COVENANT_SMARTCA_SP_PASSWORD
    mysign_url: str | None = (
        None  # COVENANT_MYSIGN_URL: Viettel MySign's API, e.g. https://remotesigning.viettel.vn:8773
    )
    mysign_client_id: str = ""  # COVENANT_MYSIGN_CLIENT_ID
    mysign_client_secret: str = field(default="", repr=False)  # COVENANT_MYSIGN_CLIENT_SECRET
    mysign_profile_id: str = ""  # COVENANT_MYSIGN_PROFILE_ID
    remote_timeout: int = 300  # COVENANT_REMOTE_TIMEOUT: seconds a leader has to approve on the phone
    beat_interval: int = 900  # COVENANT_BEAT_INTERVAL: seconds between beat's checks for reminders and expiry
    beat_lease: int = 30  # COVENANT_BEAT_LEASE: seconds a dead beat's lease outlives it (another takes over then)
    # COVENANT_BLOB_STORE: files (under the data folder, the embedded default) or database (the `blobs` table:
    # machines that share only the database; the default when COVENANT_DATABASE_URL is PostgreSQL)
    blob_store: str = "files"
    uno_python: str = "/usr/bin/python3"  # COVENANT_UNO_PYTHON: the interpreter that can import LibreOffice's uno
    log_level: str = "ERROR"  # COVENANT_LOG_LEVEL
    explicit: frozenset[str] = field(default=frozenset(), compare=False)  # the variables the environment set

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def eager(self) -> bool:
        """No broker: the embedded default, every task in this process."""
        return not self.broker_url


def settings_from_env(env: Mapping[str, str] | None = None, *, data_dir: Path | None = None) -> Settings:
    """The settings an environment gives (`data_dir` overrides COVENANT_DATA_DIR, and the database that
    follows from it when COVENANT_DATABASE_URL is not set)."""
    env = dict(os.environ if env is None else env)
    folder = (data_dir or Path(env.get("COVENANT_DATA_DIR") or "covenant-data")).resolve()
    broker = env.get("COVENANT_BROKER_URL") or None
    proxies = tuple(env.get("COVENANT_TRUSTED_PROXIES", "").replace(",", " ").split())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise SettingsError(f"COVENANT_TRUSTED_PROXIES: {proxy!r} is not an address or a network") from None
    visibility_text = env.get("COVENANT_VISIBILITY_TIMEOUT") or "600"
    if not visibility_text.isdigit() or int(visibility_text) < 1:
        raise SettingsError(f"COVENANT_VISIBILITY_TIMEOUT: {visibility_text!r} is not a whole number of seconds")
    visibility = int(visibility_text)
    remote_text = env.get("COVENANT_REMOTE_TIMEOUT") or "300"
    if not remote_text.isdigit() or not 10 <= int(remote_text) <= 3600:
        raise SettingsError(f"COVENANT_REMOTE_TIMEOUT: {remote_text!r} is not a number of seconds from 10 to 3600")
    beat_text = env.get("COVENANT_BEAT_INTERVAL") or "900"
    if not beat_text.isdigit() or not 1 <= int(beat_text) <= 86400:
        raise SettingsError(f"COVENANT_BEAT_INTERVAL: {beat_text!r} is not a number of seconds from 1 to 86400")
    lease_text = env.get("COVENANT_BEAT_LEASE") or "30"
    if not lease_text.isdigit() or not 6 <= int(lease_text) <= 300:
        raise SettingsError(f"COVENANT_BEAT_LEASE: {lease_text!r} is not a number of seconds from 6 to 300")
    log_level = (env.get("COVENANT_LOG_LEVEL") or "ERROR").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"COVENANT_LOG_LEVEL: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    signing_service = (env.get("COVENANT_SIGNING_SERVICE") or DEFAULT_SIGNING_SERVICE).rstrip("/")
    if not signing_service.startswith(("wss://127.0.0.1:", "wss://localhost:", "ws://127.0.0.1:")):
        raise SettingsError(f"COVENANT_SIGNING_SERVICE: {signing_service!r} is not a loopback WebSocket address")
    base_url = env.get("COVENANT_BASE_URL") or "http://127.0.0.1:8000"
    if not base_url.startswith(("http://", "https://")):
        raise SettingsError(f"COVENANT_BASE_URL: {base_url!r} does not start with http:// or https://")
    database_url = env.get("COVENANT_DATABASE_URL") or f"sqlite:///{folder / 'covenant.sqlite3'}"
    blob_store = env.get("COVENANT_BLOB_STORE") or ("database" if database_url.startswith("postgresql") else "files")
    if blob_store not in ("files", "database"):
        raise SettingsError(f"COVENANT_BLOB_STORE: {blob_store!r} is not files or database")
    return Settings(
        data_dir=folder,
        database_url=database_url,
        blob_store=blob_store,
        broker_url=broker,
        result_backend=env.get("COVENANT_RESULT_BACKEND")
        or (broker if broker and broker.startswith("redis") else None),
        visibility_timeout=visibility,
        smtp_url=env.get("COVENANT_SMTP_URL") or None,
        mail_from=env.get("COVENANT_MAIL_FROM") or DEFAULT_MAIL_FROM,
        base_url=base_url.rstrip("/"),
        secret_key=env.get("COVENANT_SECRET_KEY") or None,
        trusted_proxies=proxies,
        csc_url=env.get("COVENANT_CSC_URL") or None,
        signing_service=signing_service,
        smartca_url=(env.get("COVENANT_SMARTCA_URL") or "").rstrip("/") or None,
        smartca_sp_id=env.get("COVENANT_SMARTCA_SP_ID") or "",
        smartca_sp_password=env.get("COVENANT_SMARTCA_SP_PASSWORD") or "",
        mysign_url=(env.get("COVENANT_MYSIGN_URL") or "").rstrip("/") or None,
        mysign_client_id=env.get("COVENANT_MYSIGN_CLIENT_ID") or "",
        mysign_client_secret=env.get("COVENANT_MYSIGN_CLIENT_SECRET") or "",
        mysign_profile_id=env.get("COVENANT_MYSIGN_PROFILE_ID") or "",
        remote_timeout=int(remote_text),
        beat_interval=int(beat_text),
        beat_lease=int(lease_text),
        uno_python=env.get("COVENANT_UNO_PYTHON") or "/usr/bin/python3",
        log_level=log_level,
        explicit=frozenset(k for k, v in env.items() if k.startswith("COVENANT_") and v),
    )


_current: Settings | None = None


def get_settings() -> Settings:
    """This process's settings: those installed by `use_settings`, else the environment's (read once)."""
    global _current
    if _current is None:
        _current = settings_from_env()
    return _current


def reset_settings() -> None:
    """Read the environment again at the next `get_settings()` (tests that change it)."""
    global _current
    _current = None


@contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Run with these settings in this process (tasks running in-process see them too)."""
    global _current
    before = _current
    _current = settings
    try:
        yield settings
    finally:
        _current = before
