"""/newcampaign (wizard or YAML file), /campaigns, /join, /brief, /invite."""

from __future__ import annotations

from datetime import timedelta

from bot.core.context import Context
from bot.core.identity import Role
from bot.core.registry import Router
from bot.domain.campaign_spec import CODE_PATTERN, SpecError, parse_campaign_yaml
from bot.domain.metrics import parse_count
from bot.domain.platforms import format_hashtag
from bot.domain.statuses import CampaignStatus
from bot.flows.campaign_wizard import CampaignWizard
from bot.services import audit, campaigns, creators, invites

INVITE_ROLES = (Role.CREATOR, Role.MANAGER, Role.BRAND)
MAX_INVITE_DAYS = 365
MAX_INVITE_USES = 1_000_000  # far above any programme; the column is a 32-bit integer

router = Router()


@router.command("newcampaign", keywords=("新建活动",), role=Role.MANAGER, in_groups=False)
async def new_campaign(ctx: Context) -> None:
    if ctx.incoming.attachments:
        await import_campaign_file(ctx)
        return
    await ctx.start_flow(CampaignWizard)


@router.document(suffixes=(".yaml", ".yml"), role=Role.MANAGER)
async def import_campaign_file(ctx: Context) -> None:
    attachment = ctx.incoming.attachments[0]
    try:
        spec = parse_campaign_yaml(attachment.data, ctx.settings.timezone)
        campaign = await campaigns.create_campaign(spec, ctx.caller)
    except SpecError as error:
        await ctx.reply("campaigns/spec_problems", problems=error.problems, name=attachment.name)
        return
    await ctx.reply("campaigns/created", campaign=campaign, spec=campaign.spec)


@router.command("campaigns", keywords=("活动",))
async def list_campaigns(ctx: Context) -> None:
    if not ctx.caller.roles and not ctx.caller.creator_id:
        await ctx.reply("campaigns/no_role")
        return
    visible = await campaigns.visible_campaigns(ctx.caller)
    enrolled = set(await campaigns.enrolled_campaign_ids(ctx.caller.creator_id))
    rows = []
    for campaign in visible:
        row = {"campaign": campaign, "enrolled": campaign.id in enrolled, "stats": None}
        if ctx.caller.manages(campaign.brand_id):  # type: ignore[attr-defined]
            row["stats"] = await campaigns.manager_stats(campaign.id)
        rows.append(row)
    await ctx.reply("campaigns/list", rows=rows)


@router.command("join", keywords=("参加",), role=Role.CREATOR)
async def join(ctx: Context) -> None:
    assert ctx.caller.creator_id is not None
    if not ctx.args:
        await ctx.reply("campaigns/join_usage")
        return
    campaign = await campaigns.campaign_by_code(ctx.args.split()[0])
    if campaign.status != CampaignStatus.LIVE:
        await ctx.reply("campaigns/not_live", campaign=campaign)
        return
    if campaign.brand_id not in ctx.caller.brand_ids(Role.CREATOR):  # type: ignore[attr-defined]
        await ctx.reply("campaigns/not_open", campaign=campaign)
        return
    creator = await creators.creator_by_id(ctx.caller.creator_id)
    created = await campaigns.enroll(creator, campaign)
    await ctx.reply(
        "campaigns/joined" if created else "campaigns/already_joined", campaign=campaign
    )


@router.command("brief", keywords=("简报",), role=Role.CREATOR)
async def brief(ctx: Context) -> None:
    assert ctx.caller.creator_id is not None
    code = ctx.args.split()[0] if ctx.args.split() else None
    campaign = await campaigns.creator_campaign(ctx.caller.creator_id, code, "brief")
    spec = campaign.spec
    kits = {
        platform: [format_hashtag(platform, tag) for tag in spec["hashtags"]["required"]]
        for platform in spec["platforms"]
    }
    await ctx.reply("campaigns/brief", campaign=campaign, spec=spec, kits=kits, now=ctx.now)


@router.command("invite", keywords=("邀请",), role=Role.MANAGER)
async def invite(ctx: Context) -> None:
    parts = ctx.args.split()
    if not parts:
        await ctx.reply("campaigns/invite_usage")
        return
    campaign = await campaigns.managed_campaign(ctx.caller, parts[0])
    role, max_uses, days, code = Role.CREATOR, None, None, None
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if not value and key.lower() in {r.value for r in INVITE_ROLES}:
            role = Role(key.lower())
        elif key == "code" and CODE_PATTERN.match(value):
            code = value.upper()
        elif (
            key in ("max", "uses")
            and (count := parse_count(value))
            and 0 < count <= MAX_INVITE_USES
        ):
            max_uses = count
        elif key == "days" and (count := parse_count(value)) and 0 < count <= MAX_INVITE_DAYS:
            days = count
        else:
            await ctx.reply("campaigns/invite_usage")
            return
    expires_at = ctx.now + timedelta(days=days) if days else None
    created = await invites.create_invite(
        campaign.brand, campaign, role, ctx.caller.person_id, max_uses, expires_at, code
    )
    await audit.record(
        ctx.caller.person_id, "invite.create", created.code, campaign=campaign.code, role=role.value
    )
    telegram_bot = ctx.bot_username("telegram")
    await ctx.reply(
        "campaigns/invite_created", invite=created, campaign=campaign, telegram_bot=telegram_bot
    )
