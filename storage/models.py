"""Tortoise models. Schema changes go through aerich migrations (see storage/migrations/README.md).

Money is integer minor units (fen) with a currency; times are stored in UTC.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from tortoise import fields
from tortoise.fields.data import CharEnumFieldInstance
from tortoise.models import Model

from bot.core.clock import Clock, SystemClock
from bot.domain.statuses import (
    BroadcastStatus,
    CampaignStatus,
    CreatorKind,
    CreatorStatus,
    DisputeStatus,
    EnrollmentStatus,
    EntryKind,
    OutboxStatus,
    OutlineStatus,
    PushStatus,
    RecipientStatus,
    ResolveStatus,
    SettlementStatus,
    SubmissionStatus,
)

_clock: Clock = SystemClock()


def set_clock(clock: Clock) -> None:
    """Rows get `created_at` from the app's clock, so tests and the console can move time."""
    global _clock
    _clock = clock


def now() -> Any:
    return _clock.now()


EnumT = TypeVar("EnumT", bound=StrEnum)


class _EnumCharField(CharEnumFieldInstance):
    """tortoise's CharEnumField, described to migrations as the plain CharField the column is.

    The column stays varchar(max_length) holding the values; rows read back as members. aerich
    would otherwise see a new field type and a generated comment, and emit an ALTER COLUMN
    (which SQLite cannot run) and a COMMENT for a column that does not change."""

    def __init__(self, enum_type: type[StrEnum], max_length: int, **kwargs: Any) -> None:
        super().__init__(enum_type, max_length=max_length, **kwargs)
        self.description = kwargs.get("description")  # no generated list of members

    def describe(self, serializable: bool) -> dict:
        desc = super().describe(serializable)
        if serializable:
            desc["field_type"] = fields.CharField.__name__
        return desc


def enum_field(enum_type: type[EnumT], max_length: int, **kwargs: Any) -> fields.Field[EnumT]:
    """A column holding one of `enum_type`'s values (bot.domain.statuses)."""
    return _EnumCharField(enum_type, max_length, **kwargs)  # type: ignore[return-value]


class TimestampedModel(Model):
    id = fields.IntField(primary_key=True)
    created_at = fields.DatetimeField()

    class Meta:
        abstract = True

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if self.created_at is None:
            self.created_at = _clock.now()
        await super().save(*args, **kwargs)


class Brand(TimestampedModel):
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=100)

    class Meta:
        table = "brands"


class Person(TimestampedModel):
    display_name = fields.CharField(max_length=100, default="")
    locale = fields.CharField(max_length=8, null=True)

    class Meta:
        table = "people"


class Identity(TimestampedModel):
    """A person's account on one platform; one person may link several."""

    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="identities", on_delete=fields.CASCADE
    )
    platform = fields.CharField(max_length=16)
    user_id = fields.CharField(max_length=64)
    username = fields.CharField(max_length=100, null=True)
    last_seen_at = fields.DatetimeField(null=True)
    # The user blocked the bot: no DMs until they write to it again.
    blocked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "identities"
        unique_together = (("platform", "user_id"),)


class RoleGrant(TimestampedModel):
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="roles", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16)
    brand: fields.ForeignKeyNullableRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="grants", null=True, on_delete=fields.CASCADE
    )
    granted_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="grants_given", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "role_grants"
        unique_together = (("person", "role", "brand"),)


class Campaign(TimestampedModel):
    code = fields.CharField(max_length=32, unique=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="campaigns", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    status = enum_field(CampaignStatus, max_length=16, default=CampaignStatus.LIVE)
    timezone = fields.CharField(max_length=64)
    event_at = fields.DatetimeField()
    embargo_at = fields.DatetimeField()
    deadline_at = fields.DatetimeField()
    currency = fields.CharField(max_length=3, default="CNY")
    # The validated campaign spec (platforms, messages, hashtags, pricing in fen ...), see
    # bot.domain.campaign_spec.CampaignSpec.
    spec = fields.JSONField()
    created_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="campaigns_created", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "campaigns"


class Invite(TimestampedModel):
    code = fields.CharField(max_length=32, unique=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="invites", on_delete=fields.CASCADE
    )
    campaign: fields.ForeignKeyNullableRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="invites", null=True, on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16, default="creator")
    max_uses = fields.IntField(null=True)
    uses = fields.IntField(default=0)
    expires_at = fields.DatetimeField(null=True)
    created_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="invites_created", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "invites"


