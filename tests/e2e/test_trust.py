"""Issue 13 through the chat: what an attacker or a careless manager tried, kept out."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.core.outbox import Outbox
from storage.models import Identity, OutboxMessage, Person, Settlement, Statement
from tests.conftest import Chat, onboarding_answers
from tests.e2e.test_money import SETUP

STATEMENT = "🧾 对账单"
PAID_NOTICE = "💸 夏季结算测试（MONEY1）第 1 期款项"
FORMULA = '=HYPERLINK("evil.example/x","点我")'


class ProcessKilled(BaseException):
    """Stands in for kill -9: nothing after it runs, not even the handler's error reply."""


def die_at(monkeypatch: pytest.MonkeyPatch, prefix: str, nth: int = 1) -> list[str | None]:
    """The process dies while queueing the `nth` message that starts with `prefix`; returns
    the recipients of those it got to."""
    queued: list[str | None] = []
    put = Outbox.put

    async def dying_put(self, message, *args, **kwargs):  # type: ignore[no-untyped-def]
        if message.text.startswith(prefix):
            queued.append(message.to_user)
            if len(queued) == nth:
                raise ProcessKilled
        return await put(self, message, *args, **kwargs)

    monkeypatch.setattr(Outbox, "put", dying_put)
    return queued


async def test_a_crash_between_two_statements_loses_none(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat.say(*SETUP, "ada@dm: /metrics 1 likes=100", "ben@dm: /metrics 2 likes=50")
    assert (await chat.say("mia@dm: /settle MONEY1"))[-1]["choices"] == ["确认结算第 1 期"]
    queued = die_at(monkeypatch, STATEMENT, nth=2)
    with pytest.raises(ProcessKilled):
        await chat.say("mia@dm: 1")
    monkeypatch.undo()
    assert len(queued) == 2
    # Nothing of the close survived: no settlement, no statement, no message on its way.
    assert await Settlement.all().count() == 0 and await Statement.all().count() == 0
    assert not [r for r in await OutboxMessage.all() if r.payload["text"].startswith(STATEMENT)]
    # So the manager simply settles again, and every creator gets a statement.
    preview = (await chat.say("mia@dm: /settle MONEY1"))[-1]
    assert preview["choices"] == ["确认结算第 1 期"]
    closed = await chat.say("mia@dm: 1")
    statements = sorted(m["to"] for m in closed if m["text"].startswith(STATEMENT))
    assert statements == ["ada", "ben"]
    assert "2 份对账单，已私信送达 2 人" in closed[-1]["text"]


async def test_paid_notices_commit_with_the_payouts(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat.say(*SETUP, "ada@dm: /metrics 1 likes=100", "ben@dm: /metrics 2 likes=50")
    await chat.say("mia@dm: /settle MONEY1", "mia@dm: 1")
    die_at(monkeypatch, PAID_NOTICE)
    with pytest.raises(ProcessKilled):
        await chat.say("mia@dm: /settle MONEY1 paid 1")
    monkeypatch.undo()
    assert (await Settlement.get(number=1)).status == "closed"  # not paid without its notices
    paid = await chat.say("mia@dm: /settle MONEY1 paid 1")
    assert sorted(m["to"] for m in paid if m["text"].startswith(PAID_NOTICE)) == ["ada", "ben"]


async def test_names_that_look_like_formulas_stay_text_in_the_exports(chat: Chat) -> None:
    await chat.say(
        "boss@dm: /role mia manager ACME",
        "mia@dm: !file money.yaml",
        "mia@dm: /invite MONEY1 code=ACME-M",
        *onboarding_answers(FORMULA, code="ACME-M"),
        f"{FORMULA}@dm: /submit https://www.xiaohongshu.com/explore/6a0d23b0d4e5f6a7b8c9d0e1",
        "mia@dm: /approve 1",
    )
    assert await Person.exists(display_name=FORMULA)
    exported = (await chat.say("mia@dm: /export MONEY1"))[-1]
    csv_path, xlsx_path = (Path(p) for p in exported["files"])
    with csv_path.open(encoding="utf-8-sig") as handle:
        rows = [r for r in csv.reader(handle) if r and r[0] in ("creator", "post")]
    assert {r[2] for r in rows} == {"'" + FORMULA}
    post = next(r for r in rows if r[0] == "post")
    assert post[-4:] == ["50.00", "0.00", "0.00", "50.00"]  # amounts stay numbers
    book = load_workbook(xlsx_path)
    for sheet in book:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    names = [row[2].value for row in book["creators"].iter_rows(min_row=2)]
    assert names[0] == FORMULA and book["creators"]["C2"].quotePrefix


async def test_me_in_a_group_answers_in_private(enrolled: Chat) -> None:
    answers = await enrolled.say("ada@car-club: /me")
    profile = [m for m in answers if m["chat"] == "dm"]
    assert len(profile) == 1 and profile[0]["to"] == "ada" and "ada_xhs" in profile[0]["text"]
    in_group = [m for m in answers if m["chat"] == "car-club"]
    assert [m["text"] for m in in_group] == [
        "你的资料（平台账号、粉丝数、积分）只有你自己能看，我已私信发给你。"
    ]
    assert "ada_xhs" not in in_group[0]["text"]
    assert "ada_xhs" in await enrolled.text("ada@dm: 我的")  # in private, as before


async def test_names_lose_control_characters(chat: Chat) -> None:
    await chat.say("\u202eevil\u200b\x07@dm: /help")
    person = await Person.get(identities__user_id="\u202eevil\u200b\x07")
    assert person.display_name == "evil"


async def test_last_seen_is_written_at_most_once_a_minute(chat: Chat) -> None:
    await chat.say("ann@dm: /help")
    first = (await Identity.get(user_id="ann")).last_seen_at
    chat.app.clock.advance(timedelta(seconds=30))  # type: ignore[attr-defined]
    await chat.say("ann@dm: /help")
    assert (await Identity.get(user_id="ann")).last_seen_at == first
    chat.app.clock.advance(timedelta(seconds=31))  # type: ignore[attr-defined]
    await chat.say("ann@dm: /help")
    assert (await Identity.get(user_id="ann")).last_seen_at == chat.app.clock.now()
