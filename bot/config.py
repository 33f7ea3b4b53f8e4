"""Settings from the environment (and an optional `.env`); documented in `.env.example`."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.core.identity import PlatformUser

LOCALES = ("zh_CN", "en")
DEFAULT_DATABASE_URL = "sqlite://data/koxbot.sqlite3"


class ConfigError(Exception):
    """Bad configuration, reported at start as one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # The local console is only reachable from this machine, so its `boss` may administer.
    admin_ids: Annotated[tuple[PlatformUser, ...], NoDecode] = (PlatformUser("console", "boss"),)
    timezone: str = "Asia/Shanghai"
    locale: str = "zh_CN"
    max_text_length: int = Field(default=4000, ge=200, le=100_000)
    flow_ttl_minutes: int = Field(default=60 * 24, ge=1)
    log_level: str = "INFO"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> tuple[PlatformUser, ...]:
        if isinstance(value, (tuple, list)):
            return tuple(PlatformUser.parse(str(v)) for v in value)
        text = str(value or "").strip()
        return tuple(PlatformUser.parse(part) for part in text.split(",") if part.strip())

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
            ) from exc
        return value

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        normalized = value.replace("-", "_")
        for locale in LOCALES:
            if locale.lower() == normalized.lower():
                return locale
        raise ValueError(f"unsupported locale {value!r} (one of {', '.join(LOCALES)})")

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "asyncpg://")):
            raise ValueError("DATABASE_URL must start with sqlite://, postgres:// or asyncpg://")
        return value

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning validation errors into one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: "
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        )
        raise ConfigError(f"configuration error: {problems}") from None
