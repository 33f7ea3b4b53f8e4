"""Every word the bot says comes from a jinja2 template in content_templates/<locale>/."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from bot.core.messages import CodeSpan, mark_code
from bot.domain.money import format_fen
from bot.domain.platforms import format_hashtag
from bot.domain.text import drop_controls

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "content_templates"


def _localtime(
    value: datetime, tz: str | ZoneInfo = "Asia/Shanghai", fmt: str = "%Y-%m-%d %H:%M"
) -> str:
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return value.astimezone(zone).strftime(fmt)


def _shown(value: object) -> object:
    """Every `{{ value }}` passes here: text that came from users (names, campaign files,
    LLM outlines, stored before cleaning existed) loses control characters, so it can neither
    forge a copy span nor break a platform's markup. Copy spans made by `code` stay."""
    if isinstance(value, str) and not isinstance(value, CodeSpan):
        return drop_controls(value)
    return value


class Renderer:
    def __init__(self, default_locale: str = "zh_CN", root: Path = TEMPLATES_DIR) -> None:
        self.default_locale = default_locale
        self.root = root
        self._envs: dict[str, Environment] = {}
        self._locales: dict[str | None, str] = {}

    def env(self, locale: str) -> Environment:
        if locale in self._envs:
            return self._envs[locale]
        env = Environment(
            loader=FileSystemLoader(self.root / locale),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,  # plain text; platform adapters escape for their markup
            finalize=_shown,
            auto_reload=False,  # templates change with a release, not while the bot runs
        )
        env.filters["money"] = format_fen
        env.filters["localtime"] = _localtime
        env.filters["code"] = mark_code
        env.filters["hashtag"] = lambda tag, platform: format_hashtag(platform, tag)
        names = env.get_template("_names.j2").module
        env.filters["platform_name"] = lambda code: names.platforms.get(code, code)  # type: ignore[attr-defined]
        env.globals["names"] = names
        self._envs[locale] = env
        return env

    def locale_or_default(self, locale: str | None) -> str:
        if locale not in self._locales:  # a directory look-up once per locale, not per text
            self._locales[locale] = (
                locale if locale and (self.root / locale).is_dir() else self.default_locale
            )
        return self._locales[locale]

    def render(self, locale: str | None, name: str, /, **data: Any) -> str:
        env = self.env(self.locale_or_default(locale))
        return env.get_template(f"{name}.j2").render(**data).strip()

    def command_text(self, locale: str | None, command: str, part: str) -> str:
        """`part` is `summary` or `usage` of content_templates/<locale>/commands/<command>.j2."""
        env = self.env(self.locale_or_default(locale))
        try:
            module = env.get_template(f"commands/{command}.j2").module
        except TemplateNotFound:
            return ""
        return str(getattr(module, part)()).strip()
