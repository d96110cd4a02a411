"""A printable cover sheet for the paper file: documents, signers, signing times, the package's SHA-256.

It sits beside the package, not inside it: a fingerprint of the zip cannot be part of the zip.
"""

from __future__ import annotations

import hashlib
import html
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm, Pt

from workflow.documents import TITLES

VN_KINDS = {"covenant": TITLES["covenant"], "minutes": TITLES["minutes"]}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cover_rows(report: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for doc in report["documents"]:
        for sig in doc["signatures"]:
            if sig["kind"] == "document-timestamp":
                continue
            rows.append(
                [
                    VN_KINDS.get(doc["name"], doc["name"]),
                    sig["signer_cn"],
                    sig["signer_subject"].split("Organization: ")[-1].split(", Country")[0],
                    (sig["timestamp"] or sig["signing_time"] or "")[:19].replace("T", " ") + " UTC",
                    "Hợp lệ" if sig["ok"] else "KHÔNG hợp lệ",
                ]
            )
    return rows


HEAD = ["Văn bản", "Người ký", "Cơ quan", "Thời gian ký (dấu thời gian)", "Kết quả"]


def cover_html(report: Mapping[str, Any], package: str, zip_sha256: str) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cover_rows(report))
    levels = ", ".join(f"{VN_KINDS.get(d['name'], d['name'])}: {d.get('level', '')}" for d in report["documents"])
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Phiếu bìa hồ sơ lưu trữ</title>'
        "<style>body{font-family:'Times New Roman',serif}td,th{border:1px solid #000;padding:4px}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>PHIẾU BÌA HỒ SƠ LƯU TRỮ</h1><p>{html.escape(report['cluster'])} năm {report['year']} — "
        f"vòng ký {html.escape(report['round_id'])}</p><p>Gói lưu trữ: {html.escape(package)}</p>"
        f"<p>SHA-256 của gói: <code>{zip_sha256}</code></p><p>Mức chữ ký: {html.escape(levels)}</p>"
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in HEAD) + f"</tr>{cells}</table></body></html>"
    )


def cover_docx(report: Mapping[str, Any], package: str, zip_sha256: str) -> bytes:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin, section.right_margin, section.top_margin, section.bottom_margin = (
        Mm(25),
        Mm(15),
        Mm(20),
        Mm(20),
    )
    style = doc.styles["Normal"]
    style.font.name, style.font.size = "Times New Roman", Pt(12)
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.add_run("PHIẾU BÌA HỒ SƠ LƯU TRỮ").bold = True
    doc.add_paragraph(f"{report['cluster']} năm {report['year']} — vòng ký {report['round_id']}")
    doc.add_paragraph(f"Gói lưu trữ: {package}")
    doc.add_paragraph(f"SHA-256 của gói: {zip_sha256}")
    for d in report["documents"]:
        doc.add_paragraph(f"{VN_KINDS.get(d['name'], d['name'])}: {d.get('level', '')}")
    rows = cover_rows(report)
    table = doc.add_table(rows=1 + len(rows), cols=len(HEAD))
    table.style = "Table Grid"
    for i, text in enumerate(HEAD):
        table.rows[0].cells[i].paragraphs[0].add_run(text).bold = True
    for r, row in enumerate(rows, start=1):
        for i, text in enumerate(row):
            table.rows[r].cells[i].text = text
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def write_cover(report: Mapping[str, Any], zip_path: Path, to_pdf: Any) -> tuple[Path, Path]:
    """`<package>.cover.html` and `<package>.cover.pdf` beside the zip; `to_pdf` converts DOCX bytes."""
    package = zip_path.name
    digest = sha256_file(zip_path)
    stem = zip_path.with_suffix("")
    html_path, pdf_path = Path(f"{stem}.cover.html"), Path(f"{stem}.cover.pdf")
    html_path.write_text(cover_html(report, package, digest), encoding="utf-8")
    pdf_path.write_bytes(to_pdf(cover_docx(report, package, digest)))
    return html_path, pdf_path
