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


PYHANKO_CONTEXT = "covenant"


def _pyhanko_config(roots: list[str], tsa: list[str]) -> str:
    """A pyHanko CLI configuration naming the package's own trust (paths from the bag's folder)."""
    lines = [
        "# pyHanko CLI settings for this package: pyhanko --config data/trust/pyhanko.yml sign adesverify ...",
        "# run from the bag's folder; trust is the package's own root(s) only, revocation status is required",
        "# (read from each file's Document Security Store: the CRLs are also here, as data/trust/crl-*.crl).",
        "validation-contexts:",
        f"  {PYHANKO_CONTEXT}:",
        "    trust: [" + ", ".join(f"data/trust/{r}" for r in roots) + "]",
        "    trust-replace: true",
        "    other-certs: [" + ", ".join(f"data/trust/{t}" for t in tsa) + "]",
        "    revocation-policy: require",
        f"default-validation-context: {PYHANKO_CONTEXT}",
    ]
    return "\n".join(lines) + "\n"


def package_roots(data: Path) -> list[bytes]:
    """A package's trust anchors (PEM): data/trust/root-*.pem only; the time-stamping authorities' certificates
    beside them are not anchors."""
    return [p.read_bytes() for p in sorted((data / "trust").glob("root-*.pem"))]


def write_trust_files(trust: Path, signed: list[bytes], roots: list[bytes] | None = None) -> None:
    """data/trust/: the roots (root-N.pem, the only trust anchors), the time-stamping authorities' certificates
    (tsa-N.pem) and the CRLs (crl-N.crl) that the signed files' DSS hold, and pyhanko.yml. Names by kind."""
    from signing.ltv import archive_trust_material

    trust.mkdir(parents=True, exist_ok=True)
    if roots is not None:
        for i, pem in enumerate(roots, start=1):
            (trust / f"root-{i}.pem").write_bytes(pem)
    for old in [*trust.glob("tsa-*.pem"), *trust.glob("crl-*.crl")]:
        old.unlink()
    tsa, crls = archive_trust_material(signed)
    for i, pem in enumerate(tsa, start=1):
        (trust / f"tsa-{i}.pem").write_bytes(pem)
    for i, der in enumerate(crls, start=1):
        (trust / f"crl-{i}.crl").write_bytes(der)
    roots_held = sorted(p.name for p in trust.glob("root-*.pem"))
    tsa_held = [f"tsa-{i}.pem" for i in range(1, len(tsa) + 1)]
    (trust / "pyhanko.yml").write_text(_pyhanko_config(roots_held, tsa_held), encoding="utf-8")


