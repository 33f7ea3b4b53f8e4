"""Fraud and quality flags through the console: raised when a creator reports metrics or a
manager imports a sheet, stored on the snapshot and the post, shown in /review; money and the
post's status are untouched."""

from __future__ import annotations

from pathlib import Path

from storage.models import LedgerEntry, MetricSnapshot, Submission
from tests.conftest import Chat

DOUYIN = "https://www.douyin.com/video/7641803381662272789"


async def test_likes_above_views_reported_by_the_creator_are_flagged_for_review(
    enrolled: Chat,
) -> None:
    await enrolled.say(f"ada@dm: /submit {DOUYIN}")
    reply = await enrolled.text("ada@dm: /metrics 1 likes=5000 views=100")
    assert "🚩" not in reply  # the creator is not told
    submission = await Submission.get(id=1)
    assert submission.metric_flags == [
        {"code": "likes_over_views", "detail": {"likes": 5000, "views": 100}}
    ]
    assert submission.status == "pending"
    snapshot = await MetricSnapshot.get(submission_id=1)
    assert [f["code"] for f in snapshot.flags] == ["likes_over_views"]
    queue = await enrolled.text("mia@dm: /review")
    assert "🚩 点赞高于播放：点赞 5000 / 播放 100" in queue
    # the next report clears that state flag, but 100 → 90000 views is a jump, which stays
    await enrolled.say("ada@dm: /metrics 1 likes=5000 views=90000")
    flags = (await Submission.get(id=1)).metric_flags
    assert flags == [{"code": "jump", "detail": {"views": [100, 90000]}}]
    assert "🚩 数据暴涨：播放 100→90000" in await enrolled.text("mia@dm: /review")


async def test_an_import_that_lowers_counters_is_flagged_and_stays_flagged(
    enrolled: Chat, tmp_path: Path
) -> None:
    await enrolled.say(
        f"ada@dm: /submit {DOUYIN}",
        "mia@dm: /approve 1",
        "ada@dm: /metrics 1 likes=300 comments=20 views=9000",
    )
    ledger_before = await LedgerEntry.all().count()
    sheet = tmp_path / "week2.csv"
    sheet.write_text("编号,点赞,播放\n1,120,9500\n", encoding="utf-8")
    await enrolled.say(f"mia@dm: !file {sheet}", "mia@dm: 1")
    snapshot = await MetricSnapshot.filter(submission_id=1).order_by("-id").first()
    assert snapshot is not None and snapshot.source == "import"
    assert snapshot.flags == [{"code": "counter_down", "detail": {"likes": [300, 120]}}]
    submission = await Submission.get(id=1)
    assert submission.status == "approved"
    assert [f["code"] for f in submission.metric_flags] == ["counter_down"]
    await enrolled.say("ada@dm: /metrics 1 likes=130")
    assert [f["code"] for f in (await Submission.get(id=1)).metric_flags] == ["counter_down"]
    # flags never write to the ledger: entries come from repricing alone, as before
    assert await LedgerEntry.filter(note__icontains="flag").count() == 0
    assert await LedgerEntry.all().count() >= ledger_before


async def test_english_flag_lines(enrolled: Chat) -> None:
    await enrolled.say("mia@dm: /lang en", f"ada@dm: /submit {DOUYIN}")
    await enrolled.say("ada@dm: /metrics 1 likes=5000 views=100")
    assert "🚩 more likes than views: likes 5000 / views 100" in await enrolled.text(
        "mia@dm: /review"
    )
