"""The package's renewal swaps the renewed copy in so that the package is, at every moment, the old one or the
new one, never gone (fast layer: a small bag made here, no LibreOffice, no PKI)."""

from __future__ import annotations

import json
from pathlib import Path

import bagit
import pytest

from workflow import package
from workflow.package import recover_swap, renew_package, swap_in
from workflow.states import event_hash


def _bag(folder: Path) -> Path:
    bag_dir = folder / "covenant-cum-4-2024-r1"
    (bag_dir / "signed").mkdir(parents=True)
    (bag_dir / "audit").mkdir()
    (bag_dir / "signed" / "covenant.pdf").write_bytes(b"%PDF-1.7 signed\n")
    body = {"seq": 1, "round_id": "r1", "at": "2026-12-04T00:00:00+00:00", "actor": "system", "kind": "round.draft"}
    body = {**body, "data": {}, "prev_hash": ""}
    line = json.dumps({**body, "hash": event_hash(body)}, ensure_ascii=False, sort_keys=True)
    (bag_dir / "audit" / "events.jsonl").write_text(line + "\n", encoding="utf-8")
    bagit.make_bag(str(bag_dir), {"Source-Organization": "Cụm thi đua số 4"})
    return bag_dir


def _renew(pdf: bytes) -> bytes:
    return pdf + b"%renewed\n"


def _state(bag_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(bag_dir)): p.read_bytes() for p in sorted(bag_dir.rglob("*")) if p.is_file()}


def test_renewal_swaps_the_new_package_in(tmp_path: Path) -> None:
    bag_dir = _bag(tmp_path)
    assert renew_package(bag_dir, _renew, "archivist") == ["data/signed/covenant.pdf"]
    assert (bag_dir / "data" / "signed" / "covenant.pdf").read_bytes().endswith(b"%renewed\n")
    bagit.Bag(str(bag_dir)).validate()
    assert sorted(p.name for p in tmp_path.iterdir()) == [bag_dir.name]  # no copy, no backup left beside it


def test_without_an_atomic_exchange_a_failed_second_rename_puts_the_package_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bag_dir = _bag(tmp_path)
    before = _state(bag_dir)
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if self.name.startswith(".renew-"):
            raise OSError(28, "No space left on device")
        return real_rename(self, target)

    monkeypatch.setattr(package, "_exchange", lambda a, b: False)
    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        renew_package(bag_dir, _renew, "archivist")
    assert _state(bag_dir) == before  # before the fix, the package sat under .old-<name> and its path was empty
    assert sorted(p.name for p in tmp_path.iterdir()) == [bag_dir.name]


def test_a_crash_between_the_two_renames_is_repaired_at_the_next_run(tmp_path: Path) -> None:
    bag_dir = _bag(tmp_path)
    before = _state(bag_dir)
    bag_dir.rename(tmp_path / f".old-{bag_dir.name}")  # what a crash after the first rename leaves
    recover_swap(bag_dir)
    assert _state(bag_dir) == before
    renew_package(bag_dir, _renew, "archivist")  # and the renewal then goes through
    assert not (tmp_path / f".old-{bag_dir.name}").exists()


def test_a_failed_renewal_leaves_the_package_as_it_was(tmp_path: Path) -> None:
    bag_dir = _bag(tmp_path)
    before = _state(bag_dir)

    def broken(pdf: bytes) -> bytes:
        raise RuntimeError("the TSA does not answer")

    with pytest.raises(RuntimeError):
        renew_package(bag_dir, broken, "archivist")
    assert _state(bag_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [bag_dir.name]


def test_swap_in_exchanges_two_folders(tmp_path: Path) -> None:
    old, new = tmp_path / "pkg", tmp_path / ".renew-pkg"
    old.mkdir()
    new.mkdir()
    (old / "a").write_text("old")
    (new / "a").write_text("new")
    swap_in(new, old)
    assert (old / "a").read_text() == "new" and not new.exists()