class Creator(TimestampedModel):
    person: fields.OneToOneRelation[Person] = fields.OneToOneField(
        "models.Person", related_name="creator", on_delete=fields.CASCADE
    )
    kind = enum_field(CreatorKind, max_length=8)
    kos_type = fields.CharField(max_length=16, null=True)  # dealer | store | employee | agent
    city = fields.CharField(max_length=64)
    niches = fields.JSONField(default=list)
    tier = fields.CharField(max_length=8)
    points = fields.IntField(default=0)
    consent_at = fields.DatetimeField()
    status = enum_field(CreatorStatus, max_length=16, default=CreatorStatus.ACTIVE)

    class Meta:
        table = "creators"


class SocialAccount(TimestampedModel):
    creator: fields.ForeignKeyRelation[Creator] = fields.ForeignKeyField(
        "models.Creator", related_name="accounts", on_delete=fields.CASCADE
    )
    platform = fields.CharField(max_length=32)
    handle = fields.CharField(max_length=200)
    followers = fields.IntField(default=0)

    class Meta:
        table = "social_accounts"
        unique_together = (("creator", "platform", "handle"),)


class ChatGroup(TimestampedModel):
    platform = fields.CharField(max_length=16)
    chat_id = fields.CharField(max_length=64)
    title = fields.CharField(max_length=200, null=True)
    brand: fields.ForeignKeyNullableRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="groups", null=True, on_delete=fields.SET_NULL
    )
    campaign: fields.ForeignKeyNullableRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="groups", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "chat_groups"
        unique_together = (("platform", "chat_id"),)


class Enrollment(TimestampedModel):
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="enrollments", on_delete=fields.CASCADE
    )
    creator: fields.ForeignKeyRelation[Creator] = fields.ForeignKeyField(
        "models.Creator", related_name="enrollments", on_delete=fields.CASCADE
    )
    status = enum_field(EnrollmentStatus, max_length=16, default=EnrollmentStatus.ACTIVE)
    invite: fields.ForeignKeyNullableRelation[Invite] = fields.ForeignKeyField(
        "models.Invite", related_name="enrollments", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "enrollments"
        unique_together = (("campaign", "creator"),)


class Submission(TimestampedModel):
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="submissions", on_delete=fields.RESTRICT, db_index=True
    )
    creator: fields.ForeignKeyRelation[Creator] = fields.ForeignKeyField(
        "models.Creator", related_name="submissions", on_delete=fields.RESTRICT, db_index=True
    )
    platform = fields.CharField(max_length=32)
    url = fields.CharField(max_length=1000)
    canonical_url = fields.CharField(max_length=1000)
    post_id = fields.CharField(max_length=128, null=True)
    # One post may be submitted once, by anyone, in any campaign.
    dedupe_key = fields.CharField(max_length=1100, unique=True)
    status = enum_field(SubmissionStatus, max_length=16, default=SubmissionStatus.PENDING)
    flags = fields.JSONField(default=list)  # e.g. ["leak", "late"]
    reason = fields.TextField(null=True)
    decided_at = fields.DatetimeField(null=True)
    decided_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="decisions", null=True, on_delete=fields.SET_NULL
    )
    source_platform = fields.CharField(max_length=16)
    source_chat = fields.CharField(max_length=64)
    # What the share text said besides the link (None when it said nothing).
    caption = fields.TextField(null=True)
    # Every verification check with its result: [{"code", "status", "detail"}], see
    # bot.domain.checks.
    checks = fields.JSONField(default=list)
    posted_at = fields.DatetimeField(null=True)  # when the post id says it was published
    author = fields.CharField(max_length=200, null=True)  # the account the URL names
    # Short links (bot.services.resolver): None for a full link, else a ResolveStatus.
    resolve_status = enum_field(ResolveStatus, max_length=16, null=True)
    resolved_url = fields.CharField(max_length=1000, null=True)  # where the short link led
    resolve_attempts = fields.IntField(default=0)
    # Fraud and quality flags on metrics (bot.domain.fraud): [{"code", "detail"}]; for review,
    # never used for money.
    metric_flags = fields.JSONField(default=list)
    # The newest metric snapshot (no FK: the two tables would reference each other); kept by
    # services.submissions.record_metrics (mark_latest).
    latest_snapshot_id = fields.IntField(null=True, db_index=True)
    # That snapshot's engagement (bot.domain.pricing.ENGAGEMENT_FIELDS) and counters, kept with
    # it: the digest's totals, top posts and top creators read this table alone.
    latest_engagement = fields.BigIntField(default=0)
    # LATEST_COUNTERS, each as latest_<name>
    latest_likes = fields.BigIntField(default=0)
    latest_comments = fields.BigIntField(default=0)
    latest_shares = fields.BigIntField(default=0)
    latest_favorites = fields.BigIntField(default=0)
    latest_views = fields.BigIntField(default=0)

    class Meta:
        table = "submissions"
        indexes = (
            ("campaign_id", "latest_engagement"),  # a campaign's top posts
            # Each creator's posts in a campaign, with what the digest reads of them (silent
            # creators, top creators): read from the index alone, in creator order.
            ("campaign_id", "creator_id", "status", "latest_snapshot_id", "latest_engagement"),
        )


