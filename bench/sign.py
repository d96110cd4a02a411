"""What one signature costs, beside its floor; 60 signatures in a row; validation. One run.

    .venv/bin/python bench/sign.py [--repeat 15] [--json bench/sign.json]

Documents (made in the run, not timed): the Cụm 4 covenant as prepared for signing (3 pages: fields added,
certified by the secretariat), a 100-page PDF/A prepared the same way, and the covenant of a 60-unit round.

Per signature (warm, in-process, median of --repeat, each signing the same prepared file into one field, no TSA
round trip):
  floor              SHA-256 over the file's bytes + one private-key operation (`cryptography`), RSA-2048 / P-256
  pyHanko stock      `SimpleSigner.load_pkcs12` + `PdfSigner.sign_pdf` as documented (pyHanko's default stamp)
  covenant           `signing.signers.sign_field`: key parsed once, slot size preset, the visible Vietnamese stamp
Then 60 signatures in a row into the 60-unit covenant (time per signature as the file grows) and validation of
all 60, and of 6 signatures on the 100-page PDF/A, each in a fresh process (time and peak resident memory).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from signing.pki import demo_roots  # noqa: E402

LEADER = dict(signer_name="Đỗ Đình Chữ", title="Viện trưởng", unit="Viện kiểm sát nhân dân tỉnh Phú Thọ")

REPO_ROOT = REPO


def median_ms(fn: Any, repeat: int, setup: Any = None) -> float:
    """Median wall time of `fn`, after one warm call; `setup` (untimed) runs before each call."""
    if setup:
        setup()
    fn()  # warm: imports, font cache, first-use costs
    times = []
    for _ in range(repeat):
        if setup:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(times), 2)


def forget_readings() -> None:
    """Nothing kept of the files read before (signing/patches.py piece 8; absent before it existed)."""
    from signing import patches

    getattr(patches, "forget_readings", lambda: None)()


def prepared_documents(work: Path) -> dict[str, Any]:
    """The prepared 3-page covenant, a prepared 100-page PDF/A, the prepared 60-unit covenant, and keys."""
    os.environ["COVENANT_DATA_DIR"] = str(work / "data")
    from workflow.config import get_settings, reset_settings

    reset_settings()
    from signing.pki import make_demo_pki
    from tasks.pipeline import generate_and_wait
    from workflow.context import Ctx
    from workflow.demo import identities
    from workflow.samples import synthetic_round
    from workflow.stages.check import parse_round
    from workflow.stages.launch import launch
    from workflow.storage import DocumentRow

    ctx = Ctx(get_settings())
    out: dict[str, Any] = {"ctx": ctx}
    rounds = [
        ("cum4", (REPO_ROOT / "examples" / "cum-4-2024.yaml").read_text(encoding="utf-8"), REPO_ROOT / "examples"),
        ("big", synthetic_round(60), work),
    ]
    people: dict[str, Any] = {}
    for _, text, _ in rounds:  # one demo PKI for the people of both rounds
        round_people, secretariat = identities(parse_round(text))
        people.update({p.key: p for p in round_people})
    make_demo_pki(ctx.settings.pki_dir, list(people.values()), secretariat)
    for name, text, base in rounds:
        model = parse_round(text)
        round_id = launch(ctx, text, model, base, actor="bench")
        generate_and_wait(round_id, timeout=600)
        with ctx.session() as s:
            doc = s.query(DocumentRow).filter_by(round_id=round_id, kind="covenant").one()
            out[name] = {
                "pdf": ctx.blobs.get(doc.current or ""),
                "slots": [
                    (sl.field_name, sl.unit_id, sl.signer_name, sl.signer_title, sl.unit_name) for sl in doc.slots
                ],
            }
    out["index"] = json.loads((ctx.settings.pki_dir / "index.json").read_text(encoding="utf-8"))
    out["page100"] = hundred_pages(ctx)
    return out


def hundred_pages(ctx: Any) -> bytes:
    """A 100-page PDF/A of Vietnamese text through the same converter, fields and certification."""
    import docx
    from docx.enum.text import WD_BREAK

    from signing import fields as pdf_fields
    from signing.signers import load_pkcs12
    from workflow.libreoffice import docx_to_pdf
    from workflow.trust import certifier_paths

    paragraph = (
        "Tiếp tục thực hiện có hiệu quả các phong trào thi đua, nâng cao chất lượng công tác thực hành quyền công tố "
        "và kiểm sát hoạt động tư pháp; bảo đảm mọi hành vi phạm tội đều được phát hiện, khởi tố, điều tra, truy tố, "
        "xét xử kịp thời, nghiêm minh, đúng pháp luật, không làm oan người vô tội, không để lọt tội phạm. "
    )
    document = docx.Document()
    for page in range(100):
        document.add_heading(f"Phần {page + 1}. Chỉ tiêu thi đua", level=2)
        for _ in range(5):
            document.add_paragraph(paragraph)
        if page < 99:
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    buffer = io.BytesIO()
    document.save(buffer)
    pdf = pdf_fields.normalise(docx_to_pdf(buffer.getvalue()))
    boxes = [(60 + 250 * (i % 2), 500 - 110 * (i // 2), 280 + 250 * (i % 2), 590 - 110 * (i // 2)) for i in range(6)]
    placements = [pdf_fields.FieldPlacement(f"unit-{i + 1}", 99, box) for i, box in enumerate(boxes)]
    p12, passphrase = certifier_paths(ctx)
    return pdf_fields.certify(pdf_fields.add_fields(pdf, placements), load_pkcs12(p12, passphrase))


def ec_p12(ctx: Any, work: Path) -> tuple[Path, Path]:
    from signing.pki import Identity, issue, load_root_key, write_p12

    ca_key, ca_cert = load_root_key(ctx.settings.pki_dir)
    who = Identity("ec-leader", LEADER["signer_name"], LEADER["unit"])
    key, cert = issue(ca_key, ca_cert, who, key_type="ec")
    return work / "ec.p12", write_p12(work / "ec.p12", who, key, cert, ca_cert)


def pages(pdf: bytes) -> int:
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)


def per_signature(docs: dict[str, Any], work: Path, repeat: int) -> list[dict[str, Any]]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    from signing.signers import load_pkcs12, sign_field

    pki = docs["ctx"].settings.pki_dir
    entry = docs["index"]["people"]["phu-tho--do-dinh-chu"]
    rsa_p12, rsa_pass = pki / entry["p12"], pki / entry["passphrase_file"]
    ec_file, ec_pass = ec_p12(docs["ctx"], work)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    prehashed = utils.Prehashed(hashes.SHA256())
    rows = []
    for label, pdf, field in [
        ("covenant, 3 pages", docs["cum4"]["pdf"], "unit-phu-tho"),
        ("PDF/A, 100 pages", docs["page100"], "unit-1"),
    ]:
        sha_ms = median_ms(lambda pdf=pdf: hashlib.sha256(pdf).digest(), repeat)
        digest = hashlib.sha256(pdf).digest()
        rsa_ms = median_ms(lambda d=digest: rsa_key.sign(d, padding.PKCS1v15(), prehashed), repeat)
        ec_ms = median_ms(lambda d=digest: ec_key.sign(d, ec.ECDSA(prehashed)), repeat)
        row: dict[str, Any] = {"document": label, "pages": pages(pdf), "kib": round(len(pdf) / 1024)}
        row["floor_rsa_ms"] = round(sha_ms + rsa_ms, 3)
        row["floor_ecdsa_ms"] = round(sha_ms + ec_ms, 3)
        for alg, p12, pass_file in [("rsa", rsa_p12, rsa_pass), ("ecdsa", ec_file, ec_pass)]:
            stock = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=pass_file.read_bytes().strip())
            ours = load_pkcs12(p12, pass_file)

            def stock_sign(pdf: bytes = pdf, field: str = field, stock: Any = stock) -> bytes:
                meta = signers.PdfSignatureMetadata(field_name=field, subfilter=SigSeedSubFilter.PADES)
                writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
                return signers.PdfSigner(meta, stock).sign_pdf(writer, existing_fields_only=True).getvalue()

            row[f"stock_{alg}_ms"] = median_ms(stock_sign, repeat)
            row[f"covenant_{alg}_ms"] = median_ms(
                lambda pdf=pdf, field=field, ours=ours: sign_field(pdf, field, ours, **LEADER), repeat
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


ACCEPTANCE_AT = (1, 30, 60)  # leaders; with the certification first, the 2nd, 31st and 61st signature


def in_a_row(docs: dict[str, Any], work: Path) -> tuple[list[dict[str, Any]], Path]:
    """Every leader of the 60-unit covenant signs in turn (no TSA), each on the file the previous one made; the
    submissions of the leaders in ACCEPTANCE_AT are kept in docs["submissions"] (before, after, field, name)."""
    from signing.signers import load_pkcs12, sign_field
    from workflow.demo import person_key

    pki = docs["ctx"].settings.pki_dir
    pdf = docs["big"]["pdf"]
    steps = []
    for n, (field, unit_id, name, title, unit_name) in enumerate(docs["big"]["slots"], start=1):
        entry = docs["index"]["people"][person_key(unit_id, name)]
        signer = load_pkcs12(pki / entry["p12"], pki / entry["passphrase_file"])
        t0 = time.perf_counter()
        before = pdf
        pdf = sign_field(pdf, field, signer, signer_name=name, title=title, unit=unit_name)
        if n in ACCEPTANCE_AT:
            docs.setdefault("submissions", {})[n] = (before, pdf, field, name)
        steps.append({"n": n, "ms": round(1000 * (time.perf_counter() - t0), 1), "kib": round(len(pdf) / 1024)})
    out = work / "sixty.pdf"
    out.write_bytes(pdf)
    return steps, out


def acceptance(docs: dict[str, Any], repeat: int) -> list[dict[str, Any]]:
    """Acceptance of one submission (judge_submission: structure, chain rule, the new signature's cryptography,
    identity) at the 2nd, 31st and 61st signature, as a worker does it (it read the file before this one when it
    accepted it, and keeps that reading: signing/patches.py piece 8) and with nothing kept (a worker that never
    read this document), beside pyHanko's stock validation of the same submission
    (validate_pdf_signature of the new signature with pyHanko's default difference analysis), and beside
    pyHanko's own rules judging the new revision against the one before it (StandardDiffPolicy.apply: what the
    chain design would cost with pyHanko's rules instead of ours). Median ms, warm."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from signing.validation import KEY_USAGE, Pin, judge_submission, load_roots

    roots = load_roots(demo_roots(docs["ctx"].settings.pki_dir))
    rows = []
    for n, (before, after, field, name) in sorted(docs["submissions"].items()):

        def ours(before: bytes = before, after: bytes = after, field: str = field, name: str = name) -> None:
            judge_submission(before, after, field, roots, Pin(), name)

        def stock(after: bytes = after, field: str = field) -> None:
            reader = PdfFileReader(io.BytesIO(after), strict=False)
            sig = next(s for s in reader.embedded_signatures if s.field_name == field)
            context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
            status = validate_pdf_signature(sig, signer_validation_context=context, key_usage_settings=KEY_USAGE)
            assert status.intact and status.valid

        def opening(after: bytes = after) -> None:
            PdfFileReader(io.BytesIO(after), strict=False)  # every revision's xref section, or the new ones

        def read_before(before: bytes = before) -> None:
            # what a worker read when it accepted `before`: the file before it, then `before` as its continuation
            forget_readings()
            PdfFileReader(io.BytesIO(before[: before.rindex(b"%%EOF", 0, len(before) - 8) + 6]), strict=False)
            PdfFileReader(io.BytesIO(before), strict=False)

        def hashing(after: bytes = after) -> None:
            hashlib.sha256(after).digest()

        def stock_rules(after: bytes = after) -> None:
            reader = PdfFileReader(io.BytesIO(after), strict=False)
            last = reader.xrefs.total_revisions - 1
            DEFAULT_DIFF_POLICY.apply(reader.get_historical_resolver(last - 1), reader.get_historical_resolver(last))

        rows.append(
            {
                "signature": n + 1,
                "kib": round(len(after) / 1024),
                "covenant_ms": median_ms(ours, repeat, read_before),
                "covenant_nothing_kept_ms": median_ms(ours, repeat, forget_readings),
                "of_which_opening_the_file_ms": median_ms(opening, repeat, read_before),
                "sha256_of_the_file_ms": median_ms(hashing, repeat),
                "pyhanko_stock_validation_ms": median_ms(stock, repeat),
                "pyhanko_rules_previous_revision_ms": median_ms(stock_rules, max(3, repeat // 3)),
            }
        )
    return rows


def validate_in_child(pdf: Path, pki: Path) -> dict[str, Any]:
    """validate_signatures on `pdf` in a fresh interpreter: its wall time and its process's peak RSS."""
    code = (
        "import json, sys, time\n"
        # VmHWM, not getrusage's ru_maxrss: that one survives exec, so a child forked from this (large) process
        # would report this process's size (it did: 200 MiB for every validation)
        "def peak_mib():\n"
        "    status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "    return round(int(status['VmHWM'].split()[0]) / 1024)\n"
        "from pathlib import Path\n"
        "from signing.pki import demo_roots\n"
        "from signing.validation import load_roots, status_ok, validate_signatures\n"
        "roots = load_roots(demo_roots(Path(sys.argv[2])))\n"
        "data = Path(sys.argv[1]).read_bytes()\n"
        "t0 = time.perf_counter()\n"
        "reports = validate_signatures(data, roots)\n"
        "s = time.perf_counter() - t0\n"
        "print(json.dumps({'signatures': len(reports), 'all_valid': all(status_ok(r) for r in reports),\n"
        "  'seconds': round(s, 2), 'peak_mib': peak_mib()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(pdf), str(pki)], cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", default=str(REPO_ROOT / "bench" / "sign.json"))
    args = parser.parse_args()
    console = Console(width=150)
    with tempfile.TemporaryDirectory(prefix="covenant-bench-sign-") as tmp:
        work = Path(tmp)
        docs = prepared_documents(work)
        rows = per_signature(docs, work, args.repeat)
        steps, sixty = in_a_row(docs, work)
        accepting = acceptance(docs, args.repeat)
        validation = {"sixty": validate_in_child(sixty, docs["ctx"].settings.pki_dir)}
        from signing.signers import load_pkcs12, sign_field

        pdf = docs["page100"]
        pki = docs["ctx"].settings.pki_dir
        entry = docs["index"]["people"]["phu-tho--do-dinh-chu"]
        signer = load_pkcs12(pki / entry["p12"], pki / entry["passphrase_file"])
        for i in range(6):
            pdf = sign_field(pdf, f"unit-{i + 1}", signer, **LEADER)
        (work / "hundred.pdf").write_bytes(pdf)
        validation["hundred_pages_6"] = validate_in_child(work / "hundred.pdf", docs["ctx"].settings.pki_dir)
        from workflow.libreoffice import shutdown

        shutdown()

    table = Table(title="one signature, warm, in-process, no TSA (median ms)")
    for col in [
        "document",
        "pages",
        "KiB",
        "floor RSA",
        "floor ECDSA",
        "stock RSA",
        "stock ECDSA",
        "covenant RSA",
        "covenant ECDSA",
    ]:
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["document"],
            str(r["pages"]),
            str(r["kib"]),
            *(
                str(r[k])
                for k in [
                    "floor_rsa_ms",
                    "floor_ecdsa_ms",
                    "stock_rsa_ms",
                    "stock_ecdsa_ms",
                    "covenant_rsa_ms",
                    "covenant_ecdsa_ms",
                ]
            ),
        )
    console.print(table)
    growth = Table(title="60 signatures in a row on one covenant (RSA, visible stamp, no TSA)")
    for col in ["signature", "ms", "file KiB"]:
        growth.add_column(col, justify="right")
    for step in steps:
        if step["n"] in (1, 2, 10, 20, 30, 40, 50, 60) or step["n"] == len(steps):
            growth.add_row(str(step["n"]), str(step["ms"]), str(step["kib"]))
    console.print(growth)
    first = statistics.median(s["ms"] for s in steps[1:6])
    last = statistics.median(s["ms"] for s in steps[-5:])
    summary = {
        "time_growth": round(last / first, 2),
        "size_growth": round(steps[-1]["kib"] / steps[1]["kib"], 2),
    }
    console.print(f"time per signature grew {summary['time_growth']}× while the file grew {summary['size_growth']}×")
    accept_table = Table(title="acceptance of one submission on the 60-unit covenant (median ms, warm, no TSA)")
    columns = [
        "signature",
        "file KiB",
        "covenant",
        "covenant, nothing kept",
        "of which: opening the file",
        "SHA-256 of the file",
    ]
    for col in [*columns, "pyHanko stock validation", "pyHanko rules vs previous"]:
        accept_table.add_column(col, justify="right")
    for row in accepting:
        accept_table.add_row(
            str(row["signature"]),
            str(row["kib"]),
            str(row["covenant_ms"]),
            str(row["covenant_nothing_kept_ms"]),
            str(row["of_which_opening_the_file_ms"]),
            str(row["sha256_of_the_file_ms"]),
            str(row["pyhanko_stock_validation_ms"]),
            str(row["pyhanko_rules_previous_revision_ms"]),
        )
    console.print(accept_table)
    for name, v in validation.items():
        console.print(f"validation {name}: {v}")
    Path(args.json).write_text(
        json.dumps(
            {
                "per_signature": rows,
                "in_a_row": steps,
                "growth": summary,
                "acceptance": accepting,
                "validation": validation,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
