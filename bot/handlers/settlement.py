"""/settle (preview, close, mark paid) and /export: money for finance."""

from __future__ import annotations

from pathlib import Path

from bot.core.context import Context
from bot.core.identity import Role
from bot.core.messages import Choice, OutFile
from bot.core.registry import Router
from bot.domain.vocabulary import VOCABULARY
from bot.services import campaigns, settlement

router = Router()


@router.command("settle", keywords=("结算",), role=Role.MANAGER)
async def settle(ctx: Context) -> None:
    words = ctx.args.split()
    if not words:
        await ctx.reply("settlement/usage")
        return
    campaign = await campaigns.managed_campaign(ctx.caller, words[0])
    action = words[1] if len(words) > 1 else ""
    number = words[2] if len(words) > 2 else ""
    if VOCABULARY.means(action, "settle.confirm") and number.isdigit() and len(number) < 19:
        await _close(ctx, campaign, int(number))
    elif VOCABULARY.means(action, "settle.paid") and (
        not number or (number.isdigit() and len(number) < 10)
    ):
        await _paid(ctx, campaign, int(number) if number else None)
    elif action:
        await ctx.reply("settlement/usage")
    else:
        await _preview(ctx, campaign)


async def _preview(ctx: Context, campaign) -> None:  # type: ignore[no-untyped-def]
    plan = await settlement.preview(campaign)
    if not plan.creators:
        await ctx.reply("settlement/nothing", campaign=campaign)
        return
    choice = Choice(
        ctx.render("settlement/confirm_label", number=plan.number),
        f"/settle {campaign.code} confirm {plan.last_entry_id}",
    )
    await ctx.reply("settlement/preview", plan=plan, campaign=campaign, choices=[choice])


async def _close(ctx: Context, campaign, last_entry_id: int) -> None:  # type: ignore[no-untyped-def]
    closed = await settlement.close(ctx.caller, campaign, last_entry_id, ctx.notify)
    number = closed.settlement.number
    choice = Choice(
        ctx.render("settlement/paid_label", number=number),
        f"/settle {campaign.code} paid {number}",
    )
    await ctx.reply(
        "settlement/closed",
        campaign=campaign,
        settlement=closed.settlement,
        count=len(closed.statements),
        delivered=closed.delivered,
        choices=[choice],
    )


async def _paid(ctx: Context, campaign, number: int | None) -> None:  # type: ignore[no-untyped-def]
    paid, statements = await settlement.mark_paid(
        ctx.caller, campaign, number, ctx.now, ctx.notify
    )
    await ctx.reply("settlement/paid", campaign=campaign, settlement=paid, count=len(statements))


@router.command("export", keywords=("导出",), role=Role.BRAND)
async def export(ctx: Context) -> None:
    words = ctx.args.split()
    if not words:
        await ctx.reply("settlement/export_usage")
        return
    campaign = await settlement.exportable_campaign(ctx.caller, words[0])
    directory = Path(ctx.settings.export_dir)
    paths = await settlement.write_exports(campaign, directory, ctx.now)
    rows = await settlement.export_rows(campaign)
    await ctx.reply(
        "settlement/exported",
        campaign=campaign,
        total_fen=rows.total_fen,
        creators=len(rows.creators),
        posts=len(rows.posts),
        files=[OutFile(p.name, str(p)) for p in paths],
    )
