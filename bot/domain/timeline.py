"""A campaign's event-day timeline as data: which pushes, when, to whom; what to do when late.

Pure rules, no I/O. `plan` derives the pushes from the campaign's times; `decide` says, for the
pushes that have come due, which to send as they are, which to convert (a GO sent long after
the embargo second would be wrong: it becomes a reminder) and which to drop (a countdown after
the count is over, a preview once the brief is out). The scheduling service
(bot/services/timeline.py) stores the plan and applies the decisions exactly once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

# The kinds, in timeline order. Each is a template `timeline/<kind>` (reminders share one).
PREVIEW = "preview"
BRIEF = "brief"
COUNTDOWN_30 = "countdown_30"
COUNTDOWN_5 = "countdown_5"
GO = "go"
REMINDER_30 = "reminder_30"
REMINDER_120 = "reminder_120"
LAST_CALL = "last_call"
SUMMARY = "summary"
KINDS = (
    PREVIEW,
    BRIEF,
    COUNTDOWN_30,
    COUNTDOWN_5,
    GO,
    REMINDER_30,
    REMINDER_120,
    LAST_CALL,
    SUMMARY,
)
# What a GO becomes when it is too late to be a GO.
LATE_GO = "late_go"

# Who receives a push.
GROUPS_AND_CREATORS = "groups_and_creators"  # the campaign's groups, then every creator's DM
CREATORS = "creators"  # every enrolled creator, in DM
GROUPS_OR_CREATORS = "groups_or_creators"  # the groups; DMs when the campaign has no group
PENDING = "pending"  # enrolled creators with no submission yet, in DM
MANAGERS = "managers"  # the brand's managers, in DM

AUDIENCE = {
    PREVIEW: CREATORS,
    BRIEF: GROUPS_AND_CREATORS,
    COUNTDOWN_30: GROUPS_OR_CREATORS,
    COUNTDOWN_5: GROUPS_OR_CREATORS,
    GO: GROUPS_AND_CREATORS,
    REMINDER_30: PENDING,
    REMINDER_120: PENDING,
    LAST_CALL: PENDING,
    SUMMARY: MANAGERS,
    LATE_GO: PENDING,
}

PREVIEW_AT = time(20, 0)  # local time, the evening before the event day
BRIEF_AT = time(9, 0)  # local time, the morning of the event day
PREVIEW_MIN_LEAD = timedelta(hours=12)
BRIEF_MIN_LEAD = timedelta(minutes=45)  # before the embargo
COUNTDOWNS = {COUNTDOWN_30: timedelta(minutes=30), COUNTDOWN_5: timedelta(minutes=5)}
REMINDERS = {REMINDER_30: timedelta(minutes=30), REMINDER_120: timedelta(hours=2)}
LAST_CALL_LEAD = timedelta(hours=2)  # before the deadline
# A GO is queued this long ahead (the outbox releases it at the embargo second) ...
GO_LEAD = timedelta(seconds=60)
# ... and is still a GO this long after; later it becomes a reminder.
GO_GRACE = timedelta(minutes=5)

# A push is dropped when one of these has also come due: the later one says it all.
SUPERSEDED_BY = {
    PREVIEW: (BRIEF, GO),
    BRIEF: (GO,),
    COUNTDOWN_30: (COUNTDOWN_5, GO),
    COUNTDOWN_5: (GO,),
    LATE_GO: (REMINDER_30, REMINDER_120, LAST_CALL),
    REMINDER_30: (REMINDER_120, LAST_CALL),
    REMINDER_120: (LAST_CALL,),
    LAST_CALL: (),
    GO: (),
    SUMMARY: (),
}

SEND, CONVERT, SKIP = "send", "convert", "skip"


@dataclass(frozen=True)
class Times:
    event_at: datetime
    embargo_at: datetime
    deadline_at: datetime
    timezone: str


@dataclass(frozen=True)
class Push:
    kind: str
    due_at: datetime


@dataclass(frozen=True)
class Decision:
    kind: str  # the planned kind
    action: str  # send | convert | skip
    send_as: str | None = None  # the kind actually sent (a late GO is sent as LATE_GO)
    reason: str = ""  # why skipped or converted: late | superseded


def _local(day_of: datetime, at: time, zone: ZoneInfo) -> datetime:
    local_day = day_of.astimezone(zone).date()
    return datetime.combine(local_day, at, tzinfo=zone)


def plan(times: Times) -> list[Push]:
    """Every push of the campaign, in time order. Times are aware; the result keeps their zone."""
    zone = ZoneInfo(times.timezone)
    embargo, deadline = times.embargo_at, times.deadline_at
    preview = min(
        _local(times.event_at - timedelta(days=1), PREVIEW_AT, zone),
        times.event_at - PREVIEW_MIN_LEAD,
    )
    brief = min(_local(times.event_at, BRIEF_AT, zone), embargo - BRIEF_MIN_LEAD)
    pushes = [Push(PREVIEW, preview), Push(BRIEF, brief)]
    pushes += [Push(kind, embargo - lead) for kind, lead in COUNTDOWNS.items()]
    pushes.append(Push(GO, embargo))
    last_call = deadline - LAST_CALL_LEAD
    pushes += [
        Push(kind, embargo + delay)
        for kind, delay in REMINDERS.items()
        if embargo + delay < last_call
    ]
    if last_call > embargo:
        pushes.append(Push(LAST_CALL, last_call))
    pushes.append(Push(SUMMARY, deadline))
    # Announcements that would land after an earlier one (a preview later than the brief when
    # the event is early in the morning) are left out rather than sent out of order.
    ordered: list[Push] = []
    for push in pushes:
        if ordered and push.due_at <= ordered[-1].due_at:
            continue
        ordered.append(push)
    return ordered


def fire_at(push: Push) -> datetime:
    """When the service acts on a push: a GO is queued ahead, the rest when due."""
    return push.due_at - GO_LEAD if push.kind == GO else push.due_at


def _useful_until(push: Push, times: Times, planned: dict[str, datetime]) -> datetime | None:
    """After this a push says something wrong or useless; None: always worth sending."""
    if push.kind == PREVIEW:
        return planned.get(BRIEF, times.embargo_at)
    if push.kind in (BRIEF, COUNTDOWN_5):
        return times.embargo_at
    if push.kind == COUNTDOWN_30:
        return planned.get(COUNTDOWN_5, times.embargo_at)
    if push.kind == GO:
        return times.embargo_at + GO_GRACE
    if push.kind in (REMINDER_30, REMINDER_120, LAST_CALL, LATE_GO):
        return times.deadline_at
    return None


def decide(due: list[Push], times: Times, now: datetime, planned: list[Push]) -> list[Decision]:
    """What to do with the pushes that have come due (`fire_at(push) <= now`), all at once.

    A push past its usefulness is dropped, except a GO, which becomes a reminder while the
    campaign still runs. Of pushes that say the same thing, only the latest that is actually
    due is sent (after downtime, one reminder rather than three).
    """
    by_kind = {p.kind: p.due_at for p in planned}
    candidates: dict[str, str] = {}  # planned kind → kind to send
    decisions: dict[str, Decision] = {}
    for push in due:
        until = _useful_until(push, times, by_kind)
        if until is None or now < until:
            candidates[push.kind] = push.kind
        elif push.kind == GO and now < times.deadline_at:
            candidates[push.kind] = LATE_GO
        else:
            decisions[push.kind] = Decision(push.kind, SKIP, reason="late")
    really_due = {send_as for kind, send_as in candidates.items() if by_kind.get(kind, now) <= now}
    for kind, send_as in candidates.items():
        if any(later in really_due for later in SUPERSEDED_BY[send_as]):
            decisions[kind] = Decision(kind, SKIP, reason="superseded")
        elif send_as != kind:
            decisions[kind] = Decision(kind, CONVERT, send_as=send_as, reason="late")
        else:
            decisions[kind] = Decision(kind, SEND, send_as=kind)
    return [decisions[p.kind] for p in due]


def shift_times(times: Times, delta: timedelta) -> Times:
    """The event and the embargo moved (a delayed launch); the deadline stays."""
    return Times(
        times.event_at + delta, times.embargo_at + delta, times.deadline_at, times.timezone
    )


# A launch moved further than this is a new campaign; the bound also keeps the arithmetic
# (timedelta, the campaign's datetimes) far from overflowing.
MAX_SHIFT = timedelta(days=366)
_SHIFT_UNITS = {"d": 24 * 3600, "h": 3600, "m": 60, "s": 1}


class ShiftTooFar(ValueError):
    """A readable shift beyond ±MAX_SHIFT."""


def parse_shift(text: str) -> timedelta | None:
    """'+30m', '-15m', '1h', '+1h30m', '2d' → a timedelta; None when unreadable or zero.

    Raises ShiftTooFar beyond ±MAX_SHIFT (e.g. '-99999999999999999999m').
    """
    match = re.fullmatch(r"\s*([+-]?)((?:[0-9]+[dhms])+)\s*", text.lower())
    if not match:
        return None
    seconds = 0
    for amount, unit in re.findall(r"([0-9]+)([dhms])", match.group(2)):
        if len(amount.lstrip("0")) > 12:  # int() of thousands of digits is an error of its own
            raise ShiftTooFar(text)
        seconds += int(amount) * _SHIFT_UNITS[unit]
        if seconds > MAX_SHIFT.total_seconds():
            raise ShiftTooFar(text)
    if not seconds:
        return None
    return timedelta(seconds=-seconds if match.group(1) == "-" else seconds)


def split_duration(delta: timedelta) -> tuple[int, int, int]:
    """(days, hours, minutes) of an absolute duration, minutes rounded up (never "in 0 min")."""
    seconds = abs(int(delta.total_seconds()))
    minutes = -(-seconds // 60)
    return minutes // (24 * 60), minutes % (24 * 60) // 60, minutes % 60
