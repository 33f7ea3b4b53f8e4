"""Metrics imported from a manager's sheet: a plan to preview, then applied as snapshots."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.core.errors import UserError
from bot.domain.metrics_import import Sheet
from bot.domain.pricing import Metrics
from bot.services import audit, submissions
from bot.services.people import Caller
from storage.models import Submission


async def plan_import(caller: Caller, sheet: Sheet, name: str) -> dict[str, Any]:
    """What the sheet would change, as JSON (kept in the confirm flow's state).

    A row is an error when its post is unknown or not on a brand the caller manages, or
    when an earlier row already named the same post; rows that change nothing are counted."""
    changes: list[dict[str, Any]] = []
    errors: list[list[Any]] = [list(error) for error in sheet.errors]
    first_row: dict[int, int] = {}
    unchanged = 0
    for row in sheet.rows:
        if row.submission_id is not None:
            ref = f"#{row.submission_id}"
            query = Submission.get_or_none(id=row.submission_id)
        else:
            assert row.link is not None
            ref = row.link.url[:80]
            query = Submission.get_or_none(dedupe_key=row.link.dedupe_key)
        submission = await query.prefetch_related("campaign")
        if submission is None or not caller.manages(submission.campaign.brand_id):  # type: ignore[attr-defined]
            errors.append([row.line, "unknown_post", ref])
            continue
        if submission.id in first_row:
            errors.append([row.line, "repeated", f"#{submission.id}:{first_row[submission.id]}"])
            continue
        first_row[submission.id] = row.line
        old = asdict(await submissions.latest_metrics(submission.id))
        new = {key: row.values.get(key, value) for key, value in old.items()}
        if new == old:
            unchanged += 1
            continue
        changes.append({"id": submission.id, "line": row.line, "old": old, "new": new})
    errors.sort(key=lambda error: error[0])
    return {"name": name, "changes": changes, "errors": errors, "unchanged": unchanged}


async def apply_import(caller: Caller, plan: dict[str, Any]) -> tuple[int, list[int]]:
    """Record a snapshot per planned change; returns (applied, ids no longer manageable)."""
    applied, skipped = 0, []
    for change in plan["changes"]:
        try:
            submission = await submissions.managed_submission(caller, int(change["id"]))
        except UserError:
            skipped.append(int(change["id"]))
            continue
        values = {key: int(change["new"][key]) for key in Metrics.__dataclass_fields__}
        await submissions.record_metrics(submission, values, caller.person_id, source="import")
        applied += 1
    await audit.record(
        caller.person_id, "metrics.import", plan["name"][:200], applied=applied, skipped=skipped
    )
    return applied, skipped
