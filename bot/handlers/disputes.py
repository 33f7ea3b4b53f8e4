"""/dispute (creator), /disputes and /resolve (manager): objections resolved in the ledger."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.identity import Role
from bot.core.messages import Choice
from bot.core.registry import Router
from bot.domain.ids import parse_id
from bot.domain.money import MoneyError, parse_signed_yuan
from bot.services import campaigns, disputes
from bot.services.people import managers_of


async def _answer(ctx: Context, template: str, /, **data: object) -> None:
    """Disputes are about money: always answered in private (a group hears where it went)."""
    await ctx.reply_dm(template, **data)  # type: ignore[arg-type]
    if ctx.in_group:
        await ctx.reply("disputes/sent_privately")

router = Router()


@router.command("dispute", keywords=("申诉",), role=Role.CREATOR)
async def dispute(ctx: Context) -> None:
    assert ctx.caller.creator_id is not None
    first, _, reason = ctx.args.strip().partition(" ")
    submission_id, reason = parse_id(first), reason.strip()
    if submission_id is None or not reason:
        await _answer(ctx, "disputes/usage")
        return
    opened = await disputes.open_dispute(ctx.caller.creator_id, submission_id, reason)
    campaign = await disputes.campaign_of(opened)
    await _answer(ctx, "disputes/queued", dispute=opened, campaign=campaign)
    for person_id in await managers_of(campaign.brand_id):  # type: ignore[attr-defined]
        await ctx.notify(
            person_id,
            "disputes/alert",
            dispute=opened,
            campaign=campaign,
            creator_name=ctx.caller.name,
        )


@router.command("disputes", keywords=("申诉列表",), role=Role.MANAGER)
async def list_disputes(ctx: Context) -> None:
    code = ctx.args.strip()
    campaign = await campaigns.managed_campaign(ctx.caller, code) if code else None
    items, total = await disputes.open_disputes(ctx.caller, campaign)
    choices = [
        Choice(ctx.render("disputes/choice_label", dispute=d), f"/resolve {d.id}") for d in items
    ]
    await _answer(
        ctx, "disputes/list", disputes=items, total=total, campaign=campaign, choices=choices
    )


@router.command("resolve", keywords=("处理申诉",), role=Role.MANAGER)
async def resolve(ctx: Context) -> None:
    words = ctx.args.split(maxsplit=2)
    dispute_id = parse_id(words[0]) if words else None
    if dispute_id is None:
        await _answer(ctx, "disputes/resolve_usage")
        return
    if len(words) == 1:  # a choice from /disputes: the details and how to answer
        found = await disputes.managed_dispute(ctx.caller, dispute_id)
        await _answer(ctx, "disputes/detail", dispute=found)
        return
    try:
        amount_fen = parse_signed_yuan(words[1])
    except MoneyError:
        await _answer(ctx, "disputes/bad_amount", text=words[1][:40])
        return
    reason = words[2].strip() if len(words) > 2 else ""
    if not reason:
        await _answer(ctx, "disputes/resolve_usage")
        return
    done = await disputes.resolve(ctx.caller, dispute_id, amount_fen, reason, ctx.now)
    data = {"dispute": done.dispute, "campaign": done.campaign, "entry": done.entry}
    await ctx.notify(
        done.dispute.creator.person_id,  # type: ignore[attr-defined]
        "disputes/resolved_notice" if done.entry else "disputes/rejected_notice",
        **data,
    )
    await _answer(ctx, "disputes/resolved", **data)