def verify_text(bag_name: str, info: Mapping[str, Any], signed: list[str], trust: Path) -> str:
    """VERIFY.txt: what "valid" means for this package and how to check it with generic tools only."""
    from cryptography import x509

    crl_lines = []
    for path in sorted(trust.glob("crl-*.crl")):
        crl = x509.load_der_x509_crl(path.read_bytes())
        until = crl.next_update_utc.date().isoformat() if crl.next_update_utc else "?"
        crl_lines.append(f"     data/trust/{path.name}: {crl.issuer.rfc4514_string()}, next update {until}")
    commands = "\n".join(
        f"     pyhanko --config data/trust/pyhanko.yml sign adesverify --validation-context {PYHANKO_CONTEXT} "
        f"--executive-summary {rel}"
        for rel in signed
    )
    return f"""KIỂM TRA GÓI LƯU TRỮ — HOW TO VERIFY THIS PACKAGE
{bag_name}
{info.get("External-Description", "")} (đợt ký / round {info.get("External-Identifier", "")})

Gói này tự kiểm tra được, không cần phần mềm covenant: chỉ cần các tệp trong gói và công cụ phổ thông.
This package verifies with generic tools and the files in it alone.

1. Toàn vẹn gói / package integrity (BagIt, RFC 8493)
   Every file under data/ is listed with its SHA-256 in manifest-sha256.txt, every tag file in
   tagmanifest-sha256.txt. From this folder:
     sha256sum -c manifest-sha256.txt && sha256sum -c tagmanifest-sha256.txt
   (or: bagit.py --validate .)

2. Chữ ký số / the signatures: what "valid" means here (the policy)
   A signature is VALID when all of these hold (ETSI EN 319 102-1 long-term validation, PAdES B-LTA):
   - its bytes are intact and its CMS signature verifies with the signer's certificate;
   - the signer's certificate chains to a root in data/trust/root-*.pem (the only trust anchors), and was neither
     expired nor revoked when the document timestamps prove the signature existed (the CRLs are in each file's
     Document Security Store, copies in data/trust/crl-*.crl); signers' certificates may have expired since;
   - the time-stamping authority's certificate (data/trust/tsa-*.pem) chains to the same root and its revocation
     status is known from the CRL the file holds;
   - what was added after the signature only fills the prepared signature fields, adds validation data or
     document timestamps (pyHanko's difference analysis; the certification allows form filling only).
   The CRLs:
{chr(10).join(crl_lines) or "     (none)"}
   One command per signed file, run from this folder (pyHanko 0.38 with pyhanko-cli; no network needed while the
   CRL above is current). Every line it prints must end in ":VALID":
{commands}
   With a real CA, whose CRLs are good for days, the newest document timestamp's authority needs its current
   status: let pyHanko fetch it (network), or renew the package's timestamp before that authority's certificate
   expires (covenant archive renew).

3. Người ký / the signers
   data/sources/round.yaml names the round's units and signers; data/validation/report.json lists, per document,
   each signature (field, signer, certificate SHA-256, time) and the document's register entry (`record`). Every
   unit the round file names has its field signed.

4. Nhật ký / the audit trail (data/audit/events.jsonl), checkable in any language
   One JSON object per line, in order. For event n (seq = n, from 1):
   - prev_hash is the hash of event n-1; for event 1 it is 64 zeros ("0" * 64);
   - hash = SHA-256 (lowercase hex) of the UTF-8 bytes of the event's canonical JSON without its "hash" key:
     keys sorted (by code point), no spaces (separators "," and ":"), non-ASCII characters written as they are
     (not \\u escapes), strings escaped as JSON requires (\\" \\\\ and control characters). In Python:
       hashlib.sha256(json.dumps(event_without_hash, ensure_ascii=False, sort_keys=True,
                                 separators=(",", ":")).encode("utf-8")).hexdigest()
   The same with jq, for each line: jq -c -S 'del(.hash)' | tr -d '\\n' | sha256sum
   A missing, reordered or edited event breaks the chain at that line.
"""


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
        write_trust_files(staging / "trust", list(content.signed.values()), roots=content.trust)
        bag = bagit.make_bag(str(staging), bag_info=content.bag_info, checksums=["sha256"])
        signed = [f"data/signed/{FILE_NAMES[kind]}.pdf" for kind in content.signed]
        (staging / "VERIFY.txt").write_text(
            verify_text(content.name, content.bag_info, signed, staging / "data" / "trust"), encoding="utf-8"
        )
        bag.save()  # VERIFY.txt joins the tag manifest
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
        trust = staging / "data" / "trust"
        signed = sorted((staging / "data" / "signed").glob("*.pdf"))
        write_trust_files(trust, [p.read_bytes() for p in signed])  # a new timestamp's authority and CRL
        renewed_bag = bagit.Bag(str(staging))
        renewed_bag.info["Bagging-Date"] = datetime.now(UTC).date().isoformat()
        rels = [f"data/signed/{p.name}" for p in signed]
        (staging / "VERIFY.txt").write_text(
            verify_text(staging.name.removeprefix(".renew-"), renewed_bag.info, rels, trust), encoding="utf-8"
        )
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
