"""Settings from the environment (and an optional `.env`); documented in `.env.example`."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.core.identity import PlatformUser

LOCALES = ("zh_CN", "en")
DEFAULT_DATABASE_URL = "sqlite://data/koxbot.sqlite3"
# Telegram accepts 1-256 of these characters; fewer than 16 would be guessable.
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")


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
    # Broadcast templates (bot/services/template_sandbox.py): render time per 1,000 recipients.
    broadcast_render_seconds: float = Field(default=2.0, gt=0, le=60)
    flow_ttl_minutes: int = Field(default=60 * 24, ge=1)
    log_level: str = "INFO"
    export_dir: str = "data/exports"  # where /export writes its CSV and XLSX files
    # This process's name among the outbox's senders (default: the host name). It must be
    # the same after a restart and differ between processes sharing one database.
    worker_name: str | None = Field(default=None, min_length=1, max_length=64)
    # More than one process (README "More than one process"): Redis shares the send limits
    # of each bot between processes; unset, they are kept in this process.
    redis_url: SecretStr | None = None
    # Sent and failed outbox rows are deleted this many days after they settled.
    outbox_retention_days: int = Field(default=30, ge=1, le=3650)
    # Sends one process keeps on the wire at once (to different chats); a process killed
    # mid-send leaves at most these in doubt. Raise it when the platform's API is far away.
    outbox_send_concurrency: int = Field(default=1, ge=1, le=64)
    # HOST:PORT for /healthz and Prometheus /metrics; unset: no such server.
    http_listen: str | None = None

    # Telegram (bot/platforms/telegram.py): on when a token is set.
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str | None = None  # another Bot API server, e.g. http://127.0.0.1:8081
    telegram_webhook_url: str | None = None  # public HTTPS URL; unset: long polling
    telegram_webhook_secret: SecretStr | None = None  # required with the URL (see below)
    # Loopback by default: a TLS proxy on this host forwards to it. Listening on every
    # interface is a deliberate choice (TELEGRAM_WEBHOOK_LISTEN=0.0.0.0:8443).
    telegram_webhook_listen: str = "127.0.0.1:8443"
    telegram_rate_global_per_second: int = Field(default=30, ge=1, le=1000)
    telegram_rate_private_per_second: int = Field(default=1, ge=1, le=100)
    # A person's own chat may take this many messages at once (then the per-second pace).
    telegram_rate_private_burst: int = Field(default=3, ge=1, le=100)
    telegram_rate_group_per_minute: int = Field(default=20, ge=1, le=1000)

    # Outlines (bot/services/llm.py): any OpenAI-compatible endpoint; no key → templates.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_concurrency: int = Field(default=4, ge=1, le=256)
    openai_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    openai_max_retries: int = Field(default=3, ge=0, le=10)
    openai_retry_base_seconds: float = Field(default=1.0, ge=0, le=60)
    openai_temperature: float = Field(default=0.9, ge=0, le=2)
    openai_max_tokens: int = Field(default=1500, ge=200, le=32_000)
    # Prices per million tokens, in OPENAI_PRICE_CURRENCY; costs are kept as integer micro-units.
    openai_price_input_per_mtok: Decimal = Field(default=Decimal("0.15"), ge=0)
    openai_price_output_per_mtok: Decimal = Field(default=Decimal("0.60"), ge=0)
    openai_price_currency: str = "USD"
    outline_similarity_max: float = Field(default=0.45, gt=0, le=1)
    outline_max_attempts: int = Field(default=3, ge=1, le=10)

    # WeChat (bot/platforms/wechat.py): on when a puppet service endpoint is set.
    wechaty_puppet_service_endpoint: str | None = None  # HOST:PORT of the wechaty gateway
    wechaty_puppet_service_token: SecretStr | None = None  # required with the endpoint
    wechat_cache_dir: str = "data/wechaty"  # wechaty's own cache (CACHE_DIR)
    wechat_send_interval_seconds: float = Field(default=3.0, ge=0, le=3600)
    wechat_send_jitter_seconds: float = Field(default=2.0, ge=0, le=3600)
    wechat_daily_cap: int = Field(default=500, ge=1, le=100_000)
    wechat_login_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    wechat_reconnect_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Short-link resolution (bot/services/resolver.py): off where the network is closed.
    link_resolve: bool = False
    link_resolve_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    link_resolve_concurrency: int = Field(default=4, ge=1, le=64)
    link_resolve_max_redirects: int = Field(default=8, ge=1, le=30)
    link_resolve_max_attempts: int = Field(default=3, ge=1, le=20)

    @field_validator(
        "wechaty_puppet_service_endpoint", "wechaty_puppet_service_token", mode="before"
    )
    @classmethod
    def _blank_wechat_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("wechaty_puppet_service_endpoint")
    @classmethod
    def _wechat_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.strip().removeprefix("http://").rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected HOST:PORT of the wechaty gateway, e.g. 127.0.0.1:8788")
        return value.strip()

    @model_validator(mode="after")
    def _wechat_token_with_endpoint(self) -> Settings:
        if self.wechaty_puppet_service_endpoint and self.wechaty_puppet_service_token is None:
            raise ValueError(
                "WECHATY_PUPPET_SERVICE_TOKEN is required with WECHATY_PUPPET_SERVICE_ENDPOINT "
                "(the client sends it to the gateway)"
            )
        return self

    @field_validator(
        "telegram_bot_token",
        "telegram_api_base",
        "telegram_webhook_url",
        "telegram_webhook_secret",
        "worker_name",
        "redis_url",
        "http_listen",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`NAME=` in .env.example style files means "not set", not an empty value."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> Settings:
        """Without the secret anyone who can reach the hook could post updates in any user's
        name (an admin's `/role` included), so webhook mode refuses to start without one."""
        if self.telegram_webhook_url is None:
            return self
        secret = self.telegram_webhook_secret
        if secret is None:
            raise ValueError(
                "TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL (Telegram sends "
                "it back with every update; requests without it are refused)"
            )
        if not WEBHOOK_SECRET.fullmatch(secret.get_secret_value()):
            raise ValueError(
                "TELEGRAM_WEBHOOK_SECRET must be 16-256 characters of A-Z, a-z, 0-9, _ and - "
                "(e.g. the output of `openssl rand -hex 32`)"
            )
        return self

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("telegram_webhook_listen", "http_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8443")
        return value

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
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Asia" is a directory
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

    @field_validator("openai_api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("openai_base_url")
    @classmethod
    def _http_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().startswith(("http://", "https://")):
            raise ValueError("OPENAI_BASE_URL must start with http:// or https://")
        return value.strip().rstrip("/")

    @field_validator("openai_price_currency")
    @classmethod
    def _price_currency(cls, value: str) -> str:
        if not value.strip().isalpha() or len(value.strip()) != 3:
            raise ValueError("a three-letter currency code such as USD or CNY")
        return value.strip().upper()

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
