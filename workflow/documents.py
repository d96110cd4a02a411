"""The two documents of a round: who signs them (slots) and their DOCX rendering with docxtpl.

Every signature block in a template carries two anchors (`anchor_top`, `anchor_name`); after rendering they
become Word bookmarks `covsigNNNa` / `covsigNNNb`, which LibreOffice exports as PDF named destinations (see
workflow.convert). signing.fields reads them to put each field exactly over the blank space of its block.
"""

from __future__ import annotations

import copy
import io
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docxtpl import DocxTemplate, RichText
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from signing import fields
from templates import TEMPLATES_DIR
from workflow.errors import DocumentError
from workflow.model import Round, Unit

KINDS = ("covenant", "minutes")
TITLES = {"covenant": "Bản giao ước thi đua", "minutes": "Biên bản hội nghị"}
ANCHOR = re.compile(r"\[\[(covsig\d{3}[ab]|covnum[ab])\]\]")


@dataclass(frozen=True)
class SlotSpec:
    kind: str
    position: int
    field_name: str
    unit_id: str
    role: str  # unit | chair | secretary
    unit_name: str
    signer_name: str
    signer_title: str
    on_behalf_of: str | None
    pin_sha256: str | None
    pin_identity: str | None = None
    pin_cn: str | None = None
    # the slot's place: by default its own signature block; a seal shares its leader's block (SEAL_OF + that
    # block's anchor), the issuing signature sits in the number line (NUMBER_ANCHOR)
    place: str | None = None
    email: str | None = None  # an organisation's slot: its clerk's (a person's: the unit's signer's, or none)

    @property
    def anchor(self) -> str:
        return self.place or anchor_name(self.position)

    @property
    def organisation(self) -> bool:
        """An organisation's signature (a clerk's, with the unit's certificate): a seal or the issuing one."""
        return self.role in ORGANISATION_ROLES


# Slot roles: a person signs (a unit's leader; the conference's chair and secretary), or an organisation, by its
# clerk: the seal over its leader's signature, the chair unit's issuing signature over the number line.
PERSON_ROLES = ("unit", "chair", "secretary")
ORGANISATION_ROLES = ("seal", "issue")
SEAL_OF = fields.SEAL_OF  # a seal's place: "seal:covsig003" lies over the left third of block covsig003
NUMBER_ANCHOR = fields.NUMBER_ANCHOR  # the number line's blank, between bookmarks covnuma and covnumb
ISSUE_FIELD = "issue"


def anchor_name(position: int) -> str:
    """The bookmark / named destination of the signature block at `position` (+ "a" top, "b" name line)."""
    return f"covsig{position:03d}"


def _pin(unit: Unit) -> str | None:
    return unit.signer.certificate.sha256.lower() if unit.signer.certificate.sha256 else None


def _organisation_pin(unit: Unit) -> tuple[str | None, str | None, str | None]:
    """The organisation's certificate: the clerk's pin, or else one named (CN) as the unit."""
    assert unit.clerk is not None
    pin = unit.clerk.certificate
    stated = pin.sha256 or pin.serial_number or pin.subject_cn
    return (
        pin.sha256.lower() if pin.sha256 else None,
        pin.serial_number,
        pin.subject_cn if stated else unit.name,
    )


def _organisation_slot(kind: str, position: int, role: str, field: str, unit: Unit, place: str) -> SlotSpec:
    assert unit.clerk is not None
    sha, identity, cn = _organisation_pin(unit)
    return SlotSpec(
        kind,
        position,
        field,
        unit.id,
        role,
        unit.name,
        unit.clerk.name,
        CLERK_TITLE,
        None,
        sha,
        identity,
        cn,
        place,
        unit.clerk.email,
    )


CLERK_TITLE = "Văn thư"


