"""The command registry: a handler is declared once with its slash name, keywords and role."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.identity import Role

if TYPE_CHECKING:
    from bot.core.context import Context

# A handler takes the Context and, by parameter name, the services it needs (see Dispatcher).
Handler = Callable[..., Awaitable[None]]
Catcher = Callable[["Context"], Awaitable[bool]]

_SLASH = re.compile(r"^/([A-Za-z][A-Za-z0-9_]*)(?:@(\S+))?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class CommandSpec:
    name: str
    keywords: tuple[str, ...]
    role: Role
    handler: Handler
    hidden: bool = False  # not listed in /help (e.g. /cancel is mentioned by flows instead)
    in_groups: bool = True  # offered in group command menus (private-only ones are not)


@dataclass(frozen=True)
class CommandMatch:
    spec: CommandSpec | None  # None: a slash command nobody registered
    name: str
    args: str
    addressed_elsewhere: bool = False  # `/cmd@otherbot` in a group


@dataclass(frozen=True)
class DocumentSpec:
    suffixes: tuple[str, ...]
    role: Role
    handler: Handler


class Router:
    """One handler module's commands, documents and group catchers, declared where they are
    written; the app composes the routers into one `Registry` (as aiogram's include_router)."""

    def __init__(self) -> None:
        self.commands: list[CommandSpec] = []
        self.documents: list[DocumentSpec] = []
        self.group_catchers: list[Catcher] = []

    def command(
        self,
        name: str,
        keywords: tuple[str, ...] = (),
        role: Role = Role.ANYONE,
        hidden: bool = False,
        in_groups: bool = True,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            spec = CommandSpec(name, tuple(keywords), role, handler, hidden, in_groups)
            self.commands.append(spec)
            return handler

        return register

    def document(self, suffixes: tuple[str, ...], role: Role) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.documents.append(DocumentSpec(tuple(s.lower() for s in suffixes), role, handler))
            return handler

        return register

    def group_catcher(self, catcher: Catcher) -> Catcher:
        """A group message that is no command: a catcher returns True when it took it."""
        self.group_catchers.append(catcher)
        return catcher


class Registry:
    def __init__(self, *routers: Router) -> None:
        self.commands: dict[str, CommandSpec] = {}
        self._keywords: dict[str, CommandSpec] = {}
        self.documents: list[DocumentSpec] = []
        self.group_catchers: list[Catcher] = []
        for router in routers:
            self.include(router)

    def include(self, router: Router) -> None:
        for spec in router.commands:
            if spec.name in self.commands:
                raise ValueError(f"command /{spec.name} is registered twice")
            self.commands[spec.name] = spec
            for keyword in spec.keywords:
                if keyword in self._keywords:
                    raise ValueError(f"keyword {keyword} is registered twice")
                self._keywords[keyword] = spec
        self.documents.extend(router.documents)
        self.group_catchers.extend(router.group_catchers)

    def match(self, text: str, bot_username: str | None = None) -> CommandMatch | None:
        """`/name[@bot] args` or `关键词 args`; None when the text is not a command at all."""
        text = text.strip()
        slash = _SLASH.match(text)
        if slash:
            name, target, args = slash.group(1).lower(), slash.group(2), (slash.group(3) or "")
            elsewhere = bool(target and bot_username and target.lower() != bot_username.lower())
            return CommandMatch(self.commands.get(name), name, args.strip(), elsewhere)
        # Longest keyword first: 交作业 must not be read as 交 + 作业.
        for keyword in sorted(self._keywords, key=len, reverse=True):
            if text == keyword or (
                text.startswith(keyword) and text[len(keyword)] in " \t\n:：,，"
            ):
                rest = text[len(keyword) :].lstrip(" \t\n:：,，")
                spec = self._keywords[keyword]
                return CommandMatch(spec, spec.name, rest.strip())
        return None

    def document_handler(self, filename: str) -> DocumentSpec | None:
        lower = filename.lower()
        return next((d for d in self.documents if lower.endswith(d.suffixes)), None)
