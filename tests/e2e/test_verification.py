"""Verification through the console: share texts of several platforms, each check's answer to
the creator, the reasons in the review queue, and auto-approval when the campaign allows it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.core.clock import ManualClock
from storage.models import AuditLog, Submission
from tests.conftest import SCRIPTS, Chat, onboarding_answers

DY_ID = "7641803381662272789"  # minted 2026-05-20 11:00 Shanghai, after the embargo
DOUYIN_SHARE = (
    "7.43 复制打开抖音，看看【ada的作品】ACME E7 试驾，续航真香 # ACME春季新车 # 试驾 # 合作 "
    f"@ACME汽车 https://www.douyin.com/video/{DY_ID}/?previous_page=app_code_link Wsl:/ 10/26"
)
WEIBO_SHARE = (
    "#ACME春季新车# 今天去试驾了，这台车的内饰真的绝了！[哈哈] 全文：http://t.cn/A6xYzAbQ\u200b"
)
KUAISHOU_SHARE = (
    "https://v.kuaishou.com/Hk8Ab2 试驾ACME E7 #试驾 该作品在快手被播放过1.2万次，"
    "点击链接，打开【快手极速版】直接观看！"
)


async def test_a_complete_share_text_passes_every_check_and_waits_for_review(
    enrolled: Chat,
) -> None:
    received = await enrolled.text(f"ada@dm: 交作业 {DOUYIN_SHARE}")
    assert received.startswith("已收到作品 #1（抖音），活动「春季新车上市」，等待审核。")
    assert "❌" not in received and "❔" not in received and "⚠️" not in received
    submission = await Submission.get(id=1)
    assert submission.post_id == DY_ID
    assert submission.caption is not None and "# 试驾" in submission.caption
    assert {c["code"]: c["status"] for c in submission.checks} == {
        "platform": "pass",
        "duplicate": "pass",
        "embargo": "pass",
        "posted_at": "pass",
        "deadline": "pass",
        "hashtags": "pass",
        "disclosure": "pass",
        "mentions": "pass",
        "account": "skip",
        "link": "skip",  # not a short link
    }
    queue = await enrolled.text("mia@dm: /review")
    assert (
        "检查：✅平台 ✅未重复 ✅解禁后提交 ✅解禁后发布 ✅截止前 ✅话题 ✅合作标注 ✅@品牌"
        in queue
    )
    assert "文案：【ada的作品】ACME E7 试驾" in queue


async def test_missing_hashtags_are_named_to_creator_and_reviewer(enrolled: Chat) -> None:
    received = await enrolled.text(f"ada@car-club: {WEIBO_SHARE}")  # caught in a group
    assert received.startswith("已收到作品 #1（微博）")
    assert "❌ 缺少话题：#试驾#" in received  # in Weibo's syntax
    assert "❌ 缺少合作标注：#合作" in received
    assert "❌ 缺少 @：@ACME汽车" in received
    queue = await enrolled.text("mia@dm: /review")
    assert "❌话题 ❌合作标注 ❌@品牌" in queue
    assert "❌ 缺少话题：#试驾#" in queue
    submission = await Submission.get(id=1)
    assert submission.status == "pending" and submission.source_chat == "car-club"


async def test_a_bare_link_says_the_caption_was_not_checked(enrolled: Chat) -> None:
    received = await enrolled.text("ada@dm: /submit https://v.douyin.com/iRNBho6u/")
    assert "❔ 没看到作品文案，话题、合作标注和 @ 还没核对" in received
    assert "❔ 文案未知：话题、合作标注、@ 未核对" in await enrolled.text("mia@dm: /review")


async def test_a_disallowed_platform_is_refused_and_nothing_is_stored(enrolled: Chat) -> None:
    reply = await enrolled.text(f"ada@dm: /submit {KUAISHOU_SHARE}")
    assert reply == "这个活动不收快手的作品，可提交的平台：小红书、抖音、微博、B站。"
    assert await Submission.all().count() == 0


async def test_a_post_published_before_the_embargo_is_a_leak(enrolled: Chat) -> None:
    early = "https://www.douyin.com/video/7641772458761939121"  # minted 09:00 Shanghai
    replies = await enrolled.say(f"ada@dm: /submit {early}")
    assert (
        "⚠️ 作品发布于 2026-05-20 09:00，早于解禁时间（抢跑）：已标记给运营。" in replies[0]["text"]
    )
    alert = replies[1]
    assert alert["to"] == "mia"
    assert "发布于 2026-05-20 09:00，早于解禁时间（2026-05-20 10:30）" in alert["text"]
    assert (await Submission.get(id=1)).flags == ["leak"]
    assert "❌解禁后发布" in await enrolled.text("mia@dm: /review")


async def test_the_account_in_the_link_is_checked_against_the_registered_one(
    chat: Chat, tmp_path: Path
) -> None:
    spec = (SCRIPTS / "spring.yaml").read_text(encoding="utf-8")
    (tmp_path / "intl.yaml").write_text(
        spec.replace("SPRING26", "INTL26").replace("[小红书, douyin, weibo, bilibili]", "[tiktok]"),
        encoding="utf-8",
    )
    answers = list(onboarding_answers("ada", code="INTL-KOC"))
    answers[4] = "ada@dm: TikTok"
    answers[5] = "ada@dm: @ada.drives"
    await chat.say(
        "boss@dm: /role mia manager ACME",
        f"mia@dm: !file {tmp_path / 'intl.yaml'}",
        "mia@dm: /invite INTL26 code=INTL-KOC",
        *answers,
    )
    ok = await chat.text(f"ada@dm: /submit https://www.tiktok.com/@Ada.Drives/video/{DY_ID}")
    assert ok.startswith("已收到作品 #1（TikTok）") and "账号" not in ok
    other = f"https://www.tiktok.com/@bob.rides/video/{int(DY_ID) + 1}"
    wrong = await chat.text(f"ada@dm: /submit {other}")
    assert "❌ 链接里的账号 bob.rides 不是你登记的账号（@ada.drives）" in wrong
    assert "❌账号" in await chat.text("mia@dm: /review")


async def test_auto_approve_when_the_campaign_allows_it_and_every_check_passes(
    chat: Chat, tmp_path: Path, clock: ManualClock
) -> None:
    spec = (SCRIPTS / "spring.yaml").read_text(encoding="utf-8")
    (tmp_path / "auto.yaml").write_text(spec + "auto_approve: true\n", encoding="utf-8")
    await chat.say(
        "boss@dm: /role mia manager ACME",
        f"mia@dm: !file {tmp_path / 'auto.yaml'}",
        "mia@dm: /invite SPRING26 code=ACME-KOC",
        *onboarding_answers("ada"),
    )
    received = await chat.text(f"ada@dm: /submit {DOUYIN_SHARE}")
    assert "各项检查都通过，已自动审核通过，开始计算收益。" in received
    assert (await Submission.get(id=1)).status == "approved"
    assert await AuditLog.filter(action="submission.auto_approved").count() == 1
    # a bare link cannot be verified: it waits for a manager even in this campaign
    await chat.text("ada@dm: /submit https://v.douyin.com/iRNBho6u/")
    assert (await Submission.get(id=2)).status == "pending"
    assert "#2 SPRING26" in await chat.text("mia@dm: /review")
    assert "#1 SPRING26" not in await chat.text("mia@dm: /review")
    clock.advance(timedelta(minutes=1))
    assert "¥50.00" in await chat.text("ada@dm: /earnings")


async def test_duplicates_by_anyone_are_refused_with_a_clear_answer(enrolled: Chat) -> None:
    await enrolled.say(f"ada@dm: /submit {DOUYIN_SHARE}")
    again = await enrolled.text(f"ada@dm: /submit https://www.iesdouyin.com/share/video/{DY_ID}/")
    assert again == "这条作品你已经提交过了（编号 #1，待审核），不用重复提交。"
    await enrolled.say(
        "mia@dm: /invite SPRING26 code=ACME-TWO", *onboarding_answers("ben", code="ACME-TWO")
    )
    other = await enrolled.text(f"ben@car-club: 我也发了 https://www.douyin.com/video/{DY_ID}")
    assert other == "这条作品已经被提交过了，每条作品只能提交一次。如有疑问请联系运营。"
    assert await Submission.all().count() == 1


async def test_english_check_lines(enrolled: Chat) -> None:
    await enrolled.say("ada@dm: /lang en")
    received = await enrolled.text(f"ada@dm: /submit {WEIBO_SHARE}")
    assert "❌ missing hashtags: #试驾#" in received
