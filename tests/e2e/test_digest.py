"""/digest through the console: a seeded campaign gives exactly its numbers; a subscription
fires once a day at its time on the moved clock; bad input and roles get clear answers."""

from __future__ import annotations

import struct
from datetime import date, datetime, timedelta
from pathlib import Path

from PIL import Image

from bot.app import App
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.services.digest_chart import HEIGHT, WIDTH
from bot.services.digests import chart_series
from storage.models import Campaign, DigestSubscription
from tests.conftest import MANAGER_SETUP, SCRIPTS, SHANGHAI, Chat, onboarding_answers

ADA_POST = "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f6a7b8c9d0e1"
BEN_POST = "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f6a7b8c9d0e2"
TAGS = "#ACME春季新车 #试驾 @ACME汽车 #合作"


async def seed(chat: Chat) -> None:
    await chat.say(
        *MANAGER_SETUP,
        *onboarding_answers("ada"),
        *onboarding_answers("ben"),
        *onboarding_answers("cy"),
        f"ada@dm: /submit {ADA_POST} {TAGS}",
        f"ben@dm: /submit {BEN_POST} {TAGS}",
        "mia@dm: /approve 1",
        "ada@dm: /metrics 1 likes=100 comments=10 shares=5 favorites=5 views=1000",
        "ben@dm: /metrics 2 likes=20 comments=2 views=300",
    )


async def test_the_digest_has_exactly_the_seeded_numbers(chat: Chat) -> None:
    await seed(chat)
    await chat.console.advance(timedelta(hours=25))  # yesterday's numbers are the baseline
    await chat.say("ada@dm: /metrics 1 likes=150")
    await chat.say("boss@dm: /role bob brand ACME")
    text = await chat.text("bob@dm: /digest")
    assert "【SPRING26 春季新车上市】" in text
    assert "报名 3（24 小时新增 0），未交作业 1" in text
    assert "作品 2（新增 0）：已通过 1，待审核 1" in text
    assert "待审核 1，最久已等 25 小时" in text
    assert "点赞 170（+50） 评论 12（+0） 转发 5（+0） 收藏 5（+0） 播放 1300（+0）" in text
    assert "1. ada 170；2. ben 22" in text
    assert "#1 小红书 170；#2 小红书 22" in text
    assert "💰 花费 ¥84.00" in text  # ada approved: ¥50 fixed + 170 × ¥0.20
    assert "提前发布（泄露）2 条" in text  # both post ids date from 2023, before the embargo


def ops(messages: list[dict]) -> list[dict]:
    """Only the ops group's messages (the timeline's reminders go to creators meanwhile)."""
    return [m for m in messages if m["chat"] == "acme-ops"]


async def test_a_subscription_fires_once_a_day_at_its_time(settings: Settings) -> None:
    clock = ManualClock(datetime(2026, 5, 20, 11, 0, tzinfo=SHANGHAI))
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await seed(chat)
        reply = await chat.text("mia@acme-ops: /digest on 09:00")
        assert "每天 09:00（Asia/Shanghai）" in reply
        await chat.console.advance(datetime(2026, 5, 21, 8, 59, tzinfo=SHANGHAI) - clock.now())
        assert ops(chat.new()) == []  # not before its time, and not at once for today (past 09:00)
        await chat.console.advance(timedelta(minutes=1))
        [digest] = ops(chat.new())
        assert digest["chat"] == "acme-ops" and "📰 日报" in digest["text"]
        await chat.console.advance(timedelta(hours=3))
        assert ops(chat.new()) == []  # once a day
    async with App(settings, clock) as app:  # a restart does not send it again
        chat = Chat(app, SCRIPTS)
        await app.tick()
        assert ops(chat.new()) == []
        await chat.console.advance(timedelta(days=1))
        assert len(ops(chat.new())) == 1
        assert "已退订" in await chat.text("mia@acme-ops: /digest off")
        assert await DigestSubscription.all().count() == 0
        await chat.console.advance(timedelta(days=1))
        assert ops(chat.new()) == []


async def test_digest_bad_input_and_roles(enrolled: Chat) -> None:
    chat = enrolled
    assert "用法" in await chat.text("mia@dm: /digest on 25:00")
    assert "用法" in await chat.text("mia@dm: /digest sometimes")
    assert "没有订阅" in await chat.text("mia@dm: /digest off")
    assert "SPRING26" not in await chat.text("ada@dm: /digest")  # a creator may not


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG signature and its IHDR chunk (the first, by the spec)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_digest_carries_a_png_chart_of_the_campaign(chat: Chat) -> None:
    await seed(chat)  # 2026-05-20 11:00: two posts, engagement 120 (ada) + 22 (ben)
    await chat.console.advance(timedelta(hours=25))
    await chat.say("ada@dm: /metrics 1 likes=150")  # ada 170 now
    series = await chart_series(await Campaign.get(code="SPRING26"), chat.app.clock.now())
    assert series.days == [date(2026, 5, 20), date(2026, 5, 21)]
    assert series.submissions == [2, 0]
    assert series.engagement == [142, 192]  # at the end of the 20th; to date on the 21st

    [digest] = [m for m in await chat.say("mia@dm: /digest") if "📰 日报" in m["text"]]
    [path] = [Path(p) for p in digest["files"]]
    assert path.name == "digest-SPRING26-20260521-120000.png"
    assert path.parent == Path(chat.app.settings.export_dir) / "charts"
    assert png_size(path) == (WIDTH, HEIGHT) == (800, 450)
    with Image.open(path) as image:  # it decodes, all of it
        image.load()
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
        assert len(image.getcolors(maxcolors=1 << 16) or []) > 2  # something was drawn


async def test_mondays_bring_the_weekly_summary(settings: Settings) -> None:
    clock = ManualClock(datetime(2026, 5, 20, 11, 0, tzinfo=SHANGHAI))  # a Wednesday
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await seed(chat)
        await chat.say("mia@acme-ops: /digest on 09:00")
        await chat.console.advance(datetime(2026, 5, 21, 9, 0, tzinfo=SHANGHAI) - clock.now())
        [daily] = ops(chat.new())  # Thursday: the digest alone, with its chart
        assert "📰 日报" in daily["text"] and len(daily["files"]) == 1
        await chat.console.advance(datetime(2026, 5, 25, 9, 0, tzinfo=SHANGHAI) - clock.now())
        daily, weekly = ops(chat.new())  # Monday: the digest, then the week
        assert "📰 日报" in daily["text"] and weekly["files"] == []
        text = weekly["text"]
        assert text.startswith("🗞 周报（2026-05-18 09:00 至 2026-05-25 09:00）")
        assert "报名 3（本周新增 3），未交作业 1" in text
        assert "作品 2（本周新增 2）：已通过 1，待审核 1" in text
        assert "点赞 120（+120） 评论 12（+12） 转发 5（+5）" in text
        assert "收藏 5（+5） 播放 1300（+1300）" in text
        await chat.console.advance(timedelta(hours=1))
        assert ops(chat.new()) == []
        assert "🗞 周报" in await chat.text("mia@dm: /digest week")
