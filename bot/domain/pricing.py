"""What approved posts earn, line by line, in integer fen. Pure: no I/O, no clock.

Models (any combination, per campaign; the campaign spec stores them in fen):

- ``fixed``  an amount per approved post;
- ``cpe``    weighted engagements × unit price, where weighted engagements are
             likes×w + comments×w + shares×w + favorites×w (every weight 1 unless set); with
             ``cpe_threshold`` a post below that many weighted engagements earns no CPE, and one
             at or above it earns CPE on all of them;
- ``cpm``    views / 1000 × price, likewise from ``cpm_threshold`` views;
- ``cpa``    clicks (or leads, ``cpa_on``) × price;
- ``cps``    GMV × commission rate;
- ``bonus``  an amount for a post submitted inside the event window (embargo … + N hours).

Then the creator's tier multiplier on the post's subtotal (a ``tier`` line with the difference),
then the per-post cap (a negative ``post_cap`` line), and across one creator's posts in a
campaign, in submission order, the per-creator cap (negative ``creator_cap`` lines).

Rounding, the one rule: each line is computed exactly (as a fraction) and rounded once to a
whole fen, half up (x.5 fen → x+1). Every quantity that is rounded is non-negative (the tier
line is ``round(subtotal × multiplier) − subtotal``), so "half up" is never ambiguous. Caps are
whole fen and need no rounding. A post's amount is the sum of its lines; a creator's the sum
of their posts. Each line carries its formula with the numbers, for the creator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from bot.domain.money import format_fen

ENGAGEMENT_FIELDS = ("likes", "comments", "shares", "favorites")
CPA_EVENTS = ("clicks", "leads")
BUDGET_ALERT_PERCENTS = (80, 100)


def round_half_up(value: Fraction) -> int:
    """Whole fen, half up; only ever given non-negative values."""
    if value < 0:
        raise ValueError("round_half_up takes a non-negative amount")
    return int(value + Fraction(1, 2))


def ratio(text: str | int | float | Decimal | Fraction) -> Fraction:
    """A weight, rate or multiplier as stored ("1.5", "0.08") → an exact fraction."""
    if isinstance(text, Fraction):
        return text
    return Fraction(Decimal(str(text)))


def _ratio_text(value: Fraction) -> str:
    """1.5 → '1.5', 2 → '2', 0.085 → '0.085' (stored ratios have few decimals)."""
    if value.denominator == 1:
        return str(value.numerator)
    return format(Decimal(value.numerator) / Decimal(value.denominator), "f").rstrip("0")


@dataclass(frozen=True)
class Pricing:
    currency: str = "CNY"
    fixed_fen: int = 0
    cpe_fen: int = 0  # per weighted engagement
    cpe_weights: Mapping[str, str] = field(default_factory=dict)  # likes/comments/… → "1.5"
    cpe_threshold: int = 0  # weighted engagements a post needs before CPE counts
    cpm_fen: int = 0  # per 1000 views
    cpm_threshold: int = 0  # views a post needs before CPM counts
    cpa_fen: int = 0  # per click or lead
    cpa_on: str = "clicks"
    cps_rate: str = "0"  # commission on GMV, "0.08" = 8 %
    bonus_fen: int = 0
    bonus_hours: int = 0  # the event window: embargo … embargo + bonus_hours
    post_cap_fen: int = 0  # 0: no cap
    creator_cap_fen: int = 0  # 0: no cap
    tier_multipliers: Mapping[str, str] = field(default_factory=dict)  # tier → "1.2"
    budget_fen: int = 0  # 0: no budget

    @classmethod
    def from_spec(cls, pricing: Mapping) -> Pricing:
        """The stored spec (bot.domain.campaign_spec.PricingSpec dumped) → Pricing."""
        ints = (
            "fixed_fen", "cpe_fen", "cpe_threshold", "cpm_fen", "cpm_threshold", "cpa_fen",
            "bonus_fen", "bonus_hours", "post_cap_fen", "creator_cap_fen", "budget_fen",
        )  # fmt: skip
        values: dict = {name: int(pricing.get(name, 0) or 0) for name in ints}
        return cls(
            currency=pricing.get("currency", "CNY"),
            cpe_weights={k: str(v) for k, v in (pricing.get("cpe_weights") or {}).items()},
            cpa_on=pricing.get("cpa_on", "clicks") or "clicks",
            cps_rate=str(pricing.get("cps_rate", "0") or "0"),
            tier_multipliers={
                str(k): str(v) for k, v in (pricing.get("tier_multipliers") or {}).items()
            },
            **values,
        )

    def weight(self, name: str) -> Fraction:
        return ratio(self.cpe_weights.get(name, "1"))

    def multiplier(self, tier: str | None) -> Fraction:
        if tier is None or tier not in self.tier_multipliers:
            return Fraction(1)
        return ratio(self.tier_multipliers[tier])


@dataclass(frozen=True)
class Metrics:
    likes: int = 0
    comments: int = 0
    shares: int = 0
    favorites: int = 0
    views: int = 0
    clicks: int = 0
    leads: int = 0
    gmv_fen: int = 0

    @property
    def engagements(self) -> int:
        return self.likes + self.comments + self.shares + self.favorites


@dataclass(frozen=True)
class Line:
    """One priced line: `code` names it (the templates word it), `formula` shows the numbers."""

    code: str  # fixed | cpe | cpm | cpa | cps | bonus | tier | post_cap | creator_cap
    amount_fen: int
    formula: str

    def to_json(self) -> dict:
        return {"code": self.code, "amount_fen": self.amount_fen, "formula": self.formula}


@dataclass(frozen=True)
class PostPrice:
    lines: tuple[Line, ...] = ()

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)

    def amount(self, code: str) -> int:
        return sum(line.amount_fen for line in self.lines if line.code == code)


@dataclass(frozen=True)
class PostInput:
    """One approved post of a creator, as the per-creator pricing needs it."""

    metrics: Metrics = Metrics()
    in_bonus_window: bool = False


def in_bonus_window(pricing: Pricing, embargo_at: datetime, submitted_at: datetime) -> bool:
    """Submitted at or after the embargo and within `bonus_hours` of it."""
    if not pricing.bonus_fen or not pricing.bonus_hours:
        return False
    return embargo_at <= submitted_at <= embargo_at + timedelta(hours=pricing.bonus_hours)


def price_post(
    pricing: Pricing,
    metrics: Metrics | None,
    tier: str | None = None,
    in_window: bool = False,
) -> PostPrice:
    """What one approved post earns with these metrics (none reported: zero counts)."""
    m = metrics or Metrics()
    money = lambda fen: format_fen(fen, pricing.currency)  # noqa: E731
    lines: list[Line] = []
    if pricing.fixed_fen:
        lines.append(Line("fixed", pricing.fixed_fen, money(pricing.fixed_fen)))
    if pricing.cpe_fen:
        lines.append(_cpe_line(pricing, m, money))
    if pricing.cpm_fen:
        if m.views < pricing.cpm_threshold:
            lines.append(Line("cpm", 0, f"{m.views} < {pricing.cpm_threshold} → {money(0)}"))
        else:
            fen = round_half_up(Fraction(m.views * pricing.cpm_fen, 1000))
            lines.append(
                Line("cpm", fen, f"{m.views} / 1000 × {money(pricing.cpm_fen)} = {money(fen)}")
            )
    if pricing.cpa_fen:
        count = getattr(m, pricing.cpa_on if pricing.cpa_on in CPA_EVENTS else "clicks")
        fen = count * pricing.cpa_fen
        lines.append(Line("cpa", fen, f"{count} × {money(pricing.cpa_fen)} = {money(fen)}"))
    rate = ratio(pricing.cps_rate)
    if rate:
        fen = round_half_up(m.gmv_fen * rate)
        percent = _ratio_text(rate * 100)
        lines.append(Line("cps", fen, f"{money(m.gmv_fen)} × {percent}% = {money(fen)}"))
    if pricing.bonus_fen and in_window:
        lines.append(Line("bonus", pricing.bonus_fen, money(pricing.bonus_fen)))
    subtotal = sum(line.amount_fen for line in lines)
    multiplier = pricing.multiplier(tier)
    if multiplier != 1:
        scaled = round_half_up(subtotal * multiplier)
        lines.append(
            Line(
                "tier",
                scaled - subtotal,
                f"{tier}: {money(subtotal)} × {_ratio_text(multiplier)} = {money(scaled)}",
            )
        )
    total = sum(line.amount_fen for line in lines)
    if pricing.post_cap_fen and total > pricing.post_cap_fen:
        cut = pricing.post_cap_fen - total
        lines.append(
            Line("post_cap", cut, f"{money(total)} > {money(pricing.post_cap_fen)} → {money(cut)}")
        )
    return PostPrice(tuple(lines))


def _cpe_line(pricing: Pricing, m: Metrics, money) -> Line:  # type: ignore[no-untyped-def]
    weights = {name: pricing.weight(name) for name in ENGAGEMENT_FIELDS}
    weighted = sum((getattr(m, name) * weights[name] for name in ENGAGEMENT_FIELDS), Fraction(0))
    if any(w != 1 for w in weights.values()):
        parts = " + ".join(f"{getattr(m, n)}×{_ratio_text(weights[n])}" for n in ENGAGEMENT_FIELDS)
        counted = f"({parts}) = {_ratio_text(weighted)}"
    else:
        counted = f"{' + '.join(str(getattr(m, n)) for n in ENGAGEMENT_FIELDS)} = {m.engagements}"
    if weighted < pricing.cpe_threshold:
        return Line("cpe", 0, f"{counted} < {pricing.cpe_threshold} → {money(0)}")
    fen = round_half_up(weighted * pricing.cpe_fen)
    return Line("cpe", fen, f"{counted} × {money(pricing.cpe_fen)} = {money(fen)}")


def price_creator(
    pricing: Pricing, posts: Sequence[PostInput], tier: str | None = None
) -> list[PostPrice]:
    """Every approved post of one creator in one campaign, in submission order, with the
    per-creator cap applied: once the cap is reached, later posts are cut (a negative line)."""
    priced = [price_post(pricing, p.metrics, tier, p.in_bonus_window) for p in posts]
    if not pricing.creator_cap_fen:
        return priced
    money = lambda fen: format_fen(fen, pricing.currency)  # noqa: E731
    room = pricing.creator_cap_fen
    result = []
    for post in priced:
        total = post.total_fen
        if total > room:
            cut = room - total
            cap, used = pricing.creator_cap_fen, pricing.creator_cap_fen - room
            line = Line(
                "creator_cap",
                cut,
                f"{money(cap)} − {money(used)} = {money(room)}; {money(total)} → {money(cut)}",
            )
            post = PostPrice((*post.lines, line))
        room -= post.total_fen
        result.append(post)
    return result


def total_fen(prices: Iterable[PostPrice]) -> int:
    return sum(p.total_fen for p in prices)


def budget_alerts(budget_fen: int, before_fen: int, after_fen: int) -> tuple[int, ...]:
    """The alert levels (percent of the budget: 80, 100) that spending crossed going from
    `before_fen` to `after_fen`; nothing without a budget or when spending fell."""
    if budget_fen <= 0 or after_fen <= before_fen:
        return ()
    return tuple(
        percent
        for percent in BUDGET_ALERT_PERCENTS
        if before_fen * 100 < budget_fen * percent <= after_fen * 100
    )
