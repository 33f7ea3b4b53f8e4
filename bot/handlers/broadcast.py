"""/broadcast (群发): start the broadcast flow, or cancel / retry / show one by its number."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.identity import Role
from bot.core.registry import Router
from bot.domain.ids import parse_id, possible_id
from bot.domain.statuses import BroadcastStatus
from bot.domain.vocabulary import VOCABULARY
from bot.flows.broadcast import BroadcastFlow
from bot.services import audit, campaigns
from bot.services.broadcasts import BroadcastService, broadcast_by_id

router = Router()


@router.command("broadcast", keywords=("群发",), role=Role.MANAGER)
async def broadcast(ctx: Context, broadcasts: BroadcastService) -> None:
    parts = ctx.args.split()
    if len(parts) == 2 and VOCABULARY.meaning(parts[0], "broadcast_action"):
        await _act(ctx, broadcasts, parts[0], parts[1])
        return
    if len(parts) > 1:
        raise UserError("broadcast/usage")
    data: dict[str, object] = {}
    if parts:
        brand = await campaigns.brand_by_code(parts[0])
        if brand is not None and not await campaigns.campaign_exists(parts[0]):
            if not ctx.caller.manages(brand.id):
                raise UserError("broadcast/not_your_brand", code=brand.code)
            data["brand_id"] = brand.id
        else:
            campaign = await campaigns.managed_campaign(ctx.caller, parts[0])
            data.update(
                brand_id=campaign.brand_id,  # type: ignore[attr-defined]
                campaign_id=campaign.id,
                campaign_code=campaign.code,
            )
    else:
        brands = sorted(ctx.caller.brand_ids(Role.MANAGER))
        if len(brands) != 1:
            raise UserError("broadcast/which_brand")
        data["brand_id"] = brands[0]
    await ctx.start_flow(BroadcastFlow, data)


async def _act(ctx: Context, broadcasts: BroadcastService, action: str, number: str) -> None:
    broadcast_id = parse_id(number)
    row = (
        await broadcast_by_id(broadcast_id)
        if broadcast_id is not None and possible_id(broadcast_id)
        else None
    )
    if row is None or not ctx.caller.manages(row.brand_id):  # type: ignore[attr-defined]
        raise UserError("broadcast/unknown", id=number[:20])
    service = broadcasts
    show = VOCABULARY.means(action, "broadcast_action.status")
    stop = VOCABULARY.means(action, "broadcast_action.cancel")
    if show and row.status == BroadcastStatus.SCHEDULED:
        zone = await campaigns.campaign_timezone(row.campaign_id, ctx.settings.timezone)  # type: ignore[attr-defined]
        await ctx.reply("broadcast/scheduled", broadcast=row, zone=zone)
    elif show:
        await ctx.reply("broadcast/report", broadcast=row, counts=await service.counts(row.id))
    elif stop and row.status == BroadcastStatus.SCHEDULED:
        if not await service.unschedule(row):  # it started a moment ago: cancel it as sending
            raise UserError("broadcast/not_scheduled", broadcast=row)
        await audit.record(ctx.caller.person_id, "broadcast.unschedule", str(row.id))
        await ctx.reply("broadcast/unscheduled", broadcast=row)
    elif stop:
        if row.status != BroadcastStatus.SENDING:
            raise UserError("broadcast/not_sending", broadcast=row)
        counts = await service.cancel(row)
        await audit.record(ctx.caller.person_id, "broadcast.cancel", str(row.id))
        await ctx.reply("broadcast/cancelled", broadcast=row, counts=counts)
    else:
        if row.status in (BroadcastStatus.SENDING, BroadcastStatus.SCHEDULED):
            raise UserError("broadcast/still_sending", broadcast=row)
        count = await service.retry(row)
        await audit.record(ctx.caller.person_id, "broadcast.retry", str(row.id), count=count)
        await ctx.reply("broadcast/retrying", broadcast=row, count=count)
