"""/role: admins grant staff roles (and create the brand on first mention)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.identity import Role
from bot.core.registry import Router
from bot.domain.campaign_spec import CODE_PATTERN
from bot.services import audit, campaigns, people

STAFF_ROLES = (Role.MANAGER, Role.BRAND, Role.ADMIN)

router = Router()


@router.command("role", keywords=("角色",), role=Role.ADMIN, in_groups=False)
async def role(ctx: Context) -> None:
    parts = ctx.args.split()
    wanted = (
        Role(parts[1].lower())
        if len(parts) >= 2 and parts[1].lower() in Role._value2member_map_
        else None
    )
    if len(parts) not in (2, 3) or wanted not in STAFF_ROLES:
        await ctx.reply("admin/role_usage")
        return
    brand = None
    if wanted is not Role.ADMIN:
        if len(parts) != 3 or not CODE_PATTERN.match(parts[2]):
            await ctx.reply("admin/role_usage")
            return
        brand, created = await campaigns.ensure_brand(parts[2])
        if created:
            await audit.record(ctx.caller.person_id, "brand.create", brand.code)
    person = await people.person_for_reference(parts[0], ctx.incoming.platform)
    granted = await people.grant(person, wanted, brand, ctx.caller.person_id)
    if granted:
        await audit.record(
            ctx.caller.person_id,
            "role.grant",
            f"person:{person.id}",
            role=wanted.value,
            brand=brand.code if brand else None,
        )
        await ctx.notify(person.id, "admin/role_granted_notice", role=wanted.value, brand=brand)
    await ctx.reply(
        "admin/role_granted" if granted else "admin/role_already",
        who=parts[0],
        role=wanted.value,
        brand=brand,
    )
