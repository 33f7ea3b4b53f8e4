"""Central-kitchen outlines from chat: templates with no key, the LLM through the real `openai`
client against a loopback OpenAI-compatible server, and the manager's batch."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.core.clock import ManualClock
from bot.handlers import outlines as outline_handlers
from storage.models import AuditLog, Outline
from tests.conftest import MANAGER_SETUP, SCRIPTS, Chat, make_settings, onboarding_answers
from tests.factories import enroll_creators
from tests.fake_openai import FakeOpenAI, network_test, outline_for

KEY = "sk-test-not-a-real-key-1234"


# --- templates (no key) -----------------------------------------------------------------------


async def test_without_a_key_the_outline_is_template_made_and_kept(enrolled: Chat) -> None:
    first = await enrolled.text("ada@dm: /outline")
    assert "春季新车上市（SPRING26）内容大纲" in first
    assert "平台：小红书" in first
    assert "这份大纲由模板生成（未配置 AI）" in first
    assert "话题（必带）：#ACME春季新车 #试驾" in first
    assert "合作标注：#合作" in first
    assert "- 不要和竞品做价格对比" in first
    assert await enrolled.text("ada@dm: 大纲") == first  # cached: the same outline again
    assert await Outline.all().count() == 1

    another = await enrolled.text("ada@dm: /outline SPRING26 new")
    assert another != first and "内容大纲" in another
    rows = await Outline.all().order_by("id")
    assert [r.status for r in rows] == ["superseded", "ready"]
    assert rows[0].angle != rows[1].angle
    assert {r.generator for r in rows} == {"template"} and rows[1].fallback == "no_key"
    assert rows[1].prompt_tokens == 0 and rows[1].cost_micros == 0


async def test_the_outline_speaks_the_creators_language(enrolled: Chat) -> None:
    text = await enrolled.text("ada@dm: /lang en", "ada@dm: /outline")
    assert "Outline: 春季新车上市 (SPRING26)" in text
    assert "Template-made (no AI configured)" in text
    assert "Hashtags (required): #ACME春季新车 #试驾" in text


async def test_bad_outline_requests_get_clear_answers(enrolled: Chat) -> None:
    await enrolled.say("boss@dm: /role max manager OTHER")
    answers = {
        "ada@dm: /outline SPRING26 EXTRA": "用法：/outline [活动代码] [new]",
        "ada@dm: /outline NOPE": "NOPE",
        "mia@dm: /outline": "/outline 仅限创作者使用",
        "stranger@dm: /outline": "/outline 仅限创作者使用",
        "ada@dm: /outlines SPRING26": "/outlines 仅限运营使用",
        "mia@dm: /outlines": "用法：/outlines 活动代码",
        "mia@dm: /outlines SPRING26 please": "用法：/outlines 活动代码",
        "max@dm: /outlines SPRING26": "活动 SPRING26 不属于你运营的品牌。",
    }
    for line, expected in answers.items():
        assert expected in await enrolled.text(line), line
    assert await Outline.all().count() == 0


async def test_a_manager_pregenerates_with_progress_in_one_message(
    enrolled: Chat, clock: ManualClock
) -> None:
    await enroll_creators("SPRING26", 30, clock.now())
    messages = await enrolled.say("mia@dm: /outlines SPRING26")
    assert {(m["chat"], m["to"]) for m in messages} == {("dm", "mia")}
    first, *edits = messages
    assert first["text"] == "⏳ SPRING26 大纲生成中：0/31" and not first["edit"]
    assert edits and all(m["edit"] for m in edits) and len(edits) <= 11
    assert edits[-1]["text"].startswith("✅ SPRING26 大纲生成完毕：成功 31，失败 0（共 31）")
    assert "其中 31 份由模板生成（未配置 AI）" in edits[-1]["text"]
    rows = await Outline.filter(status="ready")
    assert len(rows) == 31 and len({r.creator_id for r in rows}) == 31  # type: ignore[attr-defined]
    # Different creators, different angles: no angle takes much more than its share.
    angles = Counter(r.angle for r in rows)
    assert len(angles) >= 8 and max(angles.values()) <= 6
    assert {r.platform for r in rows} == {"xiaohongshu", "douyin", "weibo", "bilibili"}
    # KOS creators get salespeople's angles, never a consumer's family story.
    kos_angles = {r.angle for r in await Outline.filter(creator__kind="kos")}
    assert kos_angles and not kos_angles & {"family", "commute", "budget", "first_person"}
    # The brief says no price comparison with competitors: no comparison angle at all.
    assert "comparison" not in angles and "budget" not in angles

    again = await enrolled.text("mia@dm: /outlines SPRING26")
    assert again.startswith("SPRING26 的 31 位创作者都已经有大纲了")
    stats = await enrolled.text("mia@dm: /outlines SPRING26 用量")
    assert "创作者 31 位，已有大纲 31 份（AI 0，模板 31）" in stats
    assert "模型：未配置（模板生成）" in stats
    assert await AuditLog.filter(action="outlines.batch").count() == 2


async def test_batch_progress_moves_by_tenths_at_most_once_a_second(
    enrolled: Chat, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick batch is its status message and the summary; a slow one (here: no minimum
    pause) shows each tenth once, in order, in the same message."""
    await enroll_creators("SPRING26", 29, clock.now())
    monkeypatch.setattr(outline_handlers, "PROGRESS_MIN_SECONDS", 0.0)
    first, *edits = await enrolled.say("mia@dm: /outlines SPRING26")
    assert first["text"] == "⏳ SPRING26 大纲生成中：0/30" and all(m["edit"] for m in edits)
    shown = [int(re.search(r"：(\d+)/30$", m["text"]).group(1)) for m in edits[:-1]]  # type: ignore[union-attr]
    assert [n * 10 // 30 for n in shown] == list(range(1, 10))
    assert edits[-1]["text"].startswith("✅ SPRING26 大纲生成完毕：成功 30")

    await Outline.all().delete()
    monkeypatch.setattr(outline_handlers, "PROGRESS_MIN_SECONDS", 1.0)
    first, *edits = await enrolled.say("mia@dm: /outlines SPRING26")
    assert [m["text"][:1] for m in (first, *edits)] == ["⏳", "✅"]


# --- the LLM through the loopback server ------------------------------------------------------


@pytest.fixture
async def llm_chat(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock, llm_server: FakeOpenAI
) -> AsyncIterator[Chat]:
    """An app pointed at the loopback server, SPRING26 set up and `ada` enrolled.

    Settings overrides come from indirect parametrization (see `llm_settings`)."""
    values: dict[str, object] = {
        "openai_api_key": KEY,
        "openai_base_url": llm_server.base_url,
        "openai_model": "test-model",
        "openai_retry_base_seconds": 0.01,
        "openai_max_retries": 2,
        "openai_timeout_seconds": 10,
    }
    values.update(getattr(request, "param", {}))
    async with App(make_settings(tmp_path, **values), clock) as app:
        chat = Chat(app, SCRIPTS)
        await chat.say(*MANAGER_SETUP, *onboarding_answers("ada"))
        yield chat


def llm_settings(**overrides: object) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("llm_chat", [overrides], indirect=True)


@llm_settings(openai_price_input_per_mtok="0.27", openai_price_output_per_mtok="1.10")
@network_test()
async def test_the_llm_writes_the_outline(llm_chat: Chat, llm_server: FakeOpenAI) -> None:
    chat = llm_chat
    note, outline = await chat.say("ada@dm: /outline")
    assert note["text"] == "⏳ 正在为你生成 SPRING26 的内容大纲，稍等片刻……"
    assert outline["edit"] and "内容大纲" in outline["text"] and "模板" not in outline["text"]
    assert "话题（必带）：#ACME春季新车 #试驾" in outline["text"]

    (request,) = llm_server.requests
    assert request["model"] == "test-model"
    assert request["response_format"] == {"type": "json_object"}
    assert llm_server.headers[0]["Authorization"] == f"Bearer {KEY}"
    system, user = request["messages"]
    assert '"required_hashtags": [\n  "ACME春季新车",\n  "试驾"\n ]' in system["content"]
    assert "Simplified Chinese" in system["content"]
    assert '"handle": "ada_xhs"' in user["content"] and "ada_xhs" not in system["content"]

    row = await Outline.get(status="ready")
    assert (row.generator, row.model, row.fallback) == ("llm", "test-model", None)
    assert row.content["titles"] == outline_for(request)["titles"]
    assert (row.prompt_tokens, row.completion_tokens) == (
        llm_server.prompt_tokens,
        llm_server.completion_tokens,
    )
    # micro-dollars: tokens × price per million tokens
    expected = round(row.prompt_tokens * 0.27 + row.completion_tokens * 1.10)
    assert abs(row.cost_micros - expected) <= 1 and row.cost_currency == "USD"

    assert await chat.text("ada@dm: /outline") == outline["text"]  # cached: no second call
    assert len(llm_server.requests) == 1


@network_test()
async def test_the_brief_is_a_stable_prefix_across_creators(
    llm_chat: Chat, llm_server: FakeOpenAI, clock: ManualClock
) -> None:
    chat = llm_chat
    await enroll_creators("SPRING26", 3, clock.now())
    await chat.say("mia@dm: /outlines SPRING26")
    systems = {r["messages"][0]["content"] for r in llm_server.requests}
    users = {r["messages"][1]["content"] for r in llm_server.requests}
    assert len(llm_server.requests) == 4 and len(systems) == 1 and len(users) == 4


@pytest.mark.parametrize(
    ("bad", "complaint"),
    [
        ("这不是 JSON", "it is not one valid JSON object"),
        ('```json\n{"titles": ["only one"]}\n```', "a field is missing or has the wrong shape"),
        ("hashtags", 'a required hashtag is missing from "hashtags": 试驾'),
        ("dont", "it says something the brief forbids (rewrite those parts): 不要和竞品做价格对比"),
    ],
)
@network_test()
async def test_a_bad_answer_gets_one_repair(
    llm_chat: Chat, llm_server: FakeOpenAI, bad: str, complaint: str
) -> None:
    chat = llm_chat
    probe = {"messages": [{"role": "system", "content": "<brief>{}</brief>"},
                          {"role": "user", "content": "x"}]}  # fmt: skip
    if bad == "hashtags":
        bad = json.dumps(outline_for(probe, hashtags=["ACME春季新车"], disclosure="#合作"))
    elif bad == "dont":
        beats = ["开场", "这台车比竞品的价格便宜一半", "结尾"]
        bad = json.dumps(
            outline_for(probe, beats=beats, hashtags=["ACME春季新车", "试驾"], disclosure="#合作"),
            ensure_ascii=False,
        )
    llm_server.answer(bad)
    text = (await chat.say("ada@dm: /outline"))[-1]["text"]
    assert "内容大纲" in text
    _, second = llm_server.requests
    assert len(second["messages"]) == 4
    assert second["messages"][2] == {"role": "assistant", "content": bad}
    assert complaint in second["messages"][3]["content"]
    row = await Outline.get(status="ready")
    assert row.prompt_tokens == llm_server.prompt_tokens  # both calls are counted


@network_test()
async def test_two_bad_answers_are_a_clear_failure(llm_chat: Chat, llm_server: FakeOpenAI) -> None:
    chat = llm_chat
    llm_server.answer("{not json", times=2)
    messages = await chat.say("ada@dm: /outline")
    assert messages[-1]["edit"]
    assert messages[-1]["text"].startswith("抱歉，这次没能生成合格的大纲")
    assert len(llm_server.requests) == 2
    failed = await Outline.get()
    assert failed.status == "failed" and failed.prompt_tokens == llm_server.prompt_tokens
    assert "invalid_json" in (failed.error or "")
    # The next try works, and usage shows the failure's tokens too.
    assert "内容大纲" in (await chat.say("ada@dm: /outline"))[-1]["text"]
    stats = await chat.text("mia@dm: /outlines SPRING26 usage")
    assert "失败 1" in stats and f"输入 {llm_server.prompt_tokens}" in stats


@network_test()
async def test_429_is_retried_after_the_servers_delay(
    llm_chat: Chat, llm_server: FakeOpenAI
) -> None:
    chat = llm_chat
    llm_server.fail(429, times=2, retry_after="0")
    assert "模板" not in (await chat.say("ada@dm: /outline"))[-1]["text"]
    assert len(llm_server.requests) == 3
    assert (await Outline.get()).generator == "llm"


@network_test()
async def test_a_down_endpoint_falls_back_to_templates_and_says_so(
    llm_chat: Chat, llm_server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    chat = llm_chat
    llm_server.fail(503, times=3)
    with caplog.at_level(logging.DEBUG):
        text = (await chat.say("ada@dm: /outline"))[-1]["text"]
    assert "这份大纲由模板生成（AI 暂时不可用）" in text
    assert len(llm_server.requests) == 3  # one try and two retries
    row = await Outline.get()
    assert (row.generator, row.fallback) == ("template", "llm_down")
    # While it is down, the next outline does not wait for it again.
    assert "AI 暂时不可用" in (await chat.say("ada@dm: /outline new"))[-1]["text"]
    assert len(llm_server.requests) == 3
    assert KEY not in caplog.text and KEY not in repr(chat.app.settings)


@llm_settings(openai_timeout_seconds=0.2, openai_max_retries=0)
@network_test()
async def test_a_slow_endpoint_times_out_into_a_template(
    llm_chat: Chat, llm_server: FakeOpenAI
) -> None:
    chat = llm_chat
    llm_server.stall(1)
    assert "AI 暂时不可用" in (await chat.say("ada@dm: /outline"))[-1]["text"]


@network_test()
async def test_a_near_duplicate_is_regenerated_with_another_angle(
    llm_chat: Chat, llm_server: FakeOpenAI, clock: ManualClock
) -> None:
    chat = llm_chat
    await enroll_creators("SPRING26", 1, clock.now())
    same = outline_for(
        {
            "messages": [
                {"role": "system", "content": "<brief>{}</brief>"},
                {"role": "user", "content": "same for all"},
            ]
        },
        hashtags=["ACME春季新车", "试驾"],
        disclosure="#合作",
    )
    llm_server.responder = lambda request: json.dumps(same, ensure_ascii=False)
    await chat.say("ada@dm: /outline")
    assert len(llm_server.requests) == 1
    await chat.say("c0@dm: /outline")
    tries = llm_server.requests[1:]
    angles = [line for r in tries for line in r["messages"][1]["content"].splitlines()
              if line.startswith("Angle:")]  # fmt: skip
    assert len(tries) == 3 and len(set(angles)) == 3  # three angles tried, then it gives up
    ada, c0 = await Outline.filter(status="ready").order_by("id")
    assert c0.similarity_permille == 1000 and c0.similar_to_id == ada.id  # type: ignore[attr-defined]
    assert c0.attempts == 3  # and every try's tokens are counted
    assert c0.prompt_tokens + ada.prompt_tokens == llm_server.prompt_tokens
    assert "相近未能避开 1" in await chat.text("mia@dm: /outlines SPRING26 用量")


@llm_settings(openai_concurrency=16)
@network_test()
async def test_a_batch_of_200_stays_within_the_concurrency_limit(
    llm_chat: Chat, llm_server: FakeOpenAI, clock: ManualClock
) -> None:
    chat = llm_chat
    llm_server.latency = 0.05
    llm_server.hold_until_in_flight = 16
    await enroll_creators("SPRING26", 199, clock.now())
    messages = await chat.say("mia@dm: /outlines SPRING26")
    assert messages[0]["text"] == "⏳ SPRING26 大纲生成中：0/200"
    summary = messages[-1]["text"]
    assert summary.startswith("✅ SPRING26 大纲生成完毕：成功 200，失败 0（共 200）")
    assert len(messages) <= 12  # one message, edited at most every tenth
    assert llm_server.max_in_flight == 16
    assert f"Token：输入 {llm_server.prompt_tokens}，输出 {llm_server.completion_tokens}" in summary
    rows = await Outline.filter(status="ready")
    assert len(rows) == 200 and {r.generator for r in rows} == {"llm"}
    # one call per attempt: an outline too close to another one is asked for again
    assert len(llm_server.requests) == sum(r.attempts for r in rows) < 210
    assert max(Counter(r.angle for r in rows).values()) <= 25
