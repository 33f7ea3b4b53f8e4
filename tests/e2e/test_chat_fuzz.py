"""A stateful property test: random people, roles, commands, arguments, files, replays and
clock moves through the dispatcher (the chat surface), and after every step:

- no message reached the internal-error reply (every bad input gets a clear answer);
- the ledger equals the pricing of each creator's approved posts at their latest snapshot;
- no creator is ever shown another creator's post or money.

Each run starts from a copy of one seeded database (a brand, a priced campaign, three
creators, two approved posts), so that the steps reach money, review and settlement at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import os
import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from bot.app import App, load_handlers
from bot.core.clock import ManualClock
from bot.core.messages import Attachment, ChatRef, Incoming
from bot.domain.pricing import Metrics, PostInput, Pricing, in_bonus_window, price_creator
from storage.models import Campaign, Creator, LedgerEntry, MetricSnapshot, RoleGrant, Submission
from tests.conftest import AFTER_EMBARGO, SCRIPTS, Chat, make_settings, onboarding_answers
from tests.e2e.test_money import SETUP

T = TypeVar("T")
INTERNAL_ERROR = ("处理这条消息时出错了", "something went wrong handling that message")
CREATORS = ("ada", "ben", "cy")
PEOPLE = ("boss", "mia", "bea", *CREATORS, "zed")  # admin, manager, brand ops, creators, nobody
CHATS = ("dm", "dm", "car-club")
SEED_LINES = (*SETUP, *onboarding_answers("cy", code="ACME-M"), "mia@dm: /linkgroup MONEY1")

_registry = load_handlers()
WORDS = sorted(
    {f"/{name}" for name in _registry.commands}
    | {k for spec in _registry.commands.values() for k in spec.keywords}
    | {"/nosuchcommand", "/cancel", "取消", "确认", "1", "2", "3"}
)
HUGE = "99999999999999999999"
TOKENS = st.sampled_from([
    "MONEY1", "money1", "SPRING26", "ACME", "NOPE", "X" * 40, "1", "2", "3", "4", "0", "-1",
    HUGE, "-" + HUGE, "likes=100", "likes=" + HUGE, "comments=7", "shares=-3", "gmv=12.5",
    "gmv=" + HUGE, "点赞=1.2万", "views=1e9", "confirm", "paid", "detail", "明细", "new",
    "usage", "pause", "resume", "shift", "+30m", "-2h", f"-{HUGE}m", "on", "off", "09:00",
    "25:99", "week", "creator", "manager", "brand", "admin", "ada", "console:ada", "code=K1",
    "max=" + HUGE, "days=" + HUGE, "days=2", "tier=A", "city=上海", "platform=小红书",
    "campaign", "pending", "groups", "at", "2026-05-21", "10:00", "刷量", "复核不通过",
    "https://www.xiaohongshu.com/explore/6a0d23b0d4e5f6a7b8c9d0e9",
    "https://www.douyin.com/video/7641803381662272789",
    "https://v.douyin.com/iRNBho6u/", "http://", "<b>x</b>&", "{{ name }}",
    "{% for i in range(10) %}x{% endfor %}", "\x0e", "\u202e", "\x00", "🙂", "\n",
])  # fmt: skip
ARGS = st.lists(st.one_of(TOKENS, st.text(max_size=12)), max_size=4).map(" ".join)
POST = st.integers(1, 6)  # two approved posts at the start, more as creators submit
AMOUNT = st.sampled_from(["0", "12.5", "-3", "-100000", "0.001", "1e3", HUGE, "abc"])
LINK = st.integers(0, 2**40).map(lambda n: f"https://www.xiaohongshu.com/explore/6a0d{n:020x}")
MANAGER_LINES = st.one_of(
    st.builds("/approve {}".format, POST),
    st.builds("/reject {} {}".format, POST, st.sampled_from(["刷量", "", "\x0e"])),
    st.just("/review MONEY1"),
    st.just("/settle MONEY1"),
    st.builds("/settle MONEY1 paid {}".format, st.sampled_from(["", "1", "2", HUGE])),
    st.builds("/resolve {} {} 复核".format, st.integers(1, 3), AMOUNT),
    st.just("/disputes MONEY1"),
    st.just("/broadcast MONEY1"),
    st.sampled_from(["{{ name }} 记得交作业", "{{ nope }}", "{{ 'x' * 99999 }}", "pending"]),
    st.builds("/timeline MONEY1 shift {}".format, st.sampled_from(["+30m", "-2h", "+3d", "-1d"])),
    st.just("/export MONEY1"),
    st.just("/digest"),
    st.builds("/invite MONEY1 {}".format, st.sampled_from(["", "max=2", "code=K2 days=1"])),
)
CREATOR_LINES = st.one_of(
    st.builds("/submit {}".format, LINK),
    st.builds("/metrics {} likes={} comments={} gmv={}".format, POST, st.integers(0, 10**6),
              st.integers(0, 10**4), st.sampled_from(["0", "99.99", "1234.5"])),
    st.builds("/dispute {} 少算了".format, POST),
    st.sampled_from(["/earnings", "/earnings 明细", "/me", "/brief", "/kit", "/campaigns",
                     "/join MONEY1", "/leaderboard", "/outline"]),
)  # fmt: skip
FILES = st.sampled_from([
    ("spring.yaml", (SCRIPTS / "spring.yaml").read_bytes()),
    ("money.yaml", (SCRIPTS / "money.yaml").read_bytes()),
    ("laughs.yaml", b'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
     b"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"),
    ("deep.yaml", b"[" * 5000 + b"]" * 5000),
    ("junk.yaml", b"\xff\xfe\x00not yaml: [\n"),
    ("metrics.csv", "编号,点赞,评论\n1,120,8\n2,abc,\n999,1,1\n".encode()),
    ("metrics.xlsx", b"PK\x03\x04 not really a workbook"),
    ("empty.csv", b""),
    ("photo.png", b"\x89PNG\r\n"),
])  # fmt: skip


class _Seed:
    """One seeded database file, made on first use and copied for every run."""

    path: Path | None = None

    @classmethod
    def copy_to(cls, directory: Path) -> None:
        if cls.path is None:
            seed_dir = Path(tempfile.mkdtemp(prefix="koxbot-fuzz-seed-"))
            asyncio.run(cls._seed(seed_dir))
            cls.path = seed_dir / "koxbot.sqlite3"
        shutil.copy(cls.path, directory / "koxbot.sqlite3")

    @staticmethod
    async def _seed(directory: Path) -> None:
        async with App(make_settings(directory), ManualClock(AFTER_EMBARGO)) as app:
            await Chat(app, SCRIPTS).say(*SEED_LINES)


class ChatFuzz(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="koxbot-fuzz-"))
        _Seed.copy_to(self.directory)
        self.loop = asyncio.new_event_loop()
        self.context = contextvars.copy_context()  # every step runs in it: the app's db context
        self.clock = ManualClock(AFTER_EMBARGO)
        self.app = App(make_settings(self.directory), self.clock)
        self._await(self.app.start())
        self.chat = Chat(self.app, SCRIPTS)
        self.ids = itertools.count(1)
        self.last: Incoming | None = None
        self.said: list[dict] = []

    def _await(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(
            self.loop.create_task(coroutine, context=self.context)
        )

    def teardown(self) -> None:
        self._await(self.app.stop())
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, incoming: Incoming) -> None:
        self.last = incoming
        self._await(self.app.dispatcher.handle(incoming))
        self.said = self.chat.new()

    def _incoming(self, person: str, chat: str, text: str, **extra: object) -> Incoming:
        group = chat != "dm"
        return Incoming(
            chat=ChatRef("console", chat if group else person, group, chat if group else None),
            user_id=person,
            user_name=person,
            text=text,
            message_id=f"m{next(self.ids)}",
            **extra,  # type: ignore[arg-type]
        )

    @rule(person=st.sampled_from(PEOPLE), chat=st.sampled_from(CHATS),
          word=st.sampled_from(WORDS), args=ARGS)  # fmt: skip
    def command(self, person: str, chat: str, word: str, args: str) -> None:
        self._run(self._incoming(person, chat, f"{word} {args}".strip()))

    @rule(chat=st.sampled_from(CHATS), line=MANAGER_LINES)
    def manager(self, chat: str, line: str) -> None:
        self._run(self._incoming("mia", chat, line))

    @rule(confirm=st.sampled_from(["1", "确认", "取消"]))
    def settle(self, confirm: str) -> None:
        self._run(self._incoming("mia", "dm", "/settle MONEY1"))
        said = self.said
        self._run(self._incoming("mia", "dm", confirm))
        self.said = said + self.said

    @rule(text=st.sampled_from(["{{ name }} 记得交作业 \x0e", "{{ nope }}", "{{ 'x' * 99999 }}"]),
          audience=st.sampled_from(["1", "2", "3", "pending tier=B"]),
          confirm=st.sampled_from(["1", "确认", "取消", "at 2026-05-21 09:00"]))  # fmt: skip
    def broadcast(self, text: str, audience: str, confirm: str) -> None:
        said = []
        for line in ("/broadcast MONEY1", text, audience, confirm):
            self._run(self._incoming("mia", "dm", line))
            said += self.said
        self.said = said

    @rule(person=st.sampled_from(CREATORS), chat=st.sampled_from(CHATS), line=CREATOR_LINES)
    def creator(self, person: str, chat: str, line: str) -> None:
        self._run(self._incoming(person, chat, line))

    @rule(person=st.sampled_from(PEOPLE), chat=st.sampled_from(CHATS), text=st.text(max_size=40))
    def chatter(self, person: str, chat: str, text: str) -> None:
        self._run(self._incoming(person, chat, text))

    @rule(person=st.sampled_from(PEOPLE), answer=st.sampled_from(["1", "2", "3", "取消"]))
    def answer(self, person: str, answer: str) -> None:
        self._run(self._incoming(person, "dm", answer))

    @rule(person=st.sampled_from(PEOPLE), file=FILES)
    def send_file(self, person: str, file: tuple[str, bytes]) -> None:
        attachment = Attachment(*file)
        self._run(self._incoming(person, "dm", "", attachments=(attachment,)))

    @rule(post=st.sampled_from([1, 2, 3]), likes=st.integers(0, 10**7),
          comments=st.integers(0, 5000))  # fmt: skip
    def metrics(self, post: int, likes: int, comments: int) -> None:
        owner = CREATORS[(post - 1) % 2]
        self._run(self._incoming(owner, "dm", f"/metrics {post} likes={likes} comments={comments}"))

    @rule()
    def replay(self) -> None:
        if self.last is not None:
            self._run(replace(self.last))  # the same message id again

    @rule(minutes=st.integers(1, 3 * 24 * 60))
    def advance(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        self._await(self.app.tick())
        self.said = self.chat.new()

    @invariant()
    def no_internal_errors(self) -> None:
        for message in self.said:
            assert not any(marker in message["text"] for marker in INTERNAL_ERROR), message

    @invariant()
    def the_ledger_equals_pricing(self) -> None:
        self._await(_check_ledger())

    @invariant()
    def nobody_sees_another_creators_posts(self) -> None:
        self._await(_check_privacy(self.said))


async def _latest_metrics(submission: Submission) -> Metrics:
    snapshot = await MetricSnapshot.filter(submission_id=submission.id).order_by("-id").first()
    if snapshot is None:
        return Metrics()
    return Metrics(**{name: getattr(snapshot, name) for name in Metrics.__dataclass_fields__})


async def _check_ledger() -> None:
    accrued: dict[int, int] = defaultdict(int)
    for submission_id, amount in await LedgerEntry.filter(
        kind__in=("accrual", "reversal")
    ).values_list("submission_id", "amount_fen"):
        accrued[submission_id] += amount
    for campaign in await Campaign.all():
        pricing = Pricing.from_spec(campaign.spec["pricing"])
        for creator in await Creator.all():
            posts = await Submission.filter(
                campaign_id=campaign.id, creator_id=creator.id
            ).order_by("id")
            approved = [p for p in posts if p.status == "approved"]
            inputs = [
                PostInput(
                    await _latest_metrics(p),
                    in_bonus_window(pricing, campaign.embargo_at, p.created_at),
                )
                for p in approved
            ]
            priced = price_creator(pricing, inputs, creator.tier)
            prices = dict(zip([p.id for p in approved], priced, strict=True))
            for post in posts:
                want = prices[post.id].total_fen if post.id in prices else 0
                assert accrued[post.id] == want, (post.id, post.status, accrued[post.id], want)


async def _check_privacy(said: list[dict]) -> None:
    """A creator without a staff role never gets a DM naming someone else's post."""
    staff = set(
        await RoleGrant.filter(role__in=("manager", "brand", "admin")).values_list(
            "person__identities__user_id", flat=True
        )
    ) | {"boss"}
    posts = await Submission.all().values_list(
        "canonical_url", "creator__person__identities__user_id"
    )
    for message in said:
        to = message["to"]
        if message["chat"] != "dm" or to in staff:
            continue
        for url, owner in posts:
            shown = re.search(re.escape(url) + r"(?![\w/])", message["text"])
            assert owner == to or not shown, (to, url, message["text"])


# KOXBOT_FUZZ_EXAMPLES=500 for a longer hunt than the suite's.
ChatFuzz.TestCase.settings = settings(
    max_examples=int(os.environ.get("KOXBOT_FUZZ_EXAMPLES", "20")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestChatFuzz = ChatFuzz.TestCase
