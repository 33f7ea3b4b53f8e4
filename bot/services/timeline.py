"""The event-day scheduler: fires each campaign's timeline pushes exactly once, on the app clock.

Why a table and not APScheduler. The pushes of every live campaign are rows of
`ScheduledPush` (kind, due_at, status pending / sent / skipped / paused), planned from the
campaign's times by the pure rules in `bot.domain.timeline`. `tick()` looks at the rows that
have come due on the injected clock, lets `decide` say what each becomes (sent as it is, a GO
turned into a reminder, or dropped as late or superseded), and records that with the
outbox messages it wrote, in one transaction, claiming each row with a conditional update:
a push leaves at most once, whoever ticks (the scheduler after `!advance`, the background
loop, a second process). APScheduler 3.x with a SQLAlchemy job store was the other option;
it was not taken because

- its job store pickles callables and runs jobs from its own wall-clock timer thread, while
  tests and the console move a ManualClock / OffsetClock by hand: `!advance 2h` must run
  exactly what came due in those two hours, in order, before the next line is read. The
  scheduler would need its clock patched and a synchronous "run what is due" that its API
  does not have;
- its misfire handling is per job (`misfire_grace_time`, `coalesce`): it can drop a late
  run but not turn a late GO into a reminder, nor see that a later push says it all;
- the plan is data we want to show (`/timeline`), pause, shift and audit; a second store of
  jobs would have to be kept in step with it (re-armed at start, rewritten on every shift).

So a restart keeps the timeline because it *is* the table; what was missed while down is
decided once, on the first tick after start. In real time the core scheduler
(bot/core/scheduler.py) ticks: `next_wake()` tells it when the next push is due (or a
queued GO must be released).

GO precision: a GO is written to the outbox `GO_LEAD` ahead with `not_before=embargo_at`
(groups first, then DMs: the outbox sends in id order at each platform's pace), and the
scheduler wakes at the embargo second to flush the outbox, so the first message leaves within the
outbox's pass time of the second, not a poll interval later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from bot.core.errors import UserError
from bot.core.messages import ChatRef, Outgoing
from bot.domain import timeline as rules
from bot.domain.kits import kit_for, kits_for
from bot.domain.statuses import (
    CampaignStatus,
    EnrollmentStatus,
    OutboxStatus,
    PushStatus,
    SubmissionStatus,
)
from storage.models import (
    Campaign,
    ChatGroup,
    Enrollment,
    OutboxMessage,
    Person,
    RoleGrant,
    ScheduledPush,
    SocialAccount,
    Submission,
)

if TYPE_CHECKING:
    from bot.core.clock import Clock
    from bot.core.speaker import Speaker

log = logging.getLogger(__name__)


def times_of(campaign: Campaign) -> rules.Times:
    return rules.Times(
        campaign.event_at, campaign.embargo_at, campaign.deadline_at, campaign.timezone
    )


@dataclass
class Recipient:
    chat: ChatRef
    to_user: str | None
    locale: str | None
    creator_id: int | None = None


class TimelineService:
    def __init__(self, clock: Clock, speaker: Speaker, wake: Callable[[], None]) -> None:
        self.clock = clock
        self.speaker = speaker
        self.wake = wake  # a moved or released timeline: tick now, not at the next wake
        self._lock = asyncio.Lock()

    # --- planning ---------------------------------------------------------------------

    async def plan(self, campaign: Campaign) -> list[ScheduledPush]:
        """Store the campaign's timeline. Pushes due before the campaign existed are recorded
        as skipped: they were never scheduled, so they are not "missed"."""
        rows = []
        for push in rules.plan(times_of(campaign)):
            before = rules.fire_at(push) <= campaign.created_at
            row, _ = await ScheduledPush.get_or_create(
                campaign_id=campaign.id,
                kind=push.kind,
                defaults={
                    "due_at": push.due_at,
                    "status": PushStatus.SKIPPED if before else PushStatus.PENDING,
                    "reason": "before_campaign" if before else None,
                },
            )
            rows.append(row)
        return rows

    async def _plan_new_campaigns(self) -> None:
        planned = await ScheduledPush.all().distinct().values_list("campaign_id", flat=True)
        live = Campaign.filter(status=CampaignStatus.LIVE)
        for campaign in await live.exclude(id__in=list(planned) or [0]):
            await self.plan(campaign)

    # --- firing -----------------------------------------------------------------------

    async def tick(self) -> int:
        """Plan new campaigns and fire what has come due; returns how many pushes fired."""
        async with self._lock:
            await self._plan_new_campaigns()
            now = self.clock.now()
            rows = await ScheduledPush.filter(
                status=PushStatus.PENDING, due_at__lte=now + rules.GO_LEAD
            ).order_by("due_at", "id")
            fired = 0
            for campaign_id in dict.fromkeys(r.campaign_id for r in rows):  # type: ignore[attr-defined]
                campaign = await Campaign.get(id=campaign_id)
                if campaign.status != CampaignStatus.LIVE:
                    continue
                mine = [r for r in rows if r.campaign_id == campaign_id]  # type: ignore[attr-defined]
                due = [r for r in mine if rules.fire_at(rules.Push(r.kind, r.due_at)) <= now]
                planned = [
                    rules.Push(r.kind, r.due_at)
                    for r in await ScheduledPush.filter(campaign_id=campaign_id)
                ]
                decisions = rules.decide(
                    [rules.Push(r.kind, r.due_at) for r in due], times_of(campaign), now, planned
                )
                for row, decision in zip(due, decisions, strict=True):
                    fired += await self._apply(campaign, row, decision, now)
            return fired

    async def _apply(
        self, campaign: Campaign, row: ScheduledPush, decision: rules.Decision, now: datetime
    ) -> int:
        async with in_transaction():
            claimed = await ScheduledPush.filter(id=row.id, status=PushStatus.PENDING).update(
                status=PushStatus.SKIPPED if decision.action == rules.SKIP else PushStatus.SENT,
                sent_as=decision.send_as,
                reason=decision.reason or None,
                fired_at=now,
            )
            if not claimed:  # another tick got there first
                return 0
            if decision.action == rules.SKIP:
                log.info("timeline %s %s skipped: %s", campaign.code, row.kind, decision.reason)
                return 0
            assert decision.send_as is not None
            not_before = max(row.due_at, now) if decision.send_as == rules.GO else now
            ids = []
            for message in await self.messages(campaign, decision.send_as, now):
                ids.append(await self.speaker.send(message, not_before))
            await ScheduledPush.filter(id=row.id).update(recipients=len(ids), outbox_ids=ids)
        log.info("timeline %s %s → %s messages", campaign.code, decision.send_as, len(ids))
        return 1

    # --- audiences and messages -------------------------------------------------------

    async def messages(self, campaign: Campaign, kind: str, now: datetime) -> list[Outgoing]:
        """The messages of one push, groups first, each in its recipient's language."""
        audience = rules.AUDIENCE[kind]
        recipients: list[Recipient] = []
        if audience in (rules.GROUPS_AND_CREATORS, rules.GROUPS_OR_CREATORS):
            recipients += await self._groups(campaign)
        if audience == rules.MANAGERS:
            recipients += await self._managers(campaign)
        elif audience in (rules.CREATORS, rules.GROUPS_AND_CREATORS, rules.PENDING) or (
            audience == rules.GROUPS_OR_CREATORS and not recipients
        ):
            recipients += await self._creators(campaign, only_pending=audience == rules.PENDING)
        stats = await campaign_stats(campaign) if kind == rules.SUMMARY else None
        out = []
        for recipient in recipients:
            data = await self._data(campaign, recipient, now)
            text = self.speaker.render(
                recipient.locale,
                f"timeline/{kind}",
                stats=stats,
                **data,
            )
            out.append(Outgoing(chat=recipient.chat, text=text, to_user=recipient.to_user))
        return out

    async def _data(self, campaign: Campaign, recipient: Recipient, now: datetime) -> dict:
        spec = campaign.spec
        if recipient.creator_id is not None:
            registered = await SocialAccount.filter(creator_id=recipient.creator_id).values_list(
                "platform", flat=True
            )
            kits, _ = kits_for(spec, registered)  # type: ignore[arg-type]
        else:
            kits = [kit_for(spec, p) for p in spec["platforms"]]
        brief = {p: list(kit_for(spec, p).required) for p in spec["platforms"]}
        return {
            "campaign": campaign,
            "spec": spec,
            "now": now,
            "kits": kits,
            "brief_kits": brief,
            "in_group": recipient.chat.is_group,
        }

    async def _groups(self, campaign: Campaign) -> list[Recipient]:
        groups = await ChatGroup.filter(campaign_id=campaign.id).order_by("id")
        return [
            Recipient(ChatRef(g.platform, g.chat_id, True, g.title), None, None) for g in groups
        ]

    async def _creators(self, campaign: Campaign, only_pending: bool) -> list[Recipient]:
        enrollments = (
            await Enrollment.filter(campaign_id=campaign.id, status=EnrollmentStatus.ACTIVE)
            .order_by("id")
            .prefetch_related("creator__person")
        )
        done: set[int] = set()
        if only_pending:
            done = set(
                await Submission.filter(campaign_id=campaign.id)
                .exclude(status=SubmissionStatus.REJECTED)
                .values_list("creator_id", flat=True)  # type: ignore[arg-type]
            )
        out = []
        for enrollment in enrollments:
            creator = enrollment.creator
            if creator.id in done:
                continue
            recipient = await self._dm(creator.person)
            if recipient is not None:
                recipient.creator_id = creator.id
                out.append(recipient)
        return out

    async def _managers(self, campaign: Campaign) -> list[Recipient]:
        person_ids = await RoleGrant.filter(
            role="manager",
            brand_id=campaign.brand_id,  # type: ignore[attr-defined]
        ).values_list("person_id", flat=True)
        ids = list(dict.fromkeys(person_ids)) or (
            [campaign.created_by_id] if campaign.created_by_id else []  # type: ignore[attr-defined]
        )
        out = []
        for person in await Person.filter(id__in=ids).order_by("id"):
            recipient = await self._dm(person)
            if recipient is not None:
                out.append(recipient)
        return out

    # --- manager controls ---------------------------------------------------------------

    async def rows(self, campaign: Campaign) -> list[ScheduledPush]:
        if not await ScheduledPush.exists(campaign_id=campaign.id):
            await self.plan(campaign)
        return await ScheduledPush.filter(campaign_id=campaign.id).order_by("due_at", "id")

    async def pause(self, campaign: Campaign) -> int:
        """Hold every push not yet sent; a GO already queued is taken back from the outbox."""
        async with self._lock:
            await self.rows(campaign)
            await self._take_back_queued(campaign)
            return await ScheduledPush.filter(
                campaign_id=campaign.id, status=PushStatus.PENDING
            ).update(status=PushStatus.PAUSED)

    async def resume(self, campaign: Campaign) -> int:
        """Release held pushes; the next tick decides what is still worth sending."""
        async with self._lock:
            count = await ScheduledPush.filter(
                campaign_id=campaign.id, status=PushStatus.PAUSED
            ).update(status=PushStatus.PENDING)
        self.wake()
        return count

    async def shift(self, campaign: Campaign, delta: timedelta) -> None:
        """Move the event and the embargo (a delayed launch); pushes not yet sent follow."""
        async with self._lock:
            times = rules.shift_times(times_of(campaign), delta)
            if times.embargo_at >= times.deadline_at:
                raise UserError("timeline/shift_past_deadline", campaign=campaign)
            now = self.clock.now()
            if await ScheduledPush.filter(
                campaign_id=campaign.id, kind=rules.GO, status=PushStatus.SENT, due_at__lte=now
            ).exists():
                raise UserError("timeline/shift_after_go", campaign=campaign)
            await self.rows(campaign)
            await self._take_back_queued(campaign)
            campaign.event_at, campaign.embargo_at = times.event_at, times.embargo_at
            spec = dict(campaign.spec)
            spec["event_at"] = times.event_at.isoformat()
            spec["embargo_at"] = times.embargo_at.isoformat()
            campaign.spec = spec
            await campaign.save(update_fields=["event_at", "embargo_at", "spec"])
            paused = await ScheduledPush.exists(campaign_id=campaign.id, status=PushStatus.PAUSED)
            new_plan = {p.kind: p for p in rules.plan(times)}
            for row in await ScheduledPush.filter(
                campaign_id=campaign.id,
                status__in=[PushStatus.PENDING, PushStatus.PAUSED, PushStatus.SKIPPED],
            ):
                push = new_plan.get(row.kind)
                if push is not None and rules.fire_at(push) > now:
                    # Still ahead (a countdown skipped earlier counts again after a delay).
                    row.due_at, row.reason = push.due_at, None
                    row.status = PushStatus.PAUSED if paused else PushStatus.PENDING
                elif push is not None and row.status != PushStatus.SKIPPED:
                    row.due_at = push.due_at  # already due: the next tick decides
                elif push is None and row.status != PushStatus.SKIPPED:  # no room for it any more
                    row.status, row.reason = PushStatus.SKIPPED, "shifted_out"
                await row.save(update_fields=["due_at", "status", "reason"])
        self.wake()

    async def _take_back_queued(self, campaign: Campaign) -> int:
        """A GO written to the outbox ahead and not yet due goes back to pending."""
        now = self.clock.now()
        rows = await ScheduledPush.filter(
            campaign_id=campaign.id, status=PushStatus.SENT, due_at__gt=now
        ).all()
        for row in rows:
            await OutboxMessage.filter(
                id__in=row.outbox_ids or [0], status=OutboxStatus.PENDING
            ).update(
                status=OutboxStatus.CANCELLED,
                error="timeline paused or shifted before it was due",
            )
            row.status, row.sent_as, row.fired_at = PushStatus.PENDING, None, None
            row.recipients, row.outbox_ids = 0, []
            await row.save(
                update_fields=["status", "sent_as", "fired_at", "recipients", "outbox_ids"]
            )
        return len(rows)

    # --- real time ----------------------------------------------------------------------

    async def _dm(self, person: Person) -> Recipient | None:
        user = await self.speaker.people.reachable(person.id)
        if user is None:
            return None
        return Recipient(ChatRef(user.platform, user.user_id), user.user_id, person.locale)

    async def next_wake(self) -> datetime | None:
        """The next moment something is to be done: a push to fire or a queued GO to release."""
        now = self.clock.now()
        pending = await ScheduledPush.filter(status=PushStatus.PENDING).order_by("due_at").first()
        queued = (
            await ScheduledPush.filter(status=PushStatus.SENT, kind=rules.GO, due_at__gt=now)
            .order_by("due_at")
            .first()
        )
        moments = []
        if pending is not None:
            moments.append(rules.fire_at(rules.Push(pending.kind, pending.due_at)))
        if queued is not None:
            moments.append(queued.due_at)
        return min(moments) if moments else None


async def campaign_stats(campaign: Campaign) -> dict[str, Any]:
    """The closing summary's figures."""
    enrolled = await Enrollment.filter(
        campaign_id=campaign.id, status=EnrollmentStatus.ACTIVE
    ).count()
    submissions = await Submission.filter(campaign_id=campaign.id)
    by_status: dict[SubmissionStatus, int] = dict.fromkeys(SubmissionStatus, 0)
    for s in submissions:
        by_status[s.status] += 1
    counted = [s for s in submissions if s.status != SubmissionStatus.REJECTED]
    submitters = {s.creator_id for s in counted}  # type: ignore[attr-defined]
    return {
        "enrolled": enrolled,
        "posts": len(submissions),
        "approved": by_status[SubmissionStatus.APPROVED],
        "pending": by_status[SubmissionStatus.PENDING],
        "rejected": by_status[SubmissionStatus.REJECTED],
        "leaks": sum(1 for s in submissions if "leak" in (s.flags or [])),
        "late": sum(1 for s in submissions if "late" in (s.flags or [])),
        "missing": max(enrolled - len(submitters), 0),
    }
