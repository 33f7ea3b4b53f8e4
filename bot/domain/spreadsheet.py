"""Cells for finance's spreadsheets: text that a user wrote must never run as a formula.

CSV has no types, so a text cell that a spreadsheet would read as a formula (it starts with
= + - @, a tab or a carriage return: OWASP's CSV-injection list) gets a leading apostrophe,
which spreadsheets show as "this is text". Our own amounts ("-60.00") stay numbers.
XLSX cells carry a type: text is written as text (see `is_text`), unchanged.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def csv_cell(value: object) -> object:
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def csv_row(row: list) -> list:
    return [csv_cell(value) for value in row]


def is_text(value: object) -> bool:
    """Written as a string cell in XLSX (openpyxl would make '=…' a formula otherwise)."""
    return isinstance(value, str) and not _PLAIN_NUMBER.fullmatch(value)
