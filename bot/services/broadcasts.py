"""Broadcasts: a manager's message, rendered per recipient in jinja2's sandbox, sent through the
outbox only.

On confirm every recipient becomes a `BroadcastRecipient` row holding its rendered text (a
template error therefore shows before anything is sent, never half-way). `tick()` (run by
the scheduler's tick) moves rows into the outbox in chunks, each chunk in one transaction with the
outbox rows it writes, so a crash between them loses or repeats nothing; it reads back what the
outbox did (sent, failed, blocked, interrupted by a crash) and edits the one status message,
then posts the delivery report when nothing is left. The outbox's own recovery marks a row
caught mid-send as failed "interrupted": that recipient is reported as in doubt, never re-sent.

A broadcast scheduled for later (`at 2026-05-20 09:00` at the confirm step, in the campaign's
time zone) is stored as "scheduled" with `send_at` and no recipients. The first `tick()` at or
after `send_at` resolves the audience then (so "not yet submitted" means at sending time),
renders every text and, in one transaction with taking the broadcast out of "scheduled",
writes the recipient rows: a restart around that moment releases it once. A template that
fails with a real recipient's values (the preview checked it with sample values) cancels the
whole broadcast before any message, and the manager is told. Until it starts,
`/broadcast cancel ID` drops it.

Templates are compiled and rendered in a child process with time, memory and size limits
(bot/services/template_sandbox.py), off the event loop: a hostile one is refused like a template
error, and the bot keeps answering everyone meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from bot.core.errors import UserError
from bot.core.messages import ChatRef, Outgoing
from bot.core.ports import INTERRUPTED
from bot.domain.audience import Audience, Scope
from bot.domain.statuses import (
    BroadcastStatus,
    CreatorStatus,
    EnrollmentStatus,
    OutboxStatus,
    RecipientStatus,
    SubmissionStatus,
)
from bot.domain.text import clean_text
from bot.services import template_sandbox
from storage.models import (
    Brand,
    Broadcast,
    BroadcastRecipient,
    Campaign,
    ChatGroup,
    Creator,
    Enrollment,
    Identity,
    OutboxMessage,
    RoleGrant,
    SocialAccount,
    Submission,
)

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core.clock import Clock
    from bot.core.outbox import Outbox
    from bot.core.speaker import Speaker

CHUNK = 200  # recipients moved into the outbox per transaction
PROGRESS_STEPS = 10  # the status message is edited at most this many times
MAX_TEMPLATE = 2000


# --- the manager's template ----------------------------------------------------------------

VARIABLES = ("name", "campaign", "campaign_code", "brand", "city", "tier", "deadline")


async def render_texts(
    source: str, variables: list[dict[str, Any]], settings: Settings
) -> list[str]:
    """The manager's text for each set of variables (none: only checked), rendered in the
    sandbox within BROADCAST_RENDER_SECONDS and at most MAX_TEXT_LENGTH characters, without
    control characters; a clear UserError when the template cannot be used."""
    if len(source) > MAX_TEMPLATE:
        raise UserError("broadcast/too_long", limit=MAX_TEMPLATE)
    limit = settings.max_text_length
    try:
        rendered = await template_sandbox.render_all(
            source,
            variables,
            seconds=settings.broadcast_render_seconds,
            max_chars=limit * 2,  # room for what clean_text trims; the limit is checked below
        )
    except template_sandbox.RenderRefused as refused:
        if refused.reason == template_sandbox.TOO_LONG:
            raise UserError("broadcast/render_too_long", limit=limit) from None
        if refused.reason == template_sandbox.TOO_HEAVY:
            seconds = template_sandbox.budget(settings.broadcast_render_seconds, len(variables))
            raise UserError("broadcast/render_too_heavy", seconds=seconds) from None
        raise UserError("broadcast/template_error", error=refused.detail) from None
    # Control characters never come from a manager: \x0e/\x0f would forge our copy spans.
    texts = [clean_text(text) for text in rendered]
    if any(len(text) > limit for text in texts):
        raise UserError("broadcast/render_too_long", limit=limit)
    return texts


# --- audiences -----------------------------------------------------------------------------


@dataclass
class Target:
    """Who gets it: a creator's DM (identity None: cannot be reached) or a group."""

    person_id: int | None
    identity: Identity | None
    group: ChatGroup | None = None
    blocked: bool = False
    variables: dict[str, Any] = field(default_factory=dict)


