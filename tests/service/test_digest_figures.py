"""The digest's engagement figures equal a plain reading of the snapshots: each post's newest
snapshot now and as of the window's start, summed per campaign (another campaign's posts, and
posts measured before the window only, never move the change)."""

from __future__ import annotations

import importlib.util
import os
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from tortoise import Tortoise

from bot.app import App
from bot.core.clock import ManualClock
from bot.domain.pricing import ENGAGEMENT_FIELDS
from bot.services.digests import COUNTERS, campaign_digest
from bot.services.submissions import mark_latest, record_metrics
from storage.db import MIGRATIONS_DIR
from storage.models import Campaign, Creator, Enrollment, MetricSnapshot, Submission
from tests.conftest import MANAGER_SETUP, POSTGRES_ENV, Chat
from tests.factories import enroll_creators
from tests.service.test_storage import needs_postgres, rerun_on_postgres


async def post(campaign: Campaign, creator_id: int, n: int) -> Submission:
    url = f"https://www.xiaohongshu.com/explore/{campaign.id:04x}{n:020x}"
    return await Submission.create(
        campaign=campaign, creator_id=creator_id, platform="xiaohongshu", url=url,
        canonical_url=url, dedupe_key=url, status="approved", source_platform="console",
        source_chat="dm",
    )  # fmt: skip


async def measure(submission: Submission, reporter: int, **values: int) -> None:
    await record_metrics(submission, values, reporter)


async def newest_by_post(campaign: Campaign, until: datetime | None = None) -> dict[int, dict]:
    """Each post's newest snapshot (highest id), read row by row: the reference."""
    newest: dict[int, dict] = {}
    rows = (
        await MetricSnapshot.filter(submission__campaign_id=campaign.id)
        .order_by("id")
        .values("submission_id", "created_at", *COUNTERS)
    )
    for row in rows:
        if until is None or row["created_at"] <= until:
            newest[row["submission_id"]] = row
    return newest


def summed(snapshots: dict[int, dict]) -> dict[str, int]:
    return {c: sum(s[c] for s in snapshots.values()) for c in COUNTERS}