# A snapshot's counters whose newest values each post keeps (`latest_<name>`).
LATEST_COUNTERS = ("likes", "comments", "shares", "favorites", "views")


class MetricSnapshot(TimestampedModel):
    submission: fields.ForeignKeyRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name="metrics", on_delete=fields.CASCADE, db_index=True
    )
    likes = fields.BigIntField(default=0)
    comments = fields.BigIntField(default=0)
    shares = fields.BigIntField(default=0)
    favorites = fields.BigIntField(default=0)
    views = fields.BigIntField(default=0)
    clicks = fields.BigIntField(default=0)  # for CPA
    leads = fields.BigIntField(default=0)  # for CPA
    gmv_fen = fields.BigIntField(default=0)  # for CPS: sales the post brought, in fen
    source = fields.CharField(max_length=16, default="creator")  # creator | import
    flags = fields.JSONField(default=list)  # fraud and quality flags this snapshot raised
    reported_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="metric_reports", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "metric_snapshots"
        # The posts measured since a time (the digest's "since yesterday"), found by range.
        indexes = (("created_at", "submission_id"),)


class LedgerEntry(TimestampedModel):
    """Append-only: corrections are new entries, never edits."""

    creator: fields.ForeignKeyRelation[Creator] = fields.ForeignKeyField(
        "models.Creator", related_name="ledger", on_delete=fields.RESTRICT
    )
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="ledger", on_delete=fields.RESTRICT
    )
    submission: fields.ForeignKeyNullableRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name="ledger", null=True, on_delete=fields.RESTRICT
    )
    kind = enum_field(EntryKind, max_length=16)
    amount_fen = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    basis = fields.JSONField(default=dict)
    actor: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="ledger_actions", null=True, on_delete=fields.SET_NULL
    )
    # 1, 2, 3 … per (creator, campaign): two writers computing from the same state collide on
    # it, and the loser recomputes (see bot.services.ledger).
    seq = fields.IntField(default=0)
    settlement: fields.ForeignKeyNullableRelation[Settlement] = fields.ForeignKeyField(
        "models.Settlement", related_name="entries", null=True, on_delete=fields.RESTRICT
    )  # payouts only; which period an entry belongs to is Settlement.last_entry_id
    note = fields.TextField(null=True)  # an adjustment's reason
    # The metric snapshot whose numbers priced an accrual (None: a reversal, no metrics yet,
    # an adjustment or a payout).
    snapshot: fields.ForeignKeyNullableRelation[MetricSnapshot] = fields.ForeignKeyField(
        "models.MetricSnapshot", related_name="ledger", null=True, on_delete=fields.RESTRICT
    )
    # 1, 2, 3 … over one post's accruals and reversals (None for other kinds), read in the same
    # statement as the post's accrued sum: unique, so two entries computed from the same state
    # of the post can never both be written. Not the snapshot: the same snapshot legitimately
    # prices several entries (a tier change, another post reaching the creator cap, a reversal
    # and re-approval), while what must not happen twice is a difference taken from one state.
    post_seq = fields.IntField(null=True)

    class Meta:
        table = "ledger_entries"
        unique_together = (("creator", "campaign", "seq"), ("submission", "post_seq"))


