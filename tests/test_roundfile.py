"""`covenant round check`: the two seed rounds pass; each kind of bad input names its field and line, exits 2."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, cli, copy_example_files
from workflow.stages.check import RoundFileError, parse_round

GOOD = (EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["cum-4-2024.yaml", "cum-11-2020.yaml"])
def test_examples_pass(name: str, tmp_path: Path) -> None:
    proc = cli("round", "check", str(EXAMPLES / name), env={"COVENANT_DATA_DIR": str(tmp_path / "d")})
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout
    assert not (tmp_path / "d").exists()


def test_seed_facts() -> None:
    r11 = parse_round((EXAMPLES / "cum-11-2020.yaml").read_text(encoding="utf-8"))
    assert len(r11.units) == 6
    assert [int(g.points) for g in r11.covenant.criteria] == [20, 55, 25]
    assert r11.covenant.bonus and r11.covenant.penalty
    r4 = parse_round(GOOD)
    assert len(r4.units) == 5
    assert {u.role for u in r4.units} == {"chair", "vice_chair", "member"}
    deputies = [u.signer.name for u in r4.units if u.signer.on_behalf_of]
    assert deputies == ["Nguyễn Trường Thọ", "Đặng Thanh Nhàn"]


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


# (description, transformation of the good file, expected path in the message, line anchor or None)
BAD = [
    (
        "points not summing to 100",
        lambda t: t.replace("points: 55\n", "points: 50\n", 1),
        "covenant.criteria",
        "  criteria:",
    ),
    (
        "items not summing to their group",
        lambda t: t.replace("points: 30}", "points: 31}", 1),
        "covenant.criteria[1].items",
        None,
    ),
    (
        "duplicate unit id",
        lambda t: t.replace("- id: thai-nguyen", "- id: bac-giang", 1),
        "units[2].id",
        "- id: bac-giang\n    name: Viện kiểm sát nhân dân tỉnh Thái",
    ),
    (
        "unknown unit id",
        lambda t: t.replace("elections: {chair: phu-tho", "elections: {chair: phu-thoo", 1),
        "conference.elections.chair",
        "  elections:",
    ),
    (
        "two chairs",
        lambda t: t.replace("role: vice_chair", "role: chair", 1),
        "units[1].role",
        "role: chair\n    signer: {name: Nguyễn",
    ),
    ("unknown key", lambda t: t.replace("  motto:", "  moto:", 1), "covenant.moto", "  moto:"),
    (
        "deadline in the past",
        lambda t: t.replace("deadline: P7D", "deadline: 2024-03-27T17:00:00+07:00", 1),
        "signing.deadline",
        "  deadline:",
    ),
    (
        "missing signer field",
        lambda t: t.replace(
            "title: Viện trưởng, email: vienthainguyen@example.vn", "email: vienthainguyen@example.vn", 1
        ),
        "units[2].signer.title",
        None,
    ),
    ("malformed YAML", lambda t: t.replace("  online: false\n", "  online: [false\n", 1), "(file)", None),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_round_file(case: tuple, tmp_path: Path) -> None:
    _name, transform, path, anchor = case
    text = transform(GOOD)
    assert text != GOOD
    bad = tmp_path / "round.yaml"
    bad.write_text(text, encoding="utf-8")
    copy_example_files(tmp_path)
    data_dir = tmp_path / "data"
    proc = cli("round", "check", str(bad), env={"COVENANT_DATA_DIR": str(data_dir)})
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines, "no message"
    pattern = re.compile(rf"^{re.escape(str(bad))}:(\d+): (\S+): .+")
    for line in lines:
        assert pattern.match(line), f"not FILE:LINE: field: message: {line!r}"
    hits = [pattern.match(line) for line in lines if pattern.match(line).group(2) == path]  # type: ignore[union-attr]
    assert hits, f"{path} not named in {lines}"
    if anchor:
        assert int(hits[0].group(1)) == _line_of(text, anchor), lines  # type: ignore[union-attr]
    assert not data_dir.exists(), "a failed check must write nothing"


def test_malformed_yaml_names_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("  online: false\n", "  online: [false\n", 1)
    with pytest.raises(RoundFileError) as info:
        parse_round(text, "r.yaml")
    problem = info.value.problems[0]
    assert "malformed YAML" in problem.message
    assert abs(problem.line - _line_of(text, "  online: [false")) <= 2


def test_every_problem_reported_at_once() -> None:
    text = GOOD.replace("  motto:", "  moto:", 1).replace("- id: thai-nguyen", "- id: bac-giang", 1)
    with pytest.raises(RoundFileError) as info:
        parse_round(text, "r.yaml")
    paths = {p.path for p in info.value.problems}
    assert "covenant.moto" in paths  # the structural error; cross-field checks need a valid structure


def test_text_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", GOOD)
    assert decomposed != GOOD
    model = parse_round(decomposed)
    assert model.units[0].name == "Viện kiểm sát nhân dân tỉnh Phú Thọ"
    assert unicodedata.is_normalized("NFC", model.covenant.motto)


def test_unquoted_clock_time_is_read_as_time() -> None:
    model = parse_round(GOOD.replace('end: "11:30"', "end: 11:30"))
    assert model.conference.end == "11:30"


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:

    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = GOOD + "\n".join(lines) + "\n"
    assert len(bomb.encode()) - len(GOOD.encode()) < 8 * 1024
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb, encoding="utf-8")
    with pytest.raises(RoundFileError) as info:
        parse_round(bomb, str(path))
    assert "anchors and aliases" in info.value.problems[0].message  # refused before any alias is expanded
    assert info.value.problems[0].line == _line_of(bomb, "a0: &a0")
    proc = cli("round", "check", str(path))
    assert proc.returncode == 2 and "anchors and aliases" in proc.stderr and "Traceback" not in proc.stderr


def test_free_text_and_file_size_limits() -> None:
    long_paragraph = "Hội nghị thống nhất " * 300  # 6,000 characters
    text = re.sub(r"(?m)^  motto: .*$", f"  motto: {long_paragraph!r}", GOOD, count=1)
    assert text != GOOD
    with pytest.raises(RoundFileError) as info:
        parse_round(text, "r.yaml")
    assert any(p.path == "covenant.motto" and "at most 4000 characters" in p.message for p in info.value.problems)
    huge = GOOD + "# " + "x" * (1024 * 1024) + "\n"
    with pytest.raises(RoundFileError, match="a round file has at most"):
        parse_round(huge, "r.yaml")


def test_identity_pins_reach_the_slots() -> None:
    from workflow.documents import slot_specs

    text = GOOD.replace(
        "signer: {name: Nguyễn Trường Thọ, title: Phó Viện trưởng,",
        "signer: {certificate: {serial_number: 'CCCD:024080001234'}, name: Nguyễn Trường Thọ, title: Phó Viện trưởng,",
        1,
    )
    assert text != GOOD
    spec = next(s for s in slot_specs(parse_round(text))["covenant"] if s.unit_id == "bac-giang")
    assert spec.pin_identity == "CCCD:024080001234" and spec.pin_sha256 is None
    with pytest.raises(RoundFileError) as info:
        parse_round(text.replace("CCCD:024080001234", "<script>"), "r.yaml")
    assert any(p.path.endswith("certificate.serial_number") for p in info.value.problems)


@pytest.mark.parametrize("path", ["/etc/ssl/ca.pem", "../pki/root.pem", "C:\\\\pki\\\\root.pem", "~/root.pem"])
def test_paths_outside_the_folder_are_refused_but_old_rounds_still_read(path: str) -> None:
    """A new round file may name files only inside its own folder; a round launched (or archived) before that
    rule, whose file names another path, is still read when it is verified years later."""
    text = GOOD.replace("  trust: demo", f"  trust: {{roots: ['{path}']}}", 1)
    assert text != GOOD
    with pytest.raises(RoundFileError) as info:
        parse_round(text, "r.yaml")
    assert any(
        p.path == "signing.trust.roots[0]" and "inside the round file's folder" in p.message
        for p in info.value.problems
    )
    stored = parse_round(text, "r.yaml", check_deadline=False)
    assert len(stored.signing.trust.roots) == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "words"), [("retention: permanent\n", "permanent"), ("retention: 20\n", "20 years"), ("", "not stated")]
)
def test_the_retention_a_round_states(line: str, words: str) -> None:
    from workflow.stages.finalize import retention_words

    text = (EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8") + line
    assert retention_words(parse_round(text)) == words


@pytest.mark.parametrize("value", ["forever", "0", "101", "vĩnh viễn"])
def test_a_retention_that_is_not_one(value: str) -> None:
    text = (EXAMPLES / "cum-4-2024.yaml").read_text(encoding="utf-8") + f"retention: {value}\n"
    with pytest.raises(RoundFileError) as raised:
        parse_round(text)
    assert {p.dotted.split(".")[0] for p in raised.value.problems} == {"retention"}
