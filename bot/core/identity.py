"""Who is talking, on which platform: small value types shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
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
