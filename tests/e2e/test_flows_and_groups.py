"""Flows survive a restart; the wizard creates a campaign; groups stay quiet unless addressed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.app import App
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.core.registry import CommandSpec
from storage.models import Campaign, Creator, FlowState, OutboxMessage, Submission
from tests.conftest import AFTER_EMBARGO, MANAGER_SETUP, SCRIPTS, Chat, onboarding_answers

POST = "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f6a7b8c9d0e1"


async def test_onboarding_survives_a_restart(settings: Settings) -> None:
    clock = ManualClock(AFTER_EMBARGO)
    answers = onboarding_answers("ada")
    async with App(settings, clock) as first:
        chat = Chat(first, SCRIPTS)
        await chat.say(*MANAGER_SETUP, *answers[:4])
        assert (await FlowState.get(user_id="ada")).step == "platform"
    async with App(settings, clock) as second:
        chat = Chat(second, SCRIPTS)
        replies = await chat.text(*answers[4:])
        assert "报名成功" in replies
        assert await Creator.all().count() == 1
        assert await FlowState.all().count() == 0


async def test_a_follower_count_is_not_read_as_a_menu_choice(chat: Chat) -> None:
    answers = list(onboarding_answers("ada"))
    answers[6] = (
        "ada@dm: 12"  # 12 followers, while the platform menu (15 options) was the last menu
    )
    replies = await chat.say(*MANAGER_SETUP, *answers)
    assert any("小红书 ada_xhs（12 粉丝）" in m["text"] for m in replies)
    assert (await Creator.get().prefetch_related("accounts")).accounts[0].followers == 12


async def test_answers_are_checked_and_asked_again(chat: Chat) -> None:
    await chat.say(*MANAGER_SETUP, "ada@dm: /start ACME-KOC")
    replies = await chat.say("ada@dm: maybe")
    assert replies[0]["text"] == "请回复选项前面的数字。"
    assert replies[1]["choices"][0].startswith("KOC")
    await chat.say("ada@dm: KOS（经销商、门店、员工、代理）")
    assert (await FlowState.get(user_id="ada")).step == "kos_type"


async def test_declining_the_rules_saves_nothing(chat: Chat) -> None:
    answers = list(onboarding_answers("ada"))
    answers[-1] = "ada@dm: 2"
    replies = await chat.text(*MANAGER_SETUP, *answers)
    assert "这次没有为你报名，什么都没有保存" in replies
    assert await Creator.all().count() == 0


async def test_a_stale_flow_expires(chat: Chat, app: App) -> None:
    await chat.say(*MANAGER_SETUP, "ada@dm: /start ACME-KOC")
    await chat.console.advance(timedelta(minutes=app.settings.flow_ttl_minutes + 1))
    assert (
        await chat.text("ada@dm: 1") == "我没看懂这条消息。发送 /help（或“帮助”）查看你能用的命令。"
    )


async def test_a_slash_command_steps_out_of_a_flow_which_then_goes_on(chat: Chat) -> None:
    await chat.say(*MANAGER_SETUP, "ada@dm: /start ACME-KOC", "ada@dm: 1")
    assert "欢迎！" in await chat.text("ada@dm: /help")
    assert (
        await chat.text("ada@dm: 杭州") == "你擅长哪些内容领域？用逗号分隔，例如：汽车, 亲子, 数码"
    )


async def test_the_campaign_wizard_creates_a_campaign(chat: Chat) -> None:
    await chat.say("boss@dm: /role mia manager ACME", "boss@dm: /role mia manager BETA")
    replies = await chat.say(
        "mia@dm: 新建活动",
        "mia@dm: summer-1",
        "mia@dm: 夏日试驾",
        "mia@dm: 2",  # BETA
        "mia@dm: 2026-06-01 10:00",
        "mia@dm: 2026-06-01 10:30",
        "mia@dm: 2026-06-01 09:00",  # before the embargo: asked again
        "mia@dm: 2026-06-08 23:59",
        "mia@dm: 小红书, 抖音, myspace",  # unknown platform: asked again
        "mia@dm: 小红书, 抖音",
        "mia@dm: 续航 700 公里；快充",
        "mia@dm: #夏日试驾 #BETA",
        "mia@dm: #合作",
        "mia@dm: fixed=30.5 cpe=0.123",  # three decimals: asked again
        "mia@dm: fixed=30.5 cpe=0.12",
        "mia@dm: 1",
    )
    texts = [m["text"] for m in replies]
    assert "截止时间必须晚于解禁时间。" in texts
    assert "不认识这些平台：myspace。请写至少一个平台，例如：小红书, 抖音" in texts
    assert texts[-1].startswith("活动已创建：夏日试驾（SUMMER-1）")
    campaign = await Campaign.get(code="SUMMER-1").prefetch_related("brand")
    assert campaign.brand.code == "BETA"
    assert campaign.embargo_at == datetime(2026, 6, 1, 2, 30, tzinfo=UTC)
    pricing = campaign.spec["pricing"]
    assert (pricing["currency"], pricing["fixed_fen"], pricing["cpe_fen"]) == ("CNY", 3050, 12)
    assert pricing["cpm_fen"] == pricing["cpa_fen"] == pricing["creator_cap_fen"] == 0
    assert campaign.spec["hashtags"]["required"] == ["夏日试驾", "BETA"]


async def test_groups_stay_quiet_unless_addressed(enrolled: Chat) -> None:
    assert await enrolled.say("ben@car-club: 大家好，今天天气不错") == []
    assert await enrolled.say(f"ben@car-club: 看这个 {POST}") == []  # not a creator
    assert await enrolled.say("ada@car-club: 今天去试驾了") == []
    mentioned = await enrolled.say("ben@car-club: @koxbot 你好")
    assert [(m["chat"], m["to"]) for m in mentioned] == [("car-club", "ben")]
    assert await enrolled.say("ada@car-club: /help@someotherbot") == []
    caught = await enrolled.say(f"ada@car-club: 新笔记 {POST}")
    assert caught[0]["text"].startswith("已收到作品 #1")
    assert await Submission.filter(source_chat="car-club").count() == 1
    assert await enrolled.text("ada@car-club: /start") == "报名请私聊我：发送 /start 邀请码"


async def test_a_leak_is_flagged_and_managers_are_told(chat: Chat, clock: ManualClock) -> None:
    clock.advance(timedelta(hours=-2))  # 09:00 Shanghai, the embargo lifts at 10:30
    await chat.say(*MANAGER_SETUP, *onboarding_answers("ada"))
    replies = await chat.say(f"ada@dm: /submit {POST}")
    assert "⚠️ 早于解禁时间提交（抢跑）：已标记给运营。" in replies[0]["text"]
    assert replies[1]["to"] == "mia" and replies[1]["text"].startswith("⚠️ 抢跑提醒")
    assert (await Submission.get(id=1)).flags == ["leak"]
    assert "⚠️ 早于解禁时间提交（抢跑）" in await chat.text("mia@dm: /review")


async def test_a_creator_in_two_campaigns_is_asked_which(enrolled: Chat, tmp_path) -> None:
    second = (SCRIPTS / "spring.yaml").read_text(encoding="utf-8").replace("SPRING26", "AUTUMN26")
    (tmp_path / "autumn.yaml").write_text(
        second.replace("春季新车上市", "秋季试驾"), encoding="utf-8"
    )
    await enrolled.say(f"mia@dm: !file {tmp_path / 'autumn.yaml'}", "ada@dm: /join AUTUMN26")
    asked = await enrolled.say(f"ada@dm: /submit {POST}")
    assert asked[0]["text"] == "你报名了多个活动，是哪一个？"
    assert asked[0]["choices"] == ["SPRING26 春季新车上市", "AUTUMN26 秋季试驾"]
    done = await enrolled.say("ada@dm: 2")
    assert "活动「秋季试驾」" in done[0]["text"]
    assert (await Submission.get(id=1).prefetch_related("campaign")).campaign.code == "AUTUMN26"


async def test_a_failing_handler_answers_politely_and_the_bot_goes_on(
    enrolled: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: object) -> None:
        raise RuntimeError("database on fire")

    commands = enrolled.app.registry.commands
    spec = commands["me"]
    monkeypatch.setitem(commands, "me", CommandSpec(spec.name, spec.keywords, spec.role, broken))
    reply = await enrolled.text("ada@dm: /me")
    assert reply.startswith("抱歉，处理这条消息时出错了，你的数据没有丢失。")
    assert "database on fire" not in reply
    assert (await enrolled.text("ada@dm: /brief")).startswith("📋 春季新车上市")


async def test_english_on_request(enrolled: Chat) -> None:
    assert (
        await enrolled.text("ada@dm: /lang en") == "OK, I will answer you in English from now on."
    )
    help_text = await enrolled.text("ada@dm: /help")
    assert "/submit LINK (提交 / 交作业)" in help_text
    await enrolled.say(f"ada@dm: /submit {POST}")
    notice = await enrolled.say("mia@dm: /approve 1")
    assert notice[1]["text"].startswith("✅ Your post #1 (春季新车上市) is approved")
    assert notice[0]["text"].startswith("作品 #1：已通过")


async def test_messages_for_a_platform_that_is_not_running_wait_in_the_outbox(
    enrolled: Chat, app: App
) -> None:
    from storage.models import Identity

    await Identity.filter(user_id="ada").update(platform="telegram")  # ada now lives on Telegram
    await enrolled.say(f"bob@dm: {'x'}")
    sub = await Submission.create(
        campaign=await Campaign.get(code="SPRING26"),
        creator=await Creator.get(),
        platform="xiaohongshu",
        url=POST,
        canonical_url=POST,
        dedupe_key="xiaohongshu:test",
        source_platform="telegram",
        source_chat="ada",
    )
    await enrolled.say(f"mia@dm: /approve {sub.id}")
    waiting = await OutboxMessage.filter(platform="telegram", status="pending")
    assert len(waiting) == 1 and waiting[0].payload["text"].startswith("✅ 你的作品")
