"""Fraud and quality flags on metrics: each rule, its thresholds, and what is not flagged."""

from __future__ import annotations

from bot.domain.fraud import Context, Flag, Thresholds, assess, engagement_rate, merge, outlier
from bot.domain.pricing import Metrics

NORMAL = Metrics(likes=300, comments=40, shares=20, favorites=40, views=10_000)  # 4 %
PEERS = [0.03, 0.035, 0.04, 0.045, 0.05, 0.04]


def codes(flags: list[Flag]) -> list[str]:
    return [f.code for f in flags]


def test_an_ordinary_post_raises_nothing() -> None:
    later = Metrics(likes=600, comments=80, shares=40, favorites=80, views=20_000)
    context = Context(previous=NORMAL, creator_rates=PEERS, campaign_rates=PEERS)
    assert assess(later, context) == []
    assert assess(Metrics(), Context()) == []  # nothing reported yet


def test_counters_that_go_down() -> None:
    lower = Metrics(likes=250, comments=40, shares=20, favorites=40, views=9_000)
    flags = assess(lower, Context(previous=NORMAL))
    assert flags == [Flag("counter_down", {"likes": [300, 250], "views": [10_000, 9_000]})]


def test_a_jump_between_snapshots_needs_both_the_factor_and_the_size() -> None:
    jumped = Metrics(likes=400, views=200_000)
    assert codes(assess(jumped, Context(previous=Metrics(likes=300, views=10_000)))) == ["jump"]
    small = Metrics(views=900)  # ×90 but only +890
    assert assess(small, Context(previous=Metrics(views=10))) == []
    assert assess(Metrics(views=50_000), Context(previous=Metrics(views=10_000))) == []  # ×5


def test_likes_far_above_views() -> None:
    flags = assess(Metrics(likes=5_000, views=100), Context())
    assert flags == [Flag("likes_over_views", {"likes": 5_000, "views": 100})]
    assert assess(Metrics(likes=40, views=10), Context()) == []  # too few to mean anything
    assert assess(Metrics(likes=5_000), Context()) == []  # views not reported


def test_engagement_rate_far_outside_the_creators_and_the_campaigns() -> None:
    bought = Metrics(likes=4_000, comments=300, shares=200, favorites=500, views=10_000)  # 50 %
    flags = assess(bought, Context(creator_rates=PEERS, campaign_rates=PEERS))
    assert codes(flags) == ["er_creator", "er_campaign"]
    assert flags[0].detail == {"rate": 0.5, "median": 0.04, "side": "high"}
    dead = Metrics(likes=1, views=100_000)
    assert outlier(engagement_rate(dead) or 0, PEERS) == "low"
    # too few peers: no judgement
    assert assess(bought, Context(creator_rates=PEERS[:3])) == []


def test_peers_that_never_vary_compare_by_ratio() -> None:
    same = [0.04] * 6
    assert outlier(0.05, same) is None
    assert outlier(0.3, same) == "high"
    assert outlier(0.0, same) == "low"


def test_accounts_and_posts_shared_or_overused() -> None:
    context = Context(account_posts=6, account_creators=2, post_creators=3)
    flags = assess(NORMAL, context)
    assert flags == [
        Flag("account_many", {"posts": 6}),
        Flag("account_shared", {"creators": 2}),
        Flag("post_shared", {"creators": 3}),
    ]
    assert assess(NORMAL, Context(account_posts=6), Thresholds(max_posts_per_account=10)) == []


def test_event_flags_stay_and_state_flags_follow_the_newest_assessment() -> None:
    stored = [
        {"code": "counter_down", "detail": {"likes": [3, 2]}},
        {"code": "likes_over_views", "detail": {"likes": 99, "views": 1}},
    ]
    merged = merge(stored, [Flag("post_shared", {"creators": 2})])
    assert [f["code"] for f in merged] == ["counter_down", "post_shared"]
    assert merge(stored, []) == [stored[0]]
