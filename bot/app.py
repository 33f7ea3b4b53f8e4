"""Composition root: storage, clock, renderer, outbox, flows, dispatcher and platforms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.config import Settings
from bot.core.clock import Clock, SystemClock
from bot.core.context import Kernel
from bot.core.dispatcher import Dispatcher
from bot.core.flows import FlowEngine
from bot.core.outbox import Outbox
from bot.core.ratelimit import RateLimiter, SendLimiter
from bot.core.registry import Registry
from bot.core.render import Renderer
from bot.core.scheduler import Scheduler
from bot.core.speaker import Speaker
from bot.flows.broadcast import BroadcastFlow
from bot.flows.campaign_wizard import CampaignWizard
from bot.flows.metrics_import import MetricsImport
from bot.flows.onboarding import Onboarding
from bot.flows.review import RejectReason
from bot.handlers import (
    admin,
    broadcast,
    campaigns,
    digest,
    disputes,
    earnings,
    event_day,
    general,
    onboarding,
    outlines,
    points,
    settlement,
    submissions,
)
from bot.observability import Depth, Health, PrometheusMeter, run_checks
from bot.services import invites
from bot.services.broadcasts import BroadcastService
from bot.services.budget import BudgetNotices
from bot.services.digests import DigestService
from bot.services.outlines import OutlineService
from bot.services.resolver import ResolverService
from bot.services.timeline import TimelineService
from storage import db
from storage.fleet import Leadership, Wakeups
from storage.kernel import sql_ports
from storage.shared_limits import RedisLimiter

PURGE_EVERY = timedelta(hours=1)  # retention runs at most this often


def load_handlers() -> Registry:
    """Every handler module's router, in the order /help lists them."""
    return Registry(
        general.router,
        admin.router,
        onboarding.router,
        campaigns.router,
        submissions.router,
        earnings.router,
        settlement.router,
        outlines.router,
        event_day.router,
        broadcast.router,
        digest.router,
        disputes.router,
        points.router,
    )


@dataclass
class App:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        self.registry = load_handlers()
        self.renderer = Renderer(self.settings.locale)
        self.ports = sql_ports()
        self.meter = PrometheusMeter()
        self.limiter: SendLimiter = (
            RedisLimiter(self.settings.redis_url.get_secret_value())
            if self.settings.redis_url
            else RateLimiter()
        )
        self.outbox = Outbox(
            self.clock,
            self.ports.outbox,
            self.ports.people,
            self.limiter,
            worker=self.settings.worker_name,
            meter=self.meter,
            concurrency=self.settings.outbox_send_concurrency,
        )
        self.speaker = Speaker(self.outbox, self.renderer, self.ports.people, self.ports.messages)
        self.flows = FlowEngine(
            timedelta(minutes=self.settings.flow_ttl_minutes), self.ports.conversations
        )
        self.kernel = Kernel(self.speaker, self.flows, self.clock, self.settings)
        self.outlines = OutlineService(self.settings, self.renderer)
        self.database = db.Database(self.settings.database_url)
        self.scheduler = Scheduler(self.clock)
        # Processes sharing a database wake each other and elect one to run the clock's work.
        self.wakeups = Wakeups(self.settings.database_url)
        self.wakeups.on("outbox", self.outbox.wake)
        self.wakeups.on("schedule", self.scheduler.wake)
        if self.wakeups.enabled:
            self.outbox.idle_poll = 5.0  # new rows announce themselves: polling is a safety net
        self.leadership = Leadership(self.settings.database_url, on_change=self._leader_changed)
        self.meter.set_leader(self.leadership.leading)
        self._background: set[asyncio.Task[None]] = set()
        self._purged_at: datetime | None = None
        self.timeline = TimelineService(self.clock, self.speaker, self.wake_scheduler)
        self.broadcasts = BroadcastService(
            self.clock, self.speaker, self.outbox, self.settings, self.wake_scheduler
        )
        self.digests = DigestService(self.clock, self.speaker, self.settings)
        self.resolver = ResolverService(self.settings)  # short links, off unless LINK_RESOLVE
        self.budget = BudgetNotices(self.speaker.to_person)  # budget alerts to the managers
        for flow in (
            Onboarding(),
            CampaignWizard(),
            RejectReason(),
            MetricsImport(),
            BroadcastFlow(self.broadcasts),
        ):
            self.flows.register(flow)
        self._schedule()
        self.dispatcher = Dispatcher(
            self.kernel,
            self.registry,
            self.ports.people,
            self.ports.messages,
            self.outbox,
            dependencies={
                "registry": self.registry,
                "renderer": self.renderer,
                "outbox": self.outbox,
                "outlines": self.outlines,
                "timeline": self.timeline,
                "broadcasts": self.broadcasts,
                "digests": self.digests,
            },
        )

    async def start(self) -> None:
        await db.migrate(self.settings.database_url)
        await self.database.open(self.clock)
        await self.outbox.recover(at_start=True)
        await self.wakeups.start()

    async def stop(self) -> None:
        await self.wakeups.stop()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.outlines.close()
        await self.resolver.close()
        if isinstance(self.limiter, RedisLimiter):
            await self.limiter.close()
        await self.database.close()

    def wake_scheduler(self) -> None:
        """Something the clock must plan for changed (a timeline moved, a broadcast
        scheduled): tick now, here and in the leading process if that is another one."""
        self.scheduler.wake()
        if self.wakeups.enabled:
            task = asyncio.get_running_loop().create_task(self.wakeups.publish("schedule"))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def health(self, role: str) -> Health:
        """For /healthz: the database answers, Redis too where configured; who leads."""
        checks = {"database": self.ports.outbox.depth}
        if isinstance(self.limiter, RedisLimiter):
            checks["redis"] = self.limiter.ping
        leader = self.leadership.leading if role in ("all", "scheduler") else None
        return Health(role, await run_checks(checks), leader)

    def _leader_changed(self) -> None:
        """Leading now (tick at once) or no longer (stand by); /metrics shows which."""
        self.meter.set_leader(self.leadership.leading)
        self.scheduler.wake()

    async def outbox_depth(self) -> Depth:
        """For /metrics: unsent rows per platform and status."""
        return await self.ports.outbox.depth()

    async def purge_outbox(self) -> None:
        """Retention: settled outbox rows older than OUTBOX_RETENTION_DAYS go, hourly."""
        now = self.clock.now()
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        await self.outbox.purge(timedelta(days=self.settings.outbox_retention_days))

    def _schedule(self) -> None:
        """The clock's work, in this order on every tick (bot/core/scheduler.py)."""
        self.scheduler.every_tick(self.timeline.tick, next_wake=self.timeline.next_wake)
        self.scheduler.every_tick(self.digests.tick)
        self.scheduler.every_tick(self.broadcasts.tick, next_wake=self.broadcasts.next_wake)
        # Starts a background pass of short-link resolution; never waits on the network.
        self.scheduler.every_tick(self.resolver.tick)
        self.scheduler.every_tick(self.outbox.flush)
        # What just left: broadcast progress and reports, sent now.
        self.scheduler.every_tick(self.broadcasts.tick)
        self.scheduler.every_tick(self.outbox.flush)
        self.scheduler.every_tick(self.purge_outbox)

    async def invite_code_in(self, greeting: str) -> str | None:
        """A platform's friend request: the usable invite code its greeting carries, if any."""
        return await invites.code_in_greeting(greeting, self.clock.now())

    async def tick(self) -> None:
        """Run what has come due on the clock (the console's `!advance` calls this)."""
        await self.scheduler.tick()

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
