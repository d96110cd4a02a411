"""DOCX → PDF/A-2b with one LibreOffice kept warm (design §6).

LibreOffice's Python bridge (`uno`) imports only in Debian's /usr/bin/python3, so the converter runs as its own
process: `unoserver` installed in a venv made with `/usr/bin/python3 -m venv --system-site-packages`
(scripts/install.sh makes `.venv-uno`). This process talks to it over XML-RPC with unoserver's client and never
imports `uno`. One server per process, started on first use, restarted when it has died or a conversion hangs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import xmlrpc.client
from pathlib import Path

from workflow.config import REPO_ROOT

# PDF/A-2b; bookmarks exported as named destinations, which is how signature blocks are found in the PDF.
PDF_FILTER_OPTIONS = [
    "SelectPdfVersion=2",
    "ExportBookmarksToPDFDestination=true",
    "UseTaggedPDF=true",
]
START_TIMEOUT = 60.0
CONVERT_TIMEOUT = 120.0


class ConversionError(Exception):
    """LibreOffice could not convert a document; the round stays retryable."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unoserver_command() -> list[str]:
    explicit = os.environ.get("COVENANT_UNOSERVER")
    if explicit:
        return [explicit]
    local = REPO_ROOT / ".venv-uno" / "bin" / "unoserver"
    if local.exists():
        return [str(local)]
    found = shutil.which("unoserver")
    if found:
        return [found]
    raise ConversionError(
        "no unoserver found: run scripts/install.sh (it makes .venv-uno with LibreOffice's Python) "
        "or set COVENANT_UNOSERVER"
    )


class WarmConverter:
    """A unoserver process and its client; thread-safe (conversions are serialised: one LibreOffice)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._profile: Path | None = None

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _start(self) -> None:
        self.stop()
        self._port, uno_port = _free_port(), _free_port()
        self._profile = Path(tempfile.mkdtemp(prefix="covenant-lo-"))
        log = open(self._profile / "unoserver.log", "wb")  # noqa: SIM115 - handed to the child
        self._proc = subprocess.Popen(
            [
                *unoserver_command(),
                "--interface",
                "127.0.0.1",
                "--port",
                str(self._port),
                "--uno-port",
                str(uno_port),
                "--user-installation",
                str(self._profile / "profile"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ConversionError(
                    f"LibreOffice (unoserver) exited at start-up; see {self._profile / 'unoserver.log'}"
                )
            try:
                xmlrpc.client.ServerProxy(f"http://127.0.0.1:{self._port}", allow_none=True).info()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise ConversionError(f"LibreOffice (unoserver) did not answer within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
                self._proc.wait(timeout=1.5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._proc = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    @staticmethod
    def _run(port: int, docx: bytes, result: dict[str, bytes]) -> None:
        from unoserver.client import UnoClient

        try:
            result["pdf"] = UnoClient(server="127.0.0.1", port=str(port)).convert(
                indata=docx,
                convert_to="pdf",
                filtername="writer_pdf_Export",
                filter_options=PDF_FILTER_OPTIONS,
                update_index=False,
            )
        except Exception as exc:  # reported by convert() with its cause
            result["error"] = repr(exc).encode()

    def convert(self, docx: bytes) -> bytes:
        """DOCX bytes → PDF/A-2b bytes. One retry on a fresh LibreOffice if the first attempt fails or hangs."""
        with self._lock:
            last = "no attempt"
            for _attempt in range(2):
                if not self._alive():
                    self._start()
                result: dict[str, bytes] = {}
                worker = threading.Thread(target=self._run, args=(self._port, docx, result), daemon=True)
                worker.start()
                worker.join(CONVERT_TIMEOUT)
                if worker.is_alive():
                    last = f"LibreOffice did not finish within {CONVERT_TIMEOUT:.0f} s"
                elif (pdf := result.get("pdf")) and pdf.startswith(b"%PDF"):
                    return pdf
                else:
                    last = f"LibreOffice failed: {result.get('error', b'no output').decode()}"
                self.stop()  # dead, hung or confused: the next attempt starts a fresh one
            raise ConversionError(last)


_converter: WarmConverter | None = None
_converter_lock = threading.Lock()


def converter() -> WarmConverter:
    global _converter
    with _converter_lock:
        if _converter is None:
            _converter = WarmConverter()
            atexit.register(_converter.stop)
        return _converter


def docx_to_pdf(docx: bytes) -> bytes:
    return converter().convert(docx)


def shutdown() -> None:
    """Stop this process's LibreOffice, if one was started."""
    if _converter is not None:
        _converter.stop()
