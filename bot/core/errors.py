"""Expected failures that the user can fix: the dispatcher answers them with their template."""

from __future__ import annotations

from typing import Any

from bot.core.messages import Choice


class UserError(Exception):
    def __init__(self, template: str, choices: list[Choice] | None = None, **data: Any) -> None:
        super().__init__(template)
        self.template = template
        self.choices = choices or []
        self.data = data
