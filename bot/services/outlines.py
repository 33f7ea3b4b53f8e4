"""Central-kitchen outlines: one brief, a different outline for every creator.

`OutlineService` is the use case: it picks the generator (bot/services/outline_generators.py:
the LLM when configured and reachable, else the template generator, which says so), assigns
angles balanced across the campaign, regenerates an outline that comes out too close to another
one with a different angle, stores every outline with its tokens and cost, and pre-generates
for a whole campaign with progress reports. The chat client is bot/services/llm.py; the pure
rules (angles, schema, checks, similarity) are bot/domain/outlines.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.core.render import Renderer
from bot.domain.outlines import (
    CreatorProfile,
    OutlineDraft,
    OutlineRequest,
    ShingleIndex,
    assign_angle,
    check_draft,
    comparable_text,
    pick_platform,
    shingles,
)
from bot.services.llm import LLMClient, LLMUnavailable, Usage, cost_micros
from bot.services.outline_generators import (
    LLM,
    TEMPLATE,
    Generated,
    LLMGenerator,
    OutlineInvalid,
    PromptBook,
    TemplateGenerator,
)
from storage.models import Campaign, Creator, Enrollment, Outline, SocialAccount

log = logging.getLogger(__name__)

READY, SUPERSEDED, FAILED = "ready", "superseded", "failed"
NO_KEY, LLM_DOWN = "no_key", "llm_down"


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
            LLMGenerator(LLMClient(settings), self.prompts) if settings.openai_api_key else None
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

        The angle is reserved before the first await and counted until the outline is stored,
        so outlines made concurrently still spread over the angles. The closest result is kept
        when every try came out close."""
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
                try:
                    generated = await self.generate(request)
                except OutlineInvalid as exc:
                    usage.add(exc.usage)
                    return await self._store_failure(state, profile, angle, locale, usage, exc, LLM)
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
                        kept = angle
                        if best is not None and best[0] < score:
                            score, other, kept, generated = best
                            candidate = shingles(comparable_text(generated.draft))
                        return await self._store(
                            state, profile, kept, locale, generated, usage, attempt + 1, score,
                            other, candidate,
                        )  # fmt: skip
            finally:
                state.reserved[angle] -= 1
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
