"""Parse `likes=120 comments=8 …` as creators type it (Chinese keys, 1.2万, 3k, 1,234)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from bot.domain.money import MoneyError, parse_yuan

METRIC_FIELDS = ("likes", "comments", "shares", "favorites", "views", "clicks", "leads")
MAX_COUNT = 10**12

KEY_ALIASES: dict[str, str] = {
    "likes": "likes", "like": "likes", "点赞": "likes", "赞": "likes",
    "comments": "comments", "comment": "comments", "评论": "comments",
    "shares": "shares", "share": "shares", "转发": "shares", "分享": "shares",
    "favorites": "favorites", "favorite": "favorites", "favs": "favorites", "收藏": "favorites",
    "views": "views", "view": "views", "播放": "views", "阅读": "views", "浏览": "views",
    "clicks": "clicks", "click": "clicks", "点击": "clicks",
    "leads": "leads", "lead": "leads", "留资": "leads", "线索": "leads",
}  # fmt: skip
# Amounts in yuan (for CPS), stored in fen: `gmv=1234.50`, `成交额=¥1,234.5`.
MONEY_ALIASES: dict[str, str] = {
    "gmv": "gmv_fen", "sales": "gmv_fen", "成交额": "gmv_fen", "销售额": "gmv_fen",
}  # fmt: skip
_MULTIPLIERS = {"": 1, "k": 1_000, "w": 10_000, "万": 10_000, "m": 1_000_000}
_PAIR = re.compile(r"([^\s=:：]+)\s*[=:：]\s*(\S+)")
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)(k|w|万|m)?$", re.IGNORECASE)


@dataclass
class ParsedMetrics:
    values: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (token, problem code)


def parse_count(text: str) -> int | None:
    """'1,234' → 1234, '1.2万' / '1.2w' → 12000, '3k' → 3000; None when not a whole count."""
    match = _NUMBER.match(text.replace(",", "").replace("，", "").strip())
    if not match:
        return None
    number = Decimal(match.group(1))
    if number > MAX_COUNT:
        return None
    with localcontext() as context:  # exact: as many digits as the text has
        context.prec = len(number.as_tuple().digits) + 10
        value = number * _MULTIPLIERS[(match.group(2) or "").lower()]
        if value != value.to_integral_value() or value > MAX_COUNT:
            return None
    return int(value)


def parse_metrics(text: str) -> ParsedMetrics:
    result = ParsedMetrics()
    consumed = _PAIR.sub(" ", text).split()
    for leftover in consumed:
        result.problems.append((leftover, "not_a_pair"))
    for key, raw in _PAIR.findall(text):
        if MONEY_ALIASES.get(key.lower()):
            try:
                result.values[MONEY_ALIASES[key.lower()]] = parse_yuan(raw)
            except MoneyError:
                result.problems.append((f"{key}={raw}", "bad_number"))
            continue
        name = KEY_ALIASES.get(key.lower())
        if name is None:
            result.problems.append((key, "unknown_metric"))
            continue
        count = parse_count(raw)
        if count is None:
            result.problems.append((f"{key}={raw}", "bad_number"))
            continue
        result.values[name] = count
    return result
