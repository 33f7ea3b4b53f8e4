"""Brands, campaigns, their enrollments and linked groups."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.core.errors import UserError
from bot.core.identity import Role
from bot.core.messages import ChatRef, Choice
from bot.domain.campaign_spec import CODE_PATTERN, CampaignSpec, Problem, SpecError, shown_code
from bot.domain.statuses import CampaignStatus, EnrollmentStatus, SubmissionStatus
from bot.services import audit
from bot.services.people import Caller
from storage.models import Brand, Campaign, ChatGroup, Creator, Enrollment, Invite, Submission


async def brand_by_code(code: str) -> Brand | None:
    code = code.strip()
    return await Brand.get_or_none(code=code.upper()) if CODE_PATTERN.match(code) else None


async def ensure_brand(code: str) -> tuple[Brand, bool]:
    code = code.strip().upper()
    return await Brand.get_or_create(code=code, defaults={"name": code})


async def managed_brands(caller: Caller) -> list[Brand]:
    """The brands a caller may run campaigns for (admins: every brand), by code."""
    if caller.is_admin:
        return await Brand.all().order_by("code")
    return await Brand.filter(id__in=list(caller.brand_ids(Role.MANAGER)) or [0]).order_by("code")


async def create_campaign(spec: CampaignSpec, caller: Caller) -> Campaign:
    """Store a validated spec; nothing is saved when any check fails."""
    brand = await brand_by_code(spec.brand)
    if brand is None:
        raise SpecError([Problem("brand", "unknown_brand", spec.brand)])
    if not caller.manages(brand.id):
        raise SpecError([Problem("brand", "not_your_brand", spec.brand)])
    if await Campaign.exists(code=spec.code):
        raise SpecError([Problem("code", "taken", spec.code)])
    async with in_transaction():
        try:
            campaign = await Campaign.create(
                code=spec.code,
                brand=brand,
                name=spec.name,
                status=CampaignStatus.LIVE,
                timezone=spec.timezone,
                event_at=spec.event_at,
                embargo_at=spec.embargo_at,
                deadline_at=spec.deadline_at,
                currency=spec.pricing.currency,
                spec=spec.to_storage(),
                created_by_id=caller.person_id,
            )
        except IntegrityError:
            raise SpecError([Problem("code", "taken", spec.code)]) from None
        await audit.record(caller.person_id, "campaign.create", spec.code, brand=brand.code)
    return campaign


async def campaign_by_code(code: str) -> Campaign:
    """The one lookup of a campaign by the code a user typed (every command goes through it).

    A word that cannot be a code is unknown without a query: the column is varchar(32), and
    tortoise refuses a longer value with an error rather than finding nothing.
    """
    code = code.strip()
    campaign = (
        await Campaign.get_or_none(code=code.upper()).prefetch_related("brand")
        if CODE_PATTERN.match(code)
        else None
    )
    if campaign is None:
        raise UserError("campaigns/unknown", code=shown_code(code))
    return campaign


async def campaign_exists(code: str) -> bool:
    """Whether a campaign has this code; a word that cannot be one is answered without a query
    (as in campaign_by_code: the column is varchar(32))."""
    return bool(CODE_PATTERN.match(code)) and await Campaign.exists(code=code.upper())


async def campaign_timezone(campaign_id: int | None, default: str) -> str:
    """A campaign's time zone; `default` (the bot's TIMEZONE) when there is no campaign."""
    campaign = await Campaign.get_or_none(id=campaign_id) if campaign_id else None
    return campaign.timezone if campaign else default


async def managed_campaign(caller: Caller, code: str) -> Campaign:
    campaign = await campaign_by_code(code)
    if not caller.manages(campaign.brand_id):  # type: ignore[attr-defined]
        raise UserError("campaigns/not_yours", code=campaign.code)
    return campaign


async def visible_campaigns(caller: Caller) -> list[Campaign]:
    """Live campaigns of the caller's brands (admins see all), and those the caller is in."""
    query = Campaign.filter(status=CampaignStatus.LIVE)
    if not caller.is_admin:
        brand_ids = caller.brand_ids(Role.MANAGER, Role.BRAND, Role.CREATOR)
        enrolled = await enrolled_campaign_ids(caller.creator_id)
        # QuerySets do not combine with `|`; Q objects do (an empty IN matches nothing)
        query = query.filter(Q(brand_id__in=list(brand_ids) or [0]) | Q(id__in=enrolled or [0]))
    return await query.order_by("embargo_at").prefetch_related("brand")


async def enrolled_campaign_ids(creator_id: int | None) -> list[int]:
    if creator_id is None:
        return []
    return await Enrollment.filter(
        creator_id=creator_id, status=EnrollmentStatus.ACTIVE
    ).values_list("campaign_id", flat=True)  # type: ignore[return-value]


async def manager_stats(campaign_id: int) -> dict[str, int]:
    """What a manager sees of a campaign in /campaigns: creators enrolled, posts pending and
    approved."""
    return {
        "creators": await Enrollment.filter(campaign_id=campaign_id).count(),
        "pending": await Submission.filter(
            campaign_id=campaign_id, status=SubmissionStatus.PENDING
        ).count(),
        "approved": await Submission.filter(
            campaign_id=campaign_id, status=SubmissionStatus.APPROVED
        ).count(),
    }


async def enroll(creator: Creator, campaign: Campaign, invite: Invite | None = None) -> bool:
    """Enroll; False when already enrolled."""
    _, created = await Enrollment.get_or_create(
        campaign=campaign,
        creator=creator,
        defaults={"invite": invite, "status": EnrollmentStatus.ACTIVE},
    )
    return created


async def creator_campaign(
    creator_id: int, code: str | None, command: str, then: str = ""
) -> Campaign:
    """The campaign a creator means: the one named, or their only live one; else ask which."""
    if code:
        campaign = await campaign_by_code(code)
        if not await Enrollment.exists(campaign_id=campaign.id, creator_id=creator_id):
            raise UserError("campaigns/not_enrolled", code=campaign.code)
        return campaign
    campaigns = await Campaign.filter(
        status=CampaignStatus.LIVE,
        enrollments__creator_id=creator_id,
        enrollments__status=EnrollmentStatus.ACTIVE,
    ).order_by("embargo_at")
    if not campaigns:
        raise UserError("campaigns/none_enrolled")
    if len(campaigns) == 1:
        return campaigns[0]
    raise UserError(
        "campaigns/which",
        choices=[
            Choice(f"{c.code} {c.name}", f"/{command} {c.code} {then}".strip()) for c in campaigns
        ],
        command=command,
    )


async def link_group(campaign: Campaign, chat: ChatRef) -> ChatGroup:
    """The group chat now belongs to the campaign (and its brand): it hears the campaign's GO."""
    group, _ = await ChatGroup.get_or_create(
        platform=chat.platform,
        chat_id=chat.chat_id,
        defaults={"title": (chat.title or chat.chat_id)[:200]},
    )
    group.campaign_id = campaign.id  # type: ignore[attr-defined]
    group.brand_id = campaign.brand_id  # type: ignore[attr-defined]
    await group.save(update_fields=["campaign_id", "brand_id"])
    return group


async def linked_campaign_code(platform: str, chat_id: str) -> str | None:
    """The code of the campaign a group chat is linked to, if any."""
    group = await ChatGroup.get_or_none(platform=platform, chat_id=chat_id)
    if group and group.campaign_id:  # type: ignore[attr-defined]
        return (await Campaign.get(id=group.campaign_id)).code  # type: ignore[attr-defined]
    return None
