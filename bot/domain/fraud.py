"""Fraud and quality flags on a post's metrics, as pure rules.

Flags are for a reviewer to look at: they never change a status or an amount. Each is a code
with the numbers that raised it:

- ``counter_down``: a counter is lower than in the previous snapshot (deleted likes, a
  different post, a typo);
- ``jump``: views or likes multiplied by more than ``jump_factor`` since the previous
  snapshot (and grew by at least ``jump_min``): bought traffic looks like this;
- ``likes_over_views``: more likes than ``likes_per_view`` × views (with views reported);
- ``er_creator`` / ``er_campaign``: the engagement rate (likes + comments + shares + favorites
  per view) far outside the creator's other posts / the campaign's posts: a robust z-score on
  log rates (median and MAD) above ``z_max``, or, when the peers barely vary, more than
  ``ratio_max`` times off their median; needs ``min_peers`` peers;
- ``account_many``: the account the post belongs to has more than ``max_posts_per_account``
  posts in the campaign;
- ``account_shared``: that account was submitted by more than one creator;
- ``post_shared``: the same post was submitted by more than one creator (short links that
  resolved to one post).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.domain.pricing import Metrics

COUNTERS = ("likes", "comments", "shares", "favorites", "views")
ENGAGEMENT = ("likes", "comments", "shares", "favorites")
# Raised by one snapshot compared with the one before: they stay on the post once seen.
EVENT_CODES = ("counter_down", "jump")
FLAG_CODES = (
    "counter_down",
    "jump",
    "likes_over_views",
    "er_creator",
    "er_campaign",
    "account_many",
    "account_shared",
    "post_shared",
)


@dataclass(frozen=True)
class Thresholds:
    jump_factor: float = 10.0
    jump_min: int = 1000
    likes_per_view: float = 1.0
    likes_over_views_min: int = 50
    z_max: float = 3.5
    ratio_max: float = 5.0
    min_peers: int = 5
    max_posts_per_account: int = 5


@dataclass(frozen=True)
class Flag:
    code: str  # one of FLAG_CODES
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class Context:
    """What the rules compare a post's metrics with."""

    previous: Metrics | None = None  # the snapshot before this one
    creator_rates: Sequence[float] = ()  # engagement rates of the creator's other posts
    campaign_rates: Sequence[float] = ()  # … of the campaign's other posts
    account_posts: int = 1  # posts of the same account in the campaign (this one included)
    account_creators: int = 1  # creators who submitted posts of that account
    post_creators: int = 1  # creators who submitted this very post


def engagement_rate(metrics: Metrics) -> float | None:
    """Interactions per view; None without views."""
    if metrics.views <= 0:
        return None
    return sum(getattr(metrics, name) for name in ENGAGEMENT) / metrics.views


def assess(metrics: Metrics, context: Context, limits: Thresholds | None = None) -> list[Flag]:
    """Every flag the metrics raise, in FLAG_CODES order."""
    t = limits or Thresholds()
    flags: list[Flag] = []
    previous = context.previous
    if previous is not None:
        down = {
            name: [getattr(previous, name), getattr(metrics, name)]
            for name in COUNTERS
            if getattr(metrics, name) < getattr(previous, name)
        }
        if down:
            flags.append(Flag("counter_down", down))
        jumps = {
            name: [getattr(previous, name), getattr(metrics, name)]
            for name in ("views", "likes")
            if _jumped(getattr(previous, name), getattr(metrics, name), t)
        }
        if jumps:
            flags.append(Flag("jump", jumps))
    if (
        metrics.views > 0
        and metrics.likes >= t.likes_over_views_min
        and metrics.likes > metrics.views * t.likes_per_view
    ):
        flags.append(Flag("likes_over_views", {"likes": metrics.likes, "views": metrics.views}))
    rate = engagement_rate(metrics)
    if rate is not None:
        for code, peers in (
            ("er_creator", context.creator_rates),
            ("er_campaign", context.campaign_rates),
        ):
            side = outlier(rate, peers, t)
            if side is not None:
                median = statistics.median(peers)
                flags.append(
                    Flag(code, {"rate": round(rate, 4), "median": round(median, 4), "side": side})
                )
    if context.account_posts > t.max_posts_per_account:
        flags.append(Flag("account_many", {"posts": context.account_posts}))
    if context.account_creators > 1:
        flags.append(Flag("account_shared", {"creators": context.account_creators}))
    if context.post_creators > 1:
        flags.append(Flag("post_shared", {"creators": context.post_creators}))
    return flags


def _jumped(old: int, new: int, t: Thresholds) -> bool:
    return new - old >= t.jump_min and new > max(old, 1) * t.jump_factor


def outlier(rate: float, peers: Sequence[float], limits: Thresholds | None = None) -> str | None:
    """ "high" or "low" when `rate` is far outside `peers`, else None (also with too few)."""
    t = limits or Thresholds()
    usable = [p for p in peers if p > 0]
    if len(usable) < t.min_peers:
        return None
    floor = min(usable) / 10  # a rate of zero compares as far below the lowest peer
    logs = [math.log(p) for p in usable]
    x = math.log(max(rate, floor))
    median = statistics.median(logs)
    mad = statistics.median(abs(v - median) for v in logs)
    if mad > 1e-9:
        far = abs(0.6745 * (x - median) / mad) > t.z_max and abs(x - median) > math.log(2)
    else:
        far = abs(x - median) > math.log(t.ratio_max)
    if not far:
        return None
    return "high" if x > median else "low"


def merge(stored: Sequence[dict[str, Any]], fresh: Sequence[Flag]) -> list[dict[str, Any]]:
    """A post's flags after a new assessment: event flags stay once raised (the newest detail
    wins), the others are what the newest assessment says."""
    by_code = {f["code"]: f for f in stored if f.get("code") in EVENT_CODES}
    for flag in fresh:
        by_code[flag.code] = flag.to_json()
    return [by_code[code] for code in FLAG_CODES if code in by_code]


__all__ = [
    "FLAG_CODES",
    "Context",
    "Flag",
    "Thresholds",
    "assess",
    "engagement_rate",
    "merge",
    "outlier",
]
