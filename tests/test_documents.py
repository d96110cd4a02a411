"""Documents as a secretariat files them: layouts for 2..60 units, custom templates, bad input."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from docx import Document

from signing.fields import placements
from templates import TEMPLATES_DIR
from tests.conftest import EXAMPLES, copy_example_files, run_covenant
from workflow.documents import PERSON_ROLES, render_docx, slot_specs, vn_date
from workflow.libreoffice import docx_to_pdf
from workflow.samples import synthetic_round
from workflow.stages.check import parse_round

pytestmark = pytest.mark.live
HEADING = re.compile(r"^(I|II|III|IV|V|VI)\. [A-ZĐ]|^\d\. |^ĐẠI DIỆN CÁC ĐƠN VỊ")
A4_WIDTH = 595.3
LEFT, RIGHT = 30 / 25.4 * 72, 15 / 25.4 * 72


def test_vietnamese_date_line() -> None:
    import datetime as dt

    assert vn_date(dt.date(2024, 3, 20), "Phú Thọ") == "Phú Thọ, ngày 20 tháng 3 năm 2024"
    assert vn_date(dt.date(2020, 2, 10)) == "ngày 10 tháng 02 năm 2020"
    assert vn_date(dt.date(2024, 1, 5)) == "ngày 05 tháng 01 năm 2024"
    assert vn_date(dt.date(2024, 12, 9)) == "ngày 09 tháng 12 năm 2024"


def _pages(pdf: Path) -> list[str]:
    count = int(
        re.search(
            r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        ).group(1)
    )  # type: ignore[union-attr]
    return [
        subprocess.run(
            ["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True, text=True
        ).stdout
        for i in range(1, count + 1)
    ]


@pytest.mark.parametrize("source", ["cum-4-2024.yaml", "cum-11-2020.yaml", 2, 12, 30, 60])
def test_layout_for_any_cluster_size(source: str | int, tmp_path: Path) -> None:
    """The two seed rounds and generated rounds of 2 to 60 units."""
    if isinstance(source, int):
        model = parse_round(synthetic_round(source))
    else:
        model = parse_round((EXAMPLES / source).read_text(encoding="utf-8"))
    for kind in ("covenant", "minutes"):
        pdf = tmp_path / f"{kind}.pdf"
        pdf.write_bytes(docx_to_pdf(render_docx(model, kind)))
        specs = slot_specs(model)[kind]
        # every signature block found, whole, on one page (placements() refuses a block split across pages)
        placed = placements(pdf.read_bytes(), [(s.field_name, s.anchor) for s in specs])
        assert len(placed) == len(specs)
        people = [p for p, s in zip(placed, specs, strict=True) if s.role in PERSON_ROLES]  # a seal lies over one
        assert all(p.box[3] - p.box[1] >= 60 for p in people), "room for a signature above each name"
        # no text outside the margins
        bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True).stdout
        for x_min, x_max in re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"', bbox):
            assert float(x_min) >= LEFT - 2 and float(x_max) <= A4_WIDTH - RIGHT + 2, (kind, x_min, x_max)
        # no heading left alone at the foot of a page
        pages = _pages(pdf)
        for number, page in enumerate(pages[:-1], start=1):
            last = [line.strip() for line in page.splitlines() if line.strip()][-1]
            assert not HEADING.match(last), f"{kind} page {number} ends with the heading {last!r}"
        # page numbers from page 2 on
        for number, page in enumerate(pages[1:], start=2):
            assert page.strip().splitlines()[0].strip() == str(number)
        raw = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        text = " ".join(raw.split())
        for unit in model.units if kind == "covenant" else []:
            assert unit.signer.name in text and unit.name.upper() in text
        # the number line: a covenant (giao ước) is GƯ, the minutes (biên bản) BB
        assert re.search(r"Số: /(GƯ|BB)-CTĐ", text).group(1) == ("GƯ" if kind == "covenant" else "BB")  # type: ignore[union-attr]


def _custom_templates(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "mau"
    folder.mkdir()
    for kind in ("covenant", "minutes"):
        doc = Document(str(TEMPLATES_DIR / f"{kind}.docx"))
        if kind == "covenant":
            doc.paragraphs[3].insert_paragraph_before(extra)
        doc.save(str(folder / f"{kind}.docx"))
    return folder


def _round_with_templates(tmp_path: Path) -> Path:
    text = (EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8") + "templates: mau\n"
    path = tmp_path / "round.yaml"
    path.write_text(text, encoding="utf-8")
    copy_example_files(tmp_path)
    return path


def test_round_with_its_own_templates(tmp_path: Path) -> None:
    _custom_templates(tmp_path, "Văn bản mẫu riêng của Cụm: {{ cluster_name }}.")
    proc = run_covenant("render", str(_round_with_templates(tmp_path)), "--out", str(tmp_path / "out"), "--dpi", "30")
    assert proc.returncode == 0, proc.stderr
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "out" / "covenant.pdf"), "-"], capture_output=True, text=True
    ).stdout
    assert "Văn bản mẫu riêng của Cụm: Cụm thi đua số 4." in " ".join(text.split())
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png"))[0] == "covenant-1.png"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("{{ ten_khong_co }}", "ten_khong_co"),
        ("{% if cluster_name %}không đóng", "Jinja syntax error"),
    ],
    ids=["unknown variable", "jinja syntax error"],
)
def test_bad_custom_template(tmp_path: Path, extra: str, message: str) -> None:
    _custom_templates(tmp_path, extra)
    round_file = _round_with_templates(tmp_path)
    proc = run_covenant("round", "check", str(round_file), env={"COVENANT_DATA_DIR": str(tmp_path / "data")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "templates" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()


def test_corrupt_custom_template(tmp_path: Path) -> None:
    folder = _custom_templates(tmp_path, "x")
    (folder / "minutes.docx").write_bytes(b"PK\x03\x04 not really a docx")
    proc = run_covenant("round", "check", str(_round_with_templates(tmp_path)))
    assert proc.returncode == 2
    assert "minutes.docx" in proc.stderr and "cannot be read as a DOCX template" in proc.stderr
    assert "Traceback" not in proc.stderr


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "round.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    copy_example_files(tmp_path)
    return path


def test_unit_name_of_300_characters(tmp_path: Path) -> None:
    path = _variant(tmp_path, "name: Viện kiểm sát nhân dân tỉnh Phú Thọ", "name: " + "Viện kiểm sát " * 22)
    proc = run_covenant("round", "check", str(path))
    assert proc.returncode == 2 and "units[0].name" in proc.stderr and "200 characters" in proc.stderr


def test_criteria_item_of_2000_characters_renders(tmp_path: Path) -> None:
    long = ("Thực hiện tốt công tác chuyên môn nghiệp vụ, bảo đảm đúng quy định " * 30)[:1999] + "."
    old = "Thực hiện tốt nhiệm vụ chống oan sai, chống bỏ lọt tội phạm; kiểm sát chặt chẽ các hoạt động tư pháp"
    assert len(long) == 2000
    path = _variant(tmp_path, old, long)
    proc = run_covenant("render", str(path), "--out", str(tmp_path / "out"), "--dpi", "30")
    assert proc.returncode == 0, proc.stderr
    placements(
        (tmp_path / "out" / "covenant.pdf").read_bytes(),
        [(s.field_name, s.anchor) for s in slot_specs(parse_round(path.read_text(encoding="utf-8")))["covenant"]],
    )


@pytest.mark.parametrize("text", ["Đoàn kết 😀", "מוטו", "شعار"], ids=["emoji", "hebrew", "arabic"])
def test_characters_outside_the_font(tmp_path: Path, text: str) -> None:
    path = _variant(tmp_path, 'motto: "Đoàn kết, trách nhiệm', f'motto: "{text}, trách nhiệm')
    proc = run_covenant("round", "check", str(path))
    if proc.returncode == 0:
        # the font has these glyphs: then they must come out of the PDF exactly
        render = run_covenant("render", str(path), "--out", str(tmp_path / "out"), "--dpi", "30")
        assert render.returncode == 0, render.stderr
        pdf_text = subprocess.run(
            ["pdftotext", str(tmp_path / "out" / "covenant.pdf"), "-"], capture_output=True, text=True
        ).stdout
        assert text in pdf_text
    else:
        assert proc.returncode == 2
        assert "covenant.motto" in proc.stderr and "cannot print" in proc.stderr and "Traceback" not in proc.stderr


PAYLOADS = [
    "{{ cycler.__init__.__globals__.os.system('touch %s') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}{{ lipsum.__globals__['os'].system('touch %s') }}",
    "{{ lipsum.__globals__['os'].popen('touch %s').read() }}",
    "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch %s') }}",
    "{{ joiner.__init__.__globals__.os.system('touch %s') }}",
    "{{ namespace.__init__.__globals__.os.system('touch %s') }}",
    "{% set x = cluster_name.__class__ %}{{ x.__base__.__subclasses__() }}",
    "{{ cluster_name|attr('__class__') }}",
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"payload-{i}" for i in range(len(PAYLOADS))])
def test_template_cannot_run_code(tmp_path: Path, payload: str) -> None:
    """A template folder named by a round file is data: the classic Jinja escapes are refused with the
    template's name, and nothing they ask for runs, from `round check` and from `render`."""
    marker = tmp_path / "pwned"
    _custom_templates(tmp_path, payload.replace("%s", str(marker)))
    round_file = _round_with_templates(tmp_path)
    for args in (("round", "check", str(round_file)), ("render", str(round_file), "--out", str(tmp_path / "o"))):
        proc = run_covenant(*args, env={"COVENANT_DATA_DIR": str(tmp_path / "data")})
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "covenant.docx" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert "refused" in proc.stderr or "does not have" in proc.stderr, proc.stderr
        assert not marker.exists()