class Settlement(TimestampedModel):
    """A closed period of a campaign: every ledger entry of the campaign with an id above the
    previous settlement's `last_entry_id` and up to this one's (payouts aside)."""

    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="settlements", on_delete=fields.RESTRICT
    )
    number = fields.IntField()  # 1, 2 … per campaign
    last_entry_id = fields.BigIntField()
    total_fen = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    status = enum_field(SettlementStatus, max_length=16, default=SettlementStatus.CLOSED)
    closed_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="settlements_closed", null=True, on_delete=fields.SET_NULL
    )
    paid_at = fields.DatetimeField(null=True)
    paid_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="settlements_paid", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "settlements"
        unique_together = (("campaign", "number"),)


class Statement(TimestampedModel):
    """One creator's share of a settlement: the lines (posts, metrics, formulas) frozen."""

    settlement: fields.ForeignKeyRelation[Settlement] = fields.ForeignKeyField(
        "models.Settlement", related_name="statements", on_delete=fields.RESTRICT
    )
    creator: fields.ForeignKeyRelation[Creator] = fields.ForeignKeyField(
        "models.Creator", related_name="statements", on_delete=fields.RESTRICT
    )
    total_fen = fields.BigIntField()
    lines = fields.JSONField(default=list)

    class Meta:
        table = "statements"
        unique_together = (("settlement", "creator"),)


class Dispute(TimestampedModel):
    """A creator's objection to a decision or an amount; resolved by an adjustment entry."""

    creator: fields.ForeignKeyRelation[Creator] = fields.ForeignKeyField(
        "models.Creator", related_name="disputes", on_delete=fields.RESTRICT
    )
    submission: fields.ForeignKeyRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name="disputes", on_delete=fields.RESTRICT
    )
    text = fields.TextField()
    status = enum_field(DisputeStatus, max_length=16, default=DisputeStatus.OPEN)
    resolution = fields.TextField(null=True)
    amount_fen = fields.BigIntField(default=0)
    resolved_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="disputes_resolved", null=True, on_delete=fields.SET_NULL
    )
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "disputes"


class BudgetAlert(TimestampedModel):
    """A campaign's spend reached `percent` (80, 100) of its budget: managers were told once."""

    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="budget_alerts", on_delete=fields.CASCADE
    )
    percent = fields.IntField()
    spent_fen = fields.BigIntField()  # the spend that reached it
    budget_fen = fields.BigIntField()
    notified = fields.IntField(default=0)  # managers reached

    class Meta:
        table = "budget_alerts"
        unique_together = (("campaign", "percent"),)


