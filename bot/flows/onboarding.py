"""The creator questionnaire behind /start CODE: kind, city, niches, accounts, consent."""

from __future__ import annotations

import re
from typing import Any

from bot.core.context import Context
from bot.core.flows import DONE, Flow, InvalidAnswer
from bot.core.messages import Choice
from bot.domain.metrics import parse_count
from bot.domain.platforms import SOCIAL_PLATFORMS, normalize_platform
from bot.domain.statuses import CreatorKind
from bot.domain.vocabulary import VOCABULARY
from bot.services import creators

KINDS = tuple(CreatorKind)
KOS_TYPES = ("dealer", "store", "employee", "agent")
MAX_ACCOUNTS = 10
MAX_NICHES = 10
YES, NO = "yes", "no"  # the meanings of the vocabulary's onboarding_more / onboarding_consent


class Onboarding(Flow):
    name = "onboarding"
    steps = (
        "kind",
        "kos_type",
        "city",
        "niches",
        "platform",
        "handle",
        "followers",
        "more",
        "consent",
    )

    async def ask_kind(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply(
            "onboarding/ask_kind", brand=data["brand"], choices=_options(ctx, "kind", KINDS)
        )

    async def answer_kind(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        data["kind"] = _pick(ctx, "kind", KINDS, text)
        return None if data["kind"] == CreatorKind.KOS else "city"

    async def ask_kos_type(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("onboarding/ask_kos_type", choices=_options(ctx, "kos_type", KOS_TYPES))

    async def answer_kos_type(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        data["kos_type"] = _pick(ctx, "kos_type", KOS_TYPES, text)
        return None

    async def ask_city(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("onboarding/ask_city")

    async def answer_city(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        if not 1 <= len(text) <= 64:
            raise InvalidAnswer("onboarding/bad_city")
        data["city"] = text
        return None

    async def ask_niches(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("onboarding/ask_niches")

    async def answer_niches(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        niches = [n.strip() for n in re.split(r"[,，、;；/\s]+", text) if n.strip()]
        if not niches or len(niches) > MAX_NICHES or any(len(n) > 20 for n in niches):
            raise InvalidAnswer("onboarding/bad_niches", limit=MAX_NICHES)
        data["niches"] = list(dict.fromkeys(niches))
        return None

    async def ask_platform(self, ctx: Context, data: dict[str, Any]) -> None:
        choices = [Choice(ctx.render("_platform", code=p), p) for p in SOCIAL_PLATFORMS]
        await ctx.reply(
            "onboarding/ask_platform", choices=choices, count=len(data.get("accounts", []))
        )

    async def answer_platform(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        platform = normalize_platform(text)
        if platform is None:
            raise InvalidAnswer("onboarding/bad_platform", text=text[:40])
        data["current"] = {"platform": platform}
        return None

    async def ask_handle(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("onboarding/ask_handle", platform=data["current"]["platform"])

    async def answer_handle(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        handle = text.strip()
        if not 1 <= len(handle) <= 200 or "\n" in handle:
            raise InvalidAnswer("onboarding/bad_handle")
        data["current"]["handle"] = handle
        return None

    async def ask_followers(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("onboarding/ask_followers")

    async def answer_followers(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        followers = parse_count(text)
        if followers is None:
            raise InvalidAnswer("onboarding/bad_followers", text=text[:40])
        account = {**data.pop("current"), "followers": followers}
        accounts = [
            a
            for a in data.get("accounts", [])
            if (a["platform"], a["handle"]) != (account["platform"], account["handle"])
        ]
        data["accounts"] = [*accounts, account]
        return "consent" if len(data["accounts"]) >= MAX_ACCOUNTS else None

    async def ask_more(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply(
            "onboarding/ask_more",
            accounts=data["accounts"],
            choices=_options(ctx, "more", (YES, NO)),
        )

    async def answer_more(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        return "platform" if _answer("more", text) == YES else "consent"

    async def ask_consent(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("onboarding/ask_consent", choices=_options(ctx, "consent", (YES, NO)))

    async def answer_consent(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        data["consent"] = _answer("consent", text) == YES
        return DONE

    async def finish(self, ctx: Context, data: dict[str, Any]) -> None:
        if not data["consent"]:
            await ctx.reply("onboarding/no_consent", invite=data["invite"])
            return
        creator = await creators.register(ctx.caller.person_id, data, data["invite"], ctx.now)
        profile = await creators.profile(creator.id)
        await ctx.reply("onboarding/done", profile=profile)


def _options(ctx: Context, question: str, values: tuple[str, ...]) -> list[Choice]:
    return [Choice(ctx.render("onboarding/option", question=question, value=v), v) for v in values]


def _pick(ctx: Context, question: str, values: tuple[str, ...], text: str) -> str:
    """The option's value, typed as the value itself or as its label."""
    answer = text.strip().lower()
    for option in _options(ctx, question, values):
        if answer in (option.value, option.label.lower()):
            return option.value
    raise InvalidAnswer("onboarding/bad_choice")


def _answer(question: str, text: str) -> str:
    """YES or NO: the option's value or its label, typed in either language."""
    meaning = VOCABULARY.meaning(text, f"onboarding_{question}")
    if meaning is None:
        raise InvalidAnswer("onboarding/bad_choice")
    return meaning


