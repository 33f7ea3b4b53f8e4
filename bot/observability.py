"""/healthz and Prometheus /metrics for one process of the fleet.

A fleet (web, worker and scheduler processes, see compose.yaml) is only operable when each
process says whether it can do its job (the orchestrator restarts it when not) and what it
is doing (sends and their outcomes, the platforms' 429s, handling time, the outbox's depth,
who leads the scheduler). This module lives outside the kernel: `bot/core` counts through
the `Meter` port and never imports prometheus-client or aiohttp.

Nothing secret is served: health answers names and booleans only (errors go to the log,
where a connection string in an exception's text stays on the host), and /metrics reads
this meter's own registry, never the process-wide default one other libraries may fill.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

log = logging.getLogger(__name__)

# Handling an inbound message: a cache hit takes milliseconds, an LLM outline seconds.
HANDLING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A health check or depth query that takes longer than this counts as failed: an orchestrator
# probing /healthz must get an answer before its own timeout, not a hung request.
CHECK_SECONDS = 5.0

Depth = dict[tuple[str, str], int]  # (platform, outbox status) → rows


class PrometheusMeter:
    """The kernel's `Meter`, kept in a `CollectorRegistry` of its own: one per process in
    production, a fresh one per test (the default registry refuses a metric twice)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.sends = Counter(
            "koxbot_sends", "Send attempts by how they ended", ["platform", "outcome"], registry=r
        )
        self.throttled = Counter(
            "koxbot_server_throttled",
            "Sends the platform refused with retry_after (its 429s): our limits are too high",
            ["platform"],
            registry=r,
        )
        self.handling = Histogram(
            "koxbot_handling_seconds",
            "Time to handle one inbound message, sending its answers included",
            ["platform"],
            buckets=HANDLING_BUCKETS,
            registry=r,
        )
        self.outbox_depth = Gauge(
            "koxbot_outbox_depth",
            "Outbox rows by status (read at scrape time)",
            ["platform", "status"],
            registry=r,
        )
        self.scheduler_leader = Gauge(
            "koxbot_scheduler_leader",
            "1 while this process holds the scheduler's leader lock",
            registry=r,
        )
        self.up = Gauge("koxbot_up", "1 while this process serves its role", registry=r)
        self.up.set(1)
        # CPU, memory and open files of this process (Linux only; nothing elsewhere).
        ProcessCollector(registry=r)

    def delivered(self, platform: str, outcome: str) -> None:
        self.sends.labels(platform, outcome).inc()
        if outcome == "retry_after":
            self.throttled.labels(platform).inc()

    def handled(self, platform: str, seconds: float) -> None:
        self.handling.labels(platform).observe(seconds)

    def set_leader(self, leading: bool) -> None:
        self.scheduler_leader.set(1 if leading else 0)

    def set_up(self, up: bool) -> None:
        """0 while shutting down, so a scrape in between does not count a stopping process."""
        self.up.set(1 if up else 0)

    def set_depth(self, depth: Mapping[tuple[str, str], int]) -> None:
        """Replace every depth series: a (platform, status) no longer reported (its count
        fell to zero and the query groups it away) must not keep its last value."""
        self.outbox_depth.clear()
        for (platform, status), rows in depth.items():
            self.outbox_depth.labels(platform, status).set(rows)


@dataclass
class Health:
    """What /healthz reports: this process's role, each dependency it needs (e.g. database,
    redis) and, for a scheduler, whether it leads (a standby is healthy: restarting it would
    not help, it takes over when the leader's lock is released)."""

    role: str
    checks: dict[str, bool] = field(default_factory=dict)
    leader: bool | None = None

    @property
    def ok(self) -> bool:
        return all(self.checks.values())


async def run_checks(
    checks: Mapping[str, Callable[[], Awaitable[object]]], timeout: float = CHECK_SECONDS
) -> dict[str, bool]:
    """Run named probes at once; each passes unless it raises, times out or returns False.

    For building `Health.checks`: a broken dependency must make /healthz say 503, never
    make it fail or hang."""

    async def one(name: str, check: Callable[[], Awaitable[object]]) -> bool:
        try:
            return await asyncio.wait_for(check(), timeout) is not False
        except Exception as error:  # TimeoutError included
            log.warning("health check %s failed: %s", name, type(error).__name__, exc_info=True)
            return False

    names = list(checks)
    results = await asyncio.gather(*(one(name, checks[name]) for name in names))
    return dict(zip(names, results, strict=True))


@dataclass
class HttpServer:
    """The running server; `port` is the one bound (useful when asked for port 0)."""

    runner: web.AppRunner
    host: str
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()


def _split_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:9100). An empty host means loopback, as for the webhook:
    listening on every interface must be asked for (0.0.0.0)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:9100, not {listen!r}")
    return host.removeprefix("[").removesuffix("]") or "127.0.0.1", int(port)


async def start_http(
    listen: str,
    meter: PrometheusMeter,
    health: Callable[[], Awaitable[Health]],
    depth: Callable[[], Awaitable[Depth]],
) -> HttpServer:
    """Serve GET /healthz and GET /metrics on exactly `listen` (HOST:PORT); 404 elsewhere."""

    async def healthz(request: web.Request) -> web.Response:
        body: dict[str, Any]
        try:
            report = await asyncio.wait_for(health(), CHECK_SECONDS)
            body = {"role": report.role, "checks": report.checks, "leader": report.leader}
            ok = report.ok
        except Exception as error:  # the probe itself broke: unhealthy, not a 500
            log.warning("health report failed: %s", type(error).__name__, exc_info=True)
            body, ok = {"checks": {"health": False}}, False
        return web.json_response({"ok": ok, **body}, status=200 if ok else 503)

    async def metrics(request: web.Request) -> web.Response:
        try:
            meter.set_depth(await asyncio.wait_for(depth(), CHECK_SECONDS))
        except Exception as error:  # the rest of the figures are still worth a scrape
            log.warning("outbox depth failed: %s", type(error).__name__, exc_info=True)
            meter.outbox_depth.clear()  # absent, not stale
        return web.Response(
            body=generate_latest(meter.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    host, port = _split_listen(listen)
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    # No access log: the orchestrator and Prometheus poll every few seconds.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    log.info("health and metrics on http://%s:%d (/healthz, /metrics)", host, bound)
    return HttpServer(runner, host, bound)


__all__ = ["Health", "HttpServer", "PrometheusMeter", "run_checks", "start_http"]
