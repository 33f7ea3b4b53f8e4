"""Who is talking, on which platform: small value types shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

PLATFORMS = ("console", "telegram", "wechat")


class Role(StrEnum):
    """Roles a person holds (per brand, except admin). ANYONE is the absence of a role."""

    ANYONE = "anyone"
    CREATOR = "creator"
    BRAND = "brand"
    MANAGER = "manager"
    ADMIN = "admin"

    @classmethod
    def grantable(cls) -> tuple[Role, ...]:
        return (cls.CREATOR, cls.BRAND, cls.MANAGER, cls.ADMIN)


# Which held roles satisfy a command's required role (admin satisfies every staff role).
SATISFIED_BY: dict[Role, frozenset[Role]] = {
    Role.ANYONE: frozenset(Role),
    Role.CREATOR: frozenset({Role.CREATOR}),
    Role.BRAND: frozenset({Role.BRAND, Role.MANAGER, Role.ADMIN}),
    Role.MANAGER: frozenset({Role.MANAGER, Role.ADMIN}),
    Role.ADMIN: frozenset({Role.ADMIN}),
}


@dataclass(frozen=True)
class PlatformUser:
    """A user id on one platform, written `platform:user_id` in configuration."""

    platform: str
    user_id: str

    @classmethod
    def parse(cls, text: str) -> PlatformUser:
        platform, sep, user_id = text.strip().partition(":")
        if not sep or not user_id.strip():
            raise ValueError(f"{text.strip()!r} is not platform:user_id (e.g. console:boss)")
        if platform not in PLATFORMS:
            raise ValueError(
                f"{text.strip()!r}: unknown platform {platform!r} ({', '.join(PLATFORMS)})"
            )
        return cls(platform, user_id.strip())

    def __str__(self) -> str:
        return f"{self.platform}:{self.user_id}"


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