async def creator_ids(audience: Audience) -> list[int]:
    """The creators an audience names, by SQL filters (no Python loop over every creator)."""
    query = Creator.filter(status=CreatorStatus.ACTIVE)
    if audience.scope == Scope.BRAND:
        people = RoleGrant.filter(role="creator", brand_id=audience.brand_id).values_list(
            "person_id", flat=True
        )
        query = query.filter(person_id__in=await people)
    else:
        enrolled = Enrollment.filter(
            campaign_id=audience.campaign_id, status=EnrollmentStatus.ACTIVE
        ).values_list("creator_id", flat=True)
        query = query.filter(id__in=await enrolled)
        if audience.scope == Scope.PENDING:
            done = Submission.filter(campaign_id=audience.campaign_id).exclude(
                status=SubmissionStatus.REJECTED
            )
            query = query.exclude(id__in=await done.values_list("creator_id", flat=True))
    if audience.tiers:
        query = query.filter(tier__in=audience.tiers)
    if audience.cities:
        query = query.filter(city__in=audience.cities)
    if audience.kind:
        query = query.filter(kind=audience.kind)
    if audience.platforms:
        with_account = SocialAccount.filter(platform__in=audience.platforms).values_list(
            "creator_id", flat=True
        )
        query = query.filter(id__in=await with_account)
    return list(await query.order_by("id").values_list("id", flat=True))  # type: ignore[arg-type]


async def targets(audience: Audience) -> list[Target]:
    campaign = await Campaign.get_or_none(id=audience.campaign_id) if audience.campaign_id else None
    brand = await Brand.get(id=audience.brand_id)
    common = {
        "brand": brand.name,
        "campaign": campaign.name if campaign else "",
        "campaign_code": campaign.code if campaign else "",
        "deadline": _deadline(campaign),
    }
    if audience.scope == Scope.GROUPS:
        groups = await ChatGroup.filter(campaign_id=audience.campaign_id).order_by("id")
        return [
            Target(
                None, None, g, variables={**common, "name": g.title or "", "city": "", "tier": ""}
            )
            for g in groups
        ]
    ids = await creator_ids(audience)
    creators = await Creator.filter(id__in=ids).order_by("id").prefetch_related("person")
    identities: dict[int, list[Identity]] = {}
    for identity in await Identity.filter(
        person_id__in=[c.person_id for c in creators]  # type: ignore[attr-defined]
    ).order_by("-last_seen_at", "-id"):
        identities.setdefault(identity.person_id, []).append(identity)  # type: ignore[attr-defined]
    out = []
    for creator in creators:
        mine = identities.get(creator.person_id, [])  # type: ignore[attr-defined]
        usable = [i for i in mine if i.last_seen_at is not None and i.blocked_at is None]
        variables = {
            **common,
            "name": creator.person.display_name,
            "city": creator.city,
            "tier": creator.tier,
        }
        out.append(
            Target(
                creator.person_id,  # type: ignore[attr-defined]
                usable[0] if usable else None,
                blocked=bool(mine) and not usable and any(i.blocked_at for i in mine),
                variables=variables,
            )
        )
    return out


def _deadline(campaign: Campaign | None) -> str:
    if campaign is None:
        return ""
    return campaign.deadline_at.astimezone(ZoneInfo(campaign.timezone)).strftime("%Y-%m-%d %H:%M")


async def broadcast_by_id(broadcast_id: int) -> Broadcast | None:
    return await Broadcast.get_or_none(id=broadcast_id)


def sample_variables() -> dict[str, Any]:
    return {v: f"<{v}>" for v in VARIABLES}


# --- sending -------------------------------------------------------------------------------


@dataclass
class Counts:
    total: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    unreachable: int = 0
    in_doubt: int = 0
    cancelled: int = 0
    waiting: int = 0  # pending or queued

    @property
    def done(self) -> int:
        return self.total - self.waiting