def slot_specs(r: Round) -> dict[str, list[SlotSpec]]:
    """Who signs which document, in the order of the signature blocks; then the seals (each after its leader's
    signature), then the issuing signature (after every other)."""
    specs = _person_specs(r)
    if r.signing.seals:
        leaders = list(specs["covenant"])
        for spec in leaders:
            unit = r.unit(spec.unit_id)
            specs["covenant"].append(
                _organisation_slot(
                    "covenant", len(specs["covenant"]), "seal", f"seal-{unit.id}", unit, SEAL_OF + spec.anchor
                )
            )
    if r.issues:
        for kind in KINDS:
            specs[kind].append(
                _organisation_slot(kind, len(specs[kind]), "issue", ISSUE_FIELD, r.chair_unit, NUMBER_ANCHOR)
            )
    return specs


def _person_specs(r: Round) -> dict[str, list[SlotSpec]]:
    covenant_ids = [u.id for u in r.units] if r.documents.covenant.signers == "all" else r.documents.covenant.signers
    # The chair unit signs first: its block opens the grid, as on paper.
    covenant_ids = sorted(covenant_ids, key=lambda uid: (r.unit(uid).role != "chair", covenant_ids.index(uid)))
    covenant = [
        SlotSpec(
            "covenant",
            i,
            f"unit-{u.id}",
            u.id,
            "unit",
            u.name,
            u.signer.name,
            u.signer.title,
            u.signer.on_behalf_of,
            _pin(u),
            u.signer.certificate.serial_number,
            u.signer.certificate.subject_cn,
        )
        for i, u in enumerate(r.unit(uid) for uid in covenant_ids)
    ]
    minutes = []
    for i, role in enumerate(r.documents.minutes.signers):
        person = r.conference.chair if role == "chair" else r.conference.secretary
        unit = r.unit(person.unit)
        minutes.append(
            SlotSpec(
                "minutes",
                i,
                f"{role}-{unit.id}",
                unit.id,
                role,
                unit.name,
                person.name,
                person.title,
                None,
                _pin(unit) if unit.signer.name == person.name else None,
                unit.signer.certificate.serial_number if unit.signer.name == person.name else None,
                unit.signer.certificate.subject_cn if unit.signer.name == person.name else None,
            )
        )
    return {"covenant": covenant, "minutes": minutes}


def vn_date(d: Any, place: str | None = None) -> str:
    """Decree 30: days below 10 and months 1 and 2 take a leading zero ("ngày 05 tháng 02 năm 2024")."""
    day = f"{d.day:02d}" if d.day < 10 else str(d.day)
    month = f"{d.month:02d}" if d.month < 3 else str(d.month)
    text = f"ngày {day} tháng {month} năm {d.year}"
    return f"{place}, {text}" if place else text


def short_date(d: Any) -> str:
    return f"{d.day:02d}/{d.month}/{d.year}"


