"""Event day through the console: the timeline walks itself on the moved clock, exactly once,
across restarts; /kit, /timeline (pause, resume, shift) and /linkgroup."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.app import App
from bot.config import Settings
from bot.core.clock import ManualClock
from storage.models import OutboxMessage, ScheduledPush
from tests.conftest import MANAGER_SETUP, SCRIPTS, SHANGHAI, Chat, onboarding_answers

POST = "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f6a7b8c9d0e1"
DAY_BEFORE = datetime(2026, 5, 19, 9, 0, tzinfo=SHANGHAI)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=SHANGHAI)


def who(messages: list[dict]) -> list[tuple[str, str | None]]:
    return [(m["chat"], m["to"]) for m in messages]


async def walk_to(chat: Chat, clock: ManualClock, moment: datetime) -> list[dict]:
    await chat.console.advance(moment - clock.now())
    return chat.new()


async def setup_day_before(chat: Chat) -> None:
    await chat.say(
        *MANAGER_SETUP,
        *onboarding_answers("ada"),
        *onboarding_answers("ben"),
        "mia@car-club: /linkgroup SPRING26",
    )


async def test_the_event_day_walks_itself_once_across_restarts(settings: Settings) -> None:
    clock = ManualClock(DAY_BEFORE)
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await setup_day_before(chat)
        assert await walk_to(chat, clock, at(19, 19, 59)) == []
        preview = await walk_to(chat, clock, at(19, 20))
        assert who(preview) == [("dm", "ada"), ("dm", "ben")]
        assert "明天见" in preview[0]["text"] and "不要发布任何" in preview[0]["text"]

        brief = await walk_to(chat, clock, at(20, 9))
        assert who(brief) == [("car-club", None), ("dm", "ada"), ("dm", "ben")]
        assert "GO 信号1 小时 30 分钟后（10:30）" in brief[0]["text"]
        assert "#ACME春季新车 #试驾 @ACME汽车 #合作" in brief[1]["text"]  # ada's Xiaohongshu

        countdown = await walk_to(chat, clock, at(20, 10))
        assert who(countdown) == [("car-club", None)]  # a group exists: not every DM
        assert "30 分钟后" in countdown[0]["text"]
        assert who(await walk_to(chat, clock, at(20, 10, 25))) == [("car-club", None)]

        # A minute before the embargo the GO is queued, held until the second.
        assert await walk_to(chat, clock, at(20, 10, 29)) == []
        queued = await OutboxMessage.filter(status="pending").order_by("id")
        assert [(m.chat_id, m.not_before) for m in queued] == [
            ("car-club", at(20, 10, 30)),
            ("ada", at(20, 10, 30)),
            ("ben", at(20, 10, 30)),
        ]

    # Restart at 10:29:30: a new process on the same database.
    clock.advance(timedelta(seconds=30))
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await app.tick()
        assert chat.new() == []  # not yet the second
        go = await walk_to(chat, clock, at(20, 10, 30))
        assert who(go) == [("car-club", None), ("dm", "ada"), ("dm", "ben")]  # group first
        assert all(m["text"].startswith("🚀 GO！") for m in go)
        assert "微博：#ACME春季新车# #试驾# @ACME汽车 #合作" in go[0]["text"]
        go_row = await ScheduledPush.get(kind="go")
        delivered = await OutboxMessage.filter(id__in=go_row.outbox_ids).order_by("id")
        assert [m.chat_id for m in delivered] == ["car-club", "ada", "ben"]
        assert {(m.not_before, m.sent_at) for m in delivered} == {(at(20, 10, 30),) * 2}

        await chat.say(f"ada@dm: /submit {POST}")
        reminder = await walk_to(chat, clock, at(20, 11))
        assert who(reminder) == [("dm", "ben")]  # ada has posted
        assert "还没收到你的作品" in reminder[0]["text"]

    # Down from 11:00 to 13:00: the 12:30 reminder is sent once on start, late but useful.
    clock.advance(timedelta(hours=2))
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await app.tick()
        await app.tick()
        assert who(chat.new()) == [("dm", "ben")]
        last_call = await walk_to(chat, clock, at(27, 21, 59))
        assert who(last_call) == [("dm", "ben")] and "最后提醒" in last_call[0]["text"]
        summary = await walk_to(chat, clock, at(27, 23, 59))
        assert who(summary) == [("dm", "mia")]
        assert "报名创作者：2，未提交：1" in summary[0]["text"]
        assert await walk_to(chat, clock, at(29, 12)) == []
        statuses = {p.kind: p.status for p in await ScheduledPush.all()}
        assert set(statuses.values()) == {"sent"}
        assert len(statuses) == 9


async def test_a_go_missed_by_far_becomes_a_reminder_and_lapsed_pushes_are_dropped(
    settings: Settings,
) -> None:
    clock = ManualClock(DAY_BEFORE)
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await setup_day_before(chat)
        await walk_to(chat, clock, at(20, 10, 20))
        await chat.say(f"ada@dm: /submit {POST}")  # a leak, but a submission
    clock.advance(timedelta(minutes=30))  # down over the countdown and the GO second
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await app.tick()
        late = chat.new()
        assert who(late) == [("dm", "ben")]  # no "GO" in the group 20 minutes late
        assert "已于 10:30 解禁（20 分钟前）" in late[0]["text"]
        rows = {p.kind: p for p in await ScheduledPush.all()}
        assert (rows["go"].status, rows["go"].sent_as) == ("sent", "late_go")
        assert (rows["countdown_5"].status, rows["countdown_5"].reason) == ("skipped", "late")
        plan = await chat.text("mia@dm: /timeline SPRING26")
        assert "10:30 GO 开发信号 · 已发送，1 条，作为迟到的 GO（改为提醒）" in plan
        assert "10:25 倒计时 5 分钟 · 已跳过（错过时效）" in plan


async def test_pause_takes_back_a_queued_go_and_shift_moves_it(settings: Settings) -> None:
    clock = ManualClock(at(20, 10, 28))
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await setup_day_before(chat)  # created after the countdowns: those are never sent
        assert await walk_to(chat, clock, at(20, 10, 29)) == []
        assert await OutboxMessage.filter(status="pending").count() == 3  # the GO, queued
        assert "5 条推送暂不发送" in await chat.text("mia@dm: /timeline SPRING26 pause")
        assert await OutboxMessage.filter(status="cancelled").count() == 3
        assert await walk_to(chat, clock, at(20, 10, 31)) == []

        shifted = await chat.text("mia@dm: /timeline SPRING26 shift +30m")
        assert "解禁 2026-05-20 11:00" in shifted
        assert "11:00 GO 开发信号 · 已暂停（29 分钟后）" in shifted
        await chat.say("mia@dm: /timeline SPRING26 resume")
        assert who(await walk_to(chat, clock, at(20, 10, 55))) == [("car-club", None)]
        go = await walk_to(chat, clock, at(20, 11))
        assert who(go) == [("car-club", None), ("dm", "ada"), ("dm", "ben")]
        assert "GO 信号已经发出" in await chat.text("mia@dm: /timeline SPRING26 shift +1h")


async def test_timeline_commands_check_their_input(settings: Settings) -> None:
    clock = ManualClock(DAY_BEFORE)
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await setup_day_before(chat)
        assert "用法：/timeline 活动代码" in await chat.text("mia@dm: /timeline")
        assert "用法" in await chat.text("mia@dm: /timeline SPRING26 shift soon")
        assert "用法" in await chat.text("mia@dm: /timeline SPRING26 dance")
        assert "晚于截止时间" in await chat.text("mia@dm: /timeline SPRING26 shift +30d")
        assert "没有找到活动 NOPE" in await chat.text("mia@dm: /timeline NOPE")
        assert "仅限运营使用" in await chat.text("ada@dm: /timeline SPRING26")
        assert "请在要绑定的群里发送" in await chat.text("mia@dm: /linkgroup SPRING26")
        assert "仅限运营使用" in await chat.text("ada@car-club: /linkgroup SPRING26")
        plan = await chat.text("mia@dm: 时间线 SPRING26")
        assert "2026-05-19 20:00 预告（前一天） · 待发送（11 小时后）" in plan
        assert "2026-05-27 23:59 结案汇总（给运营） · 待发送" in plan


async def test_kit_shows_my_platforms_in_their_syntax(settings: Settings) -> None:
    clock = ManualClock(DAY_BEFORE)
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await setup_day_before(chat)
        kit = await chat.text("ada@dm: /kit")
        assert "【小红书】复制整行：\n#ACME春季新车 #试驾 @ACME汽车 #合作" in kit
        assert "可选：#新能源" in kit
        assert "微博" not in kit  # ada is only on Xiaohongshu
        assert "1 天 1 小时 30 分钟后" not in kit and "1 天 1 小时后" in kit
        assert await chat.text("ada@dm: 话题 SPRING26") == kit
        assert "没有找到活动 NOPE" in await chat.text("ada@dm: /kit NOPE")
        assert "仅限创作者使用" in await chat.text("mia@dm: /kit")
        brief = await chat.text("ada@dm: /brief")
        assert "解禁时间：2026-05-20 10:30（Asia/Shanghai，1 天 1 小时后）" in brief
