"""Settlement: close a campaign's period, statements per creator, exports, marking paid.

A period is every earning entry of the campaign (accruals, reversals, adjustments) written
after the previous settlement's `last_entry_id`. Closing it records the new `last_entry_id`;
entries written later belong to the next period, so metrics used are frozen in the statement
and closing twice changes nothing (the second close finds nothing new, and two concurrent
closes collide on the (campaign, number) key).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.core.errors import UserError
from bot.core.ports import Notify
from bot.domain.spreadsheet import csv_row, is_text
from bot.domain.statuses import EarningState, EntryKind, SettlementStatus
from bot.services import audit, ledger
from bot.services.campaigns import campaign_by_code
from bot.services.people import Caller
from storage.models import Campaign, Creator, LedgerEntry, Settlement, Statement, Submission


@dataclass
class CreatorPeriod:
    creator: Creator
    lines: list[dict] = field(default_factory=list)

    @property
    def total_fen(self) -> int:
        return sum(line["amount_fen"] for line in self.lines)


@dataclass
class Preview:
    campaign: Campaign
    number: int
    last_entry_id: int
    creators: list[CreatorPeriod]

    @property
    def total_fen(self) -> int:
        return sum(c.total_fen for c in self.creators)


async def preview(campaign: Campaign) -> Preview:
    """What closing the open period now would settle, per creator and post."""
    settlements = await ledger.settlements_of(campaign.id)
    after = settlements[-1].last_entry_id if settlements else 0
    entries = (
        await LedgerEntry.filter(
            campaign_id=campaign.id, kind__in=ledger.EARNING_KINDS, id__gt=after
        )
        .order_by("id")
        .prefetch_related("creator__person", "submission")
    )
    creators: dict[int, CreatorPeriod] = {}
    posts: dict[tuple[int, int], dict] = {}
    for entry in entries:
        period = creators.setdefault(entry.creator_id, CreatorPeriod(entry.creator))  # type: ignore[attr-defined]
        if entry.kind == EntryKind.ADJUSTMENT:
            period.lines.append(
                {"kind": "adjustment", "amount_fen": entry.amount_fen, "note": entry.note or ""}
            )
            continue
        submission: Submission = entry.submission  # type: ignore[assignment]
        key = (entry.creator_id, submission.id)  # type: ignore[attr-defined]
        line = posts.get(key)
        if line is None:
            line = posts[key] = {
                "kind": "post",
                "submission": submission.id,
                "platform": submission.platform,
                "url": submission.canonical_url,
                "amount_fen": 0,
            }
            period.lines.append(line)
        line["amount_fen"] += entry.amount_fen
        line["status"] = entry.basis.get("status", submission.status)
        line["metrics"] = entry.basis.get("metrics", {})
        line["formula"] = entry.basis.get("lines", [])
    last = entries[-1].id if entries else after
    ordered = sorted(creators.values(), key=lambda c: c.creator.id)
    return Preview(campaign, len(settlements) + 1, last, ordered)


@dataclass
class Closed:
    settlement: Settlement
    statements: list[Statement]
    delivered: int  # statements queued for a creator who can be reached


async def close(
    caller: Caller, campaign: Campaign, expected_last_entry_id: int, notify: Notify
) -> Closed:
    """Close the period the manager previewed; refuse if it changed or was closed meanwhile.

    Each creator's statement is queued in the same transaction: a crash leaves either an
    open period or a closed one with every statement on its way."""
    async with in_transaction():
        plan = await preview(campaign)
        if not plan.creators:
            raise UserError("settlement/nothing", campaign=campaign)
        if plan.last_entry_id != expected_last_entry_id:
            raise UserError("settlement/changed", campaign=campaign)
        try:
            settlement = await Settlement.create(
                campaign=campaign,
                number=plan.number,
                last_entry_id=plan.last_entry_id,
                total_fen=plan.total_fen,
                currency=campaign.currency,
                closed_by_id=caller.person_id,
            )
        except IntegrityError:
            raise UserError("settlement/nothing", campaign=campaign) from None
        statements, delivered = [], 0
        for period in plan.creators:
            statement = await Statement.create(
                settlement=settlement,
                creator=period.creator,
                total_fen=period.total_fen,
                lines=period.lines,
            )
            statements.append(statement)
            delivered += await notify(
                period.creator.person_id,  # type: ignore[attr-defined]
                "settlement/statement",
                campaign=campaign,
                settlement=settlement,
                statement=statement,
            )
        await audit.record(
            caller.person_id,
            "settlement.closed",
            f"campaign:{campaign.code}",
            number=settlement.number,
            total_fen=settlement.total_fen,
        )
    return Closed(settlement, statements, delivered)


async def settlement_by_number(campaign: Campaign, number: int | None) -> Settlement:
    query = Settlement.filter(campaign_id=campaign.id)
    settlement = await (
        query.filter(number=number).first() if number else query.order_by("-number").first()
    )
    if settlement is None:
        raise UserError("settlement/unknown", campaign=campaign, number=number)
    return settlement


async def mark_paid(
    caller: Caller, campaign: Campaign, number: int | None, now: datetime, notify: Notify
) -> tuple[Settlement, list[Statement]]:
    """A payout entry per statement and its notice to the creator, in one transaction; a
    settlement is paid once."""
    async with in_transaction():
        settlement = await settlement_by_number(campaign, number)
        changed = await Settlement.filter(id=settlement.id, status=SettlementStatus.CLOSED).update(
            status=SettlementStatus.PAID, paid_at=now, paid_by_id=caller.person_id
        )
        if not changed:
            raise UserError("settlement/already_paid", campaign=campaign, settlement=settlement)
        # In creator order: each payout takes that creator's ledger lock until the commit, so
        # two settlements paid at once must take the locks in the same order.
        statements = (
            await Statement.filter(settlement_id=settlement.id)
            .order_by("creator_id")
            .prefetch_related("creator__person")
        )
        for statement in statements:
            if statement.total_fen:
                await ledger.append(
                    statement.creator_id,  # type: ignore[attr-defined]
                    campaign,
                    EntryKind.PAYOUT,
                    -statement.total_fen,
                    caller.person_id,
                    settlement_id=settlement.id,
                )
        settlement = await Settlement.get(id=settlement.id)
        for statement in statements:
            await notify(
                statement.creator.person_id,  # type: ignore[attr-defined]
                "settlement/paid_notice",
                campaign=campaign,
                settlement=settlement,
                statement=statement,
            )
        await audit.record(
            caller.person_id,
            "settlement.paid",
            f"campaign:{campaign.code}",
            number=settlement.number,
        )
    return settlement, list(statements)


# --- exports -----------------------------------------------------------------------------------

CREATOR_HEADER = ["type", "creator_id", "name", "tier", "pending", "settled", "paid", "total"]
POST_HEADER = [
    "type", "creator_id", "name", "submission", "platform", "url", "status",
    "likes", "comments", "shares", "favorites", "views", "clicks", "leads", "gmv",
    "pending", "settled", "paid", "total",
]  # fmt: skip


@dataclass
class ExportRows:
    creators: list[list] = field(default_factory=list)
    posts: list[list] = field(default_factory=list)
    total_fen: int = 0


def _yuan(fen: int) -> str:
    """Plain decimal yuan for finance: 245700 → '2457.00' (no symbol, no grouping)."""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{cents:02d}"


async def export_rows(campaign: Campaign) -> ExportRows:
    """One row per creator and one per post, from the ledger; totals equal it to the fen."""
    settlements = await ledger.settlements_of(campaign.id)
    entries = await LedgerEntry.filter(
        campaign_id=campaign.id, kind__in=ledger.EARNING_KINDS
    ).order_by("id")
    per_creator: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_post: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latest_metrics: dict[int, dict] = {}
    for entry in entries:
        state = ledger.state_of(entry.id, settlements)
        per_creator[entry.creator_id][state] += entry.amount_fen  # type: ignore[attr-defined]
        if entry.submission_id is not None:  # type: ignore[attr-defined]
            per_post[entry.submission_id][state] += entry.amount_fen  # type: ignore[attr-defined]
            if "metrics" in entry.basis:
                latest_metrics[entry.submission_id] = entry.basis["metrics"]  # type: ignore[attr-defined]
    rows = ExportRows(total_fen=sum(e.amount_fen for e in entries))
    creators = {
        c.id: c
        for c in await Creator.filter(id__in=list(per_creator) or [0]).prefetch_related("person")
    }
    states = tuple(EarningState)
    for creator_id in sorted(per_creator):
        amounts = per_creator[creator_id]
        creator = creators[creator_id]
        rows.creators.append(
            ["creator", creator_id, creator.person.display_name, creator.tier]
            + [_yuan(amounts[s]) for s in states]
            + [_yuan(sum(amounts.values()))]
        )
    submissions = await Submission.filter(id__in=list(per_post) or [0]).order_by("id")
    for submission in submissions:
        amounts = per_post[submission.id]
        metrics = latest_metrics.get(submission.id, {})
        creator = creators[submission.creator_id]  # type: ignore[attr-defined]
        rows.posts.append(
            [
                "post",
                creator.id,
                creator.person.display_name,
                submission.id,
                submission.platform,
                submission.canonical_url,
                submission.status,
            ]
            + [metrics.get(name, 0) for name in POST_HEADER[7:14]]
            + [_yuan(metrics.get("gmv_fen", 0))]
            + [_yuan(amounts[s]) for s in states]
            + [_yuan(sum(amounts.values()))]
        )
    return rows


async def write_exports(campaign: Campaign, directory: Path, now: datetime) -> list[Path]:
    """CSV (UTF-8 with BOM, opens in Excel) and XLSX: creators, then posts, then the total."""
    rows = await export_rows(campaign)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{campaign.code}-{now.strftime('%Y%m%d-%H%M%S')}"
    total_row = ["total", "", "", "", "", "", "", _yuan(rows.total_fen)]
    csv_path = directory / f"{stem}.csv"
    with csv_path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CREATOR_HEADER)
        writer.writerows(csv_row(row) for row in rows.creators)
        writer.writerow(total_row)
        writer.writerow([])
        writer.writerow(POST_HEADER)
        writer.writerows(csv_row(row) for row in rows.posts)
    xlsx_path = directory / f"{stem}.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.title = "creators"
    _append_rows(sheet, [CREATOR_HEADER, *rows.creators, total_row])
    _append_rows(book.create_sheet("posts"), [POST_HEADER, *rows.posts])
    book.save(xlsx_path)
    return [csv_path, xlsx_path]


def _append_rows(sheet: Worksheet, rows: list[list]) -> None:
    for row in rows:
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            if is_text(cell.value):
                cell.data_type = "s"  # a creator's name "=HYPERLINK(…)" stays text
                cell.quotePrefix = True


async def exportable_campaign(caller: Caller, code: str) -> Campaign:
    """Managers and brand ops of the campaign's brand may export it; to others it is unknown."""
    campaign = await campaign_by_code(code)
    if not caller.can_view_brand(campaign.brand_id):  # type: ignore[attr-defined]
        raise UserError("campaigns/unknown", code=campaign.code)
    return campaign
