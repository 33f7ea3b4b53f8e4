"""/start CODE (onboarding) and /me."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.identity import Role
from bot.core.registry import Router
from bot.flows.onboarding import Onboarding
from bot.services import audit, creators, invites, people

router = Router()


@router.command("start", keywords=("报名",), in_groups=False)
async def start(ctx: Context) -> None:
    code = ctx.args.split()[0] if ctx.args.split() else ""
    if ctx.in_group:
        await ctx.reply("onboarding/dm_me", code=code)
        return
    if not code:
        template = "onboarding/welcome_back" if ctx.caller.creator_id else "onboarding/need_code"
        await ctx.reply(template, caller=ctx.caller)
        return
    invite = await invites.usable_invite(code, ctx.now)
    if invite.role != Role.CREATOR.value:
        await people.join_staff_via(ctx.caller.person_id, invite)
        await audit.record(ctx.caller.person_id, "invite.redeem", invite.code, role=invite.role)
        await ctx.reply("onboarding/staff_joined", role=invite.role, brand=invite.brand)
        return
    if ctx.caller.creator_id:
        creator = await creators.creator_by_id(ctx.caller.creator_id)
        campaign = await creators.join_brand_via(creator, invite)
        await ctx.reply("onboarding/joined_again", brand=invite.brand, campaign=campaign)
        return
    await ctx.start_flow(Onboarding, {"invite": invite.code, "brand": invite.brand.name})


@router.command("me", keywords=("我的",), role=Role.CREATOR)
async def me(ctx: Context) -> None:
    assert ctx.caller.creator_id is not None
    profile = await creators.profile(ctx.caller.creator_id)
    await ctx.reply_private(
        "onboarding/me", note="onboarding/me_sent_privately", profile=profile, caller=ctx.caller
    )
