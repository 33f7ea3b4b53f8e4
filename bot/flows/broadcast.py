"""/broadcast: write the message, pick the audience, see a preview, confirm (or cancel)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.flows import Flow, InvalidAnswer
from bot.core.messages import Choice
from bot.domain.audience import Audience, AudienceError, Scope, parse_audience
from bot.domain.vocabulary import VOCABULARY
from bot.services import audit, campaigns
from bot.services.broadcasts import BroadcastService, render_texts, sample_variables, targets

# `at 2026-05-20 09:00` (定时 / 在 …) at the confirm step: send then, in the campaign's zone.
SCHEDULE = re.compile(
    "^(?:" + "|".join(map(re.escape, VOCABULARY.words("broadcast_confirm.send_at"))) + ")"
    + r"\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:\s+|T)(\d{1,2})[:：](\d{2})$",
    re.IGNORECASE,
)


async def zone_of(ctx: Context, data: dict[str, Any]) -> str:
    """The campaign's time zone (a brand-wide broadcast: the bot's TIMEZONE)."""
    return await campaigns.campaign_timezone(data.get("campaign_id"), ctx.settings.timezone)


def parse_schedule(text: str, zone: str) -> datetime | None:
    """The time in `text` (`at 2026-05-20 09:00`), or None when it is not a schedule;
    InvalidAnswer for a date that does not exist."""
    match = SCHEDULE.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))
    except ValueError:
        raise InvalidAnswer("broadcast/bad_time", zone=zone) from None


class BroadcastFlow(Flow):
    name = "broadcast"
    steps = ("message", "audience", "confirm")

    def __init__(self, broadcasts: BroadcastService) -> None:
        self.broadcasts = broadcasts

    async def ask_message(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("broadcast/ask_message", campaign_code=data.get("campaign_code"))

    async def answer_message(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        try:  # shown now, with sample values: never half-way through the sending
            await render_texts(text, [sample_variables()], ctx.settings)
        except UserError as error:
            raise InvalidAnswer(error.template, **error.data) from None
        data["source"] = text
        return None

    async def ask_audience(self, ctx: Context, data: dict[str, Any]) -> None:
        campaign = data.get("campaign_code")
        options = [Scope.BRAND] + (
            [Scope.CAMPAIGN, Scope.PENDING, Scope.GROUPS] if campaign else []
        )
        choices = [
            Choice(ctx.render("broadcast/scope_label", scope=o, campaign_code=campaign), o)
            for o in options
        ]
        await ctx.reply("broadcast/ask_audience", campaign_code=campaign, choices=choices)

    async def answer_audience(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        try:
            audience = parse_audience(text, data["brand_id"], data.get("campaign_id"))
        except AudienceError as error:  # the domain's own error, said like any wrong answer
            raise InvalidAnswer(error.template, **error.data) from None
        if not await targets(audience):
            raise InvalidAnswer("broadcast/nobody")
        data["audience"] = audience.to_json()
        return None

    async def ask_confirm(self, ctx: Context, data: dict[str, Any]) -> None:
        found = await targets(Audience(**data["audience"]))
        reachable = [t for t in found if t.group is not None or t.identity is not None]
        first = (reachable or found)[0].variables
        [sample] = await render_texts(data["source"], [first], ctx.settings)
        choices = [
            Choice(
                ctx.render("broadcast/confirm_label"), VOCABULARY.word("broadcast_confirm.confirm")
            ),
            Choice(ctx.render("broadcast/cancel_label"), VOCABULARY.word("flow.cancel")),
        ]
        await ctx.reply(
            "broadcast/preview",
            zone=await zone_of(ctx, data),
            audience=data["audience"],
            total=len(found),
            groups=sum(1 for t in found if t.group is not None),
            reachable=len(reachable),
            blocked=sum(1 for t in found if t.blocked),
            sample=sample,
            choices=choices,
        )

    async def answer_confirm(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        zone = await zone_of(ctx, data)
        send_at = parse_schedule(text, zone)
        if send_at is not None:
            if send_at <= ctx.now:
                raise InvalidAnswer("broadcast/past_time", zone=zone)
            data["send_at"] = send_at.isoformat()
            return None
        if not VOCABULARY.means(text, "broadcast_confirm.confirm"):
            raise InvalidAnswer("broadcast/bad_confirm", zone=zone)
        return None

    async def finish(self, ctx: Context, data: dict[str, Any]) -> None:
        broadcast = await self.broadcasts.create(
            brand_id=data["brand_id"],
            campaign_id=data.get("campaign_id"),
            person_id=ctx.caller.person_id,
            source=data["source"],
            audience=Audience(**data["audience"]),
            status_chat=ctx.incoming.chat,
            status_user=ctx.incoming.user_id,
            locale=ctx.locale,
            send_at=datetime.fromisoformat(data["send_at"]) if data.get("send_at") else None,
        )
        await audit.record(
            ctx.caller.person_id,
            "broadcast.schedule" if broadcast.send_at else "broadcast.send",
            str(broadcast.id),
            total=broadcast.total,
            audience=data["audience"],
            send_at=data.get("send_at"),
        )
        if broadcast.send_at is not None:
            zone = await zone_of(ctx, data)
            await ctx.reply("broadcast/scheduled", broadcast=broadcast, zone=zone)
            return
        await self.broadcasts.drive()


