"""A creator's earnings, recomputed from approved posts and their latest metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.pricing import Metrics, PostEarning, Pricing, price_post
from bot.services.submissions import APPROVED, latest_metrics
from storage.models import Campaign, Submission


@dataclass
class PostLine:
    submission: Submission
    metrics: Metrics
    earning: PostEarning | None  # None: not approved (yet), earns nothing


@dataclass
class CampaignEarnings:
    campaign: Campaign
    pricing: Pricing
    posts: list[PostLine] = field(default_factory=list)

    @property
    def total_fen(self) -> int:
        return sum(p.earning.total_fen for p in self.posts if p.earning)


async def creator_earnings(creator_id: int) -> list[CampaignEarnings]:
    """Per campaign and per post; only the creator's own submissions are ever read."""
    submissions = (
        await Submission.filter(creator_id=creator_id)
        .order_by("campaign_id", "id")
        .prefetch_related("campaign")
    )
    result: dict[int, CampaignEarnings] = {}
    for submission in submissions:
        campaign = submission.campaign
        entry = result.get(campaign.id)
        if entry is None:
            entry = result[campaign.id] = CampaignEarnings(
                campaign, Pricing.from_spec(campaign.spec["pricing"])
            )
        metrics = await latest_metrics(submission.id)
        earning = price_post(entry.pricing, metrics) if submission.status == APPROVED else None
        entry.posts.append(PostLine(submission, metrics, earning))
    return list(result.values())
