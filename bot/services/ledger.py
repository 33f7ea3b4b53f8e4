"""The append-only ledger: accruals, reversals, adjustments and payouts, never edited.

A post's accrued amount is the sum of its accrual and reversal entries. Whenever what a
creator's posts in a campaign should earn may have changed (a decision, new metrics), the
amounts are recomputed from the latest metrics (bot.domain.pricing.price_creator) and only the
difference is written. Which period an entry belongs to follows from Settlement.last_entry_id.

Writers of one creator's entries in one campaign take one lock first (`_lock_pair`), so each
computes from everything written before it; a database constraint (LedgerEntry.post_seq) is the
second line: two differences taken from the same state of a post cannot both be written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.functions import Max, Sum
from tortoise.transactions import in_transaction

from bot.domain.pricing import Metrics, PostInput, PostPrice, Pricing, budget_alerts, price_creator
from bot.domain.pricing import in_bonus_window as bonus_window
from bot.domain.statuses import EarningState, EntryKind, SettlementStatus, SubmissionStatus
from bot.services import points
from storage.models import (
    BudgetAlert,
    Campaign,
    Creator,
    LedgerEntry,
    MetricSnapshot,
    Settlement,
    Submission,
)

# What a creator earned; payouts settle it.
EARNING_KINDS = (EntryKind.ACCRUAL, EntryKind.REVERSAL, EntryKind.ADJUSTMENT)
POST_KINDS = (EntryKind.ACCRUAL, EntryKind.REVERSAL)  # a post's accrued amount
MAX_ATTEMPTS = 8


@dataclass
class Repriced:
    entries: list[LedgerEntry]
    budget_alerts: tuple[int, ...] = ()
    campaign: Campaign | None = None
    spent_fen: int = 0


async def latest_metrics(submission_id: int) -> Metrics:
    return _metrics_of(await _latest_snapshot(submission_id))


async def _latest_snapshot(submission_id: int) -> MetricSnapshot | None:
    return await MetricSnapshot.filter(submission_id=submission_id).order_by("-id").first()


def _metrics_of(snapshot: MetricSnapshot | None) -> Metrics:
    if snapshot is None:
        return Metrics()
    return Metrics(**{name: getattr(snapshot, name) for name in Metrics.__dataclass_fields__})


def pricing_of(campaign: Campaign) -> Pricing:
    return Pricing.from_spec(campaign.spec["pricing"])


async def campaign_spent(campaign_id: int) -> int:
    """What the campaign's creators have earned so far (accruals, reversals, adjustments)."""
    row = (
        await LedgerEntry.filter(campaign_id=campaign_id, kind__in=EARNING_KINDS)
        .annotate(total=Sum("amount_fen"))
        .first()
        .values("total")
    )
    return int((row or {}).get("total") or 0)


async def reprice(creator_id: int, campaign_id: int, actor_id: int | None, cause: str) -> Repriced:
    """Bring the ledger in line with what the creator's posts earn now; write differences only.

    Safe against a concurrent writer: the pair's lock is taken before anything is read. Should
    a writer get past it, the sequence numbers collide and the difference is computed again."""
    campaign = await Campaign.get(id=campaign_id)
    for _attempt in range(MAX_ATTEMPTS):
        try:
            async with in_transaction() as connection:
                await _lock_pair(connection, creator_id, campaign_id)
                entries = await _reprice_once(creator_id, campaign, actor_id, cause)
            break
        except IntegrityError:
            continue
    else:  # pragma: no cover - eight collisions in a row
        raise RuntimeError("ledger: could not write after repeated collisions")
    after = await campaign_spent(campaign_id)
    await points.refresh(creator_id)
    alerts = await _record_budget_alerts(campaign, after)
    result = Repriced(entries, alerts, campaign, after)
    if _listener is not None and alerts:
        await _listener(result)
    return result


async def check_budget(campaign: Campaign) -> tuple[int, ...]:
    """After an entry written outside repricing (an adjustment): record and announce the
    budget alert levels the spend reached for the first time."""
    spent = await campaign_spent(campaign.id)
    alerts = await _record_budget_alerts(campaign, spent)
    if _listener is not None and alerts:
        await _listener(Repriced([], alerts, campaign, spent))
    return alerts


# Told about each repricing that reached a new budget alert (the app notifies the managers).
_listener: Callable[[Repriced], Awaitable[None]] | None = None


def set_listener(listener: Callable[[Repriced], Awaitable[None]] | None) -> None:
    global _listener
    _listener = listener


