"""The audit log of manager and admin actions."""

from __future__ import annotations

from typing import Any

from storage.models import AuditLog


async def record(actor_id: int | None, action: str, target: str = "", **data: Any) -> None:
    await AuditLog.create(actor_id=actor_id, action=action, target=target[:200], data=data)
