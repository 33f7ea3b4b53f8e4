"""Every status and kind a row can hold, defined once (the database stores their values).

Pure vocabulary: core, services and storage all import it, so it imports nothing of theirs.
StrEnum members are strings: they compare, hash, format and serialize as their value, so a
query such as `filter(status="approved")` and a template printing a status keep working.
"""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    LIVE = "live"


class CreatorStatus(StrEnum):
    ACTIVE = "active"


class CreatorKind(StrEnum):
    KOC = "koc"  # a real user
    KOS = "kos"  # a sales-side creator: dealer, store, employee, agent


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"


class SubmissionStatus(StrEnum):
    """pending → approved | rejected; an approved post may still be rejected."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ResolveStatus(StrEnum):
    """A submitted short link (bot.services.resolver): pending → resolved (a post) | not_post
    (a profile, another site) | failed (a redirect loop, too many timeouts)."""

    PENDING = "pending"
    RESOLVED = "resolved"
    NOT_POST = "not_post"
    FAILED = "failed"


class EntryKind(StrEnum):
    """A ledger entry: accruals and reversals follow a post's price, adjustments resolve
    disputes, payouts settle what was earned."""

    ACCRUAL = "accrual"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"
    PAYOUT = "payout"


class EarningState(StrEnum):
    """Where an earning entry stands, from the settlement whose period holds it (not stored)."""

    PENDING = "pending"
    SETTLED = "settled"
    PAID = "paid"


class SettlementStatus(StrEnum):
    CLOSED = "closed"
    PAID = "paid"


class DisputeStatus(StrEnum):
    """open → resolved (an adjustment) | rejected (amount 0), decided once."""

    OPEN = "open"
    RESOLVED = "resolved"
    REJECTED = "rejected"


class OutlineStatus(StrEnum):
    """The newest ready outline is the creator's; `/outline new` supersedes it."""

    READY = "ready"
    SUPERSEDED = "superseded"
    FAILED = "failed"


class PushStatus(StrEnum):
    """A timeline push: pending → sent | skipped; paused while a manager holds the timeline."""

    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"
    PAUSED = "paused"


class BroadcastStatus(StrEnum):
    """scheduled → sending → done | cancelled."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class RecipientStatus(StrEnum):
    """One broadcast recipient: pending → queued (in the outbox) → sent | failed | blocked |
    in_doubt (a crash caught it mid-send) | cancelled; or unreachable from the start."""

    PENDING = "pending"
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    UNREACHABLE = "unreachable"
    IN_DOUBT = "in_doubt"
    CANCELLED = "cancelled"


class OutboxStatus(StrEnum):
    """pending → sending → sent | failed (or back to pending to retry); cancelled by its
    producer (a broadcast, a paused timeline) before it left. Here, not in bot.core.outbox:
    storage's model needs it, and the outbox module imports storage."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
