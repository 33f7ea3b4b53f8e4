"""Unit tests for bot.domain.money: yuan text/YAML numbers → integer fen, and fen → display."""

from __future__ import annotations

import pytest

from bot.domain.money import CURRENCY_SYMBOLS, MoneyError, format_fen, parse_yuan

# --------------------------------------------------------------------------- parse_yuan


@pytest.mark.parametrize(
    ("value", "fen"),
    [
        pytest.param("0.2", 20, id="str-decimal"),
        pytest.param(0.2, 20, id="yaml-float"),
        pytest.param(0.1, 10, id="yaml-float-0.1"),
        pytest.param(0.29, 29, id="yaml-float-binary-inexact"),
        pytest.param(1.15, 115, id="yaml-float-1.15"),
        pytest.param(50, 5000, id="int"),
        pytest.param(0, 0, id="zero-int"),
        pytest.param("0", 0, id="zero-str"),
        pytest.param("12.5", 1250, id="one-decimal"),
        pytest.param("¥12.50", 1250, id="yen-sign"),
        pytest.param("￥12.50", 1250, id="full-width-yen-sign"),
        pytest.param("12元", 1200, id="yuan-suffix"),
        pytest.param("CNY 3", 300, id="cny-prefix"),
        pytest.param("RMB 3", 300, id="rmb-prefix"),
        pytest.param("1,234.56", 123456, id="thousands-separator"),
        pytest.param("  7.05  ", 705, id="surrounding-space"),
        pytest.param("0.01", 1, id="one-fen"),
        pytest.param("12.500", 1250, id="trailing-zero-third-decimal"),
        pytest.param("99999999.99", 9999999999, id="large-amount"),
    ],
)
def test_parse_yuan_converts_to_exact_fen(value: object, fen: int) -> None:
    result = parse_yuan(value)
    assert result == fen
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("0.001", "more than two decimals", id="three-decimals"),
        pytest.param(0.001, "more than two decimals", id="three-decimals-float"),
        pytest.param("1.005", "more than two decimals", id="three-decimals-nonzero-cents"),
        pytest.param("-1", "negative", id="negative"),
        pytest.param(-0.5, "negative", id="negative-float"),
        pytest.param("abc", "not an amount", id="letters"),
        pytest.param("", "not an amount", id="empty"),
        pytest.param("¥", "not an amount", id="symbol-only"),
        pytest.param(None, "not an amount", id="none"),
        pytest.param(True, "not an amount", id="bool-true"),
        pytest.param(False, "not an amount", id="bool-false"),
        pytest.param("NaN", "not an amount", id="nan"),
        pytest.param(float("nan"), "not an amount", id="float-nan"),
        pytest.param("Infinity", "not an amount", id="infinity"),
        pytest.param(float("inf"), "not an amount", id="float-inf"),
        pytest.param("-Infinity", "not an amount", id="minus-infinity"),
    ],
)
def test_parse_yuan_rejects(value: object, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        parse_yuan(value)


def test_money_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_yuan("abc")


def test_parse_yuan_rejects_many_decimals_beyond_decimal_precision() -> None:
    with pytest.raises(MoneyError, match="more than two decimals"):
        parse_yuan("1.0000000000000000000000000001")


def test_parse_yuan_is_exact_up_to_the_cap_and_refuses_beyond() -> None:
    assert parse_yuan("999999999999.99") == 99999999999999
    assert parse_yuan("1000000000000") == 100000000000000
    with pytest.raises(MoneyError, match="too large"):
        parse_yuan("12345678901234567890123456789.01")


# --------------------------------------------------------------------------- format_fen


@pytest.mark.parametrize(
    ("fen", "currency", "text"),
    [
        pytest.param(123456, "CNY", "¥1,234.56", id="thousands"),
        pytest.param(0, "CNY", "¥0.00", id="zero"),
        pytest.param(5, "CNY", "¥0.05", id="five-fen"),
        pytest.param(-5, "CNY", "-¥0.05", id="negative"),
        pytest.param(-123456, "CNY", "-¥1,234.56", id="negative-thousands"),
        pytest.param(100_000_000_00, "CNY", "¥100,000,000.00", id="hundred-million"),
        pytest.param(100, "USD", "$1.00", id="usd"),
        pytest.param(250, "EUR", "€2.50", id="eur"),
        pytest.param(99, "HKD", "HK$0.99", id="hkd"),
        pytest.param(150, "JPY", "JPY 1.50", id="unknown-currency"),
    ],
)
def test_format_fen(fen: int, currency: str, text: str) -> None:
    assert format_fen(fen, currency) == text


def test_format_fen_defaults_to_cny() -> None:
    assert format_fen(1250) == "¥12.50"


def test_currency_symbols_table() -> None:
    assert CURRENCY_SYMBOLS == {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$"}


@pytest.mark.parametrize("text", ["0.01", "12.5", "1,234.56", "99999999.99"])
def test_format_fen_round_trips_parse_yuan(text: str) -> None:
    formatted = format_fen(parse_yuan(text))
    assert parse_yuan(formatted) == parse_yuan(text)
