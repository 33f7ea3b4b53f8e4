"""Broadcast rows as the /broadcast command looks them up (sending is BroadcastService's)."""

from __future__ import annotations

from storage.models import Broadcast


async def broadcast_by_id(broadcast_id: int) -> Broadcast | None:
    return await Broadcast.get_or_none(id=broadcast_id)
