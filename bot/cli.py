"""The `koxbot` command: run, console, migrate, demo."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.app import App
from bot.config import ConfigError, Settings, load_settings
from bot.core.clock import Clock, ManualClock, OffsetClock
from bot.platforms.console import ConsoleError, ConsolePlatform
from storage import db

if TYPE_CHECKING:
    from bot.platforms.telegram import TelegramPlatform

log = logging.getLogger("koxbot")
DRAIN_SECONDS = 5.0  # at stop, what is due is sent for at most this long

cli = typer.Typer(
    add_completion=False, no_args_is_help=True, help="koxbot: KOC/KOS programmes in chat."
)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("tortoise", "aerich", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return settings


def _clock(now: str | None) -> Clock:
    if not now:
        return OffsetClock()
    try:
        start = datetime.fromisoformat(now)
    except ValueError:
        typer.echo(f"--now: {now!r} is not an ISO time such as 2026-05-20T09:00:00+08:00", err=True)
        raise typer.Exit(2) from None
    if start.tzinfo is None:
        typer.echo("--now needs a UTC offset, e.g. 2026-05-20T09:00:00+08:00", err=True)
        raise typer.Exit(2)
    return ManualClock(start)


async def _console(settings: Settings, clock: Clock, script: Path | None, json_mode: bool) -> int:
    async with App(settings, clock) as app:
        console = ConsolePlatform(
            app, json_mode=json_mode, base_dir=script.parent if script else None
        )
        await app.tick()  # deliver what was left pending by an earlier run
        if script is not None:
            lines = script.read_text(encoding="utf-8").splitlines()
            return 1 if await console.run_lines(lines) else 0
        await _interactive(console)
    return 0


async def _interactive(console: ConsolePlatform) -> None:
    typer.echo(
        "koxbot console — type `USER@dm: /help` (or `USER@GROUP: …`); Ctrl-D quits.", err=True
    )
    speaker = ""
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        line = line.rstrip("\n")
        if (
            speaker
            and line.strip()
            and not line.startswith(("!", "#"))
            and "@" not in line.split(":")[0]
        ):
            line = f"{speaker}: {line}"  # a bare line speaks as the last speaker
        try:
            await console.feed(line)
        except ConsoleError as exc:
            typer.echo(f"console: {exc}", err=True)
            continue
        head = line.split(":", 1)[0]
        if "@" in head and not line.startswith("!"):
            speaker = head.split("#", 1)[0]


@cli.command()
def console(
    script: Annotated[
        Path | None, typer.Option(help="read chat lines from FILE and exit at its end")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="one JSON object per bot message")] = False,
    now: Annotated[str | None, typer.Option(help="start a frozen clock at this ISO time")] = None,
) -> None:
    """The local chat: type `USER@CHAT: text`."""
    settings = _settings()
    if script is not None and not script.is_file():
        typer.echo(f"--script: no such file {script}", err=True)
        raise typer.Exit(2)
    raise typer.Exit(asyncio.run(_console(settings, _clock(now), script, json)))


class Role(StrEnum):
    """What one `koxbot run` process does; a fleet runs several (README "More than one process")."""

    ALL = "all"  # everything: one process, or a small fleet of equals
    WEB = "web"  # receives updates (Telegram webhook or the one poller; WeChat in and out)
    WORKER = "worker"  # sends Telegram's share of the outbox
    SCHEDULER = "scheduler"  # the clock's work, while it leads (one leader, the rest stand by)


async def _serve(settings: Settings, with_console: bool, role: Role) -> int:
    """This role's part: platforms, the outbox worker, the scheduler, /healthz and /metrics;
    the console when asked or when nothing else is configured."""
    receive = role in (Role.ALL, Role.WEB)
    send = role in (Role.ALL, Role.WORKER)
    platforms: list = []
    starting: list[asyncio.Task[None]] = []  # platforms that connect in the background
    async with App(settings, OffsetClock()) as app:
        tasks = [asyncio.create_task(app.outbox.run(), name="outbox")]
        if role in (Role.ALL, Role.SCHEDULER):
            tasks.append(asyncio.create_task(app.leadership.run(), name="leadership"))
            leading = lambda: app.leadership.leading  # noqa: E731
            tasks.append(asyncio.create_task(app.scheduler.run(leading), name="scheduler"))
        http = None
        try:
            if settings.http_listen is not None:
                from bot.observability import start_http

                http = await start_http(
                    settings.http_listen, app.meter, lambda: app.health(role), app.outbox_depth
                )
            if settings.telegram_bot_token is not None and (receive or send):
                from bot.platforms.telegram import TelegramPlatform

                telegram = TelegramPlatform(app)
                platforms.append(telegram)
                # Several processes on one database: one of them polls, the others stand by.
                elect = receive and telegram.polls and app.wakeups.enabled
                started = asyncio.create_task(
                    telegram.start_when_reachable(receive, send, poll=not elect),
                    name="telegram-start",
                )
                starting.append(started)
                if elect:
                    poller = _poll_when_elected(app, telegram, started)
                    tasks.append(asyncio.create_task(poller, name="poller"))
            if receive and settings.wechaty_puppet_service_endpoint is not None:
                from bot.platforms.wechat import WeChatPlatform

                wechat = WeChatPlatform(app)  # one connection per account: it sends too
                await wechat.start()  # an outage is logged; WeChat reconnects on its own
                platforms.append(wechat)
            if with_console or (role == Role.ALL and not platforms):
                await _interactive(ConsolePlatform(app))
            else:
                return await _until_signalled(starting)
        finally:
            for task in starting:
                task.cancel()
            await asyncio.gather(*starting, return_exceptions=True)
            if http is not None:
                await http.stop()
            await app.scheduler.stop()
            await app.outbox.drain(DRAIN_SECONDS)
            await app.outbox.stop()  # both end their loops; the locks are given up
            for task in tasks:
                if task.get_name() in ("leadership", "poller"):
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for platform in platforms:
                await platform.stop()
    return 0


async def _poll_when_elected(app: App, telegram: TelegramPlatform, started: asyncio.Task) -> None:
    """Long-poll Telegram while this process holds the poller lock: a second poller would
    only make Telegram answer both with 409 Conflict. A standby takes over within seconds."""
    from storage.fleet import POLLER_LOCK, Leadership

    await asyncio.shield(started)  # the bot's name is known, its commands published
    changed = asyncio.Event()
    poller = Leadership(app.settings.database_url, on_change=changed.set, lock=POLLER_LOCK)
    holding = asyncio.create_task(poller.run(), name="poller-lock")
    try:
        while True:
            await changed.wait()
            changed.clear()
            if poller.leading:
                log.info("telegram: this process polls for updates")
                await telegram.start_polling()
            else:
                await telegram.stop_polling()
    finally:
        holding.cancel()
        await asyncio.gather(holding, return_exceptions=True)


async def _until_signalled(starting: list[asyncio.Task[None]]) -> int:
    """0 at SIGINT or SIGTERM; 2 when a platform could not start for good (a refused token)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stopped = asyncio.create_task(stop.wait())
    waiting: set[asyncio.Task] = {stopped, *starting}
    while stopped in waiting:
        done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in done - {stopped}:
            if not task.cancelled() and task.exception() is not None:
                log.error("%s failed; stopping", task.get_name())
                stopped.cancel()
                return 2
    return 0


