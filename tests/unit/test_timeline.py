"""Unit tests for bot.domain.timeline: the plan, and what late pushes become."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain import timeline as t

SH = ZoneInfo("Asia/Shanghai")
SPRING = t.Times(
    event_at=datetime(2026, 5, 20, 10, 0, tzinfo=SH),
    embargo_at=datetime(2026, 5, 20, 10, 30, tzinfo=SH),
    deadline_at=datetime(2026, 5, 27, 23, 59, tzinfo=SH),
    timezone="Asia/Shanghai",
)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=SH)


def test_the_plan_of_the_spring_campaign() -> None:
    plan = {p.kind: p.due_at for p in t.plan(SPRING)}
    assert plan == {
        t.PREVIEW: local(19, 20),
        t.BRIEF: local(20, 9),
        t.COUNTDOWN_30: local(20, 10),
        t.COUNTDOWN_5: local(20, 10, 25),
        t.GO: local(20, 10, 30),
        t.REMINDER_30: local(20, 11),
        t.REMINDER_120: local(20, 12, 30),
        t.LAST_CALL: local(27, 21, 59),
        t.SUMMARY: local(27, 23, 59),
    }
    assert list(plan) == list(t.KINDS)  # in timeline order


def test_an_early_event_and_a_short_campaign_keep_the_order() -> None:
    early = t.Times(local(20, 6), local(20, 6, 30), local(20, 9), "Asia/Shanghai")
    plan = {p.kind: p.due_at for p in t.plan(early)}
    assert plan[t.PREVIEW] == local(19, 18)  # 12 h ahead, not 20:00
    assert plan[t.BRIEF] == local(20, 5, 45)  # 45 min before the embargo, not 09:00
    assert plan[t.LAST_CALL] == local(20, 7)
    assert t.REMINDER_120 not in plan  # it would come after the last call
    dues = [p.due_at for p in t.plan(early)]
    assert dues == sorted(dues)


def test_a_go_is_queued_a_minute_ahead() -> None:
    go = t.Push(t.GO, SPRING.embargo_at)
    assert t.fire_at(go) == SPRING.embargo_at - timedelta(seconds=60)
    assert t.fire_at(t.Push(t.BRIEF, local(20, 9))) == local(20, 9)


def due_until(now: datetime) -> list[t.Push]:
    return [p for p in t.plan(SPRING) if t.fire_at(p) <= now]


def decisions(now: datetime) -> dict[str, tuple[str, str | None, str]]:
    due = due_until(now)
    return {
        d.kind: (d.action, d.send_as, d.reason) for d in t.decide(due, SPRING, now, t.plan(SPRING))
    }


def test_pushes_on_time_are_sent_as_they_are() -> None:
    assert decisions(local(19, 20)) == {t.PREVIEW: (t.SEND, t.PREVIEW, "")}


def test_a_go_before_its_second_is_queued_and_does_not_drop_the_last_countdown() -> None:
    now = local(
        20,
        10,
        29,
    ) + timedelta(seconds=10)
    result = decisions(now)
    assert result[t.GO] == (t.SEND, t.GO, "")
    assert result[t.COUNTDOWN_5] == (t.SEND, t.COUNTDOWN_5, "")


def test_after_downtime_the_latest_push_says_it_all() -> None:
    # Down since before the preview; back at 09:50: the brief, and only the brief.
    result = decisions(local(20, 9, 50))
    assert result[t.PREVIEW] == (t.SKIP, None, "late")  # "tomorrow" on the day is wrong
    assert result[t.BRIEF] == (t.SEND, t.BRIEF, "")


@pytest.mark.parametrize(
    ("now", "go"),
    [
        (local(20, 10, 34), (t.SEND, t.GO, "")),  # within the grace: still a GO
        (local(20, 10, 50), (t.CONVERT, t.LATE_GO, "late")),  # a reminder, not a GO
        (local(20, 11, 30), (t.SKIP, None, "superseded")),  # the 11:00 reminder says it
        (local(28, 9), (t.SKIP, None, "late")),  # the campaign is over
    ],
)
def test_a_late_go(now: datetime, go: tuple[str, str | None, str]) -> None:
    result = decisions(now)
    assert result[t.GO] == go
    assert result[t.COUNTDOWN_5][0] == t.SKIP  # a countdown after the count is wrong
    assert result[t.BRIEF][0] == t.SKIP


def test_reminders_collapse_and_the_summary_always_goes() -> None:
    result = decisions(local(28, 9))
    sent = {kind for kind, (action, _, _) in result.items() if action != t.SKIP}
    assert sent == {t.SUMMARY}
    result = decisions(local(20, 13))
    assert result[t.REMINDER_30] == (t.SKIP, None, "superseded")
    sent = {kind for kind, (action, _, _) in result.items() if action != t.SKIP}
    assert sent == {t.REMINDER_120}


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("+30m", timedelta(minutes=30)),
        ("-15m", timedelta(minutes=-15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("soon", None),
        ("0m", None),
        ("30", None),
        ("+366d", timedelta(days=366)),
        ("-8784h", timedelta(days=-366)),
        ("0000000000000000000000001m", timedelta(minutes=1)),  # leading zeros are no size
        ("١m", None),  # an Arabic-Indic digit: \d takes it, a shift is ASCII digits
    ],
)
def test_parse_shift(text: str, delta: timedelta | None) -> None:
    assert t.parse_shift(text) == delta


@pytest.mark.parametrize(
    "text",
    ["+367d", "-8785h", "999999999d", "-99999999999999999999m", "1d" * 400, "9" * 5000 + "s"],
)
def test_parse_shift_refuses_more_than_a_year(text: str) -> None:
    with pytest.raises(t.ShiftTooFar):
        t.parse_shift(text)


def test_shift_moves_event_and_embargo_only() -> None:
    moved = t.shift_times(SPRING, timedelta(minutes=30))
    assert moved.embargo_at == local(20, 11) and moved.event_at == local(20, 10, 30)
    assert moved.deadline_at == SPRING.deadline_at
