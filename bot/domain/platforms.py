"""Social platforms creators post on: codes and hashtag syntax. Display names are in templates."""

from __future__ import annotations

from bot.domain.links import PLATFORM_SPECS

# code → how a hashtag is written there ("{}" is the tag text), from the platform table
HASHTAG_FORMATS: dict[str, str] = {spec.code: spec.hashtag for spec in PLATFORM_SPECS}
SOCIAL_PLATFORMS: tuple[str, ...] = tuple(HASHTAG_FORMATS)

ALIASES: dict[str, str] = {
    "xhs": "xiaohongshu", "小红书": "xiaohongshu", "red": "xiaohongshu",
    "dy": "douyin", "抖音": "douyin",
    "微博": "weibo",
    "b站": "bilibili", "bili": "bilibili", "哔哩哔哩": "bilibili",
    "ks": "kuaishou", "快手": "kuaishou",
    "视频号": "wechat_channels", "channels": "wechat_channels",
    "公众号": "wechat_article", "wechat": "wechat_article",
    "懂车帝": "dongchedi", "汽车之家": "autohome", "知乎": "zhihu", "大众点评": "dianping",
    "ins": "instagram", "ig": "instagram", "twitter": "x",
}  # fmt: skip


def normalize_platform(text: str) -> str | None:
    """'小红书' / 'XHS' / 'xiaohongshu' → 'xiaohongshu'; None when unknown."""
    key = text.strip().lower()
    if key in HASHTAG_FORMATS:
        return key
    return ALIASES.get(key)


def format_hashtag(platform: str, tag: str) -> str:
    return HASHTAG_FORMATS.get(platform, "#{}").format(tag)
