"""Issue 6 end to end through the console: pricing, the ledger, /earnings, /settle, /export."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from openpyxl import load_workbook

from storage.models import LedgerEntry, Settlement, Statement
from tests.conftest import Chat, onboarding_answers

POST_ADA = "https://www.xiaohongshu.com/explore/6a0d23b0d4e5f6a7b8c9d0e1"
POST_BEN = "https://www.xiaohongshu.com/explore/6a0d23b0d4e5f6a7b8c9d0e2"
SETUP = (
    "boss@dm: /role mia manager ACME",
    "boss@dm: /role bea brand ACME",
    "mia@dm: !file money.yaml",
    "mia@dm: /invite MONEY1 code=ACME-M",
    *onboarding_answers("ada", code="ACME-M"),
    *onboarding_answers("ben", code="ACME-M"),
    f"ada@dm: /submit {POST_ADA}",
    f"ben@dm: /submit {POST_BEN}",
    "mia@dm: /approve 1",
    "mia@dm: /approve 2",
)


async def ledger_total() -> int:
    kinds = ("accrual", "reversal", "adjustment")
    return sum(await LedgerEntry.filter(kind__in=kinds).values_list("amount_fen", flat=True))


async def test_money_from_metrics_to_paid(chat: Chat) -> None:
    await chat.say(*SETUP)
    # ada: ¥50 + (100+10) × ¥0.20 + 10% × ¥1,000 = 50 + 22 + 100 = ¥172.00
    assert "这条作品目前收益：¥172.00" in await chat.text(
        "ada@dm: /metrics 1 likes=100 comments=10 gmv=1000"
    )
    # new numbers: (200+10) × ¥0.20 = ¥42 → ¥192.00, written as a +¥20.00 difference
    await chat.say("ada@dm: /metrics 1 likes=200")
    # ben: ¥50 + 50 × ¥0.20 = ¥60.00
    await chat.say("ben@dm: /metrics 2 likes=50")
    entries = await LedgerEntry.filter(creator__person__display_name="ada").order_by("id")
    assert [(e.kind, e.amount_fen) for e in entries] == [
        ("accrual", 5000),
        ("accrual", 12200),
        ("accrual", 2000),
    ]

    ada = await chat.text("ada@dm: /earnings")
    assert "合计 ¥192.00｜待结算 ¥192.00｜已结算 ¥0.00｜已支付 ¥0.00" in ada
    assert "#1 小红书：¥192.00（待结算 ¥192.00）" in ada
    detail = await chat.text("ada@dm: /earnings 明细")
    assert "固定：¥50.00" in detail
    assert "互动 CPE：200 + 10 + 0 + 0 = 210 × ¥0.20 = ¥42.00" in detail
    assert "成交佣金 CPS：¥1,000.00 × 10% = ¥100.00" in detail
    assert "ben" not in ada and "¥60.00" not in ada

    preview = (await chat.say("mia@dm: /settle MONEY1"))[-1]
    assert preview["choices"] == ["确认结算第 1 期"]
    assert "合计 ¥252.00，2 位创作者" in preview["text"]
    closed = await chat.say("mia@dm: 1")
    statements = [m for m in closed if m["text"].startswith("🧾 对账单")]
    assert sorted(m["to"] for m in statements) == ["ada", "ben"]
    ada_statement = next(m["text"] for m in statements if m["to"] == "ada")
    assert "作品 #1 小红书（已通过）：¥192.00" in ada_statement
    assert "本期合计：¥192.00" in ada_statement
    assert "合计 ¥252.00，2 份对账单，已私信送达 2 人" in closed[-1]["text"]

    # Settling again changes nothing: no new period, no new statements.
    again = await chat.text("mia@dm: /settle MONEY1")
    assert again == "MONEY1 没有待结算的金额：上次结算之后账本没有新记录，无需再结算。"
    confirm = f"mia@dm: /settle MONEY1 confirm {(await Settlement.get(number=1)).last_entry_id}"
    assert "没有待结算" in await chat.text(confirm)  # the confirm button, pressed again
    assert await Settlement.all().count() == 1 and await Statement.all().count() == 2

    assert "合计 ¥192.00｜待结算 ¥0.00｜已结算 ¥192.00｜已支付 ¥0.00" in await chat.text(
        "ada@dm: /earnings"
    )
    # Later numbers go to the next period: (300+10) × ¥0.20 = ¥62 → +¥20.00 pending.
    await chat.say("ada@dm: /metrics 1 likes=300")
    assert "合计 ¥212.00｜待结算 ¥20.00｜已结算 ¥192.00｜已支付 ¥0.00" in await chat.text(
        "ada@dm: /earnings"
    )

    paid = await chat.say("mia@dm: /settle MONEY1 paid 1")
    assert "💸 夏季结算测试（MONEY1）第 1 期款项 ¥192.00 已支付。" in [m["text"] for m in paid]
    assert "已经标记为已支付" in await chat.text("mia@dm: /settle MONEY1 paid 1")
    payouts = await LedgerEntry.filter(kind="payout").values_list("amount_fen", flat=True)
    assert sorted(payouts) == [-19200, -6000]
    assert "合计 ¥212.00｜待结算 ¥20.00｜已结算 ¥0.00｜已支付 ¥192.00" in await chat.text(
        "ada@dm: /earnings"
    )

    # Rejecting ben's approved post reverses its accrual, in the open period.
    await chat.say("mia@dm: /reject 2 刷量")
    ben = await chat.text("ben@dm: /earnings")
    assert "合计 ¥0.00｜待结算 -¥60.00｜已结算 ¥0.00｜已支付 ¥60.00" in ben

    # The exports' totals equal the ledger to the fen (¥212.00 + ¥0.00 = ¥212.00).
    exported = (await chat.say("bea@dm: /export MONEY1"))[-1]
    assert "账本合计 ¥212.00" in exported["text"]
    csv_path, xlsx_path = (Path(p) for p in exported["files"])
    assert await ledger_total() == 21200
    with csv_path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    creator_rows = [r for r in rows if r and r[0] == "creator"]
    post_rows = [r for r in rows if r and r[0] == "post"]
    total_row = next(r for r in rows if r and r[0] == "total")
    assert [(r[2], r[4], r[5], r[6], r[7]) for r in creator_rows] == [
        ("ada", "20.00", "0.00", "192.00", "212.00"),
        ("ben", "-60.00", "0.00", "60.00", "0.00"),
    ]
    assert total_row[7] == "212.00"
    assert sum(int(r[-1].replace(".", "")) for r in post_rows) == 21200
    book = load_workbook(xlsx_path)
    sheet_rows = list(book["creators"].iter_rows(values_only=True))
    assert sheet_rows[-1][0] == "total" and sheet_rows[-1][7] == "212.00"
    assert sum(int(r[7].replace(".", "")) for r in sheet_rows[1:-1]) == 21200
    assert [r[14] for r in book["posts"].iter_rows(min_row=2, values_only=True)] == [
        "1000.00",
        "0.00",
    ]


async def test_settle_and_export_refuse_bad_input_and_other_roles(chat: Chat) -> None:
    await chat.say(*SETUP)
    assert (await chat.text("mia@dm: /settle")).startswith("用法：/settle 活动代码")
    assert "MONEY1" not in await chat.text("mia@dm: /settle NOPE")
    assert (await chat.text("mia@dm: /settle MONEY1 confirm 999")).startswith(
        "预览之后 MONEY1 的账本有了新记录"
    )
    assert (await chat.text("mia@dm: /settle MONEY1 paid")).startswith("MONEY1 还没有结算过")
    assert (await chat.text("mia@dm: /settle MONEY1 whatever")).startswith("用法")
    assert "仅限" in await chat.text("ada@dm: /settle MONEY1")
    assert "仅限" in await chat.text("ada@dm: /export MONEY1")
    await chat.say("boss@dm: /role max manager OTHER")
    assert "不属于你运营的品牌" in await chat.text("max@dm: /settle MONEY1")
    assert "MONEY1" in await chat.text("max@dm: /export MONEY1")  # named as unknown
    assert await Settlement.all().count() == 0 and await Statement.all().count() == 0


async def test_two_managers_settling_at_once_make_one_settlement(chat: Chat) -> None:
    await chat.say(*SETUP, "boss@dm: /role tom manager ACME")
    last = await LedgerEntry.all().order_by("-id").first()
    assert last is not None
    await asyncio.gather(
        chat.console.feed(f"mia@dm: /settle MONEY1 confirm {last.id}"),
        chat.console.feed(f"tom@dm: /settle MONEY1 confirm {last.id}"),
    )
    texts = [m["text"] for m in chat.new()]
    assert sum(t.startswith("✅ MONEY1 第 1 期已结算") for t in texts) == 1
    assert sum("没有待结算" in t for t in texts) == 1
    assert await Settlement.all().count() == 1 and await Statement.all().count() == 2


async def test_two_managers_approving_at_once_accrue_once(chat: Chat) -> None:
    await chat.say(*SETUP[:-2], "boss@dm: /role tom manager ACME")
    await asyncio.gather(
        chat.console.feed("mia@dm: /approve 1"), chat.console.feed("tom@dm: /approve 1")
    )
    amounts = await LedgerEntry.filter(submission_id=1).values_list("amount_fen", flat=True)
    assert amounts == [5000]


async def test_each_formula_line_stands_on_its_own_line(enrolled: Chat) -> None:
    await enrolled.say(
        "ada@dm: /submit https://www.douyin.com/video/7505000000000000000",
        "mia@dm: /approve 1",
        "ada@dm: /metrics 1 likes=100 comments=10 shares=5 favorites=20",
    )
    detail = await enrolled.text("ada@dm: /earnings 明细")
    lines = detail.splitlines()
    assert "  · 固定：¥50.00" in lines
    assert "  · 互动 CPE：100 + 10 + 5 + 20 = 135 × ¥0.20 = ¥27.00" in lines
