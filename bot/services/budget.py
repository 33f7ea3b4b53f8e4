"""Budget alerts: when a campaign's accrued spend reaches 80% and 100% of `pricing.budget`,
the brand's managers are told, once per level and campaign (recorded as BudgetAlert rows by
bot.services.ledger, whichever way the spend moved: approvals, metrics, imports,
adjustments)."""

from __future__ import annotations

from bot.core.ports import Notify
from bot.services import ledger
from bot.services.people import managers_of
from storage.models import BudgetAlert, Campaign


class BudgetNotices:
    """Registers itself with the ledger: a repricing that reached a new level tells the
    managers of the campaign's brand."""

    def __init__(self, notify: Notify) -> None:
        self.notify_person = notify
        ledger.set_listener(self.on_repriced)

    async def on_repriced(self, repriced: ledger.Repriced) -> None:
        if repriced.campaign is not None:
            await self.notify(repriced.campaign, repriced.budget_alerts, repriced.spent_fen)

    async def notify(self, campaign: Campaign, percents: tuple[int, ...], spent_fen: int) -> None:
        """One message for the highest level reached (80% and 100% crossed in one jump say
        100% once); every level of the jump records how many managers were reached."""
        if not percents:
            return
        budget_fen = ledger.pricing_of(campaign).budget_fen
        reached = 0
        for person_id in await managers_of(campaign.brand_id):  # type: ignore[attr-defined]
            reached += await self.notify_person(
                person_id,
                "budget/alert",
                campaign=campaign,
                percent=max(percents),
                spent_fen=spent_fen,
                budget_fen=budget_fen,
            )
        await BudgetAlert.filter(campaign_id=campaign.id, percent__in=list(percents)).update(
            notified=reached
        )
