"""Builds the two DOCX templates (covenant.docx, minutes.docx) with python-docx.

The .docx files are committed: a secretariat opens and edits them in Word or LibreOffice. This script is how
they were made, so that a change to the layout is a reviewable diff; run it with
`python templates/build.py` after editing.

The Jinja tags are docxtpl's: `{%p ... %}` for paragraph loops, `{%tr ... %}` for table-row loops.
Signature blocks carry `{{ c.anchor_top }}` and `{{ c.anchor_name }}`: workflow.documents turns those into
Word bookmarks, which LibreOffice exports as PDF named destinations, which the PDF stage reads to place each
signer's field over the blank space above the name.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph

HERE = Path(__file__).resolve().parent
FONT = "Times New Roman"
SIZE = Pt(13)
# Decree 30/2020 margins: top/bottom 20-25 mm, left 30-35 mm, right 15-20 mm.
MARGINS = {"top": Mm(20), "bottom": Mm(20), "left": Mm(30), "right": Mm(15)}
TEXT_WIDTH = Mm(210 - 30 - 15)


def _new_document() -> DocxDocument:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = MARGINS["top"], MARGINS["bottom"]
    section.left_margin, section.right_margin = MARGINS["left"], MARGINS["right"]
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = SIZE
    rpr = normal.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), "vi-VN")  # the spelling language in Word
    # LibreOffice takes the document language (the PDF's /Lang) from the document defaults.
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    default_rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    default_lang = default_rpr.find(qn("w:lang"))
    if default_lang is None:
        default_lang = OxmlElement("w:lang")
        default_rpr.append(default_lang)
    default_lang.set(qn("w:val"), "vi-VN")
    fmt = normal.paragraph_format
    fmt.space_before, fmt.space_after, fmt.line_spacing = Pt(0), Pt(4), 1.1
    doc.core_properties.language = "vi-VN"
    return doc


def _para(
    container: DocxDocument | _Cell,
    text: str = "",
    *,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = None,
    size: Pt | None = None,
    indent: bool = False,
    keep_next: bool = False,
) -> Paragraph:
    p = container.add_paragraph()
    if text:
        run = p.add_run(text)
        run.bold, run.italic = bold or None, italic or None
        if size:
            run.font.size = size
    if align is not None:
        p.alignment = align
    if indent:
        p.paragraph_format.first_line_indent = Mm(10)
    if keep_next:
        p.paragraph_format.keep_with_next = True
    return p


def _cell_para(cell: _Cell, text: str = "", **kw: object) -> Paragraph:
    """First paragraph of a fresh cell is reused, later ones appended."""
    if len(cell.paragraphs) == 1 and not cell.paragraphs[0].text and not cell.paragraphs[0].runs:
        p = cell.paragraphs[0]
        if text:
            run = p.add_run(text)
            run.bold = kw.get("bold") or None
            run.italic = kw.get("italic") or None
            if kw.get("size"):
                run.font.size = kw["size"]
        if kw.get("align") is not None:
            p.alignment = kw["align"]
        return p
    return _para(cell, text, **kw)  # type: ignore[arg-type]  # _para's own keywords, passed through


def _no_borders(table: Table) -> None:
    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    tbl_pr.append(borders)


def _grid(table: Table, widths: list[Mm]) -> None:
    table.autofit = False
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    # LibreOffice reads the table grid (w:gridCol), Word the cell widths: set both.
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def _cant_split(row: _Row) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:cantSplit")
    tr_pr.append(el)


def _rule(cell: _Cell, width_mm: float, cell_mm: float) -> None:
    """A short centred horizontal rule: an empty paragraph with a bottom border, narrowed by its indents."""
    p = cell.add_paragraph()
    side = Mm((cell_mm - width_mm) / 2)
    p.paragraph_format.left_indent = side
    p.paragraph_format.right_indent = side
    p.paragraph_format.space_after = Pt(6)
    p.paragraph_format.line_spacing = Pt(2)
    p_pr = p._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(key), value)
    borders.append(bottom)
    p_pr.append(borders)


def _page_numbers(doc: DocxDocument) -> None:
    """Page number centred in the header from page 2 on (Decree 30); the first page has none."""
    section = doc.sections[0]
    section.different_first_page_header_footer = True
    p = section.header.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    p._p.append(field)


def _header(doc: DocxDocument) -> None:
    """Two-column header of Decree 30: the issuing body left, the national name and motto right, each with a
    short rule; then the number (số ký hiệu) and the place and date line."""
    table = doc.add_table(rows=2, cols=2)
    _no_borders(table)
    _grid(table, [Mm(63), Mm(102)])
    left, right = table.rows[0].cells
    center, small = WD_ALIGN_PARAGRAPH.CENTER, Pt(12)
    _cell_para(left, "{{ issuer_upper }}", align=center, size=small)
    _cell_para(left, "{{ issuer_unit_upper }}", bold=True, align=center, size=small)
    _rule(left, 25, 63)
    _cell_para(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, align=center, size=small)
    _cell_para(right, "Độc lập - Tự do - Hạnh phúc", bold=True, align=center)
    _rule(right, 55, 102)
    left, right = table.rows[1].cells
    _cell_para(left, "{{ number_line }}", align=WD_ALIGN_PARAGRAPH.CENTER)
    _cell_para(right, "{{ place_date }}", italic=True, align=WD_ALIGN_PARAGRAPH.CENTER)


def _loop(doc: DocxDocument | _Cell, head: str, body: str, *, indent: bool = True) -> None:
    _para(doc, "{%p " + head + " %}")
    _para(doc, body, indent=indent, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _para(doc, "{%p endfor %}")


def _signature_grid(doc: DocxDocument) -> None:
    """One block per signer, two per row; a row never splits across pages."""
    table = doc.add_table(rows=3, cols=2)
    _no_borders(table)
    _grid(table, [Mm(82), Mm(82)])
    _cell_para(table.rows[0].cells[0], "{%tr for row in sig_rows %}")
    for index, cell in enumerate(table.rows[1].cells):
        c = f"row[{index}]"
        center = WD_ALIGN_PARAGRAPH.CENTER
        _cell_para(cell, "{{ " + c + ".heading }}", bold=True, align=center)
        _cell_para(cell, "{{ " + c + ".line1 }}", bold=True, align=center)
        _cell_para(cell, "{{ " + c + ".line2 }}", bold=True, align=center)
        _cell_para(cell, "{{ " + c + ".anchor_top }}", size=Pt(6))
        for _ in range(4):
            _cell_para(cell, "")
        _cell_para(cell, "{{ " + c + ".anchor_name }}{{ " + c + ".name }}", bold=True, align=center)
        _cell_para(cell, "")
    _cant_split(table.rows[1])
    _cell_para(table.rows[2].cells[0], "{%tr endfor %}")


def _points_table(doc: DocxDocument, head: list[str], loop: str, cells: list[str], total: bool) -> None:
    """Header row, a docxtpl row loop over one body row, and an optional total row."""
    table = doc.add_table(rows=5 if total else 4, cols=len(head))
    table.style = "Table Grid"
    _grid(table, [Mm(15), Mm(125), Mm(25)])
    header, loop_start, body, loop_end = table.rows[:4]
    for cell, text in zip(header.cells, head, strict=True):
        _cell_para(cell, text, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _cell_para(loop_start.cells[0], "{%tr " + loop + " %}")
    for cell, text in zip(body.cells, cells, strict=True):
        align = WD_ALIGN_PARAGRAPH.JUSTIFY if ".text" in text else WD_ALIGN_PARAGRAPH.CENTER
        _cell_para(cell, text, align=align)
    _cell_para(loop_end.cells[0], "{%tr endfor %}")
    if total:
        _cell_para(table.rows[4].cells[1], "Tổng cộng", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
        _cell_para(table.rows[4].cells[2], "{{ total_points }}", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    for row in table.rows:
        _cant_split(row)
    # the column headings repeat at the top of each page the table runs onto
    header._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))


def build_covenant() -> DocxDocument:
    doc = _new_document()
    _page_numbers(doc)
    _header(doc)
    _para(doc, "")
    _para(doc, "BẢN GIAO ƯỚC THI ĐUA", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, size=Pt(14))
    _para(doc, "{{ cluster_name }} {{ sector }} năm {{ year }}", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, "Căn cứ Luật Thi đua, khen thưởng ngày 15 tháng 6 năm 2022;", italic=True, indent=True)
    _para(doc, "{%p if guidance %}")
    _para(doc, "Căn cứ {{ guidance }};", italic=True, indent=True)
    _para(doc, "{%p endif %}")
    _para(doc, "{{ intro }}", indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _para(doc, "I. MỤC TIÊU", bold=True, keep_next=True)
    _loop(doc, "for goal in goals", "{{ goal }}")
    _para(doc, "Phương châm: “{{ motto }}”.", bold=True, indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _para(doc, "II. NỘI DUNG VÀ THANG ĐIỂM THI ĐUA", bold=True, keep_next=True)
    _points_table(
        doc,
        ["STT", "Nội dung tiêu chí", "Điểm chuẩn"],
        "for r in criteria_rows",
        ["{{r r.no }}", "{{r r.text }}", "{{r r.points }}"],
        total=True,
    )
    _para(doc, "")
    _para(doc, "III. ĐIỂM THƯỞNG", bold=True, keep_next=True)
    _points_table(
        doc,
        ["STT", "Nội dung", "Điểm cộng tối đa"],
        "for r in bonus_rows",
        ["{{ r.no }}", "{{ r.text }}", "{{ r.points }}"],
        total=False,
    )
    _para(doc, "")
    _para(doc, "IV. ĐIỂM TRỪ", bold=True, keep_next=True)
    _points_table(
        doc,
        ["STT", "Nội dung", "Điểm trừ"],
        "for r in penalty_rows",
        ["{{ r.no }}", "{{ r.text }}", "{{ r.points }}"],
        total=False,
    )
    _para(doc, "")
    _para(doc, "V. CAM KẾT", bold=True, keep_next=True)
    _loop(doc, "for line in commitments", "{{ line }}")
    # the signature blocks are never alone on a page: the closing paragraph and the heading keep with them
    _para(doc, "{{ closing }}", indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY, keep_next=True)
    _para(doc, "ĐẠI DIỆN CÁC ĐƠN VỊ KÝ KẾT", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, keep_next=True)
    _signature_grid(doc)
    return doc


def build_minutes() -> DocxDocument:
    doc = _new_document()
    _page_numbers(doc)
    _header(doc)
    _para(doc, "")
    _para(doc, "BIÊN BẢN HỘI NGHỊ", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, size=Pt(14))
    _para(doc, "{{ minutes_subject }}", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, "I. THỜI GIAN, ĐỊA ĐIỂM", bold=True, keep_next=True)
    _para(doc, "{{ time_place }}", indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _para(doc, "{%p if bridge_points %}")
    _para(doc, "Các điểm cầu trực tuyến:", indent=True, keep_next=True)
    _loop(doc, "for b in bridge_points", "- {{ b }};")
    _para(doc, "{%p endif %}")
    _para(doc, "II. THÀNH PHẦN", bold=True, keep_next=True)
    _para(doc, "Chủ trì: {{ chair_line }}.", indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _para(doc, "Thư ký: {{ secretary_line }}.", indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _para(doc, "{%p if attendees %}")
    _para(doc, "Đại biểu các đơn vị trong Cụm:", indent=True)
    _loop(doc, "for a in attendees", "- {{ a }};")
    _para(doc, "{%p endif %}")
    _para(doc, "III. NỘI DUNG", bold=True, keep_next=True)
    _para(doc, "1. Chương trình Hội nghị", bold=True, keep_next=True)
    _loop(doc, "for a in agenda", "- {{ a }};")
    _para(doc, "2. Diễn biến Hội nghị", bold=True, keep_next=True)
    _loop(doc, "for p in proceedings", "{{ p }}")
    _para(doc, "{%p if election_line %}")
    _para(doc, "3. Bầu Cụm trưởng, Cụm phó", bold=True, keep_next=True)
    _para(doc, "{{ election_line }}", indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _para(doc, "{%p endif %}")
    _para(doc, "4. Hội nghị thống nhất", bold=True, keep_next=True)
    _loop(doc, "for d in decisions", "- {{ d }}")
    _para(doc, "{{ closing }}", indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY, keep_next=True)
    _para(doc, "", keep_next=True)
    _signature_grid(doc)
    return doc


def main() -> None:
    build_covenant().save(str(HERE / "covenant.docx"))
    build_minutes().save(str(HERE / "minutes.docx"))
    print("wrote", HERE / "covenant.docx", HERE / "minutes.docx")


if __name__ == "__main__":
    main()
