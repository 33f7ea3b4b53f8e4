"""Unit tests for bot.domain.captions (hashtags per platform) and bot.domain.checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.captions import (
    caption_from_share_text,
    caption_is_known,
    find_hashtags,
    has_disclosure,
    has_mention,
    missing_hashtags,
)
from bot.domain.checks import (
    FAIL,
    PASS,
    SKIP,
    UNKNOWN,
    Candidate,
    Check,
    Rules,
    auto_approvable,
    flags,
    problems,
    refusal,
    verify,
)
from bot.domain.links import classify_url, find_links

EMBARGO = datetime(2026, 5, 20, 2, 30, tzinfo=UTC)
AFTER = EMBARGO + timedelta(minutes=30)
RULES = Rules(
    platforms=("xiaohongshu", "douyin", "weibo", "tiktok"),
    embargo_at=EMBARGO,
    deadline_at=EMBARGO + timedelta(days=7),
    hashtags=("ACME春季新车", "试驾"),
    mentions=("@ACME汽车",),
    disclosure="#合作",
    auto_approve=True,
)
DOUYIN = "https://www.douyin.com/video/7641803381662272789"  # posted 2026-05-20 03:00 UTC


# --------------------------------------------------------------------------- captions


def test_caption_is_the_share_text_without_link_boilerplate_and_codes() -> None:
    text = (
        "7.43 复制打开抖音，看看【小明的作品】新车试驾体验 # 试驾 # ACME春季新车  "
        "https://v.douyin.com/iRNBho6u/ Wsl:/ 10/26 K@W.lp"
    )
    caption = caption_from_share_text(text, [link.url for link in find_links(text)])
    assert caption == "【小明的作品】新车试驾体验 # 试驾 # ACME春季新车"
    assert caption_is_known(caption)
    xhs = "【小红书】春日试驾 😆 http://xhslink.com/a/AbC12dEf，复制本条信息，打开【小红书】App查看精彩内容！"
    caption = caption_from_share_text(xhs, ["http://xhslink.com/a/AbC12dEf"])
    assert caption == "【小红书】春日试驾 😆"
    assert not caption_is_known(caption)
    assert not caption_is_known(None)


@pytest.mark.parametrize(
    ("platform", "caption", "tags"),
    [
        ("weibo", "#ACME春季新车# 这台车绝了 #试驾# [哈哈]", ["acme春季新车", "试驾"]),
        ("weibo", "＃ACME春季新车＃ ＃试驾＃", ["acme春季新车", "试驾"]),
        ("weibo", "#试驾 没有闭合", []),  # Weibo needs the closing mark
        (
            "xiaohongshu",
            "春日试驾 #ACME春季新车[话题]# #试驾[话题]# #合作",
            ["acme春季新车", "试驾", "合作"],
        ),
        ("xiaohongshu", "#试驾#新能源", ["试驾", "新能源"]),
        ("douyin", "新车试驾体验 # 试驾 # ACME春季新车 @ACME汽车", ["试驾", "acme春季新车"]),
        ("douyin", "＃ＡＣＭＥ春季新车，＃试驾。", ["acme春季新车", "试驾"]),
        ("tiktok", "Spring drive #acme春季新车 #试驾!", ["acme春季新车", "试驾"]),
        ("douyin", "没有话题，只有 # 号", ["号"]),
        ("douyin", "no tags at all", []),
    ],
)
def test_hashtags_per_platform_syntax(platform: str, caption: str, tags: list[str]) -> None:
    assert find_hashtags(caption, platform) == tags


def test_missing_hashtags_names_the_campaign_spelling() -> None:
    assert missing_hashtags("#acme春季新车", "douyin", ["ACME春季新车", "试驾"]) == ["试驾"]
    assert missing_hashtags("#ACME春季新车# #试驾#", "weibo", ["ACME春季新车", "试驾"]) == []
    assert missing_hashtags("#ACME春季新车 #试驾", "weibo", ["ACME春季新车", "试驾"]) != []


def test_mentions_and_disclosure() -> None:
    assert has_mention("感谢 @ACME汽车 的邀请", "@ACME汽车")
    assert has_mention("感谢＠acme汽车", "@ACME汽车")
    assert not has_mention("感谢 @ACME汽车服务", "@ACME汽车")
    assert not has_mention("ACME汽车", "@ACME汽车")
    assert has_disclosure("#合作# #试驾#", "weibo", "#合作")
    assert not has_disclosure("#合作 #试驾", "weibo", "#合作")
    assert has_disclosure("本文为 品牌 合作 内容", "douyin", "品牌合作")
    assert not has_disclosure("#合作伙伴", "douyin", "#合作")


# --------------------------------------------------------------------------- checks


def candidate(url: str = DOUYIN, **kw: object) -> Candidate:
    link = classify_url(url)
    assert link is not None
    values: dict = {"link": link, "submitted_at": AFTER}
    values.update(kw)
    return Candidate(**values)


def by_code(checks: list[Check]) -> dict[str, Check]:
    return {check.code: check for check in checks}


def test_a_clean_post_passes_every_check_and_may_be_auto_approved() -> None:
    caption = "试驾体验 #ACME春季新车 #试驾 #合作 @ACME汽车"
    checks = verify(candidate(caption=caption, posted_at=AFTER), RULES)
    statuses = {c.code: c.status for c in checks}
    assert statuses == {
        "platform": PASS,
        "duplicate": PASS,
        "embargo": PASS,
        "posted_at": PASS,
        "deadline": PASS,
        "hashtags": PASS,
        "disclosure": PASS,
        "mentions": PASS,
        "account": SKIP,
        "link": SKIP,
    }
    assert auto_approvable(checks, RULES)
    assert not auto_approvable(checks, Rules(**{**RULES.__dict__, "auto_approve": False}))
    assert flags(checks) == [] and problems(checks) == [] and refusal(checks) is None


def test_unknown_caption_blocks_auto_approval() -> None:
    checks = verify(candidate(), RULES)
    assert {c.code for c in problems(checks)} == {"hashtags", "disclosure", "mentions"}
    assert all(c.status == UNKNOWN for c in problems(checks))
    assert not auto_approvable(checks, RULES)


def test_missing_hashtag_disclosure_and_mention_fail_with_what_is_missing() -> None:
    checks = by_code(verify(candidate(caption="试驾体验 # 试驾"), RULES))
    assert checks["hashtags"] == Check("hashtags", FAIL, {"missing": ["ACME春季新车"]})
    assert checks["disclosure"] == Check("disclosure", FAIL, {"missing": ["#合作"]})
    assert checks["mentions"] == Check("mentions", FAIL, {"missing": ["@ACME汽车"]})


def test_nothing_required_is_skipped() -> None:
    rules = Rules(platforms=("douyin",), embargo_at=EMBARGO, deadline_at=RULES.deadline_at)
    checks = by_code(verify(candidate(), rules))
    assert [checks[c].status for c in ("hashtags", "disclosure", "mentions")] == [SKIP] * 3


def test_leaks_late_and_refusals() -> None:
    early = verify(candidate(submitted_at=EMBARGO - timedelta(seconds=1)), RULES)
    assert by_code(early)["embargo"].status == FAIL and flags(early) == ["leak"]
    posted_early = verify(candidate(posted_at=EMBARGO - timedelta(days=1)), RULES)
    assert by_code(posted_early)["posted_at"].status == FAIL and flags(posted_early) == ["leak"]
    late = verify(candidate(submitted_at=RULES.deadline_at + timedelta(minutes=1)), RULES)
    assert flags(late) == ["late"]
    wrong = verify(candidate("https://www.bilibili.com/video/BV1xx411c7mD"), RULES)
    assert refusal(wrong) == Check("platform", FAIL, {"platform": "bilibili"})
    again = verify(candidate(duplicate_of="other"), RULES)
    assert refusal(again) == Check("duplicate", FAIL, {"of": "other"})


@pytest.mark.parametrize(
    ("url", "accounts", "status"),
    [
        ("https://www.tiktok.com/@ada.drives/video/7641803381662272789", ("@Ada.Drives",), PASS),
        ("https://www.tiktok.com/@ada.drives/video/7641803381662272789", ("bob",), FAIL),
        (
            "https://www.tiktok.com/@ada.drives/video/7641803381662272789",
            ("https://www.tiktok.com/@ada.drives",),
            PASS,
        ),
        ("https://www.tiktok.com/@ada.drives/video/7641803381662272789", (), UNKNOWN),
        ("https://weibo.com/1234567890/NbC8x9Yz1", ("1234567890",), PASS),
        ("https://weibo.com/1234567890/NbC8x9Yz1", ("https://weibo.com/u/99",), FAIL),
        ("https://weibo.com/1234567890/NbC8x9Yz1", ("ada_weibo",), UNKNOWN),  # a nickname
        (DOUYIN, ("ada_dy",), SKIP),  # the link names no account
    ],
)
def test_account_check(url: str, accounts: tuple[str, ...], status: str) -> None:
    checks = by_code(verify(candidate(url, accounts=accounts), RULES))
    assert checks["account"].status == status


def test_checks_round_trip_through_json() -> None:
    for check in verify(candidate(caption="#试驾"), RULES):
        assert Check.from_json(check.to_json()) == check


def test_rules_from_a_stored_spec() -> None:
    spec = {
        "platforms": ["douyin"],
        "hashtags": {"required": ["试驾"], "optional": []},
        "mentions": [],
        "disclosure": "#合作",
    }
    rules = Rules.from_spec(spec, EMBARGO, RULES.deadline_at)
    assert rules.hashtags == ("试驾",) and rules.auto_approve is False
