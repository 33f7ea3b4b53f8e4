"""Two outline generators behind one interface (`OutlineGenerator`).

- `LLMGenerator`: prompts from content_templates/prompts/*.j2, the campaign brief first (a
  stable prefix providers cache), the creator last, as data; one call through `LLMClient`; the
  JSON answer validated against the brief, with one repair request before it counts as failed.
- `TemplateGenerator`: the brief × the angle library × the profile, with the phrases of
  content_templates/<locale>/outlines/_kit.j2. Used with no API key, or while the model is down.

The rules both rely on (validation, prompt data, the template composition) are pure and live
in bot/domain/outlines.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.core.render import TEMPLATES_DIR, Renderer
from bot.domain.outlines import (
    OutlineDraft,
    OutlineProblem,
    OutlineRequest,
    brief_data,
    compose_outline,
    profile_data,
    prompt_data,
    validate_output,
)
from bot.services.llm import LLMClient, LLMUnavailable, Usage

log = logging.getLogger(__name__)

LLM, TEMPLATE = "llm", "template"
LANGUAGES = {"zh_CN": "Simplified Chinese (zh-CN)", "en": "English"}


@dataclass
class Generated:
    draft: OutlineDraft
    generator: str
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    fallback: str | None = None


class OutlineInvalid(Exception):
    """The model answered, twice, with something unusable: a clear failure, not a fallback."""

    def __init__(self, problems: list[OutlineProblem], usage: Usage) -> None:
        super().__init__("; ".join(f"{p.code} {p.detail}".strip() for p in problems))
        self.problems = problems
        self.usage = usage


class OutlineGenerator(Protocol):
    name: str

    async def generate(self, request: OutlineRequest) -> Generated: ...


# --- prompts ----------------------------------------------------------------------------------


class PromptBook:
    """content_templates/prompts/: its own environment (prompts are not per locale)."""

    def __init__(self, root: Any = TEMPLATES_DIR / "prompts") -> None:
        self.env = Environment(
            loader=FileSystemLoader(root),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            auto_reload=False,
        )
        self.env.filters["data"] = prompt_data
        self._systems: dict[tuple[str, str, str], str] = {}
        self.angles = self.env.get_template("_angles.j2").module

    def system(self, request: OutlineRequest) -> str:
        """The same text for every creator of a campaign (rendered once per brief)."""
        brief = brief_data(request)
        key = (request.campaign_code, request.locale, json.dumps(brief, sort_keys=True))
        if key not in self._systems:
            if len(self._systems) > 256:
                self._systems.clear()
            self._systems[key] = self._render_system(request, brief)
        return self._systems[key]

    def _render_system(self, request: OutlineRequest, brief: dict[str, Any]) -> str:
        return self.env.get_template("outline_system.j2").render(
            brief=brief,
            language=LANGUAGES.get(request.locale, LANGUAGES["zh_CN"]),
            formats="video: shots; note: cover and images; post: photos; article: images per "
            "section; review: photos",
        )

    def user(self, request: OutlineRequest) -> str:
        p = request.profile
        kind_note = "KOC (a real user)" if p.kind == "koc" else f"KOS ({p.kos_type or 'sales'})"
        return self.env.get_template("outline_user.j2").render(
            angle=request.angle,
            angles=self.angles,
            platform=p.platform,
            format=p.format,
            kind_note=kind_note,
            profile=profile_data(p),
        )

    def messages(self, request: OutlineRequest) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system(request)},
            {"role": "user", "content": self.user(request)},
        ]

    def repair(self, problems: list[OutlineProblem]) -> str:
        return self.env.get_template("outline_repair.j2").render(problems=problems)


# --- the LLM generator ------------------------------------------------------------------------


class LLMGenerator:
    name = LLM

    def __init__(self, client: LLMClient, prompts: PromptBook) -> None:
        self.client = client
        self.prompts = prompts
        self.model = client.model

    async def close(self) -> None:
        await self.client.close()

    async def generate(self, request: OutlineRequest) -> Generated:
        # Checked once per outline, not per call: a repair already under way still goes out.
        if self.client.is_down:
            raise LLMUnavailable("recently unreachable")
        usage = Usage()
        messages = self.prompts.messages(request)
        answer = await self.client.complete(messages, usage)
        checked = validate_output(answer, request.rules)
        if not checked.ok:
            log.info("outline for creator %s needs repair: %s", request.profile.creator_id,
                     [p.code for p in checked.problems])  # fmt: skip
            messages += [
                {"role": "assistant", "content": answer},
                {"role": "user", "content": self.prompts.repair(checked.problems)},
            ]
            answer = await self.client.complete(messages, usage)
            checked = validate_output(answer, request.rules)
            if not checked.ok:
                raise OutlineInvalid(checked.problems, usage)
        assert checked.draft is not None
        return Generated(checked.draft, LLM, self.model, usage)


# --- the template generator -------------------------------------------------------------------


class TemplateGenerator:
    name = TEMPLATE

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def _env(self, locale: str) -> Environment:
        return self.renderer.env(self.renderer.locale_or_default(locale))

    def kit(self, locale: str) -> Any:
        return self._env(locale).get_template("outlines/_kit.j2").module

    def platform_names(self, locale: str) -> Mapping[str, str]:
        return self._env(locale).globals["names"].platforms  # type: ignore[attr-defined]

    async def generate(self, request: OutlineRequest) -> Generated:
        return Generated(self.compose(request), TEMPLATE)

    def compose(self, request: OutlineRequest) -> OutlineDraft:
        locale = request.locale
        return compose_outline(request, self.kit(locale), self.platform_names(locale))
