"""Pure rules for text from outside and for finance's spreadsheet cells."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.core.messages import CODE_END, CODE_START, mark_code
from bot.core.render import Renderer
from bot.domain.spreadsheet import csv_cell, is_text
from bot.domain.text import clean_name, clean_text, drop_controls
from bot.platforms.telegram import to_html
from tests.telegram_api import html_problem


def test_controls_go_newlines_tabs_and_emoji_joiners_stay() -> None:
    assert drop_controls("a\x00b\x0ec\x0fd\u202ee\u200bf\x1b") == "abcdef"
    assert drop_controls("行1\n\t行2 👨\u200d👩\u200d👧") == "行1\n\t行2 👨\u200d👩\u200d👧"
    assert clean_text("  \x0e/help\x0f \n") == "/help"


def test_names_are_one_short_line() -> None:
    assert clean_name("  Ada\n\n Lovelace\u202e ") == "Ada Lovelace"
    assert clean_name("x" * 500) == "x" * 100


@given(st.text())
def test_cleaned_text_has_no_markers_and_is_stable(text: str) -> None:
    once = drop_controls(text)
    assert CODE_START not in once and CODE_END not in once
    assert drop_controls(once) == once


def test_templates_show_values_without_controls_but_keep_copy_spans() -> None:
    renderer = Renderer("zh_CN")
    env = renderer.env("zh_CN")
    template = env.from_string("{{ name }} {{ tag | code }}")
    text = template.render(name="\x0eAda\u202e", tag="#话题\x0f")
    assert text == f"Ada {CODE_START}#话题{CODE_END}"
    assert mark_code("a\x0eb") == f"{CODE_START}ab{CODE_END}"


@given(st.text(alphabet=st.sampled_from(["a", "<", "&", CODE_START, CODE_END, "\n"])))
def test_any_text_makes_html_that_telegram_accepts(text: str) -> None:
    assert html_problem(to_html(text)) is None


def test_unpaired_markers_are_dropped() -> None:
    assert to_html(f"a{CODE_START}b") == "a<code>b</code>"
    assert to_html(f"{CODE_END}x{CODE_START}") == "x"
    assert to_html(f"{CODE_START}{CODE_START}<x>{CODE_END}{CODE_END}") == "<code>&lt;x&gt;</code>"


def test_formula_cells_become_text_and_amounts_stay_numbers() -> None:
    for dangerous in ("=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("x")'):
        assert csv_cell(dangerous) == "'" + dangerous
    for safe in ("-60.00", "192.00", "+5", "Ada", "", "a=b"):
        assert csv_cell(safe) == safe
    assert csv_cell(-6000) == -6000 and csv_cell(None) is None
    assert is_text("=1+1") and is_text("Ada") and not is_text("-60.00") and not is_text(3)
