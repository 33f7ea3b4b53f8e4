"""Hashtag kits: what a creator pastes under a post, written in each platform's syntax."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.domain.platforms import format_hashtag


@dataclass(frozen=True)
class Kit:
    platform: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    mentions: tuple[str, ...]
    disclosure: str

    @property
    def line(self) -> str:
        """One copy-and-paste line: required tags, mentions, disclosure (optional ones apart).

        Tags are separated by spaces: on Xiaohongshu, Douyin and most others a tag ends at the
        first space, so `#A#B` would be one tag."""
        return " ".join([*self.required, *self.mentions, self.disclosure]).strip()


def kit_for(spec: dict[str, Any], platform: str) -> Kit:
    hashtags = spec.get("hashtags") or {}
    return Kit(
        platform=platform,
        required=tuple(format_hashtag(platform, t) for t in hashtags.get("required", [])),
        optional=tuple(format_hashtag(platform, t) for t in hashtags.get("optional", [])),
        mentions=tuple(spec.get("mentions") or ()),
        disclosure=str(spec.get("disclosure") or ""),
    )


def kits_for(spec: dict[str, Any], registered: Iterable[str]) -> tuple[list[Kit], list[str]]:
    """Kits for the creator's platforms that the campaign takes, and the registered platforms it
    does not take. With no platform in common, every platform of the campaign gets a kit."""
    allowed = list(spec.get("platforms") or [])
    mine = list(dict.fromkeys(registered))
    common = [p for p in allowed if p in mine]
    others = [p for p in mine if p not in allowed]
    return [kit_for(spec, p) for p in (common or allowed)], others
