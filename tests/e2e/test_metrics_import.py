"""Metrics sheets through the console: CSV and XLSX, a preview, a confirm step, row errors."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from storage.models import AuditLog, MetricSnapshot
from tests.conftest import Chat

XHS = "https://www.xiaohongshu.com/explore/6a0d23b0d4e5f6a7b8c9d0e1"
DOUYIN = "https://www.douyin.com/video/7641803381662272789"


async def two_posts(chat: Chat) -> None:
    await chat.say(
        f"ada@dm: /submit {XHS}",
        f"ada@dm: /submit {DOUYIN}",
        "ada@dm: /metrics 1 likes=100 comments=10 views=3000",
    )


async def test_a_csv_import_previews_lists_row_errors_and_applies_when_confirmed(
    enrolled: Chat, tmp_path: Path
) -> None:
    await two_posts(enrolled)
    sheet = tmp_path / "week1.csv"
    sheet.write_text(
        "编号,链接,点赞,评论,转发,收藏,播放\n"
        "1,,1.2万,15,,,5000\n"  # by id; shares and favorites keep their values
        f",【抖音】{DOUYIN}?previous_page=app_code_link 复制打开抖音,300,12,4,20,8000\n"
        "99,,5,5,5,5,5\n"  # not a post
        ",https://example.com/x,1,1,1,1,1\n"  # not a post link
        "1,,2,2,2,2,2\n"  # the same post again
        "abc,,1,1,1,1,1\n"
        "2,,lots,1,1,1,1\n",
        encoding="utf-8",
    )
    preview = await enrolled.say(f"mia@dm: !file {sheet}")
    text = preview[0]["text"]
    assert text.startswith(
        "📥 数据导入预览（week1.csv）：2 条作品的数据将更新，5 行有问题、不会导入。"
    )
    assert "#1（第 2 行）：点赞 100→12000，评论 10→15，播放 3000→5000" in text
    assert "#2（第 3 行）：点赞 0→300，评论 0→12，转发 0→4，收藏 0→20，播放 0→8000" in text
    for expected in (
        "- 第 4 行：没有找到你管理的作品 #99",
        "- 第 5 行：找不到唯一的作品链接（https://example.com/x）",
        "- 第 6 行：作品 #1 在第 2 行已经出现过",
        "- 第 7 行：作品编号 abc 不是数字",
        "- 第 8 行：comments=lots 不是有效的数字".replace("comments", "likes"),
    ):
        assert expected in text, expected
    assert preview[0]["choices"] == ["确认导入", "取消"]
    assert await MetricSnapshot.all().count() == 1  # nothing applied yet

    assert "请回复选项前面的数字" in await enrolled.text("mia@dm: 好的吧")
    done = await enrolled.text("mia@dm: 1")
    assert done == "✅ 已导入 2 条作品的数据（week1.csv）。"
    first = await MetricSnapshot.filter(submission_id=1).order_by("-id").first()
    assert first is not None
    assert (first.likes, first.comments, first.views, first.source) == (12000, 15, 5000, "import")
    assert await MetricSnapshot.filter(submission_id=2, source="import").count() == 1
    assert await AuditLog.filter(action="metrics.import").count() == 1
    # the same sheet again changes nothing
    again = await enrolled.text(f"mia@dm: !file {sheet}")
    assert again.startswith(
        "📥 week1.csv：没有需要更新的数据（2 条和现有数据一样），什么都没有改。"
    )


async def test_an_xlsx_import_and_cancel(enrolled: Chat, tmp_path: Path) -> None:
    await two_posts(enrolled)
    book = Workbook()
    sheet = book.active
    sheet.append(["Submission ID", "Likes", "Comments", "Views"])
    sheet.append([2, 450, 30, 12000.0])
    sheet.append([None, None, None, None])
    sheet.append(["#1", "3k", 40, None])
    path = tmp_path / "metrics.xlsx"
    book.save(path)
    preview = await enrolled.text(f"mia@dm: !file {path}")
    assert "2 条作品的数据将更新" in preview
    assert "#2（第 2 行）：点赞 0→450，评论 0→30，播放 0→12000" in preview
    assert "#1（第 4 行）：点赞 100→3000，评论 10→40" in preview
    assert await enrolled.text("mia@dm: 取消") == "已取消，什么都没有保存。"
    assert await MetricSnapshot.all().count() == 1
    await enrolled.say(f"mia@dm: !file {path}")
    assert (await enrolled.text("mia@dm: 确认")).startswith("✅ 已导入 2 条作品的数据")
    assert "💰" in await enrolled.text("ada@dm: /earnings")


async def test_unreadable_sheets_and_wrong_callers(enrolled: Chat, tmp_path: Path) -> None:
    await two_posts(enrolled)
    no_key = tmp_path / "no_key.csv"
    no_key.write_text("作品,点赞\nx,1\n", encoding="utf-8")
    assert "第一行要有“编号”（作品编号）或“链接”列" in await enrolled.text(
        f"mia@dm: !file {no_key}"
    )
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"not a zip file")
    assert "这不是有效的 XLSX 文件" in await enrolled.text(f"mia@dm: !file {fake}")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("编号,点赞\n1,500\n".encode("gb18030"))
    assert "点赞 100→500" in await enrolled.text(f"mia@dm: !file {gbk}")
    await enrolled.say("mia@dm: 取消")
    assert "只有运营可以" in await enrolled.text(f"ada@dm: !file {gbk}")  # creators cannot import
    await enrolled.say("boss@dm: /role max manager OTHER")
    other = await enrolled.text(f"max@dm: !file {gbk}")
    assert "没有找到你管理的作品 #1" in other and "什么都没有改" in other
    assert await MetricSnapshot.all().count() == 1
