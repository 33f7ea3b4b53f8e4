"""People, their platform identities and roles (who a caller is: storage/kernel.py)."""

from __future__ import annotations

from bot.core.identity import Caller, PlatformUser, Role
from bot.services import invites
from storage.models import Brand, Identity, Invite, Person, RoleGrant

__all__ = [
    "Caller",
    "grant",
    "join_staff_via",
    "managers_of",
    "person_for_reference",
    "set_locale",
]


async def person_for_reference(reference: str, default_platform: str) -> Person:
    """`/role USER …`: USER is `platform:id`, `@username` or an id on the caller's platform.

    A person who never talked to the bot gets a record now, so the role holds when they come.
    """
    reference = reference.strip()
    if reference.startswith("@"):
        identity = await Identity.filter(username=reference[1:]).prefetch_related("person").first()
        if identity:
            return identity.person
        reference = reference[1:]
    try:
        user = PlatformUser.parse(reference)
    except ValueError:
        user = PlatformUser(default_platform, reference)
    identity = await Identity.get_or_none(
        platform=user.platform, user_id=user.user_id
    ).prefetch_related("person")
    if identity:
        return identity.person
    person = await Person.create(display_name=user.user_id[:100])
    await Identity.create(person=person, platform=user.platform, user_id=user.user_id)
    return person


async def grant(person: Person, role: Role, brand: Brand | None, by_person_id: int | None) -> bool:
    """Grant a role; False when the person already had it."""
    brand_id = None if role is Role.ADMIN else (brand.id if brand else None)
    if await RoleGrant.exists(person_id=person.id, role=role.value, brand_id=brand_id):
        return False
    await RoleGrant.create(
        person=person, role=role.value, brand_id=brand_id, granted_by_id=by_person_id
    )
    return True


async def join_staff_via(person_id: int, invite: Invite) -> None:
    """A staff invite (any role but creator) redeemed: one use counted, then its role granted."""
    await invites.redeem(invite)
    person = await Person.get(id=person_id)
    await grant(person, Role(invite.role), invite.brand, invite.created_by_id)  # type: ignore[attr-defined]


async def set_locale(person_id: int, locale: str) -> None:
    await Person.filter(id=person_id).update(locale=locale)


async def managers_of(brand_id: int) -> list[int]:
    """The people who manage a brand (they hear its alerts and disputes)."""
    return await RoleGrant.filter(role=Role.MANAGER.value, brand_id=brand_id).values_list(
        "person_id", flat=True
    )  # type: ignore[return-value]
