"""The embedded default (no broker) under concurrency: 20 leaders sign one document through their links at the
same moment, against one `covenant serve`. Every one succeeds (a leader whose base moved is told and signs again
by himself), the file carries the 20 signatures in one chain, no request failed, and what follows the last
signature (finalisation, archive) ran in the server after its answer."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import pdfsig_verdicts, run_covenant, serving, sign_by_link
from workflow.config import settings_from_env
from workflow.context import Ctx
from workflow.demo import person_key
from workflow.samples import synthetic_round
from workflow.storage import DocumentRow, RoundRow, SlotRow

pytestmark = pytest.mark.live


def test_twenty_leaders_at_once_without_a_broker(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"COVENANT_DATA_DIR": str(data)}
    round_file = tmp_path / "round-20.yaml"
    round_file.write_text(synthetic_round(20), encoding="utf-8")
    made = run_covenant("pki", "demo", str(data / "pki"), "--round", str(round_file), env=env)
    assert made.returncode == 0, made.stderr
    launched = run_covenant("round", "launch", str(round_file), "--json", env=env)
    assert launched.returncode == 0, launched.stderr
    round_id = json.loads(launched.stdout)["round_id"]
    index = json.loads((data / "pki" / "index.json").read_text(encoding="utf-8"))
    ctx = Ctx(settings_from_env(env))
    with ctx.session() as s:
        units = {
            (sl.document.kind, sl.field_name): (sl.unit_id, sl.signer_name)
            for sl in s.query(SlotRow)
            if sl.document.round_id == round_id
        }
    pki = data / "pki"
    with serving(env) as served:
        served_env = {k: v for k, v in served.items() if k != "base"}
        issued = run_covenant("round", "links", round_id, "--json", env=served_env)
        assert issued.returncode == 0, issued.stderr
        links = json.loads(issued.stdout)
        covenant = [i for i in links if i["document"] == "covenant"]
        assert len(covenant) == 20

        def sign(link: dict) -> subprocess.CompletedProcess:
            return sign_by_link(
                link["url"], pki, index["people"][person_key(*units[(link["document"], link["field"])])], served_env
            )

        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(sign, covenant))
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
        with ctx.session() as s:
            doc = s.query(DocumentRow).filter_by(round_id=round_id, kind="covenant").one()
            assert doc.revisions == 21  # one chain: prepared + 20 signatures
            assert sum(sl.status == "signed" for sl in doc.slots) == 20
            pdf = ctx.blobs.get(doc.current or "")
        # the last slot (minutes), then the archive runs in the server's background, after its answer
        rest = [sign(i) for i in links if i["document"] != "covenant"]
        assert all(r.returncode == 0 for r in rest), [r.stderr for r in rest]
        deadline = time.monotonic() + 300
        status = ""
        while time.monotonic() < deadline:
            with ctx.session() as s:
                status = s.get(RoundRow, round_id).status  # type: ignore[union-attr]
            if status == "archived":
                break
            time.sleep(0.5)
        assert status == "archived"
    path = tmp_path / "twenty.pdf"
    path.write_bytes(pdf)
    signed = pdfsig_verdicts(path)
    assert len(signed) == 21 and all("Signature is Valid." in b for b in signed)
