"""A manager's metrics sheet (CSV or XLSX) read into rows: which post, which numbers.

Each row names its post by submission id (a column such as ``id`` / ``编号``) or by link
(``link`` / ``链接``: a URL or a whole share text), and carries counts in columns named
like the /metrics keys (``likes`` / ``点赞`` …, ``1.2万`` works). Every problem is kept
with the sheet's 1-based row number; good rows are read regardless. No I/O here: the
bytes come from the chat.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from bot.domain.links import Link, find_links
from bot.domain.metrics import KEY_ALIASES, parse_count

MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
ID_HEADERS = {"id", "submission", "submission_id", "编号", "作品编号", "作品id", "提交编号"}
LINK_HEADERS = {"link", "url", "post", "链接", "作品链接", "地址"}


class SheetError(Exception):
    """The file as a whole cannot be read (the code names why, for the reply template)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code} {detail}".strip())
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class SheetRow:
    line: int  # the row number in the sheet (the header is row 1)
    submission_id: int | None
    link: Link | None
    values: dict[str, int]


@dataclass
class Sheet:
    rows: list[SheetRow] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (line, code, detail)


def read_cells(name: str, data: bytes) -> list[list[str]]:
    """The sheet's cells as text, row by row (CSV in UTF-8 or GB18030, or XLSX)."""
    if len(data) > MAX_BYTES:
        raise SheetError("too_large", str(MAX_BYTES // (1024 * 1024)))
    if name.lower().endswith(".xlsx"):
        return _xlsx_cells(data)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SheetError("not_text")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), dialect)]


def _xlsx_cells(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not XLSX
        raise SheetError("not_xlsx", type(exc).__name__) from None
    try:
        sheet = book.worksheets[0]
        rows = []
        for row in sheet.iter_rows(values_only=True):
            rows.append([_cell_text(value) for value in row])
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header_key(cell: str) -> str | None:
    key = re.sub(r"[\s_\-]+", "", cell.strip().lower())
    if key in {re.sub(r"[\s_\-]+", "", h) for h in ID_HEADERS}:
        return "id"
    if key in LINK_HEADERS:
        return "link"
    return KEY_ALIASES.get(key)


def parse_sheet(cells: list[list[str]]) -> Sheet:
    """Rows of a sheet whose first non-empty row is the header."""
    while cells and not any(cells[0]):
        cells = cells[1:]
    if not cells:
        raise SheetError("empty")
    header = [_header_key(cell) for cell in cells[0]]
    if "id" not in header and "link" not in header:
        raise SheetError("no_key_column")
    if not set(header) & set(KEY_ALIASES.values()):
        raise SheetError("no_metric_column")
    if len(cells) - 1 > MAX_ROWS:
        raise SheetError("too_many_rows", str(MAX_ROWS))
    sheet = Sheet()
    for offset, row in enumerate(cells[1:], start=2):
        if not any(row):
            continue
        named = {key: (row[i] if i < len(row) else "") for i, key in enumerate(header) if key}
        _read_row(offset, named, sheet)
    return sheet


def _read_row(line: int, named: dict[str, str], sheet: Sheet) -> None:
    submission_id = None
    raw_id = named.get("id", "").lstrip("#").strip()
    if raw_id:
        if not raw_id.isdigit() or len(raw_id) > 9:
            sheet.errors.append((line, "bad_id", raw_id[:40]))
            return
        submission_id = int(raw_id)
    link = None
    raw_link = named.get("link", "")
    if raw_link and submission_id is None:
        posts = [found for found in find_links(raw_link) if found.kind == "post"]
        if len(posts) != 1:
            sheet.errors.append((line, "bad_link", raw_link[:80]))
            return
        link = posts[0]
    if submission_id is None and link is None:
        sheet.errors.append((line, "no_post", ""))
        return
    values: dict[str, int] = {}
    for key, raw in named.items():
        if key in ("id", "link") or not raw:
            continue
        count = parse_count(raw)
        if count is None:
            sheet.errors.append((line, "bad_number", f"{key}={raw[:20]}"))
            return
        values[key] = count
    if not values:
        sheet.errors.append((line, "no_numbers", ""))
        return
    sheet.rows.append(SheetRow(line, submission_id, link, values))


def read_sheet(name: str, data: bytes) -> Sheet:
    return parse_sheet(read_cells(name, data))