class BroadcastService:
    def __init__(
        self,
        clock: Clock,
        speaker: Speaker,
        outbox: Outbox,
        settings: Settings,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.clock = clock
        self.speaker = speaker
        self.outbox = outbox  # a broadcast leaves now, not at the next tick
        self.settings = settings
        self.wake = wake  # a broadcast scheduled: the scheduler plans for it at once

    async def create(
        self,
        *,
        brand_id: int,
        campaign_id: int | None,
        person_id: int,
        source: str,
        audience: Audience,
        status_chat: ChatRef,
        status_user: str | None,
        locale: str,
        send_at: datetime | None = None,
    ) -> Broadcast:
        """Render every recipient's text first (an error stops it here), then store it all; or,
        with `send_at`, store the broadcast as scheduled (recipients are resolved at that time)."""
        if send_at is not None:  # checked with sample values now, with everyone's when it starts
            await render_texts(source, [sample_variables()], self.settings)
        found = await targets(audience)
        if not found:
            raise UserError("broadcast/nobody")
        fields = {
            "brand_id": brand_id,
            "campaign_id": campaign_id,
            "created_by_id": person_id,
            "template": source,
            "audience": audience.to_json(),
            "status_platform": status_chat.platform,
            "status_chat_id": status_chat.chat_id,
            "status_user_id": status_user,
            "status_is_group": status_chat.is_group,
            "locale": locale,
            "shown": {"step": 0},  # the status message says 0 / N already
        }
        if send_at is not None:  # recipients are resolved when it starts (_release_due)
            scheduled = await Broadcast.create(
                **fields, status=BroadcastStatus.SCHEDULED, send_at=send_at
            )
            self.wake()  # the scheduler (maybe another process's) plans for it
            return scheduled
        rows = await self._rows(source, found)
        async with in_transaction():
            broadcast = await Broadcast.create(**fields, total=len(rows))
            await self._store(broadcast, rows)
        await self.tick()
        return broadcast

    async def _rows(self, source: str, found: list[Target]) -> list[tuple[Any, ...]]:
        """(person id, (platform, chat id, is group), text, status) per target; raises
        UserError on a template error, before anything is stored. Every text is rendered in
        one sandbox child."""
        chats = []
        for target in found:
            if target.group is not None:
                chat = (target.group.platform, target.group.chat_id, True)
                status = RecipientStatus.PENDING
            elif target.identity is not None:
                chat = (target.identity.platform, target.identity.user_id, False)
                status = RecipientStatus.PENDING
            else:
                chat = (None, None, False)
                status = RecipientStatus.BLOCKED if target.blocked else RecipientStatus.UNREACHABLE
            chats.append((target, chat, status))
        pending = [
            target.variables for target, _, status in chats if status == RecipientStatus.PENDING
        ]
        texts = iter(await render_texts(source, pending, self.settings))
        return [
            (
                target.person_id,
                chat,
                next(texts) if status == RecipientStatus.PENDING else "",
                status,
            )
            for target, chat, status in chats
        ]

    async def _store(self, broadcast: Broadcast, rows: list[tuple[Any, ...]]) -> None:
        """The recipient rows and the status message (0 / N); call inside a transaction."""
        await BroadcastRecipient.bulk_create(
            [
                BroadcastRecipient(
                    broadcast_id=broadcast.id,
                    person_id=person_id,
                    platform=platform,
                    chat_id=chat_id,
                    is_group=is_group,
                    text=text,
                    status=status,
                    created_at=self.clock.now(),
                )
                for person_id, (platform, chat_id, is_group), text, status in rows
            ]
        )
        message = Outgoing(
            chat=self._status_chat(broadcast),
            text=self._status_text(broadcast, await self.counts(broadcast.id)),
            to_user=broadcast.status_user_id,
        )
        broadcast.status_outbox_id = await self.speaker.send(message)
        await broadcast.save(update_fields=["status_outbox_id"])

    async def _release_due(self) -> None:
        """Scheduled broadcasts whose time has come: recipients resolved and stored now."""
        now = self.clock.now()
        due = await Broadcast.filter(status=BroadcastStatus.SCHEDULED, send_at__lte=now).order_by(
            "send_at", "id"
        )
        for broadcast in due:
            audience = Audience(**broadcast.audience)
            try:
                found = await targets(audience)
                if not found:
                    raise UserError("broadcast/nobody")
                rows = await self._rows(broadcast.template, found)
            except UserError as error:
                claimed = await Broadcast.filter(
                    id=broadcast.id, status=BroadcastStatus.SCHEDULED
                ).update(status=BroadcastStatus.CANCELLED, finished_at=now)
                if claimed:
                    render = self.speaker.render
                    problem = render(broadcast.locale, error.template, **error.data)
                    text = render(
                        broadcast.locale,
                        "broadcast/schedule_failed",
                        broadcast=broadcast,
                        problem=problem,
                    )
                    await self.speaker.send(
                        Outgoing(self._status_chat(broadcast), text, broadcast.status_user_id)
                    )
                continue
            async with in_transaction():
                claimed = await Broadcast.filter(
                    id=broadcast.id, status=BroadcastStatus.SCHEDULED
                ).update(status=BroadcastStatus.SENDING, total=len(rows))
                if not claimed:  # cancelled meanwhile, or another tick released it
                    continue
                broadcast.status, broadcast.total = BroadcastStatus.SENDING, len(rows)
                await self._store(broadcast, rows)

    async def drive(self, passes: int = 1000) -> None:
        """Send what the platforms' limits allow now, showing progress as it goes; what is held
        back leaves with the outbox worker and is reported on later ticks."""
        for _ in range(passes):
            sent = await self.outbox.flush()
            await self.tick()
            if sent == 0:
                break
        await self.outbox.flush()

    async def next_wake(self) -> datetime | None:
        """When the next scheduled broadcast starts."""
        first = (
            await Broadcast.filter(status=BroadcastStatus.SCHEDULED)
            .order_by("send_at")
            .only("send_at")
            .first()
        )
        return first.send_at if first else None

    async def tick(self) -> None:
        """Release scheduled broadcasts that came due, move waiting recipients into the outbox,
        read back deliveries, report progress."""
        await self._release_due()
        for broadcast in await Broadcast.filter(status=BroadcastStatus.SENDING).order_by("id"):
            await self._enqueue(broadcast)
            await self._reconcile(broadcast)

    async def _enqueue(self, broadcast: Broadcast) -> None:
        while True:
            async with in_transaction():
                rows = (
                    await BroadcastRecipient.filter(
                        broadcast_id=broadcast.id, status=RecipientStatus.PENDING
                    )
                    .order_by("-is_group", "id")
                    .limit(CHUNK)
                )  # groups first
                for row in rows:
                    # Claim the recipient first: of two workers moving the same chunk, only
                    # the one whose guarded update changed the row writes its message.
                    claimed = await BroadcastRecipient.filter(
                        id=row.id, status=RecipientStatus.PENDING
                    ).update(status=RecipientStatus.QUEUED)
                    if not claimed:
                        continue
                    message = Outgoing(
                        chat=ChatRef(row.platform or "", row.chat_id or "", row.is_group),
                        text=row.text,
                        to_user=None if row.is_group else row.chat_id,
                    )
                    # The key makes a second write of this recipient's message find the first.
                    outbox_id = await self.speaker.send(
                        message, dedupe_key=f"broadcast:{broadcast.id}:{row.id}"
                    )
                    await BroadcastRecipient.filter(id=row.id).update(outbox_id=outbox_id)
            if len(rows) < CHUNK:
                return

    async def _reconcile(self, broadcast: Broadcast) -> None:
        await self._read_back(broadcast)
        counts = await self.counts(broadcast.id)
        if counts.waiting == 0:
            broadcast.status = BroadcastStatus.DONE
            broadcast.finished_at = self.clock.now()
            await broadcast.save(update_fields=["status", "finished_at"])
            await self._show(broadcast, counts, final=True)
            return
        step = counts.done * PROGRESS_STEPS // max(counts.total, 1)
        if step > int(broadcast.shown.get("step", -1)):
            broadcast.shown = {"step": step}
            await broadcast.save(update_fields=["shown"])
            await self._show(broadcast, counts, final=False)

    async def _read_back(self, broadcast: Broadcast) -> None:
        """Each queued recipient takes the outcome of its outbox row, once it has one."""
        queued = await BroadcastRecipient.filter(
            broadcast_id=broadcast.id, status=RecipientStatus.QUEUED
        )
        if queued:
            outbox = {
                o.id: o for o in await OutboxMessage.filter(id__in=[r.outbox_id for r in queued])
            }
            blocked_users = set(
                await Identity.filter(
                    blocked_at__isnull=False,
                    user_id__in=[r.chat_id for r in queued if not r.is_group],
                ).values_list("platform", "user_id")
            )
            for row in queued:
                sent = outbox.get(row.outbox_id)  # type: ignore[arg-type]
                if sent is None or sent.status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
                    continue
                if sent.status == OutboxStatus.SENT:
                    status = RecipientStatus.SENT
                elif sent.error == INTERRUPTED:
                    status = RecipientStatus.IN_DOUBT
                elif (row.platform, row.chat_id) in blocked_users:
                    status = RecipientStatus.BLOCKED
                elif sent.status == OutboxStatus.CANCELLED:
                    status = RecipientStatus.CANCELLED
                else:
                    status = RecipientStatus.FAILED
                await BroadcastRecipient.filter(id=row.id).update(status=status, error=sent.error)

    async def counts(self, broadcast_id: int) -> Counts:
        rows = (
            await BroadcastRecipient.filter(broadcast_id=broadcast_id)
            .group_by("status")
            .annotate(n=Count("id"))
            .values("status", "n")
        )
        counts = Counts()
        for row in rows:
            n = int(row["n"])
            counts.total += n
            if row["status"] in (RecipientStatus.PENDING, RecipientStatus.QUEUED):
                counts.waiting += n
            else:  # a plain str: an attribute name, not the enum member
                name = str(row["status"])
                setattr(counts, name, getattr(counts, name) + n)
        return counts

    @staticmethod
    def _status_chat(broadcast: Broadcast) -> ChatRef:
        return ChatRef(
            broadcast.status_platform, broadcast.status_chat_id, broadcast.status_is_group
        )

    async def _show(self, broadcast: Broadcast, counts: Counts, final: bool) -> None:
        chat = self._status_chat(broadcast)
        if final:  # the report is a message of its own: a notification, and the status stays
            text = self.speaker.render(
                broadcast.locale, "broadcast/report", broadcast=broadcast, counts=counts
            )
            message = Outgoing(chat=chat, text=text, to_user=broadcast.status_user_id)
            await self.speaker.send(message)
        message = Outgoing(
            chat=chat,
            text=self._status_text(broadcast, counts),
            to_user=broadcast.status_user_id,
            edit_of=broadcast.status_outbox_id,
        )
        await self.speaker.send(message)

    def _status_text(self, broadcast: Broadcast, counts: Counts) -> str:
        return self.speaker.render(
            broadcast.locale, "broadcast/progress", broadcast=broadcast, counts=counts
        )

    async def unschedule(self, broadcast: Broadcast) -> bool:
        """Drop a scheduled broadcast before it starts; False if it has started (or ended)."""
        return bool(
            await Broadcast.filter(id=broadcast.id, status=BroadcastStatus.SCHEDULED).update(
                status=BroadcastStatus.CANCELLED, finished_at=self.clock.now()
            )
        )

    async def cancel(self, broadcast: Broadcast) -> Counts:
        """Stop what has not left: waiting recipients and their outbox rows are cancelled."""
        async with in_transaction():
            queued = await BroadcastRecipient.filter(
                broadcast_id=broadcast.id, status=RecipientStatus.QUEUED
            ).values_list("outbox_id", flat=True)
            await OutboxMessage.filter(
                id__in=list(queued) or [0], status=OutboxStatus.PENDING
            ).update(status=OutboxStatus.CANCELLED, error="broadcast cancelled")
            await BroadcastRecipient.filter(
                broadcast_id=broadcast.id, status=RecipientStatus.PENDING
            ).update(status=RecipientStatus.CANCELLED)
            broadcast.status = BroadcastStatus.CANCELLED
            broadcast.finished_at = self.clock.now()
            await broadcast.save(update_fields=["status", "finished_at"])
        await self._read_back(broadcast)  # queued rows take their (cancelled) outbox status
        counts = await self.counts(broadcast.id)
        await self._show(broadcast, counts, final=True)
        return counts

    async def retry(self, broadcast: Broadcast) -> int:
        """Failed deliveries (not blocked, not in doubt) go again."""
        count = await BroadcastRecipient.filter(
            broadcast_id=broadcast.id, status=RecipientStatus.FAILED
        ).update(status=RecipientStatus.PENDING, outbox_id=None, error=None)
        if count:
            broadcast.status = BroadcastStatus.SENDING
            broadcast.shown, broadcast.finished_at = {}, None
            await broadcast.save(update_fields=["status", "shown", "finished_at"])
            await self.tick()
        return count
