"""Unit tests for bot.domain.kits: each platform's hashtag syntax, copy-ready lines."""

from __future__ import annotations

import pytest

from bot.domain.kits import kit_for, kits_for

SPEC = {
    "platforms": ["xiaohongshu", "douyin", "weibo", "bilibili"],
    "hashtags": {"required": ["ACME春季新车", "试驾"], "optional": ["新能源"]},
    "mentions": ["@ACME汽车"],
    "disclosure": "#合作",
}


@pytest.mark.parametrize(
    ("platform", "line", "optional"),
    [
        ("weibo", "#ACME春季新车# #试驾# @ACME汽车 #合作", ("#新能源#",)),
        ("xiaohongshu", "#ACME春季新车 #试驾 @ACME汽车 #合作", ("#新能源",)),
        ("douyin", "#ACME春季新车 #试驾 @ACME汽车 #合作", ("#新能源",)),
        ("bilibili", "#ACME春季新车 #试驾 @ACME汽车 #合作", ("#新能源",)),
    ],
)
def test_each_platform_in_its_syntax(platform: str, line: str, optional: tuple[str, ...]) -> None:
    kit = kit_for(SPEC, platform)
    assert kit.line == line
    assert kit.optional == optional


def test_only_my_platforms_that_the_campaign_takes() -> None:
    kits, others = kits_for(SPEC, ["weibo", "instagram", "weibo"])
    assert [k.platform for k in kits] == ["weibo"]
    assert others == ["instagram"]


def test_no_platform_in_common_gives_every_campaign_platform() -> None:
    kits, others = kits_for(SPEC, ["tiktok"])
    assert [k.platform for k in kits] == SPEC["platforms"]
    assert others == ["tiktok"]


def test_a_kit_without_mentions_or_disclosure() -> None:
    kit = kit_for({"hashtags": {"required": ["A"]}}, "weibo")
    assert kit.line == "#A#"
