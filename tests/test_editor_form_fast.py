"""The round editor's form, made from the round model (workflow/editor_form.py), rendered by the web app in this
process (fast layer): every path of a round file has its input, every key the model knows is offered (optional ones
too), words of a fixed list are chosen in a list (in Vietnamese), units are chosen among the round's units, every
list can grow from nothing, and what the model does not know is shown as it is, never dropped."""

from __future__ import annotations

import copy
import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import EXAMPLES
from workflow.context import Ctx
from workflow.drafts import _leaves, draft_from_yaml, skeleton
from workflow.editor_form import build
from workflow.model import Round


@pytest.fixture
def office(office_api: tuple[Ctx, TestClient, dict[str, str]]) -> tuple[Ctx, TestClient, dict[str, str]]:
    return office_api


def _page(web: TestClient, csrf: dict[str, str], data: dict[str, Any]) -> str:
    made = web.post("/api/drafts", json=data, headers=csrf)
    assert made.status_code == 201, made.text
    page = web.get(f"/drafts/{made.json()['id']}", headers={"accept": "text/html"})
    assert page.status_code == 200
    return page.text


def _paths(text: str) -> set[str]:
    return set(re.findall(r'data-path="([^"]*)"', text))


def _model_paths(model: type[Any], prefix: str = "") -> set[str]:
    """Every key path the model knows, lists entered at their first entry (".0")."""
    from typing import Annotated, get_args, get_origin

    from pydantic import BaseModel

    def models(kind: Any, path: str) -> set[str]:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return _model_paths(kind, path)
        if get_origin(kind) is list:
            return models(get_args(kind)[0], f"{path}.0")
        if get_origin(kind) is Annotated:
            return models(get_args(kind)[0], path)
        return set().union(*(models(arg, path) for arg in get_args(kind)))

    out = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        out |= {path} | models(field.annotation, path)
    return out


@pytest.mark.parametrize("example", ["cum-4-2024.yaml", "cum-11-2020.yaml"])
def test_every_path_of_a_round_file_has_its_input(office: tuple[Ctx, TestClient, dict[str, str]], example: str) -> None:
    _ctx, web, csrf = office
    data = draft_from_yaml((EXAMPLES / example).read_text(encoding="utf-8"))
    shown = _paths(_page(web, csrf, data))
    missing = [p for p in _leaves(data) if p not in shown and p != "documents.covenant.signers"]
    assert missing == []


def test_every_key_the_model_knows_is_offered(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    """A round typed from nothing: optional keys (the guidance, a pin, a seal image, the templates, the trust's
    roots) have their inputs although the skeleton does not hold them."""
    _ctx, web, csrf = office
    shown = _paths(_page(web, csrf, skeleton(2025)))
    # the trust's own roots are one of two forms of `signing.trust`; their list has no entry until one is added
    expected = {p for p in _model_paths(Round) if not p.startswith("signing.trust.")} | {"signing.trust.roots"}
    missing = sorted(p for p in expected if p not in shown)
    assert missing == [], missing
    assert {"cluster.guidance.number", "units.0.seal_image", "units.0.signer.certificate.serial_number"} <= shown


def test_choices_units_and_lists_that_grow_from_nothing(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    _ctx, web, csrf = office
    data = draft_from_yaml((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    data["covenant"]["bonus"] = []
    text = _page(web, csrf, data)
    # a role is chosen among the allowed words, in Vietnamese
    role = re.search(r'<select id="f-units-1-role"[^>]*>(.*?)</select>', text, re.S)
    assert role and '<option value="vice_chair" selected>Phó Trưởng cụm</option>' in role.group(1)
    # the conference's secretary is one of the round's units
    unit = re.search(r'<select id="f-conference-secretary-unit"[^>]*data-type="unit"[^>]*>(.*?)</select>', text, re.S)
    assert unit and 'value="phu-tho" selected' in unit.group(1) and 'value="vinh-phuc"' in unit.group(1)
    # an empty list still has the blank entry "Thêm" copies, with every input of an entry
    bonus = re.search(r'data-path="covenant.bonus".*?<template>(.*?)</template>', text, re.S)
    assert bonus and {"covenant.bonus.__new__.text", "covenant.bonus.__new__.max_points"} <= _paths(bonus.group(1))
    # dates and times in their own inputs
    assert re.search(r'type="date" data-path="conference.date" data-type="date" value="2024-03-20"', text)
    assert re.search(r'type="time" data-path="conference.start" data-type="time" value="08:00"', text)


def test_what_the_model_does_not_know_is_shown_not_dropped(office: tuple[Ctx, TestClient, dict[str, str]]) -> None:
    _ctx, web, csrf = office
    data = draft_from_yaml((EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8"))
    wrong = copy.deepcopy(data)
    wrong["conference"]["titel"] = "Hội nghị ký kết"  # a typo of a key
    wrong["conference"]["date"] = "20/3/2024"  # not a date the date input can hold
    wrong["covenant"]["criteria"][0]["points"] = "hai mươi"
    wrong["cluster"]["guidance"] = "09/HD-VKSTC"  # a text where a section is expected
    text = html.unescape(_page(web, csrf, wrong))
    assert re.search(r'data-path="conference.titel" data-type="raw" value="Hội nghị ký kết"', text)
    assert "Xóa mục “titel”" in text
    assert re.search(r'type="text" data-path="conference.date" data-type="date" value="20/3/2024"', text)
    assert re.search(r'type="text" data-path="covenant.criteria.0.points" data-type="number" value="hai mươi"', text)
    assert re.search(r'data-path="cluster.guidance" data-type="raw" value="09/HD-VKSTC"', text)


def test_the_form_tree_follows_the_model_not_the_labels() -> None:
    """A key of the model with no Vietnamese label still gets its input (named by its key), so the model stays the
    one source of what a round file holds."""
    form = build(skeleton(2025))
    keys = {c["key"] for c in form["children"]}
    assert keys == set(Round.model_fields)
