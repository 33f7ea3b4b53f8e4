"""A metrics sheet was sent: show what would change, apply it only when confirmed."""

from __future__ import annotations

from typing import Any

from bot.core.context import Context
from bot.core.flows import Flow, InvalidAnswer
from bot.core.messages import Choice
from bot.domain.vocabulary import VOCABULARY
from bot.services import metrics_import

PREVIEW_ROWS = 20


class MetricsImport(Flow):
    name = "metrics_import"
    steps = ("confirm",)

    async def ask_confirm(self, ctx: Context, data: dict[str, Any]) -> None:
        choices = [
            Choice(
                ctx.render("submissions/import_confirm_label"),
                VOCABULARY.word("metrics_import_confirm.confirm"),
            ),
            Choice(ctx.render("submissions/import_cancel_label"), VOCABULARY.word("flow.cancel")),
        ]
        await ctx.reply(
            "submissions/import_preview", plan=data, shown=PREVIEW_ROWS, choices=choices
        )

    async def answer_confirm(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        if not VOCABULARY.means(text, "metrics_import_confirm.confirm"):
            raise InvalidAnswer("submissions/import_bad_confirm")
        return None

    async def finish(self, ctx: Context, data: dict[str, Any]) -> None:
        applied, skipped = await metrics_import.apply_import(ctx.caller, data)
        await ctx.reply(
            "submissions/import_done", applied=applied, skipped=skipped, name=data["name"]
        )


