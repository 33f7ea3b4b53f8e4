"""Unit tests for bot.domain.metrics_import: reading a metrics sheet into rows and row errors."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from bot.domain.metrics_import import SheetError, parse_sheet, read_cells, read_sheet


def test_headers_in_either_language_and_counts_as_creators_type_them() -> None:
    sheet = read_sheet(
        "m.csv",
        '作品编号,Likes,评论,Shares,收藏,播放\n#3,1.2万,"1,234",3k,,\n'.encode(),
    )
    assert sheet.errors == []
    [row] = sheet.rows
    assert (row.line, row.submission_id, row.link) == (2, 3, None)
    assert row.values == {"likes": 12000, "comments": 1234, "shares": 3000}


def test_a_link_column_takes_a_whole_share_text() -> None:
    cells = [["link", "likes"], ["【抖音】 https://v.douyin.com/iRNBho6u/ 复制打开抖音", "7"]]
    [row] = parse_sheet(cells).rows
    assert row.link is not None and row.link.dedupe_key == "douyin:https://v.douyin.com/iRNBho6u"


def test_row_errors_keep_their_row_numbers_and_good_rows_are_read() -> None:
    cells = [
        ["", ""],
        ["id", "link", "likes"],
        ["1", "", "5"],
        ["x1", "", "5"],
        ["", "https://example.com/a", "5"],
        ["", "", "5"],
        ["2", "", "many"],
        ["3", "", ""],
        ["", "", ""],
    ]
    sheet = parse_sheet(cells)
    assert [(r.line, r.submission_id) for r in sheet.rows] == [(2, 1)]
    assert sheet.errors == [
        (3, "bad_id", "x1"),
        (4, "bad_link", "https://example.com/a"),
        (5, "no_post", ""),
        (6, "bad_number", "likes=many"),
        (7, "no_numbers", ""),
    ]


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("a.csv", b"", "empty"),
        ("a.csv", "点赞,评论\n1,2\n".encode(), "no_key_column"),
        ("a.csv", "编号,备注\n1,好\n".encode(), "no_metric_column"),
        ("a.xlsx", b"PK\x03\x04 broken", "not_xlsx"),
        ("a.csv", b"\xff\xfe\x00\xd8\x00", "not_text"),
    ],
)
def test_unreadable_sheets(name: str, data: bytes, code: str) -> None:
    with pytest.raises(SheetError) as raised:
        read_sheet(name, data)
    assert raised.value.code == code


def test_xlsx_cells_and_gbk_csv() -> None:
    book = Workbook()
    book.active.append(["编号", "点赞"])
    book.active.append([7, 12.0])
    buffer = io.BytesIO()
    book.save(buffer)
    assert read_cells("m.XLSX", buffer.getvalue()) == [["编号", "点赞"], ["7", "12"]]
    assert read_cells("m.csv", "编号\t点赞\n1\t2\n".encode("gb18030")) == [
        ["编号", "点赞"],
        ["1", "2"],
    ]
