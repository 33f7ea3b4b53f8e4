"""How fast the core handles inbound messages, end to end through the console platform.

Prints messages per second for three kinds of traffic on a fresh SQLite file, and each as a
ratio to a baseline in the same process: the bare cost of one dedupe insert per message.
Run: .venv/bin/python -m bench.dispatch [N]
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import App
from bot.config import load_settings
from bot.core.clock import ManualClock
from bot.platforms.console import ConsolePlatform
from storage.models import ProcessedMessage

SCRIPTS = Path(__file__).resolve().parents[1] / "tests" / "e2e" / "scripts"
SETUP = (
    "boss@dm: /role mia manager ACME",
    "mia@dm: !file spring.yaml",
    "mia@dm: /invite SPRING26 code=ACME-KOC",
    "ada@dm: /start ACME-KOC", "ada@dm: 1", "ada@dm: 上海", "ada@dm: 汽车", "ada@dm: 1",
    "ada@dm: ada_xhs", "ada@dm: 3200", "ada@dm: 2", "ada@dm: 1",
)  # fmt: skip


async def _timed(console: ConsolePlatform, lines: list[str]) -> float:
    start = time.perf_counter()
    for line in lines:
        await console.feed(line)
    return time.perf_counter() - start


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=f"sqlite://{tmp}/bench.sqlite3", admin_ids="console:boss", _env_file=None
        )
        clock = ManualClock(datetime(2026, 5, 20, 11, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
        async with App(settings, clock) as app:
            console = ConsolePlatform(app, out=io.StringIO(), json_mode=True, base_dir=SCRIPTS)
            for line in SETUP:
                await console.feed(line)

            start = time.perf_counter()
            for i in range(n):
                await ProcessedMessage.create(platform="bench", chat_id="c", message_id=str(i))
            baseline = time.perf_counter() - start

            runs = {
                "group chatter (ignored)": [f"ben@club: 今天天气不错 {i}" for i in range(n)],
                "/help in DM": ["ada@dm: /help"] * n,
                "/submit a new post": [
                    f"ada@dm: /submit https://www.douyin.com/video/7{i:018d}" for i in range(n)
                ],
            }
            print(f"baseline: one dedupe insert  {n / baseline:8.0f} msg/s")
            for name, lines in runs.items():
                elapsed = await _timed(console, lines)
                print(f"{name:28} {n / elapsed:8.0f} msg/s  ({elapsed / baseline:5.1f}× baseline)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