class Outline(TimestampedModel):
    """A creator's content outline for a campaign (central kitchen). The newest `ready` row is
    the creator's outline; `/outline new` marks it `superseded`. Tokens and cost count every
    model call made for this row (repairs and regenerations included)."""

    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="outlines", on_delete=fields.CASCADE
    )
    creator: fields.ForeignKeyRelation[Creator] = fields.ForeignKeyField(
        "models.Creator", related_name="outlines", on_delete=fields.CASCADE
    )
    status = enum_field(OutlineStatus, max_length=16, default=OutlineStatus.READY)
    angle = fields.CharField(max_length=32)
    platform = fields.CharField(max_length=32)
    locale = fields.CharField(max_length=8)
    generator = fields.CharField(max_length=16)  # llm | template
    fallback = fields.CharField(max_length=16, null=True)  # why a template: no_key | llm_down
    model = fields.CharField(max_length=100, default="")
    content = fields.JSONField(default=dict)  # bot.domain.outlines.OutlineDraft
    attempts = fields.IntField(default=1)
    similarity_permille = fields.IntField(default=0)  # to the closest other outline, 0 … 1000
    similar_to: fields.ForeignKeyNullableRelation[Outline] = fields.ForeignKeyField(
        "models.Outline", related_name="similar", null=True, on_delete=fields.SET_NULL
    )
    prompt_tokens = fields.IntField(default=0)
    completion_tokens = fields.IntField(default=0)
    cost_micros = fields.BigIntField(default=0)  # millionths of cost_currency
    cost_currency = fields.CharField(max_length=3, default="USD")
    error = fields.TextField(null=True)

    class Meta:
        table = "outlines"


class FlowState(TimestampedModel):
    """A conversation in progress, keyed by (platform, chat, user): survives restarts."""

    platform = fields.CharField(max_length=16)
    chat_id = fields.CharField(max_length=64)
    user_id = fields.CharField(max_length=64)
    flow = fields.CharField(max_length=32)
    step = fields.CharField(max_length=32)
    data = fields.JSONField(default=dict)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "flow_states"
        unique_together = (("platform", "chat_id", "user_id"),)


class ChoiceMenu(TimestampedModel):
    """The last numbered options offered to a user in a chat, so that "2" means option two."""

    platform = fields.CharField(max_length=16)
    chat_id = fields.CharField(max_length=64)
    user_id = fields.CharField(max_length=64)
    values = fields.JSONField(default=list)

    class Meta:
        table = "choice_menus"
        unique_together = (("platform", "chat_id", "user_id"),)


class ProcessedMessage(TimestampedModel):
    """Inbound message keys already handled: a replayed update is dropped."""

    platform = fields.CharField(max_length=16)
    chat_id = fields.CharField(max_length=64)
    message_id = fields.CharField(max_length=64)

    class Meta:
        table = "processed_messages"
        unique_together = (("platform", "chat_id", "message_id"),)


class OutboxMessage(TimestampedModel):
    """Every message the bot sends, recorded before it is sent."""

    platform = fields.CharField(max_length=16)
    chat_id = fields.CharField(max_length=64)
    payload = fields.JSONField()
    status = enum_field(OutboxStatus, max_length=16, default=OutboxStatus.PENDING)
    not_before = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    error = fields.TextField(null=True)
    platform_message_id = fields.CharField(max_length=64, null=True)
    sent_at = fields.DatetimeField(null=True)
    # Who is sending it, until when: another worker takes over a row only after the lease
    # (a dead worker's rows come back as "interrupted"; a live one's are left alone).
    claimed_by = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    # A message that must exist once (one broadcast to one recipient…): a second write with
    # the same key finds the first instead.
    dedupe_key = fields.CharField(max_length=128, null=True, unique=True)

    class Meta:
        table = "outbox"
        indexes = (
            ("status", "not_before"),  # a pass reads the due rows, not the history
            ("platform", "chat_id", "status"),  # a chat's earlier unsent rows go first
        )


class AuditLog(TimestampedModel):
    actor: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="audit", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=64)
    target = fields.CharField(max_length=200, default="")
    data = fields.JSONField(default=dict)

    class Meta:
        table = "audit_log"