def test_template_zip_bomb_is_refused(tmp_path: Path) -> None:
    import zipfile

    folder = _custom_templates(tmp_path, "x")
    bomb = folder / "covenant.docx"
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/padding.xml", b"<a>" + b" " * (80 * 1024 * 1024) + b"</a>")
    assert bomb.stat().st_size < 2 * 1024 * 1024
    proc = run_covenant("round", "check", str(_round_with_templates(tmp_path)))
    assert proc.returncode == 2, proc.stderr
    assert "covenant.docx" in proc.stderr and "unpacks to" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["covenant", "minutes"])
def test_a_signature_block_is_never_alone_on_a_page(kind: str, tmp_path: Path) -> None:
    """Whatever the length of the text before them, the first row of signature blocks shares its page with the
    closing paragraph (and, for the covenant, the heading over the blocks): one more paragraph at a time moves the
    page break through every position near the blocks."""
    from signing.fields import read_anchors

    base = parse_round((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    closing = {"covenant": "có hiệu lực kể từ ngày ký", "minutes": "nhất trí thông qua"}[kind]
    moved = set()
    for extra in range(0, 16):
        data = base.model_dump(mode="json")
        paragraph = "Các đơn vị tiếp tục phối hợp chặt chẽ, trao đổi kinh nghiệm và báo cáo kết quả định kỳ."
        if kind == "covenant":
            data["covenant"]["commitments"] += [paragraph] * extra
        else:
            data["conference"]["decisions"] += [paragraph] * extra
        model = parse_round(json.dumps(data, ensure_ascii=False))
        pdf_bytes = docx_to_pdf(render_docx(model, kind))
        pdf = tmp_path / f"{kind}-{extra}.pdf"
        pdf.write_bytes(pdf_bytes)
        first = slot_specs(model)[kind][0]
        page = read_anchors(pdf_bytes)[f"{first.anchor}a"].page + 1
        text = " ".join(_pages(pdf)[page - 1].split())
        assert closing in text, (
            f"{kind} with {extra} more paragraphs: the first signature block is alone on page {page}"
        )
        if kind == "covenant":
            assert "ĐẠI DIỆN CÁC ĐƠN VỊ KÝ KẾT" in text
        moved.add(page)
    assert len(moved) >= 2  # the sweep did push the blocks onto another page
