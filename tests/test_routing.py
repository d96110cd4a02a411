"""Routing a round for real: invitations by SMTP (aiosmtpd on loopback), signing through the mailed link,
reminders at the configured offsets, expiry, decline, void, reissue, sequential order."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import json
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller

from tests.conftest import EXAMPLES, copy_example_files, free_port, person, run_covenant, serving
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.documents import PERSON_ROLES
from workflow.storage import EventRow, LinkRow, RoundRow, SlotRow

pytestmark = pytest.mark.live
LINK = re.compile(r"http://127\.0\.0\.1:\d+/l/[A-Za-z0-9_-]{43,}")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, _server, _session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def take(self) -> list[EmailMessage]:
        taken, self.messages = self.messages, []
        return taken


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, str]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{port}"
    controller.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, str]) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("routing")
    env = {"COVENANT_DATA_DIR": str(folder), "COVENANT_SMTP_URL": smtp[1]}
    made = run_covenant("pki", "demo", str(folder / "pki"), "--round", str(EXAMPLES / "cum-4-2024.yaml"), env=env)
    assert made.returncode == 0, made.stderr
    index = json.loads((folder / "pki" / "index.json").read_text(encoding="utf-8"))
    with serving(env) as served:
        env = {k: v for k, v in served.items() if k != "base"}
        yield {"data": folder, "env": env, "index": index, "inbox": smtp[0]}


def _launch(data: dict, tmp_path: Path, **signing: object) -> tuple[str, list[EmailMessage]]:
    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    spec["signing"].update(signing)
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    copy_example_files(tmp_path)
    data["inbox"].take()
    proc = run_covenant("round", "launch", str(path), "--json", env=data["env"])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["round_id"], data["inbox"].take()


def _ctx(data: dict) -> Ctx:
    return Ctx(settings_from_env(data["env"]))


def _link(message: EmailMessage) -> str:
    found = LINK.search(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert found, message
    return found.group(0)


def _by_field(messages: list[EmailMessage], data: dict, round_id: str) -> dict[str, str]:
    """field → mailed link, matched through the stored token hashes."""
    with _ctx(data).session() as s:
        by_hash = {
            link.token_sha256: link.slot.field_name + ("@minutes" if link.slot.document.kind == "minutes" else "")
            for link in s.query(LinkRow).filter(LinkRow.revoked_at.is_(None))
            if link.slot.document.round_id == round_id
        }
    out = {}
    for message in messages:
        url = _link(message)
        field = by_hash.get(hashlib.sha256(url.rsplit("/", 1)[1].encode()).hexdigest())
        if field:  # (other rounds of this module may be open too)
            out[field] = url
    return out


def test_launch_invites_every_signer_once(data: dict, tmp_path: Path) -> None:
    round_id, mails = _launch(data, tmp_path)
    assert len(mails) == 7  # five units on the covenant, chair and secretary on the minutes
    first = mails[0]
    assert first["Subject"].startswith("Đề nghị ký số: ")
    assert first["To"].addresses[0].addr_spec.endswith("@example.vn")
    html = first.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Mở văn bản để ký" in html and 'lang="vi"' in html
    plain = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Kính gửi đồng chí" in plain and "Hạn ký:" in plain
    links = _by_field(mails, data, round_id)
    assert len(links) == 7
    with _ctx(data).session() as s:
        slots = [sl for sl in s.query(SlotRow) if sl.document.round_id == round_id]
        assert {sl.status for sl in slots if sl.role in PERSON_ROLES} == {"notified"}
        # the clerks' seals wait for their leaders, the issuance for everyone: not written to yet
        assert {sl.status for sl in slots if sl.role not in PERSON_ROLES} == {"pending"}
        stored = " ".join(f"{e.data}" for e in s.query(EventRow).filter_by(round_id=round_id))
    assert not any(url.rsplit("/", 1)[1] in stored for url in links.values())  # tokens never stored
    from workflow.routing import invite_due as notify_round

    assert notify_round(_ctx(data), round_id) == [] and data["inbox"].take() == []  # nothing twice

    p12, passphrase = person({"data": data["data"], "index": data["index"]}, "thai-nguyen--phung-duc-tien")
    signed = run_covenant(
        "sign",
        "--link",
        links["unit-thai-nguyen"],
        "--p12",
        str(p12),
        "--passphrase-file",
        str(passphrase),
        env=data["env"],
    )
    assert signed.returncode == 0, signed.stderr
    # the leader has signed: the unit's clerk is written to, at the clerk's own address, for the seal alone
    deadline = time.monotonic() + 60
    clerk: list[EmailMessage] = []
    while not clerk and time.monotonic() < deadline:
        clerk = data["inbox"].take()
        time.sleep(0.2)
    assert [m["To"].addresses[0].addr_spec for m in clerk] == ["vanthu.thai-nguyen@example.vn"], clerk
    assert clerk[0]["Subject"].startswith("Đề nghị ký số của cơ quan: ")
    assert list(_by_field(clerk, data, round_id)) == ["seal-thai-nguyen"]
    assert "đóng dấu" in clerk[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_reminders_at_their_offsets_then_expiry(data: dict, tmp_path: Path) -> None:
    from workflow.routing import expire_overdue as expire_rounds
    from workflow.routing import remind_at_offsets as send_reminders

    round_id, invitations = _launch(data, tmp_path, reminders=["P2D", "P1D"])
    links = _by_field(invitations, data, round_id)
    with _ctx(data).session() as s:
        rnd = s.get(RoundRow, round_id)
        assert rnd is not None
        deadline = rnd.deadline if rnd.deadline.tzinfo else rnd.deadline.replace(tzinfo=dt.UTC)
    ctx = _ctx(data)
    assert send_reminders(ctx, now=deadline - dt.timedelta(days=3)) == {}
    sent = send_reminders(ctx, now=deadline - dt.timedelta(days=2) + dt.timedelta(minutes=1))
    reminders = data["inbox"].take()
    assert len(sent[round_id]) == 7 and len(_by_field(reminders, data, round_id)) == 7
    assert all(m["Subject"].startswith("Nhắc ký: ") for m in reminders)
    assert send_reminders(ctx, now=deadline - dt.timedelta(days=2) + dt.timedelta(hours=2)) == {}  # once
    assert data["inbox"].take() == []
    # a reminder's fresh link replaces the invitation's
    old = links["unit-phu-tho"].rsplit("/", 1)[1]
    assert httpx.get(f"{data['env']['COVENANT_BASE_URL']}/api/links/{old}").status_code == 410
    fresh = _by_field(reminders, data, round_id)["unit-phu-tho"].rsplit("/", 1)[1]
    assert httpx.get(f"{data['env']['COVENANT_BASE_URL']}/api/links/{fresh}").status_code == 200

    assert round_id in expire_rounds(ctx, now=deadline + dt.timedelta(seconds=1))
    notices = [m for m in data["inbox"].take() if round_id in m.get_body(("plain",)).get_content()]  # type: ignore[union-attr]
    assert len(notices) == 1 and notices[0]["Subject"].startswith("Hết hạn ký: ")
    assert httpx.get(f"{data['env']['COVENANT_BASE_URL']}/api/links/{fresh}").status_code == 410
    with ctx.session() as s:
        assert s.get(RoundRow, round_id).status == "expired"  # type: ignore[union-attr]


def test_decline_pauses_the_round_and_tells_the_office(data: dict, tmp_path: Path) -> None:
    round_id, mails = _launch(data, tmp_path)
    links = _by_field(mails, data, round_id)
    proc = run_covenant(
        "decline",
        "--link",
        links["unit-bac-giang"],
        "--reason",
        "Chỉ tiêu 2.3 chưa đúng với Hướng dẫn 09/HD-VKSTC",
        env=data["env"],
    )
    assert proc.returncode == 0, proc.stderr
    notice = data["inbox"].take()
    assert len(notice) == 1 and notice[0]["Subject"].startswith("Từ chối ký: Nguyễn Trường Thọ")
    assert "Chỉ tiêu 2.3 chưa đúng" in notice[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    with _ctx(data).session() as s:
        assert s.get(RoundRow, round_id).status == "paused"  # type: ignore[union-attr]
    p12, passphrase = person({"data": data["data"], "index": data["index"]}, "hoa-binh--ngo-bao-ngoc")
    refused = run_covenant(
        "sign",
        "--link",
        links["unit-hoa-binh"],
        "--p12",
        str(p12),
        "--passphrase-file",
        str(passphrase),
        env=data["env"],
    )
    assert refused.returncode == 3, refused.stderr

    # the secretariat reissues a corrected version: the old one is superseded, everyone is told, new links go out
    corrected = tmp_path / "round.yaml"
    reissued = run_covenant("round", "reissue", round_id, str(corrected), "--json", env=data["env"])
    assert reissued.returncode == 0, reissued.stderr
    result = json.loads(reissued.stdout)
    assert result["supersedes"] == round_id and result["version"] == 2
    mails = data["inbox"].take()
    told = [m for m in mails if m["Subject"].startswith("Phát hành lại: ")]
    invited = [m for m in mails if m["Subject"].startswith("Đề nghị ký số: ")]
    assert len(told) == 5 and len(invited) == 7
    with _ctx(data).session() as s:
        old, new = s.get(RoundRow, round_id), s.get(RoundRow, result["round_id"])
        assert old.status == "superseded" and new.status == "open" and new.supersedes == round_id  # type: ignore[union-attr]


def test_void_revokes_every_link(data: dict, tmp_path: Path) -> None:
    round_id, mails = _launch(data, tmp_path)
    proc = run_covenant("round", "void", round_id, "--reason", "Hội nghị hoãn", "--json", env=data["env"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "voided"
    assert sum(m["Subject"].startswith("Hủy đợt ký: ") for m in data["inbox"].take()) == 5
    for url in [_link(m) for m in mails]:
        token = url.rsplit("/", 1)[1]
        assert httpx.get(f"{data['env']['COVENANT_BASE_URL']}/api/links/{token}").status_code == 410
    again = run_covenant("round", "void", round_id, "--reason", "lần nữa", env=data["env"])
    assert again.returncode == 3


def test_sequential_round_goes_one_signer_at_a_time(data: dict, tmp_path: Path) -> None:
    round_id, mails = _launch(data, tmp_path, order="sequential")
    links = _by_field(mails, data, round_id)
    assert set(links) == {"unit-phu-tho", "chair-phu-tho@minutes"}  # the first of each document
    p12, passphrase = person({"data": data["data"], "index": data["index"]}, "phu-tho--do-dinh-chu")
    signed = run_covenant(
        "sign",
        "--link",
        links["unit-phu-tho"],
        "--p12",
        str(p12),
        "--passphrase-file",
        str(passphrase),
        env=data["env"],
    )
    assert signed.returncode == 0, signed.stderr
    # now the next leader, and the unit's clerk for the seal over the signature just made
    expected, written = {"unit-bac-giang", "seal-phu-tho"}, set()
    deadline = time.monotonic() + 60
    while written != expected and time.monotonic() < deadline:
        written |= set(_by_field(data["inbox"].take(), data, round_id))
        time.sleep(0.1)
    assert written == expected


def test_remind_writes_once_per_slot_and_keeps_the_invitations_link(data: dict, tmp_path: Path) -> None:
    """Launched while no mail server was set, every slot is still pending: "Nhắc ký" invites each signer once (before,
    each got an invitation and a reminder, and the reminder revoked the invitation's link); a second "Nhắc ký"
    reminds each once with a fresh link, and says so in its JSON (before: "reminded": [])."""
    quiet = {k: v for k, v in data["env"].items() if k != "COVENANT_SMTP_URL"}
    spec = yaml.safe_load((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    copy_example_files(tmp_path)
    data["inbox"].take()
    launched = run_covenant("round", "launch", str(path), "--json", env=quiet)
    assert launched.returncode == 0, launched.stderr
    round_id = json.loads(launched.stdout)["round_id"]
    assert data["inbox"].take() == []
    with _ctx(data).session() as s:
        assert {sl.status for sl in s.query(SlotRow) if sl.document.round_id == round_id} == {"pending"}

    first = run_covenant("round", "remind", round_id, "--json", env=data["env"])
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    mails = data["inbox"].take()
    assert len(result["invited"]) == 7 and result["reminded"] == []
    assert len(mails) == 7 and all(m["Subject"].startswith("Đề nghị ký số: ") for m in mails)
    invitations = _by_field(mails, data, round_id)
    assert len(invitations) == 7  # every invitation's link is still the slot's live link

    second = run_covenant("round", "remind", round_id, "--json", env=data["env"])
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    mails = data["inbox"].take()
    assert result["invited"] == [] and len(result["reminded"]) == 7
    assert {(w["document"], w["field"]) for w in result["reminded"]} == {
        ("minutes" if key.endswith("@minutes") else "covenant", key.split("@")[0]) for key in invitations
    }
    assert len(mails) == 7 and all(m["Subject"].startswith("Nhắc ký: ") for m in mails)
    assert len(_by_field(mails, data, round_id)) == 7
    gone = httpx.get(next(iter(invitations.values())) + "?format=json", timeout=10)
    assert gone.status_code == 410 and gone.json()["error"] == "link.replaced"  # the reminder's link replaced it
