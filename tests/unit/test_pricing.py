"""Unit tests for bot.domain.pricing, every case computed by hand, all in integer fen."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from bot.domain.campaign_spec import PricingSpec
from bot.domain.pricing import (
    Line,
    Metrics,
    PostInput,
    Pricing,
    budget_alerts,
    in_bonus_window,
    price_creator,
    price_post,
    round_half_up,
    total_fen,
)

POST = Metrics(likes=120, comments=8, shares=3, favorites=15, views=2400)  # 146 engagements


def codes(price) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {line.code: line.amount_fen for line in price.lines}


@pytest.mark.parametrize(
    ("metrics", "engagements"),
    [
        pytest.param(Metrics(), 0, id="empty"),
        pytest.param(Metrics(likes=1, comments=2, shares=3, favorites=4), 10, id="all-four"),
        pytest.param(Metrics(likes=5, views=1_000_000, clicks=9, leads=3), 5, id="others-excluded"),
    ],
)
def test_engagements_are_likes_comments_shares_favorites(
    metrics: Metrics, engagements: int
) -> None:
    assert metrics.engagements == engagements


@pytest.mark.parametrize(
    ("value", "fen"),
    [
        (Fraction(0), 0),
        (Fraction(1, 2), 1),  # half goes up
        (Fraction(49, 100), 0),
        (Fraction(5, 2), 3),
        (Fraction(7, 2), 4),  # not banker's rounding
        (Fraction(2999, 1000), 3),
    ],
)
def test_round_half_up(value: Fraction, fen: int) -> None:
    assert round_half_up(value) == fen


def test_round_half_up_refuses_negative() -> None:
    with pytest.raises(ValueError):
        round_half_up(Fraction(-1, 2))


def test_fixed_plus_cpe_with_formulas() -> None:
    price = price_post(Pricing(fixed_fen=5000, cpe_fen=20), POST)
    assert price.lines == (
        Line("fixed", 5000, "¥50.00"),
        Line("cpe", 2920, "120 + 8 + 3 + 15 = 146 × ¥0.20 = ¥29.20"),
    )
    assert price.total_fen == 7920


def test_no_metrics_earns_fixed_only() -> None:
    price = price_post(Pricing(fixed_fen=5000, cpe_fen=20), None)
    assert codes(price) == {"fixed": 5000, "cpe": 0}
    assert price.total_fen == 5000


def test_views_do_not_earn_cpe() -> None:
    assert price_post(Pricing(cpe_fen=20), Metrics(views=10_000)).total_fen == 0


def test_weighted_cpe_rounds_half_up_once() -> None:
    # likes×1 + comments×2.5 + shares×3 + favorites×0.5 = 120 + 20 + 9 + 7.5 = 156.5
    # 156.5 × 3 fen = 469.5 fen → 470 fen
    pricing = Pricing(
        cpe_fen=3, cpe_weights={"comments": "2.5", "shares": "3", "favorites": "0.5"}
    )
    price = price_post(pricing, POST)
    assert price.lines == (
        Line("cpe", 470, "(120×1 + 8×2.5 + 3×3 + 15×0.5) = 156.5 × ¥0.03 = ¥4.70"),
    )


def test_cpe_threshold_pays_nothing_below_and_everything_from_it() -> None:
    pricing = Pricing(cpe_fen=10, cpe_threshold=146)
    assert price_post(pricing, Metrics(likes=145)).lines == (
        Line("cpe", 0, "145 + 0 + 0 + 0 = 145 < 146 → ¥0.00"),
    )
    assert price_post(pricing, POST).total_fen == 1460  # all 146, not 146 − threshold


def test_cpm_per_thousand_views_rounds_half_up() -> None:
    # 2400 / 1000 × ¥30 = ¥72.00
    assert price_post(Pricing(cpm_fen=3000), POST).lines == (
        Line("cpm", 7200, "2400 / 1000 × ¥30.00 = ¥72.00"),
    )
    # 1500 × 333 / 1000 = 499.5 fen → 500;  1499 × 333 / 1000 = 499.167 → 499
    assert price_post(Pricing(cpm_fen=333), Metrics(views=1500)).total_fen == 500
    assert price_post(Pricing(cpm_fen=333), Metrics(views=1499)).total_fen == 499


def test_cpm_threshold() -> None:
    pricing = Pricing(cpm_fen=3000, cpm_threshold=5000)
    assert price_post(pricing, POST).lines == (Line("cpm", 0, "2400 < 5000 → ¥0.00"),)
    assert price_post(pricing, Metrics(views=5000)).total_fen == 15000


@pytest.mark.parametrize(("on", "fen"), [("clicks", 40 * 150), ("leads", 6 * 150)])
def test_cpa_on_clicks_or_leads(on: str, fen: int) -> None:
    price = price_post(Pricing(cpa_fen=150, cpa_on=on), Metrics(clicks=40, leads=6))
    assert price.total_fen == fen
    assert price.lines[0].formula.startswith("40 × ¥1.50" if on == "clicks" else "6 × ¥1.50")


def test_cps_commission_on_gmv_rounds_half_up() -> None:
    # ¥1,234.50 × 8% = 98.76 yuan exactly
    assert price_post(Pricing(cps_rate="0.08"), Metrics(gmv_fen=123450)).lines == (
        Line("cps", 9876, "¥1,234.50 × 8% = ¥98.76"),
    )
    # 1 fen × 50% = 0.5 fen → 1 fen; 3 fen × 8.5% = 0.255 fen → 0
    assert price_post(Pricing(cps_rate="0.5"), Metrics(gmv_fen=1)).total_fen == 1
    assert price_post(Pricing(cps_rate="0.085"), Metrics(gmv_fen=3)).total_fen == 0


def test_bonus_only_inside_the_event_window() -> None:
    pricing = Pricing(fixed_fen=5000, bonus_fen=2000, bonus_hours=24)
    embargo = datetime(2026, 5, 20, 2, 30, tzinfo=UTC)
    assert in_bonus_window(pricing, embargo, embargo)
    assert in_bonus_window(pricing, embargo, embargo + timedelta(hours=24))
    assert not in_bonus_window(pricing, embargo, embargo + timedelta(hours=24, seconds=1))
    assert not in_bonus_window(pricing, embargo, embargo - timedelta(seconds=1))
    assert not in_bonus_window(Pricing(fixed_fen=1), embargo, embargo)
    assert price_post(pricing, None, in_window=True).total_fen == 7000
    assert price_post(pricing, None, in_window=False).total_fen == 5000


def test_tier_multiplier_on_the_subtotal() -> None:
    pricing = Pricing(fixed_fen=5000, cpe_fen=20, tier_multipliers={"A": "1.5", "C": "0.9"})
    # subtotal 7920; A: 7920 × 1.5 = 11880 → tier line +3960
    price = price_post(pricing, POST, tier="A")
    assert price.lines[-1] == Line("tier", 3960, "A: ¥79.20 × 1.5 = ¥118.80")
    assert price.total_fen == 11880
    # C: 7920 × 0.9 = 7128 → −792
    assert price_post(pricing, POST, tier="C").amount("tier") == -792
    # a tier without a multiplier: no line
    assert "tier" not in codes(price_post(pricing, POST, tier="B"))


def test_tier_multiplier_rounds_half_up() -> None:
    # 5 fen × 1.3 = 6.5 fen → 7
    pricing = Pricing(fixed_fen=5, tier_multipliers={"A": "1.3"})
    assert price_post(pricing, None, tier="A").total_fen == 7


def test_post_cap_after_multiplier() -> None:
    pricing = Pricing(fixed_fen=5000, cpe_fen=20, post_cap_fen=10000, tier_multipliers={"A": "1.5"})
    price = price_post(pricing, POST, tier="A")
    assert price.lines[-1] == Line("post_cap", -1880, "¥118.80 > ¥100.00 → -¥18.80")
    assert price.total_fen == 10000
    assert "post_cap" not in codes(price_post(pricing, None, tier="A"))  # 7500 under the cap


def test_every_model_together() -> None:
    pricing = Pricing(
        fixed_fen=5000,
        cpe_fen=20,
        cpm_fen=3000,
        cpa_fen=100,
        cps_rate="0.1",
        bonus_fen=1000,
        bonus_hours=48,
    )
    metrics = Metrics(likes=120, comments=8, shares=3, favorites=15, views=2400, clicks=7)
    metrics = Metrics(**{**metrics.__dict__, "gmv_fen": 50005})
    price = price_post(pricing, metrics, in_window=True)
    # 5000 + 2920 + 7200 + 700 + round(5000.5) = 5001 + 1000
    assert codes(price) == {
        "fixed": 5000,
        "cpe": 2920,
        "cpm": 7200,
        "cpa": 700,
        "cps": 5001,
        "bonus": 1000,
    }
    assert price.total_fen == 21821


def test_creator_cap_cuts_later_posts_in_order() -> None:
    pricing = Pricing(fixed_fen=5000, creator_cap_fen=12000)
    posts = [PostInput(), PostInput(), PostInput()]
    priced = price_creator(pricing, posts)
    assert [p.total_fen for p in priced] == [5000, 5000, 2000]
    assert priced[2].lines[-1] == Line(
        "creator_cap", -3000, "¥120.00 − ¥100.00 = ¥20.00; ¥50.00 → -¥30.00"
    )
    assert total_fen(priced) == 12000


def test_creator_cap_reached_exactly_leaves_later_posts_at_zero() -> None:
    pricing = Pricing(fixed_fen=5000, creator_cap_fen=5000)
    priced = price_creator(pricing, [PostInput(), PostInput()])
    assert [p.total_fen for p in priced] == [5000, 0]


def test_no_creator_cap_is_plain_per_post() -> None:
    pricing = Pricing(fixed_fen=100, cpe_fen=1)
    posts = [PostInput(Metrics(likes=3)), PostInput(Metrics(likes=5))]
    assert [p.total_fen for p in price_creator(pricing, posts)] == [103, 105]


def test_caps_and_multipliers_combined() -> None:
    # tier B ×1.2 on (5000 + 146×20 = 7920) = 9504, post cap 9000 → 9000 each;
    # creator cap 20000 → 9000, 9000, 2000
    pricing = Pricing(
        fixed_fen=5000,
        cpe_fen=20,
        tier_multipliers={"B": "1.2"},
        post_cap_fen=9000,
        creator_cap_fen=20000,
    )
    priced = price_creator(pricing, [PostInput(POST)] * 3, tier="B")
    assert [p.total_fen for p in priced] == [9000, 9000, 2000]
    assert [line.code for line in priced[2].lines] == [
        "fixed",
        "cpe",
        "tier",
        "post_cap",
        "creator_cap",
    ]


def test_totals_are_sums_of_lines_property() -> None:
    """For random pricing and metrics, a creator's total is the sum of every line, never
    above the creator cap, and every amount is an int."""
    rng = random.Random(6)
    for _ in range(300):
        pricing = Pricing(
            fixed_fen=rng.choice([0, 1, 5000]),
            cpe_fen=rng.choice([0, 3, 20]),
            cpe_weights={"comments": rng.choice(["1", "2.5", "0.333"])},
            cpm_fen=rng.choice([0, 333]),
            cps_rate=rng.choice(["0", "0.085"]),
            post_cap_fen=rng.choice([0, 7000]),
            creator_cap_fen=rng.choice([0, 15000]),
            tier_multipliers={"A": rng.choice(["1", "1.15", "0.8"])},
        )
        posts = [
            PostInput(
                Metrics(
                    likes=rng.randrange(5000),
                    comments=rng.randrange(500),
                    views=rng.randrange(10**6),
                    gmv_fen=rng.randrange(10**7),
                )
            )
            for _ in range(rng.randrange(1, 5))
        ]
        priced = price_creator(pricing, posts, tier="A")
        lines = [line for p in priced for line in p.lines]
        assert total_fen(priced) == sum(line.amount_fen for line in lines)
        assert all(type(line.amount_fen) is int for line in lines)
        if pricing.creator_cap_fen:
            assert total_fen(priced) <= pricing.creator_cap_fen
        if pricing.post_cap_fen:
            assert all(p.total_fen <= pricing.post_cap_fen for p in priced)


def test_large_counts_stay_exact_integers() -> None:
    price = price_post(Pricing(fixed_fen=1, cpe_fen=7), Metrics(likes=10**12 + 1))
    assert price.total_fen == 7 * (10**12 + 1) + 1


@pytest.mark.parametrize(
    ("before", "after", "alerts"),
    [
        (0, 7999, ()),
        (0, 8000, (80,)),
        (7999, 8000, (80,)),
        (8000, 9000, ()),
        (7000, 10000, (80, 100)),
        (9999, 10000, (100,)),
        (10000, 12000, ()),
        (9000, 7000, ()),
    ],
)
def test_budget_alerts_at_80_and_100_percent(
    before: int, after: int, alerts: tuple[int, ...]
) -> None:
    assert budget_alerts(10000, before, after) == alerts


def test_no_budget_no_alerts() -> None:
    assert budget_alerts(0, 0, 10**9) == ()


def test_pricing_from_spec_yaml_shorthands() -> None:
    spec = PricingSpec.model_validate(
        {
            "fixed": 50,
            "cpe": {"price": 0.2, "weights": {"comments": 2}, "threshold": 100},
            "cpm": 30,
            "cpa": {"price": "1.5", "on": "leads"},
            "cps": "8%",
            "bonus": {"amount": 20, "hours": 12},
            "post_cap": 500,
            "creator_cap": 2000,
            "tiers": {"A": 1.5, "B": "1.2"},
            "budget": 100000,
        }
    )
    pricing = Pricing.from_spec(spec.model_dump(mode="json"))
    assert pricing == Pricing(
        currency="CNY",
        fixed_fen=5000,
        cpe_fen=20,
        cpe_weights={"comments": "2"},
        cpe_threshold=100,
        cpm_fen=3000,
        cpa_fen=150,
        cpa_on="leads",
        cps_rate="0.08",
        bonus_fen=2000,
        bonus_hours=12,
        post_cap_fen=50000,
        creator_cap_fen=200000,
        tier_multipliers={"A": "1.5", "B": "1.2"},
        budget_fen=10000000,
    )


def test_todays_fixed_and_cpe_yaml_still_works() -> None:
    spec = PricingSpec.model_validate({"fixed": 50, "cpe": 0.2})
    assert Pricing.from_spec(spec.model_dump()) == Pricing(fixed_fen=5000, cpe_fen=20)
    # and a stored spec from before this change (only three keys)
    stored = {"currency": "CNY", "fixed_fen": 5000, "cpe_fen": 20}
    assert Pricing.from_spec(stored) == Pricing(fixed_fen=5000, cpe_fen=20)


@pytest.mark.parametrize(
    ("pricing", "message"),
    [
        ({"cps": "120%"}, "cps: '120%' must be between 0 and 1"),
        ({"cps": "abc"}, "cps: 'abc' is not a number"),
        ({"cps": "0.123456"}, "cps: '0.123456' has too many decimals"),
        ({"cpa": {"price": 1, "on": "views"}}, "cpa.on: clicks or leads"),
        ({"cpe": {"price": 1, "weights": {"views": 2}}}, "cpe.weights"),
        ({"cpe": {"price": 1, "threshold": -3}}, "cpe.threshold: a whole number, 0 or more"),
        ({"cpm": {"threshold": 3}}, "cpm: needs price"),
        ({"fixed": 1, "tiers": {"A": -1}}, "tiers.A: -1 must be between 0 and 10"),
        ({"fixed": 1, "post_cap": "0.001"}, "post_cap: '0.001' has more than two decimals"),
        ({"cpe": {"price": 1, "extra": 2}}, "cpe: unknown field(s) extra"),
    ],
)
def test_bad_pricing_is_named(pricing: dict, message: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        PricingSpec.model_validate(pricing)
    assert message in str(caught.value)
