"""Settings from the environment (design §5). One place, read once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = REPO_ROOT / "templates"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    broker_url: str | None
    smtp_url: str | None
    base_url: str
    mail_from: str = "Văn phòng Cụm thi đua <covenant@localhost>"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("COVENANT_DATA_DIR") or "covenant-data").resolve()
    return Settings(
        data_dir=data_dir,
        database_url=env.get("COVENANT_DATABASE_URL") or f"sqlite:///{data_dir / 'covenant.sqlite3'}",
        broker_url=env.get("COVENANT_BROKER_URL") or None,
        smtp_url=env.get("COVENANT_SMTP_URL") or None,
        base_url=env.get("COVENANT_BASE_URL") or "http://127.0.0.1:8000",
        mail_from=env.get("COVENANT_MAIL_FROM") or "Văn phòng Cụm thi đua <covenant@localhost>",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
