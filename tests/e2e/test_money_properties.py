"""Property: whatever happens between settlements, each statement's lines add up to its total,
and that total is exactly the creator's ledger balance for the period (issue 6)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.core.clock import ManualClock
from storage.models import LedgerEntry, Settlement, Statement
from tests.conftest import AFTER_EMBARGO, SCRIPTS, Chat, make_settings
from tests.e2e.test_money import SETUP

METRICS = st.tuples(
    st.just("metrics"), st.sampled_from([1, 2]), st.integers(0, 50_000), st.integers(0, 900)
)
OPERATIONS = st.lists(
    st.one_of(METRICS, st.just(("settle",)), st.tuples(st.just("reject"), st.sampled_from([1, 2]))),
    min_size=1,
    max_size=8,
)


async def _scenario(operations: list[tuple]) -> int:
    """Run the operations; check every statement; return how many non-empty ones there were."""
    with tempfile.TemporaryDirectory() as tmp:
        async with App(make_settings(Path(tmp)), ManualClock(AFTER_EMBARGO)) as app:
            chat = Chat(app, SCRIPTS)
            await chat.say(*SETUP)
            for operation in operations:
                if operation[0] == "metrics":
                    _, post, likes, comments = operation
                    who = "ada" if post == 1 else "ben"
                    await chat.say(f"{who}@dm: /metrics {post} likes={likes} comments={comments}")
                elif operation[0] == "reject":
                    await chat.say(f"mia@dm: /reject {operation[1]} 复核不通过")
                else:
                    last = await LedgerEntry.all().order_by("-id").first()
                    await chat.say(f"mia@dm: /settle MONEY1 confirm {last.id if last else 0}")
            return await _check_statements_against_the_ledger()


async def _check_statements_against_the_ledger() -> int:
    checked, previous_last = 0, 0
    for settlement in await Settlement.all().order_by("number"):
        for statement in await Statement.filter(settlement_id=settlement.id):
            lines = sum(line["amount_fen"] for line in statement.lines)
            ledger = sum(
                await LedgerEntry.filter(
                    creator_id=statement.creator_id,  # type: ignore[attr-defined]
                    settlement_id=None,
                    kind__in=("accrual", "reversal", "adjustment"),
                    id__gt=previous_last,
                    id__lte=settlement.last_entry_id,
                ).values_list("amount_fen", flat=True)
            )
            assert lines == statement.total_fen == ledger
            checked += bool(statement.total_fen)
        assert settlement.total_fen == sum(
            await Statement.filter(settlement_id=settlement.id).values_list("total_fen", flat=True)
        )
        previous_last = settlement.last_entry_id
    return checked


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_statements_equal_the_ledger_for_their_period(operations: list[tuple]) -> None:
    asyncio.run(_scenario(operations))


def test_the_property_is_not_vacuous() -> None:
    """A fixed history with two settlements: the check above really compares money."""
    history = [("metrics", 1, 1200, 30), ("settle",), ("metrics", 2, 800, 5), ("reject", 1)]
    assert asyncio.run(_scenario([*history, ("settle",)])) >= 3
