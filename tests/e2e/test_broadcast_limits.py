"""/broadcast with hostile templates, through the console: refused in the preview with a clear
reply and nothing sent, the bot answering others meanwhile; a legit template's text unchanged
and control characters never reaching a recipient; a template that blows up only with a real
recipient's values at scheduled-send time cancels the broadcast and tells the manager."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from storage.models import Broadcast, BroadcastRecipient, OutboxMessage
from tests.conftest import Chat
from tests.e2e.test_broadcast import broadcast_dms, creator

LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
SILENT_LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
TOO_LONG = "超过 4000 字"  # broadcast/render_too_long, MAX_TEXT_LENGTH's default
TOO_HEAVY = "太费时间或内存"  # broadcast/render_too_heavy
NOTHING_SENT = "什么都没有发送"

ATTACKS = [
    # its output is stopped at the size cap long before the time limit
    pytest.param(LOOP, TOO_LONG, id="nested_loop"),
    pytest.param(SILENT_LOOP, TOO_HEAVY, id="silent_nested_loop"),  # stopped at the time limit
    pytest.param("{{ 'x' * 5000000 }}", TOO_LONG, id="5MB"),
    # jinja's ** is left-associative: 9**9**9 is (9**9)**9, 78 digits; this is the big one
    pytest.param("{{ 9**(9**9) }}", TOO_HEAVY, id="big_int"),
    pytest.param("{{ 'x'|center(1000000000) }}", TOO_HEAVY, id="center"),
    pytest.param("{{ '%999999999d' % 1 }}", TOO_HEAVY, id="percent_width"),
    pytest.param("{{ '{:999999999}'.format(1) }}", TOO_HEAVY, id="format_width"),
    pytest.param("{{ lipsum(1000000) }}", TOO_HEAVY, id="lipsum"),
]


async def say_raw(chat: Chat, user: str, text: str) -> list[dict[str, Any]]:
    """A DM the console's one-line syntax cannot carry (several lines)."""
    incoming = chat.console.parse(f"{user}@dm: .")
    assert incoming is not None
    await chat.app.dispatcher.handle(replace(incoming, text=text))
    return chat.new()


@pytest.mark.parametrize(("template", "reason"), ATTACKS)
async def test_a_hostile_template_is_refused_in_the_preview(
    enrolled: Chat, template: str, reason: str
) -> None:
    chat = enrolled
    await chat.say("mia@dm: /broadcast SPRING26")
    before = await OutboxMessage.all().count()
    messages = await chat.say(f"mia@dm: {template}")
    reply = "\n".join(m["text"] for m in messages)
    assert reason in reply and NOTHING_SENT in reply, reply
    assert "请发送要群发的消息" in reply  # asked again, the flow goes on
    assert all(m["to"] == "mia" for m in messages) and len(reply) < 2000
    assert await OutboxMessage.all().count() == before + len(messages)  # the replies only
    assert await Broadcast.all().count() == 0
    preview = await chat.text("mia@dm: {{ name }} 记得交作业", "mia@dm: 2")
    assert "ada 记得交作业" in preview  # a fixed message works at once


async def test_the_bot_answers_others_while_a_hostile_template_is_stopped(
    enrolled: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = enrolled
    await chat.say("mia@dm: /broadcast SPRING26")
    rendering = asyncio.Event()  # set once the template is being rendered
    spawn = asyncio.create_subprocess_exec

    async def spawn_and_tell(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        process = await spawn(*args, **kwargs)
        rendering.set()
        return process

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spawn_and_tell)

    async def help_meanwhile() -> None:
        await rendering.wait()
        await chat.console.feed("ada@dm: /help")

    hostile = chat.console.feed(f"mia@dm: {SILENT_LOOP}")
    await asyncio.wait_for(asyncio.gather(hostile, help_meanwhile()), 120)  # a hang guard
    messages = chat.new()
    answered = [i for i, m in enumerate(messages) if m["to"] == "ada" and "/help" in m["text"]]
    refused = [i for i, m in enumerate(messages) if m["to"] == "mia" and TOO_HEAVY in m["text"]]
    assert answered and refused, messages
    assert answered[0] < refused[0]  # /help was answered while the template was still running


async def test_recipients_get_the_text_as_written_without_control_characters(
    enrolled: Chat,
) -> None:
    chat = enrolled
    legit = "📣 {{ name }}，{{ campaign }} 记得交作业\n\t截止 {{ deadline }} 🚗"
    written = "📣 ada，春季新车上市 记得交作业\n\t截止 2026-05-27 23:59 🚗"
    await chat.say("mia@dm: /broadcast SPRING26")
    [asked] = await say_raw(chat, "mia", legit)
    assert asked["choices"]  # the audience is asked for: the message was taken
    preview = await chat.text("mia@dm: 2")
    assert written in preview
    sent = await chat.say("mia@dm: 1")
    assert [m["text"] for m in sent if m["to"] == "ada"] == [written]
    assert [r.text for r in await BroadcastRecipient.filter(broadcast_id=1)] == [written]

    # jinja string escapes can write control characters: the copy-span markers (which would
    # forge markup on Telegram), a bell, a right-to-left override, a zero-width space.
    forging = '{{ "\\x0e" }}{{ name }}{{ "\\x0f" }} 记得交作业{{ "\\x07\\u202e\\u200b" }}'
    await chat.say("mia@dm: /broadcast SPRING26", f"mia@dm: {forging}", "mia@dm: 2")
    sent = await chat.say("mia@dm: 1")
    assert [m["text"] for m in sent if m["to"] == "ada"] == ["ada 记得交作业"]
    stored = await BroadcastRecipient.get(broadcast_id=2)
    outbox = await OutboxMessage.get(id=stored.outbox_id)
    assert stored.text == outbox.payload["text"] == "ada 记得交作业"


@pytest.mark.parametrize(
    ("blowup", "reason"),
    [("{{ 'x' * 5000 }}", TOO_LONG), (SILENT_LOOP, TOO_HEAVY)],
    ids=["too_long", "too_heavy"],
)
async def test_a_scheduled_broadcast_that_blows_up_with_a_real_recipient_is_cancelled(
    enrolled: Chat, blowup: str, reason: str
) -> None:
    chat = enrolled
    template = "{{ name }} 记得交作业{% if name == 'ben' %}" + blowup + "{% endif %}"
    await chat.say("mia@dm: /broadcast SPRING26", f"mia@dm: {template}")
    preview = await chat.text("mia@dm: 2")  # sample values and ada's: both fine
    assert "ada 记得交作业" in preview
    assert "已定时" in await chat.text("mia@dm: at 2026-05-20 12:00")
    await chat.say(*creator("ben"))  # enrolled after the preview: in the audience at 12:00
    await chat.console.advance(timedelta(hours=2))
    messages = chat.new()
    assert broadcast_dms(messages) == []
    told = [m["text"] for m in messages if m["to"] == "mia"]
    assert any("定时群发 #1 没有发出" in t and reason in t for t in told), told
    assert (await Broadcast.get(id=1)).status == "cancelled"
    assert await BroadcastRecipient.all().count() == 0
    await chat.console.advance(timedelta(hours=1))
    assert chat.new() == []  # told once, tried once
