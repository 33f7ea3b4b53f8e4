"""An OpenAI-compatible chat-completions server on loopback, for tests and the bench.

The real `openai` client talks to it through `OPENAI_BASE_URL`. It answers
`POST /v1/chat/completions` with a valid outline built from the request (the brief's required
hashtags and disclosure, phrases picked by a hash of the creator part, so that outlines
differ), and can be told to be slow, to answer 429 with `retry-after`, to fail with 5xx, or to
send malformed or rule-breaking answers. Every request is recorded.

    async with FakeOpenAI(latency=0.05) as server:
        settings = make_settings(tmp_path, openai_api_key="k", openai_base_url=server.base_url)

    python -m tests.fake_openai [--latency 0.05]   # serve until killed; prints the base URL
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import json
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Responder = Callable[[dict[str, Any]], str]
HOLD_TIMEOUT = 30.0  # seconds an answer waits for `hold_until_in_flight` requests at most

PHRASES = (
    "清晨的第一段路", "地下车库里的细节", "周末带爸妈出门", "雨夜高架上的感受", "第一次自己充电",
    "后备箱装下了露营装备", "副驾驶的朋友先开口", "导航提前提醒了服务区", "孩子在后排睡着了",
    "同事借去开了一天", "老家县城的充电桩", "凌晨下班回家的路", "和宠物一起出门", "去郊外拍日落",
    "山路弯道的表现", "暴晒停车后的车内温度", "语音助手听懂了方言", "一次说走就走的旅行",
    "菜市场门口的窄路", "小区里的慢速挪车", "夜里的灯光效果", "高速上超车的那一下",
    "母婴店门口的临停", "周一早高峰的隧道", "一箱行李加两个箱子", "座椅通风的真实体验",
    "手机钥匙忘带的尴尬", "车机里的小游戏", "加班后的安静车厢", "音响放了一首老歌",
    "water on the windshield", "a quiet cabin at night", "my dog in the back seat",
    "a weekend camping trip", "charging at the office", "a narrow old street", "the school run",
    "a late-night drive home", "a road trip with friends", "parking in a tight garage",
)  # fmt: skip
BRIEF = re.compile(r"<brief>\n(\{.*?\})\n</brief>", re.DOTALL)
ANGLE = re.compile(r"^Angle:\s*([a-z_]+)", re.MULTILINE)


def brief_of(request: dict[str, Any]) -> dict[str, Any]:
    system = next(m["content"] for m in request["messages"] if m["role"] == "system")
    match = BRIEF.search(system)
    return json.loads(match.group(1)) if match else {}


def creator_part(request: dict[str, Any]) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def angle_of(request: dict[str, Any]) -> str:
    match = ANGLE.search(creator_part(request))
    return match.group(1) if match else ""


def outline_for(request: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A valid outline for this request, different for every creator part."""
    brief = brief_of(request)
    seed = hashlib.sha256(creator_part(request).encode()).hexdigest()
    rng = random.Random(seed)
    pick = lambda k: rng.sample(PHRASES, k)  # noqa: E731
    messages = brief.get("key_messages") or ["the product"]
    outline = {
        "titles": [f"{p}（{angle_of(request)}）" for p in pick(3)],
        "hook": "，".join(pick(2)),
        "beats": pick(rng.randint(3, 5)),
        "key_messages": [f"{m}：{p}" for m, p in zip(messages, pick(len(messages)), strict=True)],
        "hashtags": [*brief.get("required_hashtags", []), *brief.get("optional_hashtags", [])[:1]],
        "disclosure": brief.get("disclosure", ""),
        "shots": pick(3),
        "cta": pick(1)[0],
        "avoid": brief.get("donts", []),
    }
    outline.update(overrides)
    return outline


def default_responder(request: dict[str, Any]) -> str:
    return json.dumps(outline_for(request), ensure_ascii=False)


@dataclass
class Fault:
    """One scripted answer instead of a completion."""

    status: int = 200
    body: str | None = None  # the assistant's content (200) or the error body
    retry_after: str | None = None
    delay: float | None = None


class FakeOpenAI:
    def __init__(self, latency: float = 0.0, responder: Responder = default_responder) -> None:
        self.latency = latency
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.faults: deque[Fault] = deque()
        self.in_flight = 0
        self.max_in_flight = 0
        # Answers wait until this many requests are in flight at once (then never again), so
        # a test sees a client's full concurrency however slowly a busy machine sends.
        self.hold_until_in_flight = 0
        self._all_in_flight = asyncio.Event()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- scripting

    def fail(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        for _ in range(times):
            self.faults.append(Fault(status, json.dumps({"error": {"message": "scripted"}}),
                                     retry_after))  # fmt: skip

    def answer(self, content: str, times: int = 1) -> None:
        """The next completions say `content` (malformed JSON, a rule broken …)."""
        for _ in range(times):
            self.faults.append(Fault(200, content))

    def stall(self, seconds: float, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(Fault(delay=seconds))

    # --- serving

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _completions(self, http: web.Request) -> web.Response:
        # `latency` is the time from the request's arrival to the answer, as a real endpoint's
        # would be: the answer is made first and the wait is what is left of it.
        arrived = asyncio.get_running_loop().time()
        body = await http.json()
        self.requests.append(body)
        self.headers.append(dict(http.headers))
        fault = self.faults.popleft() if self.faults else None
        response = self._answer(body, fault)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.in_flight >= self.hold_until_in_flight:
            self._all_in_flight.set()
        try:
            with contextlib.suppress(TimeoutError):  # fewer came: the test's count says so
                await asyncio.wait_for(self._all_in_flight.wait(), HOLD_TIMEOUT)
            delay = fault.delay if fault and fault.delay is not None else self.latency
            left = delay - (asyncio.get_running_loop().time() - arrived)
            if left > 0:
                await asyncio.sleep(left)
        finally:
            self.in_flight -= 1
        return response

    def _answer(self, body: dict[str, Any], fault: Fault | None) -> web.Response:
        if fault is not None and fault.status != 200:
            headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
            return web.Response(status=fault.status, text=fault.body or "", headers=headers,
                                content_type="application/json")  # fmt: skip
        content = fault.body if fault is not None and fault.body is not None else None
        if content is None:
            content = self.responder(body)
        prompt = sum(len(m.get("content") or "") for m in body["messages"]) // 2 + 1
        completion = len(content) // 2 + 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1_780_000_000,
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )


async def _serve(latency: float) -> None:
    async with FakeOpenAI(latency=latency) as server:
        print(server.base_url, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per completion")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.latency))


def network_test(seconds: float = 30.0) -> Callable[[Any], Any]:
    """Every test that talks over a socket ends, one way or another, within `seconds`."""

    def wrap(test: Any) -> Any:
        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> Any:
            async with asyncio.timeout(seconds):
                return await test(*args, **kwargs)

        return run

    return wrap
