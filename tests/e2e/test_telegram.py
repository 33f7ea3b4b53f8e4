"""The creator loop on Telegram: the real aiogram Bot and Dispatcher over HTTP to a Bot API
server on loopback (tests/telegram_api.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.app import App
from bot.core.clock import ManualClock
from bot.platforms.telegram import TelegramPlatform
from storage.models import Campaign, Identity, OutboxMessage, Submission
from tests.conftest import AFTER_EMBARGO, SCRIPTS, make_settings
from tests.telegram_api import BOT_USERNAME, FakeTelegram, Sent

pytestmark = pytest.mark.timeout(90)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

BOSS, MIA, ADA, BEN = 1001, 1002, 1003, 1004
GROUP = -100500
POST = "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f6a7b8c9d0e1"


@dataclass
class Running:
    server: FakeTelegram
    app: App
    platform: TelegramPlatform
    worker: asyncio.Task[None]

    async def says(self, user_id: int, name: str, text: str, **kwargs: object) -> Sent:
        """A user writes; returns the bot's first message after it, to the same chat."""
        chat_id = int(kwargs.get("chat_id") or user_id)  # type: ignore[call-overload]
        before = len(self.server.sent)
        self.server.message(user_id, name, text, **kwargs)  # type: ignore[arg-type]
        return await self.server.wait_for(
            lambda s: self.server.sent.index(s) >= before and s.chat_id == chat_id
        )

    async def next_to(self, chat_id: int, after: int) -> Sent:
        return await self.server.wait_for(
            lambda s: self.server.sent.index(s) >= after and s.chat_id == chat_id
        )


def queue_row_id(sent: Sent) -> int:
    """The outbox row a message's buttons name (callback data "o:<row>:<choice>")."""
    return int(sent.buttons[0][1].split(":")[1])


async def start_bot(server: FakeTelegram, tmp_path: Path, **settings: object) -> Running:
    await server.start()
    config = make_settings(
        tmp_path,
        telegram_bot_token=server.token,
        telegram_api_base=server.url,
        admin_ids=f"telegram:{BOSS}",
        **settings,
    )
    app = App(config, ManualClock(AFTER_EMBARGO))
    await app.start()
    platform = TelegramPlatform(app)
    await platform.start()
    return Running(server, app, platform, asyncio.create_task(app.outbox.run()))


async def stop_bot(running: Running) -> None:
    await running.app.outbox.stop()
    await running.worker
    await running.platform.stop()
    await running.app.stop()
    await running.server.stop()


@pytest.fixture
async def telegram(tmp_path: Path) -> AsyncIterator[Running]:
    # Chat-level pace is tested in test_telegram_outbox.py; here it would only slow the loop.
    running = await start_bot(
        FakeTelegram(),
        tmp_path,
        telegram_rate_private_per_second=100,
        telegram_rate_group_per_minute=1000,
    )
    try:
        yield running
    finally:
        await stop_bot(running)


