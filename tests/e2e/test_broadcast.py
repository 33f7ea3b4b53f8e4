"""/broadcast through the console: the right audience, progress edits, the delivery report, a
blocked user reported once and never retried, template errors before sending, cancellation, and
a restart mid-broadcast that resumes with nobody messaged twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import App
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.core.messages import Outgoing
from bot.core.outbox import DeliveryError
from bot.core.ratelimit import Limit, RateLimiter
from storage.models import Broadcast, BroadcastRecipient, Identity, OutboxMessage
from tests.conftest import AFTER_EMBARGO, MANAGER_SETUP, SCRIPTS, Chat

POST = "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f6a7b8c9d0e1"
TEXT = "{{ name }}，{{ campaign }} 记得交作业，截止 {{ deadline }}"


def creator(user: str, city: str = "上海", kind: str = "1") -> tuple[str, ...]:
    """A creator (KOC by default) with one Xiaohongshu account, enrolled in SPRING26."""
    kos = (f"{user}@dm: 1",) if kind == "2" else ()  # KOS: dealer
    return (
        f"{user}@dm: /start ACME-KOC",
        f"{user}@dm: {kind}",
        *kos,
        f"{user}@dm: {city}",
        f"{user}@dm: 汽车",
        f"{user}@dm: 1",
        f"{user}@dm: {user}_xhs",
        f"{user}@dm: 3200",
        f"{user}@dm: 2",
        f"{user}@dm: 1",
    )


def broadcast_dms(messages: list[dict]) -> list[str]:
    return [
        m["to"]
        for m in messages
        if m["chat"] == "dm" and m["to"] != "mia" and "记得交作业" in m["text"]
    ]


def pace(app: App, per_second: int) -> list[float]:
    """Hold the console to `per_second` sends, on a wall clock the test moves (`wall[0] += 1`)."""
    wall = [0.0]
    app.outbox.limiter = RateLimiter(monotonic=lambda: wall[0])
    app.outbox.senders["console"].limits = lambda _chat: (Limit(per_second, 1.0), None)  # type: ignore[attr-defined]
    return wall


async def drain(chat: Chat, wall: list[float]) -> list[dict]:
    """Move the wall clock second by second until the outbox is empty; what the bot said."""
    messages: list[dict] = []
    for _ in range(30):
        if not await OutboxMessage.exists(status="pending"):
            break
        wall[0] += 1
        await chat.app.tick()
        messages += chat.new()
    assert not await OutboxMessage.exists(status="pending")
    return messages


class Crash(BaseException):
    """The process dies mid-send (BaseException: nothing in the bot catches it)."""


def wrap_sender(app: App, fail: dict[str, Exception | BaseException]) -> None:
    inner = app.outbox.senders["console"]

    class Failing:
        limits = getattr(inner, "limits", None)

        async def send(self, message: Outgoing) -> str | None:
            error = fail.get(message.chat.chat_id)
            if error is not None:
                raise error
            return await inner.send(message)

    app.outbox.senders["console"] = Failing()


async def test_a_filtered_broadcast_reaches_exactly_its_audience(chat: Chat) -> None:
    await chat.say(
        *MANAGER_SETUP,
        *creator("ada"),
        *creator("ben"),
        *creator("cy", city="杭州"),
        *creator("dan", kind="2"),
        *creator("eve"),
        f"ben@dm: /submit {POST} #ACME春季新车 #试驾 @ACME汽车 #合作",
    )
    wrap_sender(chat.app, {"eve": DeliveryError("Forbidden: bot was blocked", blocked=True)})
    asked = await chat.text("mia@dm: /broadcast SPRING26")
    assert "{{ name }}" in asked
    [ask] = await chat.say(f"mia@dm: {TEXT}")
    assert "SPRING26 已报名、还没交作业的" in ask["choices"][2]
    preview = await chat.text("mia@dm: pending city=上海 kind=koc")
    # ada and eve: in Shanghai, KOC, no submission (ben submitted, cy is in Hangzhou, dan is KOS)
    assert "人群：2 个" in preview and "可送达 2" in preview
    assert "ada，春季新车上市 记得交作业，截止 2026-05-27 23:59" in preview
    assert await BroadcastRecipient.all().count() == 0  # nothing stored before the confirm

    sent = await chat.say("mia@dm: 1")
    assert broadcast_dms(sent) == ["ada"]  # eve's DM failed: she blocked the bot
    to_mia = [m for m in sent if m["to"] == "mia"]
    assert to_mia[0]["text"].startswith("📣 群发 #1发送中：已发 0 / 2")
    report = next(m["text"] for m in to_mia if "送达报告" in m["text"])
    assert "已送达 1" in report and "已屏蔽机器人 1" in report and "失败 0" in report
    assert to_mia[-1]["edit"] and "已完成：已发 1 / 2，已屏蔽 1" in to_mia[-1]["text"]
    assert (await Identity.get(user_id="eve")).blocked_at is not None

    # The next broadcast knows eve blocked the bot: reported, not tried again.
    to_eve = await OutboxMessage.filter(chat_id="eve").count()
    await chat.say("mia@dm: /broadcast SPRING26", f"mia@dm: {TEXT}")
    preview = await chat.text("mia@dm: 2")  # the enrolled creators
    assert "人群：5 个" in preview and "可送达 4" in preview and "1 个已屏蔽机器人" in preview
    sent = await chat.say("mia@dm: 1")
    assert sorted(broadcast_dms(sent)) == ["ada", "ben", "cy", "dan"]
    second = await Broadcast.get(id=2)
    assert await BroadcastRecipient.get(broadcast_id=second.id, status="blocked")
    assert await OutboxMessage.filter(chat_id="eve").count() == to_eve


async def test_template_errors_show_before_anything_is_sent(enrolled: Chat) -> None:
    chat = enrolled
    await chat.say("mia@dm: /broadcast SPRING26")
    before = await OutboxMessage.filter(chat_id="ada").count()
    for bad, word in (
        ("{{ name", "TemplateSyntaxError"),
        ("你好 {{ nmae }}", "UndefinedError"),
        ("{{ name.__class__.__mro__ }}", "SecurityError"),
    ):
        reply = await chat.text(f"mia@dm: {bad}")
        assert "什么都没有发送" in reply and word in reply, reply
        assert "请发送要群发的消息" in reply  # asked again
    assert await OutboxMessage.filter(chat_id="ada").count() == before
    assert "看不懂“city上海”" in await chat.text("mia@dm: ok {{ name }}", "mia@dm: city上海")
    assert "没有符合条件" in await chat.text("mia@dm: city=北京")
    assert "已取消" in await chat.text("mia@dm: 取消")
    assert await Broadcast.all().count() == 0


async def test_progress_is_edited_in_place_at_the_platform_pace(chat: Chat) -> None:
    users = ["ada", "ben", "cy", "dan", "eve", "fay"]
    for user in users:
        await chat.say(*(MANAGER_SETUP if user == "ada" else ()), *creator(user))
    await chat.say("mia@dm: /broadcast SPRING26", f"mia@dm: {TEXT}", "mia@dm: 2")
    wall = pace(chat.app, 2)
    messages = await chat.say("mia@dm: 1")
    messages += await drain(chat, wall)
    assert (await Broadcast.get(id=1)).status == "done"
    assert sorted(broadcast_dms(messages)) == users  # each exactly once
    edits = [m["text"] for m in messages if m["to"] == "mia" and m["edit"]]
    partial = [e for e in edits if "发送中" in e]
    assert partial and all("/ 6" in e and "已发 6" not in e for e in partial)
    assert edits[-1].endswith("已完成：已发 6 / 6")
    assert any("送达报告" in m["text"] and "已送达 6" in m["text"] for m in messages)


async def test_cancel_stops_what_has_not_left(chat: Chat) -> None:
    await chat.say(*MANAGER_SETUP, *creator("ada"), *creator("ben"), *creator("cy"))
    await chat.say("mia@dm: /broadcast SPRING26", f"mia@dm: {TEXT}", "mia@dm: 2")
    wall = pace(chat.app, 2)
    first = await chat.say("mia@dm: 1")  # the status message and one DM fit this second
    assert len(broadcast_dms(first)) == 1
    after = await chat.say("mia@dm: /broadcast cancel 1")
    after += await drain(chat, wall)
    assert broadcast_dms(after) == []
    assert any("已取消：已发 1，未发出的 2 条不会再发" in m["text"] for m in after)
    assert any(m["edit"] and "#1已取消：已发 1 / 3" in m["text"] for m in after)
    assert await BroadcastRecipient.filter(status="cancelled").count() == 2
    await chat.say("mia@dm: /broadcast cancel 1", "mia@dm: /broadcast status 9")
    replies = "\n".join(m["text"] for m in await drain(chat, wall))
    assert "已经结束，无需取消" in replies and "没有编号为 9" in replies


async def test_a_restart_mid_broadcast_resumes_with_no_duplicates(settings: Settings) -> None:
    clock = ManualClock(AFTER_EMBARGO)
    users = ["ada", "ben", "cy", "dan", "eve"]
    delivered: list[str] = []
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        for user in users:
            await chat.say(*(MANAGER_SETUP if user == "ada" else ()), *creator(user))
        await chat.say("mia@dm: /broadcast SPRING26", f"mia@dm: {TEXT}", "mia@dm: 2")
        wrap_sender(app, {"cy": Crash()})  # ada and ben go, the process dies sending to cy
        with pytest.raises(Crash):
            await chat.say("mia@dm: 1")
        delivered += broadcast_dms(chat.new())
        assert delivered == ["ada", "ben"]

    async with App(settings, clock) as app:  # a new process on the same database
        chat = Chat(app, SCRIPTS)
        await app.tick()
        after = chat.new()
        delivered += broadcast_dms(after)
        assert delivered == ["ada", "ben", "dan", "eve"]  # cy is in doubt: never sent twice
        report = next(m["text"] for m in after if "送达报告" in m["text"])
        assert "已送达 4" in report and "不确定是否送达 1" in report
        await app.tick()
        assert broadcast_dms(chat.new()) == []


async def test_a_scheduled_broadcast_goes_at_its_time_to_the_audience_then(
    settings: Settings,
) -> None:
    clock = ManualClock(AFTER_EMBARGO)  # 2026-05-20 11:00 Shanghai
    async with App(settings, clock) as app:
        chat = Chat(app, SCRIPTS)
        await chat.say(*MANAGER_SETUP, *creator("ada"), *creator("ben"))
        await chat.say("mia@dm: /broadcast SPRING26", f"mia@dm: {TEXT}")
        preview = await chat.text("mia@dm: 3")  # enrolled, not yet submitted
        assert "人群：2 个" in preview and "at 2026-05-20 09:00" in preview
        assert "已经过去" in await chat.text("mia@dm: at 2026-05-20 09:00")
        assert "没有这个时间" in await chat.text("mia@dm: at 2026-02-30 09:00")
        reply = await chat.text("mia@dm: at 2026-05-21 09:00")
        assert "群发 #1 已定时：2026-05-21 09:00（Asia/Shanghai）发送" in reply
        assert await BroadcastRecipient.all().count() == 0  # resolved when it starts
        assert "已定时" in await chat.text("mia@dm: /broadcast status 1")
        assert "尚未发送" in await chat.text("mia@dm: /broadcast retry 1")
        await chat.console.advance(timedelta(hours=21, minutes=59))  # 08:59 the next day
        assert broadcast_dms(chat.new()) == []
        await chat.say(f"ben@dm: /submit {POST} #ACME春季新车 #试驾 @ACME汽车 #合作")

    async with App(settings, clock) as app:  # a restart keeps the schedule
        chat = Chat(app, SCRIPTS)
        await chat.console.advance(timedelta(minutes=1))
        messages = chat.new()
        assert broadcast_dms(messages) == ["ada"]  # ben submitted meanwhile: not pending now
        report = next(m["text"] for m in messages if "送达报告" in m["text"])
        assert "已送达 1" in report
        row = await Broadcast.get(id=1)
        assert row.status == "done" and row.total == 1
        await chat.console.advance(timedelta(days=1))
        assert broadcast_dms(chat.new()) == []  # once


async def test_a_scheduled_broadcast_can_be_cancelled_before_it_starts(enrolled: Chat) -> None:
    chat = enrolled
    await chat.say("mia@dm: /broadcast SPRING26", f"mia@dm: {TEXT}", "mia@dm: 2")
    assert "已定时" in await chat.text("mia@dm: 定时 2026-05-20 12:00")
    assert "已取消，什么都没有发送" in await chat.text("mia@dm: /broadcast cancel 1")
    await chat.console.advance(timedelta(hours=2))
    assert broadcast_dms(chat.new()) == []
    assert "已经结束" in await chat.text("mia@dm: /broadcast cancel 1")
    assert (await Broadcast.get(id=1)).status == "cancelled"
    assert await BroadcastRecipient.all().count() == 0
