"""The creator loop on WeChat: the real wechaty client (wechaty + wechaty-puppet-service) over
real gRPC to a puppet service on loopback (tests/wechat_puppet.py)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import App
from bot.core.clock import ManualClock
from bot.core.messages import ChatRef, Outgoing
from bot.platforms.wechat import AT_SEPARATOR, PLATFORM, WeChatPlatform
from storage.models import Identity, OutboxMessage, Submission
from tests.conftest import AFTER_EMBARGO, SCRIPTS, Chat, make_settings
from tests.wechat_puppet import BOT_ID, FakePuppet, Sent

pytestmark = pytest.mark.timeout(90)

BOSS, MIA, ADA, BEN = "wxid_boss", "wxid_mia", "wxid_ada", "wxid_ben"
ROOM = "r1@chatroom"
DOUYIN_SHARE = (
    "7.43 复制打开抖音，看看【Ada的作品】春日试驾 #ACME春季新车 #试驾 #合作 "
    "https://www.douyin.com/video/7641803381662272789 ABC:/ 05/20"
)


@dataclass
class Running:
    puppet: FakePuppet
    app: App
    platform: WeChatPlatform
    worker: asyncio.Task[None]

    async def says(self, user: str, text: str) -> Sent:
        """A friend writes to the bot; returns the bot's first answer in that DM."""
        before = len(self.puppet.sent)
        self.puppet.text(user, text)
        return await self.puppet.wait_for(
            lambda s: self.puppet.sent.index(s) >= before and s.conversation_id == user
        )

    async def next_in(self, conversation: str, after: int) -> Sent:
        return await self.puppet.wait_for(
            lambda s: self.puppet.sent.index(s) >= after and s.conversation_id == conversation
        )


def wechat_settings(tmp_path: Path, endpoint: str, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "wechaty_puppet_service_endpoint": endpoint,
        "wechaty_puppet_service_token": "puppet_test_token",
        "wechat_cache_dir": str(tmp_path / "wechaty"),
        "wechat_send_interval_seconds": 0,
        "wechat_send_jitter_seconds": 0,
        "wechat_login_timeout_seconds": 20,
        "wechat_reconnect_seconds": 0.3,
        "admin_ids": f"wechat:{BOSS}",
    }
    values.update(overrides)
    return values


async def start_bot(puppet: FakePuppet, tmp_path: Path, **overrides: object) -> Running:
    await puppet.start()
    for user, name in ((BOSS, "Boss"), (MIA, "Mia"), (ADA, "Ada"), (BEN, "Ben")):
        puppet.contact(user, name)
    puppet.room(ROOM, "ACME 车友群", MIA, ADA)
    config = make_settings(tmp_path, **wechat_settings(tmp_path, puppet.endpoint, **overrides))
    app = App(config, ManualClock(AFTER_EMBARGO))
    await app.start()
    platform = WeChatPlatform(app)
    await platform.start()
    assert platform.connected, "the wechaty client did not log in"
    worker = asyncio.create_task(app.outbox.run())
    # Outbox.run() clears its stop flag when it begins: let it begin before anyone stops it.
    await asyncio.sleep(0)
    return Running(puppet, app, platform, worker)


async def stop_bot(running: Running) -> None:
    await running.app.outbox.stop()
    await running.worker
    await running.platform.stop()
    await running.app.stop()
    await running.puppet.stop()


