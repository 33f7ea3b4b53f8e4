"""Telegram through aiogram 3: one router that feeds the core, and the outbox's Telegram sender.

The adapter only translates: updates become `Incoming`, `Outgoing` becomes Bot API calls.
Choices are inline buttons whose data names the outbox row and the option, so a button keeps
working however long its message has been up, whatever the option's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    GetUpdates,
    Response,
    SendDocument,
    SendMessage,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    ChatMemberUpdated,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)

from bot.core.messages import CODE_END, CODE_START, Attachment, ChatRef, Incoming, Outgoing
from bot.core.outbox import DeliveryError
from bot.core.ratelimit import Limit

if TYPE_CHECKING:
    from aiohttp import web

    from bot.app import App

log = logging.getLogger(__name__)

PLATFORM = "telegram"
MAX_TEXT = 4096
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
GROUP_TYPES = ("group", "supergroup")
UPDATES = ["message", "callback_query", "my_chat_member"]
CHOSEN_MARK = "✓"
START_RETRY_FIRST_SECONDS, START_RETRY_MAX_SECONDS = 1.0, 60.0
# pydantic keeps parametrised generics in a weak cache, so aiogram's `Response[Message]` is
# built anew (≈10 ms) whenever the garbage collector has freed it: about once in ten messages
# on a busy bot. Holding the answers of the calls every message makes keeps them built.
_RESPONSES = tuple(
    Response[method.__returning__]  # type: ignore[name-defined,attr-defined]
    for method in (GetUpdates, SendMessage, EditMessageText, AnswerCallbackQuery, SendDocument)
)
CONFLICT_LOG_EVERY = 60.0  # seconds between two "another poller" errors in the log


def chat_ref(message: Message) -> ChatRef:
    chat = message.chat
    is_group = chat.type in GROUP_TYPES
    return ChatRef(PLATFORM, str(chat.id), is_group, chat.title if is_group else None)


class TelegramSender:
    """Bot API calls for the outbox; Telegram's errors become `DeliveryError`s it understands."""

    def __init__(self, bot: Bot, everywhere: Limit, private: Limit, group: Limit) -> None:
        self.bot = bot
        self.everywhere, self.private, self.group = everywhere, private, group
        # Telegram's limits are per bot: every process sending for this token shares them
        # (keys carry a digest of the token, never the token).
        self.scope = hashlib.sha256(bot.token.encode()).hexdigest()[:16]

    def limits(self, chat: ChatRef) -> tuple[Limit, Limit]:
        return self.everywhere, self.group if chat.is_group else self.private

    async def send(self, message: Outgoing) -> str | None:
        try:
            return await self._send(message)
        except TelegramRetryAfter as exc:
            raise DeliveryError(str(exc), retry_after=exc.retry_after) from exc
        except TelegramForbiddenError as exc:
            raise DeliveryError(str(exc), blocked=True) from exc
        except TelegramBadRequest as exc:
            if "message is not modified" in exc.message:
                return message.edit_message_id
            raise DeliveryError(str(exc), permanent=True) from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise DeliveryError(str(exc)) from exc

    async def _send(self, message: Outgoing) -> str | None:
        chat_id = int(message.chat.chat_id)
        markup = self._keyboard(message)
        if message.edit_message_id is not None:
            edited = await self.bot.edit_message_text(
                text=to_html(_chunks(message.text)[0]),
                parse_mode=ParseMode.HTML,
                chat_id=chat_id,
                message_id=int(message.edit_message_id),
                reply_markup=markup,
            )
            return str(edited.message_id) if isinstance(edited, Message) else None
        reply = None
        if message.reply_to and message.reply_to.isdigit():
            reply = ReplyParameters(
                message_id=int(message.reply_to), allow_sending_without_reply=True
            )
        chunks = _chunks(message.text) or [""]
        last_id = None
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            sent = await self.bot.send_message(
                chat_id=chat_id,
                text=to_html(chunk),
                parse_mode=ParseMode.HTML,
                reply_markup=markup if last else None,
                reply_parameters=reply if index == 0 else None,
            )
            last_id = str(sent.message_id)
        for file in message.files:
            await self.bot.send_document(
                chat_id=chat_id, document=FSInputFile(file.path, file.name)
            )
        return last_id

    def _keyboard(self, message: Outgoing) -> InlineKeyboardMarkup | None:
        if not message.choices or message.outbox_id is None:
            return None
        rows = [
            [
                InlineKeyboardButton(
                    text=choice.label[:64], callback_data=f"o:{message.outbox_id}:{i}"
                )
            ]
            for i, choice in enumerate(message.choices)
        ]
        return InlineKeyboardMarkup(inline_keyboard=rows)


def to_html(text: str) -> str:
    """Plain template text as Telegram HTML: everything escaped, copy spans as <code>.

    Markers that do not pair up (a stray start, an end with no start, a start inside a span)
    are dropped, so whatever the text holds the markup is well formed."""
    parts: list[str] = []
    inside = False
    for piece in _MARKERS.split(text):
        if piece == CODE_START and not inside:
            parts.append("<code>")
            inside = True
        elif piece == CODE_END and inside:
            parts.append("</code>")
            inside = False
        elif piece not in (CODE_START, CODE_END):
            parts.append(html.escape(piece, quote=False))
    if inside:
        parts.append("</code>")
    return "".join(parts).replace("<code></code>", "")  # an empty span shows nothing


