"""Text from outside (chat messages, names, files, templates that users wrote) made safe to store
and to show: no control or format characters. Those include the copy-span markers our own
templates use (bot.core.messages) and the right-to-left override that makes a name read
backwards, so text from outside can neither forge markup nor disguise itself."""

from __future__ import annotations

import unicodedata

_UNSAFE = ("Cc", "Cf", "Cs")
_KEPT = "\n\t\u200d"  # the zero-width joiner holds emoji sequences (👨‍👩‍👧) together
NAME_LIMIT = 100


def drop_controls(text: str) -> str:
    """Every control and format character removed, except newlines, tabs and the joiner."""
    if text.isprintable():  # the common case, without a pass per character
        return text
    return "".join(ch for ch in text if ch in _KEPT or unicodedata.category(ch) not in _UNSAFE)


def clean_text(text: str) -> str:
    """A message as the bot reads it: no control characters, ends trimmed."""
    return drop_controls(text).strip()


def clean_name(name: str, limit: int = NAME_LIMIT) -> str:
    """A display name on one line: controls dropped, any run of spaces made one space."""
    return " ".join(drop_controls(name).split())[:limit]
