"""The round editor's form, made from the round model: every key the round file may hold is offered (optional ones
too), each with the input its type asks for (a date, a time, a number, a choice among the allowed words, a unit of
the round), and lists of any kind can grow from nothing.

The form is a tree of nodes built from `Round.model_json_schema()` and the draft's data, so a key added to the
model appears in the editor without touching it. What the draft holds that the model does not know (a mistyped
key, a value of the wrong type) is shown as it is, in a raw input beside its problem: the editor never drops what
it cannot place.

Each node is a plain dict the Jinja template renders and `static/editor.js` reads back:
- `object`: `children` in the model's order, then the draft's unknown keys;
- `array`: `items`, and `template`: a blank item that "Thêm" copies;
- `choice`: one of several forms of a value (`signers: all` or a list of units; `trust: demo` or roots of one's
  own): `options`, each a constant or a node, and `selected`;
- `value`: one input (`type`: text, textarea, number, integer, date, time, bool, select, unit, const);
- `raw`: a value shown as JSON text (a key the model does not know, or data of the wrong shape).
A node is `optional` when the model has a default: left empty, or at its default where the draft did not have it,
the key is left out of the round file (`present` says whether the draft had it).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel

from workflow.editor_labels import hint, item_label, label, option_label
from workflow.model import Round

NEW = "__new__"  # the path of a template's blank item, renumbered when it is added
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}$")

# Inputs that name a unit of the round (offered as a choice among the units typed so far).
_UNIT_PATHS = (
    re.compile(r"^conference\.(chair|secretary)\.unit$"),
    re.compile(r"^conference\.attendees\.[^.]+\.unit$"),
    re.compile(r"^conference\.elections\.(chair|vice_chair)$"),
    re.compile(r"^documents\.covenant\.signers\.[^.]+$"),
)
# Free texts long enough for a text area: list entries of text, and the items' texts.
_LONG_KEYS = {"text", "motto"}


@cache
def _schema() -> dict[str, Any]:
    return Round.model_json_schema()


@cache
def _models() -> dict[str, type[BaseModel]]:
    """The round model's classes by their schema title (for the defaults JSON schema leaves out: a list or a
    section made by a default factory)."""
    found: dict[str, type[BaseModel]] = {}

    def visit(kind: object) -> None:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if kind.__name__ in found:
                return
            found[kind.__name__] = kind
            for field in kind.model_fields.values():
                visit(field.annotation)
        for arg in get_args(kind):
            visit(arg)

    visit(Round)
    return found


def _defaults(schema: dict[str, Any]) -> dict[str, str]:
    """Each optional key's default as JSON text, as the editor's script writes it (JSON.stringify)."""
    model = _models().get(schema.get("title", ""))
    if model is None:
        return {}
    out = {}
    for name, field in model.model_fields.items():
        if field.is_required():
            continue
        value = field.get_default(call_default_factory=True)
        plain = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        out[name] = json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
    return out


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return _resolve(_schema()["$defs"][ref.rsplit("/", 1)[1]])
    return schema


def _alternatives(schema: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The forms a value may take, without null, and whether null is one of them."""
    if "anyOf" not in schema:
        return [_resolve(schema)], False
    alts = [_resolve(a) for a in schema["anyOf"]]
    nullable = any(a.get("type") == "null" for a in alts)
    return [a for a in alts if a.get("type") != "null"], nullable


def _shape(schema: dict[str, Any]) -> str:
    """object, array, const, enum, bool, integer, number, date, time, text (a value of one form)."""
    if "const" in schema:
        return "const"
    if "enum" in schema:
        return "enum"
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return "object"
    if kind == "array":
        return "array"
    if kind == "boolean":
        return "bool"
    if kind == "integer":
        return "integer"
    if kind == "number":
        return "number"
    if schema.get("format") == "date":
        return "date"
    return "text"


