"""DOCX → PDF/A-2b with one LibreOffice kept warm (design §6).

LibreOffice's Python bridge (`uno`) imports only in Debian's /usr/bin/python3, so the converter is its own process:
workflow/lo_server.py run by that interpreter, holding one `soffice` and one UNO connection. This process never
imports `uno`; it sends one JSON line per conversion over loopback TCP and passes files by path. The server is
started on first use, restarted when it has died or a conversion hangs, and shared by the threads of a process
(conversions are serialised: one LibreOffice does one document at a time).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from workflow.errors import ConversionError

# PDF/A-2b; tagged; bookmarks exported as named destinations, which is how signature blocks are found in the PDF.
PDF_FILTER = {"SelectPdfVersion": 2, "UseTaggedPDF": True, "ExportBookmarksToPDFDestination": True}
START_TIMEOUT = 60.0
CONVERT_TIMEOUT = 120.0
SERVER = Path(__file__).with_name("lo_server.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uno_python() -> str:
    """The interpreter that can import LibreOffice's `uno` (Debian's, unless COVENANT_UNO_PYTHON says)."""
    from workflow.config import get_settings

    return get_settings().uno_python


class WarmConverter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._workdir: Path | None = None
        self.soffice_pid: int | None = None

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _start(self) -> None:
        self.stop()
        if not shutil.which("soffice"):
            raise ConversionError("LibreOffice (soffice) is not installed: run scripts/install.sh")
        self._port = _free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="covenant-lo-"))
        log = open(self._workdir / "server.log", "wb")  # noqa: SIM115 - handed to the child
        self._proc = subprocess.Popen(
            [
                uno_python(),
                str(SERVER),
                "--port",
                str(self._port),
                "--uno-port",
                str(_free_port()),
                "--profile",
                str(self._workdir / "profile"),
                "--parent",
                str(os.getpid()),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        ready: list[bytes] = []
        stdout = self._proc.stdout
        assert stdout is not None  # stdout=PIPE
        reader = threading.Thread(target=lambda: ready.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        line = ready[0] if ready else b""
        if not line.startswith(b"READY"):
            detail = (self._workdir / "server.log").read_text(errors="replace")[-2000:].strip()
            code = self._proc.poll()
            self.stop()
            what = f"exited with code {code}" if code is not None else f"did not answer within {START_TIMEOUT:.0f} s"
            raise ConversionError(
                f"the LibreOffice server ({uno_python()} {SERVER.name}) {what}" + (f": {detail}" if detail else "")
            )
        self.soffice_pid = int(line.split()[1])

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self._proc.pid, sig)
                    self._proc.wait(timeout=wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.soffice_pid:
            try:  # soffice is in the server's process group; this is for one that outlived it
                os.kill(self.soffice_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._proc, self.soffice_pid = None, None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _request(self, src: Path, dst: Path) -> str | None:
        """One conversion; None on success, else the reason."""
        request = json.dumps({"src": str(src), "dst": str(dst), "filter": PDF_FILTER}).encode() + b"\n"
        try:
            with socket.create_connection(("127.0.0.1", self._port), timeout=CONVERT_TIMEOUT) as conn:
                conn.sendall(request)
                with conn.makefile("rb") as stream:
                    line = stream.readline()
        except TimeoutError:
            return f"LibreOffice did not finish within {CONVERT_TIMEOUT:.0f} s"
        except OSError as exc:
            return f"LibreOffice is not answering: {exc}"
        if not line:
            return "LibreOffice closed the connection (it died)"
        answer = json.loads(line)
        return None if answer.get("ok") else str(answer.get("error"))

    def convert(self, docx: bytes) -> bytes:
        """DOCX bytes → PDF/A-2b bytes. One retry on a fresh LibreOffice if the first attempt fails or hangs."""
        with self._lock:
            reason = "no attempt"
            for _attempt in range(2):
                if not self._alive():
                    self._start()
                assert self._workdir is not None
                with tempfile.TemporaryDirectory(dir=self._workdir) as job:
                    src, dst = Path(job) / "document.docx", Path(job) / "document.pdf"
                    src.write_bytes(docx)
                    failure = self._request(src, dst)
                    if failure is None and dst.is_file() and dst.read_bytes()[:5] == b"%PDF-":
                        return dst.read_bytes()
                    reason = failure or "LibreOffice wrote no PDF"
                self.stop()  # dead, hung or confused: the next attempt starts a fresh one
            raise ConversionError(reason)


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
