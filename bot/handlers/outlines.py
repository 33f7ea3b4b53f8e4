"""/outline (a creator's content outline) and /outlines (a manager pre-generates for a campaign)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.identity import Role
from bot.core.outbox import Outbox
from bot.core.registry import Router
from bot.domain.outlines import format_micros
from bot.domain.platforms import format_hashtag
from bot.domain.vocabulary import VOCABULARY
from bot.services import audit, campaigns
from bot.services.outlines import FAILED, BatchResult, OutlineService

if TYPE_CHECKING:
    from storage.models import Campaign, Outline

PROGRESS_STEPS = 10  # the status message is edited at most this many times
# and no sooner than this after the last edit: Telegram lets a bot edit a chat's message about
# once a second (faster edits would only wait in the outbox), and a quick batch needs none
PROGRESS_MIN_SECONDS = 1.0


@dataclass
class BatchStatus:
    """The one message a batch edits as it goes."""

    message: int = 0  # its outbox row, once written
    step: int = -1  # the tenth of the batch it shows
    edited_at: float = 0.0  # time.monotonic()


def outline_view(row: Outline, campaign: Campaign) -> dict[str, Any]:
    content = row.content
    return {
        "outline": row,
        "content": content,
        "campaign": campaign,
        "tags": [format_hashtag(row.platform, tag) for tag in content.get("hashtags", [])],
    }

router = Router()


@router.command("outline", keywords=("大纲",), role=Role.CREATOR)
async def outline(ctx: Context, outlines: OutlineService, outbox: Outbox) -> None:
    assert ctx.caller.creator_id is not None
    new, codes = False, []
    for part in ctx.args.split():
        if VOCABULARY.means(part, "outline.new"):
            new = True
        else:
            codes.append(part)
    if len(codes) > 1:
        raise UserError("outlines/usage")
    campaign = await campaigns.creator_campaign(
        ctx.caller.creator_id, codes[0] if codes else None, "outline", "new" if new else ""
    )
    service = outlines
    cached = None if new else await service.current(campaign.id, ctx.caller.creator_id)
    if cached is not None:
        await ctx.reply("outlines/outline", **outline_view(cached, campaign))
        return
    pending = None
    if service.uses_llm:  # a model takes seconds: say so, then replace the note with the outline
        pending = await ctx.reply("outlines/generating", campaign=campaign, new=new)
        await outbox.flush()
    row = await service.for_creator(campaign, ctx.caller.creator_id, ctx.locale, new=new)
    if row.status == FAILED:
        template, data = "outlines/failed", {"campaign": campaign, "new": new}
    else:
        template, data = "outlines/outline", outline_view(row, campaign)
    if pending is None:
        await ctx.reply(template, **data)
    else:
        await ctx.edit(pending, template, **data)


@router.command("outlines", keywords=("批量大纲",), role=Role.MANAGER)
async def outlines_batch(ctx: Context, outlines: OutlineService, outbox: Outbox) -> None:
    parts = ctx.args.split()
    if not parts or len(parts) > 2 or (
        len(parts) == 2 and not VOCABULARY.means(parts[1], "outlines.stats")
    ):
        raise UserError("outlines/batch_usage")
    campaign = await campaigns.managed_campaign(ctx.caller, parts[0])
    service = outlines
    if len(parts) == 2:
        stats = await service.usage(campaign)
        await ctx.reply(
            "outlines/stats",
            campaign=campaign,
            stats=stats,
            cost=format_micros(stats["cost_micros"], stats["currency"]),
        )
        return
    if campaign.id in service.running:
        raise UserError("outlines/batch_running", campaign=campaign)

    status = BatchStatus()
    one_at_a_time = asyncio.Lock()  # outlines finish while the status message is being written

    async def progress(done: int, failed: int, total: int) -> None:
        step = (done + failed) * PROGRESS_STEPS // total if total else PROGRESS_STEPS
        data = {"campaign": campaign, "done": done, "failed": failed, "total": total}
        async with one_at_a_time:
            if not status.message:
                status.message = await ctx.reply("outlines/batch_progress", **data)
            elif (
                step > status.step
                and done + failed < total
                and time.monotonic() - status.edited_at >= PROGRESS_MIN_SECONDS
            ):
                await ctx.edit(status.message, "outlines/batch_progress", **data)
            else:
                return
            status.step, status.edited_at = step, time.monotonic()
            await outbox.flush()  # progress is only progress if it is seen now

    result: BatchResult = await service.pregenerate(campaign, ctx.settings.locale, progress)
    await audit.record(
        ctx.caller.person_id,
        "outlines.batch",
        campaign.code,
        done=result.done,
        failed=result.failed,
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
        cost_micros=result.cost_micros,
    )
    data = {
        "campaign": campaign,
        "result": result,
        "cost": format_micros(result.cost_micros, result.currency),
        "llm": service.uses_llm,
    }
    if status.message:
        await ctx.edit(status.message, "outlines/batch_done", **data)
    else:
        await ctx.reply("outlines/batch_done", **data)
