"""How close a campaign's outline batch comes to the concurrency bound.

N creators, an OpenAI-compatible server (tests/fake_openai.py, in a child process so that its
work does not share our event loop) answering every completion after LATENCY seconds, and
OPENAI_CONCURRENCY = C. No batch can finish faster than N × LATENCY / C; this prints the time
`/outlines CAMPAIGN` took through the console (from the command to its summary), as a ratio to
that bound (1.00 is perfect), and, measured in the same rounds, the bare `openai` client making
the same N calls at the same concurrency with nothing else around them: the part of the ratio
that is the client's and the machine's, not koxbot's. Each round starts from no outlines; the
median round is the figure (a 2-core machine has the odd slow round), and the floor is what
even a perfect scheduler pays when C does not divide N: ceil(N / C) waves of LATENCY.

Run: .venv/bin/python -m bench.outlines [N] [LATENCY] [C] [ROUNDS]    (defaults: 200 0.05 16 5)
"""

from __future__ import annotations

import asyncio
import io
import math
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openai
from openai.types.chat import ChatCompletion

from bot.app import App
from bot.config import load_settings
from bot.core.clock import ManualClock
from bot.domain.outlines import OutlineRequest
from bot.platforms.console import ConsolePlatform
from bot.services.outlines import load_profiles
from storage.models import Campaign, Outline
from tests.factories import enroll_creators

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "e2e" / "scripts"
SETUP = ("boss@dm: /role mia manager ACME", "mia@dm: !file spring.yaml")


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--latency", str(latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        server.kill()
        raise SystemExit(f"the fake server did not start (said {base_url!r})")
    return server, base_url


async def bare_client(n: int, concurrency: int, base_url: str, system: str) -> float:
    """N chat completions with the openai client alone, `concurrency` at a time."""
    client = openai.AsyncOpenAI(api_key="bench", base_url=base_url, max_retries=0, timeout=30)
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        body = {
            "model": "bench",
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": f"Angle: qa\ncreator {i}"},
            ],
        }
        async with limit:
            await client.post("/chat/completions", body=body, cast_to=ChatCompletion)

    await one(-1)  # connection and lazy imports, as the batch's first call would pay
    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


async def run(n: int, latency: float, concurrency: int, rounds: int, base_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=f"sqlite://{tmp}/bench.sqlite3",
            admin_ids="console:boss",
            openai_api_key="bench",
            openai_base_url=base_url,
            openai_concurrency=concurrency,
            openai_timeout_seconds=30,
            _env_file=None,
        )
        clock = ManualClock(datetime(2026, 5, 20, 11, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
        async with App(settings, clock) as app:
            out = io.StringIO()
            console = ConsolePlatform(app, out=out, json_mode=True, base_dir=SCRIPTS)
            for line in SETUP:
                await console.feed(line)
            await enroll_creators("SPRING26", n, clock.now())
            campaign = await Campaign.get(code="SPRING26")
            profile = next(iter((await load_profiles(campaign, [1])).values()))
            system = app.outlines.prompts.system(
                OutlineRequest(campaign.code, campaign.name, campaign.spec, profile, "qa", "zh_CN")
            )
            bound = n * latency / concurrency
            floor = math.ceil(n / concurrency) * latency
            print(f"outlines for {n} creators, latency {latency * 1000:.0f} ms, "
                  f"concurrency {concurrency}, {rounds} rounds")  # fmt: skip
            print(f"bound N × latency / C        {bound:7.3f} s")
            print(f"floor ceil(N / C) × latency  {floor:7.3f} s   ratio {floor / bound:5.2f}")
            bares, batches = [], []
            for i in range(rounds):
                bare = await bare_client(n, concurrency, base_url, system)
                await Outline.filter(campaign_id=campaign.id).delete()
                start, cpu = time.perf_counter(), time.thread_time()
                await console.feed("mia@dm: /outlines SPRING26")
                elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
                made = await Outline.filter(status="ready", generator="llm").count()
                bares.append(bare)
                batches.append(elapsed)
                print(f"round {i + 1}: bare client {bare:6.3f} s ({bare / bound:4.2f}), "
                      f"/outlines {elapsed:6.3f} s ({elapsed / bound:4.2f}), "
                      f"{made}/{n} by the model, CPU here {cpu:.3f} s")  # fmt: skip
            bare, elapsed = statistics.median(bares), statistics.median(batches)
            print(f"bare openai client, N calls  {bare:7.3f} s   ratio {bare / bound:5.2f}"
                  "  (median)")  # fmt: skip
            print(f"/outlines (whole batch)      {elapsed:7.3f} s   ratio {elapsed / bound:5.2f}"
                  "  (median)")  # fmt: skip
            print(f"koxbot's share: /outlines ÷ bare client = {elapsed / bare:.2f}")
            print("last message:", out.getvalue().splitlines()[-1][:160])


def main() -> None:
    args = sys.argv[1:]
    n = int(args[0]) if len(args) > 0 else 200
    latency = float(args[1]) if len(args) > 1 else 0.05
    concurrency = int(args[2]) if len(args) > 2 else 16
    rounds = int(args[3]) if len(args) > 3 else 5
    server, base_url = start_server(latency)
    try:
        asyncio.run(run(n, latency, concurrency, rounds, base_url))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
