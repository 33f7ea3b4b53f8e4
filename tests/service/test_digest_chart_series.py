"""The chart's series equal a plain reading of the rows: per local day, the posts made within it,
and the sum of each post's newest snapshot (the highest id taken by the day's end). Posts measured
before the chart's first day, several times a day, on the very boundary of a day, back in time
(a higher id with an earlier time), or for another campaign all land where that reading says."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.core.clock import ManualClock
from bot.domain.pricing import ENGAGEMENT_FIELDS
from bot.services.digests import CHART_DAYS, chart_series
from storage.models import Campaign, Creator, Submission
from tests.conftest import MANAGER_SETUP, POSTGRES_ENV, SHANGHAI, Chat
from tests.factories import enroll_creators
from tests.service.test_digest_figures import measure, newest_by_post, post, summed
from tests.service.test_storage import needs_postgres, rerun_on_postgres


def local(
    month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(2026, month, day, hour, minute, second, us, tzinfo=SHANGHAI)


def move_to(clock: ManualClock, when: datetime) -> None:
    clock.advance(when - clock.now())  # backwards too: the clock is the test's


async def read_series(campaign: Campaign, days: list[date], now: datetime) -> tuple[list, list]:
    """Submissions and engagement to date per day, from the rows one by one: the reference."""
    zone = ZoneInfo(campaign.timezone)
    made = await Submission.filter(campaign_id=campaign.id).values_list("created_at", flat=True)
    submissions, engagement = [], []
    for day in days:
        start = datetime.combine(day, time(0), zone)
        end = min(start + timedelta(days=1), now)
        submissions.append(sum(1 for t in made if start <= t < end))
        totals = summed(await newest_by_post(campaign, end))
        engagement.append(sum(totals[c] for c in ENGAGEMENT_FIELDS))
    return submissions, engagement


def days_from(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def test_chart_series_follow_each_posts_newest_snapshot_day_by_day(
    app: App, chat: Chat, clock: ManualClock
) -> None:
    await chat.say(*MANAGER_SETUP)  # 05-20 11:00 in Shanghai
    spring = await Campaign.get(code="SPRING26")
    chart = await Campaign.create(
        code="CHART26", brand_id=spring.brand_id, name="chart", timezone=spring.timezone,  # type: ignore[attr-defined]
        event_at=spring.event_at, embargo_at=spring.embargo_at, spec=spring.spec,
        deadline_at=local(6, 30, 23, 59), created_at=local(5, 22, 9),
    )  # fmt: skip
    creators = await enroll_creators("SPRING26", 3, clock.now())
    reporter = (await Creator.get(id=creators[0])).person_id  # type: ignore[attr-defined]

    async def post_at(when: datetime, campaign: Campaign, n: int) -> Submission:
        move_to(clock, when)
        return await post(campaign, creators[n % 3], n)

    async def measure_at(when: datetime, submission: Submission, **values: int) -> None:
        move_to(clock, when)
        await measure(submission, reporter, **values)

    # Before the campaign (the chart's first day) was created: two posts, measured.
    a = await post_at(local(5, 20, 12), chart, 1)
    b = await post_at(local(5, 20, 12), chart, 2)
    other = await post_at(local(5, 20, 12), spring, 3)  # another campaign's: never counted
    await measure_at(local(5, 20, 15), a, likes=5, views=1000)  # views are not engagement
    await measure_at(local(5, 21, 10), b, likes=7, comments=1)
    await measure_at(local(5, 21, 10), other, likes=900)
    # The first day, up to its last instant and on its very end (local midnight).
    c = await post_at(local(5, 22, 9, 30), chart, 4)
    e = await post_at(local(5, 22, 9, 30), chart, 5)
    await measure_at(local(5, 22, 10), a, likes=20)
    await measure_at(local(5, 22, 10), e, likes=100)
    d = await post_at(local(5, 22, 23, 59, 59), chart, 6)  # made on the 22nd
    await measure_at(local(5, 22, 23, 59, 59, 999_999), c, likes=3)
    await post_at(local(5, 23), chart, 7)  # made at midnight: the 23rd's
    await measure_at(local(5, 23), c, likes=4)  # taken at the 22nd's end: counts for it
    # Twice in a day; another campaign the same day.
    await measure_at(local(5, 23, 8), a, likes=30)
    await measure_at(local(5, 23, 20), a, likes=35)
    await measure_at(local(5, 23, 20), other, likes=950)
    # Back in time: d's second snapshot has the higher id but the earlier time, so it is the
    # newest from the 23rd on and the first one (taken on the 24th) never is.
    await measure_at(local(5, 24, 12), d, likes=50)
    await measure_at(local(5, 23, 12), d, likes=40)
    await measure_at(local(5, 24, 12), e, likes=10)  # engagement can fall
    await measure_at(local(5, 25), a, likes=60)  # the 24th's end
    # Weeks later: past CHART_DAYS, up to the deadline's day and beyond it.
    await measure_at(local(6, 15, 10), b, likes=70)
    await measure_at(local(6, 30, 23, 59), e, likes=15)
    await measure_at(local(7, 1), c, likes=8)  # the deadline day's end: counts for it
    await measure_at(local(7, 1, 8), a, likes=99)  # after the chart's last day
    await post_at(local(7, 1, 8), chart, 8)

    async def check(campaign: Campaign, now: datetime, days: list[date]) -> list[int]:
        series = await chart_series(campaign, now)
        assert series.days == days
        assert (series.submissions, series.engagement) == await read_series(campaign, days, now)
        return series.engagement

    # Today (the 24th) ends now: d's 12:00 snapshot and e's fall are in, a's midnight one not.
    now = local(5, 24, 12)
    assert await check(chart, now, days_from(date(2026, 5, 22), date(2026, 5, 24))) == [
        20 + 8 + 4 + 100,  # a, b (measured before the first day), c at midnight, e
        35 + 8 + 4 + 40 + 100,  # a's second that day, d's newest by id
        35 + 8 + 4 + 40 + 10,
    ]
    assert (await chart_series(chart, now)).submissions == [3, 1, 0]
    engagement = await check(
        chart, local(5, 26, 9), days_from(date(2026, 5, 22), date(2026, 5, 26))
    )
    assert engagement[2] == 60 + 8 + 4 + 40 + 10  # a's snapshot at the 24th's end
    # After the deadline: the last CHART_DAYS days up to the deadline's, all measured before.
    cut = days_from(date(2026, 6, 30) - timedelta(days=CHART_DAYS - 1), date(2026, 6, 30))
    assert cut[0] == date(2026, 5, 31)
    engagement = await check(chart, local(7, 1, 10), cut)
    assert engagement[0] == 60 + 8 + 4 + 40 + 10
    assert engagement[-1] == 60 + (70 + 1) + 8 + 40 + 15  # b keeps its comment
    await check(spring, local(7, 1, 10), days_from(date(2026, 5, 20), date(2026, 5, 27)))
    # Before the campaign was created there is no day to chart.
    empty = await chart_series(chart, local(5, 21, 12))
    assert (empty.days, empty.submissions, empty.engagement) == ([], [], [])


async def test_a_campaign_without_posts_charts_zeros(chat: Chat, clock: ManualClock) -> None:
    await chat.say(*MANAGER_SETUP)
    clock.advance(timedelta(days=2))
    series = await chart_series(await Campaign.get(code="SPRING26"), clock.now())
    assert series.days == days_from(date(2026, 5, 20), date(2026, 5, 22))
    assert series.submissions == series.engagement == [0, 0, 0]


CHART_TESTS = (
    "tests/service/test_digest_chart_series.py",
    "tests/e2e/test_digest.py::test_the_digest_carries_a_png_chart_of_the_campaign",
)


@needs_postgres
@pytest.mark.postgres
@pytest.mark.skipif(bool(os.environ.get(POSTGRES_ENV)), reason="already on PostgreSQL")
@pytest.mark.timeout(300)
def test_chart_series_hold_on_postgres_too() -> None:
    """The same tests on PostgreSQL: the series' SQL is raw, written for both dialects."""
    assert "3 passed, 1 skipped" in rerun_on_postgres(CHART_TESTS, 240)
