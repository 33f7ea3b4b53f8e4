"""Money in integer minor units (fen). Never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext

MAX_YUAN = 10**12  # far above any campaign; keeps every amount inside a 64-bit fen column
CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$"}


class MoneyError(ValueError):
    pass


def parse_yuan(value: object) -> int:
    """'12.5' / 12 / '¥0.30' → fen. More than two decimals or a negative amount is an error.

    YAML hands floats such as 0.2 over; their shortest repr is exact decimal text, so they are
    converted through str(), never multiplied as floats.
    """
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"{value!r} is not an amount")
    text = str(value).strip().replace(",", "")
    for symbol in ("¥", "￥", "元", "CNY", "RMB"):
        text = text.replace(symbol, "")
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise MoneyError(f"{value!r} is not an amount") from None
    if not amount.is_finite():
        raise MoneyError(f"{value!r} is not an amount")
    if amount < 0:
        raise MoneyError(f"{value!r} is negative")
    if amount > MAX_YUAN:
        raise MoneyError(f"{value!r} is too large")
    # Exact arithmetic: enough precision for every digit the text has (no silent rounding).
    with localcontext() as context:
        context.prec = len(amount.as_tuple().digits) + 10
        fen = amount * 100
        if fen != fen.to_integral_value():
            raise MoneyError(f"{value!r} has more than two decimals")
    return int(fen)


def format_fen(fen: int, currency: str = "CNY") -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{CURRENCY_SYMBOLS.get(currency, currency + ' ')}{whole:,}.{cents:02d}"


def parse_signed_yuan(value: str) -> int:
    """An adjustment in yuan that may be negative: '-12.5' / '+8' / '－¥3' / '0' → fen.

    The sign is read here and the rest goes through parse_yuan (which refuses negatives), so
    '--5' or '-' alone are errors like any other malformed amount."""
    text = str(value).strip().replace("－", "-").replace("＋", "+")
    sign = 1
    if text[:1] in ("-", "+"):
        sign, text = (-1 if text[0] == "-" else 1), text[1:].strip()
    if not text or text[:1] in ("-", "+"):
        raise MoneyError(f"{value!r} is not an amount")
    return sign * parse_yuan(text)
