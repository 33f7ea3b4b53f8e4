"""Every command checks the caller's role; one creator never sees another's posts or money."""

from __future__ import annotations

from storage.models import AuditLog, Campaign, Invite, LedgerEntry, Submission
from tests.conftest import Chat, onboarding_answers

POST_A = "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f6a7b8c9d0e1"
POST_B = "https://www.douyin.com/video/7301234567890123456"


async def test_non_managers_cannot_approve_invite_or_create_campaigns(enrolled: Chat) -> None:
    await enrolled.say(f"ada@dm: /submit {POST_A}")
    refusals = {
        "ada@dm: /approve 1": "/approve 仅限运营使用。如需权限，请联系管理员。",
        "ada@dm: 通过 1": "/approve 仅限运营使用。",
        "ada@dm: /reject 1 nope": "/reject 仅限运营使用。",
        "ada@dm: /review": "/review 仅限运营使用。",
        "ada@dm: /invite SPRING26": "/invite 仅限运营使用。",
        "ada@dm: /newcampaign": "/newcampaign 仅限运营使用。",
        "ada@dm: !file spring.yaml": "只有运营可以通过文件创建活动或导入数据。",
        "ada@dm: /role ada admin": "/role 仅限管理员使用。",
        "mia@dm: /role ada admin": "/role 仅限管理员使用。",
        "stranger@dm: /approve 1": "/approve 仅限运营使用。",
        "stranger@dm: /earnings": "/earnings 仅限创作者使用。先用邀请码报名：/start 邀请码",
    }
    for line, expected in refusals.items():
        assert expected in await enrolled.text(line), line
    assert (await Submission.get(id=1)).status == "pending"
    assert await Campaign.all().count() == 1
    assert await Invite.all().count() == 1


async def test_a_manager_of_another_brand_cannot_touch_this_one(enrolled: Chat) -> None:
    await enrolled.say(f"ada@dm: /submit {POST_A}", "boss@dm: /role max manager OTHER")
    assert await enrolled.text("max@dm: /review") == "没有待审核的作品。"
    assert "没有找到你的作品 #1" in await enrolled.text("max@dm: /approve 1")
    assert await enrolled.text("max@dm: /invite SPRING26") == "活动 SPRING26 不属于你运营的品牌。"
    assert (await Submission.get(id=1)).status == "pending"


async def test_creators_see_only_their_own_posts_and_money(enrolled: Chat) -> None:
    await enrolled.say(
        "mia@dm: /invite SPRING26 code=ACME-BEN", *onboarding_answers("ben", code="ACME-BEN")
    )
    await enrolled.say(f"ada@dm: /submit {POST_A}", "mia@dm: /approve 1")
    await enrolled.say("ada@dm: /metrics 1 likes=500")
    assert await enrolled.text("ben@dm: /metrics 1 likes=999999") == "没有找到你的作品 #1。"
    ben = await enrolled.text("ben@dm: /earnings")
    assert ben == "你还没有提交过作品，暂无收益。"
    ada = await enrolled.text("ada@dm: /earnings")
    assert "合计 ¥150.00" in ada  # ¥50 fixed + 500 × ¥0.20
    assert (await Submission.get(id=1).prefetch_related("metrics")).metrics[0].likes == 500


async def test_earnings_asked_in_a_group_are_answered_in_private(enrolled: Chat) -> None:
    messages = await enrolled.say("ada@car-club: 收益")
    assert [(m["chat"], m["to"]) for m in messages] == [("dm", "ada"), ("car-club", "ada")]
    assert messages[1]["text"] == "收益是私人信息，我已私信发给你。"


async def test_manager_actions_are_audited(enrolled: Chat) -> None:
    await enrolled.say(f"ada@dm: /submit {POST_A}", f"ada@dm: /submit {POST_B}")
    await enrolled.say("mia@dm: /approve 1", "mia@dm: /reject 2 模糊")
    actions = await AuditLog.all().order_by("id").values_list("action", flat=True)
    assert actions == [
        "brand.create",
        "role.grant",
        "campaign.create",
        "invite.create",
        "submission.approved",
        "submission.rejected",
    ]
    approving = await AuditLog.get(action="submission.approved").prefetch_related("actor")
    assert approving.actor.display_name == "mia"


async def test_a_decision_is_made_once(enrolled: Chat) -> None:
    await enrolled.say(f"ada@dm: /submit {POST_A}", "mia@dm: /approve 1")
    assert await enrolled.text("mia@dm: /approve 1") == "作品 #1 已经是“已通过”状态，无需再处理。"
    assert (await Submission.get(id=1)).status == "approved"
    # An approved post may still be rejected (its accrual is reversed, issue 6); only once.
    await enrolled.say("mia@dm: /reject 1 changed my mind")
    assert await enrolled.text("mia@dm: /reject 1 again") == (
        "作品 #1 已经是“已驳回”状态，无需再处理。"
    )
    entries = await LedgerEntry.filter(submission_id=1).order_by("id")
    assert [(e.kind, e.amount_fen) for e in entries] == [("accrual", 5000), ("reversal", -5000)]