async def expected(campaign: Campaign, now: datetime, days: int) -> dict:
    latest = await newest_by_post(campaign)
    before = await newest_by_post(campaign, now - timedelta(days=days))
    totals, then = summed(latest), summed(before)
    engagement = {post_id: sum(s[c] for c in ENGAGEMENT_FIELDS) for post_id, s in latest.items()}
    creator_of = dict(
        await Submission.filter(campaign_id=campaign.id).values_list("id", "creator_id")
    )
    by_creator: dict[int, int] = defaultdict(int)
    for post_id, value in engagement.items():
        by_creator[creator_of[post_id]] += value
    names = dict(await Creator.all().values_list("id", "person__display_name"))
    return {
        "totals": totals,
        "change": {c: totals[c] - then[c] for c in COUNTERS},
        "top_posts": [
            (post_id, value)
            for post_id, value in sorted(engagement.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        ],
        "top_creators": [
            (names[creator], value)
            for creator, value in sorted(by_creator.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        ],
    }


def figures_of(digest: dict) -> dict:
    return {
        "totals": digest["totals"],
        "change": digest["change"],
        "top_posts": [(p["id"], p["engagement"]) for p in digest["top_posts"]],
        "top_creators": [(c["name"], c["engagement"]) for c in digest["top_creators"]],
    }


async def two_campaigns(chat: Chat) -> tuple[Campaign, Campaign]:
    """SPRING26 as the manager set it up, and another campaign of the brand beside it."""
    await chat.say(*MANAGER_SETUP)
    spring = await Campaign.get(code="SPRING26")
    other = await Campaign.create(
        code="OTHER26", brand_id=spring.brand_id, name="other", timezone=spring.timezone,  # type: ignore[attr-defined]
        event_at=spring.event_at, embargo_at=spring.embargo_at, deadline_at=spring.deadline_at,
        spec=spring.spec,
    )  # fmt: skip
    return spring, other


async def test_engagement_figures_follow_each_posts_newest_snapshot(
    app: App, chat: Chat, clock: ManualClock
) -> None:
    spring, other = await two_campaigns(chat)
    creators = await enroll_creators("SPRING26", 6, clock.now())
    for creator_id in creators:
        await Enrollment.create(campaign=other, creator_id=creator_id)
    reporter = (await Creator.get(id=creators[0])).person_id  # type: ignore[attr-defined]
    posts = [await post(spring, creators[i % 6], i) for i in range(8)]
    elsewhere = [await post(other, creators[i % 6], 100 + i) for i in range(3)]

    # Two days ago: half the posts measured; the other campaign too.
    for i, submission in enumerate(posts[:4]):
        await measure(submission, reporter, likes=10 * i + 1, comments=i, shares=1, views=100)
    for submission in elsewhere:
        await measure(submission, reporter, likes=500, views=9000)
    clock.advance(timedelta(days=2))
    # Within the last day: a post measured twice, another once more, two for the first time,
    # and the other campaign's posts again; posts[0] and posts[1] keep their old numbers.
    await measure(posts[2], reporter, likes=40, favorites=3)
    await measure(posts[2], reporter, likes=45, comments=9)
    await measure(posts[3], reporter, likes=5)  # a post can lose engagement too
    await measure(posts[4], reporter, likes=70, views=50)
    await measure(posts[5], reporter, likes=33, shares=2)
    for submission in elsewhere:
        await measure(submission, reporter, likes=800)
    clock.advance(timedelta(hours=1))
    now = clock.now()

    daily = await campaign_digest(spring, now)
    assert figures_of(daily) == await expected(spring, now, days=1)
    assert daily["change"]["likes"] == (45 - 21) + (5 - 31) + 70 + 33
    weekly = await campaign_digest(spring, now, days=7)
    assert figures_of(weekly) == await expected(spring, now, days=7)
    assert weekly["change"] == weekly["totals"]  # everything was measured within the week
    assert figures_of(await campaign_digest(other, now)) == await expected(other, now, days=1)


async def test_a_campaign_without_posts_has_zero_figures(app: App, chat: Chat) -> None:
    await chat.say(*MANAGER_SETUP)
    digest = await campaign_digest(await Campaign.get(code="SPRING26"), app.clock.now())
    assert digest["enrolled"] == digest["new_creators"] == digest["silent"] == 0
    assert digest["posts"] == digest["new_posts"] == digest["pending"] == digest["leaks"] == 0
    assert digest["by_status"] == {} and digest["oldest_pending_hours"] is None
    assert digest["totals"] == digest["change"] == dict.fromkeys(COUNTERS, 0)
    assert digest["top_posts"] == digest["top_creators"] == []


async def test_a_posts_latest_snapshot_only_moves_forward(
    app: App, chat: Chat, clock: ManualClock
) -> None:
    """Two reports at once: whichever UPDATE lands last, the newer snapshot stays the latest,
    so the digest reads the same numbers the ledger prices (the highest id)."""
    await chat.say(*MANAGER_SETUP)
    spring = await Campaign.get(code="SPRING26")
    [creator_id] = await enroll_creators("SPRING26", 1, clock.now())
    reporter = (await Creator.get(id=creator_id)).person_id  # type: ignore[attr-defined]
    submission = await post(spring, creator_id, 1)
    await measure(submission, reporter, likes=1)
    await measure(submission, reporter, likes=7)
    older, newer = await MetricSnapshot.filter(submission_id=submission.id).order_by("id")
    await mark_latest(submission.id, older)  # the slower of the two reports, landing last
    latest = await Submission.get(id=submission.id)
    assert (latest.latest_snapshot_id, latest.latest_engagement) == (newer.id, 7)
    digest = await campaign_digest(spring, clock.now())
    assert digest["totals"]["likes"] == 7
    assert [p["engagement"] for p in digest["top_posts"]] == [7]


async def test_creator_figures_count_the_enrolled_the_new_and_the_silent(
    app: App, chat: Chat, clock: ManualClock
) -> None:
    """Silent: enrolled and active, with no post that counts (a rejected one does not; a post
    in another campaign does not). New: enrolled within the window."""
    spring, other = await two_campaigns(chat)
    creators = await enroll_creators("SPRING26", 5, clock.now())
    posting, rejected, elsewhere, _quiet, late = creators
    await post(spring, posting, 1)
    await post(spring, rejected, 2)
    await Submission.filter(campaign_id=spring.id, creator_id=rejected).update(status="rejected")
    await Enrollment.create(campaign=other, creator_id=elsewhere)
    await post(other, elsewhere, 3)
    clock.advance(timedelta(days=2))
    await Enrollment.filter(campaign_id=spring.id, creator_id=late).update(
        created_at=clock.now() - timedelta(hours=1)
    )  # new within the day
    digest = await campaign_digest(spring, clock.now())
    # Silent: all but "posting" (rejected, elsewhere, quiet and the late one).
    assert (digest["enrolled"], digest["new_creators"], digest["silent"]) == (5, 1, 4)


async def test_migration_7_gives_each_post_its_newest_counters(
    app: App, chat: Chat, clock: ManualClock
) -> None:
    spring, _ = await two_campaigns(chat)
    [creator_id] = await enroll_creators("SPRING26", 1, clock.now())
    reporter = (await Creator.get(id=creator_id)).person_id  # type: ignore[attr-defined]
    measured, silent = await post(spring, creator_id, 1), await post(spring, creator_id, 2)
    await measure(measured, reporter, likes=3, views=9)
    await measure(measured, reporter, likes=5, comments=2, shares=1, favorites=4, views=40)
    await Submission.all().update(**{f"latest_{c}": 0 for c in COUNTERS})  # before migration 7
    path = next((MIGRATIONS_DIR / "models").glob("7_*.py"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    await Tortoise.get_connection("default").execute_script(migration.BACKFILL)
    counters = {
        submission.id: {c: getattr(submission, f"latest_{c}") for c in COUNTERS}
        for submission in await Submission.all()
    }
    assert counters == {
        measured.id: {"likes": 5, "comments": 2, "shares": 1, "favorites": 4, "views": 40},
        silent.id: dict.fromkeys(COUNTERS, 0),
    }


FIGURES_TESTS = ("tests/service/test_digest_figures.py",)


@needs_postgres
@pytest.mark.postgres
@pytest.mark.skipif(bool(os.environ.get(POSTGRES_ENV)), reason="already on PostgreSQL")
@pytest.mark.timeout(300)
def test_the_figures_hold_on_postgres_too() -> None:
    """The same on PostgreSQL: the creator figures are one raw statement for both dialects."""
    assert "5 passed, 1 skipped" in rerun_on_postgres(FIGURES_TESTS, 240)
