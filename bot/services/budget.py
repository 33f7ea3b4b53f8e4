"""Budget alerts: when a campaign's accrued spend reaches 80% and 100% of `pricing.budget`,
the brand's managers are told, once per level and campaign (recorded as BudgetAlert rows by
bot.services.ledger, whichever way the spend moved: approvals, metrics, imports,
adjustments)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.core.identity import Role
from bot.core.messages import ChatRef, Outgoing
from bot.services import ledger, people
from storage.models import BudgetAlert, Campaign, Person, RoleGrant

if TYPE_CHECKING:
    from bot.app import App


async def send_to_person(app: App, person_id: int, template: str, /, **data: Any) -> bool:
    """A DM in the person's language where they were last seen; False if unreachable."""
    identity = await people.reachable_identity(person_id)
    if identity is None:
        return False
    person = await Person.get(id=person_id)
    text = app.renderer.render(person.locale or app.settings.locale, template, **data)
    chat = ChatRef(identity.platform, identity.user_id)
    await app.outbox.put(Outgoing(chat=chat, text=text, to_user=identity.user_id))
    return True


async def managers_of(brand_id: int) -> list[int]:
    return await RoleGrant.filter(role=Role.MANAGER.value, brand_id=brand_id).values_list(
        "person_id", flat=True
    )  # type: ignore[return-value]


class BudgetNotices:
    """Registers itself with the ledger: a repricing that reached a new level tells the
    managers of the campaign's brand."""

    def __init__(self, app: App) -> None:
        self.app = app
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
            reached += await send_to_person(
                self.app,
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