@cli.command()
def run(
    console: Annotated[
        bool, typer.Option("--console", help="also open the console chat beside the platforms")
    ] = False,
    role: Annotated[
        Role, typer.Option(help="this process's part in a fleet: all, web, worker or scheduler")
    ] = Role.ALL,
) -> None:
    """Run every configured platform; with none configured, the local console chat."""
    settings = _settings()
    if console and role != Role.ALL:
        typer.echo("--console runs with --role all only", err=True)
        raise typer.Exit(2)
    raise typer.Exit(asyncio.run(_serve(settings, console, role)))


@cli.command()
def migrate() -> None:
    """Apply pending database migrations (idempotent)."""
    settings = _settings()
    applied = asyncio.run(db.migrate(settings.database_url))
    typer.echo(f"migrations applied: {', '.join(applied)}" if applied else "database is up to date")


@cli.command()
def demo(
    out: Annotated[Path, typer.Option(help="where to write the console script")] = Path(
        "data/demo.txt"
    ),
) -> None:
    """Seed a demo brand, campaign, creators and posts; print a script that walks the loop."""
    from bot.demo import seed_demo

    settings = _settings()
    script = asyncio.run(seed_demo(settings))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(script, encoding="utf-8")
    typer.echo(script)
    typer.echo(f"# written to {out}; run it with: koxbot console --script {out}", err=True)


from bot.cli_links import links as links_command  # noqa: E402

cli.command("links")(links_command)


def main() -> None:
    cli()


__all__ = ["ConsoleError", "cli", "main"]
