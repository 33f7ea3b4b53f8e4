"""/healthz and /metrics over real HTTP: the answers an orchestrator and Prometheus act on."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.core.ports import Meter
from bot.observability import (
    Health,
    HttpServer,
    PrometheusMeter,
    run_checks,
    start_http,
)

pytestmark = pytest.mark.timeout(30)

HealthFn = Callable[[], Awaitable[Health]]


class Fixture:
    """The server under test, with what its health and depth callbacks will answer."""

    def __init__(self) -> None:
        self.meter = PrometheusMeter()
        self.health: HealthFn = self._healthy
        self.depth: dict[tuple[str, str], int] | Exception = {}
        self.server: HttpServer | None = None

    async def _healthy(self) -> Health:
        return Health("worker", {"database": True, "redis": True})

    async def _depth(self) -> dict[tuple[str, str], int]:
        if isinstance(self.depth, Exception):
            raise self.depth
        return self.depth

    async def start(self) -> None:
        self.server = await start_http(
            "127.0.0.1:0", self.meter, lambda: self.health(), self._depth
        )

    async def get(self, path: str) -> tuple[int, str, str]:
        assert self.server is not None
        url = f"http://127.0.0.1:{self.server.port}{path}"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, response.headers["Content-Type"], await response.text()


@pytest.fixture
async def http() -> AsyncIterator[Fixture]:
    fixture = Fixture()
    await fixture.start()
    yield fixture
    assert fixture.server is not None
    await fixture.server.stop()


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus text, or None when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def test_the_meter_fits_the_kernels_port() -> None:
    meter: Meter = PrometheusMeter()
    assert meter is not None


async def test_healthz_answers_200_when_every_check_passes(http: Fixture) -> None:
    status, content_type, text = await http.get("/healthz")
    assert status == 200
    assert content_type.startswith("application/json")
    assert json.loads(text) == {
        "ok": True,
        "role": "worker",
        "checks": {"database": True, "redis": True},
        "leader": None,
    }


async def test_a_standby_scheduler_is_healthy(http: Fixture) -> None:
    async def standby() -> Health:
        return Health("scheduler", {"database": True}, leader=False)

    http.health = standby
    status, _, text = await http.get("/healthz")
    assert status == 200
    assert json.loads(text)["leader"] is False


async def test_healthz_answers_503_when_a_check_fails(http: Fixture) -> None:
    async def redis_down() -> Health:
        return Health("web", {"database": True, "redis": False})

    http.health = redis_down
    status, _, text = await http.get("/healthz")
    assert status == 503
    assert json.loads(text)["checks"] == {"database": True, "redis": False}


async def test_a_raising_check_counts_as_failed_and_is_logged(
    http: Fixture, caplog: pytest.LogCaptureFixture
) -> None:
    async def database() -> None:
        raise ConnectionRefusedError("postgres://koxbot:s3cret@postgres:5432/koxbot")

    async def redis() -> bool:
        return True

    async def health() -> Health:
        return Health("worker", await run_checks({"database": database, "redis": redis}))

    http.health = health
    with caplog.at_level(logging.WARNING, logger="bot.observability"):
        status, _, text = await http.get("/healthz")
    assert status == 503
    assert json.loads(text)["checks"] == {"database": False, "redis": True}
    assert "s3cret" not in text  # the error's text stays in the log
    assert any("database" in r.getMessage() for r in caplog.records)


async def test_a_raising_health_report_is_a_503_not_a_500(http: Fixture) -> None:
    async def broken() -> Health:
        raise RuntimeError("boom")

    http.health = broken
    status, _, text = await http.get("/healthz")
    assert status == 503
    assert json.loads(text) == {"ok": False, "checks": {"health": False}}


async def test_checks_that_hang_or_say_false_fail() -> None:
    never = asyncio.Event()

    async def hangs() -> None:
        await never.wait()

    async def says_no() -> bool:
        return False

    async def returns_nothing() -> None:
        return None

    checks = await run_checks(
        {"hangs": hangs, "says_no": says_no, "fine": returns_nothing}, timeout=0.05
    )
    assert checks == {"hangs": False, "says_no": False, "fine": True}


async def test_metrics_show_sends_throttling_and_handling_time(http: Fixture) -> None:
    meter = http.meter
    meter.delivered("telegram", "sent")
    meter.delivered("telegram", "sent")
    meter.delivered("telegram", "retry_after")
    meter.delivered("wechat", "failed")
    meter.handled("telegram", 0.003)
    meter.handled("telegram", 0.2)
    meter.set_leader(True)

    status, content_type, text = await http.get("/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert _sample(text, "koxbot_sends_total", platform="telegram", outcome="sent") == 2
    assert _sample(text, "koxbot_sends_total", platform="telegram", outcome="retry_after") == 1
    assert _sample(text, "koxbot_sends_total", platform="wechat", outcome="failed") == 1
    assert _sample(text, "koxbot_server_throttled_total", platform="telegram") == 1
    assert _sample(text, "koxbot_server_throttled_total", platform="wechat") is None
    assert _sample(text, "koxbot_handling_seconds_count", platform="telegram") == 2
    assert _sample(text, "koxbot_handling_seconds_bucket", platform="telegram", le="0.005") == 1
    assert _sample(text, "koxbot_handling_seconds_bucket", platform="telegram", le="10.0") == 2
    assert _sample(text, "koxbot_scheduler_leader") == 1
    assert _sample(text, "koxbot_up") == 1


async def test_metrics_read_the_outbox_depth_at_each_scrape(http: Fixture) -> None:
    http.depth = {("telegram", "pending"): 7, ("telegram", "sending"): 2, ("wechat", "failed"): 1}
    _, _, text = await http.get("/metrics")
    assert _sample(text, "koxbot_outbox_depth", platform="telegram", status="pending") == 7
    assert _sample(text, "koxbot_outbox_depth", platform="telegram", status="sending") == 2
    assert _sample(text, "koxbot_outbox_depth", platform="wechat", status="failed") == 1

    # The queue drained: a series no longer reported is gone, not stuck at its last value.
    http.depth = {("telegram", "pending"): 0}
    _, _, text = await http.get("/metrics")
    assert _sample(text, "koxbot_outbox_depth", platform="telegram", status="pending") == 0
    assert _sample(text, "koxbot_outbox_depth", platform="telegram", status="sending") is None

    # The database is down: the scrape still works, without depth figures.
    http.depth = ConnectionError("database down")
    status, _, text = await http.get("/metrics")
    assert status == 200
    assert _sample(text, "koxbot_outbox_depth", platform="telegram", status="pending") is None
    assert _sample(text, "koxbot_up") == 1


async def test_each_meter_has_its_own_registry() -> None:
    first, second = PrometheusMeter(), PrometheusMeter()
    first.delivered("telegram", "sent")
    assert first.registry is not second.registry
    assert (
        second.registry.get_sample_value(
            "koxbot_sends_total", {"platform": "telegram", "outcome": "sent"}
        )
        is None
    )


@pytest.mark.parametrize("path", ["/", "/health", "/metrics/x", "/healthz/../admin"])
async def test_other_paths_are_not_found(http: Fixture, path: str) -> None:
    status, _, _ = await http.get(path)
    assert status == 404


async def test_it_binds_exactly_the_given_address() -> None:
    meter = PrometheusMeter()

    async def health() -> Health:
        return Health("web", {})

    async def depth() -> dict[tuple[str, str], int]:
        return {}

    server = await start_http("127.0.0.1:0", meter, health, depth)
    try:
        assert server.host == "127.0.0.1"
        assert server.port > 0
        # The port is taken: a second server on it fails rather than moving elsewhere.
        with pytest.raises(OSError):
            await start_http(f"127.0.0.1:{server.port}", meter, health, depth)
    finally:
        await server.stop()
    with pytest.raises(ValueError):
        await start_http("localhost", meter, health, depth)
