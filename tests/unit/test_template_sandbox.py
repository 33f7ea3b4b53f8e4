"""The broadcast template sandbox (bot/services/template_sandbox.py): one child renders a whole
batch; hostile templates are refused by the limit they hit; a cancelled render and an orphaned
child both end."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from typing import Any

import pytest

from bot.services.template_sandbox import (
    MODULE,
    ROOT,
    TEMPLATE,
    TOO_HEAVY,
    TOO_LONG,
    RenderRefused,
    budget,
    render_all,
)

SILENT_LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"


class Children(list[asyncio.subprocess.Process]):
    """Every child the sandbox starts, as it starts."""

    def __init__(self) -> None:
        super().__init__()
        self.one = asyncio.Event()


def count_children(monkeypatch: pytest.MonkeyPatch) -> Children:
    started = Children()
    spawn = asyncio.create_subprocess_exec

    async def counting(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        started.append(await spawn(*args, **kwargs))
        started.one.set()
        return started[-1]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", counting)
    return started


async def test_one_child_renders_every_recipient_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    started = count_children(monkeypatch)
    people = [{"name": f"user{i}", "city": "上海"} for i in range(2500)]
    texts = await render_all(
        "{{ name }} 在 {{ city }}\n{{ '\\x0e' }}", people, seconds=2, max_chars=100
    )
    # As the template wrote them (dropping control characters is the caller's business).
    assert texts == [f"user{i} 在 上海\n\x0e" for i in range(2500)]
    assert len(started) == 1  # one process for the whole batch
    assert await render_all("{{ name }}", [], seconds=2, max_chars=100) == []  # compiled only


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        pytest.param(SILENT_LOOP, TOO_HEAVY, id="silent_nested_loop"),
        pytest.param("{{ 9**(9**9) }}", TOO_HEAVY, id="big_int"),
        pytest.param("{{ 'x'|center(1000000000) }}", TOO_HEAVY, id="center"),  # folded: memory
        pytest.param("{{ '%999999999d' % 1 }}", TOO_HEAVY, id="percent_width"),
        pytest.param("{{ 'x' * 5000000 }}", TOO_LONG, id="5MB"),
        pytest.param(LOOP, TOO_LONG, id="nested_loop"),
    ],
)
async def test_hostile_templates_are_refused_by_the_limit_they_hit(
    source: str, reason: str
) -> None:
    with pytest.raises(RenderRefused) as refused:
        await render_all(source, [{"name": "ada"}], seconds=1, max_chars=4000)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{{ name", "TemplateSyntaxError"),
        ("{{ nmae }}", "UndefinedError"),
        ("{{ name.__class__.__mro__ }}", "SecurityError"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
        ("{{ 10**5000 }}", "ValueError"),  # Python's own cap on int → str
    ],
)
async def test_template_errors_say_what_is_wrong(source: str, error: str) -> None:
    with pytest.raises(RenderRefused) as refused:
        await render_all(source, [{"name": "ada"}], seconds=2, max_chars=4000)
    assert refused.value.reason == TEMPLATE and error in refused.value.detail


async def test_the_output_cap_is_exact() -> None:
    assert await render_all("{{ 'x' * 10 }}", [{}], seconds=2, max_chars=10) == ["x" * 10]
    with pytest.raises(RenderRefused) as refused:
        await render_all("{{ 'x' * 10 }}{{ name }}", [{"name": "a"}], seconds=2, max_chars=10)
    assert refused.value.reason == TOO_LONG


async def test_a_cancelled_render_stops_its_child(monkeypatch: pytest.MonkeyPatch) -> None:
    started = count_children(monkeypatch)
    task = asyncio.create_task(render_all(SILENT_LOOP, [{}], seconds=60, max_chars=100))
    await started.one.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert started[0].returncode is not None  # killed and reaped, not left running


def test_a_child_whose_parent_is_gone_ends_at_its_cpu_limit() -> None:
    request = {"source": SILENT_LOOP, "variables": [{}], "seconds": 0.1, "cap": 100}
    child = subprocess.run(
        [sys.executable, "-m", MODULE],
        input=json.dumps(request).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=120,  # a hang guard: the CPU limit is a couple of seconds
        check=False,
    )
    assert child.stdout == b'{"ready": true}\n'
    assert child.returncode in (-signal.SIGXCPU, -signal.SIGKILL)


def test_the_time_budget_grows_with_the_batch() -> None:
    assert budget(2.0, 0) == budget(2.0, 1) == budget(2.0, 1000) == 2.0
    assert budget(2.0, 10_000) == 20.0
