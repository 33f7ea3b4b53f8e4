"""Unit tests for bot.domain.platforms: platform codes, aliases and hashtag syntax."""

from __future__ import annotations

import pytest

from bot.domain.platforms import (
    ALIASES,
    HASHTAG_FORMATS,
    SOCIAL_PLATFORMS,
    format_hashtag,
    normalize_platform,
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("小红书", "xiaohongshu"),
        ("XHS", "xiaohongshu"),
        ("xhs", "xiaohongshu"),
        ("RED", "xiaohongshu"),
        ("xiaohongshu", "xiaohongshu"),
        ("  Xiaohongshu  ", "xiaohongshu"),
        ("抖音", "douyin"),
        ("DY", "douyin"),
        ("微博", "weibo"),
        ("Weibo", "weibo"),
        ("b站", "bilibili"),
        ("B站", "bilibili"),
        ("哔哩哔哩", "bilibili"),
        ("快手", "kuaishou"),
        ("视频号", "wechat_channels"),
        ("公众号", "wechat_article"),
        ("懂车帝", "dongchedi"),
        ("汽车之家", "autohome"),
        ("知乎", "zhihu"),
        ("大众点评", "dianping"),
        ("IG", "instagram"),
        ("twitter", "x"),
        ("Twitter", "x"),
        ("X", "x"),
        ("TikTok", "tiktok"),
        ("youtube", "youtube"),
    ],
)
def test_normalize_platform(text: str, code: str) -> None:
    assert normalize_platform(text) == code


@pytest.mark.parametrize("text", ["myspace", "", "   ", "小红", "facebook", "xiao hong shu"])
def test_unknown_platform_is_none(text: str) -> None:
    assert normalize_platform(text) is None


def test_every_alias_points_at_a_known_platform() -> None:
    assert set(ALIASES.values()) <= set(SOCIAL_PLATFORMS)


def test_every_code_normalizes_to_itself() -> None:
    assert all(normalize_platform(code) == code for code in SOCIAL_PLATFORMS)
    assert tuple(HASHTAG_FORMATS) == SOCIAL_PLATFORMS


@pytest.mark.parametrize(
    ("platform", "tag", "text"),
    [
        ("weibo", "新车上市", "#新车上市#"),
        ("xiaohongshu", "新车上市", "#新车上市"),
        ("douyin", "试驾", "#试驾"),
        ("bilibili", "KOX", "#KOX"),
        ("x", "launch", "#launch"),
        ("unknown-platform", "tag", "#tag"),
    ],
)
def test_format_hashtag(platform: str, tag: str, text: str) -> None:
    assert format_hashtag(platform, tag) == text


def test_only_weibo_closes_hashtags() -> None:
    closing = {code for code in SOCIAL_PLATFORMS if format_hashtag(code, "t") == "#t#"}
    assert closing == {"weibo"}
    assert all(format_hashtag(code, "t") == "#t" for code in set(SOCIAL_PLATFORMS) - closing)
