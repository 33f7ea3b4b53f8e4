"""Unit tests for bot.domain.tiers: creator tier from the largest account's followers."""

from __future__ import annotations

import pytest

from bot.domain.tiers import TIER_RULES, compute_tier


def test_default_rules() -> None:
    assert TIER_RULES == (("S", 100_000), ("A", 10_000), ("B", 1_000), ("C", 0))


@pytest.mark.parametrize(
    ("followers", "tier"),
    [
        pytest.param(0, "C", id="zero"),
        pytest.param(999, "C", id="below-B"),
        pytest.param(1_000, "B", id="at-B"),
        pytest.param(9_999, "B", id="below-A"),
        pytest.param(10_000, "A", id="at-A"),
        pytest.param(99_999, "A", id="below-S"),
        pytest.param(100_000, "S", id="at-S"),
        pytest.param(50_000_000, "S", id="huge"),
    ],
)
def test_boundaries(followers: int, tier: str) -> None:
    assert compute_tier([followers]) == tier


def test_no_accounts_is_lowest_tier() -> None:
    assert compute_tier([]) == "C"


def test_largest_account_decides() -> None:
    assert compute_tier([500, 12_000, 2_000]) == "A"
    assert compute_tier([100_000, 0]) == "S"


def test_accepts_any_iterable() -> None:
    assert compute_tier(f for f in (10, 1_500)) == "B"


@pytest.mark.parametrize(
    ("followers", "tier"),
    [
        pytest.param([-5], "C", id="negative-only"),
        pytest.param([-100_000], "C", id="large-negative"),
        pytest.param([-1, 1_000], "B", id="negative-ignored"),
    ],
)
def test_negative_followers_count_as_zero(followers: list[int], tier: str) -> None:
    assert compute_tier(followers) == tier


def test_negative_followers_do_not_reach_a_tier_requiring_zero_or_more() -> None:
    rules = (("pos", 1), ("zero", 0), ("neg", -10))
    assert compute_tier([-5], rules) == "zero"


CUSTOM = (("gold", 500), ("silver", 100))


@pytest.mark.parametrize(
    ("followers", "tier"),
    [
        pytest.param([500], "gold", id="at-gold"),
        pytest.param([499], "silver", id="below-gold"),
        pytest.param([100], "silver", id="at-silver"),
        pytest.param([99], "silver", id="below-every-minimum-falls-to-last"),
        pytest.param([], "silver", id="no-accounts"),
    ],
)
def test_custom_rules(followers: list[int], tier: str) -> None:
    assert compute_tier(followers, CUSTOM) == tier
