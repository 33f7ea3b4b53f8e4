"""Points and levels on storage: Creator.points is recomputed from the creator's posts
(bot.domain.points); leaderboards per campaign or across the caller's brands. Never money."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.errors import UserError
from bot.core.identity import Role
from bot.domain.points import Level, PostFacts, level_for, on_time, rank, total_points
from bot.domain.statuses import EnrollmentStatus, SubmissionStatus
from bot.services import campaigns
from bot.services.people import Caller
from storage.models import Campaign, Creator, Enrollment, MetricSnapshot, Submission

BOARD_SIZE = 20


async def _facts(submission: Submission, campaign: Campaign) -> PostFacts:
    if submission.status != SubmissionStatus.APPROVED:
        return PostFacts(False)
    at = submission.posted_at or submission.created_at
    snapshot = await MetricSnapshot.filter(submission_id=submission.id).order_by("-id").first()
    engagements = (
        snapshot.likes + snapshot.comments + snapshot.shares + snapshot.favorites if snapshot else 0
    )
    return PostFacts(True, on_time(campaign.embargo_at, campaign.deadline_at, at), engagements)


async def campaign_points(creator_id: int, campaign: Campaign) -> int:
    submissions = await Submission.filter(creator_id=creator_id, campaign_id=campaign.id)
    return total_points([await _facts(s, campaign) for s in submissions])


async def refresh(creator_id: int) -> int:
    """Recompute a creator's points from all their posts and store them; the new total."""
    submissions = await Submission.filter(creator_id=creator_id).prefetch_related("campaign")
    total = total_points([await _facts(s, s.campaign) for s in submissions])
    await Creator.filter(id=creator_id).update(points=total)
    return total


@dataclass
class BoardRow:
    place: int
    name: str
    points: int
    level: Level


@dataclass
class Board:
    campaign: Campaign | None
    rows: list[BoardRow]
    total: int  # creators on the board before it was cut to BOARD_SIZE


async def leaderboard(caller: Caller, code: str | None) -> Board:
    """Names, points and levels only. A campaign board counts that campaign's points; without
    a campaign, the total points of the creators in the caller's brands' campaigns."""
    if code:
        campaign = await campaigns.campaign_by_code(code)
        enrolled = caller.creator_id is not None and await Enrollment.exists(
            campaign_id=campaign.id, creator_id=caller.creator_id
        )
        if not enrolled and not caller.can_view_brand(campaign.brand_id):  # type: ignore[attr-defined]
            raise UserError("campaigns/unknown", code=code.strip()[:40])
        creators = await Creator.filter(
            enrollments__campaign_id=campaign.id, enrollments__status=EnrollmentStatus.ACTIVE
        ).prefetch_related("person")
        scored = [(c, await campaign_points(c.id, campaign)) for c in creators]
    else:
        campaign = None
        if caller.is_admin:
            brand_ids = set(await Campaign.all().values_list("brand_id", flat=True))
        else:
            brand_ids = caller.brand_ids(Role.MANAGER, Role.BRAND)
            enrolled_ids = await campaigns.enrolled_campaign_ids(caller.creator_id)
            brand_ids |= set(
                await Campaign.filter(id__in=enrolled_ids or [0]).values_list("brand_id", flat=True)
            )
        creators = (
            await Creator.filter(
                enrollments__campaign__brand_id__in=list(brand_ids) or [0],
                enrollments__status=EnrollmentStatus.ACTIVE,
            )
            .distinct()
            .prefetch_related("person")
        )
        scored = [(c, c.points) for c in creators]
    scored.sort(key=lambda pair: pair[0].id)
    rows = [
        BoardRow(place, creator.person.display_name, points, level_for(creator.points))
        for place, creator, points in rank(scored)
    ]
    return Board(campaign, rows[:BOARD_SIZE], len(rows))
