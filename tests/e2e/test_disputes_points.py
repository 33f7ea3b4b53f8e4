"""Issue 6, the rest: disputes resolved by adjustments, budget alerts, points and the
leaderboard, through the console."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from storage.models import BudgetAlert, Creator, Dispute, LedgerEntry
from tests.conftest import Chat
from tests.e2e.test_money import SETUP, ledger_total


def to(messages: list[dict], user: str) -> list[str]:
    return [m["text"] for m in messages if m["to"] == user]


async def test_dispute_resolved_by_an_adjustment_shows_in_earnings_statement_and_export(
    chat: Chat,
) -> None:
    await chat.say(*SETUP, "ada@dm: /metrics 1 likes=100 comments=10 gmv=1000")  # ¥172.00
    await chat.say("ben@dm: /metrics 2 likes=50")  # ¥60.00

    filed = await chat.say("ada@dm: /dispute 1 漏算了周一之后的点赞")
    assert to(filed, "ada") == [
        "📮 申诉 #1 已提交（作品 #1，夏季结算测试）。已进入运营的处理队列，处理结果会私信通知你。"
    ]
    [alert] = to(filed, "mia")
    assert alert.startswith("📮 新申诉 #1：ada 对 MONEY1 的作品 #1 提出申诉：漏算了周一之后的点赞")
    assert to(filed, "bea") == []  # brand ops are not the queue
    assert "已有一个待处理的申诉 #1" in await chat.text("ada@dm: 申诉 1 再说一次")

    listed = (await chat.say("mia@dm: /disputes MONEY1"))[-1]
    assert listed["text"] == (
        "📮 待处理的申诉（MONEY1）：共 1 条\n"
        "1. 申诉 #1｜MONEY1 作品 #1｜ada：漏算了周一之后的点赞\n"
        "回复编号查看详情；处理：/resolve 申诉编号 金额 理由（元，可为负；0 = 驳回）。"
    )
    assert listed["choices"] == ["#1 ada：漏算了周一之后的点赞"]
    detail = await chat.text("mia@dm: 1")
    assert "申诉 #1（待处理）" in detail and "理由：漏算了周一之后的点赞" in detail

    resolved = await chat.say("mia@dm: /resolve 1 20.5 补计漏算的点赞")
    assert to(resolved, "mia") == [
        "✅ 申诉 #1 已处理：给 ada 记调整 ¥20.50（补计漏算的点赞），计入 MONEY1 的待结算。"
        "已通知创作者。"
    ]
    assert to(resolved, "ada") == [
        "📮 你的申诉 #1（作品 #1）已处理：调整 ¥20.50，理由：补计漏算的点赞。发送 /earnings 查看。"
    ]
    entry = await LedgerEntry.get(kind="adjustment")
    assert (entry.amount_fen, entry.note, entry.submission_id, entry.basis) == (
        2050,
        "补计漏算的点赞",
        1,
        {"dispute": 1},
    )
    assert "已经处理过了" in await chat.text("mia@dm: /resolve 1 99 再来一次")
    assert await LedgerEntry.filter(kind="adjustment").count() == 1

    ada = await chat.text("ada@dm: /earnings")
    assert "合计 ¥192.50｜待结算 ¥192.50｜已结算 ¥0.00｜已支付 ¥0.00" in ada
    assert "调整 ¥20.50：补计漏算的点赞" in ada
    assert "ben" not in ada and "¥60.00" not in ada

    # A deduction (negative) for ben, and a rejection (0: no entry) for ada's second dispute.
    await chat.say("ben@dm: /dispute 2 请复核", "mia@dm: /resolve 2 -10 重复计算的互动")
    assert "合计 ¥50.00｜待结算 ¥50.00" in await chat.text("ben@dm: /earnings")
    await chat.say("ada@dm: /dispute 1 还有评论没算")
    rejected = await chat.say("mia@dm: /resolve 3 0 评论数与截图一致")
    assert to(rejected, "ada") == [
        "📮 你的申诉 #3（作品 #1）未获支持，金额不变。理由：评论数与截图一致。"
    ]
    assert to(rejected, "mia") == ["申诉 #3 已驳回（评论数与截图一致），未记账。已通知创作者。"]
    assert await LedgerEntry.filter(kind="adjustment").count() == 2
    assert [d.status for d in await Dispute.all().order_by("id")] == [
        "resolved",
        "resolved",
        "rejected",
    ]
    assert "没有待处理的申诉" in await chat.text("mia@dm: /disputes")
    # Asked in a group, the answer goes to the manager in private; the group learns nothing.
    await chat.say("ben@dm: /dispute 2 还有转发没算")
    in_group = await chat.say("mia@car-club: /disputes")
    assert [(m["chat"], m["text"]) for m in in_group if m["chat"] == "car-club"] == [
        ("car-club", "申诉和金额是私人信息，我已私信回复你。")
    ]
    assert any("还有转发没算" in m["text"] for m in in_group if m["chat"] == "dm")
    await chat.say("mia@dm: /resolve 4 0 已核对")

    # Statements carry the adjustment; the export's totals equal the ledger to the fen.
    await chat.say("mia@dm: /settle MONEY1")
    closed = await chat.say("mia@dm: 1")
    ada_statement = next(m["text"] for m in closed if m["to"] == "ada" and "对账单" in m["text"])
    assert "调整：¥20.50（补计漏算的点赞）" in ada_statement
    assert "本期合计：¥192.50" in ada_statement
    exported = (await chat.say("mia@dm: /export MONEY1"))[-1]
    assert "账本合计 ¥242.50" in exported["text"]
    assert await ledger_total() == 24250
    with Path(exported["files"][0]).open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert sum(int(r[-1].replace(".", "")) for r in rows if r and r[0] == "post") == 24250


async def test_disputes_refuse_bad_input_other_creators_and_non_managers(chat: Chat) -> None:
    await chat.say(*SETUP, "boss@dm: /role max manager OTHER")
    assert (await chat.text("ada@dm: /dispute")).startswith("用法：/dispute 作品编号 理由")
    assert (await chat.text("ada@dm: /dispute 1")).startswith("用法")  # no reason
    assert (await chat.text("ada@dm: /dispute abc 理由")).startswith("用法")
    assert await chat.text("ben@dm: /dispute 1 不是我的作品") == "没有找到你的作品 #1。"
    assert await chat.text("ada@dm: /dispute 99 不存在") == "没有找到你的作品 #99。"
    assert "仅限创作者" in await chat.text("mia@dm: /dispute 1 运营不能申诉")
    assert await Dispute.all().count() == 0

    await chat.say("ada@dm: /dispute 1 金额不对")
    assert "仅限" in await chat.text("ada@dm: /disputes")
    assert "仅限" in await chat.text("ada@dm: /resolve 1 100 自己批")
    assert "仅限" in await chat.text("bea@dm: /resolve 1 100 品牌方")
    assert "没有待处理的申诉" in await chat.text("max@dm: /disputes")
    assert "没有找到你运营的品牌下的申诉 #1" in await chat.text("max@dm: /resolve 1 100 别人的")
    assert "不属于你运营的品牌" in await chat.text("max@dm: /disputes MONEY1")
    assert (await chat.text("mia@dm: /resolve")).startswith("用法：/resolve")
    assert (await chat.text("mia@dm: /resolve 1 20")).startswith("用法")  # no reason
    for amount in ("abc", "1.234", "--5", "-", "¥-3"):
        reply = await chat.text(f"mia@dm: /resolve 1 {amount} 理由")
        assert "不是有效金额" in reply and "没有记录任何内容" in reply, amount
    assert await LedgerEntry.filter(kind="adjustment").count() == 0
    assert (await Dispute.get(id=1)).status == "open"


async def test_budget_alerts_reach_managers_once_per_threshold(chat: Chat) -> None:
    await chat.say(*SETUP)  # two approved posts: ¥100.00 of a ¥400.00 budget
    # ada: ¥50 + 800 × ¥0.20 + 10% × ¥1,000 = ¥310.00; with ben's ¥50 → ¥360.00 ≥ 80%
    crossed = await chat.say("ada@dm: /metrics 1 likes=800 gmv=1000")
    assert to(crossed, "mia") == [
        "⚠️ 夏季结算测试（MONEY1）累计支出 ¥360.00，已达预算 ¥400.00 的 80%。请留意剩余预算。"
    ]
    assert to(crossed, "bea") == [] and to(crossed, "ben") == []
    # ¥340.00: still above 80%, nothing new
    assert to(await chat.say("ada@dm: /metrics 1 likes=700"), "mia") == []
    full = await chat.say("ada@dm: /metrics 1 likes=1000")  # ¥350.00 + ¥50.00 = ¥400.00
    [alert] = to(full, "mia")
    assert alert.startswith("🚨 夏季结算测试（MONEY1）累计支出 ¥400.00，已达预算 ¥400.00 的 100%。")
    # Falling below and rising again repeats nothing.
    await chat.say("ada@dm: /metrics 1 likes=0")
    again = await chat.say("ada@dm: /metrics 1 likes=1200")
    assert to(again, "mia") == []
    alerts = await BudgetAlert.all().order_by("percent")
    assert [(a.percent, a.spent_fen, a.notified) for a in alerts] == [
        (80, 36000, 1),
        (100, 40000, 1),
    ]


async def test_points_levels_and_leaderboard_show_no_money(chat: Chat) -> None:
    await chat.say(*SETUP)
    # Both approved and submitted inside the window: 10 + 5 each; ada's 110 engagements +5.
    await chat.say("ada@dm: /metrics 1 likes=100 comments=10 gmv=1000")
    points = dict(await Creator.all().values_list("person__display_name", "points"))
    assert points == {"ada": 20, "ben": 15}

    board = await chat.text("ben@dm: /leaderboard MONEY1")
    assert board.startswith(
        "🏆 积分排行榜：夏季结算测试（MONEY1）\n1. ada：20 分｜Lv1\n2. ben：15 分｜Lv1\n"
    )
    assert "¥" not in board and "收益" not in board
    in_group = await chat.say("ada@car-club: 排行榜")
    assert in_group[-1]["chat"] == "car-club" and "1. ada：20 分｜Lv1" in in_group[-1]["text"]
    assert "¥" not in in_group[-1]["text"]
    assert "1. ada：20 分" in await chat.text("mia@dm: /leaderboard MONEY1")

    # 1,000 engagements: +20 more → 40 points, level 2 (from 30).
    await chat.say("ada@dm: /metrics 1 likes=990")
    assert "1. ada：40 分｜Lv2" in await chat.text("ada@dm: /leaderboard")
    # Rejecting ben's approved post takes its points back.
    await chat.say("mia@dm: /reject 2 刷量")
    assert "2. ben：0 分｜Lv1" in await chat.text("ada@dm: /leaderboard MONEY1")

    assert "只对参加活动的创作者和品牌运营开放" in await chat.text("zed@dm: /leaderboard")
    await chat.say("boss@dm: /role max manager OTHER")
    assert "没有找到活动 MONEY1" in await chat.text("max@dm: /leaderboard MONEY1")
    assert "还没有人获得积分" in await chat.text("max@dm: /leaderboard")


async def test_a_jump_past_both_levels_says_100_percent_once(chat: Chat) -> None:
    await chat.say(*SETUP)
    jump = await chat.say("ada@dm: /metrics 1 likes=1000 gmv=1000")  # ¥350.00 + ben's ¥50.00
    [alert] = to(jump, "mia")
    assert alert.startswith("🚨 夏季结算测试（MONEY1）累计支出 ¥400.00，已达预算 ¥400.00 的 100%。")
    assert await BudgetAlert.filter(notified=1).count() == 2


async def test_two_managers_resolving_at_once_adjust_once(chat: Chat) -> None:
    await chat.say(*SETUP, "boss@dm: /role tom manager ACME", "ada@dm: /dispute 1 金额不对")
    await asyncio.gather(
        chat.console.feed("mia@dm: /resolve 1 15 补计"),
        chat.console.feed("tom@dm: /resolve 1 30 补计"),
    )
    texts = [m["text"] for m in chat.new()]
    assert sum(t.startswith("✅ 申诉 #1 已处理") for t in texts) == 1
    assert sum("已经处理过了" in t for t in texts) == 1
    assert await LedgerEntry.filter(kind="adjustment").count() == 1