async def test_the_creator_loop_on_telegram(telegram: Running) -> None:
    server = telegram.server
    granted = await telegram.says(BOSS, "Boss", "/role telegram:1002 manager ACME")
    assert granted.text == "已授予 telegram:1002 运营权限（品牌 ACME）。"

    # The campaign arrives as a YAML document.
    yaml_bytes = (SCRIPTS / "spring.yaml").read_bytes()
    created = await telegram.says(MIA, "Mia", "", document=("spring.yaml", yaml_bytes))
    assert created.text.startswith("活动已创建：春季新车上市（SPRING26）")

    invite = await telegram.says(MIA, "Mia", "/invite SPRING26 code=ACME-KOC")
    assert f"https://t.me/{BOT_USERNAME}?start=ACME-KOC" in invite.text

    # Deep-link onboarding (/start CODE), answered with buttons and typed answers.
    kind = await telegram.says(ADA, "Ada", "/start ACME-KOC")
    assert [label for label, _ in kind.buttons] == [
        "KOC（普通用户/消费者）",
        "KOS（经销商、门店、员工、代理）",
    ]
    server.press(ADA, "Ada", kind, "KOC（普通用户/消费者）")
    shown = await server.wait_for(lambda s: s.method == "editMessageText")
    assert shown.message_id == kind.message_id and not shown.buttons
    assert shown.text.endswith("✓ KOC（普通用户/消费者）")
    await server.wait_for(lambda s: s.text == "你在哪个城市？")
    await telegram.says(ADA, "Ada", "上海")
    platforms = await telegram.says(ADA, "Ada", "汽车, 亲子")
    assert platforms.text.startswith("你的主要账号在哪个平台？")
    server.press(ADA, "Ada", platforms, "小红书")
    await server.wait_for(lambda s: s.text.startswith("你在小红书的账号名"))
    for typed in ("ada_drives", "3200"):
        await telegram.says(ADA, "Ada", typed)
    more = await server.wait_for(lambda s: s.text.startswith("已记录 1 个账号"))
    server.press(ADA, "Ada", more, "不用了，继续")
    consent = await server.wait_for(lambda s: s.text.startswith("最后，请确认计划规则"))
    server.press(ADA, "Ada", consent, "同意")
    done = await server.wait_for(lambda s: s.text.startswith("报名成功"))
    assert "已报名活动：春季新车上市（SPRING26）" in done.text
    assert (await Identity.get(user_id=str(ADA))).username == "ada"

    # A bare post link in the campaign group is a submission; the reply threads under it.
    group_msg = server.message(ADA, "Ada", f"新笔记 {POST}", chat_id=GROUP, title="ACME 车友群")
    received = await server.wait_for(
        lambda s: s.chat_id == GROUP and s.text.startswith("已收到作品 #1")
    )
    assert received.params["reply_parameters"]["message_id"] == group_msg

    # The manager approves by pressing a button under the review queue.
    server.message(MIA, "Mia", "/review")
    queue = await server.wait_for(lambda s: s.chat_id == MIA and s.text.startswith("待审核作品"))
    await OutboxMessage.filter(id=queue_row_id(queue)).delete()  # past OUTBOX_RETENTION_DAYS
    server.press(MIA, "Mia", queue, "通过 #1")
    async with asyncio.timeout(30):
        while not server.answers or "text" not in server.answers[-1]:
            await asyncio.sleep(0.02)
    assert server.answers[-1]["text"] == "这个按钮已过期，请重新发送命令。"
    server.message(MIA, "Mia", "/review")
    queue = await server.wait_for(
        lambda s: s.chat_id == MIA and s.text.startswith("待审核作品") and s is not queue
    )
    server.press(MIA, "Mia", queue, "通过 #1")
    await server.wait_for(lambda s: s.chat_id == MIA and s.text.startswith("作品 #1：已通过"))
    notice = await server.wait_for(
        lambda s: s.chat_id == ADA and s.text.startswith("✅ 你的作品 #1")
    )
    assert notice.method == "sendMessage"
    assert (await Submission.get(id=1)).status == "approved"

    await telegram.says(ADA, "Ada", "/metrics 1 likes=100 comments=10 shares=5 favorites=20")
    before = len(server.sent)
    server.message(ADA, "Ada", "/earnings", chat_id=GROUP)
    private = await telegram.next_to(ADA, before)
    note = await telegram.next_to(GROUP, before)
    assert "合计 ¥77.00" in private.text  # ¥50 + 135 × ¥0.20
    assert note.text == "收益是私人信息，我已私信发给你。" and "¥" not in note.text


async def test_the_command_menus_come_from_the_registry(telegram: Running) -> None:
    commands = telegram.server.commands
    private = {c["command"] for c in commands["all_private_chats:"]}
    groups = {c["command"] for c in commands["all_group_chats:"]}
    assert {"start", "submit", "earnings", "review", "role"} <= private
    assert "start" not in groups and "role" not in groups and "submit" in groups
    english = {c["command"]: c["description"] for c in commands["all_private_chats:en"]}
    assert english["earnings"] == "my earnings (answered in private)"


async def test_replayed_updates_are_handled_once(telegram: Running) -> None:
    server = telegram.server
    await telegram.says(BOSS, "Boss", "/help")
    count = len(server.to(BOSS))
    server.message(BOSS, "Boss", "/help", message_id=999)
    server.message(BOSS, "Boss", "/help", message_id=999)  # Telegram redelivers after a crash
    await server.wait_for(lambda s: s.chat_id == BOSS and len(server.to(BOSS)) == count + 1)
    await asyncio.sleep(0.3)
    assert len(server.to(BOSS)) == count + 1


