"""The archived covenant package (design §8): a BagIt bag, also as one zip, verifiable offline.

`verify_package` needs nothing but the package: manifests (bagit), every PDF signature against the roots in
data/trust/ (pyHanko), that every signer the round file names has signed, and the audit hash chain.
"""

from __future__ import annotations

import ctypes
import html
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bagit

from workflow.storage import FILE_NAMES


@dataclass
class PackageContent:
    name: str  # covenant-<cluster-slug>-<year>-<round-id>
    bag_info: dict[str, str | list[str]]  # a list: the label repeated, one value per line
    signed: dict[str, bytes]  # kind -> final PDF
    sources: dict[str, bytes]  # file name -> bytes (DOCX files, round.yaml)
    report: Mapping[str, Any]  # stages.finalize.RoundReport
    events: list[dict[str, Any]]
    trust: list[bytes]


def _report_html(report: Mapping[str, Any]) -> str:
    rows = []
    for doc in report["documents"]:
        for sig in doc["signatures"]:
            ok = "hợp lệ" if sig["ok"] else "KHÔNG hợp lệ"
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(str(v))}</td>"
                    for v in (
                        doc["file"],
                        sig["field"],
                        sig["signer_cn"],
                        sig["signing_time"] or "",
                        sig["certificate_sha256"][:16] + "…",
                        sig["modification_level"],
                        ok,
                    )
                )
                + "</tr>"
            )
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Báo cáo kiểm tra chữ ký</title>'
        "</head><body><h1>Báo cáo kiểm tra chữ ký số</h1>"
        f"<p>Vòng ký: {html.escape(report['round_id'])} — {html.escape(report['cluster'])} năm {report['year']}</p>"
        '<table border="1" cellpadding="4"><tr><th>Tệp</th><th>Trường</th><th>Người ký</th><th>Thời gian ký</th>'
        "<th>Chứng thư (SHA-256)</th><th>Mức thay đổi</th><th>Kết quả</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


def write_package(content: PackageContent, out_dir: Path) -> tuple[Path, Path]:
    """Write the bag folder and its zip under out_dir, atomically (staging folder, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / content.name
    zip_path = out_dir / f"{content.name}.zip"
    if final.is_dir() and zip_path.is_file():
        return final, zip_path  # already archived: a repeated task changes nothing
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        for sub in ("signed", "sources", "validation", "audit", "trust"):
            (staging / sub).mkdir()
        for kind, pdf in content.signed.items():
            (staging / "signed" / f"{FILE_NAMES[kind]}.pdf").write_bytes(pdf)
        for name, data in content.sources.items():
            (staging / "sources" / name).write_bytes(data)
        (staging / "validation" / "report.json").write_text(
            json.dumps(content.report, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        (staging / "validation" / "report.html").write_text(_report_html(content.report), encoding="utf-8")
        (staging / "audit" / "events.jsonl").write_text(
            "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in content.events), encoding="utf-8"
        )
        for i, pem in enumerate(content.trust, start=1):
            (staging / "trust" / f"root-{i}.pem").write_bytes(pem)
        bagit.make_bag(str(staging), bag_info=content.bag_info, checksums=["sha256"])
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        _zip(final, zip_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final, zip_path


def _zip(folder: Path, zip_path: Path) -> None:
    """The bag as one zip whose single top folder is the bag's name; written beside, then renamed."""
    tmp_zip = zip_path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{folder.name}/{path.relative_to(folder)}")
    tmp_zip.replace(zip_path)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # this process's own symbols: the C library's among them
    except OSError:
        return False
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system or kernel cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(a))


def _backup_of(target: Path) -> Path:
    return target.with_name(f".old-{target.name}")


def swap_in(staging: Path, target: Path) -> None:
    """Put the folder `staging` where `target` is, and remove the old `target`. At every moment `target` is either
    the old folder or the new one: one atomic exchange where the system has it; else two renames, the first undone
    if the second fails, and a crash between them repaired by `recover_swap` at the next run."""
    backup = _backup_of(target)
    if _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now the old folder
        return
    target.rename(backup)
    try:
        staging.rename(target)
    except BaseException:
        backup.rename(target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def recover_swap(target: Path) -> None:
    """Repair what a crash in the middle of `swap_in` left: the old folder set aside and nothing in its place."""
    backup = _backup_of(target)
    if backup.is_dir() and not target.exists():
        backup.rename(target)
    elif backup.is_dir():
        shutil.rmtree(backup, ignore_errors=True)  # the swap was done, only the clean-up was not


def renew_package(bag_dir: Path, renew_pdf: Callable[[bytes], bytes], actor: str) -> list[str]:
    """Renew the document timestamp of every signed PDF in a bag folder, record it in the audit trail (the hash
    chain goes on), recompute the manifests, and rebuild the sibling zip if there is one. Everything is written
    to a copy first and swapped in at the end, so a failure leaves the package as it was."""
    from workflow.states import event_hash

    recover_swap(bag_dir)
    bag = bagit.Bag(str(bag_dir))  # raises on a folder that is not a bag
    staging = bag_dir.with_name(f".renew-{bag_dir.name}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(bag_dir, staging)
    try:
        renewed = []
        for pdf in sorted((staging / "data" / "signed").glob("*.pdf")):
            pdf.write_bytes(renew_pdf(pdf.read_bytes()))
            renewed.append(f"data/signed/{pdf.name}")
        events_file = staging / "data" / "audit" / "events.jsonl"
        lines = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        last = lines[-1]
        body = {
            "seq": last["seq"] + 1,
            "round_id": last["round_id"],
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "kind": "archive.renewed",
            "data": {"files": renewed},
            "prev_hash": last["hash"],
        }
        with events_file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({**body, "hash": event_hash(body)}, ensure_ascii=False, sort_keys=True) + "\n")
        renewed_bag = bagit.Bag(str(staging))
        renewed_bag.info["Bagging-Date"] = datetime.now(UTC).date().isoformat()
        renewed_bag.save(manifests=True)
        del bag
        swap_in(staging, bag_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    zip_path = bag_dir.with_suffix(".zip")
    if zip_path.is_file():
        _zip(bag_dir, zip_path)
    return renewed
