"""Pure rules for finance's spreadsheet cells."""

from __future__ import annotations

from bot.domain.spreadsheet import csv_cell, is_text


def test_formula_cells_become_text_and_amounts_stay_numbers() -> None:
    for dangerous in ("=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("x")'):
        assert csv_cell(dangerous) == "'" + dangerous
    for safe in ("-60.00", "192.00", "+5", "Ada", "", "a=b"):
        assert csv_cell(safe) == safe
    assert csv_cell(-6000) == -6000 and csv_cell(None) is None
    assert is_text("=1+1") and is_text("Ada") and not is_text("-60.00") and not is_text(3)
