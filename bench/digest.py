"""The digest at scale, and a broadcast at Telegram's pace (issue 9's bench).

digest: a fresh database is seeded with CREATORS creators (each enrolled in one live campaign)
and SUBMISSIONS submissions with one metric snapshot each, written by multi-row INSERTs through
the tortoise connection (the bulk path skips `save()`, so `created_at` is set explicitly). Then
`campaign_digest()` (the figures /digest shows) and `chart_series()` (the series of the chart that
goes with it) are timed best of 3 and `render_digest()` (the text it sends) once, each printed as
a ratio to the 1 s target (target ≤ 1.0). One dialect per process (tortoise keeps dialect state
per process):
  .venv/bin/python -m bench.digest sqlite   [CREATORS] [SUBMISSIONS]   (default 10000 200000)
  .venv/bin/python -m bench.digest postgres [CREATORS] [SUBMISSIONS]
PostgreSQL: a throw-away database on postgres://postgres@127.0.0.1:5432 (KOXBOT_BENCH_PG to
change it), dropped afterwards.

broadcast: a brand with CHATS creators, each a Telegram user who has started the bot; the real
bot (aiogram sender, outbox worker) on the loopback Bot API server of the tests
(tests/telegram_api.py) with 30 messages/s overall, and the bot's global limit 30/s. The
broadcast goes through `app.broadcasts` (create, then `tick()` as the scheduler runs it).
Printed, as measured at the server: elapsed from create() to the last recipient's message,
against CHATS/30 s (ratio, target ≤ 1.1), lost, duplicated, failed, 429s.
  .venv/bin/python -m bench.digest broadcast [CHATS]   (default 1000)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from tortoise.context import require_context

import bench
from bot.app import App
from bot.core.clock import ManualClock
from bot.core.messages import ChatRef
from bot.domain.audience import Audience
from bot.domain.campaign_spec import CampaignSpec
from bot.services.digests import campaign_digest, chart_series, render_digest
from storage.models import Brand, Broadcast, BroadcastRecipient, Campaign, Person
from tests.conftest import AFTER_EMBARGO, SCRIPTS, make_settings
from tests.e2e.test_telegram import BOSS, start_bot, stop_bot
from tests.telegram_api import FakeTelegram, Limits

TARGET_DIGEST = 1.0  # seconds
GLOBAL_LIMIT = 30
PG_ADMIN = os.environ.get("KOXBOT_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
BATCH = 20_000  # rows per execute_many or COPY
FIRST_USER = 20_001


# --- seeding -------------------------------------------------------------------------------


class Seeder:
    """Bulk rows through the app's tortoise connection: COPY on PostgreSQL (a million rows
    in seconds), multi-row INSERTs on SQLite."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self.db = require_context().db()

    def time(self, value: datetime) -> Any:
        # SQLite keeps tortoise's datetimes as text, str(datetime); asyncpg wants the object.
        return value if self.postgres else str(value.astimezone(UTC))

    async def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: list[tuple],
        literals: dict[str, str] | None = None,
    ) -> None:
        """`rows` hold the values of `columns`; `literals` are quoted SQL string constants
        (JSON columns), the same in every row."""
        literals = literals or {}
        names = [*columns, *literals]
        if self.postgres:
            constants = tuple(value[1:-1].replace("''", "'") for value in literals.values())
            async with self.db.acquire_connection() as connection:
                for start in range(0, len(rows), BATCH):
                    await connection.copy_records_to_table(
                        table,
                        records=[(*row, *constants) for row in rows[start : start + BATCH]],
                        columns=names,
                    )
            return
        marks = ["?"] * len(columns)
        sql = (
            f"INSERT INTO {table} ({', '.join(names)}) "
            f"VALUES ({', '.join([*marks, *literals.values()])})"
        )
        for start in range(0, len(rows), BATCH):
            await self.db.execute_many(sql, [list(r) for r in rows[start : start + BATCH]])

    async def ids(self, table: str, after: int = 0) -> list[int]:
        _, rows = await self.db.execute_query(
            f"SELECT id FROM {table} WHERE id > {int(after)} ORDER BY id"
        )
        return [int(r["id"]) if isinstance(r, dict) else int(r[0]) for r in rows]

    async def people(self, count: int, now: datetime, prefix: str) -> list[int]:
        before = await self.ids("people")
        await self.insert(
            "people",
            ("display_name", "created_at"),
            [(f"{prefix}{i}", self.time(now)) for i in range(count)],
            {},
        )
        return await self.ids("people", max(before, default=0))

    async def creators(self, people: list[int], now: datetime) -> list[int]:
        before = await self.ids("creators")
        t = self.time(now)
        await self.insert(
            "creators",
            ("person_id", "kind", "city", "tier", "points", "consent_at", "status", "created_at"),
            [(p, "koc", "上海", "AB"[i % 2], 0, t, "active", t) for i, p in enumerate(people)],
            {"niches": "'[\"汽车\"]'"},
        )
        return await self.ids("creators", max(before, default=0))


