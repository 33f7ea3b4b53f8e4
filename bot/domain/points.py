"""Points and levels: non-cash incentives. Pure rules, no storage, never money.

A creator's points are recomputed from the state of their posts (so rejecting an approved
post takes its points back and nothing is ever counted twice):

- an approved post: APPROVED_POINTS;
- posted on time (an approved post published, or else submitted, inside the campaign's
  window: from the embargo to the deadline, both included): ON_TIME_POINTS;
- engagement milestones of an approved post (likes + comments + shares + favorites, views
  never): each milestone reached adds its points (100 → 5, 1,000 → 20, 10,000 → 50).

Levels follow the total: LEVELS is (level, minimum points), lowest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")

APPROVED_POINTS = 10
ON_TIME_POINTS = 5
MILESTONES: tuple[tuple[int, int], ...] = ((100, 5), (1_000, 20), (10_000, 50))
LEVELS: tuple[tuple[int, int], ...] = ((1, 0), (2, 30), (3, 100), (4, 300), (5, 1_000))


@dataclass(frozen=True)
class Award:
    reason: str  # approved | on_time | milestone
    points: int
    detail: int = 0  # the milestone reached


@dataclass(frozen=True)
class PostFacts:
    approved: bool
    on_time: bool = False
    engagements: int = 0


@dataclass(frozen=True)
class Level:
    number: int
    floor: int  # points where this level starts
    next_floor: int | None  # points where the next one starts (None: the top level)

    def to_next(self, points: int) -> int | None:
        return None if self.next_floor is None else max(0, self.next_floor - points)


def on_time(embargo_at: datetime, deadline_at: datetime, at: datetime) -> bool:
    return embargo_at <= at <= deadline_at


def post_awards(post: PostFacts) -> list[Award]:
    """The points one post earns; a post not (or no longer) approved earns none."""
    if not post.approved:
        return []
    awards = [Award("approved", APPROVED_POINTS)]
    if post.on_time:
        awards.append(Award("on_time", ON_TIME_POINTS))
    awards += [
        Award("milestone", points, reached)
        for reached, points in MILESTONES
        if post.engagements >= reached
    ]
    return awards


def total_points(posts: Iterable[PostFacts]) -> int:
    return sum(award.points for post in posts for award in post_awards(post))


def level_for(points: int) -> Level:
    chosen = 0
    for index, (_number, floor) in enumerate(LEVELS):
        if points >= floor:
            chosen = index
    number, floor = LEVELS[chosen]
    next_floor = LEVELS[chosen + 1][1] if chosen + 1 < len(LEVELS) else None
    return Level(number, floor, next_floor)


def rank(rows: Iterable[tuple[T, int]]) -> list[tuple[int, T, int]]:
    """(who, points) → (place, who, points), most points first; ties share a place
    (1, 2, 2, 4), and within a tie the given order is kept."""
    ordered = sorted(rows, key=lambda row: -row[1])
    ranked: list[tuple[int, T, int]] = []
    for index, (who, points) in enumerate(ordered):
        place = ranked[-1][0] if ranked and ranked[-1][2] == points else index + 1
        ranked.append((place, who, points))
    return ranked
