"""Load and check a round file; every problem is reported as `FILE:LINE: path.to.field: message`."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from workflow.errors import RoundFileError
from workflow.model import Round

Loc = tuple[str | int, ...]
DRAFT = "<draft>"  # the "file" of a round given as data


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    loc: Loc
    message: str

    @property
    def path(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "(file)"

    @property
    def dotted(self) -> str:
        """The round-file path as the editor's inputs are named: `covenant.criteria.1.items.0.points`."""
        return ".".join(str(part) for part in self.loc)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


def _line_map(node: yaml.Node, loc: Loc, lines: dict[Loc, int], dupes: list[tuple[Loc, int]]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                dupes.append(((*loc, name), key.start_mark.line + 1))
            seen.add(name)
            lines[(*loc, name)] = key.start_mark.line + 1
            _line_map(value, (*loc, name), lines, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, (*loc, index), lines, dupes)


def _line_of(lines: dict[Loc, int], loc: Loc) -> int:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return 1


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


def validation_problems(exc: ValidationError, file: str = DRAFT) -> list[Problem]:
    """A pydantic error as problems named by their paths (a directory entry, a round file as data)."""
    return [Problem(file, 1, _loc_from_pydantic(e["loc"]), _pydantic_message(dict(e))) for e in exc.errors()]


def _pydantic_message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (typo?)"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _loc_from_pydantic(raw: tuple[Any, ...]) -> Loc:
    # Union members add their type name to the location ("datetime", "str", "TrustSpec"): drop them.
    out: list[str | int] = []
    for part in raw:
        if isinstance(part, int):
            out.append(part)
        elif part[:1].isupper() or part in {"datetime", "str", "literal['demo']", "literal['all']", "list[str]"}:
            continue
        elif "[" in part or part in {"function-after", "function-before"}:
            continue
        else:
            out.append(part)
    return tuple(out)


# libyaml when PyYAML was built with it: the same nodes and line marks, a tenth of the time of the pure-Python parser
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_ROUND_FILE = 1024 * 1024  # bytes: the 60-unit synthetic round is ~40 KB


class _AliasRefused(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _refuse_aliases(text: str) -> None:
    """Anchors and aliases are refused before anything is built: a round file never needs them, and an 8 KB
    "billion laughs" of nested aliases expands to gigabytes. The event scan is linear in the text."""
    if "&" not in text and "*" not in text:
        return
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise _AliasRefused(
                    event.start_mark.line + 1,
                    "YAML anchors and aliases (&name, *name) are not accepted in a round file",
                )
    finally:
        loader.dispose()


def _compose(text: str) -> tuple[yaml.Node | None, Any]:
    """One parse: the node tree (for line numbers) and the data built from it."""
    _refuse_aliases(text)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def _read(text: str, file: str) -> tuple[dict[str, Any], dict[Loc, int], list[Problem]]:
    """A round file's text as data (NFC), the line of each path, and its duplicate keys; RoundFileError when it
    is not a YAML mapping at all."""
    text = unicodedata.normalize("NFC", text.removeprefix("\ufeff"))
    size = len(text.encode("utf-8"))
    if size > MAX_ROUND_FILE:
        raise RoundFileError(
            [Problem(file, 1, (), f"the file is {size} bytes; a round file has at most {MAX_ROUND_FILE}")]
        )
    try:
        root, data = _compose(text)
    except _AliasRefused as exc:
        raise RoundFileError([Problem(file, exc.line, (), str(exc))]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise RoundFileError([Problem(file, line, (), f"malformed YAML: {reason}")]) from None
    if root is None or not isinstance(data, dict):
        raise RoundFileError([Problem(file, 1, (), "the file must be a YAML mapping with version: 1")])
    lines: dict[Loc, int] = {}
    dupes: list[tuple[Loc, int]] = []
    _line_map(root, (), lines, dupes)
    problems = [Problem(file, line, loc, "duplicate key") for loc, line in dupes]
    return data, lines, problems


def round_data_from_yaml(text: str, file: str = "<round>") -> dict[str, Any]:
    """A round file's YAML as data, read as the round check reads it (no aliases; a duplicate key is a problem)."""
    data, _lines, problems = _read(text, file)
    if problems:
        raise RoundFileError(problems)
    return data


def parse_round(
    text: str, file: str = "<round>", now: dt.datetime | None = None, *, check_deadline: bool = True
) -> Round:
    """Parse, NFC-normalise and check a round file's text; raise RoundFileError with every problem.

    `check_deadline=False` reads a round already launched (stored, or archived years ago): its deadline may have
    passed, and the paths it names were read at its launch (rounds launched before paths were confined to the
    round file's folder may name others), so neither is judged again."""
    data, lines, problems = _read(text, file)
    return _checked(data, file, lines, problems, now, check_deadline)


def check_round_data(
    data: object, now: dt.datetime | None = None, *, check_deadline: bool = True
) -> tuple[Round | None, list[Problem]]:
    """The same checks on a round file given as data (a draft from the editor, JSON): the round, or every
    problem, each named by its path in the round file (`check_deadline=False`: a round of an earlier year)."""
    if not isinstance(data, dict):
        return None, [Problem(DRAFT, 1, (), "a round file is a mapping with version: 1")]
    try:
        return _checked(data, DRAFT, {}, [], now, check_deadline), []
    except RoundFileError as exc:
        return None, exc.problems


def _checked(
    data: dict[str, Any],
    file: str,
    lines: dict[Loc, int],
    problems: list[Problem],
    now: dt.datetime | None,
    check_deadline: bool,
) -> Round:
    try:
        model = Round.model_validate(_nfc(data), context={"stored": not check_deadline})
    except ValidationError as exc:
        for error in exc.errors():
            loc = _loc_from_pydantic(error["loc"])
            problems.append(Problem(file, _line_of(lines, loc), loc, _pydantic_message(dict(error))))
        raise RoundFileError(_dedupe(problems)) from None
    for loc, message in semantic_problems(model, (now or dt.datetime.now(dt.UTC)) if check_deadline else None):
        problems.append(Problem(file, _line_of(lines, loc), loc, message))
    if problems:
        raise RoundFileError(_dedupe(problems))
    return model


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for problem in sorted(problems, key=lambda p: p.line):
        if str(problem) not in seen:
            seen.add(str(problem))
            out.append(problem)
    return out


def load_round(path: Path, now: dt.datetime | None = None) -> Round:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RoundFileError([Problem(str(path), 1, (), f"cannot read the file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RoundFileError([Problem(str(path), line, (), "the file is not UTF-8")]) from None
    return parse_round(text, str(path), now)


def semantic_problems(r: Round, now: dt.datetime | None) -> Iterator[tuple[Loc, str]]:
    """Rules that tie several parts of the file together."""
    ids: dict[str, int] = {}
    for i, unit in enumerate(r.units):
        if unit.id in ids:
            yield ("units", i, "id"), f"duplicate unit id {unit.id!r} (also units[{ids[unit.id]}])"
        else:
            ids[unit.id] = i
    chairs = [i for i, u in enumerate(r.units) if u.role == "chair"]
    if not chairs:
        yield ("units",), "no unit has role: chair (exactly one is needed)"
    for i in chairs[1:]:
        yield ("units", i, "role"), f"a second chair (units[{chairs[0]}] is already the chair)"

    def known(loc: Loc, unit_id: str | None) -> Iterator[tuple[Loc, str]]:
        if unit_id is not None and unit_id not in ids:
            yield loc, f"unknown unit id {unit_id!r}"

    conf = r.conference
    yield from known(("conference", "chair", "unit"), conf.chair.unit)
    yield from known(("conference", "secretary", "unit"), conf.secretary.unit)
    for i, person in enumerate(conf.attendees):
        yield from known(("conference", "attendees", i, "unit"), person.unit)
    if conf.elections:
        yield from known(("conference", "elections", "chair"), conf.elections.chair)
        yield from known(("conference", "elections", "vice_chair"), conf.elections.vice_chair)
    if isinstance(r.documents.covenant.signers, list):
        for i, unit_id in enumerate(r.documents.covenant.signers):
            yield from known(("documents", "covenant", "signers", i), unit_id)

    total = sum((g.points for g in r.covenant.criteria), Decimal(0))
    if total != 100:
        yield ("covenant", "criteria"), f"criteria groups sum to {_fmt(total)} points, not 100"
    for i, group in enumerate(r.covenant.criteria):
        if group.items:
            items = sum((item.points for item in group.items), Decimal(0))
            if items != group.points:
                yield (
                    ("covenant", "criteria", i, "items"),
                    f"items of {group.title!r} sum to {_fmt(items)} points, not the group's {_fmt(group.points)}",
                )
    if r.signing.seals:
        signers = [u.id for u in r.units] if r.documents.covenant.signers == "all" else r.documents.covenant.signers
        for i, unit in enumerate(r.units):
            if unit.id in signers and unit.clerk is None:
                yield (
                    ("units", i, "clerk"),
                    f"signing.seals is on: {unit.name} needs a clerk (văn thư) to apply its organisation signature",
                )
    if now is not None and not isinstance(r.signing.deadline, str) and r.signing.deadline <= now:
        yield ("signing", "deadline"), f"the deadline {r.signing.deadline.isoformat()} is in the past"


def _fmt(points: Decimal) -> str:
    return format(points.normalize(), "f")


def _strings(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


MAX_IMAGE = 2 * 1024 * 1024
MAX_IMAGE_PIXELS = 16 * 1024 * 1024  # a seal scanned at 600 dpi is ~1 M pixels


def round_images(model: Round) -> list[tuple[Loc, str]]:
    """Every signature and seal image the round names, with where it is named."""
    found: list[tuple[Loc, str]] = []
    for i, unit in enumerate(model.units):
        if unit.signer.signature_image:
            found.append((("units", i, "signer", "signature_image"), unit.signer.signature_image))
        if unit.seal_image:
            found.append((("units", i, "seal_image"), unit.seal_image))
    return found


def image_problem(path: Path) -> str | None:
    """Why `path` cannot be a stamp image (None when it can): a PNG up to 2 MiB that Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    try:
        size = path.stat().st_size
    except OSError:
        return f"no image file {path}"
    if size > MAX_IMAGE:
        return f"{path}: {size // 1024} KiB, more than the 2048 KiB an image may have"
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                return f"{path}: a {img.format} image; signature and seal images must be PNG"
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                return (
                    f"{path}: {width}×{height} pixels; an image may have at most {MAX_IMAGE_PIXELS:,} "
                    "(a decompression bomb is refused before it is decoded)"
                )
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"{path}: not a readable PNG image ({exc})"
    return None


class OutsideError(ValueError):
    """A path the round names that resolves outside the round file's folder (a symbolic link out of it)."""


def inside(base: Path, relative: str) -> Path:
    """`relative` (checked by the model: no absolute path, no "..") resolved under `base`; a symbolic link that
    leads out of `base` is refused too."""
    root = base.resolve()
    path = (root / relative).resolve()
    if path != root and not path.is_relative_to(root):
        raise OutsideError(f"{relative}: resolves outside the round file's folder")
    return path


def template_folder(model: Round, base: Path) -> Path | None:
    return inside(base, model.templates) if model.templates else None


def check_round_file(path: Path, now: dt.datetime | None = None) -> Round:
    """Everything `covenant round check` checks: the file, the characters, and a trial rendering of both
    documents with the round's templates (so a template variable the round lacks is found before launch)."""
    from workflow.documents import KINDS, DocumentError, render_docx, template_path, unprintable

    model = load_round(path, now)
    text = path.read_text(encoding="utf-8")
    root, _ = _compose(unicodedata.normalize("NFC", text.removeprefix("\ufeff")))
    lines: dict[Loc, int] = {}
    if root is not None:
        _line_map(root, (), lines, [])
    problems: list[Problem] = []
    file = str(path)
    try:
        for loc, value in _strings(model.model_dump(mode="json", exclude_none=True), ()):
            bad = unprintable(value)
            if bad:
                shown = " ".join(f"{c!r} (U+{ord(c):04X})" for c in bad[:5])
                problems.append(
                    Problem(file, _line_of(lines, loc), loc, f"characters the document font cannot print: {shown}")
                )
    except DocumentError as exc:
        problems.append(Problem(file, 1, (), str(exc)))
    for loc, image in round_images(model):
        try:
            problem = image_problem(inside(path.parent, image))
        except OutsideError as exc:
            problem = str(exc)
        if problem:
            problems.append(Problem(file, _line_of(lines, loc), loc, problem))
    try:
        folder = template_folder(model, path.parent)
    except OutsideError as exc:
        problems.append(Problem(file, _line_of(lines, ("templates",)), ("templates",), str(exc)))
        raise RoundFileError(problems) from None
    if folder is not None and not folder.is_dir():
        problems.append(
            Problem(file, _line_of(lines, ("templates",)), ("templates",), f"no template folder {model.templates}")
        )
    elif not problems:
        for kind in KINDS:
            try:
                render_docx(model, kind, template_path(kind, folder) if folder else None)
            except DocumentError as exc:
                where: Loc = ("templates",) if folder else ()
                problems.append(Problem(file, _line_of(lines, where) if folder else 1, where, str(exc)))
    if problems:
        raise RoundFileError(problems)
    return model
