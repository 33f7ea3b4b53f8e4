"""Invite codes: per brand or campaign, with the role they grant, expiry and a use limit."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from tortoise.expressions import F

from bot.core.errors import UserError
from bot.core.identity import Role
from bot.domain.campaign_spec import CODE_PATTERN, shown_code
from storage.models import Brand, Campaign, Invite

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


async def create_invite(
    brand: Brand,
    campaign: Campaign | None,
    role: Role,
    created_by: int,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
    code: str | None = None,
) -> Invite:
    """A new invite; a chosen `code` (memorable, for posters) must be free."""
    if code is not None:
        if await Invite.exists(code=code):
            raise UserError("campaigns/invite_code_taken", code=code)
    else:
        code = new_code()
        while await Invite.exists(code=code):
            code = new_code()
    return await Invite.create(
        code=code,
        brand=brand,
        campaign=campaign,
        role=role.value,
        max_uses=max_uses,
        expires_at=expires_at,
        created_by_id=created_by,
    )


async def usable_invite(code: str, now: datetime) -> Invite:
    code = code.strip()
    # Chosen codes follow CODE_PATTERN and random ones fit it; any other word (a 300-letter
    # one would fail the varchar(32) column's validation) is simply unknown.
    invite = (
        await Invite.get_or_none(code=code.upper()).prefetch_related("brand", "campaign")
        if CODE_PATTERN.match(code)
        else None
    )
    if invite is None:
        raise UserError("onboarding/invite_unknown", code=shown_code(code))
    if invite.expires_at is not None and invite.expires_at <= now:
        raise UserError("onboarding/invite_expired", code=invite.code)
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise UserError("onboarding/invite_used_up", code=invite.code)
    return invite


# A word of a friend request's greeting that could be an invite code.
CODE_CANDIDATE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,31}")


async def code_in_greeting(greeting: str, now: datetime) -> str | None:
    """The first word of a greeting that is a usable invite code: the WeChat friend request
    that carries one is accepted (the policy lives here, the adapter only asks)."""
    for candidate in CODE_CANDIDATE.findall(greeting):
        try:
            invite = await usable_invite(candidate, now)
        except UserError:
            continue
        return str(invite.code)
    return None


async def redeem(invite: Invite) -> None:
    """Count one use atomically; a code that ran out in the meantime is refused."""
    query = Invite.filter(id=invite.id)
    if invite.max_uses is not None:
        query = query.filter(uses__lt=invite.max_uses)
    if await query.update(uses=F("uses") + 1) == 0:
        raise UserError("onboarding/invite_used_up", code=invite.code)
