"""Replays are dropped; bad input gets a clear answer and stores nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.app import App
from storage.models import Campaign, Invite, MetricSnapshot, ProcessedMessage, Submission
from tests.conftest import MANAGER_SETUP, Chat, onboarding_answers

POST = "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f6a7b8c9d0e1"


async def test_the_same_message_twice_makes_one_submission(enrolled: Chat) -> None:
    first = await enrolled.say(f"ada@dm#msg-42: /submit {POST}")
    replay = await enrolled.say(f"ada@dm#msg-42: /submit {POST}")
    assert first[0]["text"].startswith("已收到作品 #1")
    assert replay == []
    assert await Submission.all().count() == 1
    assert await ProcessedMessage.filter(message_id="msg-42").count() == 1


async def test_the_same_post_again_is_a_duplicate_with_a_clear_answer(enrolled: Chat) -> None:
    await enrolled.say(f"ada@dm: /submit {POST}?xsec_token=one")
    again = await enrolled.text(f"ada@dm: 交作业 {POST}?xsec_token=two&xsec_source=pc")
    assert again == "这条作品你已经提交过了（编号 #1，待审核），不用重复提交。"
    await enrolled.say(
        "mia@dm: /invite SPRING26 code=ACME-TWO", *onboarding_answers("ben", code="ACME-TWO")
    )
    other = await enrolled.text(f"ben@dm: /submit {POST}")
    assert other == "这条作品已经被提交过了，每条作品只能提交一次。如有疑问请联系运营。"
    assert await Submission.all().count() == 1


async def test_broken_yaml_names_the_problem_and_saves_nothing(chat: Chat, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("code: X1\nname: [unclosed\n", encoding="utf-8")
    incomplete = tmp_path / "incomplete.yaml"
    incomplete.write_text(
        "code: 'bad code!'\nname: 活动\nbrand: ACME\nplatforms: [myspace]\n"
        "hashtags: {required: [a]}\n"
        "embargo_at: 2026-05-21 10:00\ndeadline_at: 2026-05-20 10:00\npricing: {fixed: 0.001}\n"
        "colour: blue\n",
        encoding="utf-8",
    )
    await chat.say("boss@dm: /role mia manager ACME")
    reply = await chat.text(f"mia@dm: !file {broken}")
    assert reply.startswith("活动没有创建（broken.yaml）")
    assert "YAML 格式错误（第 3:1 处）" in reply
    reply = await chat.text(f"mia@dm: !file {incomplete}")
    for expected in (
        "- code：2-32 letters, digits, - or _",
        "- event_at：缺少这一项",
        "- key_messages：缺少这一项",
        "- disclosure：缺少这一项",
        "- platforms：unknown platform(s): myspace",
        "- pricing：fixed: 0.001 has more than two decimals",
        "- colour：不认识这个字段",
    ):
        assert expected in reply
    assert await Campaign.all().count() == 0


async def test_a_campaign_for_an_unknown_brand_or_a_taken_code_is_refused(chat: Chat) -> None:
    await chat.say("boss@dm: /role mia manager OTHER")
    reply = await chat.text("mia@dm: !file spring.yaml")
    assert "- brand：品牌 ACME 不存在" in reply
    await chat.say("boss@dm: /role mia manager ACME", "mia@dm: !file spring.yaml")
    reply = await chat.text("mia@dm: !file spring.yaml")
    assert "- code：活动代码 SPRING26 已被使用" in reply
    assert await Campaign.all().count() == 1


async def test_unknown_commands_and_wrong_arguments_get_usage(enrolled: Chat) -> None:
    cases = {
        "ada@dm: /frobnicate": "没有 /frobnicate 这个命令。发送 /help（或“帮助”）查看",
        "ada@dm: /submit": "用法：/submit 作品链接",
        "ada@dm: /submit 看看我的新笔记": "没有在消息里找到链接",
        "ada@dm: /submit https://example.com/p/1": "暂不支持这个链接：https://example.com/p/1",
        f"ada@dm: /submit https://www.xiaohongshu.com/user/profile/{'5f1e' * 6}": "不是作品链接",
        "ada@dm: /metrics": "用法：/metrics 作品编号",
        "ada@dm: /metrics 1 likes=lots": "- likes=lots：不是有效的数字",
        "ada@dm: /metrics 1 hearts=5": "- hearts：不认识的指标",
        "ada@dm: /metrics 99 likes=5": "没有找到你的作品 #99。",
        "ada@dm: /join": "用法：/join 活动代码",
        "ada@dm: /join NOPE": "没有找到活动 NOPE。",
        "ada@dm: /brief NOPE": "没有找到活动 NOPE。",
        "ada@dm: /start WRONGCODE": "邀请码 WRONGCODE 不存在",
        "mia@dm: /approve": "用法：/approve 作品编号",
        "mia@dm: /approve abc": "用法：/approve 作品编号",
        "mia@dm: /approve 77": "没有找到你的作品 #77。",
        "mia@dm: /invite": "用法：/invite 活动代码",
        "mia@dm: /invite SPRING26 max=zero": "用法：/invite 活动代码",
        "mia@dm: /invite SPRING26 code=ACME-KOC": "邀请码 ACME-KOC 已被使用",
        "boss@dm: /role": "用法：/role 用户 角色 [品牌代码]",
        "boss@dm: /role mia wizard ACME": "用法：/role 用户 角色 [品牌代码]",
        "ada@dm: hello?": "我没看懂这条消息。发送 /help（或“帮助”）查看你能用的命令。",
        "ada@dm: /cancel": "当前没有进行中的操作。",
        "ada@dm: /lang klingon": "用法：/lang zh 或 /lang en",
    }
    for line, expected in cases.items():
        assert expected in await enrolled.text(line), line
    assert await Submission.all().count() == 0
    assert await MetricSnapshot.all().count() == 0
    assert await Invite.all().count() == 1


async def test_huge_and_odd_text(enrolled: Chat, app: App) -> None:
    huge = "字" * (app.settings.max_text_length + 1)
    assert "消息太长了（上限 4000 字）" in await enrolled.text(f"ada@dm: /submit {huge}")
    odd = await enrolled.text("ada@dm: \x00/me\u200b\x07")
    assert odd.startswith("ada 的资料")
    assert await enrolled.text("ada@dm: 🎉🎉🎉") == await enrolled.text("ada@dm: ？？")


async def test_an_exhausted_or_expired_invite_is_refused(chat: Chat) -> None:
    await chat.say(*MANAGER_SETUP, "mia@dm: /invite SPRING26 max=1 days=1 code=ONCE")
    await chat.say(*onboarding_answers("ada", code="ONCE"))
    assert "邀请码 ONCE 的使用次数已满" in await chat.text("ben@dm: /start ONCE")
    await chat.say("mia@dm: /invite SPRING26 days=1 code=SOON")
    await chat.console.advance(timedelta(days=2))
    assert "邀请码 SOON 已过期" in await chat.text("ben@dm: /start SOON")
    assert (await Invite.get(code="ONCE")).uses == 1
