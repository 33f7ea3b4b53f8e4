"""Verification of a submitted post: every check with its result, as pure rules.

A check passes, fails, is unknown (it applies, but what it needs is not known yet, such as
the caption) or is skipped (it does not apply, such as the account when the link names
none). A submission is refused outright when its platform is not allowed or the post was
already submitted; otherwise it is stored with its checks, and it is approved without a
manager only when the campaign allows that and no check failed or is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.captions import (
    caption_is_known,
    has_disclosure,
    has_mention,
    missing_hashtags,
    normalize,
)
from bot.domain.links import Link, classify_url

PASS, FAIL, UNKNOWN, SKIP = "pass", "fail", "unknown", "skip"
# in the order they are shown
CHECK_CODES = (
    "platform",
    "duplicate",
    "embargo",
    "posted_at",
    "deadline",
    "hashtags",
    "disclosure",
    "mentions",
    "account",
    "link",
)
REFUSING = ("platform", "duplicate")  # a failure here stores nothing


@dataclass(frozen=True)
class Check:
    code: str  # one of CHECK_CODES
    status: str  # pass | fail | unknown | skip
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "status": self.status, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Check:
        return cls(str(data["code"]), str(data["status"]), dict(data.get("detail") or {}))


@dataclass(frozen=True)
class Rules:
    """What a campaign asks of a post (from its stored spec and times)."""

    platforms: tuple[str, ...]
    embargo_at: datetime
    deadline_at: datetime
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    disclosure: str = ""
    auto_approve: bool = False

    @classmethod
    def from_spec(cls, spec: dict[str, Any], embargo_at: datetime, deadline_at: datetime) -> Rules:
        return cls(
            platforms=tuple(spec.get("platforms", ())),
            embargo_at=embargo_at,
            deadline_at=deadline_at,
            hashtags=tuple(spec.get("hashtags", {}).get("required", ())),
            mentions=tuple(spec.get("mentions", ())),
            disclosure=str(spec.get("disclosure") or ""),
            auto_approve=bool(spec.get("auto_approve", False)),
        )


@dataclass(frozen=True)
class Candidate:
    """A post as submitted: its link, what else is known about it, and by whom."""

    link: Link
    submitted_at: datetime
    caption: str | None = None
    posted_at: datetime | None = None  # when its id or the platform says it was posted
    duplicate_of: str | None = None  # "own" | "other" when the post was submitted before
    accounts: tuple[str, ...] = ()  # the creator's registered handles on the link's platform
    # A short link being followed (bot.services.resolver): None when the link is not short or
    # resolution is off; pending | resolved | not_post | failed, with why in resolve_detail.
    resolution: str | None = None
    resolve_detail: dict[str, Any] = field(default_factory=dict)


def verify(candidate: Candidate, rules: Rules) -> list[Check]:
    """Every check, in CHECK_CODES order."""
    link = candidate.link
    checks = [
        _platform(link, rules),
        _duplicate(candidate),
        Check(
            "embargo",
            FAIL if candidate.submitted_at < rules.embargo_at else PASS,
            {"at": candidate.submitted_at.isoformat()},
        ),
        _posted_at(candidate, rules),
        Check("deadline", FAIL if candidate.submitted_at > rules.deadline_at else PASS),
    ]
    checks += _caption_checks(candidate, rules)
    checks.append(_account(link, candidate.accounts))
    checks.append(_resolution(candidate))
    return checks


def _resolution(candidate: Candidate) -> Check:
    """A short link counts as verified only once it has led to a post."""
    status = {None: SKIP, "pending": UNKNOWN, "resolved": PASS}.get(candidate.resolution, FAIL)
    return Check("link", status, dict(candidate.resolve_detail))


def _platform(link: Link, rules: Rules) -> Check:
    ok = link.platform in rules.platforms
    return Check("platform", PASS if ok else FAIL, {"platform": link.platform})


def _duplicate(candidate: Candidate) -> Check:
    if candidate.duplicate_of is None:
        return Check("duplicate", PASS)
    return Check("duplicate", FAIL, {"of": candidate.duplicate_of})


def _posted_at(candidate: Candidate, rules: Rules) -> Check:
    if candidate.posted_at is None:
        return Check("posted_at", SKIP)
    status = FAIL if candidate.posted_at < rules.embargo_at else PASS
    return Check("posted_at", status, {"at": candidate.posted_at.isoformat()})


def _caption_checks(candidate: Candidate, rules: Rules) -> list[Check]:
    caption, platform = candidate.caption, candidate.link.platform
    known = caption_is_known(caption)
    wanted: list[tuple[str, list[str], Any]] = [
        (
            "hashtags",
            list(rules.hashtags),
            lambda c: missing_hashtags(c, platform, rules.hashtags),
        ),
        (
            "disclosure",
            [rules.disclosure] if rules.disclosure else [],
            lambda c: [] if has_disclosure(c, platform, rules.disclosure) else [rules.disclosure],
        ),
        (
            "mentions",
            list(rules.mentions),
            lambda c: [m for m in rules.mentions if not has_mention(c, m)],
        ),
    ]
    checks = []
    for code, required, find_missing in wanted:
        if not required:
            checks.append(Check(code, SKIP))
        elif not known:
            checks.append(Check(code, UNKNOWN, {"required": required}))
        else:
            missing = find_missing(caption or "")
            checks.append(Check(code, FAIL if missing else PASS, {"missing": missing}))
    return checks


def _account(link: Link, registered: Iterable[str]) -> Check:
    """Does the account the link names match one the creator registered on that platform?"""
    author = link.author
    if author is None or link.platform is None:
        return Check("account", SKIP)
    handles = [h for h in (str(h).strip() for h in registered) if h]
    if not handles:
        return Check("account", UNKNOWN, {"author": author, "reason": "no_account"})
    comparable = []
    for handle in handles:
        name, from_url = _registered_name(handle, link.platform)
        if name is None:
            continue
        if from_url or _names_by_handle(link.platform) or _same_shape(name, author):
            comparable.append(name)
    if not comparable:
        return Check("account", UNKNOWN, {"author": author, "reason": "not_comparable"})
    if normalize(author) in {normalize(name) for name in comparable}:
        return Check("account", PASS, {"author": author})
    return Check("account", FAIL, {"author": author, "registered": handles})


def _registered_name(handle: str, platform: str) -> tuple[str | None, bool]:
    """A registered handle as the name or id a URL would show; (name, came from a URL)."""
    if "/" in handle:
        link = classify_url(handle)
        if link is None or link.platform != platform:
            return None, True
        return link.author, True
    return handle.lstrip("@＠").strip() or None, False


def _names_by_handle(platform: str) -> bool:
    """Platforms whose URLs show the same user name creators call their handle."""
    return platform in ("tiktok", "instagram", "x", "youtube")


def _same_shape(name: str, author: str) -> bool:
    """A registered numeric id compares with a numeric id in a URL (and hex with hex)."""
    if author.isdigit():
        return name.isdigit()
    return bool(re.fullmatch(r"[0-9a-f]{24}", author.lower())) and bool(
        re.fullmatch(r"[0-9a-f]{24}", name.lower())
    )


def refusal(checks: Iterable[Check]) -> Check | None:
    """The failed check that refuses the submission outright, if any."""
    return next((c for c in checks if c.code in REFUSING and c.status == FAIL), None)


def auto_approvable(checks: Iterable[Check], rules: Rules) -> bool:
    return rules.auto_approve and all(c.status in (PASS, SKIP) for c in checks)


def flags(checks: Iterable[Check]) -> list[str]:
    """The short flags of a submission: leak (before the embargo), late (after the deadline)."""
    failed = {c.code for c in checks if c.status == FAIL}
    result = []
    if failed & {"embargo", "posted_at"}:
        result.append("leak")
    if "deadline" in failed:
        result.append("late")
    return result


def problems(checks: Iterable[Check]) -> list[Check]:
    """The checks a reviewer and the creator should look at: failed or unknown."""
    return [c for c in checks if c.status in (FAIL, UNKNOWN)]


__all__ = [
    "CHECK_CODES",
    "FAIL",
    "PASS",
    "SKIP",
    "UNKNOWN",
    "Candidate",
    "Check",
    "Rules",
    "auto_approvable",
    "flags",
    "problems",
    "refusal",
    "verify",
]