async def make_campaign(now: datetime) -> tuple[Brand, Campaign]:
    data = yaml.safe_load((SCRIPTS / "spring.yaml").read_text(encoding="utf-8"))
    data.setdefault("timezone", "Asia/Shanghai")
    spec = CampaignSpec(**data)
    brand = await Brand.create(code=spec.brand, name=spec.brand, created_at=now)
    campaign = await Campaign.create(
        code=spec.code,
        brand=brand,
        name=spec.name,
        timezone=spec.timezone,
        event_at=spec.event_at,
        embargo_at=spec.embargo_at,
        deadline_at=spec.deadline_at,
        currency=spec.pricing.currency,
        spec=spec.to_storage(),
        created_at=now - timedelta(days=20),
    )
    return brand, campaign


async def seed_digest(seeder: Seeder, campaign: Campaign, creators: int, posts: int) -> None:
    now = AFTER_EMBARGO
    people = await seeder.people(creators, now - timedelta(days=20), "creator")
    ids = await seeder.creators(people, now - timedelta(days=20))
    await seeder.insert(
        "enrollments",
        ("campaign_id", "creator_id", "status", "created_at"),
        [
            (campaign.id, c, "active", seeder.time(now - timedelta(minutes=7 * i)))
            for i, c in enumerate(ids)
        ],
        {},
    )
    statuses = ("pending", "approved", "approved", "rejected")
    submissions = []
    for i in range(posts):
        url = f"https://www.xiaohongshu.com/explore/{i:024x}"
        made = now - timedelta(seconds=11 * i + 1)  # ~25 days for 200,000 posts
        submissions.append(
            (
                campaign.id, ids[i % len(ids)], "xiaohongshu", url, url, f"xhs:{i:024x}",
                statuses[i % len(statuses)], "telegram", str(FIRST_USER + i % len(ids)), 0,
                seeder.time(made),
            )
        )  # fmt: skip
    await seeder.insert(
        "submissions",
        (
            "campaign_id", "creator_id", "platform", "url", "canonical_url", "dedupe_key",
            "status", "source_platform", "source_chat", "resolve_attempts", "created_at",
        ),
        submissions,
        {"flags": "'[]'", "checks": "'[]'", "metric_flags": "'[]'"},
    )  # fmt: skip
    submission_ids = await seeder.ids("submissions")
    await seeder.insert(
        "metric_snapshots",
        (
            "submission_id", "likes", "comments", "shares", "favorites", "views", "clicks",
            "leads", "gmv_fen", "source", "created_at",
        ),
        [
            (
                s, i % 500, i % 50, i % 20, i % 80, i % 10_000, 0, 0, 0, "creator",
                seeder.time(now - timedelta(seconds=11 * i)),
            )
            for i, s in enumerate(submission_ids)
        ],
        {"flags": "'[]'"},
    )  # fmt: skip
    # What services.submissions.record_metrics keeps: each post's newest snapshot.
    await require_context().db().execute_script(
        "UPDATE submissions SET latest_snapshot_id = m.last FROM (SELECT submission_id,"
        " MAX(id) AS last FROM metric_snapshots GROUP BY submission_id) AS m"
        " WHERE m.submission_id = submissions.id;"
        " UPDATE submissions SET latest_engagement = n.likes + n.comments + n.shares"
        " + n.favorites, latest_likes = n.likes, latest_comments = n.comments,"
        " latest_shares = n.shares, latest_favorites = n.favorites, latest_views = n.views"
        " FROM metric_snapshots n WHERE n.id = submissions.latest_snapshot_id"
    )


