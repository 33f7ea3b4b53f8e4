"""A Bot API–shaped HTTP server on loopback for the Telegram tests (and the bench).

The real aiogram stack talks HTTP to it. It records what the bot sends, lets a test inject
updates as users in private chats and groups, enforces Telegram-like rate limits (answering
429 with retry_after), answers 403 for users who blocked the bot, and serves files. As Telegram
does when two processes long-poll one bot, a getUpdates that arrives while another is waiting
ends the waiting one with 409 Conflict (counted in `conflicts_409`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

BOT_ID = 777000
BOT_USERNAME = "koxbot_test_bot"
CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)


@dataclass
class Limits:
    """Telegram's documented pace; tests scale the windows down to stay fast."""

    global_per_second: int = 30
    private_per_window: int = 1
    private_window: float = 1.0
    group_per_window: int = 20
    group_window: float = 60.0


@dataclass
class Sent:
    method: str
    chat_id: int
    text: str
    params: dict[str, Any]
    message_id: int

    @property
    def buttons(self) -> list[tuple[str, str]]:
        markup = self.params.get("reply_markup") or {}
        return [
            (b["text"], b["callback_data"])
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]


@dataclass
class FakeTelegram:
    token: str = "123456:TEST-TOKEN"
    limits: Limits | None = None  # None: no rate limits
    sent: list[Sent] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    commands: dict[str, list[dict]] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    too_many_429s: int = 0  # 429s answered
    conflicts_409: int = 0  # waiting getUpdates ended by another getUpdates
    answers: list[dict] = field(default_factory=list)  # answerCallbackQuery calls
    forced_429: dict[int, int] = field(default_factory=dict)  # chat_id → retry_after, once
    files: dict[str, bytes] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    sent_times: list[float] = field(default_factory=list)  # monotonic, one per accepted send
    latency: float = 0.0  # seconds each send takes to answer, as over a real network

    def __post_init__(self) -> None:
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._waiting: asyncio.Future[str] | None = None  # the long poll now waiting, if any
        self._recent: dict[Any, deque[float]] = defaultdict(deque)
        self.sent_counts: Counter[int] = Counter()  # accepted sends (not edits) per chat
        self._arrived: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ----------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> str:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    # ----------------------------------------------------------------- what users do

    def user(self, user_id: int, name: str) -> dict:
        return {"id": user_id, "is_bot": False, "first_name": name, "username": name.lower()}

    def _chat(self, chat_id: int, title: str | None, user: dict) -> dict:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        return {"id": chat_id, "type": "supergroup", "title": title or f"group {chat_id}"}

    def _push(self, update: dict) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self.last_update = self._updates[-1]
        self._wake("update")
        return update_id

    def message(
        self,
        user_id: int,
        name: str,
        text: str | None = None,
        chat_id: int | None = None,
        title: str | None = None,
        document: tuple[str, bytes] | None = None,
        message_id: int | None = None,
        entities: list[dict] | None = None,
    ) -> int:
        """A user writes (in their private chat unless `chat_id` names a group)."""
        user = self.user(user_id, name)
        chat_id = chat_id if chat_id is not None else user_id
        message: dict[str, Any] = {
            "message_id": message_id or next(self._message_ids[chat_id]),
            "date": int(time.time()),
            "chat": self._chat(chat_id, title, user),
            "from": user,
        }
        if text is not None:
            message["caption" if document else "text"] = text
            if text.startswith("/") and not document:
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if entities:
            message["entities"] = entities
        if document:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = document[1]
            message["document"] = {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_name": document[0],
                "file_size": len(document[1]),
            }
        self._push({"message": message})
        return message["message_id"]

    def press(self, user_id: int, name: str, sent: Sent, label: str) -> None:
        """A user presses the inline button `label` under a message the bot sent."""
        data = dict(sent.buttons)[label]
        user = self.user(user_id, name)
        self._push(
            {
                "callback_query": {
                    "id": f"cb{next(self._update_ids)}",
                    "from": user,
                    "chat_instance": "ci",
                    "data": data,
                    "message": {
                        "message_id": sent.message_id,
                        "date": int(time.time()),
                        "chat": self._chat(sent.chat_id, None, user),
                        "from": self.user(BOT_ID, BOT_USERNAME),
                        "text": sent.text,
                    },
                }
            }
        )

    def members_joined(self, chat_id: int, title: str, *users: tuple[int, str]) -> None:
        members = [self.user(uid, name) for uid, name in users]
        self._push(
            {
                "message": {
                    "message_id": next(self._message_ids[chat_id]),
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "supergroup", "title": title},
                    "from": members[0],
                    "new_chat_members": members,
                }
            }
        )

    # ----------------------------------------------------------------- what the bot did

    def to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> Sent:
        """The first sent message (past or future) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.sent:
                if predicate(item):
                    return item
            await asyncio.sleep(0.02)
        raise AssertionError(f"nothing matching was sent within {timeout}s; sent: {self.sent[-5:]}")

    async def wait_sent_to(self, chat_id: int, count: int, timeout: float = 30.0) -> None:
        """Until `count` messages (edits not counted) have been sent to `chat_id`; woken by
        each send rather than polling, so that a bench's many waiters cost nothing."""
        try:
            async with asyncio.timeout(timeout):
                while self.sent_counts[chat_id] < count:
                    arrived = self._arrived[chat_id]
                    arrived.clear()
                    await arrived.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.sent_counts[chat_id]} of {count} sent to {chat_id} in {timeout}s"
            ) from None

    async def wait_for_count(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert len(self.sent) >= count, f"{len(self.sent)} of {count} sent in {timeout}s"

    # ----------------------------------------------------------------- HTTP

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                for key, value in form.items():
                    params[key] = value
        for key, value in list(params.items()):
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"].lower()
        params = await self._params(request)
        self.calls.append(method)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, f"Not Found: method {method} is not in the fake")
        return await handler(params)

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["path"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    async def _m_getme(self, params: dict) -> web.Response:
        return _ok({**self.user(BOT_ID, "koxbot"), "is_bot": True, "username": BOT_USERNAME})

    async def _m_deletewebhook(self, params: dict) -> web.Response:
        self.webhook = None
        return _ok(True)

    async def _m_setwebhook(self, params: dict) -> web.Response:
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        return _ok(True)

    async def _m_setmycommands(self, params: dict) -> web.Response:
        scope = (params.get("scope") or {}).get("type", "default")
        key = f"{scope}:{params.get('language_code', '')}"
        self.commands[key] = params["commands"]
        return _ok(True)

    def _wake(self, why: str) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(why)

    async def _m_getupdates(self, params: dict) -> web.Response:
        offset = int(params.get("offset", 0) or 0)
        timeout = min(float(params.get("timeout", 0) or 0), 0.5)
        # Telegram serves one long poll per bot: this request ends the one waiting, if any.
        self._wake("conflict")
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout:
            woken = self._waiting = asyncio.get_running_loop().create_future()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(woken), timeout)
            finally:
                if self._waiting is woken:
                    self._waiting = None
            if woken.done() and woken.result() == "conflict":
                self.conflicts_409 += 1
                return _error(409, CONFLICT)
        return _ok([u for u in self._updates if u["update_id"] >= offset])

    async def _m_answercallbackquery(self, params: dict) -> web.Response:
        self.answers.append(params)
        return _ok(True)

    async def _m_getfile(self, params: dict) -> web.Response:
        file_id = params["file_id"]
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        return _ok({"file_id": file_id, "file_unique_id": f"u{file_id}", "file_path": file_id})

    async def _m_getchatmember(self, params: dict) -> web.Response:
        user = self.user(int(params["user_id"]), "member")
        return _ok({"status": "member", "user": user})

    async def _m_sendmessage(self, params: dict) -> web.Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._send("sendMessage", params, params.get("text", ""))

    async def _m_senddocument(self, params: dict) -> web.Response:
        return self._send("sendDocument", params, params.get("caption", ""))

    async def _m_sendphoto(self, params: dict) -> web.Response:
        return self._send("sendPhoto", params, params.get("caption", ""))

    async def _m_editmessagetext(self, params: dict) -> web.Response:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        if params.get("parse_mode") == "HTML" and (problem := html_problem(params["text"])):
            return _error(400, f"Bad Request: can't parse entities: {problem}")
        if not any(s.chat_id == chat_id and s.message_id == message_id for s in self.sent):
            return _error(400, "Bad Request: message to edit not found")
        self.sent.append(
            Sent("editMessageText", chat_id, params.get("text", ""), params, message_id)
        )
        return _ok(self._message_json(chat_id, message_id, params.get("text", "")))

    def _send(self, method: str, params: dict, text: str) -> web.Response:
        chat_id = int(params["chat_id"])
        if params.get("parse_mode") == "HTML" and (problem := html_problem(text)):
            return _error(400, f"Bad Request: can't parse entities: {problem}")
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.forced_429:
            self.too_many_429s += 1
            return _retry_after(self.forced_429.pop(chat_id))
        if self.limits and (wait := self._over_limit(chat_id)):
            self.too_many_429s += 1
            return _retry_after(wait)
        message_id = next(self._message_ids[chat_id])
        self.sent.append(Sent(method, chat_id, text, params, message_id))
        self.sent_times.append(time.monotonic())
        self.sent_counts[chat_id] += 1
        self._arrived[chat_id].set()
        return _ok(self._message_json(chat_id, message_id, text))

    def _over_limit(self, chat_id: int) -> int:
        """0 when the send is within the limits (and is counted), else seconds to wait."""
        assert self.limits is not None
        now = time.monotonic()
        rules = [("global", self.limits.global_per_second, 1.0)]
        if chat_id > 0:
            rules.append((chat_id, self.limits.private_per_window, self.limits.private_window))
        else:
            rules.append((chat_id, self.limits.group_per_window, self.limits.group_window))
        for key, count, window in rules:
            recent = self._recent[key]
            while recent and recent[0] <= now - window:
                recent.popleft()
            if len(recent) >= count:
                return max(1, int(recent[0] + window - now + 0.999))
        for key, _, _ in rules:
            self._recent[key].append(now)
        return 0

    def _message_json(self, chat_id: int, message_id: int, text: str) -> dict:
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        if chat_id < 0:
            chat["title"] = f"group {chat_id}"
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "koxbot",
                "username": BOT_USERNAME,
            },
            "text": text,
        }


TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
                 "tg-spoiler", "a", "tg-emoji", "code", "pre", "blockquote"}  # fmt: skip


class _TelegramHTML(HTMLParser):
    """Telegram's HTML parse mode: its few tags, each closed in order, nothing left open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problem = self.problem or f"unsupported start tag \"{tag}\""
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problem = self.problem or f"unexpected end tag \"{tag}\""
            return
        self.open.pop()


def html_problem(text: str) -> str | None:
    """Why the real Bot API would refuse this text with parse_mode=HTML, or None."""
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.problem is None and parser.open:
        return f"can't find end tag corresponding to start tag \"{parser.open[-1]}\""
    return parser.problem


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": code, "description": description}, status=code
    )


def _retry_after(seconds: int) -> web.Response:
    return web.json_response(
        {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {seconds}",
            "parameters": {"retry_after": seconds},
        },
        status=429,
    )
