"""Event day: /kit (a creator's hashtag kit), /timeline (a manager's view and controls of the
scheduled pushes), /linkgroup (a group joins a campaign: it gets the GO first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.context import Context
from bot.core.identity import Role
from bot.core.registry import Router
from bot.domain.kits import kits_for
from bot.domain.timeline import MAX_SHIFT, ShiftTooFar, parse_shift
from bot.domain.vocabulary import VOCABULARY
from bot.services import audit, campaigns, creators
from bot.services.timeline import TimelineService

if TYPE_CHECKING:
    from storage.models import Campaign

router = Router()


@router.command("kit", keywords=("话题",), role=Role.CREATOR)
async def kit(ctx: Context) -> None:
    assert ctx.caller.creator_id is not None
    parts = ctx.args.split()
    campaign = await campaigns.creator_campaign(
        ctx.caller.creator_id, parts[0] if parts else None, "kit"
    )
    registered = await creators.registered_platforms(ctx.caller.creator_id)
    kits, others = kits_for(campaign.spec, registered)  # type: ignore[arg-type]
    mine = any(k.platform in registered for k in kits)
    await ctx.reply(
        "campaigns/kit", campaign=campaign, kits=kits, others=others, mine=mine, now=ctx.now
    )


@router.command("timeline", keywords=("时间线",), role=Role.MANAGER)
async def timeline_command(ctx: Context, timeline: TimelineService) -> None:
    parts = ctx.args.split()
    if not parts:
        await ctx.reply("timeline/usage")
        return
    campaign = await campaigns.managed_campaign(ctx.caller, parts[0])
    action = parts[1] if len(parts) > 1 else ""
    service = timeline
    if not action and len(parts) == 1:
        rows = await service.rows(campaign)
        await ctx.reply("timeline/plan", campaign=campaign, rows=rows, now=ctx.now)
    elif VOCABULARY.means(action, "timeline.pause") and len(parts) == 2:
        held = await service.pause(campaign)
        await audit.record(ctx.caller.person_id, "timeline.pause", campaign.code, held=held)
        await ctx.reply("timeline/paused", campaign=campaign, count=held)
    elif VOCABULARY.means(action, "timeline.resume") and len(parts) == 2:
        released = await service.resume(campaign)
        await audit.record(ctx.caller.person_id, "timeline.resume", campaign.code)
        await ctx.reply("timeline/resumed", campaign=campaign, count=released)
    elif VOCABULARY.means(action, "timeline.shift") and len(parts) == 3:
        await _shift(ctx, timeline, campaign, parts[2])
    else:
        await ctx.reply("timeline/usage")


async def _shift(
    ctx: Context, timeline: TimelineService, campaign: Campaign, text: str
) -> None:
    try:
        delta = parse_shift(text)
    except ShiftTooFar:
        await ctx.reply("timeline/shift_too_far", days=MAX_SHIFT.days, text=text[:40])
        return
    if delta is None:
        await ctx.reply("timeline/usage")
        return
    service = timeline
    await service.shift(campaign, delta)
    await audit.record(
        ctx.caller.person_id, "timeline.shift", campaign.code, minutes=delta.total_seconds() / 60
    )
    rows = await service.rows(campaign)
    await ctx.reply("timeline/shifted", campaign=campaign, rows=rows, now=ctx.now)


@router.command("linkgroup", keywords=("绑定群",), role=Role.MANAGER)
async def link_group(ctx: Context) -> None:
    parts = ctx.args.split()
    if not ctx.in_group:
        await ctx.reply("timeline/link_in_group")
        return
    if len(parts) != 1:
        await ctx.reply("timeline/link_usage")
        return
    campaign = await campaigns.managed_campaign(ctx.caller, parts[0])
    chat = ctx.incoming.chat
    group = await campaigns.link_group(campaign, chat)
    await audit.record(
        ctx.caller.person_id,
        "group.link",
        f"{chat.platform}:{chat.chat_id}",
        campaign=campaign.code,
    )
    await ctx.reply("timeline/linked", campaign=campaign, title=group.title)