async def best_of(runs: int, make: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = await make()
        best = min(best, time.perf_counter() - start)
    return best, result


async def digest(dialect: str, creators: int, posts: int) -> None:
    postgres = dialect == "postgres"
    admin = name = failed = None
    if postgres:
        import asyncpg

        name = f"koxbot_bench_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            overrides = {}
            if postgres:
                overrides["database_url"] = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
            settings = make_settings(Path(tmp), **overrides)
            async with App(settings, ManualClock(AFTER_EMBARGO)) as app:
                seeder = Seeder(postgres)
                _, campaign = await make_campaign(AFTER_EMBARGO)
                start = time.perf_counter()
                await seed_digest(seeder, campaign, creators, posts)
                seeded = time.perf_counter() - start
                if postgres:  # as autovacuum would have by now: statistics, visibility map
                    await seeder.db.execute_script("VACUUM ANALYZE")
                now = app.clock.now()
                try:
                    compute, figures = await best_of(3, lambda: campaign_digest(campaign, now))
                    charting, series = await best_of(3, lambda: chart_series(campaign, now))
                    text, _ = await best_of(
                        1, lambda: render_digest(app.renderer, app.settings.locale, None, now)
                    )
                except Exception as exc:  # printed, not raised: a bench reports
                    failed = f"{type(exc).__name__}: {exc}"
    finally:
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    print(
        f"digest on {dialect}: {creators} creators, {posts} submissions with a metric snapshot "
        f"each (seeded in {seeded:.1f} s)"
    )
    if failed:
        print(f"FAILED: {failed}")
        return
    print(
        f"figures: {figures['enrolled']} enrolled, {figures['posts']} posts, "
        f"{figures['pending']} pending, {figures['new_posts']} new today, "
        f"likes {figures['totals']['likes']}, silent {figures['silent']}"
    )
    print(
        f"campaign_digest(): best of 3 {compute * 1000:.0f} ms; / {TARGET_DIGEST:.0f} s target "
        f"= {compute / TARGET_DIGEST:.3f} (target ≤ 1.0)"
    )
    if postgres:
        print(
            f"on PostgreSQL (issue 15): campaign_digest() {compute:.2f} s, target < 0.5 s at "
            f"10,000 creators / 200,000 posts and < 2 s at 50,000 / 1,000,000"
        )
    print(
        f"chart_series(): {len(series.days)} days, engagement {series.engagement[0]} → "
        f"{series.engagement[-1]}, {sum(series.submissions)} submissions; best of 3 "
        f"{charting * 1000:.0f} ms; / {TARGET_DIGEST:.0f} s target "
        f"= {charting / TARGET_DIGEST:.3f} (target ≤ 1.0)"
    )
    print(
        f"render_digest() (the /digest text): one run {text * 1000:.0f} ms; "
        f"/ {TARGET_DIGEST:.0f} s target = {text / TARGET_DIGEST:.3f}"
    )


# --- broadcast -----------------------------------------------------------------------------


async def broadcast(chats: int) -> None:
    server = FakeTelegram(limits=Limits(global_per_second=GLOBAL_LIMIT))
    with tempfile.TemporaryDirectory() as tmp:
        running = await start_bot(server, Path(tmp), telegram_rate_global_per_second=GLOBAL_LIMIT)
        app = running.app
        try:
            now = app.clock.now()
            brand, _ = await make_campaign(now)
            manager = await Person.create(display_name="mia", created_at=now)
            seeder = Seeder(postgres=False)
            people = await seeder.people(chats, now, "creator")
            await seeder.creators(people, now)
            t = seeder.time(now)
            await seeder.insert(
                "identities",
                ("person_id", "platform", "user_id", "last_seen_at", "created_at"),
                [(p, "telegram", str(FIRST_USER + i), t, t) for i, p in enumerate(people)],
                {},
            )
            await seeder.insert(
                "role_grants",
                ("person_id", "role", "brand_id", "created_at"),
                [(p, "creator", brand.id, t) for p in people],
                {},
            )
            users = {FIRST_USER + i for i in range(chats)}
            start = time.monotonic()
            sent = await app.broadcasts.create(
                brand_id=brand.id,
                campaign_id=None,
                person_id=manager.id,
                source="{{ name }}，{{ brand }} 新活动上线啦",
                audience=Audience(brand.id),
                status_chat=ChatRef("telegram", str(BOSS)),
                status_user=str(BOSS),
                locale=app.settings.locale,
            )
            created = time.monotonic() - start
            deadline = start + chats / GLOBAL_LIMIT * 3 + 10
            while time.monotonic() < deadline:
                await app.broadcasts.tick()  # as the scheduler does, every few seconds in `run`
                if (await Broadcast.get(id=sent.id)).status == "done":
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)  # a duplicate would show up now
            final = await Broadcast.get(id=sent.id)
            rows = Counter(
                await BroadcastRecipient.filter(broadcast_id=sent.id).values_list(
                    "status", flat=True
                )
            )
        finally:
            await stop_bot(running)

    sends = [s for s in server.sent if s.method != "editMessageText"]  # edits are not timed
    arrivals = [
        (t, s.chat_id) for t, s in zip(server.sent_times, sends, strict=True) if s.chat_id in users
    ]
    per_chat = Counter(chat for _, chat in arrivals)
    bound = chats / GLOBAL_LIMIT
    print(
        f"broadcast to {chats} Telegram chats at {GLOBAL_LIMIT}/s through app.broadcasts "
        f"({len(arrivals)} arrived; create() took {created:.2f} s; broadcast {final.status})"
    )
    if arrivals:
        elapsed = arrivals[-1][0] - start
        spread = arrivals[-1][0] - arrivals[0][0]
        print(
            f"elapsed create() → last message: {elapsed:.2f} s; bound {chats}/{GLOBAL_LIMIT} = "
            f"{bound:.2f} s; elapsed / bound = {elapsed / bound:.3f} (target ≤ 1.1)"
        )
        print(f"first → last message: {spread:.2f} s ({len(arrivals) / (spread + 1.0):.1f}/s)")
    duplicates = sum(n - 1 for n in per_chat.values() if n > 1)
    print(
        f"lost {chats - len(per_chat)}, duplicated {duplicates}, "
        f"429s answered (all retried): {server.too_many_429s}; "
        f"recipient rows: { {str(k): n for k, n in rows.items()} }; messages to the manager: "
        f"{sum(1 for s in server.sent if s.chat_id == BOSS)}"
    )


def main(argv: list[str]) -> None:
    mode = argv[0] if argv else "sqlite"
    numbers = [int(a) for a in argv[1:]]
    if mode in ("sqlite", "postgres"):
        creators = numbers[0] if numbers else 10_000
        posts = numbers[1] if len(numbers) > 1 else 200_000
        bench.run(digest(mode, creators, posts))
    elif mode == "broadcast":
        bench.run(broadcast(numbers[0] if numbers else 1000))
    else:
        sys.exit("usage: python -m bench.digest sqlite|postgres [CREATORS] [SUBMISSIONS]")


if __name__ == "__main__":
    main(sys.argv[1:])
