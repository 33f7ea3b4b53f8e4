"""Settings: defaults and one clear line for bad values."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.core.identity import PlatformUser


def test_the_local_console_boss_is_admin_by_default() -> None:
    assert Settings(_env_file=None).admin_ids == (PlatformUser("console", "boss"),)  # type: ignore[call-arg]
    assert Settings(_env_file=None, admin_ids="telegram:1,console:ann").admin_ids == (  # type: ignore[call-arg]
        PlatformUser("telegram", "1"),
        PlatformUser("console", "ann"),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"admin_ids": "boss"}, "ADMIN_IDS: 'boss' is not platform:user_id (e.g. console:boss)"),
        ({"admin_ids": "irc:boss"}, "ADMIN_IDS: 'irc:boss': unknown platform 'irc'"),
        ({"timezone": "Mars/Base"}, "TIMEZONE: unknown time zone 'Mars/Base'"),
        ({"locale": "fr"}, "LOCALE: unsupported locale 'fr' (one of zh_CN, en)"),
        ({"database_url": "mysql://x"}, "DATABASE_URL: DATABASE_URL must start with sqlite://"),
    ],
)
def test_bad_values_are_one_clear_line(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, **overrides)
    text = str(error.value)
    assert text.startswith("configuration error: ") and message in text and "\n" not in text


def test_locale_spelling_is_forgiving() -> None:
    assert load_settings(_env_file=None, locale="zh-cn").locale == "zh_CN"


def test_blank_telegram_variables_mean_not_set() -> None:
    settings = load_settings(_env_file=None, telegram_bot_token="", telegram_webhook_url=" ")
    assert settings.telegram_bot_token is None and settings.telegram_webhook_url is None
    token = load_settings(_env_file=None, telegram_bot_token="123:abc").telegram_bot_token
    assert token is not None and "123:abc" not in repr(token)  # never printed by accident
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_LISTEN: expected HOST:PORT"):
        load_settings(_env_file=None, telegram_webhook_listen="8443")


def test_webhook_mode_needs_a_strong_secret_and_listens_on_loopback_by_default() -> None:
    url = "https://bot.example.com/telegram/hook"
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET is required"):
        load_settings(_env_file=None, telegram_webhook_url=url)
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET is required"):
        load_settings(_env_file=None, telegram_webhook_url=url, telegram_webhook_secret=" ")
    for weak in ("short", "has spaces in it, 123456", "x" * 257):
        with pytest.raises(ConfigError, match="16-256 characters"):
            load_settings(_env_file=None, telegram_webhook_url=url, telegram_webhook_secret=weak)
    settings = load_settings(
        _env_file=None, telegram_webhook_url=url, telegram_webhook_secret="a" * 16 + "-_09"
    )
    assert settings.telegram_webhook_listen == "127.0.0.1:8443"
    assert load_settings(_env_file=None).telegram_webhook_secret is None  # polling needs none