async def test_a_user_who_never_started_the_bot_is_told_in_the_group(telegram: Running) -> None:
    server = telegram.server
    await telegram.says(BOSS, "Boss", "/role telegram:1002 manager ACME")
    await telegram.says(
        MIA, "Mia", "", document=("spring.yaml", (SCRIPTS / "spring.yaml").read_bytes())
    )
    await _onboard(telegram, BEN, "Ben")
    server.blocked.add(BEN)  # Ben blocked the bot: Telegram answers 403 to every DM
    server.message(BEN, "Ben", "收益", chat_id=GROUP)
    note = await server.wait_for(lambda s: s.chat_id == GROUP and s.text.startswith("我没法私信你"))
    assert f"https://t.me/{BOT_USERNAME}" in note.text
    assert (await Identity.get(user_id=str(BEN))).blocked_at is not None
    # Writing to the bot privately again lifts the mark.
    server.blocked.discard(BEN)
    await telegram.says(BEN, "Ben", "/me")
    assert (await Identity.get(user_id=str(BEN))).blocked_at is None


async def test_new_group_members_are_welcomed_with_the_way_in(telegram: Running) -> None:
    telegram.server.members_joined(GROUP, "ACME 车友群", (ADA, "Ada"), (BEN, "Ben"))
    welcome = await telegram.server.wait_for(lambda s: s.chat_id == GROUP)
    assert welcome.text.startswith("欢迎 Ada、Ben 加入！")
    assert f"https://t.me/{BOT_USERNAME}" in welcome.text


async def test_group_chatter_gets_no_answer(telegram: Running) -> None:
    server = telegram.server
    server.message(ADA, "Ada", "大家好", chat_id=GROUP)
    mention = server.message(ADA, "Ada", f"@{BOT_USERNAME} 你好", chat_id=GROUP)
    answer = await server.wait_for(lambda s: s.chat_id == GROUP)
    assert answer.params["reply_parameters"]["message_id"] == mention  # only the mention


async def _onboard(telegram: Running, user_id: int, name: str) -> None:
    """Invite + questionnaire by typed answers (buttons are tested above)."""
    server = telegram.server
    code = f"CODE{user_id}"
    await telegram.says(MIA, "Mia", f"/invite SPRING26 code={code}")
    for text in (f"/start {code}", "1", "上海", "汽车", "1", f"{name}_xhs", "3200", "2"):
        server.message(user_id, name, text)
        await asyncio.sleep(0.05)
    server.message(user_id, name, "1")
    await server.wait_for(lambda s: s.chat_id == user_id and s.text.startswith("报名成功"))
    assert await Campaign.exists(code="SPRING26")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


WEBHOOK_SECRET = "s3cret-token-for-the-tests"


async def test_webhook_mode_checks_the_secret_header(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    server = FakeTelegram()
    running = await start_bot(
        server,
        tmp_path,
        telegram_webhook_url=url,
        telegram_webhook_secret=WEBHOOK_SECRET,
        telegram_webhook_listen=f"127.0.0.1:{port}",
    )
    try:
        assert server.webhook == {"url": url, "secret_token": WEBHOOK_SECRET}
        assert "getupdates" not in server.calls
        server.message(BOSS, "Boss", "/help")
        update = server.last_update
        async with aiohttp.ClientSession() as http:
            wrong = await http.post(url, json=update, headers={SECRET_HEADER: "guess"})
            assert wrong.status == 401
            unsigned = await http.post(url, json=update)
            assert unsigned.status == 401
            assert server.to(BOSS) == []
            right = await http.post(url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})
            assert right.status == 200
        answer = await server.wait_for(lambda s: s.chat_id == BOSS)
        assert "/role" in answer.text
    finally:
        await stop_bot(running)


