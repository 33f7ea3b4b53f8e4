"""Central-kitchen outlines: one brief, a different outline for every creator.

Two generators behind one interface (`OutlineGenerator`):

- `LLMGenerator`: the `openai` client against any OpenAI-compatible endpoint (OpenAI, DeepSeek,
  Qwen, vLLM, Ollama). Prompts are content_templates/prompts/*.j2, the campaign brief first (a
  stable prefix providers cache), the creator last, as data. JSON output validated; one repair
  attempt; retries with backoff on 429/5xx/timeouts; a concurrency limit; tokens and cost.
- `TemplateGenerator`: the brief × the angle library × the profile, from
  content_templates/<locale>/outlines/_kit.j2. Used with no API key, or while the model is down.

`OutlineService` assigns angles (balanced across the campaign), regenerates an outline that
comes out too close to another one with a different angle, stores every outline with its
tokens and cost, and pre-generates for a whole campaign with progress reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from string import Formatter
from typing import TYPE_CHECKING, Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.core.render import TEMPLATES_DIR, Renderer
from bot.domain.outlines import (
    BriefRules,
    CreatorProfile,
    OutlineDraft,
    OutlineProblem,
    ShingleIndex,
    assign_angle,
    check_draft,
    comparable_text,
    pick_platform,
    shingles,
    validate_output,
)
from storage.models import Campaign, Creator, Enrollment, Outline, SocialAccount

if TYPE_CHECKING:  # the openai package takes half a second to import: only with a key
    from openai.types.chat import ChatCompletion

log = logging.getLogger(__name__)

READY, SUPERSEDED, FAILED = "ready", "superseded", "failed"
LLM, TEMPLATE = "llm", "template"
NO_KEY, LLM_DOWN = "no_key", "llm_down"
LANGUAGES = {"zh_CN": "Simplified Chinese (zh-CN)", "en": "English"}
MAX_RETRY_AFTER_SECONDS = 60.0
BREAKER_SECONDS = 30.0  # after the model was unreachable, templates stand in this long


# --- what generators take and give ------------------------------------------------------------


@dataclass(frozen=True)
class OutlineRequest:
    campaign_code: str
    campaign_name: str
    spec: Mapping[str, Any]
    profile: CreatorProfile
    angle: str
    locale: str
    variant: int = 0  # another try for the same creator and angle phrases it differently

    @property
    def rules(self) -> BriefRules:
        return BriefRules.from_spec(self.spec)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls


@dataclass
class Generated:
    draft: OutlineDraft
    generator: str
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    fallback: str | None = None


class OutlineInvalid(Exception):
    """The model answered, twice, with something unusable: a clear failure, not a fallback."""

    def __init__(self, problems: list[OutlineProblem], usage: Usage) -> None:
        super().__init__("; ".join(f"{p.code} {p.detail}".strip() for p in problems))
        self.problems = problems
        self.usage = usage


class LLMUnavailable(Exception):
    """The endpoint could not be used (down, timing out, rate-limited past the retries,
    refusing the key): templates stand in."""


class OutlineGenerator(Protocol):
    name: str

    async def generate(self, request: OutlineRequest) -> Generated: ...


# --- prompts ----------------------------------------------------------------------------------


def _data(value: Any) -> str:
    """JSON for a data section. `<` and `>` are escaped, so creator text can never close the
    section it sits in (`</creator_profile>` inside a handle stays inert)."""
    text = json.dumps(value, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


class PromptBook:
    """content_templates/prompts/: its own environment (prompts are not per locale)."""

    def __init__(self, root: Any = TEMPLATES_DIR / "prompts") -> None:
        self.env = Environment(
            loader=FileSystemLoader(root),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            auto_reload=False,
        )
        self.env.filters["data"] = _data
        self._systems: dict[tuple[str, str, str], str] = {}
        self.angles = self.env.get_template("_angles.j2").module

    @staticmethod
    def brief(request: OutlineRequest) -> dict[str, Any]:
        spec = request.spec
        hashtags = spec.get("hashtags", {})
        return {
            "campaign": request.campaign_name,
            "product": spec.get("product", ""),
            "key_messages": list(spec.get("key_messages", [])),
            "dos": list(spec.get("dos", [])),
            "donts": list(spec.get("donts", [])),
            "required_hashtags": list(hashtags.get("required", [])),
            "optional_hashtags": list(hashtags.get("optional", [])),
            "mentions": list(spec.get("mentions", [])),
            "disclosure": spec.get("disclosure", ""),
            "platforms": list(spec.get("platforms", [])),
        }

    def system(self, request: OutlineRequest) -> str:
        """The same text for every creator of a campaign (rendered once per brief)."""
        brief = self.brief(request)
        key = (request.campaign_code, request.locale, json.dumps(brief, sort_keys=True))
        if key not in self._systems:
            if len(self._systems) > 256:
                self._systems.clear()
            self._systems[key] = self._render_system(request, brief)
        return self._systems[key]

    def _render_system(self, request: OutlineRequest, brief: dict[str, Any]) -> str:
        return self.env.get_template("outline_system.j2").render(
            brief=brief,
            language=LANGUAGES.get(request.locale, LANGUAGES["zh_CN"]),
            formats="video: shots; note: cover and images; post: photos; article: images per "
            "section; review: photos",
        )

    def user(self, request: OutlineRequest) -> str:
        p = request.profile
        profile = {
            "name": p.name,
            "city": p.city,
            "niches": list(p.niches),
            "handle": p.handle,
            "followers": p.followers,
            "tier": p.tier,
        }
        kind_note = "KOC (a real user)" if p.kind == "koc" else f"KOS ({p.kos_type or 'sales'})"
        return self.env.get_template("outline_user.j2").render(
            angle=request.angle,
            angles=self.angles,
            platform=p.platform,
            format=p.format,
            kind_note=kind_note,
            profile=profile,
        )

    def messages(self, request: OutlineRequest) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system(request)},
            {"role": "user", "content": self.user(request)},
        ]

    def repair(self, problems: list[OutlineProblem]) -> str:
        return self.env.get_template("outline_repair.j2").render(problems=problems)


# --- the LLM generator ------------------------------------------------------------------------


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


class LLMGenerator:
    name = LLM

    def __init__(
        self,
        settings: Settings,
        prompts: PromptBook,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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
        self.prompts = prompts
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

    async def generate(self, request: OutlineRequest) -> Generated:
        if self.is_down:
            raise LLMUnavailable("recently unreachable")
        usage = Usage()
        messages = self.prompts.messages(request)
        answer = await self._complete(messages, usage)
        checked = validate_output(answer, request.rules)
        if not checked.ok:
            log.info("outline for creator %s needs repair: %s", request.profile.creator_id,
                     [p.code for p in checked.problems])  # fmt: skip
            messages += [
                {"role": "assistant", "content": answer},
                {"role": "user", "content": self.prompts.repair(checked.problems)},
            ]
            answer = await self._complete(messages, usage)
            checked = validate_output(answer, request.rules)
            if not checked.ok:
                raise OutlineInvalid(checked.problems, usage)
        assert checked.draft is not None
        return Generated(checked.draft, LLM, self.model, usage)

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

    async def _complete(self, messages: list[dict[str, str]], usage: Usage) -> str:
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


# --- the template generator -------------------------------------------------------------------


class _Blank(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


def _fill(pattern: str, values: Mapping[str, str]) -> str:
    # Only plain {name} fields are ours; the values (creator text) are never parsed as patterns.
    names = {name for _, name, _, _ in Formatter().parse(pattern) if name}
    return pattern.format_map(_Blank({n: values.get(n, "") for n in names})).strip()


class TemplateGenerator:
    name = TEMPLATE

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def kit(self, locale: str) -> Any:
        env = self.renderer.env(self.renderer.locale_or_default(locale))
        return env.get_template("outlines/_kit.j2").module

    async def generate(self, request: OutlineRequest) -> Generated:
        return Generated(self.compose(request), TEMPLATE)

    def compose(self, request: OutlineRequest) -> OutlineDraft:
        kit, spec, p = self.kit(request.locale), request.spec, request.profile
        rng = random.Random(f"{p.creator_id}:{request.angle}:{request.variant}")
        messages = list(spec.get("key_messages", [])) or [spec.get("product", "")]
        shift = rng.randrange(len(messages))
        messages = messages[shift:] + messages[:shift]
        platform_names = self.renderer.env(self.renderer.locale_or_default(request.locale))
        names = platform_names.globals["names"].platforms  # type: ignore[attr-defined]
        values = {
            "product": spec.get("product") or request.campaign_name,
            "campaign": request.campaign_name,
            "city": p.city,
            "niche": rng.choice(p.niches) if p.niches else "",
            "platform": names.get(p.platform, p.platform),
            "message": messages[0],
            "message2": messages[1 % len(messages)],
            "do": (spec.get("dos") or [""])[0],
        }
        angle = kit.angles[request.angle]
        titles = [_fill(t, values) for t in rng.sample(angle["titles"], 3)]
        beats = [_fill(b, values) for b in angle["beats"]][:5]
        if len(beats) > 4 and rng.random() < 0.5:
            beats.pop(rng.randrange(1, len(beats) - 1))  # a beat less, now and then
        voice = kit.voice["kos" if p.kind == "kos" else "koc"]
        key_messages = [_fill(rng.choice(voice), {"message": m}) for m in messages]
        shots = [_fill(angle["shot"], values)]
        format_shots = list(kit.shots[p.format])
        shots += rng.sample(format_shots, min(3, len(format_shots)))
        ctas = list(kit.ctas) + (list(kit.kos_ctas) if p.kind == "kos" else [])
        hashtags = list(spec.get("hashtags", {}).get("required", []))
        optional = list(spec.get("hashtags", {}).get("optional", []))
        hashtags += rng.sample(optional, min(2, len(optional)))
        return OutlineDraft(
            titles=titles,
            hook=_fill(rng.choice(angle["hooks"]), values),
            beats=beats,
            key_messages=key_messages,
            hashtags=hashtags,
            disclosure=str(spec.get("disclosure", "")),
            shots=shots,
            cta=rng.choice(ctas),
            avoid=[*spec.get("donts", []), *kit.always_avoid],
        )


# --- the service ------------------------------------------------------------------------------


@dataclass
class BatchResult:
    total: int = 0  # creators that needed an outline
    skipped: int = 0  # creators that already had one
    done: int = 0
    failed: int = 0
    by_template: int = 0
    near_duplicates: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_micros: int = 0
    currency: str = "USD"


class CampaignOutlines:
    """The campaign's current outlines while new ones are made: whose each one is, its angle
    (counted with the angles reserved by outlines in progress) and its shingles, indexed."""

    def __init__(self, campaign: Campaign, rows: list[Outline]) -> None:
        self.campaign = campaign
        self.owner: dict[int, int] = {}  # outline id → creator id
        self.by_creator: dict[int, int] = {}  # creator id → outline id
        self.angles: Counter[str] = Counter()
        self.angle_of: dict[int, str] = {}
        self.index = ShingleIndex()
        for row in rows:
            grams = shingles(comparable_text(OutlineDraft.model_validate(row.content)))
            self.add(row.id, row.creator_id, row.angle, grams)  # type: ignore[attr-defined]
        self.reserved: Counter[str] = Counter()
        self.lock = asyncio.Lock()

    def add(self, outline_id: int, creator_id: int, angle: str, grams: frozenset[str]) -> None:
        old = self.by_creator.get(creator_id)
        if old is not None:
            self.index.remove(old)
            self.angles[self.angle_of.pop(old)] -= 1
            del self.owner[old]
        self.by_creator[creator_id] = outline_id
        self.owner[outline_id] = creator_id
        self.angle_of[outline_id] = angle
        self.angles[angle] += 1
        self.index.add(outline_id, grams)

    def counts(self, without_creator: int) -> Counter[str]:
        counts = self.angles + self.reserved
        mine = self.by_creator.get(without_creator)
        if mine is not None:
            counts[self.angle_of[mine]] -= 1
        return counts

    def closest(self, grams: frozenset[str], creator_id: int) -> tuple[int | None, float]:
        mine = self.by_creator.get(creator_id)
        return self.index.closest(grams, () if mine is None else (mine,))


ProgressCallback = Callable[[int, int, int], Awaitable[None]]  # done, failed, total


class OutlineService:
    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings = settings
        self.prompts = PromptBook()
        self.template = TemplateGenerator(renderer)
        self.llm: LLMGenerator | None = (
            LLMGenerator(settings, self.prompts) if settings.openai_api_key else None
        )
        self.running: set[int] = set()  # campaigns with a batch in progress

    async def close(self) -> None:
        if self.llm is not None:
            await self.llm.close()

    @property
    def uses_llm(self) -> bool:
        return self.llm is not None

    async def generate(self, request: OutlineRequest) -> Generated:
        """The LLM when configured and reachable, else the template generator (which says so)."""
        if self.llm is None:
            generated = await self.template.generate(request)
            generated.fallback = NO_KEY
            return generated
        try:
            return await self.llm.generate(request)
        except LLMUnavailable as exc:
            log.warning("LLM unavailable (%s): template outline for creator %s",
                        exc, request.profile.creator_id)  # fmt: skip
            generated = await self.template.generate(request)
            generated.fallback = LLM_DOWN
            return generated

    # --- one creator

    async def current(self, campaign_id: int, creator_id: int) -> Outline | None:
        return (
            await Outline.filter(campaign_id=campaign_id, creator_id=creator_id, status=READY)
            .order_by("-id")
            .first()
        )

    async def for_creator(
        self, campaign: Campaign, creator_id: int, locale: str, new: bool = False
    ) -> Outline:
        """The creator's outline (cached); `new` makes another one with an angle they did not
        have yet. A row with status `failed` when the model could not produce a usable one."""
        if not new:
            cached = await self.current(campaign.id, creator_id)
            if cached is not None:
                return cached
        state = await self._state(campaign)
        profiles = await load_profiles(campaign, [creator_id])
        had = await Outline.filter(campaign_id=campaign.id, creator_id=creator_id).values_list(
            "angle", flat=True
        )
        return await self._produce(state, profiles[creator_id], locale, set(had))  # type: ignore[arg-type]

    # --- a whole campaign

    async def pregenerate(
        self, campaign: Campaign, default_locale: str, progress: ProgressCallback | None = None
    ) -> BatchResult:
        """An outline for every enrolled creator that has none, bounded by the LLM's
        concurrency limit. `progress(done, failed, total)` once at the start and after each
        one; the calls overlap, so the callback serializes itself if it must."""
        self.running.add(campaign.id)
        try:
            return await self._pregenerate(campaign, default_locale, progress)
        finally:
            self.running.discard(campaign.id)

    async def _pregenerate(
        self, campaign: Campaign, default_locale: str, progress: ProgressCallback | None
    ) -> BatchResult:
        result = BatchResult(currency=self.settings.openai_price_currency)
        enrolled = await Enrollment.filter(campaign_id=campaign.id, status="active").values_list(
            "creator_id", flat=True
        )
        state = await self._state(campaign)
        todo = [cid for cid in enrolled if cid not in state.by_creator]
        result.skipped, result.total = len(enrolled) - len(todo), len(todo)
        # Twice the model's concurrency: while some workers store what came back, others hold
        # every slot. All creators at once would instead spend the first calls' round trip
        # preparing hundreds of prompts on the event loop those calls need.
        workers = min(len(todo), 2 * self.settings.openai_concurrency)

        async def creators() -> AsyncIterator[tuple[CreatorProfile, str]]:
            """A chunk of profiles at a time: the first calls go out before the rest are read."""
            for start in range(0, len(todo), workers):
                chunk = todo[start : start + workers]
                profiles = await load_profiles(campaign, chunk)
                for profile in (profiles[c] for c in chunk if c in profiles):  # none if deleted
                    yield profile, profile.locale or default_locale

        async def one(profile: CreatorProfile, locale: str) -> None:
            try:
                row = await self._produce(state, profile, locale)
            except Exception:
                log.exception("outline for creator %s failed", profile.creator_id)
                result.failed += 1
            else:
                result.usage.add(Usage(row.prompt_tokens, row.completion_tokens))
                result.cost_micros += row.cost_micros
                if row.status == FAILED:
                    result.failed += 1
                else:
                    result.done += 1
                    result.by_template += row.generator == TEMPLATE
                    result.near_duplicates += (
                        row.similarity_permille > self.settings.outline_similarity_max * 1000
                    )
            if progress is not None:
                await progress(result.done, result.failed, result.total)

        queue, taking = creators(), asyncio.Lock()  # one reader of the generator at a time

        async def worker() -> None:
            while True:
                async with taking:
                    item = await anext(queue, None)
                if item is None:
                    return
                await one(*item)

        async with asyncio.TaskGroup() as batch:
            for _ in range(workers):
                batch.create_task(worker())
            if progress is not None and todo:  # while the first calls are on their way
                await progress(0, 0, len(todo))
        return result

    async def _state(self, campaign: Campaign) -> CampaignOutlines:
        rows = await Outline.filter(campaign_id=campaign.id, status=READY)
        return CampaignOutlines(campaign, list(rows))

    async def _produce(
        self,
        state: CampaignOutlines,
        profile: CreatorProfile,
        locale: str,
        had: set[str] | None = None,
    ) -> Outline:
        """Generate, compare, regenerate with another angle while too close, store.

        The angle is reserved before the first await, so outlines made concurrently still
        spread over the angles. The closest result is kept when every try came out close."""
        campaign, settings = state.campaign, self.settings
        limit = settings.outline_similarity_max
        tried: set[str] = set(had or ())
        usage = Usage()
        best: tuple[float, int | None, str, Generated] | None = None
        for attempt in range(settings.outline_max_attempts):
            angle = assign_angle(
                profile, state.counts(profile.creator_id), campaign.spec.get("donts", []), tried
            )
            tried.add(angle)
            request = OutlineRequest(
                campaign.code, campaign.name, campaign.spec, profile, angle, locale, attempt
            )
            state.reserved[angle] += 1
            try:
                generated = await self.generate(request)
            except OutlineInvalid as exc:
                usage.add(exc.usage)
                return await self._store_failure(state, profile, angle, locale, usage, exc, LLM)
            finally:
                state.reserved[angle] -= 1
            usage.add(generated.usage)
            if generated.generator == TEMPLATE:  # templates keep to the brief by construction
                problems = check_draft(generated.draft, request.rules)
                if problems:
                    exc = OutlineInvalid(problems, Usage())
                    return await self._store_failure(
                        state, profile, angle, locale, usage, exc, TEMPLATE
                    )
            candidate = shingles(comparable_text(generated.draft))
            async with state.lock:
                other, score = state.closest(candidate, profile.creator_id)
                if score <= limit or attempt == settings.outline_max_attempts - 1:
                    if best is not None and best[0] < score:
                        score, other, angle, generated = best
                        candidate = shingles(comparable_text(generated.draft))
                    return await self._store(
                        state, profile, angle, locale, generated, usage, attempt + 1, score, other,
                        candidate,
                    )  # fmt: skip
            if best is None or score < best[0]:
                best = (score, other, angle, generated)
            log.info("outline for creator %s is %.2f close to outline %s: another angle",
                     profile.creator_id, score, other)  # fmt: skip
        raise AssertionError("unreachable")

    async def _store(
        self,
        state: CampaignOutlines,
        profile: CreatorProfile,
        angle: str,
        locale: str,
        generated: Generated,
        usage: Usage,
        attempts: int,
        score: float,
        other: int | None,
        candidate: frozenset[str],
    ) -> Outline:
        campaign = state.campaign
        replaces = profile.creator_id in state.by_creator  # `/outline new`: the old one steps back
        # A lone INSERT is atomic already; a batch's outlines skip BEGIN/COMMIT round trips.
        async with in_transaction() if replaces else contextlib.nullcontext():
            if replaces:
                await Outline.filter(
                    campaign_id=campaign.id, creator_id=profile.creator_id, status=READY
                ).update(status=SUPERSEDED)
            row = await Outline.create(
                campaign_id=campaign.id,
                creator_id=profile.creator_id,
                status=READY,
                angle=angle,
                platform=profile.platform,
                locale=locale,
                generator=generated.generator,
                fallback=generated.fallback,
                model=generated.model,
                content=generated.draft.model_dump(mode="json"),
                attempts=attempts,
                similarity_permille=round(score * 1000),
                similar_to_id=other,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_micros=cost_micros(usage, self.settings),
                cost_currency=self.settings.openai_price_currency,
            )
        state.add(row.id, profile.creator_id, angle, candidate)
        return row

    async def _store_failure(
        self,
        state: CampaignOutlines,
        profile: CreatorProfile,
        angle: str,
        locale: str,
        usage: Usage,
        exc: OutlineInvalid,
        generator: str,
    ) -> Outline:
        log.warning("outline for creator %s failed: %s", profile.creator_id, exc)
        return await Outline.create(
            campaign_id=state.campaign.id,
            creator_id=profile.creator_id,
            status=FAILED,
            angle=angle,
            platform=profile.platform,
            locale=locale,
            generator=generator,
            model=self.llm.model if self.llm and generator == LLM else "",
            content={},
            attempts=max(1, usage.calls),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_micros=cost_micros(usage, self.settings),
            cost_currency=self.settings.openai_price_currency,
            error=str(exc)[:2000],
        )

    # --- what managers see

    async def usage(self, campaign: Campaign) -> dict[str, Any]:
        rows = await Outline.filter(campaign_id=campaign.id).values(
            "status", "generator", "angle", "prompt_tokens", "completion_tokens",
            "cost_micros", "cost_currency", "similarity_permille",
        )  # fmt: skip
        ready = [r for r in rows if r["status"] == READY]
        limit = self.settings.outline_similarity_max * 1000
        currencies = sorted({r["cost_currency"] for r in rows}) or [
            self.settings.openai_price_currency
        ]
        return {
            "creators": await Enrollment.filter(campaign_id=campaign.id, status="active").count(),
            "ready": len(ready),
            "llm": sum(r["generator"] == LLM for r in ready),
            "template": sum(r["generator"] == TEMPLATE for r in ready),
            "failed": sum(r["status"] == FAILED for r in rows),
            "superseded": sum(r["status"] == SUPERSEDED for r in rows),
            "near_duplicates": sum(r["similarity_permille"] > limit for r in ready),
            "angles": Counter(r["angle"] for r in ready).most_common(),
            "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
            "completion_tokens": sum(r["completion_tokens"] for r in rows),
            "cost_micros": sum(r["cost_micros"] for r in rows),
            "currency": "/".join(currencies),
            "model": self.llm.model if self.llm else None,
        }


# --- profiles ---------------------------------------------------------------------------------


async def load_profiles(campaign: Campaign, creator_ids: list[int]) -> dict[int, CreatorProfile]:
    """Profiles for many creators in two queries (plain rows: a batch reads hundreds)."""
    if not creator_ids:
        return {}
    creators = await Creator.filter(id__in=creator_ids).values(
        "id", "kind", "kos_type", "city", "niches", "tier", "person__display_name", "person__locale"
    )
    accounts: dict[int, list[dict[str, Any]]] = {}
    for account in await SocialAccount.filter(creator_id__in=creator_ids).order_by("id").values(
        "creator_id", "platform", "handle", "followers"
    ):
        accounts.setdefault(account["creator_id"], []).append(account)
    platforms = list(campaign.spec.get("platforms", []))
    profiles = {}
    for c in creators:
        mine = accounts.get(c["id"], [])
        platform = pick_platform(((a["platform"], a["followers"]) for a in mine), platforms)
        account = max(
            (a for a in mine if a["platform"] == platform),
            key=lambda a: a["followers"],
            default=None,
        )
        profiles[c["id"]] = CreatorProfile(
            creator_id=c["id"],
            kind=c["kind"],
            kos_type=c["kos_type"],
            city=c["city"],
            niches=tuple(str(n) for n in (c["niches"] or [])),
            tier=c["tier"],
            platform=platform,
            handle=account["handle"] if account else "",
            followers=account["followers"] if account else 0,
            name=c["person__display_name"] or "",
            locale=c["person__locale"],
        )
    return profiles

