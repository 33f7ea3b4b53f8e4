"""Composition root: storage, clock, renderer, outbox, flows, dispatcher and platforms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.config import Settings
from bot.core.clock import Clock, SystemClock
from bot.core.context import Kernel
from bot.core.dispatcher import Dispatcher
from bot.core.flows import FlowEngine
from bot.core.outbox import Outbox
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
from bot.services import invites
from bot.services.broadcasts import BroadcastService
from bot.services.budget import BudgetNotices
from bot.services.digests import DigestService
from bot.services.outlines import OutlineService
from bot.services.resolver import ResolverService
from bot.services.timeline import TimelineService
from storage import db
from storage.kernel import sql_ports


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
        self.outbox = Outbox(
            self.clock, self.ports.outbox, self.ports.people, worker=self.settings.worker_name
        )
        self.speaker = Speaker(self.outbox, self.renderer, self.ports.people, self.ports.messages)
        self.flows = FlowEngine(
            timedelta(minutes=self.settings.flow_ttl_minutes), self.ports.conversations
        )
        self.kernel = Kernel(self.speaker, self.flows, self.clock, self.settings)
        self.outlines = OutlineService(self.settings, self.renderer)
        self.database = db.Database(self.settings.database_url)
        self.scheduler = Scheduler(self.clock)
        self.timeline = TimelineService(self.clock, self.speaker, self.scheduler.wake)
        self.broadcasts = BroadcastService(self.clock, self.speaker, self.outbox, self.settings)
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

    async def stop(self) -> None:
        await self.outlines.close()
        await self.resolver.close()
        await self.database.close()

    def _schedule(self) -> None:
        """The clock's work, in this order on every tick (bot/core/scheduler.py)."""
        self.scheduler.every_tick(self.timeline.tick, next_wake=self.timeline.next_wake)
        self.scheduler.every_tick(self.digests.tick)
        self.scheduler.every_tick(self.broadcasts.tick)
        # Starts a background pass of short-link resolution; never waits on the network.
        self.scheduler.every_tick(self.resolver.tick)
        self.scheduler.every_tick(self.outbox.flush)
        # What just left: broadcast progress and reports, sent now.
        self.scheduler.every_tick(self.broadcasts.tick)
        self.scheduler.every_tick(self.outbox.flush)

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
