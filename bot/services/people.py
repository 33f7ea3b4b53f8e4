"""People, their platform identities and roles."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.exceptions import IntegrityError

from bot.core.identity import SATISFIED_BY, PlatformUser, Role
from bot.domain.text import clean_name
from storage.models import Brand, Creator, Identity, Person, RoleGrant


@dataclass
class Caller:
    """The person behind an incoming message, with what they may do."""

    person_id: int
    name: str
    locale: str | None
    platform_user: PlatformUser
    roles: dict[Role, set[int | None]] = field(default_factory=dict)  # role → brand ids
    creator_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def may(self, required: Role) -> bool:
        if required is Role.ANYONE:
            return True
        if required is Role.CREATOR:
            return self.creator_id is not None
        return bool(SATISFIED_BY[required] & self.roles.keys())

    def brand_ids(self, *roles: Role) -> set[int]:
        """Brands on which the caller holds one of `roles` (admins: caller must look up all)."""
        return {b for role in roles for b in self.roles.get(role, set()) if b is not None}

    def manages(self, brand_id: int) -> bool:
        return self.is_admin or brand_id in self.brand_ids(Role.MANAGER)

    def can_view_brand(self, brand_id: int) -> bool:
        return self.manages(brand_id) or brand_id in self.brand_ids(Role.BRAND)


async def identify(
    user: PlatformUser,
    display_name: str,
    now: datetime,
    bootstrap_admins: tuple[PlatformUser, ...],
    username: str | None = None,
    in_private: bool = False,
) -> Caller:
    """The caller behind a message; writing to the bot in private means it is not blocked."""
    display_name = clean_name(display_name)
    identity = await _identity(user, display_name, now)
    changed = []
    if username and identity.username != username[:100]:
        identity.username, changed = username[:100], [*changed, "username"]
    if in_private and identity.blocked_at is not None:
        identity.blocked_at, changed = None, [*changed, "blocked_at"]
    if changed:
        await identity.save(update_fields=changed)
    person = identity.person
    if display_name and person.display_name != display_name:
        person.display_name = display_name
        await person.save(update_fields=["display_name"])
    return await caller_for(person, user, bootstrap_admins)


async def caller_for(
    person: Person, user: PlatformUser, bootstrap_admins: tuple[PlatformUser, ...] = ()
) -> Caller:
    roles: dict[Role, set[int | None]] = defaultdict(set)
    for grant in await RoleGrant.filter(person_id=person.id):
        roles[Role(grant.role)].add(grant.brand_id)  # type: ignore[attr-defined]
    if user in bootstrap_admins:
        roles[Role.ADMIN].add(None)
    creator = await Creator.get_or_none(person_id=person.id).only("id")
    return Caller(
        person_id=person.id,
        name=person.display_name or user.user_id,
        locale=person.locale,
        platform_user=user,
        roles=dict(roles),
        creator_id=creator.id if creator else None,
    )


async def _identity(user: PlatformUser, display_name: str, now: datetime) -> Identity:
    identity = await Identity.get_or_none(
        platform=user.platform, user_id=user.user_id
    ).prefetch_related("person")
    if identity is None:
        person = await Person.create(display_name=(display_name or user.user_id)[:100])
        try:
            identity = await Identity.create(
                person=person, platform=user.platform, user_id=user.user_id, last_seen_at=now
            )
        except IntegrityError:  # created concurrently by another worker
            await person.delete()
            identity = await Identity.get(
                platform=user.platform, user_id=user.user_id
            ).prefetch_related("person")
        return identity
    identity.last_seen_at = now
    await identity.save(update_fields=["last_seen_at"])
    return identity


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


async def reachable_identity(person_id: int) -> Identity | None:
    """Where to reach a person: the identity they used last (never-seen ones cannot be DMed)."""
    return (
        await Identity.filter(
            person_id=person_id, last_seen_at__isnull=False, blocked_at__isnull=True
        )
        .order_by("-last_seen_at", "-id")
        .first()
    )
