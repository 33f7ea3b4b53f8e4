"""Short-link resolution against an aiohttp server on loopback that plays every short-link and
platform host: a post, a profile, a redirect loop, a timeout; then through the console, with
the submission stored at once and updated when `App.tick()` has resolved it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from bot.app import App
from bot.core.clock import ManualClock
from bot.services.resolver import ShortLinkResolver
from storage.models import AuditLog, Submission
from tests.conftest import MANAGER_SETUP, SCRIPTS, Chat, make_settings, onboarding_answers

pytestmark = pytest.mark.timeout(30)

XHS_ID = "6650a1b2c3d4e5f601234567"
DY_ID = "7641803381662272789"  # minted after the embargo of spring.yaml
EARLY_DY_ID = "7641772458761939121"  # minted before it
# path on the fake host → (status, Location); "slow" never answers in time
ROUTES: dict[str, tuple[int, str] | str] = {
    "xhslink.com/a/post": (302, f"https://www.xiaohongshu.com/explore/{XHS_ID}?xsec_token=t"),
    "xhslink.com/a/hop": (301, "/a/post"),  # relative, then a post
    "xhslink.com/a/profile": (302, f"https://www.xiaohongshu.com/user/profile/{XHS_ID}"),
    "xhslink.com/a/loop1": (302, "https://xhslink.com/a/loop2"),
    "xhslink.com/a/loop2": (302, "https://www.xiaohongshu.com/"),  # the home page, followed
    "www.xiaohongshu.com/": (302, "https://xhslink.com/a/loop1"),
    "xhslink.com/a/away": (302, "http://127.0.0.1:9/admin"),  # leaves the platforms
    "xhslink.com/a/slow": "slow",
    "v.douyin.com/dy1": (302, f"https://www.iesdouyin.com/share/video/{DY_ID}/?region=CN"),
    "v.douyin.com/dy2": (302, f"https://www.iesdouyin.com/share/video/{DY_ID}/?from=copy"),
    "v.douyin.com/early": (302, f"https://www.douyin.com/video/{EARLY_DY_ID}"),
    "v.douyin.com/slow": "slow",
}


class RedirectServer:
    def __init__(self) -> None:
        self.hits: list[str] = []
        self.port = 0
        self.release = asyncio.Event()  # set at teardown: slow answers end then

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["rest"]
        self.hits.append(key)
        action = ROUTES.get(key)
        if action == "slow":
            await self.release.wait()
            return web.Response(text="too late")
        if action is None:
            return web.Response(text="a page")
        status, location = action
        return web.Response(status=status, headers={"Location": location})

    def route(self, url: str) -> str:
        """Every https host of the test goes to this server, as /HOST/PATH."""
        parts = urlsplit(url)
        return f"http://127.0.0.1:{self.port}/{parts.netloc}{parts.path or '/'}"


@pytest.fixture
async def server() -> AsyncIterator[RedirectServer]:
    fake = RedirectServer()
    app = web.Application()
    app.router.add_get("/{rest:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake
    fake.release.set()
    await runner.cleanup()


@pytest.fixture
async def resolver(server: RedirectServer) -> AsyncIterator[ShortLinkResolver]:
    resolver = ShortLinkResolver(timeout=0.5, concurrency=2, max_redirects=5, route=server.route)
    yield resolver
    await resolver.close()


async def test_a_short_link_resolves_to_the_post_without_fetching_it(
    resolver: ShortLinkResolver, server: RedirectServer
) -> None:
    result = await resolver.resolve("https://xhslink.com/a/hop")
    assert result.outcome == "post" and result.status == "post"
    assert result.link is not None and result.link.post_id == XHS_ID
    assert result.link.canonical_url == f"https://www.xiaohongshu.com/explore/{XHS_ID}"
    assert server.hits == ["xhslink.com/a/hop", "xhslink.com/a/post"]  # not the post page


async def test_results_are_cached(resolver: ShortLinkResolver, server: RedirectServer) -> None:
    first = await resolver.resolve("https://xhslink.com/a/post")
    again = await resolver.resolve("https://xhslink.com/a/post")
    assert first == again and len(server.hits) == 1


async def test_a_profile_a_loop_and_another_site_are_not_posts(
    resolver: ShortLinkResolver, server: RedirectServer
) -> None:
    profile = await resolver.resolve("https://xhslink.com/a/profile")
    assert (profile.outcome, profile.status) == ("profile", "not_post")
    loop = await resolver.resolve("https://xhslink.com/a/loop1")
    assert (loop.outcome, loop.status) == ("loop", "failed")
    away = await resolver.resolve("https://xhslink.com/a/away")
    assert (away.outcome, away.final_url) == ("not_post", "http://127.0.0.1:9/admin")
    assert "127.0.0.1:9/admin" not in " ".join(server.hits)  # never fetched
    page = await resolver.resolve("https://xhslink.com/a/unknown")  # answers 200, no redirect
    assert page.outcome == "not_post"


async def test_a_timeout_is_reported_and_not_cached(
    resolver: ShortLinkResolver, server: RedirectServer
) -> None:
    result = await resolver.resolve("https://xhslink.com/a/slow")
    assert (result.outcome, result.status) == ("timeout", "retry")
    assert "https://xhslink.com/a/slow" not in resolver.cache


async def test_too_many_redirects(server: RedirectServer) -> None:
    resolver = ShortLinkResolver(timeout=2, max_redirects=1, route=server.route)
    try:
        result = await resolver.resolve("https://xhslink.com/a/hop")
    finally:
        await resolver.close()
    assert (result.outcome, result.status) == ("too_many", "failed")


# --------------------------------------------------------------------------- through the bot


@pytest.fixture
async def resolving_app(
    tmp_path: Path, clock: ManualClock, server: RedirectServer
) -> AsyncIterator[App]:
    settings = make_settings(tmp_path, link_resolve=True, link_resolve_timeout_seconds=0.5)
    async with App(settings, clock) as running:
        running.resolver.resolver.route = server.route
        yield running


@pytest.fixture
async def rchat(resolving_app: App) -> Chat:
    chat = Chat(resolving_app, SCRIPTS)
    await chat.say(*MANAGER_SETUP, *onboarding_answers("ada"))
    return chat


async def resolve(app: App) -> None:
    await app.tick()
    await app.resolver.wait()


async def test_the_reply_comes_at_once_and_the_post_is_updated_when_resolved(
    rchat: Chat, resolving_app: App
) -> None:
    reply = await rchat.text("ada@dm: /submit https://v.douyin.com/dy1")
    assert reply.startswith("已收到作品 #1（抖音）")
    assert "❔ 短链接正在解析" in reply
    stored = await Submission.get(id=1)
    assert (stored.resolve_status, stored.post_id) == ("pending", None)
    await resolve(resolving_app)
    stored = await Submission.get(id=1)
    assert stored.resolve_status == "resolved"
    assert (stored.post_id, stored.dedupe_key) == (DY_ID, f"douyin:{DY_ID}")
    assert stored.canonical_url == f"https://www.douyin.com/video/{DY_ID}"
    assert stored.posted_at is not None and stored.flags == []
    checks = {c["code"]: c["status"] for c in stored.checks}
    assert checks["link"] == "pass" and checks["posted_at"] == "pass"
    # the same post as a full link is now a duplicate, refused as usual
    again = await rchat.text(f"ada@dm: /submit https://www.douyin.com/video/{DY_ID}")
    assert again.startswith("这条作品你已经提交过了（编号 #1")


async def test_a_resolved_duplicate_is_flagged_for_review_not_deleted(
    rchat: Chat, resolving_app: App
) -> None:
    await rchat.say(
        "mia@dm: /invite SPRING26 code=ACME-TWO", *onboarding_answers("ben", code="ACME-TWO")
    )
    await rchat.say(
        "ada@dm: /submit https://v.douyin.com/dy1", "ben@dm: /submit https://v.douyin.com/dy2"
    )
    assert await Submission.all().count() == 2
    await resolve(resolving_app)
    first, second = await Submission.get(id=1), await Submission.get(id=2)
    assert first.dedupe_key == f"douyin:{DY_ID}" and first.flags == []
    assert second.flags == ["duplicate"] and second.status == "pending"
    assert second.dedupe_key == "douyin:https://v.douyin.com/dy2"  # the short key stays
    assert second.post_id == DY_ID
    assert [f["code"] for f in second.metric_flags] == ["post_shared"]
    queue = await rchat.text("mia@dm: /review")
    assert "❌ 短链接指向的作品已经提交过了（作品 #1），请运营核对" in queue
    assert "🚩 同一作品多人提交：2 人" in queue


async def test_a_short_link_to_an_early_post_becomes_a_leak(
    rchat: Chat, resolving_app: App
) -> None:
    await rchat.say("ada@dm: /submit https://v.douyin.com/early")
    await resolve(resolving_app)
    stored = await Submission.get(id=1)
    assert stored.flags == ["leak"] and stored.post_id == EARLY_DY_ID
    assert "❌解禁后发布" in await rchat.text("mia@dm: /review")


async def test_a_profile_link_and_repeated_timeouts_are_reported(
    rchat: Chat, resolving_app: App
) -> None:
    await rchat.say(
        "ada@dm: /submit https://xhslink.com/a/profile", "ada@dm: /submit https://v.douyin.com/slow"
    )
    for _ in range(resolving_app.settings.link_resolve_max_attempts):
        await resolve(resolving_app)
    profile, slow = await Submission.get(id=1), await Submission.get(id=2)
    assert (profile.resolve_status, profile.post_id) == ("not_post", None)
    assert (slow.resolve_status, slow.resolve_attempts) == ("failed", 3)
    queue = await rchat.text("mia@dm: /review")
    assert "❌ 短链接指向的是个人主页，不是作品" in queue
    assert "❌ 短链接多次打不开，无法解析" in queue
    assert await AuditLog.filter(action="submission.link_failed").count() == 1


async def test_off_by_default_short_links_stay_as_pasted(enrolled: Chat, app: App) -> None:
    assert app.settings.link_resolve is False
    reply = await enrolled.text("ada@dm: /submit https://v.douyin.com/dy1")
    assert "短链接" not in reply
    await app.tick()
    await app.resolver.wait()
    stored = await Submission.get(id=1)
    assert stored.resolve_status == "pending" and stored.post_id is None
    assert {c["code"]: c["status"] for c in stored.checks}["link"] == "skip"