_MARKERS = re.compile(f"({CODE_START}|{CODE_END})")


def _chunks(text: str) -> list[str]:
    """Telegram takes 4096 characters a message: split at line ends where possible; a copy
    span cut in two is closed in one chunk and reopened in the next."""
    chunks: list[str] = []
    while len(text) > MAX_TEXT - 2:
        cut = text.rfind("\n", 0, MAX_TEXT - 2)
        cut = cut if cut > 0 else MAX_TEXT - 2
        chunk, text = text[:cut], text[cut:].lstrip("\n")
        if chunk.count(CODE_START) > chunk.count(CODE_END):
            chunk, text = chunk + CODE_END, CODE_START + text
        chunks.append(chunk)
    if text:
        chunks.append(text)
    return chunks


class TelegramPlatform:
    def __init__(self, app: App) -> None:
        settings = app.settings
        assert settings.telegram_bot_token is not None
        self.app = app
        session = AiohttpSession()
        if settings.telegram_api_base:
            session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
        self.bot = Bot(token=settings.telegram_bot_token.get_secret_value(), session=session)
        self.bot.session.middleware.register(self._conflicts)
        self._conflict_said_at: float | None = None
        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(self._router())
        self.sender = TelegramSender(
            self.bot,
            everywhere=Limit(settings.telegram_rate_global_per_second, 1.0),
            # A short burst in a person's own chat (a reply and its follow-up), then the pace.
            private=Limit(
                settings.telegram_rate_private_burst,
                settings.telegram_rate_private_burst / settings.telegram_rate_private_per_second,
            ),
            group=Limit(settings.telegram_rate_group_per_minute, 60.0),
        )
        self.username: str | None = None
        self._polling: asyncio.Task[None] | None = None
        self._webhook: web.AppRunner | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self, receive: bool = True, send: bool = True, poll: bool = True) -> None:
        """Receive updates (a webhook, or long polling when `poll`) and/or send the outbox's
        Telegram rows: a fleet's web processes receive, its workers send."""
        me = await self.bot.get_me()
        self.username = me.username
        if me.username:
            self.app.dispatcher.bot_usernames[PLATFORM] = me.username
        if send:
            self.app.outbox.register(PLATFORM, self.sender)
        if not receive:
            return
        await self.publish_commands()
        settings = self.app.settings
        if settings.telegram_webhook_url:
            await self._start_webhook(settings.telegram_webhook_url)
        elif poll:
            await self.start_polling()

    @property
    def polls(self) -> bool:
        """Long polling (no webhook): only one process may poll a bot at a time."""
        return not self.app.settings.telegram_webhook_url

    async def start_polling(self) -> None:
        if self._polling is not None:
            return
        await self.bot.delete_webhook(drop_pending_updates=False)
        self._polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot, handle_signals=False, allowed_updates=UPDATES, close_bot_session=False
            ),
            name="telegram-polling",
        )

    async def _conflicts(self, make_request, bot, method):  # type: ignore[no-untyped-def]
        """Say plainly what a 409 from getUpdates means (aiogram only retries it)."""
        try:
            return await make_request(bot, method)
        except TelegramConflictError:
            now = time.monotonic()
            if self._conflict_said_at is None or now - self._conflict_said_at > CONFLICT_LOG_EVERY:
                self._conflict_said_at = now
                log.error(
                    "telegram: 409 Conflict: another program is long-polling this bot. Only "
                    "one process may poll a token: stop the other, or set "
                    "TELEGRAM_WEBHOOK_URL to run several web processes"
                )
            raise

    async def stop_polling(self) -> None:
        if self._polling is not None:
            with contextlib.suppress(RuntimeError):  # polling had not started yet
                await self.dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._polling, timeout=10)
            self._polling = None

    async def start_when_reachable(
        self, receive: bool = True, send: bool = True, poll: bool = True
    ) -> None:
        """`start`, retried with backoff while the Bot API cannot be reached (network down,
        proxy or Telegram answering 5xx); a refused token is not retried."""
        delay = START_RETRY_FIRST_SECONDS
        while True:
            try:
                await self.start(receive, send, poll)
            except TelegramUnauthorizedError:
                log.error("telegram: the Bot API refused TELEGRAM_BOT_TOKEN (ask @BotFather)")
                raise
            except (TelegramNetworkError, TelegramServerError) as exc:
                reason = str(exc).replace(self.bot.token, "***")  # an error may quote the URL
                log.warning(
                    "telegram: cannot reach the Bot API (%s); retrying in %.0f s", reason, delay
                )
            else:
                log.info("telegram: serving as @%s", self.username)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, START_RETRY_MAX_SECONDS)

    async def stop(self) -> None:
        await self.stop_polling()
        if self._webhook is not None:
            await self._webhook.cleanup()
            self._webhook = None
        await self.bot.session.close()

    async def _start_webhook(self, url: str) -> None:
        from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
        from aiohttp import web

        settings = self.app.settings
        # Settings refuse a webhook URL without a secret; never serve the hook without one.
        assert settings.telegram_webhook_secret is not None
        secret = settings.telegram_webhook_secret.get_secret_value()
        web_app = web.Application()
        path = urlsplit(url).path or "/"
        SimpleRequestHandler(self.dispatcher, self.bot, secret_token=secret).register(web_app, path)
        setup_application(web_app, self.dispatcher, bot=self.bot)
        host, _, port = settings.telegram_webhook_listen.rpartition(":")
        self._webhook = web.AppRunner(web_app)
        await self._webhook.setup()
        await web.TCPSite(self._webhook, host or "127.0.0.1", int(port)).start()
        await self.bot.set_webhook(url, secret_token=secret, allowed_updates=UPDATES)

    async def publish_commands(self) -> None:
        """The command menu from the registry: all of it in private chats, a subset in groups."""
        renderer = self.app.renderer
        specs = [s for s in self.app.registry.commands.values() if not s.hidden]
        for locale, language in (("zh_CN", None), ("en", "en")):

            def menu(in_groups: bool, locale: str = locale) -> list[BotCommand]:
                return [
                    BotCommand(
                        command=s.name,
                        description=(renderer.command_text(locale, s.name, "summary") or s.name)[
                            :256
                        ],
                    )
                    for s in specs
                    if s.in_groups or not in_groups
                ]

            await self.bot.set_my_commands(menu(False), BotCommandScopeAllPrivateChats(), language)
            await self.bot.set_my_commands(menu(True), BotCommandScopeAllGroupChats(), language)

    # ----------------------------------------------------------------- updates → core

    def _router(self) -> Router:
        router = Router(name="koxbot")
        router.message.register(self.on_message)
        router.callback_query.register(self.on_button)
        router.my_chat_member.register(self.on_membership)
        return router

    async def on_message(self, message: Message) -> None:
        if message.from_user is None or message.from_user.is_bot:
            return
        chat = chat_ref(message)
        if message.new_chat_members:
            people = [m.full_name for m in message.new_chat_members if not m.is_bot]
            if people:
                await self.app.dispatcher.welcome(chat, people)
            return
        attachments = await self._attachments(message)
        text = message.text or message.caption or ""
        user = message.from_user
        await self.app.dispatcher.handle(
            Incoming(
                chat=chat,
                user_id=str(user.id),
                user_name=user.full_name,
                username=user.username,
                text=text,
                message_id=str(message.message_id),
                attachments=attachments,
                mentions_bot=self._mentions_me(message, text),
            )
        )

    async def on_button(self, query: CallbackQuery) -> None:
        message = query.message
        parts = (query.data or "").split(":")
        if not isinstance(message, Message) or len(parts) != 3 or parts[0] != "o":
            await query.answer()
            return
        row = await self.app.outbox.get(int(parts[1])) if parts[1].isdigit() else None
        if row is None:  # its message is older than the outbox keeps (OUTBOX_RETENTION_DAYS)
            await query.answer(self.app.renderer.render(None, "errors/button_expired"))
            return
        await query.answer()
        choices = row.payload.get("choices", []) if row else []
        index = int(parts[2]) if parts[2].isdigit() else -1
        if not 0 <= index < len(choices):
            return
        chosen = choices[index]
        chat = chat_ref(message)
        # The pressed button's message shows the choice and loses its keyboard: no second press.
        original = Outgoing.from_payload(row.payload)  # type: ignore[union-attr]
        shown = Outgoing(
            chat=chat,
            text=f"{original.text}\n\n{CHOSEN_MARK} {chosen['label']}",
            edit_of=row.id,  # type: ignore[union-attr]
        )
        await self.app.outbox.put(shown)
        await self.app.dispatcher.handle(
            Incoming(
                chat=chat,
                user_id=str(query.from_user.id),
                user_name=query.from_user.full_name,
                username=query.from_user.username,
                text=chosen["value"],
                message_id=f"button:{query.id}",
            )
        )

    async def on_membership(self, update: ChatMemberUpdated) -> None:
        if update.chat.type in GROUP_TYPES and update.new_chat_member.status in (
            "member",
            "administrator",
        ):
            chat = ChatRef(PLATFORM, str(update.chat.id), True, update.chat.title)
            await self.app.dispatcher.group_seen(chat)

    async def _attachments(self, message: Message) -> tuple[Attachment, ...]:
        document = message.document
        if document is None or (document.file_size or 0) > MAX_DOCUMENT_BYTES:
            return ()
        file = await self.bot.get_file(document.file_id)
        if file.file_path is None:
            return ()
        data = await self.bot.download_file(file.file_path)
        if data is None:
            return ()
        return (Attachment(document.file_name or "document", data.read()),)

    def _mentions_me(self, message: Message, text: str) -> bool:
        if self.username and f"@{self.username.lower()}" in text.lower():
            return True
        replied = message.reply_to_message
        return bool(replied and replied.from_user and replied.from_user.username == self.username)
