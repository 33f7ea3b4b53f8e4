"""The `koxbot` command: run, console, migrate, demo."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.app import App
from bot.config import ConfigError, Settings, load_settings
from bot.core.clock import Clock, ManualClock, OffsetClock
from bot.platforms.console import ConsoleError, ConsolePlatform
from storage import db

log = logging.getLogger("koxbot")

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


async def _serve(settings: Settings, with_console: bool) -> int:
    """The configured platforms, the outbox worker, and the console when asked or alone."""
    platforms: list = []
    starting: list[asyncio.Task[None]] = []  # platforms that connect in the background
    async with App(settings, OffsetClock()) as app:
        worker = asyncio.create_task(app.outbox.run(), name="outbox")
        scheduler = asyncio.create_task(app.scheduler.run(), name="scheduler")
        try:
            if settings.telegram_bot_token is not None:
                from bot.platforms.telegram import TelegramPlatform

                telegram = TelegramPlatform(app)
                platforms.append(telegram)
                starting.append(
                    asyncio.create_task(telegram.start_when_reachable(), name="telegram-start")
                )
            if settings.wechaty_puppet_service_endpoint is not None:
                from bot.platforms.wechat import WeChatPlatform

                wechat = WeChatPlatform(app)
                await wechat.start()  # an outage is logged; WeChat reconnects on its own
                platforms.append(wechat)
            if with_console or not platforms:
                await _interactive(ConsolePlatform(app))
            else:
                return await _until_signalled(starting)
        finally:
            for task in starting:
                task.cancel()
            await asyncio.gather(*starting, return_exceptions=True)
            await app.scheduler.stop()
            await scheduler
            await app.outbox.stop()
            await worker
            for platform in platforms:
                await platform.stop()
    return 0


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
) -> None:
    """Run every configured platform; with none configured, the local console chat."""
    settings = _settings()
    raise typer.Exit(asyncio.run(_serve(settings, console)))


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
