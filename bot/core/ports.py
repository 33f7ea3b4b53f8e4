"""What services may ask of the core without knowing about chats or platforms."""

from __future__ import annotations

from typing import Any, Protocol


class Notify(Protocol):
    """DM a person a template in their language, through the outbox; False if unreachable.

    Called inside a service's transaction, the message commits (or not) with the change
    that owes it: a crash can neither lose it after the change nor send it without it."""

    async def __call__(self, person_id: int, template: str, /, **data: Any) -> bool: ...
