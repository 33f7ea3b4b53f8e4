"""/broadcast through the Telegram test server (tests/telegram_api.py): a manager's broadcast
to an audience filter reaches exactly the right creators, the status message is edited in
place and the delivery report arrives; a creator who blocked the bot is reported, never
retried, and the next broadcast does not try them again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.core.ratelimit import Limit
from storage.models import Broadcast, BroadcastRecipient, Identity, OutboxMessage
from tests.conftest import SCRIPTS
from tests.e2e.test_telegram import BOSS, Running, start_bot, stop_bot
from tests.telegram_api import FakeTelegram, Sent

pytestmark = pytest.mark.timeout(120)

MIA = 1002  # the manager
ADA, BEN, CY, DAN, EVE, FAY = 1003, 1004, 1005, 1006, 1007, 1008
TEXT = "{{ name }}，{{ campaign }} 记得交作业，截止 {{ deadline }}"
MARK = "记得交作业"


class RecordingTelegram(FakeTelegram):
    """The fake Bot API, also counting every send attempt per chat (blocked ones too)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.attempts: Counter[int] = Counter()

    def _send(self, method: str, params: dict[str, Any], text: str) -> web.Response:
        self.attempts[int(params["chat_id"])] += 1
        return super()._send(method, params, text)


@pytest.fixture
async def telegram(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start_bot(
        RecordingTelegram(),
        tmp_path,
        telegram_rate_private_per_second=100,
        telegram_rate_group_per_minute=1000,
    )
    try:
        yield running
    finally:
        await stop_bot(running)


async def onboard(telegram: Running, user_id: int, name: str, city: str, kos: bool = False) -> None:
    """Invite + questionnaire by typed answers (KOC, or KOS as a dealer)."""
    server = telegram.server
    code = f"CODE{user_id}"
    await telegram.says(MIA, "Mia", f"/invite SPRING26 code={code}")
    kind = ("2", "1") if kos else ("1",)
    answers = (f"/start {code}", *kind, city, "汽车", "1", f"{name}_xhs", "3200", "2", "1")
    for text in answers:
        server.message(user_id, name, text)
        await asyncio.sleep(0.05)
    await server.wait_for(lambda s: s.chat_id == user_id and s.text.startswith("报名成功"))


async def until_done(telegram: Running, broadcast_id: int) -> None:
    """Tick the app as `koxbot run`'s clock loop does (here every 0.2 s, not every 5 s) while
    the outbox worker sends, until the broadcast is done and its last messages have left."""
    for _ in range(150):
        await asyncio.sleep(0.2)
        await telegram.app.tick()
        row = await Broadcast.get_or_none(id=broadcast_id)
        if (
            row is not None
            and row.status == "done"
            and not await OutboxMessage.exists(status__in=("pending", "sending"))
        ):
            return
    raise AssertionError(f"broadcast #{broadcast_id} did not finish")


def broadcast_dms(server: FakeTelegram) -> list[Sent]:
    return [s for s in server.sent if s.chat_id != MIA and MARK in s.text]


async def test_a_filtered_broadcast_on_telegram(telegram: Running) -> None:
    server = telegram.server
    assert isinstance(server, RecordingTelegram)
    granted = await telegram.says(BOSS, "Boss", "/role telegram:1002 manager ACME")
    assert granted.text == "已授予 telegram:1002 运营权限（品牌 ACME）。"
    created = await telegram.says(
        MIA, "Mia", "", document=("spring.yaml", (SCRIPTS / "spring.yaml").read_bytes())
    )
    assert created.text.startswith("活动已创建：春季新车上市（SPRING26）")
    for user_id, name, city, kos in (
        (ADA, "Ada", "上海", False),
        (BEN, "Ben", "上海", False),
        (CY, "Cy", "杭州", False),
        (DAN, "Dan", "上海", True),
        (EVE, "Eve", "北京", False),
        (FAY, "Fay", "上海", False),
    ):
        await onboard(telegram, user_id, name, city, kos)
    server.blocked.add(BEN)  # Ben blocked the bot after enrolling: every DM to him is a 403
    ben_before = server.attempts[BEN]  # the onboarding replies he got
    # Telegram's bot-wide cap, scaled down to 2 sends a second so the broadcast takes several
    # passes of the outbox worker and several ticks (so the status shows progress).
    telegram.platform.sender.everywhere = Limit(2, 1.0)

    before = len(server.sent)
    asked = await telegram.says(MIA, "Mia", "/broadcast SPRING26")
    assert asked.text.startswith("📣 群发（活动 SPRING26）：请发送要群发的消息。")
    audience = await telegram.says(MIA, "Mia", TEXT)
    assert audience.text.startswith("发给谁？")
    assert [label for label, _ in audience.buttons] == [
        "品牌的全部创作者",
        "SPRING26 的报名创作者",
        "SPRING26 已报名、还没交作业的",
        "SPRING26 的活动群",
    ]
    # Shanghai KOCs: Ada, Ben (blocked), Fay; not Cy (杭州), Dan (KOS), Eve (北京).
    preview = await telegram.says(MIA, "Mia", "campaign city=上海 kind=koc")
    assert preview.text.startswith("📣 群发预览")
    assert "人群：3 个，可送达 3" in preview.text  # nobody knows yet that Ben blocked it
    assert "Ada，春季新车上市 记得交作业，截止 2026-05-27 23:59" in preview.text
    assert [label for label, _ in preview.buttons] == ["确认发送", "取消"]
    assert broadcast_dms(server) == []
    assert await BroadcastRecipient.all().count() == 0  # nothing stored before the confirm

    server.press(MIA, "Mia", preview, "确认发送")
    await until_done(telegram, 1)
    status = await server.wait_for(
        lambda s: (
            s.chat_id == MIA and s.method == "sendMessage" and s.text.startswith("📣 群发 #1发送中")
        )
    )
    assert "/ 3" in status.text
    report = await server.wait_for(
        lambda s: s.chat_id == MIA and s.text.startswith("📊 群发 #1 送达报告")
    )
    assert "（共 3）" in report.text
    assert "✅ 已送达 2" in report.text
    assert "🚫 已屏蔽机器人 1" in report.text
    assert "❌ 失败 0" in report.text
    final = await server.wait_for(
        lambda s: (
            s.chat_id == MIA
            and s.method == "editMessageText"
            and s.message_id == status.message_id
            and "已完成" in s.text
        )
    )
    assert final.text == "📣 群发 #1已完成：已发 2 / 3，已屏蔽 1"
    assert report.method == "sendMessage" and report.message_id != status.message_id

    # Exactly the filtered, reachable creators, each once, with their own name.
    dms = broadcast_dms(server)
    assert sorted(s.chat_id for s in dms) == [ADA, FAY]
    assert all(s.method == "sendMessage" for s in dms)
    texts = {s.chat_id: s.text for s in dms}
    assert texts[ADA] == "Ada，春季新车上市 记得交作业，截止 2026-05-27 23:59"
    assert texts[FAY] == "Fay，春季新车上市 记得交作业，截止 2026-05-27 23:59"
    assert not [s for s in server.sent[before:] if s.chat_id in (BEN, CY, DAN, EVE)]

    # The status message was edited in place, never re-sent.
    statuses = [s for s in server.to(MIA) if s.text.startswith("📣 群发 #1")]
    assert [s.method for s in statuses].count("sendMessage") == 1
    edits = [s for s in statuses if s.method == "editMessageText"]
    assert edits and all(s.message_id == status.message_id for s in edits)
    assert edits[-1] is final
    progress = [s.text for s in edits if "发送中" in s.text]
    # Sends overlap, so a progress edit may come between two of them; Ben is never "sent".
    assert progress and all("/ 3" in t and "已发 3" not in t for t in progress)
    reports = [s for s in server.to(MIA) if "送达报告" in s.text]
    assert reports == [report]

    # Ben: one attempt (the 403), marked blocked, reported — and never tried again.
    assert server.attempts[BEN] == ben_before + 1
    assert (await Identity.get(user_id=str(BEN))).blocked_at is not None
    assert await BroadcastRecipient.get(broadcast_id=1, status="blocked")
    assert (await Broadcast.get(id=1)).status == "done"
    ben_rows = await OutboxMessage.filter(chat_id=str(BEN)).count()
    settled = len(server.sent)
    for _ in range(3):  # later ticks: nothing more goes out
        await asyncio.sleep(0.5)
        await telegram.app.tick()
    assert len(server.sent) == settled
    assert server.attempts[BEN] == ben_before + 1

    # The next broadcast (all enrolled) knows Ben blocked the bot: reported, not tried.
    await telegram.says(MIA, "Mia", "/broadcast SPRING26")
    await telegram.says(MIA, "Mia", TEXT)
    preview = await telegram.says(MIA, "Mia", "2")
    assert "人群：6 个，可送达 5" in preview.text and "1 个已屏蔽机器人" in preview.text
    server.press(MIA, "Mia", preview, "确认发送")
    await until_done(telegram, 2)
    report = await server.wait_for(
        lambda s: s.chat_id == MIA and s.text.startswith("📊 群发 #2 送达报告")
    )
    assert "✅ 已送达 5" in report.text and "🚫 已屏蔽机器人 1" in report.text
    second = [s.chat_id for s in broadcast_dms(server)[len(dms) :]]
    assert sorted(second) == [ADA, CY, DAN, EVE, FAY]
    assert server.attempts[BEN] == ben_before + 1
    assert await OutboxMessage.filter(chat_id=str(BEN)).count() == ben_rows
    for _ in range(2):
        await asyncio.sleep(0.5)
        await telegram.app.tick()
    counts = Counter(s.chat_id for s in broadcast_dms(server))
    assert counts == {ADA: 2, FAY: 2, CY: 1, DAN: 1, EVE: 1}  # once per broadcast