async def _record_budget_alerts(campaign: Campaign, spent_fen: int) -> tuple[int, ...]:
    """The alert levels (80, 100 % of the budget) the spend has reached and that were never
    recorded for this campaign: each is recorded (and so sent) once, whoever gets there
    first; spend that falls and rises again does not repeat it."""
    budget = pricing_of(campaign).budget_fen
    reached = budget_alerts(budget, 0, spent_fen)
    new = []
    for percent in reached:
        if await BudgetAlert.exists(campaign_id=campaign.id, percent=percent):
            continue
        try:
            async with in_transaction():
                await BudgetAlert.create(
                    campaign=campaign, percent=percent, spent_fen=spent_fen, budget_fen=budget
                )
        except IntegrityError:  # a concurrent writer recorded it first
            continue
        new.append(percent)
    return tuple(new)


async def _reprice_once(
    creator_id: int, campaign: Campaign, actor_id: int | None, cause: str
) -> list[LedgerEntry]:
    pricing = pricing_of(campaign)
    creator = await Creator.get(id=creator_id)
    submissions = await Submission.filter(creator_id=creator_id, campaign_id=campaign.id).order_by(
        "id"
    )
    approved = [s for s in submissions if s.status == SubmissionStatus.APPROVED]
    snapshots = {s.id: await _latest_snapshot(s.id) for s in approved}
    metrics = {s.id: _metrics_of(snapshots[s.id]) for s in approved}
    priced = price_creator(
        pricing,
        [
            PostInput(metrics[s.id], bonus_window(pricing, campaign.embargo_at, s.created_at))
            for s in approved
        ],
        creator.tier,
    )
    target: dict[int, PostPrice] = dict(zip((s.id for s in approved), priced, strict=True))
    accrued = await _accrued_by_submission(creator_id, campaign.id)
    seq = await _last_seq(creator_id, campaign.id)
    written = []
    for submission in submissions:
        price = target.get(submission.id)
        want = price.total_fen if price else 0
        state = accrued.get(submission.id, Accrued())
        diff = want - state.amount_fen
        if diff == 0:
            continue
        seq += 1
        kind = EntryKind.REVERSAL if price is None else EntryKind.ACCRUAL
        basis = {"cause": cause, "total_fen": want, "status": submission.status}
        snapshot = snapshots.get(submission.id) if price is not None else None
        if price is not None:
            basis["metrics"] = metrics[submission.id].__dict__
            basis["lines"] = [line.to_json() for line in price.lines]
            basis["tier"] = creator.tier
        written.append(
            await LedgerEntry.create(
                creator_id=creator_id,
                campaign_id=campaign.id,
                submission_id=submission.id,
                kind=kind,
                amount_fen=diff,
                currency=pricing.currency,
                basis=basis,
                actor_id=actor_id,
                seq=seq,
                snapshot_id=snapshot.id if snapshot else None,
                post_seq=state.post_seq + 1,
            )
        )
    return written


@dataclass
class Accrued:
    """A post's accruals and reversals so far: their sum and the last post_seq."""

    amount_fen: int = 0
    post_seq: int = 0


async def _accrued_by_submission(creator_id: int, campaign_id: int) -> dict[int, Accrued]:
    # Sums and post_seq from one statement: a new entry's post_seq then names exactly the state
    # its difference was taken from (the unique constraint's point).
    rows = await LedgerEntry.filter(
        creator_id=creator_id, campaign_id=campaign_id, kind__in=POST_KINDS
    ).values_list("submission_id", "amount_fen", "post_seq")
    result: dict[int, Accrued] = defaultdict(Accrued)
    for submission_id, amount, post_seq in rows:
        state = result[submission_id]
        state.amount_fen += amount
        state.post_seq = max(state.post_seq, post_seq or 0)
    return result


async def _lock_pair(connection: BaseDBAsyncClient, creator_id: int, campaign_id: int) -> None:
    """Serialize the writers of one (creator, campaign)'s entries until the transaction ends.

    Taken first, before anything is read: under READ COMMITTED two writers reading the accrued
    sums and the last seq in separate statements could otherwise both write the same difference.
    """
    if connection.capabilities.dialect == "postgres":
        # A transaction-scoped advisory lock: no row has to exist, nothing else is blocked.
        await connection.execute_query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [f"koxbot.ledger:{creator_id}:{campaign_id}"],
        )
    else:
        # In one process tortoise runs one transaction at a time on its single connection.
        # Across processes SQLite has one writer, but tortoise's BEGIN is deferred: a
        # transaction that read first and then finds another process committed in between
        # fails on its write ("database is locked") instead of waiting. A write statement
        # that matches no row takes the write lock now, as BEGIN IMMEDIATE would, and waits.
        await connection.execute_query("UPDATE creators SET id = id WHERE 0")


async def _last_seq(creator_id: int, campaign_id: int) -> int:
    row = (
        await LedgerEntry.filter(creator_id=creator_id, campaign_id=campaign_id)
        .annotate(top=Max("seq"))
        .first()
        .values("top")
    )
    return int((row or {}).get("top") or 0)


