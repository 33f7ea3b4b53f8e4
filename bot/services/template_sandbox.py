"""A manager's broadcast template, compiled and rendered for a batch of recipients in a child
process that cannot hold the bot or flood anyone.

jinja2's sandbox blocks attribute tricks, not work: a nested loop runs for hours, and
`{{ 9**9**9 }}`, `{{ 'x'|center(10**9) }}` or `{{ '%999999999d' % 1 }}` burn CPU or memory
in one C call (jinja even folds such constants while compiling). So compiling and rendering
happen in `python -m bot.services.template_sandbox`, one child per batch (a 10,000-recipient
broadcast is one process, not 10,000), which:

- caps its own address space and CPU time with setrlimit, so whatever operation turns out to
  be expensive fails where it runs, without a list of known tricks to keep up to date (and a
  child whose parent died still ends);
- streams each text with `generate()` and stops at the output cap, so a huge result is never
  built, let alone sent;
- answers in JSON lines: `ready` once it has its input (the interpreter's start is not the
  template's time), then one line per recipient, then `done` (or one `error` line).

The parent awaits it off the event loop, so the bot keeps answering everyone, and kills it at
the wall-clock deadline. Nothing here imports storage or the ORM: the child starts with jinja2
only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

MODULE = "bot.services.template_sandbox"
# The directory holding the `bot` package: the child's working directory, so `-m` finds this
# module whether or not the project is installed.
ROOT = Path(__file__).resolve().parents[2]

TEMPLATE, TOO_LONG, TOO_HEAVY = "template", "too_long", "too_heavy"
RECIPIENTS_PER_BUDGET = 1000  # the time budget is for each 1,000 recipients (at least one)
STARTUP_SECONDS = 30.0  # a child that cannot even start and read its input: a broken setup
MEMORY_BYTES = 256 * 2**20  # address space a render may add to the child's own
DETAIL_CHARS = 300  # an error's text as shown to the manager

log = logging.getLogger(__name__)


class RenderRefused(Exception):
    """The template cannot be used: `reason` is TEMPLATE (an error, `detail` says which),
    TOO_LONG (a text over the cap) or TOO_HEAVY (over the time or memory limit)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def budget(seconds: float, count: int) -> float:
    """Wall-clock seconds for rendering `count` texts: `seconds` per 1,000, at least once."""
    return seconds * max(1.0, count / RECIPIENTS_PER_BUDGET)


# --- the parent ----------------------------------------------------------------------------


async def render_all(
    source: str, variables: list[dict[str, Any]], *, seconds: float, max_chars: int
) -> list[str]:
    """`source` rendered once per dict in `variables` (none: only compiled), in order, each text
    as the template wrote it (at most `max_chars` characters); RenderRefused otherwise."""
    request = {"source": source, "variables": variables, "seconds": seconds, "cap": max_chars}
    payload = json.dumps(request, ensure_ascii=False, default=str).encode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        MODULE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        limit=max_chars * 12 + 4096,  # one JSON line: ASCII escapes take up to 12 bytes a char
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        try:
            async with asyncio.timeout(STARTUP_SECONDS):
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    proc.stdin.write(payload)
                    await proc.stdin.drain()
                    proc.stdin.close()
                ready = await proc.stdout.readline()
        except TimeoutError:
            raise RuntimeError("the template sandbox did not start") from None
        if not ready:
            raise RuntimeError(f"the template sandbox did not start: {await _stderr(proc)}")
        texts: list[str] = []
        try:
            async with asyncio.timeout(budget(seconds, len(variables))):
                async for line in proc.stdout:
                    answer = json.loads(line)
                    if "text" in answer:
                        texts.append(answer["text"])
                    elif "error" in answer:
                        raise RenderRefused(answer["error"], answer.get("detail", ""))
                    elif answer.get("done") and len(texts) == len(variables):
                        return texts
        except TimeoutError:
            raise RenderRefused(TOO_HEAVY) from None
        # The child ended without an answer: killed by its CPU limit, or out of memory in a
        # way Python could not turn into MemoryError.
        await proc.wait()
        log.warning(
            "template sandbox ended with %s and no answer: %s",
            proc.returncode,
            await _stderr(proc),
        )
        raise RenderRefused(TOO_HEAVY)
    finally:
        if proc.returncode is None:  # timed out, or this task was cancelled: stop it now
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def _stderr(proc: asyncio.subprocess.Process) -> str:
    if proc.stderr is None:
        return ""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            return (await proc.stderr.read()).decode(errors="replace")[-2000:]
    return ""


# --- the child -----------------------------------------------------------------------------


def _limit_resources(cpu_seconds: float) -> None:
    """Best effort where the platform lacks them: the parent's deadline still holds."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)  # a hostile render competes less with the bot for the CPU
    try:
        import resource
    except ImportError:
        return
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime + math.ceil(cpu_seconds)) + 1
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
    with contextlib.suppress(ValueError, OSError):  # /proc: Linux, where RLIMIT_AS is enforced
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        size = pages * os.sysconf("SC_PAGE_SIZE") + MEMORY_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (size, size))


class _TooLong(Exception):
    pass


def _render(template: Any, variables: dict[str, Any], cap: int) -> str:
    parts: list[str] = []
    size = 0
    for chunk in template.generate(**variables):
        size += len(chunk)
        if size > cap:
            raise _TooLong
        parts.append(chunk)
    return "".join(parts)


def _describe(exc: BaseException) -> str:
    line = getattr(exc, "lineno", None)
    text = f"{type(exc).__name__}: {exc}"[:DETAIL_CHARS]
    return f"{text} (line {line})" if line else text


def _answer(value: dict[str, Any]) -> bytes:
    # ASCII escapes: a lone surrogate from a template's "\ud800" still makes a valid line.
    return json.dumps(value).encode() + b"\n"


def main() -> None:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    out = sys.stdout.buffer
    request = json.loads(sys.stdin.buffer.read())
    variables: list[dict[str, Any]] = request["variables"]
    cap = int(request["cap"])
    _limit_resources(budget(float(request["seconds"]), len(variables)))
    out.write(_answer({"ready": True}))
    out.flush()
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    try:
        template = env.from_string(request["source"])  # may fold costly constants already
        for values in variables:
            out.write(_answer({"text": _render(template, values, cap)}))
        answer: dict[str, Any] = {"done": True}
    except MemoryError:
        answer = {"error": TOO_HEAVY}
    except _TooLong:
        answer = {"error": TOO_LONG}
    except Exception as exc:  # TemplateSyntaxError, SecurityError, UndefinedError, ZeroDivision…
        answer = {"error": TEMPLATE, "detail": _describe(exc)}
    out.write(_answer(answer))
    out.flush()


if __name__ == "__main__":
    main()
