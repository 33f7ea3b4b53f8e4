"""Unit tests for bot.domain.points (hand-computed) and signed adjustment amounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.money import MoneyError, parse_signed_yuan
from bot.domain.points import (
    Award,
    PostFacts,
    level_for,
    on_time,
    post_awards,
    rank,
    total_points,
)

EMBARGO = datetime(2026, 5, 20, 2, 30, tzinfo=UTC)
DEADLINE = datetime(2026, 5, 27, 15, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("post", "points"),
    [
        pytest.param(PostFacts(False, True, 50_000), 0, id="not-approved-earns-nothing"),
        pytest.param(PostFacts(True), 10, id="approved"),
        pytest.param(PostFacts(True, True), 15, id="approved-on-time"),
        pytest.param(PostFacts(True, False, 99), 10, id="below-first-milestone"),
        pytest.param(PostFacts(True, False, 100), 15, id="first-milestone-exactly"),
        pytest.param(PostFacts(True, True, 999), 20, id="on-time-and-100"),
        pytest.param(PostFacts(True, True, 1_000), 40, id="100-and-1000"),
        pytest.param(PostFacts(True, True, 10_000), 90, id="every-milestone"),
    ],
)
def test_post_points(post: PostFacts, points: int) -> None:
    assert sum(a.points for a in post_awards(post)) == points


def test_awards_name_their_reason() -> None:
    assert post_awards(PostFacts(True, True, 1_500)) == [
        Award("approved", 10),
        Award("on_time", 5),
        Award("milestone", 5, 100),
        Award("milestone", 20, 1_000),
    ]
    assert total_points([PostFacts(True, True, 1_500), PostFacts(False), PostFacts(True)]) == 50


def test_on_time_is_the_window_both_ends_included() -> None:
    assert on_time(EMBARGO, DEADLINE, EMBARGO) and on_time(EMBARGO, DEADLINE, DEADLINE)
    assert not on_time(EMBARGO, DEADLINE, EMBARGO - timedelta(seconds=1))  # a leak
    assert not on_time(EMBARGO, DEADLINE, DEADLINE + timedelta(seconds=1))  # late


@pytest.mark.parametrize(
    ("points", "level", "to_next"),
    [(0, 1, 30), (29, 1, 1), (30, 2, 70), (99, 2, 1), (100, 3, 200), (300, 4, 700), (999, 4, 1),
     (1_000, 5, None), (50_000, 5, None)],
)  # fmt: skip
def test_levels_from_points(points: int, level: int, to_next: int | None) -> None:
    assert level_for(points).number == level
    assert level_for(points).to_next(points) == to_next


def test_rank_shares_places_on_ties_and_keeps_order() -> None:
    assert rank([("ann", 10), ("bob", 40), ("cy", 10), ("di", 5)]) == [
        (1, "bob", 40),
        (2, "ann", 10),
        (2, "cy", 10),
        (4, "di", 5),
    ]
    assert rank([]) == []


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0", 0), ("20", 2000), ("20.5", 2050), ("-10", -1000), ("+8", 800), ("－3.05", -305),
     ("-¥1,200.10", -120010), ("¥15", 1500), ("-0", 0)],
)  # fmt: skip
def test_signed_amounts(text: str, fen: int) -> None:
    assert parse_signed_yuan(text) == fen


@pytest.mark.parametrize("text", ["", "-", "+", "--5", "-+5", "abc", "1.234", "¥-3", "1e3x"])
def test_bad_signed_amounts(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_signed_yuan(text)
