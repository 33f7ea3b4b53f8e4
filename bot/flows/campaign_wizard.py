"""/newcampaign in chat: the essentials, one question at a time; YAML covers the rest."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bot.core.context import Context
from bot.core.flows import DONE, Flow, InvalidAnswer
from bot.core.messages import Choice
from bot.domain.campaign_spec import CODE_PATTERN, SpecError, parse_local_time, validate_spec
from bot.domain.money import MoneyError, parse_yuan
from bot.domain.platforms import normalize_platform
from bot.domain.vocabulary import VOCABULARY
from bot.services import campaigns

CREATE, CANCEL = "create", "cancel"  # the meanings of the vocabulary's `wizard_confirm`


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;；|\n]", text) if part.strip()]


class CampaignWizard(Flow):
    name = "campaign_wizard"
    steps = (
        "code", "name", "brand", "event_at", "embargo_at", "deadline_at",
        "platforms", "key_messages", "hashtags", "disclosure", "pricing", "confirm",
    )  # fmt: skip

    async def ask(self, ctx: Context, step: str, data: dict[str, Any]) -> None:
        if step == "brand":
            brands = await campaigns.managed_brands(ctx.caller)
            choices = [Choice(f"{b.code} {b.name}", b.code) for b in brands]
            await ctx.reply("wizard/ask_brand", choices=choices)
        elif step == "confirm":
            choices = [
                Choice(ctx.render("wizard/option", value=v), VOCABULARY.word(f"wizard_confirm.{v}"))
                for v in (CREATE, CANCEL)
            ]
            await ctx.reply("wizard/confirm", data=data, choices=choices)
        else:
            await ctx.reply(f"wizard/ask_{step}", data=data, timezone=ctx.settings.timezone)

    async def answer_code(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        if not CODE_PATTERN.match(text):
            raise InvalidAnswer("wizard/bad_code")
        if await campaigns.campaign_exists(text):
            raise InvalidAnswer("wizard/code_taken", code=text.upper())
        data["code"] = text.upper()
        return None

    async def answer_name(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        if not 1 <= len(text) <= 200:
            raise InvalidAnswer("wizard/bad_name")
        data["name"] = text
        brands = await campaigns.managed_brands(ctx.caller)
        if not brands:
            raise InvalidAnswer("wizard/no_brand")
        if len(brands) == 1:
            data["brand"] = brands[0].code
            return "event_at"
        return None

    async def answer_brand(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        codes = {b.code for b in await campaigns.managed_brands(ctx.caller)}
        if text.upper() not in codes:
            raise InvalidAnswer("wizard/bad_brand")
        data["brand"] = text.upper()
        return None

    async def answer_event_at(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        data["event_at"] = _time(ctx, text)
        return None

    async def answer_embargo_at(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        data["embargo_at"] = _time(ctx, text)
        return None

    async def answer_deadline_at(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        deadline = _time(ctx, text)
        if datetime.fromisoformat(deadline) <= datetime.fromisoformat(data["embargo_at"]):
            raise InvalidAnswer("wizard/deadline_before_embargo")
        data["deadline_at"] = deadline
        return None

    async def answer_platforms(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        parts = [p for p in re.split(r"[,，、\s]+", text) if p]
        unknown = [p for p in parts if normalize_platform(p) is None]
        if not parts or unknown:
            raise InvalidAnswer("wizard/bad_platforms", unknown=unknown)
        data["platforms"] = list(dict.fromkeys(normalize_platform(p) for p in parts))
        return None

    async def answer_key_messages(
        self, ctx: Context, data: dict[str, Any], text: str
    ) -> str | None:
        data["key_messages"] = _split(text)
        return None

    async def answer_hashtags(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        tags = [t.strip("#") for t in re.split(r"[,，、\s]+", text) if t.strip("#")]
        if not tags:
            raise InvalidAnswer("wizard/bad_hashtags")
        data["hashtags"] = {"required": list(dict.fromkeys(tags))}
        return None

    async def answer_disclosure(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        if not 1 <= len(text) <= 100:
            raise InvalidAnswer("wizard/bad_disclosure")
        data["disclosure"] = text
        return None

    async def answer_pricing(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        pricing: dict[str, str] = {}
        for key, value in re.findall(r"([^\s=:：]+)\s*[=:：]\s*(\S+)", text):
            name = VOCABULARY.meaning(key, "wizard_pricing")
            if name is None:
                raise InvalidAnswer("wizard/bad_pricing")
            try:
                parse_yuan(value)
            except MoneyError:
                raise InvalidAnswer("wizard/bad_pricing") from None
            pricing[name] = value
        if not pricing:
            raise InvalidAnswer("wizard/bad_pricing")
        data["pricing"] = pricing
        return None

    async def answer_confirm(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        choice = VOCABULARY.meaning(text, "wizard_confirm")  # the value or a label, any language
        if choice is None:
            raise InvalidAnswer("wizard/bad_confirm")
        data["confirmed"] = choice == CREATE
        return DONE

    async def finish(self, ctx: Context, data: dict[str, Any]) -> None:
        if not data.pop("confirmed"):
            await ctx.reply("flows/cancelled")
            return
        try:
            spec = validate_spec(data, ctx.settings.timezone)
            campaign = await campaigns.create_campaign(spec, ctx.caller)
        except SpecError as error:
            await ctx.reply("campaigns/spec_problems", problems=error.problems, name="")
            return
        await ctx.reply("campaigns/created", campaign=campaign, spec=campaign.spec)


def _time(ctx: Context, text: str) -> str:
    """An aware ISO time; a time without offset is in the default time zone."""
    parsed = parse_local_time(text)
    if parsed is None:
        raise InvalidAnswer("wizard/bad_time", text=text[:40])
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ctx.settings.tz)
    return parsed.isoformat()
