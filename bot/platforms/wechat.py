"""WeChat through python-wechaty and a wechaty puppet service (gRPC), and the outbox's sender.

The adapter only translates: wechaty's message / friendship / room-join events become
`Incoming`s for the core, `Outgoing`s become puppet calls. Friend chats are DMs (chat id = the
contact id); room messages all go to the core with `mentions_bot` set, and the core stays
quiet on chatter. Choices are numbered lines; replies in rooms @mention the person.

wechaty is isolated in its own thread and event loop: its `start()` swallows errors, sleeps
and restarts, and calls `loop.stop()` when the endpoint is unreachable, so a WeChat outage
must never reach Telegram, the scheduler or the console. Inbound events cross to the main
loop (storage, the core) with `run_coroutine_threadsafe`; sends cross the other way. We never
rely on wechaty's process-global caches or message-id set across restarts: payloads are read
from the puppet, and our own dedupe is in the database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import re
import socket
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from grpclib import GRPCError
from grpclib.const import Status
from grpclib.exceptions import StreamTerminatedError

from bot.core.messages import Attachment, ChatRef, Incoming, Outgoing, plain
from bot.core.outbox import DeliveryError
from bot.core.ratelimit import Limit
from bot.domain.statuses import OutboxStatus
from bot.platforms import wechat_compat

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

PLATFORM = "wechat"
AT_SEPARATOR = "\u2005"  # WeChat writes "@name" followed by this four-per-em space
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
STOP_TIMEOUT_SECONDS = 10.0
T = TypeVar("T")

# Permanent failures: the conversation or the request is wrong, trying again will not help.
PERMANENT = {Status.NOT_FOUND, Status.INVALID_ARGUMENT, Status.FAILED_PRECONDITION}


def free_port() -> int:
    """A free local TCP port (wechaty's plugin server must not collide with another bot)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_port(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.strip().removeprefix("http://").rpartition(":")
    return host or "127.0.0.1", int(port)


def render_text(message: Outgoing) -> str:
    """The text as WeChat shows it: choices are numbered lines, answered with the number."""
    lines = [plain(message.text)] if message.text else []
    lines += [f"{i}. {choice.label}" for i, choice in enumerate(message.choices, 1)]
    return "\n".join(lines)


def strip_mention(text: str, name: str | None) -> str:
    """Drop "@<bot name>" (as WeChat writes it) so that "@bot /earnings" reads as a command."""
    if not name:
        return text
    pattern = re.compile(rf"@{re.escape(name)}(?:{AT_SEPARATOR}| |$)")
    return pattern.sub("", text).strip()


class WeChatSender:
    """Puppet calls for the outbox, at a slow pace with jitter and under a daily cap.

    WeChat bans accounts that send fast: one message every `interval` seconds plus a random
    `jitter`, whatever the chat; past `daily_cap` messages in a (local) day the rest are held,
    not dropped, until midnight."""

    def __init__(
        self,
        platform: WeChatPlatform,
        interval: float,
        jitter: float,
        daily_cap: int,
        rng: random.Random | None = None,
    ) -> None:
        self.platform = platform
        self.interval, self.jitter, self.daily_cap = interval, jitter, daily_cap
        self._rng = rng or random.Random()
        self._gap = self._next_gap()
        self._cap_reported: datetime | None = None

    def _next_gap(self) -> float:
        return self.interval + (self._rng.uniform(0, self.jitter) if self.jitter > 0 else 0.0)

    def limits(self, chat: ChatRef) -> tuple[Limit, Limit]:
        pace = Limit(1, self._gap)
        return pace, pace

    async def send(self, message: Outgoing) -> str | None:
        await self._check_cap()
        self._gap = self._next_gap()  # the pause after this send, drawn once
        try:
            return await self.platform.deliver(message)
        except GRPCError as exc:
            detail = f"{exc.status.name}: {exc.message}"
            if exc.status == Status.RESOURCE_EXHAUSTED:
                raise DeliveryError(detail, retry_after=60.0, everywhere=True) from exc
            if exc.status == Status.PERMISSION_DENIED:
                raise DeliveryError(detail, blocked=not message.chat.is_group) from exc
            raise DeliveryError(detail, permanent=exc.status in PERMANENT) from exc
        except FileNotFoundError as exc:
            raise DeliveryError(f"file to send is gone: {exc}", permanent=True) from exc
        except (StreamTerminatedError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc

    async def _check_cap(self) -> None:
        app = self.platform.app
        now = app.clock.now().astimezone(app.settings.tz)
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        store = app.outbox.store
        sent = await store.count(PLATFORM, (OutboxStatus.SENT,), sent_since=day_start)
        if sent < self.daily_cap:
            return
        tomorrow = day_start + timedelta(days=1)
        if self._cap_reported != day_start:
            self._cap_reported = day_start
            waiting = await store.count(PLATFORM, (OutboxStatus.PENDING, OutboxStatus.SENDING))
            log.warning(
                "wechat: daily cap of %d messages reached; %d waiting messages go after %s",
                self.daily_cap,
                waiting,
                tomorrow.isoformat(timespec="minutes"),
            )
        raise DeliveryError(
            f"daily cap of {self.daily_cap} messages reached; held until {tomorrow.isoformat()}",
            retry_after=max(1.0, (tomorrow - now).total_seconds()),
            everywhere=True,
        )


class WeChatPlatform:
    def __init__(self, app: App) -> None:
        settings = app.settings
        assert settings.wechaty_puppet_service_endpoint is not None
        assert settings.wechaty_puppet_service_token is not None
        self.app = app
        self.endpoint = settings.wechaty_puppet_service_endpoint
        self.api = wechat_compat.load(settings.wechat_cache_dir)
        self.sender = WeChatSender(
            self,
            interval=settings.wechat_send_interval_seconds,
            jitter=settings.wechat_send_jitter_seconds,
            daily_cap=settings.wechat_daily_cap,
        )
        self.self_id: str | None = None
        self.self_name: str | None = None
        self._main: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # wechaty's, in its thread
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._bot: Any = None
        self._stopping = threading.Event()
        self._logged_in: asyncio.Event | None = None
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._last_problem: str | None = None

    @property
    def connected(self) -> bool:
        return self._logged_in is not None and self._logged_in.is_set()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start wechaty beside the rest; wait for its login up to the configured timeout.

        Never raises for an outage: WeChat keeps reconnecting in its thread while the other
        platforms run, and messages for it wait in the outbox."""
        self._main = asyncio.get_running_loop()
        self._logged_in = asyncio.Event()
        self._stopping.clear()
        self.app.outbox.register(PLATFORM, self.sender)
        self._thread = threading.Thread(target=self._run, name="wechaty", daemon=True)
        self._thread.start()
        timeout = self.app.settings.wechat_login_timeout_seconds
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout)
        except TimeoutError:
            log.warning(
                "wechat: not logged in after %.0fs (puppet service %s); "
                "the other platforms run on and WeChat keeps trying",
                timeout,
                self.endpoint,
            )

    async def stop(self) -> None:
        """Cancel wechaty's `start()` first, then stop it, then end its thread."""
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in the meantime
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_SECONDS * 2)
            if self._thread.is_alive():
                log.warning("wechat: the wechaty thread did not stop in time")
            self._thread = None
        if self._logged_in is not None:
            self._logged_in.clear()

    def _run(self) -> None:
        """wechaty's thread: connect, serve until the stream ends, reconnect, until stopped."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            while not self._stopping.is_set():
                problem = loop.run_until_complete(self._session())
                if self._stopping.is_set():
                    break
                self._mark_logged_out()
                self._report(problem)
                self._stopping.wait(self.app.settings.wechat_reconnect_seconds)
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            self._loop = None
            loop.close()

    async def _session(self) -> str:
        """One connection: returns what ended it, in words."""
        host, port = host_port(self.endpoint)
        try:  # our own probe, so that wechaty never gets to `loop.stop()` on a dead endpoint
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        except (OSError, TimeoutError) as exc:
            return f"cannot reach the puppet service at {self.endpoint} ({type(exc).__name__})"
        bot = self._new_bot()
        self._bot = bot
        self._task = asyncio.get_running_loop().create_task(bot.start(), name="wechaty-start")
        try:
            await self._task
            problem = f"the event stream from {self.endpoint} ended"
        except asyncio.CancelledError:
            problem = "stopped"
        except Exception as exc:  # wechaty swallows most; whatever escapes is reported once
            problem = f"wechaty failed: {type(exc).__name__}: {exc}"
        finally:
            self._task = None
            await self._shutdown(bot)
        return problem

    async def _shutdown(self, bot: Any) -> None:
        with contextlib.suppress(Exception):
            bot._plugin_manager.scheduler.shutdown(wait=False)
        if getattr(bot, "_puppet", None) is not None:
            try:
                await asyncio.wait_for(bot.stop(), STOP_TIMEOUT_SECONDS)
            except Exception as exc:  # the service may be gone already
                log.debug("wechat: stop() failed: %s", exc)
        self._bot = None

    def _report(self, problem: str) -> None:
        """One clear line per kind of trouble; repeats are quiet until WeChat is back."""
        retry = self.app.settings.wechat_reconnect_seconds
        if problem != self._last_problem:
            log.warning("wechat: %s; retrying every %.0fs", problem, retry)
        else:
            log.debug("wechat: %s; retrying in %.0fs", problem, retry)
        self._last_problem = problem

    def _new_bot(self) -> Any:
        api = self.api
        settings = self.app.settings
        token = settings.wechaty_puppet_service_token
        assert token is not None
        platform = self

        class KoxWechaty(api.Wechaty):  # type: ignore[misc,name-defined]
            async def init_puppet_event_bridge(self, puppet: Any) -> None:
                await super().init_puppet_event_bridge(puppet)
                puppet.on("error", platform._on_error)  # handler errors surface here too

        options = api.WechatyOptions(
            puppet="wechaty-puppet-service",
            puppet_options=api.PuppetOptions(
                end_point=self.endpoint, token=token.get_secret_value()
            ),
            host="127.0.0.1",
            port=free_port(),
        )
        bot = KoxWechaty(options)
        bot.on("login", self._on_login)
        bot.on("message", self._on_message)
        bot.on("friendship", self._on_friendship)
        bot.on("room-join", self._on_room_join)
        bot.on("error", self._on_error)
        return bot

    # ----------------------------------------------------------------- crossing loops

    async def _to_core(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on the main loop (storage, the core) from wechaty's thread."""
        assert self._main is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._main)  # type: ignore[arg-type]
        return await asyncio.wrap_future(future)

    async def _on_wechaty(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a puppet call on wechaty's loop from the main loop."""
        loop, bot = self._loop, self._bot
        if loop is None or bot is None or not self.connected:
            raise DeliveryError(
                "wechat is not connected",
                retry_after=self.app.settings.wechat_reconnect_seconds,
                everywhere=True,
            )

        async def call() -> T:
            return await make()

        future = asyncio.run_coroutine_threadsafe(call(), loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), 60)

    def _mark_logged_out(self) -> None:
        main, event = self._main, self._logged_in
        if main is not None and event is not None and not main.is_closed():
            with contextlib.suppress(RuntimeError):
                main.call_soon_threadsafe(event.clear)

    # ----------------------------------------------------------------- events → core

    async def _on_login(self, contact: Any) -> None:
        self.self_id = contact.contact_id
        payload = await self._bot.puppet.contact_payload(contact.contact_id)
        self.self_name = payload.name or None
        self._last_problem = None
        log.info("wechat: logged in as %s (%s)", self.self_name, self.self_id)
        main, event = self._main, self._logged_in
        assert main is not None and event is not None
        name = self.self_name

        def logged_in() -> None:
            if name:
                self.app.dispatcher.bot_usernames[PLATFORM] = name
            event.set()

        main.call_soon_threadsafe(logged_in)

    async def _on_message(self, message: Any) -> None:
        payload = message.payload
        if not payload.from_id or payload.from_id == self.self_id:
            return  # the bot's own messages, echoed back by the puppet
        lock = self._chat_locks.setdefault(payload.room_id or payload.from_id, asyncio.Lock())
        async with lock:  # one chat's messages reach the core in the order they came
            incoming = await self._incoming(message)
            if incoming is not None:
                await self._to_core(self.app.dispatcher.handle(incoming))

    async def _incoming(self, message: Any) -> Incoming | None:
        payload = message.payload
        puppet = self._bot.puppet
        kinds = self.api.MessageType
        attachments: tuple[Attachment, ...] = ()
        text = payload.text or ""
        if payload.type == kinds.MESSAGE_TYPE_ATTACHMENT:
            attachment = await self._attachment(payload.id, payload.filename)
            if attachment is None:
                return None
            attachments, text = (attachment,), ""
        elif payload.type != kinds.MESSAGE_TYPE_TEXT:
            return None  # images, voice, stickers …: nothing the core reads
        talker = await puppet.contact_payload(payload.from_id)
        mentions = False
        if payload.room_id:
            room = await puppet.room_payload(payload.room_id)
            chat = ChatRef(PLATFORM, payload.room_id, True, room.topic or None)
            named = bool(self.self_name) and f"@{self.self_name}" in text
            mentions = named or (self.self_id in (payload.mention_ids or []))
            text = strip_mention(text, self.self_name)
        else:
            chat = ChatRef(PLATFORM, payload.from_id, False)
        return Incoming(
            chat=chat,
            user_id=payload.from_id,
            user_name=talker.alias or talker.name or payload.from_id,
            username=talker.weixin or None,
            text=text,
            message_id=payload.id,
            attachments=attachments,
            mentions_bot=mentions,
        )

    async def _attachment(self, message_id: str, filename: str) -> Attachment | None:
        box = await self._bot.puppet.message_file(message_id)
        kinds = self.api.FileBoxType
        name = box.name or filename or "document"
        if box.type() == kinds.Base64:
            raw = box.base64
            data = base64.b64decode(raw if isinstance(raw, bytes | str) else str(raw))
        elif box.type() == kinds.Url:
            timeout = aiohttp.ClientTimeout(total=60)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(box.remoteUrl) as response,
            ):
                response.raise_for_status()
                data = await response.content.read(MAX_DOCUMENT_BYTES + 1)
        else:
            log.info("wechat: file message %s in an unsupported box type", message_id)
            return None
        if len(data) > MAX_DOCUMENT_BYTES:
            log.info("wechat: file %s is over %d bytes; ignored", name, MAX_DOCUMENT_BYTES)
            return None
        return Attachment(name, data)

    async def _on_friendship(self, friendship: Any) -> None:
        payload = friendship.payload
        if payload.type != self.api.FriendshipType.FRIENDSHIP_TYPE_RECEIVE:
            return
        code = await self._to_core(self._invite_code(payload.hello or ""))
        if code is None:
            log.info("wechat: friend request from %s without a valid invite code", payload.id)
            return
        await friendship.accept()
        contact = await self._bot.puppet.contact_payload(payload.contact_id)
        incoming = Incoming(
            chat=ChatRef(PLATFORM, payload.contact_id, False),
            user_id=payload.contact_id,
            user_name=contact.name or payload.contact_id,
            username=contact.weixin or None,
            text=f"/start {code}",
            message_id=f"friendship:{payload.id}",
        )
        await self._to_core(self.app.dispatcher.handle(incoming))

    async def _invite_code(self, hello: str) -> str | None:
        """The greeting's usable invite code, if any (runs on the main loop)."""
        return await self.app.invite_code_in(hello)

    async def _on_room_join(self, room: Any, invitees: list[Any], inviter: Any, date: Any) -> None:
        puppet = self._bot.puppet
        payload = await puppet.room_payload(room.room_id)
        chat = ChatRef(PLATFORM, room.room_id, True, payload.topic or None)
        names = []
        for invitee in invitees:
            if invitee.contact_id == self.self_id:
                continue
            contact = await puppet.contact_payload(invitee.contact_id)
            names.append(contact.name or invitee.contact_id)
        if names:
            await self._to_core(self.app.dispatcher.welcome(chat, names))
        else:  # the bot itself was added: remember the room
            await self._to_core(self.app.dispatcher.group_seen(chat))

    def _on_error(self, error: Any) -> None:
        if isinstance(error, BaseException):
            log.error("wechat: an event handler failed", exc_info=error)
        elif error:
            log.error("wechat: puppet error: %s", getattr(error, "data", error))

    # ----------------------------------------------------------------- core → WeChat

    async def deliver(self, message: Outgoing) -> str | None:
        """Send one outbox message (the sender maps the errors)."""
        chat = message.chat
        text = render_text(message)
        mention = message.to_user if chat.is_group and message.to_user else None

        async def send() -> str | None:
            puppet = self._bot.puppet
            last_id = None
            if text:
                body = text
                if mention:
                    body = f"@{await self._member_name(chat.chat_id, mention)}{AT_SEPARATOR}{text}"
                last_id = await puppet.message_send_text(
                    chat.chat_id, body, [mention] if mention else None
                )
            for file in message.files:
                box = self.api.FileBox.from_file(file.path, file.name)
                last_id = await puppet.message_send_file(chat.chat_id, box)
            return last_id

        return await self._on_wechaty(send)

    async def _member_name(self, room_id: str, contact_id: str) -> str:
        puppet = self._bot.puppet
        with contextlib.suppress(Exception):
            member = await puppet.room_member_payload(room_id, contact_id)
            if member.room_alias or member.name:
                return str(member.room_alias or member.name)
        with contextlib.suppress(Exception):
            contact = await puppet.contact_payload(contact_id)
            if contact.name:
                return str(contact.name)
        return contact_id