def _single(schema: dict[str, Any], key: str) -> dict[str, Any] | None:
    """One form for a value of several (Decimal is a number or its text; a deadline a date-time or a duration:
    typed as text), or None when the forms are truly different (a choice)."""
    alts, _ = _alternatives(schema)
    if len(alts) == 1:
        return alts[0]
    shapes = {_shape(a) for a in alts}
    if shapes == {"number", "text"}:
        return next(a for a in alts if _shape(a) == "number")
    if shapes <= {"text"}:
        return {"type": "string"}
    return None


def _fits(shape: str, value: object) -> bool:
    if value is None:
        return True
    if shape == "object":
        return isinstance(value, dict)
    if shape == "array":
        return isinstance(value, list)
    if shape == "bool":
        return isinstance(value, bool)
    if shape in ("integer", "number"):
        return isinstance(value, (int, float, str)) and not isinstance(value, bool)
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def _upload(key: str, path: str) -> str | None:
    """What file an input names, if it names one (an upload beside it keeps the file in the draft)."""
    if key in ("signature_image", "seal_image"):
        return "image"
    if key == "templates" and path == "templates":
        return "template"
    if re.match(r"^signing\.trust\.roots\.[^.]+$", path):
        return "certificate"
    return None


def _is_unit(path: str) -> bool:
    return any(p.match(path) for p in _UNIT_PATHS)


def units_of(data: dict[str, Any]) -> list[dict[str, str]]:
    """The units typed so far (id and short name), offered wherever a unit is named."""
    units = data.get("units")
    out = []
    for unit in units if isinstance(units, list) else []:
        if isinstance(unit, dict) and isinstance(unit.get("id"), str) and unit["id"]:
            out.append({"id": unit["id"], "short_name": str(unit.get("short_name") or "")})
    return out


def build(data: dict[str, Any]) -> dict[str, Any]:
    """The whole form for a draft's data (the root object, path "")."""
    return {"kind": "object", "key": "", "path": "", "children": _children(_schema(), data, "", None)}


def _node(
    schema: dict[str, Any],
    value: object,
    key: str,
    path: str,
    context: str | None,
    *,
    optional: bool,
    present: bool,
    text: str | None = None,
) -> dict[str, Any]:
    text = text if text is not None else label(key, context)
    one = _single(schema, key)
    if one is None:
        return _choice(schema, value, key, path, context, optional=optional, present=present, text=text)
    shape = _shape(one)
    if not _fits(shape, value):
        return _raw(value, key, path, text, optional=optional)
    base: dict[str, Any] = {
        "key": key,
        "path": path,
        "label": text,
        "optional": optional,
        "present": present,
        "hint": hint(key, context),
    }
    if shape == "object":
        inner = context if key.isdigit() or key == NEW else key  # an entry's keys speak of its list
        return {**base, "kind": "object", "children": _children(one, value, path, inner)}
    if shape == "array":
        return _array(one, value, key, path, base)
    return {**base, **_value(one, shape, value, key, path)}


def _children(schema: dict[str, Any], value: object, path: str, context: str | None) -> list[dict[str, Any]]:
    """An object's nodes: its model's keys in order (with the defaults JSON schema leaves out), then the keys of
    the draft that the model does not know."""
    schema = _resolve(schema)
    data = value if isinstance(value, dict) else {}
    required = set(schema.get("required", ()))
    defaults = _defaults(schema)
    properties = schema.get("properties", {})
    children = []
    for name, sub in properties.items():
        child = _node(
            sub, data.get(name), name, _join(path, name), context, optional=name not in required, present=name in data
        )
        if name in defaults:
            child["default"] = defaults[name]
        children.append(child)
    for name, extra in data.items():  # keys the model does not know: kept, shown with their problem
        if name not in properties:
            children.append(_raw(extra, name, _join(path, name), name, optional=True, removable=True))
    return children


def _array(schema: dict[str, Any], value: object, key: str, path: str, base: dict[str, Any]) -> dict[str, Any]:
    items_schema = schema.get("items", {})
    values = value if isinstance(value, list) else []
    word = item_label(key)
    items = [
        _node(items_schema, v, str(i), _join(path, i), key, optional=False, present=True, text=f"{word} {i + 1}")
        for i, v in enumerate(values)
    ]
    template = _node(items_schema, None, NEW, _join(path, NEW), key, optional=False, present=False, text=f"{word} mới")
    return {**base, "kind": "array", "items": items, "template": template, "item_label": word}


