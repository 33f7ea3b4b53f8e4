"""Campaign YAML is bounded before anything is built: size, nesting, aliases and the values
they expand to (bot.domain.campaign_spec.load_yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.campaign_spec import (
    MAX_YAML_ALIASES,
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    Problem,
    SpecError,
    load_yaml,
    parse_campaign_yaml,
)

SPRING = (Path(__file__).parents[1] / "e2e" / "scripts" / "spring.yaml").read_text("utf-8")
# The classic: nine levels of nine aliases, 10^9 strings once expanded; 800-odd bytes.
BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def problems(text: str | bytes) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        load_yaml(text)
    return caught.value.problems


def nested(levels: int) -> str:
    """A mapping whose value is `levels` lists deep: 1 + levels nesting levels in all."""
    return "x: " + "[" * levels + "]" * levels


def test_billion_laughs_is_refused_for_its_aliases() -> None:
    bomb = BILLION_LAUGHS + SPRING.replace("key_messages:\n", "key_messages: *i\nold:\n")
    assert problems(bomb) == [Problem("-", "too_many_aliases", str(MAX_YAML_ALIASES))]
    with pytest.raises(SpecError):
        parse_campaign_yaml(bomb, "Asia/Shanghai")


def test_few_aliases_expanding_to_too_many_values_are_refused() -> None:
    wide = "a: &a [" + ",".join(["1"] * 2000) + "]\n" + "b: [" + ",".join(["*a"] * 10) + "]\n"
    assert problems(wide) == [Problem("-", "too_many_values", str(MAX_YAML_NODES))]


def test_a_few_aliases_are_fine() -> None:
    text = SPRING.replace("required: [ACME春季新车, 试驾]", "required: &tags [ACME春季新车, 试驾]")
    text = text.replace("platforms: [小红书, douyin, weibo, bilibili]", "platforms: [小红书]")
    spec = parse_campaign_yaml(text + "assets: *tags\n", "Asia/Shanghai")
    assert spec.assets == ["ACME春季新车", "试驾"]


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert problems("x: &a [1, *a]") == [Problem("-", "recursive_alias")]


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "{a: " * 5000 + "1" + "}" * 5000])
def test_thousands_deep_is_refused_not_a_recursion_error(text: str) -> None:
    assert problems(text) == [Problem("-", "too_deep", str(MAX_YAML_DEPTH))]


def test_block_style_nesting_is_bounded_too() -> None:
    # MAX_YAML_DEPTH mappings, one in another, and a value in the innermost one
    text = "\n".join(f"{'  ' * level}k{level}:" for level in range(MAX_YAML_DEPTH)) + " 1"
    assert problems(text) == [Problem("-", "too_deep", str(MAX_YAML_DEPTH))]


def test_depth_limit_is_exact() -> None:
    assert load_yaml(nested(MAX_YAML_DEPTH - 1)) == {"x": _lists(MAX_YAML_DEPTH - 1)}
    assert problems(nested(MAX_YAML_DEPTH))[0].code == "too_deep"


def test_value_limit_is_exact() -> None:
    # the mapping, its key and the list are three values
    fits = "x: [" + ",".join(["1"] * (MAX_YAML_NODES - 3)) + "]"
    assert len(load_yaml(fits)["x"]) == MAX_YAML_NODES - 3
    assert problems(fits.replace("[", "[1,", 1))[0].code == "too_many_values"


def test_alias_limit_is_exact() -> None:
    uses = ",".join(["*a"] * MAX_YAML_ALIASES)
    assert len(load_yaml(f"a: &a 1\nb: [{uses}]")["b"]) == MAX_YAML_ALIASES
    assert problems(f"a: &a 1\nb: [{uses},*a]")[0].code == "too_many_aliases"


def test_text_over_the_size_limit_is_refused_like_bytes() -> None:
    text = "x: " + "啊" * (MAX_YAML_BYTES // 3)  # under the limit in characters, over in bytes
    assert problems(text) == [Problem("-", "too_large", str(MAX_YAML_BYTES // 1024))]
    assert problems(text.encode()) == [Problem("-", "too_large", str(MAX_YAML_BYTES // 1024))]


@pytest.mark.parametrize("text", ["x: " + "1" * 5000, "x: 0000-01-01"])
def test_values_python_cannot_hold_are_a_yaml_problem(text: str) -> None:
    assert problems(text) == [Problem("-", "yaml", "")]


def _lists(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value
