"""/submit (and post links in groups), /review, /approve, /reject, /metrics, metrics sheets."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.identity import Role
from bot.core.messages import Choice
from bot.core.registry import Router
from bot.domain.ids import parse_id
from bot.domain.links import post_links
from bot.domain.metrics import parse_metrics
from bot.domain.metrics_import import SheetError, read_sheet
from bot.domain.statuses import SubmissionStatus
from bot.flows.metrics_import import MetricsImport
from bot.flows.review import RejectReason, decide
from bot.services import campaigns, creators, ledger, metrics_import, submissions

REVIEW_PAGE = 5

router = Router()


@router.command("submit", keywords=("提交", "交作业"), role=Role.CREATOR)
async def submit(ctx: Context) -> None:
    code, text = await _leading_campaign_code(ctx.args)
    if not text:
        await ctx.reply("submissions/usage")
        return
    await _submit(ctx, code, text)


@router.group_catcher
async def catch_group_post_link(ctx: Context) -> bool:
    """A post link from an enrolled creator in a group counts as a submission."""
    if ctx.caller.creator_id is None or not post_links(ctx.incoming.text):
        return False
    if not await campaigns.enrolled_campaign_ids(ctx.caller.creator_id):
        return False
    code = await campaigns.linked_campaign_code(ctx.incoming.platform, ctx.incoming.chat.chat_id)
    await _submit(ctx, code, ctx.incoming.text)
    return True


async def _submit(ctx: Context, code: str | None, text: str) -> None:
    assert ctx.caller.creator_id is not None
    link = submissions.pick_post_link(text)
    campaign = await campaigns.creator_campaign(ctx.caller.creator_id, code, "submit", then=text)
    creator = await creators.creator_by_id(ctx.caller.creator_id)
    result = await submissions.submit(
        creator,
        campaign,
        link,
        ctx.incoming.platform,
        ctx.incoming.chat.chat_id,
        ctx.now,
        caption=submissions.caption_of(text),
        resolve=ctx.settings.link_resolve,
    )
    submission = result.submission
    await ctx.reply(
        "submissions/received", submission=submission, campaign=campaign, checks=result.checks
    )
    await submissions.alert_leak(submission, campaign, ctx.caller.name, ctx.notify)


async def _leading_campaign_code(args: str) -> tuple[str | None, str]:
    """`/submit CODE link…` names the campaign; `/submit link…` leaves it to context."""
    first, _, rest = args.strip().partition(" ")
    if await campaigns.campaign_exists(first):
        return first, rest.strip()
    return None, args.strip()


@router.command("review", keywords=("审核",), role=Role.MANAGER)
async def review(ctx: Context) -> None:
    code = ctx.args.split()[0] if ctx.args.split() else None
    if code:  # the shared lookup: unknown or someone else's campaign is said so
        code = (await campaigns.managed_campaign(ctx.caller, code)).code
    items, total = await submissions.review_queue(ctx.caller, code, REVIEW_PAGE)
    if not items:
        await ctx.reply("review/empty", code=code)
        return
    choices = []
    for item in items:
        choices.append(
            Choice(ctx.render("review/approve_label", id=item.id), f"/approve {item.id}")
        )
        choices.append(Choice(ctx.render("review/reject_label", id=item.id), f"/reject {item.id}"))
    await ctx.reply("review/queue", items=items, total=total, choices=choices)


@router.command("approve", keywords=("通过",), role=Role.MANAGER)
async def approve(ctx: Context) -> None:
    submission_id = _submission_id(ctx.args)
    if submission_id is None:
        await ctx.reply("review/approve_usage")
        return
    await decide(ctx, submission_id, approve=True, reason="")


@router.command("reject", keywords=("驳回",), role=Role.MANAGER)
async def reject(ctx: Context) -> None:
    submission_id = _submission_id(ctx.args)
    if submission_id is None:
        await ctx.reply("review/reject_usage")
        return
    reason = ctx.args.split(maxsplit=1)[1].strip() if len(ctx.args.split()) > 1 else ""
    if not reason:
        await submissions.managed_submission(ctx.caller, submission_id)
        await ctx.start_flow(RejectReason, {"id": submission_id})
        return
    await decide(ctx, submission_id, approve=False, reason=reason)


def _submission_id(args: str) -> int | None:
    return parse_id(args.split()[0]) if args.split() else None


@router.command("metrics", keywords=("数据",), role=Role.CREATOR)
async def metrics(ctx: Context) -> None:
    assert ctx.caller.creator_id is not None
    submission_id = _submission_id(ctx.args)
    rest = ctx.args.split(maxsplit=1)[1] if len(ctx.args.split()) > 1 else ""
    parsed = parse_metrics(rest)
    if submission_id is None or (not parsed.values and not parsed.problems):
        await ctx.reply("submissions/metrics_usage")
        return
    if parsed.problems:
        await ctx.reply("submissions/metrics_problems", problems=parsed.problems)
        return
    submission = await submissions.own_submission(ctx.caller.creator_id, submission_id)
    await submissions.record_metrics(submission, parsed.values, ctx.caller.person_id)
    latest = await submissions.latest_metrics(submission.id)
    earning = None
    if submission.status == SubmissionStatus.APPROVED:
        total, lines = await ledger.post_earning(submission.id)
        earning = {"total_fen": total, "lines": lines}
    await ctx.reply(
        "submissions/metrics_recorded",
        submission=submission,
        metrics=latest,
        earning=earning,
        currency=submission.campaign.currency,
    )


@router.document(suffixes=(".csv", ".xlsx"), role=Role.MANAGER)
async def import_metrics_file(ctx: Context) -> None:
    """A manager's metrics sheet: a preview of what changes, applied once confirmed."""
    attachment = ctx.incoming.attachments[0]
    try:
        sheet = read_sheet(attachment.name, attachment.data)
    except SheetError as error:
        await ctx.reply(
            "submissions/import_unreadable",
            name=attachment.name,
            code=error.code,
            detail=error.detail,
        )
        return
    plan = await metrics_import.plan_import(ctx.caller, sheet, attachment.name)
    if not plan["changes"]:
        await ctx.reply("submissions/import_nothing", plan=plan)
        return
    await ctx.start_flow(MetricsImport, plan)