async def append(
    creator_id: int,
    campaign: Campaign,
    kind: EntryKind,
    amount_fen: int,
    actor_id: int | None,
    *,
    submission_id: int | None = None,
    settlement_id: int | None = None,
    note: str | None = None,
    basis: dict | None = None,
) -> LedgerEntry:
    """One entry (an adjustment or a payout) with the next sequence number, under the same lock
    as repricing; retried on a collision."""
    for _attempt in range(MAX_ATTEMPTS):
        try:
            async with in_transaction() as connection:
                await _lock_pair(connection, creator_id, campaign.id)
                seq = await _last_seq(creator_id, campaign.id) + 1
                return await LedgerEntry.create(
                    creator_id=creator_id,
                    campaign_id=campaign.id,
                    submission_id=submission_id,
                    kind=kind,
                    amount_fen=amount_fen,
                    currency=campaign.currency,
                    basis=basis or {},
                    actor_id=actor_id,
                    seq=seq,
                    settlement_id=settlement_id,
                    note=note,
                )
        except IntegrityError:
            continue
    raise RuntimeError("ledger: could not write after repeated collisions")  # pragma: no cover


# --- reading: what a creator sees -------------------------------------------------------------


@dataclass
class PostView:
    submission: Submission
    amounts: dict[EarningState, int] = field(default_factory=lambda: dict.fromkeys(EarningState, 0))
    lines: list[dict] = field(default_factory=list)  # the latest explanation

    @property
    def total_fen(self) -> int:
        return sum(self.amounts.values())


@dataclass
class AdjustmentView:
    entry: LedgerEntry
    state: EarningState


@dataclass
class CampaignView:
    campaign: Campaign
    currency: str
    posts: list[PostView] = field(default_factory=list)
    adjustments: list[AdjustmentView] = field(default_factory=list)
    amounts: dict[EarningState, int] = field(default_factory=lambda: dict.fromkeys(EarningState, 0))

    @property
    def total_fen(self) -> int:
        return sum(self.amounts.values())


async def settlements_of(campaign_id: int) -> list[Settlement]:
    return await Settlement.filter(campaign_id=campaign_id).order_by("number")


def state_of(entry_id: int, settlements: list[Settlement]) -> EarningState:
    """pending, or the state of the first settlement whose period holds the entry."""
    for settlement in settlements:
        if entry_id <= settlement.last_entry_id:
            if settlement.status == SettlementStatus.PAID:
                return EarningState.PAID
            return EarningState.SETTLED
    return EarningState.PENDING


async def creator_view(creator_id: int) -> list[CampaignView]:
    """Per campaign and per post, from the ledger; only this creator's rows are read, in
    three statements however many campaigns and posts (four with an adjustment in a campaign
    they have no post in)."""
    submissions = (
        await Submission.filter(creator_id=creator_id)
        .order_by("campaign_id", "id")
        .select_related("campaign")
    )
    entries = await LedgerEntry.filter(creator_id=creator_id, kind__in=EARNING_KINDS).order_by("id")
    views: dict[int, CampaignView] = {}
    posts: dict[int, PostView] = {}
    for submission in submissions:
        campaign = submission.campaign
        if campaign.id not in views:
            views[campaign.id] = CampaignView(campaign, campaign.currency)
        post = posts[submission.id] = PostView(submission)
        views[campaign.id].posts.append(post)
    # An adjustment in a campaign without a post of theirs
    elsewhere = {entry.campaign_id for entry in entries} - set(views)  # type: ignore[attr-defined]
    for campaign in await Campaign.filter(id__in=elsewhere).order_by("id") if elsewhere else ():
        views[campaign.id] = CampaignView(campaign, campaign.currency)
    settlements: dict[int, list[Settlement]] = {campaign_id: [] for campaign_id in views}
    if views:
        for settlement in await Settlement.filter(campaign_id__in=list(views)).order_by("number"):
            settlements[settlement.campaign_id].append(settlement)  # type: ignore[attr-defined]
    for entry in entries:
        view = views[entry.campaign_id]  # type: ignore[attr-defined]
        state = state_of(entry.id, settlements[view.campaign.id])
        view.amounts[state] += entry.amount_fen
        if entry.kind == EntryKind.ADJUSTMENT:
            view.adjustments.append(AdjustmentView(entry, state))
            continue
        post = posts.get(entry.submission_id)  # type: ignore[attr-defined]
        if post is not None:
            post.amounts[state] += entry.amount_fen
            post.lines = entry.basis.get("lines", [])
    return list(views.values())


async def post_earning(submission_id: int) -> tuple[int, list[dict]]:
    """What a post has accrued so far, and the lines of its latest pricing."""
    query = LedgerEntry.filter(submission_id=submission_id, kind__in=POST_KINDS)
    entries = await query.order_by("id")
    lines = entries[-1].basis.get("lines", []) if entries else []
    return sum(e.amount_fen for e in entries), lines
