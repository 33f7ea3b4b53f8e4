"""Fraud and quality flags (bot.domain.fraud) computed from storage and stored for review.

Run when metrics are recorded (a creator's /metrics, a manager's sheet) and when a short link
resolves. The flags a snapshot raised are kept on the snapshot (`MetricSnapshot.flags`); the
post's current ones on `Submission.metric_flags`, which /review shows. Money never reads them.
"""

from __future__ import annotations

from typing import Any

from bot.domain import fraud
from bot.domain.pricing import Metrics
from storage.models import MetricSnapshot, Submission

FIELDS = tuple(Metrics.__dataclass_fields__)


def _metrics(row: Any) -> Metrics:
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return Metrics(**{name: int(get(name) or 0) for name in FIELDS})


async def _latest_rates(query: Any, exclude: int) -> list[float]:
    """Engagement rates of the latest snapshot of each submission the query selects."""
    ids = await query.exclude(id=exclude).values_list("id", flat=True)
    if not ids:
        return []
    rows = (
        await MetricSnapshot.filter(submission_id__in=list(ids))
        .order_by("id")
        .values("submission_id", *FIELDS)
    )
    latest = {row["submission_id"]: row for row in rows}
    rates = (fraud.engagement_rate(_metrics(row)) for row in latest.values())
    return [rate for rate in rates if rate is not None]


async def refresh(
    submission_id: int, snapshot: MetricSnapshot | None = None
) -> list[dict[str, Any]]:
    """Assess a post again; store and return its flags. `snapshot` is the one just recorded
    (its own flags are stored on it); without one the latest is used."""
    submission = await Submission.get(id=submission_id)
    recent = await MetricSnapshot.filter(submission_id=submission_id).order_by("-id").limit(2)
    if snapshot is not None:
        older = [s for s in recent if s.id < snapshot.id]
        recent = [snapshot, *older[:1]]
    metrics = _metrics(recent[0]) if recent else Metrics()
    previous = _metrics(recent[1]) if len(recent) > 1 else None
    creator_id = submission.creator_id  # type: ignore[attr-defined]
    campaign_id = submission.campaign_id  # type: ignore[attr-defined]
    account_posts = account_creators = post_creators = 1
    if submission.author:
        same_account = Submission.filter(platform=submission.platform, author=submission.author)
        account_posts = await same_account.filter(campaign_id=campaign_id).count()
        account_creators = len(set(await same_account.values_list("creator_id", flat=True)))
    if submission.post_id:
        same_post = Submission.filter(platform=submission.platform, post_id=submission.post_id)
        post_creators = len(set(await same_post.values_list("creator_id", flat=True)))
    context = fraud.Context(
        previous=previous,
        creator_rates=await _latest_rates(Submission.filter(creator_id=creator_id), submission.id),
        campaign_rates=await _latest_rates(
            Submission.filter(campaign_id=campaign_id), submission.id
        ),
        account_posts=account_posts,
        account_creators=account_creators,
        post_creators=post_creators,
    )
    fresh = fraud.assess(metrics, context)
    if snapshot is not None:
        await MetricSnapshot.filter(id=snapshot.id).update(flags=[f.to_json() for f in fresh])
    flags = fraud.merge(submission.metric_flags or [], fresh)
    await Submission.filter(id=submission_id).update(metric_flags=flags)
    return flags
