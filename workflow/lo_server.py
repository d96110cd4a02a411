"""A warm LibreOffice for covenant: keeps one `soffice` and one UNO connection open, converts on request.

Runs under Debian's /usr/bin/python3, the only interpreter here that can `import uno` (python3-uno); it uses
nothing but the standard library and uno, and the project never imports it. workflow.convert starts it and
speaks to it over a loopback TCP socket, one JSON line per request:

    {"src": "/tmp/in.docx", "dst": "/tmp/out.pdf", "filter": {"SelectPdfVersion": 2, ...}}
    -> {"ok": true} | {"ok": false, "error": "..."}

Files are passed by path (same machine), so no document travels through the socket. If LibreOffice dies, the
server answers with an error and exits; the client starts a new one. Compared with unoserver's XML-RPC client
(0.16 s per 3-page document here) a kept UNO connection costs about 0.075 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import uno  # type: ignore[import-not-found]  # LibreOffice's bridge: only Debian's /usr/bin/python3 has it
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]  # idem


def prop(name: str, value: object) -> PropertyValue:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


class Office:
    def __init__(self, profile: str, uno_port: int, soffice: str) -> None:
        command = [
            soffice,
            "--headless",
            "--invisible",
            "--nologo",
            "--norestore",
            "--nodefault",
            "--nolockcheck",
            f"-env:UserInstallation=file://{profile}",
            f"--accept=socket,host=127.0.0.1,port={uno_port};urp;StarOffice.ComponentContext",
        ]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        deadline = time.monotonic() + 60
        while True:
            try:
                ctx = resolver.resolve(f"uno:socket,host=127.0.0.1,port={uno_port};urp;StarOffice.ComponentContext")
                break
            except Exception:
                code = self.proc.poll()
                if code == 81:
                    # soffice.bin asks to be restarted after creating a fresh profile (oosplash would do this).
                    self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                elif code is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"LibreOffice did not start (exit code {code})") from None
                time.sleep(0.1)
        self.desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)

    def convert(self, src: str, dst: str, filter_data: dict[str, object]) -> None:
        doc = self.desktop.loadComponentFromURL(
            uno.systemPathToFileUrl(src), "_blank", 0, (prop("Hidden", True), prop("ReadOnly", True))
        )
        if doc is None:
            raise RuntimeError(f"LibreOffice could not open {src}")
        try:
            data = uno.Any("[]com.sun.star.beans.PropertyValue", tuple(prop(k, v) for k, v in filter_data.items()))
            uno.invoke(
                doc,
                "storeToURL",
                (uno.systemPathToFileUrl(dst), (prop("FilterName", "writer_pdf_Export"), prop("FilterData", data))),
            )
        finally:
            doc.close(True)

    def stop(self) -> None:
        try:
            self.desktop.terminate()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def serve(port: int, office: Office) -> None:
    server = socket.create_server(("127.0.0.1", port))
    print(f"READY {office.proc.pid}", flush=True)
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rwb") as stream:
            line = stream.readline()
            if not line:
                continue
            try:
                req = json.loads(line)
                office.convert(req["src"], req["dst"], req.get("filter", {}))
                answer = {"ok": True}
            except Exception as exc:  # the client decides; a dead LibreOffice ends this server below
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            stream.write(json.dumps(answer).encode() + b"\n")
            stream.flush()
            if not answer["ok"] and office.proc.poll() is not None:
                sys.exit(3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uno-port", type=int, required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--soffice", default=None)
    parser.add_argument("--parent", type=int, default=None, help="exit when this process is gone")
    args = parser.parse_args()
    if args.soffice is None:
        # Run soffice.bin itself, not the `soffice` shell wrapper and its oosplash: then the pid we report is the
        # process that does the work, and killing it (or the process group) really stops LibreOffice.
        wrapper = os.path.realpath(shutil.which("soffice") or "/usr/lib/libreoffice/program/soffice")
        binary = os.path.join(os.path.dirname(wrapper), "soffice.bin")
        args.soffice = binary if os.path.exists(binary) else wrapper
    office = Office(args.profile, args.uno_port, args.soffice)
    signal.signal(signal.SIGTERM, lambda *_: (office.stop(), os._exit(0)))
    if args.parent:
        # The client may die without stopping us (kill -9 of a worker): then take LibreOffice down too.
        def watch(parent: int = args.parent) -> None:
            while True:
                time.sleep(1)
                try:
                    os.kill(parent, 0)
                except ProcessLookupError:
                    office.stop()
                    os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    try:
        serve(args.port, office)
    finally:
        office.stop()


if __name__ == "__main__":
    main()
