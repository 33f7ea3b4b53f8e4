"""Who a broadcast goes to, parsed from what the manager typed (no I/O).

`campaign tier=A,B city=上海 platform=小红书 kind=kos`: one scope word and filters, in either
language. bot.services.broadcasts resolves an Audience to creators and groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain.platforms import normalize_platform
from bot.domain.statuses import CreatorKind
from bot.domain.vocabulary import VOCABULARY


class Scope(StrEnum):
    BRAND = "brand"  # every creator of the brand
    CAMPAIGN = "campaign"  # the campaign's enrolled creators
    PENDING = "pending"  # enrolled creators with no post that counts yet
    GROUPS = "groups"  # the campaign's groups


KINDS = {kind.value: kind for kind in CreatorKind}


class AudienceError(Exception):
    """What the manager typed names no audience. Domain code does not know bot.core's
    UserError; callers turn this into one (same template name, same data)."""

    def __init__(self, template: str, **data: Any) -> None:
        super().__init__(template)
        self.template = template
        self.data = data


@dataclass
class Audience:
    """Stored as JSON on the broadcast (`to_json`), rebuilt with `Audience(**data)`."""

    brand_id: int
    scope: str = Scope.BRAND
    campaign_id: int | None = None
    tiers: list[str] = field(default_factory=list)
    cities: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_audience(text: str, brand_id: int, campaign_id: int | None) -> Audience:
    """`campaign tier=A,B city=上海 platform=小红书 kind=kos` (words in either language);
    AudienceError when a word is not understood."""
    audience = Audience(brand_id, Scope.CAMPAIGN if campaign_id else Scope.BRAND, campaign_id)
    for word in text.replace("＝", "=").split():
        key, sep, value = word.partition("=")
        if not sep:
            meaning = VOCABULARY.meaning(word, "audience_scope")  # named as the Scope values
            if meaning is None:
                raise AudienceError("broadcast/bad_audience", word=word[:40])
            scope = Scope(meaning)
            if scope != Scope.BRAND and campaign_id is None:
                raise AudienceError("broadcast/needs_campaign", word=word[:40])
            audience.scope = scope
            continue
        name = VOCABULARY.meaning(key, "audience_filter")
        values = [v for v in re.split(r"[,，、|]", value) if v.strip()]
        if name is None or not values:
            raise AudienceError("broadcast/bad_audience", word=word[:40])
        if name == "tier":
            audience.tiers = [v.strip().upper() for v in values]
        elif name == "city":
            audience.cities = [v.strip() for v in values]
        elif name == "platform":
            codes = [normalize_platform(v) for v in values]
            if None in codes:
                raise AudienceError("broadcast/bad_audience", word=word[:40])
            audience.platforms = [c for c in codes if c]
        else:
            kind = KINDS.get(values[0].strip().lower())
            if kind is None or len(values) > 1:
                raise AudienceError("broadcast/bad_audience", word=word[:40])
            audience.kind = kind
    if audience.scope == Scope.GROUPS and (
        audience.tiers or audience.cities or audience.platforms or audience.kind
    ):
        raise AudienceError("broadcast/groups_no_filters")
    return audience
