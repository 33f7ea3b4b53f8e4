"""Platform-neutral messages: adapters turn platform updates into `Incoming` and send `Outgoing`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bot.domain.text import drop_controls

# Templates mark copy-friendly spans (hashtag kits, codes, links) with the `code` filter.
# The markers are control characters: the dispatcher strips them from inbound text and the
# renderer from every value a template shows (bot.core.render), so only `mark_code` makes one;
# each platform's sender turns them into its markup or drops them.
CODE_START, CODE_END = "\x0e", "\x0f"


class CodeSpan(str):
    """A copy span made by `mark_code`: the one kind of value allowed to carry the markers."""


def mark_code(text: object) -> CodeSpan:
    return CodeSpan(f"{CODE_START}{drop_controls(str(text))}{CODE_END}")


def plain(text: str) -> str:
    """The text without copy-span markers: for platforms with no markup."""
    return text.replace(CODE_START, "").replace(CODE_END, "")


@dataclass(frozen=True)
class ChatRef:
    """A chat on a platform. Private chats use the user's id as chat id on every platform."""

    platform: str
    chat_id: str
    is_group: bool = False
    title: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A document the user sent (YAML, CSV, XLSX, image)."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Incoming:
    chat: ChatRef
    user_id: str
    text: str
    message_id: str
    user_name: str = ""
    username: str | None = None  # the platform handle (@name), where there is one
    attachments: tuple[Attachment, ...] = ()
    mentions_bot: bool = False

    @property
    def platform(self) -> str:
        return self.chat.platform


@dataclass(frozen=True)
class Choice:
    """One option: a button on Telegram, a numbered line elsewhere. `value` is fed back as text."""

    label: str
    value: str


@dataclass(frozen=True)
class OutFile:
    name: str
    path: str


@dataclass
class Outgoing:
    chat: ChatRef
    text: str
    to_user: str | None = None
    choices: list[Choice] = field(default_factory=list)
    files: list[OutFile] = field(default_factory=list)
    # An edit replaces an earlier message (progress, a pressed button): `edit_of` is that
    # message's outbox id; the outbox fills in its platform message id when it delivers.
    edit_of: int | None = None
    edit_message_id: str | None = None
    # The platform message this answers (threads the reply in a group), if any.
    reply_to: str | None = None
    # Sent instead when this (a DM) cannot be delivered: the serialized Outgoing of, e.g., a
    # note in the group with the link that opens a private chat.
    fallback: dict[str, Any] | None = None
    # Set by the outbox at delivery: the row id, which a platform can put in button data.
    outbox_id: int | None = None

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Outgoing:
        return cls(
            chat=ChatRef(**payload["chat"]),
            text=payload["text"],
            to_user=payload.get("to_user"),
            choices=[Choice(**c) for c in payload.get("choices", [])],
            files=[OutFile(**f) for f in payload.get("files", [])],
            edit_of=payload.get("edit_of"),
            reply_to=payload.get("reply_to"),
            fallback=payload.get("fallback"),
        )
