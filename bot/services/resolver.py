"""Short links (xhslink.com, v.douyin.com, t.cn, b23.tv …) followed to the post they point at.

Never on the reply path: `/submit` stores a short link at once with `resolve_status="pending"`,
and each scheduled tick starts a background pass (`ResolverService.tick`) that follows the
pending ones and records where each led (bot.services.submissions.apply_resolution): the
canonical URL, the post id, the dedupe key, the checks again; a resolved duplicate of another
submission is kept and flagged for review.

Following is careful: redirects are read one by one (`allow_redirects=False`), only GET and no
body; each hop must stay on a known platform host (a short link that leaves for another site
is `not_post`, so the bot never fetches arbitrary addresses); it stops as soon as a redirect
names a post (or a profile) of a platform, without fetching that page. A short link has
`timeout` seconds in all; at most `concurrency` are followed at once. Settled results (a post,
a profile, a loop) are cached by URL; timeouts and network errors are not, and are retried on
later ticks up to LINK_RESOLVE_MAX_ATTEMPTS. Off unless LINK_RESOLVE=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import aiohttp

from bot.domain.links import Link, classify_url
from bot.domain.statuses import ResolveStatus
from bot.services import quality, submissions
from storage.models import Submission

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
BATCH = 50  # pending short links taken per pass


@dataclass(frozen=True)
class Resolution:
    """Where a short link led.

    outcome: post (`link` is the post) · profile · not_post (another site, a page that is not
    a post, no redirect) · loop · too_many (redirects) · timeout · error (network)."""

    outcome: str
    final_url: str | None = None
    link: Link | None = None
    hops: int = 0

    @property
    def settled(self) -> bool:
        """A result worth caching: trying again would give the same answer."""
        return self.outcome not in ("timeout", "error")

    @property
    def status(self) -> str:
        """What the submission becomes: post | not_post | failed | retry."""
        if self.outcome == "post":
            return "post"
        if self.outcome in ("profile", "not_post"):
            return "not_post"
        return "failed" if self.settled else "retry"


class ShortLinkResolver:
    """Follows redirects with a deadline, a concurrency limit and a cache.

    `route` maps a URL to the one actually fetched (tests send every host to a loopback
    server); the URL itself, not the routed one, is what gets classified."""

    def __init__(
        self,
        timeout: float = 5.0,
        concurrency: int = 4,
        max_redirects: int = 8,
        route: Callable[[str], str] | None = None,
        cache_size: int = 4096,
    ) -> None:
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.route = route or (lambda url: url)
        self.cache: OrderedDict[str, Resolution] = OrderedDict()
        self.cache_size = cache_size
        self.fetches = 0  # requests made (tests check the cache with it)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def resolve(self, url: str) -> Resolution:
        cached = self.cache.get(url)
        if cached is not None:
            self.cache.move_to_end(url)
            return cached
        async with self._semaphore:
            try:
                async with asyncio.timeout(self.timeout):
                    result = await self._follow(url)
            except TimeoutError:
                result = Resolution("timeout", url)
            except (aiohttp.ClientError, ValueError) as error:
                log.info("short link %s: %s", url, type(error).__name__)
                result = Resolution("error", url)
        if result.settled:
            self.cache[url] = result
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return result

    async def _follow(self, url: str) -> Resolution:
        session = self._session_()
        seen, current = {url}, url
        for hop in range(1, self.max_redirects + 1):
            self.fetches += 1
            async with session.get(self.route(current), allow_redirects=False) as response:
                location = (
                    response.headers.get("Location") if response.status in REDIRECTS else None
                )
            if not location:
                return Resolution("not_post", current, classify_url(current), hop - 1)
            target = urljoin(current, location.strip())
            link = classify_url(target)
            if link is None or link.platform is None:
                return Resolution("not_post", target, link, hop)  # left the platforms: stop
            if link.kind == "post" and not link.short:
                return Resolution("post", target, link, hop)
            if link.kind == "profile":
                return Resolution("profile", target, link, hop)
            if target in seen:
                return Resolution("loop", target, link, hop)
            seen.add(target)
            current = target
        return Resolution("too_many", current, None, self.max_redirects)

    def _session_(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ResolverService:
    """Pending short links of submissions, resolved in the background on every scheduled tick."""

    def __init__(self, settings: Settings, route: Callable[[str], str] | None = None) -> None:
        self.enabled = settings.link_resolve
        self.max_attempts = settings.link_resolve_max_attempts
        self.resolver = ShortLinkResolver(
            timeout=settings.link_resolve_timeout_seconds,
            concurrency=settings.link_resolve_concurrency,
            max_redirects=settings.link_resolve_max_redirects,
            route=route,
        )
        self._task: asyncio.Task[int] | None = None

    async def tick(self) -> None:
        """Start a pass when there may be work and none is running; never waits for it."""
        if not self.enabled or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(self._guarded())

    async def wait(self) -> None:
        """Until the pass in flight (if any) is over (tests, the console)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _guarded(self) -> int:
        try:
            return await self.run_once()
        except Exception:  # a background pass must not die silently
            log.exception("short-link resolution pass failed")
            return 0

    async def run_once(self) -> int:
        """Follow every pending short link (up to BATCH) once; how many were recorded."""
        pending = (
            await Submission.filter(resolve_status=ResolveStatus.PENDING)
            .order_by("id")
            .limit(BATCH)
        )
        results = await asyncio.gather(*(self.resolver.resolve(s.url) for s in pending))
        done = 0
        for submission, result in zip(pending, results, strict=True):
            updated = await submissions.apply_resolution(
                submission.id,
                result.status,
                result.link,
                result.final_url,
                result.outcome,
                self.max_attempts,
            )
            if updated is not None and updated.resolve_status == ResolveStatus.RESOLVED:
                await quality.refresh(updated.id)
            done += updated is not None
        return done

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.resolver.close()
