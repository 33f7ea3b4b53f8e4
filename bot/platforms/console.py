"""The local console chat: the embedded default platform, and the black-box test surface.

Input lines:
    USER@CHAT: text           CHAT is `dm` (USER's private chat) or a group name
    USER@CHAT#ID: text        the same with an explicit message id (to replay a message)
    USER@CHAT: !file PATH [caption]   send a document
    !advance 2h               move the clock (s, m, h, d) and run what came due
    # comment
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from bot.app import App
from bot.core.messages import Attachment, ChatRef, Incoming, Outgoing, plain

PLATFORM = "console"
BOT_NAME = "koxbot"
DM = "dm"

_LINE = re.compile(
    r"^(?P<user>[^@\s:：]+)@(?P<chat>[^\s:：#]+)(?:#(?P<id>[^\s:：]+))?\s*[:：]\s?(?P<text>.*)$"
)
_ADVANCE = re.compile(r"^!advance\s+(\d+)\s*([smhd])$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ConsoleError(ValueError):
    pass


class ConsoleSender:
    """Prints what the bot says: readable by default, one JSON object per message with --json."""

    def __init__(self, out: TextIO, json_mode: bool) -> None:
        self.out = out
        self.json_mode = json_mode
        self.count = 0

    async def send(self, message: Outgoing) -> str:
        self.count += 1
        text = plain(message.text)
        chat = message.chat.chat_id if message.chat.is_group else DM
        if self.json_mode:
            record = {
                "chat": chat,
                "to": message.to_user,
                "text": text,
                "choices": [c.label for c in message.choices],
                "files": [f.path for f in message.files],
                "edit": message.edit_of is not None,
            }
            print(json.dumps(record, ensure_ascii=False), file=self.out, flush=True)
        else:
            to = f" @{message.to_user}" if message.to_user else ""
            arrow = "✎" if message.edit_of is not None else "→"  # ✎ replaces an earlier message
            lines = [f"bot {arrow} {chat}{to}: {text}"]
            lines += [f"    {i}. {c.label}" for i, c in enumerate(message.choices, 1)]
            lines += [f"    [file] {f.name}: {f.path}" for f in message.files]
            print("\n".join(lines), file=self.out, flush=True)
        return f"console-{self.count}"


class ConsolePlatform:
    def __init__(
        self,
        app: App,
        out: TextIO = sys.stdout,
        json_mode: bool = False,
        base_dir: Path | None = None,
    ) -> None:
        self.app = app
        self.base_dir = base_dir or Path.cwd()
        self.sender = ConsoleSender(out, json_mode)
        app.outbox.register(PLATFORM, self.sender)
        app.dispatcher.bot_usernames[PLATFORM] = BOT_NAME

    def parse(self, line: str) -> Incoming | None:
        """An Incoming for a chat line, None for blank lines and comments."""
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return None
        match = _LINE.match(stripped)
        if not match:
            raise ConsoleError("expected `USER@CHAT: text` (CHAT is dm or a group name)")
        user, chat_name, text = match["user"], match["chat"], match["text"]
        is_group = chat_name != DM
        chat = ChatRef(
            PLATFORM, chat_name if is_group else user, is_group, chat_name if is_group else None
        )
        attachments: tuple[Attachment, ...] = ()
        if text.startswith("!file"):
            parts = text.split(maxsplit=2)
            if len(parts) < 2:
                raise ConsoleError("expected `!file PATH [caption]`")
            path = (self.base_dir / parts[1]).resolve()
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ConsoleError(f"cannot read {parts[1]}: {exc.strerror}") from None
            attachments = (Attachment(path.name, data),)
            text = parts[2] if len(parts) > 2 else ""
        return Incoming(
            chat=chat,
            user_id=user,
            user_name=user,
            text=text,
            message_id=match["id"] or uuid.uuid4().hex,
            attachments=attachments,
            mentions_bot=f"@{BOT_NAME}" in text,
        )

    async def feed(self, line: str) -> None:
        advance = _ADVANCE.match(line.strip())
        if advance:
            await self.advance(timedelta(**{_UNITS[advance[2].lower()]: int(advance[1])}))
            return
        incoming = self.parse(line)
        if incoming is not None:
            await self.app.dispatcher.handle(incoming)

    async def advance(self, delta: timedelta) -> None:
        advance = getattr(self.app.clock, "advance", None)
        if advance is None:
            raise ConsoleError("this clock cannot be moved")
        advance(delta)
        await self.app.tick()

    async def run_lines(self, lines: Iterable[str], errors: TextIO = sys.stderr) -> int:
        """Feed every line; a line that cannot be read is reported and skipped. Returns errors."""
        failures = 0
        for number, line in enumerate(lines, 1):
            try:
                await self.feed(line)
            except ConsoleError as exc:
                failures += 1
                print(f"console: line {number}: {exc}", file=errors, flush=True)
        return failures