class ScheduledPush(TimestampedModel):
    """One push of a campaign's event-day timeline (bot.domain.timeline), fired at most once.

    pending → queued (a GO written to the outbox ahead, released at the embargo second) →
    sent; or skipped (too late to be useful, or said by a later push); paused while a manager
    holds the timeline. `outbox_ids` are the messages it produced."""

    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="pushes", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=32)
    due_at = fields.DatetimeField()
    status = enum_field(PushStatus, max_length=16, default=PushStatus.PENDING)
    sent_as = fields.CharField(max_length=32, null=True)  # a late GO goes out as late_go
    reason = fields.CharField(max_length=64, null=True)  # why skipped or converted
    fired_at = fields.DatetimeField(null=True)
    recipients = fields.IntField(default=0)
    outbox_ids = fields.JSONField(default=list)

    class Meta:
        table = "scheduled_pushes"
        unique_together = (("campaign", "kind"),)


class Broadcast(TimestampedModel):
    """A manager's message to an audience (bot.services.broadcasts). Each recipient is a row of
    BroadcastRecipient, written with its rendered text when the manager confirms: a restart
    resumes from those rows and nobody gets it twice. sending → done | cancelled."""

    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="broadcasts", on_delete=fields.CASCADE
    )
    campaign: fields.ForeignKeyNullableRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="broadcasts", null=True, on_delete=fields.SET_NULL
    )
    created_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="broadcasts", null=True, on_delete=fields.SET_NULL
    )
    template = fields.TextField()  # what the manager wrote (a sandboxed jinja2 template)
    audience = fields.JSONField(default=dict)  # bot.domain.audience.Audience
    status = enum_field(BroadcastStatus, max_length=16, default=BroadcastStatus.SENDING)
    total = fields.IntField(default=0)
    # Where the progress message lives (edited as it goes) and in which language.
    status_platform = fields.CharField(max_length=16)
    status_chat_id = fields.CharField(max_length=64)
    status_user_id = fields.CharField(max_length=64, null=True)
    status_is_group = fields.BooleanField(default=False)
    status_outbox_id = fields.BigIntField(null=True)
    locale = fields.CharField(max_length=8)
    shown = fields.JSONField(default=dict)  # the counts the status message shows now
    finished_at = fields.DatetimeField(null=True)
    # A broadcast scheduled for later: status "scheduled" until then, no recipients yet.
    send_at = fields.DatetimeField(null=True)

    class Meta:
        table = "broadcasts"


class BroadcastRecipient(TimestampedModel):
    """One chat a broadcast goes to: pending → queued (in the outbox) → sent | failed | blocked
    | in_doubt (a crash caught it mid-send) | cancelled; or unreachable from the start."""

    broadcast: fields.ForeignKeyRelation[Broadcast] = fields.ForeignKeyField(
        "models.Broadcast", related_name="recipients", on_delete=fields.CASCADE
    )
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="broadcasts_received", null=True, on_delete=fields.SET_NULL
    )
    platform = fields.CharField(max_length=16, null=True)
    chat_id = fields.CharField(max_length=64, null=True)
    is_group = fields.BooleanField(default=False)
    text = fields.TextField(default="")
    status = enum_field(RecipientStatus, max_length=16, default=RecipientStatus.PENDING)
    outbox_id = fields.BigIntField(null=True)
    error = fields.TextField(null=True)

    class Meta:
        table = "broadcast_recipients"
        unique_together = (("broadcast", "platform", "chat_id"), ("broadcast", "person"))


class DigestSubscription(TimestampedModel):
    """A chat that gets the daily digest at `at` (HH:MM in `timezone`); `last_sent_on` is the
    local date of the last one sent, so each day's digest goes once."""

    platform = fields.CharField(max_length=16)
    chat_id = fields.CharField(max_length=64)
    user_id = fields.CharField(max_length=64, null=True)
    is_group = fields.BooleanField(default=False)
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="digests", null=True, on_delete=fields.SET_NULL
    )
    brand_ids = fields.JSONField(default=list)  # the brands the subscriber may see
    at = fields.CharField(max_length=5)
    timezone = fields.CharField(max_length=64)
    locale = fields.CharField(max_length=8)
    last_sent_on = fields.CharField(max_length=10, null=True)

    class Meta:
        table = "digest_subscriptions"
        unique_together = (("platform", "chat_id"),)
