"""Unit tests for bot.domain.pricing: fixed fee + CPE per approved post, all in integer fen."""

from __future__ import annotations

import pytest

from bot.domain.pricing import Metrics, PostEarning, Pricing, price_post, total_fen


@pytest.mark.parametrize(
    ("metrics", "engagements"),
    [
        pytest.param(Metrics(), 0, id="empty"),
        pytest.param(Metrics(likes=1, comments=2, shares=3, favorites=4), 10, id="all-four"),
        pytest.param(Metrics(likes=5, views=1_000_000), 5, id="views-excluded"),
        pytest.param(Metrics(views=999), 0, id="views-only"),
    ],
)
def test_engagements_are_likes_comments_shares_favorites(
    metrics: Metrics, engagements: int
) -> None:
    assert metrics.engagements == engagements


def test_price_post_fixed_plus_cpe() -> None:
    pricing = Pricing(fixed_fen=5000, cpe_fen=20)
    metrics = Metrics(likes=120, comments=8, shares=3, favorites=15, views=2400)
    earning = price_post(pricing, metrics)
    assert earning == PostEarning(fixed_fen=5000, cpe_fen=146 * 20, engagements=146)
    assert earning.total_fen == 5000 + 2920


def test_views_do_not_earn_cpe() -> None:
    earning = price_post(Pricing(fixed_fen=0, cpe_fen=20), Metrics(views=10_000))
    assert earning.cpe_fen == 0
    assert earning.engagements == 0
    assert earning.total_fen == 0


def test_no_metrics_earns_fixed_only() -> None:
    earning = price_post(Pricing(fixed_fen=5000, cpe_fen=20), None)
    assert earning == PostEarning(fixed_fen=5000, cpe_fen=0, engagements=0)
    assert earning.total_fen == 5000


def test_zero_price_earns_nothing() -> None:
    earning = price_post(Pricing(), Metrics(likes=100, comments=100, shares=100, favorites=100))
    assert earning == PostEarning(fixed_fen=0, cpe_fen=0, engagements=400)
    assert earning.total_fen == 0


def test_cpe_only_pricing() -> None:
    earning = price_post(Pricing(cpe_fen=7), Metrics(likes=3, favorites=2))
    assert earning.fixed_fen == 0
    assert earning.cpe_fen == 35
    assert earning.total_fen == 35


def test_large_counts_stay_exact_integers() -> None:
    earning = price_post(Pricing(fixed_fen=1, cpe_fen=7), Metrics(likes=10**9))
    assert earning.cpe_fen == 7_000_000_000
    assert earning.total_fen == 7_000_000_001
    assert type(earning.total_fen) is int


def test_very_large_counts_have_no_float_rounding() -> None:
    counts = 10**12 + 1
    earning = price_post(Pricing(cpe_fen=3), Metrics(likes=counts, comments=counts))
    assert earning.cpe_fen == 6 * 10**12 + 6


def test_total_fen_sums_earnings() -> None:
    pricing = Pricing(fixed_fen=5000, cpe_fen=20)
    earnings = [
        price_post(pricing, None),
        price_post(pricing, Metrics(likes=10)),
        price_post(pricing, Metrics(comments=1, views=50)),
    ]
    assert total_fen(earnings) == 5000 + (5000 + 200) + (5000 + 20)


def test_total_fen_of_nothing_is_zero() -> None:
    assert total_fen([]) == 0


def test_total_fen_accepts_a_generator() -> None:
    pricing = Pricing(fixed_fen=100)
    assert total_fen(price_post(pricing, None) for _ in range(3)) == 300


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {"currency": "USD", "fixed_fen": 5000, "cpe_fen": 20},
            Pricing(currency="USD", fixed_fen=5000, cpe_fen=20),
            id="all-keys",
        ),
        pytest.param({}, Pricing(currency="CNY", fixed_fen=0, cpe_fen=0), id="defaults"),
        pytest.param({"cpe_fen": 20}, Pricing(currency="CNY", fixed_fen=0, cpe_fen=20), id="cpe"),
        pytest.param({"fixed_fen": "300"}, Pricing(fixed_fen=300), id="str-fen-coerced"),
    ],
)
def test_pricing_from_spec(spec: dict, expected: Pricing) -> None:
    pricing = Pricing.from_spec(spec)
    assert pricing == expected
    assert type(pricing.fixed_fen) is int
    assert type(pricing.cpe_fen) is int


def test_pricing_defaults() -> None:
    assert Pricing() == Pricing(currency="CNY", fixed_fen=0, cpe_fen=0)
