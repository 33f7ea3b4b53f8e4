"""Disputes (申诉): a creator objects to a decision or an amount on their own post; managers of
the brand resolve it with an adjustment entry in the ledger (with the reason), or reject it
(amount 0: no entry). A dispute is open → resolved | rejected, decided once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from bot.core.errors import UserError
from bot.core.identity import Role
from bot.domain.ids import possible_id
from bot.domain.statuses import DisputeStatus, EntryKind
from bot.services import audit, ledger
from bot.services.people import Caller
from storage.models import Campaign, Dispute, LedgerEntry, Submission

MAX_TEXT = 500
LIST_LIMIT = 10


async def open_dispute(creator_id: int, submission_id: int, text: str) -> Dispute:
    """A new open dispute on the creator's own post; someone else's post looks missing, and a
    post with an open dispute gets no second one."""
    submission = (
        await Submission.get_or_none(id=submission_id, creator_id=creator_id)
        if possible_id(submission_id)
        else None
    )
    if submission is None:
        raise UserError("submissions/unknown", id=submission_id)
    async with in_transaction():
        existing = await Dispute.filter(
            submission_id=submission.id, status=DisputeStatus.OPEN
        ).first()
        if existing is not None:
            raise UserError("disputes/already_open", dispute=existing, id=submission.id)
        dispute = await Dispute.create(
            creator_id=creator_id, submission=submission, text=text[:MAX_TEXT]
        )
    await audit.record(None, "dispute.opened", f"submission:{submission.id}", dispute=dispute.id)
    return dispute


async def campaign_of(dispute: Dispute) -> Campaign:
    """The campaign a dispute is about (its post and campaign are loaded onto it)."""
    await dispute.fetch_related("submission__campaign")
    return dispute.submission.campaign  # type: ignore[attr-defined]


async def open_disputes(caller: Caller, campaign: Campaign | None) -> tuple[list[Dispute], int]:
    """Open disputes on the brands the caller manages (or on one campaign), oldest first."""
    query = _managed_query(caller).filter(status=DisputeStatus.OPEN)
    if campaign is not None:
        query = query.filter(submission__campaign_id=campaign.id)
    total = await query.count()
    items = (
        await query.order_by("id")
        .limit(LIST_LIMIT)
        .prefetch_related("submission__campaign", "creator__person")
    )
    return list(items), total


def _managed_query(caller: Caller):  # type: ignore[no-untyped-def]
    query = Dispute.all()
    if not caller.is_admin:
        brand_ids = list(caller.brand_ids(Role.MANAGER)) or [0]
        query = query.filter(submission__campaign__brand_id__in=brand_ids)
    return query


async def managed_dispute(caller: Caller, dispute_id: int) -> Dispute:
    """A dispute on a brand the caller manages; any other looks missing."""
    if not possible_id(dispute_id):
        raise UserError("disputes/unknown", id=dispute_id)
    dispute = (
        await _managed_query(caller)
        .filter(id=dispute_id)
        .first()
        .prefetch_related("submission__campaign", "creator__person")
    )
    if dispute is None:
        raise UserError("disputes/unknown", id=dispute_id)
    return dispute


@dataclass
class Resolution:
    dispute: Dispute
    entry: LedgerEntry | None  # None: rejected (amount 0)
    campaign: Campaign


async def resolve(
    caller: Caller, dispute_id: int, amount_fen: int, reason: str, now: datetime
) -> Resolution:
    """Close an open dispute: an adjustment entry of `amount_fen` with the reason, or with 0 a
    rejection and no entry. Two managers at once: one wins, the other is told it is closed."""
    async with in_transaction():
        dispute = await managed_dispute(caller, dispute_id)
        status = DisputeStatus.RESOLVED if amount_fen else DisputeStatus.REJECTED
        changed = await Dispute.filter(id=dispute.id, status=DisputeStatus.OPEN).update(
            status=status,
            resolution=reason[:MAX_TEXT],
            amount_fen=amount_fen,
            resolved_by_id=caller.person_id,
            resolved_at=now,
        )
        if not changed:
            raise UserError("disputes/already_closed", dispute=dispute)
        campaign: Campaign = dispute.submission.campaign  # type: ignore[attr-defined]
        entry = None
        if amount_fen:
            entry = await ledger.append(
                dispute.creator_id,  # type: ignore[attr-defined]
                campaign,
                EntryKind.ADJUSTMENT,
                amount_fen,
                caller.person_id,
                submission_id=dispute.submission_id,  # type: ignore[attr-defined]
                note=reason[:MAX_TEXT],
                basis={"dispute": dispute.id},
            )
        await audit.record(
            caller.person_id,
            f"dispute.{status}",
            f"dispute:{dispute.id}",
            amount_fen=amount_fen,
            reason=reason,
        )
    if entry is not None:
        await ledger.check_budget(campaign)
    dispute = await Dispute.get(id=dispute.id).prefetch_related(
        "submission__campaign", "creator__person"
    )
    return Resolution(dispute, entry, campaign)
