"""Stage 9, verify: a package checked offline, years later: BagIt manifests, every signature (the chain rule and
pyHanko's validation, or pyHanko's own difference analysis with --pairwise), the hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bagit

from signing.fields import PdfError
from signing.ltv import long_term_check
from signing.revisions import signature_hosts
from signing.validation import (
    load_roots,
    long_term_protected,
    open_pdf,
    pades_level,
    status_ok,
    validate_signatures,
)
from workflow.documents import KINDS, slot_specs
from workflow.package import package_roots
from workflow.stages.check import RoundFileError, parse_round
from workflow.states import verify_chain
from workflow.storage import FILE_NAMES


@dataclass
class Verification:
    path: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not a failure
    documents: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "problems": self.problems,
            "notes": self.notes,
            "documents": self.documents,
            "audit_events": self.events,
        }


def _bag_root(path: Path, scratch: Path) -> Path:
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ValueError(f"{path}: unsafe path in zip: {member}")
            zf.extractall(scratch)
        tops = [p for p in scratch.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise ValueError(f"{path}: the zip must hold exactly one package folder")
        return tops[0]
    if path.is_dir():
        return path
    raise ValueError(f"{path}: not a package folder or zip")


def verify_package(path: Path, pairwise: bool = False) -> Verification:
    """`pairwise`: pyHanko's own difference analysis of every later revision against every signature (see
    signing.validation.validate_signatures)."""
    result = Verification(str(path))
    with tempfile.TemporaryDirectory(prefix="covenant-verify-") as scratch:
        try:
            root = _bag_root(path, Path(scratch))
        except (ValueError, zipfile.BadZipFile) as exc:
            result.problems.append(str(exc))
            return result
        _verify_bag(root, result)
        data = root / "data"
        if data.is_dir():
            _verify_signatures(data, result, pairwise)
            _verify_audit(data, result)
    return result


def _verify_bag(root: Path, result: Verification) -> None:
    """Manifests, naming each file that differs. bagit's own validate() stops at the first summary check
    (Payload-Oxum: "9 files and 582096 bytes") without naming the file, so the checksums are compared here
    first, file by file, and bagit's verdict is the last word only when nothing was named."""
    try:
        bag = bagit.Bag(str(root))
    except bagit.BagError as exc:
        result.problems.append(f"not a valid BagIt bag: {exc}")
        return
    before = len(result.problems)
    only_manifest, only_disk = bag.compare_manifests_with_fs()
    for name in only_manifest:
        result.problems.append(f"{name}: listed in the manifest but missing")
    for name in only_disk:
        result.problems.append(f"{name}: present but not in the manifest (added)")
    for rel, hashes in sorted(bag.entries.items()):
        expected = hashes.get("sha256")
        path = root / rel
        if expected is None or not path.is_file():
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            manifest = "tagmanifest-sha256.txt" if not rel.startswith("data/") else "manifest-sha256.txt"
            result.problems.append(f"{rel}: content does not match {manifest} (changed)")
    if len(result.problems) > before:
        return
    try:
        bag.validate()
    except bagit.BagError as exc:
        result.problems.append(f"bag: {exc}")


def _verify_signatures(data: Path, result: Verification, pairwise: bool = False) -> None:
    roots_pem = package_roots(data)
    if not roots_pem:
        result.problems.append("data/trust: no trusted root certificate in the package")
        return
    roots = load_roots(roots_pem)
    round_file = data / "sources" / "round.yaml"
    try:
        model = parse_round(round_file.read_text(encoding="utf-8"), str(round_file), check_deadline=False)
    except (OSError, RoundFileError) as exc:
        result.problems.append(f"data/sources/round.yaml: cannot be read: {exc}")
        return
    specs = slot_specs(model)
    names = {spec.field_name: spec.signer_name for kind in KINDS for spec in specs[kind]}
    for kind in KINDS:
        rel = f"data/signed/{FILE_NAMES[kind]}.pdf"
        pdf_path = data / "signed" / f"{FILE_NAMES[kind]}.pdf"
        entry: dict[str, Any] = {"file": rel, "signatures": [], "valid": False}
        result.documents.append(entry)
        try:
            pdf = pdf_path.read_bytes()
            reports = validate_signatures(pdf, roots, pairwise=pairwise)
            hosts = signature_hosts(open_pdf(pdf))  # a signature in a new field over a prepared field's block
            entry["level"] = pades_level(reports, pdf)
            # A B-LTA file is judged as an archive: by the ETSI long-term validation, which lets the signers'
            # certificates have expired since, as long as the document timestamps prove when they were valid.
            long_term = long_term_check(pdf, roots) if long_term_protected(reports, pdf) else None
        except (OSError, PdfError) as exc:
            result.problems.append(f"{rel}: {exc}")
            continue
        except Exception as exc:  # pyHanko raises many kinds on damaged files; name the file, not a traceback
            result.problems.append(f"{rel}: cannot be validated: {type(exc).__name__}: {exc}")
            continue
        entry["long_term"] = long_term
        if long_term is None:
            result.notes.append(f"{rel}: {entry['level']}: no document timestamp, not protected for the long term")
        for rep in reports:
            if long_term is None:
                ok = status_ok(rep)
            elif rep.kind == "document-timestamp":
                ok = rep.intact and rep.valid  # its trust is part of the long-term validation above
            else:
                ok = (
                    rep.intact
                    and rep.valid
                    and rep.docmdp_ok is not False
                    and rep.modification is None
                    and long_term.get(rep.field) == "OK"
                )
            entry["signatures"].append({**rep.to_dict(), "ok": ok})
            if not ok:
                if rep.modification:  # what was changed after the signature, whatever the cryptography says
                    why = f"the document was changed after it: {rep.modification}"
                elif long_term:
                    why = f"long-term validation: {long_term.get(rep.field)}"
                else:
                    why = rep.summary
                who = names.get(hosts.get(rep.field, rep.field), rep.signer_cn)
                result.problems.append(f"{rel}: signature {rep.field} ({who}) is not valid: {why}")
        present = {hosts.get(r.field, r.field) for r in reports if r.kind != "document-timestamp"}
        for spec in specs[kind]:
            if spec.field_name not in present:
                result.problems.append(f"{rel}: no signature by {spec.signer_name} (field {spec.field_name})")
        entry["valid"] = all(s["ok"] for s in entry["signatures"]) and all(s.field_name in present for s in specs[kind])


def _verify_audit(data: Path, result: Verification) -> None:
    path = data / "audit" / "events.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        result.problems.append(f"data/audit/events.jsonl: cannot be read: {exc}")
        return
    result.events = len(events)
    for problem in verify_chain(events):
        result.problems.append(f"data/audit/events.jsonl: {problem}")
