"""/broadcast (群发): start the broadcast flow, or cancel / retry / show one by its number."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.identity import Role
from bot.core.registry import Router
from bot.domain.campaign_spec import CODE_PATTERN
from bot.domain.ids import parse_id, possible_id
from bot.domain.statuses import BroadcastStatus
from bot.flows.broadcast import BroadcastFlow
from bot.services import audit, campaigns
from bot.services.broadcasts import BroadcastService
from storage.models import Broadcast, Campaign

CANCEL = ("cancel", "取消", "停止")
RETRY = ("retry", "重试")
STATUS = ("status", "状态")

router = Router()


@router.command("broadcast", keywords=("群发",), role=Role.MANAGER)
async def broadcast(ctx: Context, broadcasts: BroadcastService) -> None:
    parts = ctx.args.split()
    if len(parts) == 2 and parts[0].lower() in CANCEL + RETRY + STATUS:
        await _act(ctx, broadcasts, parts[0].lower(), parts[1])
        return
    if len(parts) > 1:
        raise UserError("broadcast/usage")
    data: dict[str, object] = {}
    if parts:
        brand = await campaigns.brand_by_code(parts[0])
        if brand is not None and not await _is_campaign(parts[0]):
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


async def _is_campaign(code: str) -> bool:
    return bool(CODE_PATTERN.fullmatch(code.upper())) and await Campaign.exists(code=code.upper())


async def _act(ctx: Context, broadcasts: BroadcastService, action: str, number: str) -> None:
    broadcast_id = parse_id(number)
    known = broadcast_id is not None and possible_id(broadcast_id)
    row = await Broadcast.get_or_none(id=broadcast_id) if known else None
    if row is None or not ctx.caller.manages(row.brand_id):  # type: ignore[attr-defined]
        raise UserError("broadcast/unknown", id=number[:20])
    service = broadcasts
    if action in STATUS and row.status == BroadcastStatus.SCHEDULED:
        campaign = await Campaign.get_or_none(id=row.campaign_id)  # type: ignore[attr-defined]
        zone = campaign.timezone if campaign else ctx.settings.timezone
        await ctx.reply("broadcast/scheduled", broadcast=row, zone=zone)
    elif action in STATUS:
        await ctx.reply("broadcast/report", broadcast=row, counts=await service.counts(row.id))
    elif action in CANCEL and row.status == BroadcastStatus.SCHEDULED:
        if not await service.unschedule(row):  # it started a moment ago: cancel it as sending
            raise UserError("broadcast/not_scheduled", broadcast=row)
        await audit.record(ctx.caller.person_id, "broadcast.unschedule", str(row.id))
        await ctx.reply("broadcast/unscheduled", broadcast=row)
    elif action in CANCEL:
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