@pytest.fixture
async def wechat(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start_bot(FakePuppet(), tmp_path)
    try:
        yield running
    finally:
        await stop_bot(running)


async def setup_campaign(wechat: Running) -> None:
    granted = await wechat.says(BOSS, f"/role wechat:{MIA} manager ACME")
    assert granted.text == f"已授予 wechat:{MIA} 运营权限（品牌 ACME）。"
    before = len(wechat.puppet.sent)
    wechat.puppet.file(MIA, "spring.yaml", (SCRIPTS / "spring.yaml").read_bytes())
    created = await wechat.next_in(MIA, before)
    assert created.text.startswith("活动已创建：春季新车上市（SPRING26）")
    await wechat.says(MIA, "/invite SPRING26 code=ACME-KOC")


async def onboard_by_friend_request(wechat: Running, user: str, name: str) -> None:
    puppet = wechat.puppet
    before = len(puppet.sent)
    puppet.friend_request(user, name, "你好，我想报名 ACME-KOC")
    kind = await wechat.next_in(user, before)
    assert puppet.accepted[-1] == user
    assert kind.text.splitlines()[-2:] == [
        "1. KOC（普通用户/消费者）",
        "2. KOS（经销商、门店、员工、代理）",
    ]
    assert (await wechat.says(user, "1")).text == "你在哪个城市？"
    await wechat.says(user, "上海")
    platforms = await wechat.says(user, "汽车, 亲子")
    assert platforms.text.startswith("你的主要账号在哪个平台？")
    assert "1. 小红书" in platforms.text.splitlines()
    assert (await wechat.says(user, "2")).text.startswith("你在抖音的账号名")
    await wechat.says(user, f"{name.lower()}_dy")
    more = await wechat.says(user, "3200")
    assert more.text.startswith("已记录 1 个账号")
    consent = await wechat.says(user, "2")  # no more accounts
    assert consent.text.startswith("最后，请确认计划规则")
    done = await wechat.says(user, "1")  # agree
    assert done.text.startswith("报名成功")
    assert "已报名活动：春季新车上市（SPRING26）" in done.text


async def test_the_creator_loop_on_wechat(wechat: Running) -> None:
    puppet = wechat.puppet
    assert {"Start", "Event", "ContactPayload"} <= set(puppet.calls)
    await setup_campaign(wechat)
    await onboard_by_friend_request(wechat, ADA, "Ada")

    # A Douyin share text in the room is a submission; the answer @mentions Ada.
    before = len(puppet.sent)
    puppet.text(ADA, DOUYIN_SHARE, ROOM)
    received = await wechat.next_in(ROOM, before)
    assert received.text.startswith(f"@Ada{AT_SEPARATOR}已收到作品 #1")
    assert received.mention_ids == [ADA]

    # The manager approves by number under the review queue.
    queue = await wechat.says(MIA, "审核")
    assert queue.text.startswith("待审核作品")
    options = [line for line in queue.text.splitlines() if line[:2] in ("1.", "2.")]
    assert options and "通过 #1" in options[0]
    before = len(puppet.sent)
    puppet.text(MIA, "1")
    notice = await wechat.next_in(ADA, before)
    assert notice.text.startswith("✅ 你的作品 #1")
    assert (await Submission.get(id=1)).status == "approved"

    await wechat.says(ADA, "/metrics 1 likes=100 comments=10 shares=5 favorites=20")
    before = len(puppet.sent)
    puppet.text(ADA, "收益", ROOM)
    private = await wechat.next_in(ADA, before)
    note = await wechat.next_in(ROOM, before)
    assert "合计 ¥77.00" in private.text  # ¥50 + 135 × ¥0.20
    assert "¥" not in note.text and note.mention_ids == [ADA]
    identity = await Identity.get(platform=PLATFORM, user_id=ADA)
    assert identity.user_id == ADA


async def test_a_mention_in_the_room_is_answered_with_a_mention(wechat: Running) -> None:
    puppet = wechat.puppet
    before = len(puppet.sent)
    puppet.mention(MIA, ROOM, "/help")
    reply = await wechat.next_in(ROOM, before)
    assert reply.mention_ids == [MIA]
    assert reply.text.startswith(f"@Mia{AT_SEPARATOR}")
    # A mention that is not a command still gets an answer (the core's "not understood").
    before = len(puppet.sent)
    puppet.mention(MIA, ROOM, "你好")
    assert (await wechat.next_in(ROOM, before)).mention_ids == [MIA]


async def test_room_chatter_and_the_bots_own_echo_get_no_reply(wechat: Running) -> None:
    puppet = wechat.puppet
    await wechat.says(BOSS, "/help")  # its echo comes back as a message from the bot itself
    settled = len(puppet.sent)
    puppet.text(MIA, "今天天气不错", ROOM)
    puppet.text(MIA, "大家周末去试驾吗", ROOM)
    await asyncio.sleep(1.0)
    assert len(puppet.sent) == settled
    assert not await OutboxMessage.filter(platform=PLATFORM, chat_id=ROOM).exists()
    # The echoes reached the adapter and were dropped there: no identity for the bot.
    assert not await Identity.filter(platform=PLATFORM, user_id=BOT_ID).exists()


async def test_the_same_message_delivered_twice_makes_one_submission(wechat: Running) -> None:
    puppet = wechat.puppet
    await setup_campaign(wechat)
    await onboard_by_friend_request(wechat, ADA, "Ada")
    before = len(puppet.sent)
    message_id = puppet.text(ADA, DOUYIN_SHARE, ROOM)
    await wechat.next_in(ROOM, before)
    puppet.redeliver(message_id)
    await asyncio.sleep(1.0)
    assert await Submission.all().count() == 1
    assert len(puppet.to(ROOM)) == 1


async def test_a_friend_request_without_a_valid_code_is_left_alone(wechat: Running) -> None:
    puppet = wechat.puppet
    puppet.friend_request(BEN, "Ben", "hello NOPE-123")
    await puppet.wait_until(lambda: puppet.calls.count("FriendshipPayload") >= 1)
    await asyncio.sleep(0.5)
    assert puppet.accepted == [] and puppet.to(BEN) == []


async def test_new_room_members_are_welcomed(wechat: Running) -> None:
    puppet = wechat.puppet
    before = len(puppet.sent)
    puppet.join(ROOM, MIA, BEN)
    welcome = await wechat.next_in(ROOM, before)
    assert welcome.text.startswith("欢迎 Ben 加入！")
    assert "加我为好友，验证消息里写上邀请码" in welcome.text and welcome.mention_ids == []


async def test_sends_keep_a_slow_pace_and_the_daily_cap_holds_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = await start_bot(
        FakePuppet(),
        tmp_path,
        wechat_send_interval_seconds=0.4,
        wechat_send_jitter_seconds=0.2,
        wechat_daily_cap=3,
    )
    try:
        puppet, outbox = running.puppet, running.app.outbox
        with caplog.at_level(logging.WARNING, logger="bot.platforms.wechat"):
            rows = [
                await outbox.put(Outgoing(ChatRef(PLATFORM, user), f"通知 {i}"))
                for i, user in enumerate((ADA, BEN, MIA, BOSS))
            ]
            await puppet.wait_until(lambda: len(puppet.sent) == 3)
            await asyncio.sleep(0.8)
        assert [s.text for s in puppet.sent] == ["通知 0", "通知 1", "通知 2"]
        assert await OutboxMessage.filter(status="sent").count() == 3
        held = await OutboxMessage.get(id=rows[3].id)
        assert held.status == "pending" and "daily cap of 3" in (held.error or "")
        lines = [
            r.getMessage()
            for r in caplog.records
            if r.name == "bot.platforms.wechat" and "daily cap" in r.getMessage()
        ]
        assert len(lines) == 1 and "1 waiting" in lines[0]
    finally:
        await stop_bot(running)


async def test_the_pace_spaces_sends_in_wall_time(tmp_path: Path) -> None:
    running = await start_bot(FakePuppet(), tmp_path, wechat_send_interval_seconds=0.3)
    try:
        puppet, loop = running.puppet, asyncio.get_running_loop()
        stamps: list[float] = []
        original = puppet._record

        def stamped(sent: Sent) -> None:
            stamps.append(loop.time())
            original(sent)

        puppet._record = stamped  # type: ignore[method-assign]
        for user in (ADA, BEN, MIA):
            await running.app.outbox.put(Outgoing(ChatRef(PLATFORM, user), "hi"))
        await puppet.wait_until(lambda: len(stamps) == 3)
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert min(gaps) >= 0.28, gaps
    finally:
        await stop_bot(running)


async def test_the_token_never_reaches_the_logs(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        running = await start_bot(FakePuppet(), tmp_path)
        await stop_bot(running)
    out, err = capfd.readouterr()
    assert "puppet_test_token" not in out + err
    assert all("puppet_test_token" not in r.getMessage() for r in caplog.records)


async def test_a_dropped_stream_reconnects_and_the_rest_keeps_running(
    wechat: Running, caplog: pytest.LogCaptureFixture
) -> None:
    puppet = wechat.puppet
    with caplog.at_level(logging.WARNING, logger="bot.platforms.wechat"):
        puppet.drop_streams()
        await puppet.wait_until(lambda: puppet.calls.count("Event") >= 2, timeout=20)
        await puppet.wait_until(lambda: wechat.platform.connected, timeout=20)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.platforms.wechat"]
    assert any("event stream" in line and "ended" in line for line in lines), lines
    assert (await wechat.says(BOSS, "/help")).text


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_endpoint_leaves_the_rest_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = f"127.0.0.1:{unused_port()}"  # nothing listens here
    config = make_settings(
        tmp_path, **wechat_settings(tmp_path, endpoint, wechat_login_timeout_seconds=1)
    )
    config = config.model_copy(update={"admin_ids": make_settings(tmp_path).admin_ids})
    loop = asyncio.get_running_loop()
    async with App(config, ManualClock(AFTER_EMBARGO)) as app:
        platform = WeChatPlatform(app)
        with caplog.at_level(logging.WARNING, logger="bot.platforms.wechat"):
            await platform.start()  # returns after the login timeout, does not raise
            await asyncio.sleep(1.0)  # a few reconnect attempts
        assert not platform.connected
        assert loop.is_running() and not loop.is_closed()
        lines = [r.getMessage() for r in caplog.records if r.name == "bot.platforms.wechat"]
        unreachable = [line for line in lines if "cannot reach the puppet service" in line]
        assert len(unreachable) == 1, lines  # one clear line, not one per attempt

        # The console (and the core behind it) keeps working.
        chat = Chat(app, SCRIPTS)
        assert "/start" in await chat.text("boss@dm: /help")

        # A message for WeChat waits in the outbox instead of being lost.
        queued = await app.outbox.put(Outgoing(ChatRef(PLATFORM, ADA), "稍后送达"))
        await app.outbox.flush()
        row = await OutboxMessage.get(id=queued.id)
        assert row.status == "pending" and "not connected" in (row.error or "")
        await platform.stop()
    assert loop.is_running()
