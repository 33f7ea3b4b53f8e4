"""A creator's earnings, read from the ledger: pending, settled and paid, per campaign and post."""

from __future__ import annotations

from bot.services.ledger import CampaignView, creator_view


async def creator_earnings(creator_id: int) -> list[CampaignView]:
    """Per campaign and per post; only the creator's own submissions and entries are read."""
    return await creator_view(creator_id)