def _value(schema: dict[str, Any], shape: str, value: object, key: str, path: str) -> dict[str, Any]:
    text = "" if value is None else str(value)
    node: dict[str, Any] = {"kind": "value", "value": text}
    if shape == "const":
        return {**node, "type": "const", "const": json.dumps(schema["const"])}
    if shape == "bool":
        # a key the draft leaves out shows its default (signing.issue is on unless said otherwise)
        return {**node, "type": "bool", "checked": bool(schema.get("default", False) if value is None else value)}
    if shape == "enum":
        options = [(v, option_label(key, v, path)) for v in schema["enum"]]
        if text and text not in schema["enum"]:
            options.append((text, f"{text} (không hợp lệ)"))
        return {**node, "type": "select", "options": options, "value": text or str(schema.get("default", ""))}
    if _is_unit(path):
        return {**node, "type": "unit"}
    upload = _upload(key, path)
    if upload:
        return {**node, "type": "text", "input": "text", "upload": upload}
    if shape in ("integer", "number"):
        if text and not re.fullmatch(r"-?\d+(\.\d+)?", text):
            return {**node, "type": shape, "input": "text"}  # shown as typed, with its problem
        return {**node, "type": shape, "input": "number", "step": "1" if shape == "integer" else "any"}
    if shape == "date":
        return {**node, "type": "date", "input": "date" if not text or _DATE.match(text) else "text"}
    if key in ("start", "end") and path.startswith("conference."):
        return {**node, "type": "time", "input": "time" if not text or _TIME.match(text) else "text"}
    in_list = key.isdigit() or key == NEW
    if key in _LONG_KEYS or (in_list and schema.get("maxLength", 0) >= 2000) or len(text) > 70:
        return {**node, "type": "text", "input": "textarea"}
    return {**node, "type": "text", "input": "email" if key == "email" else "text"}


def _choice(
    schema: dict[str, Any],
    value: object,
    key: str,
    path: str,
    context: str | None,
    *,
    optional: bool,
    present: bool,
    text: str,
) -> dict[str, Any]:
    alts, nullable = _alternatives(schema)
    if nullable:  # "not stated" is a choice of its own (the key is then left out)
        alts = [{"const": None}, *alts]
    options: list[dict[str, Any]] = []
    selected: int | None = None
    for i, alt in enumerate(alts):
        shape = _shape(alt)
        if shape == "const":
            words = option_label(key, "null" if alt["const"] is None else alt["const"])
            options.append({"const": json.dumps(alt["const"]), "label": words, "node": None})
            if value == alt["const"]:
                selected = i
        else:
            fits = _fits(shape, value) and value is not None
            node = _node(alt, value if fits else None, key, path, context, optional=False, present=fits, text=text)
            options.append({"const": None, "label": option_label(key, shape), "node": node})
            if fits and selected is None:
                selected = i
    if selected is None:
        if value is not None:
            return _raw(value, key, path, text, optional=optional)
        default = schema.get("default")
        selected = next((i for i, o in enumerate(options) if o["const"] == json.dumps(default)), 0)
    return {
        "kind": "choice",
        "key": key,
        "path": path,
        "label": text,
        "optional": optional,
        "present": present,
        "options": options,
        "selected": selected,
        "hint": hint(key, context),
    }


def _raw(value: object, key: str, path: str, text: str, *, optional: bool, removable: bool = False) -> dict[str, Any]:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return {
        "kind": "raw",
        "key": key,
        "path": path,
        "label": text,
        "optional": optional,
        "present": True,
        "value": shown,
        "removable": removable,
        "hint": "Giá trị này không khớp với mẫu tệp đợt ký: sửa lại, hoặc xóa nếu không cần.",
    }
