"""GO at the embargo second: a real campaign walked to its embargo on the wall clock, sent
through the Telegram loopback Bot API server of the tests (tests/telegram_api.py), which
enforces Telegram's limits (30 messages/s overall, 1/s per private chat, 20/min per group).

The bot runs as `koxbot run` does: the real aiogram sender, the outbox worker and the
scheduler loop (`app.scheduler.run()`) on the system clock. A campaign with one linked group and
N creators (Telegram users who have started the bot) has its embargo a few seconds ahead; the
GO is queued a minute ahead in the real code path, so the campaign is stored as made just over
a minute ago (anything older on the timeline is "before the campaign" and is never sent).

Printed, as measured at the server (arrival of each accepted sendMessage):
  first GO delay   = first GO arrival - embargo_at          (target < 1 s)
  rest / bound     = (last GO - first GO) / ((messages - 1) / 30 s)   (target ≤ 1.1)
and the same from the outbox rows (`sent_at - not_before`), plus 429s, failures, duplicates.
Run: .venv/bin/python -m bench.go [CREATORS]   (default 300)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from tortoise.transactions import in_transaction

from bot.app import App
from bot.core.clock import SystemClock
from bot.domain.campaign_spec import CampaignSpec
from bot.platforms.telegram import TelegramPlatform
from storage.models import (
    Brand,
    Campaign,
    ChatGroup,
    Creator,
    Enrollment,
    Identity,
    OutboxMessage,
    Person,
    RoleGrant,
    ScheduledPush,
    SocialAccount,
)
from tests.conftest import SCRIPTS, make_settings
from tests.telegram_api import FakeTelegram, Limits

GLOBAL_LIMIT = 30
EMBARGO_IN = timedelta(seconds=8)  # time to seed and start before the GO second
GROUP_CHAT = -1001234567890
FIRST_USER = 10_001


async def seed(creators: int, embargo_at: datetime, now: datetime) -> None:
    data = yaml.safe_load((SCRIPTS / "spring.yaml").read_text(encoding="utf-8"))
    data.update(
        event_at=embargo_at - timedelta(minutes=30),
        embargo_at=embargo_at,
        deadline_at=embargo_at + timedelta(days=7),
        timezone="Asia/Shanghai",
    )
    spec = CampaignSpec(**data)
    async with in_transaction():
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
            # Made just over GO_LEAD (60 s) before the embargo: the GO is on its timeline.
            created_at=embargo_at - timedelta(seconds=61),
        )
        await ChatGroup.create(
            platform="telegram", chat_id=str(GROUP_CHAT), title="car club", brand=brand,
            campaign=campaign, created_at=now,
        )  # fmt: skip
        for i in range(creators):
            person = await Person.create(display_name=f"creator{i}", created_at=now)
            await Identity.create(
                person=person, platform="telegram", user_id=str(FIRST_USER + i),
                last_seen_at=now, created_at=now,
            )  # fmt: skip
            creator = await Creator.create(
                person=person, kind="koc", city="上海", niches=["汽车"], tier="B",
                consent_at=now, created_at=now,
            )  # fmt: skip
            await SocialAccount.create(
                creator=creator, platform="xiaohongshu", handle=f"c{i}", followers=1000,
                created_at=now,
            )  # fmt: skip
            await RoleGrant.create(person=person, role="creator", brand=brand, created_at=now)
            await Enrollment.create(campaign=campaign, creator=creator, created_at=now)


async def run(creators: int) -> None:
    server = FakeTelegram(limits=Limits(global_per_second=GLOBAL_LIMIT))
    await server.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(
            Path(tmp),
            telegram_bot_token=server.token,
            telegram_api_base=server.url,
            telegram_rate_global_per_second=GLOBAL_LIMIT,
        )
        app = App(settings, SystemClock())
        await app.start()
        now = app.clock.now()
        embargo_at = (now + EMBARGO_IN).replace(microsecond=0)
        await seed(creators, embargo_at, now)
        platform = TelegramPlatform(app)
        await platform.start()
        worker = asyncio.create_task(app.outbox.run(), name="outbox")
        scheduler = asyncio.create_task(app.scheduler.run(), name="scheduler")
        # The embargo on the server's clock (time.monotonic), taken once.
        embargo_mono = time.monotonic() + (embargo_at - datetime.now(UTC)).total_seconds()
        expected = creators + 1  # the group, then every creator's DM
        deadline = time.monotonic() + EMBARGO_IN.total_seconds() + expected / GLOBAL_LIMIT * 3
        while time.monotonic() < deadline:
            if sum(1 for s in server.sent if s.text.startswith("🚀")) >= expected:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a duplicate would show up now
        go = await ScheduledPush.get(kind="go")
        rows = await OutboxMessage.filter(id__in=go.outbox_ids or [0]).order_by("id")
        await app.scheduler.stop()
        await scheduler
        await app.outbox.stop()
        await worker
        await platform.stop()
        await app.stop()
    await server.stop()

    arrivals = [
        (t, s.chat_id)
        for t, s in zip(server.sent_times, server.sent, strict=True)
        if s.text.startswith("🚀")
    ]
    if not arrivals:
        print(f"no GO arrived (push status: {go.status}, {go.reason})")
        return
    times = [t for t, _ in arrivals]
    chats = Counter(chat for _, chat in arrivals)
    first_gap = times[0] - embargo_mono
    rest = times[-1] - times[0]
    bound = (len(times) - 1) / GLOBAL_LIMIT
    sent = [r for r in rows if r.sent_at is not None]
    print(f"GO to 1 group + {creators} DMs at {GLOBAL_LIMIT}/s ({len(times)} arrived)")
    print(f"first GO delay after embargo_at: {first_gap * 1000:.0f} ms (target < 1000 ms)")
    print(
        f"rest: {rest:.2f} s for {len(times) - 1} messages; bound (N-1)/{GLOBAL_LIMIT} = "
        f"{bound:.2f} s; rest / bound = {rest / bound if bound else 0:.3f} (target ≤ 1.1)"
    )
    print(f"first to arrive: {'the group' if arrivals[0][1] == GROUP_CHAT else 'a DM'}")
    if sent:
        lags = sorted((r.sent_at - r.not_before).total_seconds() for r in sent)
        print(
            f"outbox rows: {len(sent)}/{len(rows)} sent; sent_at - not_before: "
            f"first {lags[0] * 1000:.0f} ms, last {lags[-1]:.2f} s"
        )
    duplicates = sum(n - 1 for n in chats.values() if n > 1)
    missing = creators + 1 - len(chats)
    failed = sum(1 for r in rows if r.status == "failed")
    print(
        f"lost {missing}, duplicated {duplicates}, failed {failed}, "
        f"429s answered (all retried): {server.too_many_429s}"
    )


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
