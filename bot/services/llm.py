"""The OpenAI-compatible chat client: messages in, the answer's text and its tokens out.

The `openai` package against any OpenAI-compatible endpoint (OpenAI, DeepSeek, Qwen, vLLM,
Ollama), imported only when a key is configured. At most `OPENAI_CONCURRENCY` requests are in
flight; 429s (honouring `retry-after`), 5xx, timeouts and dropped connections are retried with
backoff; an endpoint that stays unreachable or refuses the request raises `LLMUnavailable` and
counts as down for `BREAKER_SECONDS`, while callers use their fallback. Tokens add up in a
`Usage`; `cost_micros` prices them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:  # the openai package takes half a second to import: only with a key
    from openai.types.chat import ChatCompletion

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 60.0
BREAKER_SECONDS = 30.0  # after the model was unreachable, callers fall back this long


class LLMUnavailable(Exception):
    """The endpoint could not be used (down, timing out, rate-limited past the retries,
    refusing the key): the caller's fallback stands in."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls


def cost_micros(usage: Usage, settings: Settings) -> int:
    """Prices are per million tokens, so a token costs `price` millionths: exact in Decimal."""
    cost = (
        Decimal(usage.prompt_tokens) * settings.openai_price_input_per_mtok
        + Decimal(usage.completion_tokens) * settings.openai_price_output_per_mtok
    )
    return int(cost.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return min(max(float(value) * scale, 0.0), MAX_RETRY_AFTER_SECONDS)
        except ValueError:
            continue
    return None


class LLMClient:
    def __init__(
        self, settings: Settings, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        assert settings.openai_api_key is not None
        # imported here: the package takes half a second to load, and only a key needs it
        import openai
        from openai.types.chat import ChatCompletion

        self.completion_type: type[ChatCompletion] = ChatCompletion
        self.retryable: tuple[type[Exception], ...] = (
            openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError
        )  # fmt: skip
        self.refused: type[Exception] = openai.APIStatusError  # 400/401/403/404
        self.settings = settings
        self.sleep = sleep
        self.model = settings.openai_model
        self.client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,  # None: api.openai.com
            timeout=settings.openai_timeout_seconds,
            max_retries=0,  # retries are ours: counted, logged, honouring retry-after
        )
        self.semaphore = asyncio.Semaphore(settings.openai_concurrency)
        self.down_until = 0.0

    async def close(self) -> None:
        await self.client.close()

    @property
    def is_down(self) -> bool:
        return time.monotonic() < self.down_until

    async def _request(self, messages: list[dict[str, str]]) -> ChatCompletion:
        """POST /chat/completions through the client (auth, base URL, timeout, typed errors).

        `client.chat.completions.create(...)` would first walk its TypedDict annotations to
        transform `messages`, about a millisecond of CPU per call; at a batch's concurrency
        that CPU, not the endpoint, sets the pace. The body here is plain JSON already, so it
        goes through the client's generic `post` with the same typed response."""
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.settings.openai_temperature,
            "max_tokens": self.settings.openai_max_tokens,
            "response_format": {"type": "json_object"},
        }
        return await self.client.post(
            "/chat/completions", body=body, cast_to=self.completion_type
        )

    async def complete(self, messages: list[dict[str, str]], usage: Usage) -> str:
        """The answer's text ("" when it has none); its tokens are added to `usage`."""
        retries = self.settings.openai_max_retries
        for attempt in range(retries + 1):
            try:
                async with self.semaphore:
                    response = await self._request(messages)
            except self.retryable as exc:
                if attempt == retries:
                    self.down_until = time.monotonic() + BREAKER_SECONDS
                    raise LLMUnavailable(f"{type(exc).__name__} after {attempt + 1} tries") from exc
                delay = _retry_after(exc)
                if delay is None:
                    base = self.settings.openai_retry_base_seconds * 2**attempt
                    delay = base * (0.5 + random.random() / 2)
                log.warning("LLM call failed (%s), retry %d in %.2fs",
                            type(exc).__name__, attempt + 1, delay)  # fmt: skip
                await self.sleep(delay)
                continue
            except self.refused as exc:  # retrying will not help
                self.down_until = time.monotonic() + BREAKER_SECONDS
                raise LLMUnavailable(f"HTTP {exc.status_code}") from exc  # type: ignore[attr-defined]
            # The slot just freed goes to the next call before this answer is checked and
            # stored: the worker waiting for it runs first, in the event loop's FIFO order.
            await asyncio.sleep(0)
            usage.calls += 1
            if response.usage is not None:
                usage.prompt_tokens += response.usage.prompt_tokens or 0
                usage.completion_tokens += response.usage.completion_tokens or 0
            if not response.choices:
                return ""
            return response.choices[0].message.content or ""
        raise AssertionError("unreachable")
