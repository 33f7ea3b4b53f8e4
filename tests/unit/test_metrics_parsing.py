"""Unit tests for bot.domain.metrics: `/metrics` arguments as creators type them."""

from __future__ import annotations

import pytest

from bot.domain.metrics import KEY_ALIASES, MAX_COUNT, METRIC_FIELDS, parse_count, parse_metrics

# --------------------------------------------------------------------------- parse_count


@pytest.mark.parametrize(
    ("text", "count"),
    [
        pytest.param("0", 0, id="zero"),
        pytest.param("120", 120, id="plain"),
        pytest.param("1,234", 1234, id="comma"),
        pytest.param("1，234", 1234, id="full-width-comma"),
        pytest.param("1,234,567", 1234567, id="two-commas"),
        pytest.param("1.2万", 12000, id="wan"),
        pytest.param("1.2w", 12000, id="w"),
        pytest.param("1.2W", 12000, id="W"),
        pytest.param("3万", 30000, id="whole-wan"),
        pytest.param("3k", 3000, id="k"),
        pytest.param("3K", 3000, id="K"),
        pytest.param("2.5k", 2500, id="decimal-k"),
        pytest.param("1.5m", 1_500_000, id="m"),
        pytest.param("2M", 2_000_000, id="M"),
        pytest.param("1.0", 1, id="whole-decimal"),
        pytest.param(" 42 ", 42, id="spaces"),
        pytest.param(str(MAX_COUNT), 10**12, id="max"),
        pytest.param("1000000m", 10**12, id="max-with-suffix"),
    ],
)
def test_parse_count(text: str, count: int) -> None:
    result = parse_count(text)
    assert result == count
    assert type(result) is int


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1.5", id="not-whole"),
        pytest.param("1.2345k", id="not-whole-k"),
        pytest.param("abc", id="letters"),
        pytest.param("", id="empty"),
        pytest.param("-5", id="negative"),
        pytest.param("+5", id="plus-sign"),
        pytest.param("1e3", id="exponent"),
        pytest.param("3kk", id="double-suffix"),
        pytest.param("3b", id="unknown-suffix"),
        pytest.param(".5k", id="no-integer-part"),
        pytest.param("k", id="suffix-only"),
        pytest.param(str(MAX_COUNT + 1), id="above-max"),
        pytest.param("1000001m", id="above-max-with-suffix"),
    ],
)
def test_parse_count_rejects(text: str) -> None:
    assert parse_count(text) is None


def test_max_count() -> None:
    assert MAX_COUNT == 10**12


def test_parse_count_rejects_fraction_beyond_decimal_precision() -> None:
    assert parse_count("1.00000000000000000000000000001") is None


# --------------------------------------------------------------------------- parse_metrics


def test_english_keys() -> None:
    parsed = parse_metrics("likes=120 comments=8 shares=3 favorites=15 views=2400")
    assert parsed.values == {
        "likes": 120,
        "comments": 8,
        "shares": 3,
        "favorites": 15,
        "views": 2400,
    }
    assert parsed.problems == []


def test_chinese_keys_with_mixed_separators() -> None:
    parsed = parse_metrics("点赞=1.2万 评论：8 转发=3 收藏:15 播放=2400")
    assert parsed.values == {
        "likes": 12000,
        "comments": 8,
        "shares": 3,
        "favorites": 15,
        "views": 2400,
    }
    assert parsed.problems == []


def test_full_width_colon() -> None:
    parsed = parse_metrics("点赞：12")
    assert parsed.values == {"likes": 12}
    assert parsed.problems == []


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("like=1", {"likes": 1}),
        ("赞=2", {"likes": 2}),
        ("Likes=3", {"likes": 3}),
        ("comment=4", {"comments": 4}),
        ("share=5", {"shares": 5}),
        ("分享=6", {"shares": 6}),
        ("favorite=7", {"favorites": 7}),
        ("favs=8", {"favorites": 8}),
        ("view=9", {"views": 9}),
        ("阅读=3w", {"views": 30000}),
        ("浏览=1,234", {"views": 1234}),
        ("likes = 3k", {"likes": 3000}),
        ("LIKES:10", {"likes": 10}),
    ],
)
def test_key_aliases(text: str, values: dict[str, int]) -> None:
    parsed = parse_metrics(text)
    assert parsed.values == values
    assert parsed.problems == []


def test_every_alias_maps_to_a_metric_field() -> None:
    assert set(KEY_ALIASES.values()) == set(METRIC_FIELDS)


def test_unknown_key_is_a_problem_and_others_still_parse() -> None:
    parsed = parse_metrics("likes=12 coins=3")
    assert parsed.values == {"likes": 12}
    assert parsed.problems == [("coins", "unknown_metric")]


def test_bad_number_is_a_problem() -> None:
    parsed = parse_metrics("likes=1.5 comments=lots views=9")
    assert parsed.values == {"views": 9}
    assert parsed.problems == [("likes=1.5", "bad_number"), ("comments=lots", "bad_number")]


def test_bad_number_keeps_the_key_as_typed() -> None:
    parsed = parse_metrics("点赞：很多")
    assert parsed.values == {}
    assert parsed.problems == [("点赞=很多", "bad_number")]


def test_stray_tokens_are_not_a_pair() -> None:
    parsed = parse_metrics("hello likes=5 world")
    assert parsed.values == {"likes": 5}
    assert parsed.problems == [("hello", "not_a_pair"), ("world", "not_a_pair")]


def test_key_without_separator_is_not_a_pair() -> None:
    parsed = parse_metrics("点赞 12")
    assert parsed.values == {}
    assert parsed.problems == [("点赞", "not_a_pair"), ("12", "not_a_pair")]


def test_all_problem_kinds_reported_together() -> None:
    parsed = parse_metrics("oops likes=abc coins=1 shares=2")
    assert parsed.values == {"shares": 2}
    assert parsed.problems == [
        ("oops", "not_a_pair"),
        ("likes=abc", "bad_number"),
        ("coins", "unknown_metric"),
    ]


def test_empty_text() -> None:
    parsed = parse_metrics("")
    assert parsed.values == {}
    assert parsed.problems == []


def test_repeated_key_last_value_wins() -> None:
    assert parse_metrics("likes=1 点赞=2").values == {"likes": 2}


def test_cpa_counts_and_gmv_in_yuan() -> None:
    parsed = parse_metrics("点击=1.2万 leads=30 gmv=¥1,234.5")
    assert parsed.values == {"clicks": 12000, "leads": 30, "gmv_fen": 123450}
    assert parsed.problems == []
    bad = parse_metrics("成交额=1.234 likes=3")
    assert bad.values == {"likes": 3}
    assert bad.problems == [("成交额=1.234", "bad_number")]
