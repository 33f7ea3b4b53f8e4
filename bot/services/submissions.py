"""Post submissions: checks on the way in, the review queue, decisions and metrics."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.core.errors import UserError
from bot.core.identity import Role
from bot.core.ports import Notify
from bot.domain import checks as checks_rules
from bot.domain.captions import caption_from_share_text
from bot.domain.checks import Candidate, Check, Rules
from bot.domain.ids import possible_id
from bot.domain.links import Link, find_links, post_time
from bot.domain.pricing import ENGAGEMENT_FIELDS, Metrics
from bot.domain.statuses import ResolveStatus, SubmissionStatus
from bot.services import audit, ledger, quality
from bot.services.people import Caller, managers_of
from storage.models import (
    LATEST_COUNTERS,
    Campaign,
    Creator,
    MetricSnapshot,
    SocialAccount,
    Submission,
)

MAX_REASON = 500


@dataclass
class Submitted:
    submission: Submission
    link: Link
    checks: list[Check]
    auto_approved: bool = False


def caption_of(text: str) -> str | None:
    """What a pasted share text says besides its links (None when nothing)."""
    return caption_from_share_text(text, [link.url for link in find_links(text)]) or None


def pick_post_link(text: str) -> Link:
    """The one post link in a text, or a UserError saying what is wrong with it."""
    links = find_links(text)
    if not links:
        raise UserError("submissions/no_link")
    posts = [link for link in links if link.kind == "post"]
    if len(posts) > 1:
        raise UserError("submissions/several_links", count=len(posts))
    if posts:
        return posts[0]
    link = links[0]
    if link.platform is None:
        raise UserError("submissions/unsupported_link", url=link.url[:200])
    raise UserError(
        "submissions/not_a_post", url=link.url[:200], kind=link.kind, platform=link.platform
    )


async def submit(
    creator: Creator,
    campaign: Campaign,
    link: Link,
    source_platform: str,
    source_chat: str,
    now: datetime,
    caption: str | None = None,
    resolve: bool = False,
) -> Submitted:
    """Verify a post and store it with its checks; refuse a disallowed platform or a duplicate.

    Approved at once when the campaign allows it and every check passes. A short link is
    stored at once, `resolve_status="pending"`; with `resolve` (LINK_RESOLVE on) its `link`
    check stays unknown until bot.services.resolver has followed it."""
    rules = Rules.from_spec(campaign.spec, campaign.embargo_at, campaign.deadline_at)
    existing = await Submission.get_or_none(dedupe_key=link.dedupe_key)
    duplicate_of = None
    if existing is not None:
        duplicate_of = "own" if existing.creator_id == creator.id else "other"  # type: ignore[attr-defined]
    candidate = Candidate(
        link=link,
        submitted_at=now,
        caption=caption,
        posted_at=post_time(link),
        duplicate_of=duplicate_of,
        accounts=await _handles(creator.id, link.platform),
        resolution=ResolveStatus.PENDING if link.short and resolve else None,
    )
    checks = checks_rules.verify(candidate, rules)
    refused = checks_rules.refusal(checks)
    if refused is not None and refused.code == "platform":
        raise UserError(
            "submissions/platform_not_allowed", platform=link.platform, allowed=rules.platforms
        )
    if refused is not None:
        assert existing is not None
        raise _duplicate(existing, creator)
    auto = checks_rules.auto_approvable(checks, rules)
    try:
        submission = await Submission.create(
            campaign=campaign,
            creator=creator,
            platform=link.platform,
            url=link.url[:1000],
            canonical_url=link.canonical_url[:1000],
            post_id=link.post_id,
            dedupe_key=link.dedupe_key[:1100],
            status=SubmissionStatus.APPROVED if auto else SubmissionStatus.PENDING,
            decided_at=now if auto else None,
            flags=checks_rules.flags(checks),
            checks=[check.to_json() for check in checks],
            caption=caption,
            posted_at=candidate.posted_at,
            author=link.author[:200] if link.author else None,
            source_platform=source_platform,
            source_chat=source_chat,
            resolve_status=ResolveStatus.PENDING if link.short else None,
        )
    except IntegrityError:  # the same post arrived twice at once
        raise _duplicate(await Submission.get(dedupe_key=link.dedupe_key), creator) from None
    if auto:
        await audit.record(None, "submission.auto_approved", f"submission:{submission.id}")
        await ledger.reprice(creator.id, campaign.id, None, SubmissionStatus.APPROVED)
    return Submitted(submission, link, checks, auto)


async def alert_leak(
    submission: Submission, campaign: Campaign, creator_name: str, notify: Notify
) -> int:
    """A post flagged as a leak (before the embargo) is told to the brand's managers at once;
    returns how many were reached."""
    if "leak" not in submission.flags:
        return 0
    reached = 0
    for person_id in await managers_of(campaign.brand_id):  # type: ignore[attr-defined]
        reached += await notify(
            person_id,
            "submissions/leak_alert",
            submission=submission,
            campaign=campaign,
            creator_name=creator_name,
        )
    return reached


async def _handles(creator_id: int, platform: str | None) -> tuple[str, ...]:
    accounts = await SocialAccount.filter(creator_id=creator_id, platform=platform).values_list(
        "handle", flat=True
    )
    return tuple(str(a) for a in accounts)


async def apply_resolution(
    submission_id: int,
    outcome: str,
    link: Link | None,
    final_url: str | None,
    reason: str,
    max_attempts: int,
) -> Submission | None:
    """Record where a pending short link led (bot.services.resolver) and verify it again.

    `outcome` is post (then `link` is the post), not_post, failed, or retry (a timeout or a
    network error: counted, and failed after `max_attempts`); `reason` says which (profile,
    loop, timeout …). A post already submitted as
    another submission is kept and flagged `duplicate` for review, never deleted; nothing here
    changes the status or money. Returns the submission, or None when it was not pending."""
    submission = await Submission.get_or_none(
        id=submission_id, resolve_status=ResolveStatus.PENDING
    )
    if submission is None:
        return None
    submission.resolve_attempts += 1
    if outcome == "retry" and submission.resolve_attempts < max_attempts:
        await Submission.filter(id=submission.id, resolve_status=ResolveStatus.PENDING).update(
            resolve_attempts=submission.resolve_attempts
        )
        return submission
    campaign = await Campaign.get(id=submission.campaign_id)  # type: ignore[attr-defined]
    original = find_links(submission.url)
    post = link if outcome == "post" and link is not None else None
    used = post or (original[0] if original else None)
    if used is None:  # the stored URL no longer parses: leave the row as it is
        return None
    if post is not None:
        status = ResolveStatus.RESOLVED
    elif outcome == "not_post":
        status = ResolveStatus.NOT_POST
    else:
        status = ResolveStatus.FAILED
    detail = {"reason": reason, "url": (final_url or "")[:300]}
    duplicate = None
    if post is not None:
        duplicate = (
            await Submission.filter(dedupe_key=post.dedupe_key).exclude(id=submission.id).first()
        )
    candidate = Candidate(
        link=used,
        submitted_at=submission.created_at,
        caption=submission.caption,
        posted_at=post_time(used) if post else submission.posted_at,
        duplicate_of=None
        if duplicate is None
        else ("own" if duplicate.creator_id == submission.creator_id else "other"),  # type: ignore[attr-defined]
        accounts=await _handles(submission.creator_id, used.platform),  # type: ignore[attr-defined]
        resolution=status,
        resolve_detail=detail,
    )
    rules = Rules.from_spec(campaign.spec, campaign.embargo_at, campaign.deadline_at)
    checks = checks_rules.verify(candidate, rules)
    if duplicate is not None:
        checks = [
            Check(c.code, c.status, {**c.detail, "id": duplicate.id})
            if c.code == "duplicate"
            else c
            for c in checks
        ]
    changes: dict[str, Any] = {
        "resolve_status": status,
        "resolve_attempts": submission.resolve_attempts,
        "resolved_url": (final_url or None) and str(final_url)[:1000],
        "checks": [check.to_json() for check in checks],
        "flags": checks_rules.flags(checks) + (["duplicate"] if duplicate else []),
    }
    if post is not None:
        changes.update(
            canonical_url=post.canonical_url[:1000],
            post_id=post.post_id,
            posted_at=candidate.posted_at,
            author=post.author[:200] if post.author else None,
        )
    if post is not None and duplicate is None:
        # the resolved key replaces the short one, unless someone took it meanwhile
        with contextlib.suppress(IntegrityError):
            await Submission.filter(id=submission.id).update(dedupe_key=post.dedupe_key[:1100])
    await Submission.filter(id=submission.id).update(**changes)
    await audit.record(None, f"submission.link_{status}", f"submission:{submission.id}", **detail)
    return await Submission.get(id=submission.id)


def stored_checks(submission: Submission) -> list[Check]:
    return [Check.from_json(item) for item in submission.checks or []]


def _duplicate(existing: Submission, creator: Creator) -> UserError:
    if existing.creator_id == creator.id:  # type: ignore[attr-defined]
        return UserError("submissions/duplicate_own", id=existing.id, status=existing.status)
    return UserError("submissions/duplicate_other")


async def review_queue(
    caller: Caller, campaign_code: str | None, limit: int
) -> tuple[list[Submission], int]:
    """Pending submissions on brands the caller manages, oldest first, and how many in all."""
    query = Submission.filter(status=SubmissionStatus.PENDING)
    if not caller.is_admin:
        query = query.filter(campaign__brand_id__in=list(caller.brand_ids(Role.MANAGER)) or [0])
    if campaign_code:
        query = query.filter(campaign__code=campaign_code.strip().upper())
    total = await query.count()
    items = await query.order_by("id").limit(limit).prefetch_related("campaign", "creator__person")
    return items, total


async def managed_submission(caller: Caller, submission_id: int) -> Submission:
    if not possible_id(submission_id):
        raise UserError("submissions/unknown", id=submission_id)
    submission = await Submission.get_or_none(id=submission_id).prefetch_related(
        "campaign", "creator__person"
    )
    if submission is None or not caller.manages(submission.campaign.brand_id):  # type: ignore[attr-defined]
        raise UserError("submissions/unknown", id=submission_id)
    return submission


async def decide(
    caller: Caller, submission_id: int, approve: bool, reason: str, now: datetime
) -> Submission:
    async with in_transaction():
        submission = await managed_submission(caller, submission_id)
        # A pending post is approved or rejected; an approved one may still be rejected (its
        # accruals are then reversed in the ledger).
        was = submission.status
        if was != SubmissionStatus.PENDING and (approve or was != SubmissionStatus.APPROVED):
            raise UserError("review/already_decided", id=submission.id, status=submission.status)
        submission.status = SubmissionStatus.APPROVED if approve else SubmissionStatus.REJECTED
        submission.reason = reason[:MAX_REASON] or None
        submission.decided_at = now
        submission.decided_by_id = caller.person_id  # type: ignore[attr-defined]
        # Only a still-pending row changes: a concurrent decision wins once.
        changed = await Submission.filter(id=submission.id, status=was).update(
            status=submission.status,
            reason=submission.reason,
            decided_at=now,
            decided_by_id=caller.person_id,
        )
        if not changed:
            raise UserError("review/already_decided", id=submission.id, status="decided")
        await audit.record(
            caller.person_id,
            f"submission.{submission.status}",
            f"submission:{submission.id}",
            reason=reason,
        )
    await ledger.reprice(
        submission.creator_id,  # type: ignore[attr-defined]
        submission.campaign_id,  # type: ignore[attr-defined]
        caller.person_id,
        submission.status,
    )
    return submission


async def own_submission(creator_id: int, submission_id: int) -> Submission:
    """A creator's own submission; someone else's looks exactly like a missing one."""
    if not possible_id(submission_id):
        raise UserError("submissions/unknown", id=submission_id)
    submission = await Submission.get_or_none(
        id=submission_id, creator_id=creator_id
    ).prefetch_related("campaign")
    if submission is None:
        raise UserError("submissions/unknown", id=submission_id)
    return submission


async def record_metrics(
    submission: Submission, values: dict[str, int], reported_by: int, source: str = "creator"
) -> MetricSnapshot:
    """A new snapshot; fields not given keep their last reported value."""
    last = await latest_metrics(submission.id)
    merged = {name: values.get(name, getattr(last, name)) for name in Metrics.__dataclass_fields__}
    snapshot = await MetricSnapshot.create(
        submission=submission, source=source, reported_by_id=reported_by, **merged
    )
    await mark_latest(submission.id, snapshot)
    # Flags for review (bot.services.quality); they never change what is paid.
    await quality.refresh(submission.id, snapshot)
    # The ledger reads the post's current status itself (this instance may be stale).
    await ledger.reprice(
        submission.creator_id,  # type: ignore[attr-defined]
        submission.campaign_id,  # type: ignore[attr-defined]
        reported_by,
        "metrics",
    )
    return snapshot


async def mark_latest(submission_id: int, snapshot: MetricSnapshot) -> None:
    """`submissions.latest_snapshot_id` (and its engagement and counters, which the digest
    ranks by and sums) only moves forward: of two reports at once, the newer snapshot stays the
    post's latest whichever UPDATE lands last."""
    await Submission.filter(
        Q(latest_snapshot_id__isnull=True) | Q(latest_snapshot_id__lt=snapshot.id),
        id=submission_id,
    ).update(
        latest_snapshot_id=snapshot.id,
        latest_engagement=sum(getattr(snapshot, name) for name in ENGAGEMENT_FIELDS),
        **{f"latest_{name}": getattr(snapshot, name) for name in LATEST_COUNTERS},
    )


async def latest_metrics(submission_id: int) -> Metrics:
    snapshot = await MetricSnapshot.filter(submission_id=submission_id).order_by("-id").first()
    if snapshot is None:
        return Metrics()
    return Metrics(**{name: getattr(snapshot, name) for name in Metrics.__dataclass_fields__})
