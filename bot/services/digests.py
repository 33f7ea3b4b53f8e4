"""The daily digest: per live campaign, figures from SQL aggregates (no Python loop over rows),
rendered from digest/digest.j2; subscriptions fire from the scheduler once a day at their time.

One aggregate query per section: the posts by status (with new, pending, leaks and the
engagement totals), the enrollments (with new and silent), the top posts, the top creators.
Engagement is each post's newest metric snapshot, `submissions.latest_snapshot_id` (with its
engagement and counters, `latest_engagement` and `latest_<counter>`, all kept by
record_metrics). "Since yesterday" sums only the posts measured in the window, as they are
now and as they were then (the newest snapshot taken by then). Spend is what the ledger has
accrued (bot.services.ledger.campaign_spent).

The chart (bot/services/digest_chart.py) goes with the digest as a PNG file, one per campaign,
written under `EXPORT_DIR/charts/`; its series (at most CHART_DAYS days) are two aggregates:
the submissions counted by day in one GROUP BY, and the engagement of every day in one
pass over the campaign's snapshots (see _engagement_per_day). On Mondays (the subscription's
local date) a subscribed chat also gets the weekly summary, `digest/weekly.j2`: the same figures
with a 7-day window, claimed with that day's daily digest so it goes once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Case, Q, RawSQL, Subquery, When
from tortoise.functions import Count, Max, Min, Sum
from tortoise.queryset import QuerySet

from bot.core.errors import UserError
from bot.core.identity import Role
from bot.core.messages import ChatRef, OutFile, Outgoing
from bot.domain.pricing import ENGAGEMENT_FIELDS
from bot.domain.statuses import CampaignStatus, EnrollmentStatus, SubmissionStatus
from bot.services.digest_chart import Series, render_chart
from bot.services.ledger import campaign_spent, pricing_of
from bot.services.people import Caller
from storage import sql as storage_sql
from storage.models import (
    LATEST_COUNTERS,
    Campaign,
    Creator,
    DigestSubscription,
    MetricSnapshot,
    Submission,
)

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core.clock import Clock
    from bot.core.render import Renderer
    from bot.core.speaker import Speaker

log = logging.getLogger(__name__)
TOP = 5
CHART_DAYS = 31  # the chart shows at most this many days, the latest
WEEK = 7
COUNTERS = LATEST_COUNTERS  # the engagement figures: totals and their change
_LEAK = RawSQL("CASE WHEN CAST(flags AS TEXT) LIKE '%\"leak\"%' THEN 1 ELSE 0 END")
_TIME = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")


def _newest(
    snapshots: QuerySet[MetricSnapshot], until: datetime | None = None
) -> QuerySet[MetricSnapshot]:
    """Of these snapshots, each post's newest (the highest id, as record_metrics keeps in
    `latest_snapshot_id`), or its newest taken by `until`."""
    if until is not None:
        snapshots = snapshots.filter(created_at__lte=until)
    newest = snapshots.group_by("submission_id").annotate(last=Max("id")).values("last")
    return MetricSnapshot.filter(id__in=Subquery(newest))


async def _totals(snapshots: QuerySet[MetricSnapshot]) -> dict[str, int]:
    row = (
        await snapshots.annotate(**{f"t_{c}": Sum(c) for c in COUNTERS})
        .first()
        .values(*(f"t_{c}" for c in COUNTERS))
    )
    return {c: int((row or {}).get(f"t_{c}") or 0) for c in COUNTERS}


async def _change_since(campaign_id: int, since: datetime) -> dict[str, int]:
    """How much the sum of the campaign's newest snapshots grew since `since`.

    Only a post with a snapshot taken after `since` can have changed, so only those posts are
    summed, as they are now and as they were then: the work follows the window's activity, not
    every snapshot the campaign ever had."""
    measured = MetricSnapshot.filter(
        submission__campaign_id=campaign_id,
        submission_id__in=Subquery(
            MetricSnapshot.filter(created_at__gt=since).values("submission_id")
        ),
    )
    now = await _totals(_newest(measured))
    then = await _totals(_newest(measured, since))
    return {c: now[c] - then[c] for c in COUNTERS}


async def _post_figures(
    posts: QuerySet[Submission], now: datetime, since: datetime
) -> dict[str, Any]:
    """Counts by status, new posts, the oldest pending one, leaks, and the engagement totals
    (each post's newest counters): one scan, a row a status."""
    totals = {f"t_{c}": Sum(f"latest_{c}") for c in COUNTERS}
    rows = (
        await posts.group_by("status")
        .annotate(
            n=Count("id"),
            new=Count("id", _filter=Q(created_at__gt=since)),
            oldest=Min("created_at"),
            leaks=Sum(_LEAK),
            **totals,
        )
        .values("status", "n", "new", "oldest", "leaks", *totals)
    )
    by_status = {row["status"]: int(row["n"]) for row in rows}
    oldest = next(
        (row["oldest"] for row in rows if row["status"] == SubmissionStatus.PENDING), None
    )
    if isinstance(oldest, str):  # SQLite hands an aggregate of datetimes back as text
        oldest = datetime.fromisoformat(oldest)
    return {
        "by_status": by_status,
        "posts": sum(by_status.values()),
        "new_posts": sum(int(row["new"]) for row in rows),
        "pending": by_status.get(SubmissionStatus.PENDING, 0),
        "oldest_pending_hours": int((now - oldest).total_seconds() // 3600) if oldest else None,
        "leaks": sum(int(row["leaks"] or 0) for row in rows),
        "totals": {c: sum(int(row[f"t_{c}"] or 0) for row in rows) for c in COUNTERS},
    }


# NOT EXISTS, not NOT IN: PostgreSQL runs NOT IN (subquery) as a hashed lookup only while the
# subquery's rows fit in work_mem; past that (a million posts) it rescans them per enrollment.
# NOT EXISTS is an anti-join at any size.
_CREATOR_FIGURES = f"""
SELECT COUNT(*) AS enrolled,
       COUNT(CASE WHEN e.created_at > $2 THEN 1 END) AS new_creators,
       COUNT(CASE WHEN NOT EXISTS (
           SELECT 1 FROM submissions s
           WHERE s.campaign_id = $1 AND s.creator_id = e.creator_id
             AND s.status <> '{SubmissionStatus.REJECTED.value}'
       ) THEN 1 END) AS silent
FROM enrollments e
WHERE e.campaign_id = $1 AND e.status = '{EnrollmentStatus.ACTIVE.value}'
"""


async def _creator_figures(campaign_id: int, since: datetime) -> dict[str, int]:
    """Active enrollments, the new ones, and the silent: enrolled without a post that counts."""
    [row] = await storage_sql.fetch(_CREATOR_FIGURES, [campaign_id, since.astimezone(UTC)])
    return {key: int(value or 0) for key, value in row.items()}


async def _top_posts(posts: QuerySet[Submission]) -> list[dict[str, Any]]:
    rows = (
        await posts.filter(latest_snapshot_id__isnull=False)
        .order_by("-latest_engagement", "id")
        .limit(TOP)
        .values("id", "platform", "latest_engagement")
    )
    return [
        {"id": r["id"], "platform": r["platform"], "engagement": int(r["latest_engagement"])}
        for r in rows
    ]


async def _top_creators(posts: QuerySet[Submission]) -> list[dict[str, Any]]:
    """Grouped by creator id alone, from the posts' own `latest_engagement` (no join); only
    the TOP creators' names are looked up, not joined into every post's row."""
    rows = (
        await posts.filter(latest_snapshot_id__isnull=False)
        .group_by("creator_id")
        .annotate(engagement=Sum("latest_engagement"))
        .order_by("-engagement", "creator_id")
        .limit(TOP)
        .values("creator_id", "engagement")
    )
    names = dict(
        await Creator.filter(id__in=[r["creator_id"] for r in rows]).values_list(
            "id", "person__display_name"
        )
    )
    return [{"name": names[r["creator_id"]], "engagement": int(r["engagement"] or 0)} for r in rows]


async def campaign_digest(campaign: Campaign, now: datetime, days: int = 1) -> dict[str, Any]:
    """The figures of one campaign at `now`; "new" and the change are over the last `days`
    (1: since yesterday, the daily digest; 7: the weekly summary)."""
    since = now - timedelta(days=days)
    posts = Submission.filter(campaign_id=campaign.id)
    # Independent reads, run at once: on PostgreSQL each takes a connection of the pool and
    # the server works on them side by side (SQLite's one connection takes them in turn).
    creators, post_figures, change, spent, top_posts, top_creators = await asyncio.gather(
        _creator_figures(campaign.id, since),
        _post_figures(posts, now, since),
        _change_since(campaign.id, since),
        campaign_spent(campaign.id),
        _top_posts(posts),
        _top_creators(posts),
    )
    return {
        "campaign": campaign,
        **creators,
        **post_figures,
        "change": change,
        "spent_fen": spent,
        "budget_fen": pricing_of(campaign).budget_fen,
        "top_posts": top_posts,
        "top_creators": top_creators,
    }


async def visible_campaigns(brand_ids: list[int] | None) -> list[Campaign]:
    """Live campaigns of these brands (None: every brand, for admins)."""
    query = Campaign.filter(status=CampaignStatus.LIVE)
    if brand_ids is not None:
        query = query.filter(brand_id__in=brand_ids or [0])
    return await query.order_by("embargo_at", "id")


def brand_scope(caller: Caller) -> list[int] | None:
    return None if caller.is_admin else sorted(caller.brand_ids(Role.MANAGER, Role.BRAND))


async def render_digest(
    renderer: Renderer, locale: str, brand_ids: list[int] | None, now: datetime
) -> str:
    campaigns = await visible_campaigns(brand_ids)
    digests = [await campaign_digest(c, now) for c in campaigns]
    return renderer.render(locale, "digest/digest", digests=digests, now=now)


async def render_weekly(
    renderer: Renderer, locale: str, brand_ids: list[int] | None, now: datetime
) -> str:
    campaigns = await visible_campaigns(brand_ids)
    digests = [await campaign_digest(c, now, days=WEEK) for c in campaigns]
    return renderer.render(
        locale, "digest/weekly", digests=digests, now=now, since=now - timedelta(days=WEEK)
    )


def _day_bounds(days: list[date], zone: ZoneInfo, now: datetime) -> list[tuple[datetime, datetime]]:
    """Each local day's start and end (its next midnight, or `now` for today), in UTC: storage
    is UTC, and SQLite compares datetimes as their text, so the bounds must be UTC text too."""
    bounds = []
    for day in days:
        start = datetime.combine(day, time(0), zone)
        end = min(start + timedelta(days=1), now)
        bounds.append((start.astimezone(UTC), end.astimezone(UTC)))
    return bounds


async def _submissions_per_day(
    campaign_id: int, bounds: list[tuple[datetime, datetime]]
) -> list[int]:
    """The posts made within each [start, end), grouped by day in one scan: the days follow one
    another (a day starts where the one before ends), so a post's day is the first that ends
    after it was made."""
    # The day numbers are literals: PostgreSQL cannot tell the type of a bound THEN value.
    day = Case(
        *(When(created_at__lt=end, then=RawSQL(str(i))) for i, (_, end) in enumerate(bounds))
    )
    rows = (
        await Submission.filter(
            campaign_id=campaign_id, created_at__gte=bounds[0][0], created_at__lt=bounds[-1][1]
        )
        .annotate(day=day)
        .group_by("day")
        .annotate(made=Count("id"))
        .values("day", "made")
    )
    made = [0] * len(bounds)
    for row in rows:
        made[row["day"]] = int(row["made"])
    return made


class _Binds:
    """Values bound to a raw SQL statement, each named by its number (`$1`; storage.sql runs
    it on either dialect), so that one value may be used more than once."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


async def _engagement_per_day(campaign_id: int, ends: list[datetime]) -> list[int]:
    """Engagement to date at each of `ends` (UTC, ascending): the sum of every post's newest
    snapshot then, in one pass over the campaign's snapshots rather than one pass a day.

    A snapshot is its post's newest from when it was taken until a snapshot of the post with a
    higher id is taken (`replaced_at`, the earliest such time). Snapshots are grouped by the day
    they became the newest and the day they were replaced; a day sums the groups that became
    the newest by its end and were not replaced by then (one replaced before it was taken never
    counts). Raw SQL, kept to what SQLite and PostgreSQL share: tortoise has neither window
    functions nor subqueries in FROM."""
    bind = _Binds()
    campaign = bind(campaign_id)
    end_marks = [bind(end) for end in ends]

    def day_of(column: str) -> str:  # the first day ending at or after it; NULL: none
        whens = " ".join(f"WHEN {column} <= {end} THEN {day}" for day, end in enumerate(end_marks))
        return f"CASE {whens} END"

    newest_by_day = ", ".join(
        f"SUM(CASE WHEN became <= {day} AND (replaced IS NULL OR replaced > {day})"
        f" THEN engagement ELSE 0 END) AS day_{day}"
        for day in range(len(ends))
    )
    engagement = " + ".join(f"m.{counter}" for counter in ENGAGEMENT_FIELDS)
    sql = f"""
        SELECT {newest_by_day} FROM (
            SELECT {day_of("created_at")} AS became, {day_of("replaced_at")} AS replaced,
                   SUM(engagement) AS engagement
            FROM (
                SELECT m.created_at, {engagement} AS engagement,
                       MIN(m.created_at) OVER (
                           PARTITION BY m.submission_id ORDER BY m.id DESC
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                       ) AS replaced_at
                FROM metric_snapshots m JOIN submissions s ON s.id = m.submission_id
                WHERE s.campaign_id = {campaign} AND m.created_at <= {end_marks[-1]}
            ) AS snapshots
            GROUP BY became, replaced
        ) AS spans
    """
    [row] = await storage_sql.fetch(sql, bind.values)
    return [int(row[f"day_{day}"] or 0) for day in range(len(ends))]


async def chart_series(campaign: Campaign, now: datetime) -> Series:
    """Per local day from the campaign's creation (at most CHART_DAYS, up to today and not past
    the deadline): submissions that day, and engagement to date at the day's end."""
    zone = ZoneInfo(campaign.timezone)
    today = now.astimezone(zone).date()
    last = min(today, campaign.deadline_at.astimezone(zone).date())
    first = max(campaign.created_at.astimezone(zone).date(), last - timedelta(days=CHART_DAYS - 1))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if not days:
        return Series(campaign.code, days, [], [])
    bounds = _day_bounds(days, zone, now)
    submissions = await _submissions_per_day(campaign.id, bounds)
    engagement = await _engagement_per_day(campaign.id, [end for _, end in bounds])
    return Series(campaign.code, days, submissions, engagement)


def chart_path(export_dir: str, campaign: Campaign, now: datetime) -> Path:
    stamp = now.astimezone(ZoneInfo(campaign.timezone)).strftime("%Y%m%d-%H%M%S")
    return Path(export_dir) / "charts" / f"digest-{campaign.code}-{stamp}.png"


async def digest_charts(
    export_dir: str, locale: str, brand_ids: list[int] | None, now: datetime
) -> list[OutFile]:
    """One PNG per live campaign the digest covers (drawn in a worker thread)."""
    files = []
    for campaign in await visible_campaigns(brand_ids):
        series = await chart_series(campaign, now)
        try:
            path = await asyncio.to_thread(
                render_chart, series, chart_path(export_dir, campaign, now), locale
            )
        except Exception:  # a chart that cannot be drawn never holds back the digest
            log.exception("digest chart for %s could not be drawn", campaign.code)
            continue
        files.append(OutFile(path.name, str(path)))
    return files


def is_monday(day: str) -> bool:
    return date.fromisoformat(day).weekday() == 0


def parse_time(text: str) -> str:
    match = _TIME.match(text.strip())
    if match is None:
        raise UserError("digest/usage")
    return f"{int(match[1]):02d}:{match[2]}"


def _local(now: datetime, tz: str) -> datetime:
    return now.astimezone(ZoneInfo(tz))


def _due(sub: DigestSubscription, now: datetime) -> str | None:
    """The local date whose digest is due now, or None."""
    local = _local(now, sub.timezone)
    day = local.date().isoformat()
    return day if local.strftime("%H:%M") >= sub.at and sub.last_sent_on != day else None


class DigestService:
    def __init__(self, clock: Clock, speaker: Speaker, settings: Settings) -> None:
        self.clock = clock
        self.speaker = speaker
        self.settings = settings

    async def now(
        self, locale: str, brand_ids: list[int] | None, now: datetime
    ) -> tuple[str, list[OutFile]]:
        """The digest as of now: its text and a chart per campaign."""
        text = await render_digest(self.speaker.renderer, locale, brand_ids, now)
        return text, await digest_charts(self.settings.export_dir, locale, brand_ids, now)

    async def weekly(self, locale: str, brand_ids: list[int] | None, now: datetime) -> str:
        return await render_weekly(self.speaker.renderer, locale, brand_ids, now)

    async def subscribe(
        self, chat: ChatRef, user_id: str | None, caller: Caller, at: str, locale: str
    ) -> DigestSubscription:
        scope = brand_scope(caller)
        campaigns = await visible_campaigns(scope)
        tz = campaigns[0].timezone if campaigns else self.settings.timezone
        sub, _ = await DigestSubscription.update_or_create(
            platform=chat.platform,
            chat_id=chat.chat_id,
            defaults={
                "user_id": user_id,
                "is_group": chat.is_group,
                "person_id": caller.person_id,
                "brand_ids": scope if scope is not None else [],
                "at": at,
                "timezone": tz,
                "locale": locale,
                "last_sent_on": None,
            },
        )
        # Subscribing after today's time: the first one goes tomorrow (ask /digest for now).
        local = _local(self.clock.now(), tz)
        if local.strftime("%H:%M") >= at:
            sub.last_sent_on = local.date().isoformat()
            await sub.save(update_fields=["last_sent_on"])
        return sub

    async def unsubscribe(self, chat: ChatRef) -> bool:
        return bool(
            await DigestSubscription.filter(platform=chat.platform, chat_id=chat.chat_id).delete()
        )

    async def tick(self) -> int:
        """Send the digests that came due (each chat once a local day); returns how many."""
        now = self.clock.now()
        sent = 0
        for sub in await DigestSubscription.all().order_by("id"):
            day = _due(sub, now)
            if day is None:
                continue
            claimed = (
                await DigestSubscription.filter(id=sub.id)
                .filter(Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=day))
                .update(last_sent_on=day)
            )
            if not claimed:  # another tick sent it
                continue
            scope = list(sub.brand_ids) or None  # [] was stored for an admin: every brand
            text, files = await self.now(sub.locale, scope, now)
            chat = ChatRef(sub.platform, sub.chat_id, sub.is_group)
            await self.speaker.send(
                Outgoing(chat=chat, text=text, to_user=sub.user_id, files=files)
            )
            if is_monday(day):
                weekly = await self.weekly(sub.locale, scope, now)
                await self.speaker.send(Outgoing(chat=chat, text=weekly, to_user=sub.user_id))
            sent += 1
        return sent
