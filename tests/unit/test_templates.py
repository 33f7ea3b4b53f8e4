"""Both locales carry the same messages, and every one of them parses."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import Environment

from bot.app import load_handlers
from bot.core.render import TEMPLATES_DIR, Renderer

LOCALES = ("zh_CN", "en")


def _names(locale: str) -> set[str]:
    root = TEMPLATES_DIR / locale
    return {str(p.relative_to(root)) for p in root.rglob("*.j2")}


def test_every_locale_has_the_same_templates() -> None:
    assert _names("zh_CN") == _names("en")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_parses(locale: str) -> None:
    env = Renderer(locale).env(locale)
    for name in sorted(_names(locale)):
        env.get_template(name)  # raises TemplateSyntaxError on a broken template


@pytest.mark.parametrize("locale", LOCALES)
def test_every_command_has_usage_and_summary(locale: str) -> None:
    renderer = Renderer(locale)
    for name in load_handlers().commands:
        assert renderer.command_text(locale, name, "usage").startswith(f"/{name}"), name
        assert renderer.command_text(locale, name, "summary"), name


def test_templates_named_in_code_exist() -> None:
    """Each literal template name in bot/ refers to a file (a typo would fail at runtime)."""
    import re

    source = "\n".join(p.read_text(encoding="utf-8") for p in Path("bot").rglob("*.py"))
    names = set(
        re.findall(
            r'"((?:errors|flows|general|admin|onboarding|campaigns|submissions|review|earnings|wizard|outlines|timeline|settlement|broadcast|digest|disputes|budget|points)/[a-z_]+)"',
            source,
        )
    )
    assert len(names) > 60
    missing = sorted(n for n in names if f"{n}.j2" not in _names("zh_CN"))
    assert missing == []


def test_money_and_time_filters() -> None:
    from datetime import UTC, datetime

    env: Environment = Renderer().env("zh_CN")
    template = env.from_string("{{ 123456 | money }} {{ t | localtime('Asia/Shanghai') }}")
    assert (
        template.render(t=datetime(2026, 5, 20, 2, 30, tzinfo=UTC)) == "¥1,234.56 2026-05-20 10:30"
    )