async def koxbot_run(tmp_path: Path, api_base: str, **variables: str) -> Process:
    """`koxbot run` in a process of its own, against the Bot API at `api_base`."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{tmp_path / 'k.sqlite3'}",
        "TELEGRAM_BOT_TOKEN": FakeTelegram.token,
        "TELEGRAM_API_BASE": api_base,
        "LOG_LEVEL": "WARNING",
        **variables,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        env=env, cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_koxbot_run_serves_telegram_until_stopped(tmp_path: Path) -> None:
    server = FakeTelegram()
    await server.start()
    process = await koxbot_run(tmp_path, server.url)
    try:
        async with asyncio.timeout(60):
            while "setmycommands" not in server.calls:
                await asyncio.sleep(0.05)
        server.message(ADA, "Ada", "/help")
        answer = await server.wait_for(lambda s: s.chat_id == ADA, timeout=30)
        assert answer.text.startswith("欢迎！")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
        assert server.token not in stderr.decode()  # the secret never reaches the log
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await server.stop()


async def test_koxbot_run_waits_for_telegram_when_it_is_unreachable(tmp_path: Path) -> None:
    """Nothing listens where the Bot API should be: `koxbot run` says so and retries with
    backoff instead of exiting with a traceback; once the server is up, it serves."""
    port = _free_port()
    process = await koxbot_run(tmp_path, f"http://127.0.0.1:{port}", LOG_LEVEL="INFO")
    assert process.stderr is not None
    server = FakeTelegram()
    log: list[str] = []

    async def log_line(wanted: str) -> None:
        while not any(wanted in line for line in log):
            line = (await process.stderr.readline()).decode()  # type: ignore[union-attr]
            assert line, "".join(log)
            log.append(line)

    try:
        async with asyncio.timeout(60):
            await log_line("telegram: cannot reach the Bot API")
            await server.start(port)
            await log_line("telegram: serving as @")
        server.message(ADA, "Ada", "/help")
        answer = await server.wait_for(lambda s: s.chat_id == ADA, timeout=30)
        assert answer.text.startswith("欢迎！")
        assert "Traceback" not in "".join(log) and server.token not in "".join(log)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await process.communicate()
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await server.stop()


async def test_koxbot_run_refuses_a_webhook_without_a_secret(tmp_path: Path) -> None:
    """A forged POST in the admin's name would run `/role 666 admin`: no secret, no start."""
    server = FakeTelegram()
    await server.start()
    try:
        process = await koxbot_run(
            tmp_path, server.url, TELEGRAM_WEBHOOK_URL="https://bot.example.com/telegram/hook"
        )
        async with asyncio.timeout(60):
            _, stderr = await process.communicate()
        assert process.returncode == 2
        assert "TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL" in stderr.decode()
        assert server.calls == [] and server.webhook is None
    finally:
        await server.stop()


async def test_copy_spans_are_code_and_user_text_is_escaped(telegram: Running) -> None:
    await telegram.says(BOSS, "Boss", "/role telegram:1002 manager ACME")
    await telegram.says(
        MIA, "Mia", "", document=("spring.yaml", (SCRIPTS / "spring.yaml").read_bytes())
    )
    invite = await telegram.says(MIA, "Mia", "/invite SPRING26 code=ACME-KOC")
    assert invite.params["parse_mode"] == "HTML"
    assert invite.text.startswith("邀请码：<code>ACME-KOC</code>")
    assert "<code>/start ACME-KOC</code>" in invite.text
    nasty = await telegram.says(MIA, "Mia", "/invite <b>x</b>&")
    assert nasty.text.startswith("没有找到活动 &lt;b&gt;x&lt;/b&gt;&amp;。")


async def test_control_characters_in_a_campaign_file_never_break_the_markup(
    telegram: Running,
) -> None:
    """A copy-span marker (\\x0e) smuggled into a campaign's name used to open a <code> that
    never closed: the Bot API refused the whole message."""
    await telegram.says(BOSS, "Boss", "/role telegram:1002 manager ACME")
    spec = (SCRIPTS / "spring.yaml").read_text(encoding="utf-8")
    hostile = spec.replace("name: 春季新车上市", 'name: "春季\\x0e新车\\u202e上市"', 1)
    assert hostile != spec
    created = await telegram.says(
        MIA, "Mia", "", document=("hostile.yaml", hostile.encode("utf-8"))
    )
    assert created.text.startswith("活动已创建：春季新车上市（SPRING26）")
    assert "\x0e" not in created.text and "\u202e" not in created.text


def test_long_texts_split_without_breaking_a_copy_span() -> None:
    from bot.core.messages import CODE_END, CODE_START
    from bot.platforms.telegram import MAX_TEXT, _chunks, to_html

    text = "x" * (MAX_TEXT - 10) + CODE_START + "#话题 " * 20 + CODE_END + "\nend"
    chunks = _chunks(text)
    assert len(chunks) == 2 and all(len(c) <= MAX_TEXT for c in chunks)
    for chunk in chunks:
        rendered = to_html(chunk)
        assert rendered.count("<code>") == rendered.count("</code>")
    assert "".join(chunks).replace(CODE_START, "").replace(CODE_END, "") == text.replace(
        CODE_START, ""
    ).replace(CODE_END, "")