def fmt_points(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.replace(".", ",")


def clock(hhmm: str) -> str:
    hours, minutes = hhmm.split(":")
    return f"{hours} giờ {minutes} phút"


def _count(n: int) -> str:
    return f"{n:02d}"


def _block(spec: SlotSpec, heading: str) -> dict[str, str]:
    if spec.on_behalf_of:
        line1, line2 = f"KT. {spec.on_behalf_of.upper()}", spec.signer_title.upper()
    else:
        line1, line2 = spec.signer_title.upper(), ""
    return {
        "heading": heading,
        "line1": line1,
        "line2": line2,
        "name": spec.signer_name,
        "anchor_top": f"[[{spec.anchor}a]]",
        "anchor_name": f"[[{spec.anchor}b]]",
    }


EMPTY_BLOCK = {"heading": "", "line1": "", "line2": "", "name": "", "anchor_top": "", "anchor_name": ""}


def _pairs(blocks: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    rows = [blocks[i : i + 2] for i in range(0, len(blocks), 2)]
    if rows and len(rows[-1]) == 1:
        rows[-1].append(EMPTY_BLOCK)
    return rows


# The number (số ký hiệu) line, left blank for the issuing clerk: the covenant is a "giao ước" (GƯ), the minutes a
# "biên bản" (BB), both of the cluster (CTĐ: Cụm thi đua).
NUMBER_LINES = {"covenant": "Số:        /GƯ-CTĐ", "minutes": "Số:        /BB-CTĐ"}


def number_text(number: int) -> str:
    """The number as the issuing signature writes it in the number line's blank: two digits at least ("01")."""
    return f"{number:02d}"


def number_symbol(kind: str, number: int) -> str:
    """The document's number and symbol (số, ký hiệu) as issued: "01/GƯ-CTĐ"."""
    return f"{number_text(number)}/{NUMBER_LINES[kind].rsplit('/', 1)[1]}"


def _common(r: Round) -> dict[str, Any]:
    chair: Unit = r.chair_unit
    g = r.cluster.guidance
    return {
        "issuer_upper": f"{r.cluster.name} {r.cluster.sector}".upper(),
        "issuer_unit_upper": chair.name.upper(),
        "cluster_name": r.cluster.name,
        "sector": r.cluster.sector,
        "year": r.cluster.year,
        "number_line": number_line(r, "covenant"),
        "place_date": vn_date(r.conference.date, chair.place),
        "guidance": f"Hướng dẫn số {g.number} ngày {short_date(g.date)} của {g.issuer}" if g else "",
    }


def _blocks_of(r: Round, kind: str) -> list[SlotSpec]:
    """The slots that have a signature block of their own (people; an organisation signs over a block or the
    number line)."""
    return [s for s in slot_specs(r)[kind] if s.role in PERSON_ROLES]


def number_line(r: Round, kind: str) -> str:
    """The number line; when the documents are issued, its blank lies between two anchors for the issuing
    signature (the number is drawn by that signature's appearance)."""
    if not r.issues:
        return NUMBER_LINES[kind]
    head, tail = NUMBER_LINES[kind].split(" ", 1)
    blank = tail[: len(tail) - len(tail.lstrip(" "))]
    return f"{head} [[{NUMBER_ANCHOR}a]]{blank}[[{NUMBER_ANCHOR}b]]{tail.lstrip(' ')}"


def covenant_context(r: Round) -> dict[str, Any]:
    specs = _blocks_of(r, "covenant")
    criteria_rows: list[dict[str, Any]] = []
    for gi, group in enumerate(r.covenant.criteria, start=1):
        criteria_rows.append(
            {
                "no": RichText(str(gi), bold=True),
                "text": RichText(group.title, bold=True),
                "points": RichText(fmt_points(group.points), bold=True),
            }
        )
        for ii, item in enumerate(group.items, start=1):
            criteria_rows.append(
                {"no": RichText(f"{gi}.{ii}"), "text": RichText(item.text), "points": RichText(fmt_points(item.points))}
            )
    names = ", ".join(u.name for u in r.units)
    return {
        **_common(r),
        "intro": (
            f"Các đơn vị thành viên {r.cluster.name} {r.cluster.sector} gồm {_count(len(r.units))} đơn vị: {names} "
            f"thống nhất ký kết giao ước thi đua năm {r.cluster.year} với những nội dung sau:"
        ),
        "goals": r.covenant.goals,
        "motto": r.covenant.motto,
        "criteria_rows": criteria_rows,
        "total_points": fmt_points(sum((g.points for g in r.covenant.criteria), Decimal(0))),
        "bonus_rows": [
            {"no": i, "text": b.text, "points": fmt_points(b.max_points)} for i, b in enumerate(r.covenant.bonus, 1)
        ],
        "penalty_rows": [
            {"no": i, "text": p.text, "points": fmt_points(p.points)} for i, p in enumerate(r.covenant.penalty, 1)
        ],
        "commitments": r.covenant.commitments,
        "closing": (
            "Bản giao ước này được lập thành văn bản điện tử, có chữ ký số của Thủ trưởng (hoặc người được ủy "
            "quyền) các đơn vị thành viên và có hiệu lực kể từ ngày ký."
        ),
        "sig_rows": _pairs([_block(s, s.unit_name.upper()) for s in specs]),
    }


def minutes_context(r: Round) -> dict[str, Any]:
    conf = r.conference
    specs = _blocks_of(r, "minutes")

    def person(p: Any) -> str:
        return f"Đồng chí {p.name}, {p.title} {r.unit(p.unit).name}"

    where = f"tại {conf.place}"
    if conf.online:
        where = f"theo hình thức trực tuyến, điểm cầu chính {where}, kết nối tới điểm cầu của các đơn vị trong Cụm"
    elections = ""
    if conf.elections:
        elections = f"Hội nghị nhất trí bầu {r.unit(conf.elections.chair).name} là đơn vị Cụm trưởng"
        if conf.elections.vice_chair:
            elections += f" và {r.unit(conf.elections.vice_chair).name} là đơn vị Cụm phó"
        elections += f" {r.cluster.name} năm {r.cluster.year}."
    headings = {"chair": "CHỦ TRÌ", "secretary": "THƯ KÝ"}
    # Decree 30 places the secretary left and the chair right.
    ordered = sorted(specs, key=lambda s: s.role != "secretary")
    blocks = [{**_block(s, headings[s.role]), "line1": "", "line2": ""} for s in ordered]
    return {
        **_common(r),
        "number_line": number_line(r, "minutes"),
        "minutes_subject": f"Ký kết giao ước thi đua năm {r.cluster.year} {r.cluster.name} {r.cluster.sector}",
        "bridge_points": [f"{u.name} ({u.place})" for u in r.units] if conf.online else [],
        "time_place": (
            f"Vào hồi {clock(conf.start)}, {vn_date(conf.date)}, {where}, {r.cluster.name} {r.cluster.sector} "
            f"tổ chức Hội nghị ký kết giao ước thi đua năm {r.cluster.year}."
        ),
        "chair_line": person(conf.chair),
        "secretary_line": person(conf.secretary),
        "attendees": [person(a) for a in conf.attendees],
        "agenda": conf.agenda,
        "proceedings": conf.proceedings,
        "election_line": elections,
        "decisions": conf.decisions,
        "closing": (
            f"Hội nghị kết thúc vào hồi {clock(conf.end)} cùng ngày. Biên bản đã được đọc lại cho toàn thể "
            "Hội nghị nghe và nhất trí thông qua."
        ),
        "sig_rows": _pairs(blocks),
    }


CONTEXTS = {"covenant": covenant_context, "minutes": minutes_context}


def template_path(kind: str, template_dir: Path | None = None) -> Path:
    return (template_dir or TEMPLATES_DIR) / f"{kind}.docx"


DOCUMENT_FONT = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")


@lru_cache(maxsize=1)
def _printable() -> frozenset[int]:
    """Code points the documents' font can draw (Liberation Serif stands in for Times New Roman)."""
    from fontTools.ttLib import TTFont

    if not DOCUMENT_FONT.exists():
        raise DocumentError(f"the document font {DOCUMENT_FONT} is missing: install fonts-liberation2")
    cmap = TTFont(str(DOCUMENT_FONT), lazy=True).getBestCmap()
    return frozenset(cmap) | {0x0A, 0x0D, 0x09}


def unprintable(text: str) -> list[str]:
    """Characters of `text` that the document font has no glyph for (emoji, most non-Latin scripts)."""
    printable = _printable()
    return sorted({c for c in text if ord(c) not in printable})


def _anchors_to_bookmarks(tpl: DocxTemplate) -> dict[str, int]:
    """Replace each [[covsigNNNx]] / [[covnumx]] token by an empty Word bookmark of that name, exactly where the
    token stood (a run holding text and tokens is split into runs of the same formatting around the bookmarks).
    Returns how many of each name were placed."""
    count: dict[str, int] = {}
    body = tpl.docx.element.body
    for text in list(body.iter(qn("w:t"))):
        parts = ANCHOR.split(text.text or "")
        if len(parts) == 1:
            continue
        run = text.getparent()
        for i, part in enumerate(parts):
            if i % 2:
                count[part] = count.get(part, 0) + 1
                number = str(9000 + sum(count.values()))
                start = OxmlElement("w:bookmarkStart")
                start.set(qn("w:id"), number)
                start.set(qn("w:name"), part)
                end = OxmlElement("w:bookmarkEnd")
                end.set(qn("w:id"), number)
                run.addprevious(start)
                run.addprevious(end)
            elif part:
                piece = copy.deepcopy(run)
                for child in list(piece):
                    if child.tag != qn("w:rPr"):
                        piece.remove(child)
                t = OxmlElement("w:t")
                t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
                t.text = part
                piece.append(t)
                run.addprevious(piece)
        text.text = ""
    return count


# A template is data, not code: rendered in Jinja's immutable sandbox (no attribute starting with "_", no
# mutation of the context, bounded range()), with none of the globals a payload looks for (lipsum's and
# cycler's __globals__ lead to os).
MAX_DOCX_UNPACKED = 64 * 1024 * 1024  # a template's parts, uncompressed: Word documents are far below this
MAX_DOCX_PART = 16 * 1024 * 1024  # one part (document.xml is parsed whole by lxml)


def template_environment() -> jinja2.Environment:
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    for name in ("lipsum", "cycler", "joiner", "namespace"):
        env.globals.pop(name, None)
    return env


def _check_docx_size(source: Path | io.BytesIO, path: Path) -> None:
    """A zip whose parts unpack to more than a Word document ever holds is refused before anything is parsed."""
    with zipfile.ZipFile(source) as archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        largest = max((info.file_size for info in infos), default=0)
    if isinstance(source, io.BytesIO):
        source.seek(0)
    if total > MAX_DOCX_UNPACKED or largest > MAX_DOCX_PART:
        raise DocumentError(
            f"template {path}: unpacks to {total // (1024 * 1024)} MiB (a part of {largest // (1024 * 1024)} MiB); "
            f"at most {MAX_DOCX_UNPACKED // (1024 * 1024)} MiB in all and {MAX_DOCX_PART // (1024 * 1024)} MiB per part"
        )


def render_docx(r: Round, kind: str, template: bytes | Path | None = None) -> bytes:
    """Render one document; `template` is the DOCX (bytes or path), by default templates/<kind>.docx."""
    path = template if isinstance(template, Path) else template_path(kind)
    if template is None or isinstance(template, Path):
        if not path.is_file():
            raise DocumentError(f"template {path}: file not found")
        source: Path | io.BytesIO = path
    else:
        path = Path(f"{kind}.docx (the round's own)")
        source = io.BytesIO(template)
    try:
        _check_docx_size(source, path)
        tpl = DocxTemplate(source)
        tpl.render(CONTEXTS[kind](r), jinja_env=template_environment(), autoescape=True)
    except SecurityError as exc:
        raise DocumentError(f"template {path}: refused, it reaches for Python internals ({exc})") from None
    except jinja2.UndefinedError as exc:
        if "unsafe" in (exc.message or ""):
            raise DocumentError(f"template {path}: refused, it reaches for Python internals ({exc.message})") from None
        raise DocumentError(f"template {path}: uses a variable the round does not have: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise DocumentError(f"template {path}: Jinja syntax error: {exc.message}") from None
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:  # a damaged .docx (not a zip, missing parts)
        raise DocumentError(f"template {path}: cannot be read as a DOCX template: {exc}") from None
    expected = 2 * len(_blocks_of(r, kind))
    placed = _anchors_to_bookmarks(tpl)
    found = sum(n for name, n in placed.items() if name.startswith("covsig"))
    if found != expected:
        raise DocumentError(
            f"template {path}: {found} signature anchors for {expected // 2} signers "
            "(each signature block needs {{ c.anchor_top }} and {{ c.anchor_name }})"
        )
    if r.issues and (placed.get(NUMBER_ANCHOR + "a") != 1 or placed.get(NUMBER_ANCHOR + "b") != 1):
        raise DocumentError(
            f"template {path}: the documents are issued (signing.issue) but the template does not show "
            "{{ number_line }} exactly once: the issuing signature has no place for the number"
        )
    tpl.docx.core_properties.title = TITLES[kind]
    tpl.docx.core_properties.subject = f"{r.cluster.name} {r.cluster.sector} năm {r.cluster.year}"
    tpl.docx.core_properties.author = r.chair_unit.name
    tpl.docx.core_properties.language = "vi-VN"
    out = io.BytesIO()
    tpl.save(out)
    return out.getvalue()
