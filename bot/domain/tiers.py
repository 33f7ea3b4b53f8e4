"""Creator tiers from follower counts. The rules are data: (tier, minimum followers), best first."""

from __future__ import annotations

from collections.abc import Iterable

TIER_RULES: tuple[tuple[str, int], ...] = (
    ("S", 100_000),
    ("A", 10_000),
    ("B", 1_000),
    ("C", 0),
)


def compute_tier(followers: Iterable[int], rules: tuple[tuple[str, int], ...] = TIER_RULES) -> str:
    """The tier of a creator's largest account; a creator with no accounts is in the lowest tier."""
    top = max((max(0, f) for f in followers), default=0)
    for tier, minimum in rules:
        if top >= minimum:
            return tier
    return rules[-1][0]
