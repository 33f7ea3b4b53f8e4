"""Earnings per post in integer fen: fixed per approved post + CPE.

CPE (from the seeds): (likes + comments + shares + favorites) × unit price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pricing:
    currency: str = "CNY"
    fixed_fen: int = 0
    cpe_fen: int = 0  # per engagement

    @classmethod
    def from_spec(cls, pricing: dict) -> Pricing:
        return cls(
            currency=pricing.get("currency", "CNY"),
            fixed_fen=int(pricing.get("fixed_fen", 0)),
            cpe_fen=int(pricing.get("cpe_fen", 0)),
        )


@dataclass(frozen=True)
class Metrics:
    likes: int = 0
    comments: int = 0
    shares: int = 0
    favorites: int = 0
    views: int = 0

    @property
    def engagements(self) -> int:
        return self.likes + self.comments + self.shares + self.favorites


@dataclass(frozen=True)
class PostEarning:
    fixed_fen: int
    cpe_fen: int
    engagements: int

    @property
    def total_fen(self) -> int:
        return self.fixed_fen + self.cpe_fen


def price_post(pricing: Pricing, metrics: Metrics | None) -> PostEarning:
    """What one approved post has earned with its latest metrics (none reported: fixed only)."""
    engagements = metrics.engagements if metrics else 0
    return PostEarning(
        fixed_fen=pricing.fixed_fen,
        cpe_fen=engagements * pricing.cpe_fen,
        engagements=engagements,
    )


def total_fen(earnings: Iterable[PostEarning]) -> int:
    return sum(e.total_fen for e in earnings)
