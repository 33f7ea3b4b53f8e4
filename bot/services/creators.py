"""Creator profiles: registration from the onboarding answers, and what /me shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.core.errors import UserError
from bot.core.identity import Role
from bot.domain.statuses import CreatorKind, EnrollmentStatus
from bot.domain.tiers import compute_tier
from bot.services import campaigns, invites, people
from storage.models import Campaign, Creator, Invite, Person, SocialAccount


@dataclass
class Profile:
    creator: Creator
    accounts: list[SocialAccount]
    campaigns: list[Campaign]


async def register(
    person_id: int, answers: dict[str, Any], invite_code: str, now: datetime
) -> Creator:
    """Create the creator from onboarding answers, in one transaction with the invite's use."""
    async with in_transaction():
        invite = await invites.usable_invite(invite_code, now)
        if await Creator.exists(person_id=person_id):
            raise UserError("onboarding/already_creator")
        accounts = answers["accounts"]
        creator = await Creator.create(
            person_id=person_id,
            kind=CreatorKind(answers["kind"]),
            kos_type=answers.get("kos_type"),
            city=answers["city"],
            niches=answers["niches"],
            tier=compute_tier(a["followers"] for a in accounts),
            consent_at=now,
        )
        for account in accounts:
            await SocialAccount.get_or_create(
                creator=creator,
                platform=account["platform"],
                handle=account["handle"],
                defaults={"followers": account["followers"]},
            )
        await join_brand_via(creator, invite)
    return creator


async def join_brand_via(creator: Creator, invite: Invite) -> Campaign | None:
    """An existing creator redeems an invite: brand role and, for a campaign invite, enrollment."""
    await invites.redeem(invite)
    person = await Person.get(id=creator.person_id)  # type: ignore[attr-defined]
    await people.grant(person, Role.CREATOR, invite.brand, invite.created_by_id)  # type: ignore[attr-defined]
    campaign = invite.campaign
    if campaign is not None:
        await campaigns.enroll(creator, campaign, invite)
    return campaign


async def creator_by_id(creator_id: int) -> Creator:
    return await Creator.get(id=creator_id)


async def registered_platforms(creator_id: int) -> list[str]:
    """The platforms a creator registered accounts on (one entry per account)."""
    return await SocialAccount.filter(creator_id=creator_id).values_list(
        "platform", flat=True
    )  # type: ignore[return-value]


async def profile(creator_id: int) -> Profile:
    creator = await Creator.get(id=creator_id)
    accounts = await SocialAccount.filter(creator_id=creator_id).order_by("id")
    joined = await Campaign.filter(
        enrollments__creator_id=creator_id, enrollments__status=EnrollmentStatus.ACTIVE
    ).order_by("embargo_at")
    return Profile(creator, accounts, joined)
