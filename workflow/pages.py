"""Page images of a PDF, for the leader's page (the revision to sign) and the editor's preview (a draft's
documents): drawn once per PDF by poppler's pdftoppm, within a time budget, kept in the data folder's cache."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from workflow.context import Ctx

PAGE_BUDGET = 30  # seconds pdftoppm may spend on one revision's pages
PAGE_RETRY = 600  # seconds before a revision whose pages could not be drawn is tried again
CACHE_KEEP = 2 * 24 * 3600  # seconds a page image or a preview is kept after it was last used
PRUNE_EVERY = 3600  # seconds between two prunings of the cache


def page_images(ctx: Ctx, pdf: bytes) -> list[Path]:
    """PNG images of a PDF's pages: drawn once per PDF (pdftoppm, within a time budget; requests for the same PDF
    wait for the one drawing it, other documents are not held up). A PDF that cannot be drawn in time gets no
    images (the page offers the PDF itself) and is not tried again at once."""
    digest = hashlib.sha256(pdf).hexdigest()
    folder = ctx.settings.data_dir / "cache" / "pages" / digest
    failed = folder.with_name(f"{digest}.failed")
    if not folder.is_dir():
        if failed.exists() and time.time() - failed.stat().st_mtime < PAGE_RETRY:
            return []
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(folder.with_name(f"{digest}.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not folder.is_dir():
                with tempfile.TemporaryDirectory(dir=folder.parent, ignore_cleanup_errors=True) as tmp:
                    source = Path(tmp) / "doc.pdf"
                    source.write_bytes(pdf)
                    try:
                        subprocess.run(
                            ["pdftoppm", "-r", "70", "-png", str(source), str(Path(tmp) / "page")],
                            check=True,
                            timeout=PAGE_BUDGET,
                            capture_output=True,
                        )
                    except (subprocess.TimeoutExpired, subprocess.CalledProcessError, OSError):
                        failed.touch()
                        return []
                    source.unlink()
                    Path(tmp).rename(folder)
    _used(folder)
    return sorted(folder.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def _used(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


def prune_cache(ctx: Ctx, keep: float = CACHE_KEEP, now: float | None = None) -> int:
    """Remove the page images and previews not used for `keep` seconds (they are drawn again when asked for);
    the number of entries removed. At most once per PRUNE_EVERY unless `now` is given (tests)."""
    cache = ctx.settings.data_dir / "cache"
    marker = cache / ".pruned"
    moment = time.time() if now is None else now
    if now is None and marker.exists() and moment - marker.stat().st_mtime < PRUNE_EVERY:
        return 0
    cache.mkdir(parents=True, exist_ok=True)
    marker.touch()
    removed = 0
    for folder in (cache / "pages", cache / "previews"):
        for entry in folder.glob("*") if folder.is_dir() else ():
            try:
                if moment - entry.stat().st_mtime < keep:
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
            except OSError:
                continue
    return removed
