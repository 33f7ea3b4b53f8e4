"""Unit tests for bot.domain.links: finding and classifying post links in pasted text."""

from __future__ import annotations

import pytest

from bot.domain.links import PLATFORM_HOSTS, Link, classify_url, find_links, post_links

XHS_ID = "64a1b2c3d4e5f60718293a4b"
XHS_USER = "5f1234567890abcdef123456"
DY_ID = "7312345678901234567"
DY_SEC_UID = "MS4wLjABAAAA-xYz_123abc"
WB_MID = "4890123456789012"
BV = "BV1xx411c7mD"


def only(text: str) -> Link:
    links = find_links(text)
    assert len(links) == 1, links
    return links[0]


# --------------------------------------------------------------------------- share texts

SHARE_TEXTS = [
    pytest.param(
        "【小红书】春日通勤穿搭分享 😆 AbCdEfGhIj 😆 http://xhslink.com/a/AbC12dEf，"
        "复制本条信息，打开【小红书】App查看精彩内容！",
        "xiaohongshu",
        "http://xhslink.com/a/AbC12dEf",
        "https://xhslink.com/a/AbC12dEf",
        id="xhs-app-share",
    ),
    pytest.param(
        "64 小猪发布了一篇小红书笔记，快来看吧！ 😆 Zz9YyXxWw 😆 http://xhslink.com/m/3kQ8Lp2Z"
        "，复制本条信息，打开【小红书】App查看精彩内容！",
        "xiaohongshu",
        "http://xhslink.com/m/3kQ8Lp2Z",
        "https://xhslink.com/m/3kQ8Lp2Z",
        id="xhs-note-share",
    ),
    pytest.param(
        "7.43 复制打开抖音，看看【小明的作品】新车试驾体验 # 试驾 # 新能源  "
        "https://v.douyin.com/iRNBho6u/ Wsl:/ 10/26 K@W.lp",
        "douyin",
        "https://v.douyin.com/iRNBho6u/",
        "https://v.douyin.com/iRNBho6u",
        id="douyin-app-share",
    ),
    pytest.param(
        "3.56 m@Q.xS 09/12 dAu:/ 长按复制此条消息，打开抖音搜索，查看TA的更多作品。"
        " https://v.douyin.com/AbCd3fG/",
        "douyin",
        "https://v.douyin.com/AbCd3fG/",
        "https://v.douyin.com/AbCd3fG",
        id="douyin-code-first",
    ),
    pytest.param(
        "【新车开箱-哔哩哔哩】 https://b23.tv/AbCdEf1",
        "bilibili",
        "https://b23.tv/AbCdEf1",
        "https://b23.tv/AbCdEf1",
        id="bilibili-app-share",
    ),
    pytest.param(
        "#新车上市# 这台车的内饰真的绝了！[哈哈] 全文：http://t.cn/A6xYzAbQ\u200b",
        "weibo",
        "http://t.cn/A6xYzAbQ",
        "https://t.cn/A6xYzAbQ",
        id="weibo-short-with-zero-width-space",
    ),
]


@pytest.mark.parametrize(("text", "platform", "url", "canonical"), SHARE_TEXTS)
def test_share_text_yields_one_short_post_link(
    text: str, platform: str, url: str, canonical: str
) -> None:
    link = only(text)
    assert link == Link(
        url=url,
        platform=platform,
        kind="post",
        post_id=None,
        canonical_url=canonical,
        short=True,
    )
    assert link.dedupe_key == f"{platform}:{canonical}"
    assert post_links(text) == [link]


# --------------------------------------------------------------------------- full URL forms

FULL_URLS = [
    # Xiaohongshu
    pytest.param(
        f"https://www.xiaohongshu.com/explore/{XHS_ID}",
        "xiaohongshu",
        XHS_ID,
        f"https://www.xiaohongshu.com/explore/{XHS_ID}",
        id="xhs-explore",
    ),
    pytest.param(
        f"https://www.xiaohongshu.com/explore/{XHS_ID}?xsec_token=ABcdEF123=&xsec_source=pc_feed",
        "xiaohongshu",
        XHS_ID,
        f"https://www.xiaohongshu.com/explore/{XHS_ID}",
        id="xhs-explore-xsec",
    ),
    pytest.param(
        f"https://www.xiaohongshu.com/discovery/item/{XHS_ID}?app_platform=ios&app_version=8.69"
        "&share_from_user_hidden=true&xsec_source=app_share&type=normal&author_share=1",
        "xiaohongshu",
        XHS_ID,
        f"https://www.xiaohongshu.com/explore/{XHS_ID}",
        id="xhs-discovery-item",
    ),
    pytest.param(
        f"https://www.xiaohongshu.com/user/profile/{XHS_USER}/{XHS_ID}?xsec_token=x",
        "xiaohongshu",
        XHS_ID,
        f"https://www.xiaohongshu.com/explore/{XHS_ID}",
        id="xhs-note-from-profile",
    ),
    # Douyin
    pytest.param(
        f"https://www.douyin.com/video/{DY_ID}",
        "douyin",
        DY_ID,
        f"https://www.douyin.com/video/{DY_ID}",
        id="douyin-video",
    ),
    pytest.param(
        f"https://www.douyin.com/note/{DY_ID}?previous_page=app_code_link",
        "douyin",
        DY_ID,
        f"https://www.douyin.com/note/{DY_ID}",
        id="douyin-note",
    ),
    pytest.param(
        f"https://www.iesdouyin.com/share/video/{DY_ID}/?region=CN&mid=123&u_code=abc"
        "&did=1&iid=2&with_sec_did=1&titleType=title&share_sign=x&share_version=170400",
        "douyin",
        DY_ID,
        f"https://www.douyin.com/video/{DY_ID}",
        id="douyin-iesdouyin-share",
    ),
    pytest.param(
        f"https://www.douyin.com/discover?modal_id={DY_ID}",
        "douyin",
        DY_ID,
        f"https://www.douyin.com/video/{DY_ID}",
        id="douyin-modal-discover",
    ),
    pytest.param(
        f"https://www.douyin.com/user/{DY_SEC_UID}?from_tab_name=main&modal_id={DY_ID}",
        "douyin",
        DY_ID,
        f"https://www.douyin.com/video/{DY_ID}",
        id="douyin-modal-over-profile",
    ),
    # Weibo
    pytest.param(
        "https://weibo.com/1234567890/NbC8x9Yz1",
        "weibo",
        "NbC8x9Yz1",
        "https://weibo.com/1234567890/NbC8x9Yz1",
        id="weibo-uid-base62",
    ),
    pytest.param(
        f"https://weibo.com/1234567890/{WB_MID}?type=comment#_rnd1700000000000",
        "weibo",
        WB_MID,
        f"https://weibo.com/1234567890/{WB_MID}",
        id="weibo-uid-numeric-mid",
    ),
    pytest.param(
        f"https://m.weibo.cn/status/{WB_MID}",
        "weibo",
        WB_MID,
        f"https://m.weibo.cn/status/{WB_MID}",
        id="weibo-m-status",
    ),
    pytest.param(
        "https://m.weibo.cn/detail/NbC8x9Yz1?sourceType=weixin",
        "weibo",
        "NbC8x9Yz1",
        "https://m.weibo.cn/status/NbC8x9Yz1",
        id="weibo-m-detail",
    ),
    pytest.param(
        f"https://weibo.com/detail/{WB_MID}",
        "weibo",
        WB_MID,
        f"https://m.weibo.cn/status/{WB_MID}",
        id="weibo-detail",
    ),
    # Bilibili
    pytest.param(
        f"https://www.bilibili.com/video/{BV}/?spm_id_from=333.1007.tianma.1-1-1.click"
        "&vd_source=0123456789abcdef",
        "bilibili",
        BV,
        f"https://www.bilibili.com/video/{BV}",
        id="bilibili-bv",
    ),
    pytest.param(
        "https://www.bilibili.com/video/av170001?p=2",
        "bilibili",
        "av170001",
        "https://www.bilibili.com/video/av170001",
        id="bilibili-av",
    ),
    pytest.param(
        f"https://m.bilibili.com/video/{BV}?share_source=copy_link&share_medium=iphone",
        "bilibili",
        BV,
        f"https://www.bilibili.com/video/{BV}",
        id="bilibili-mobile",
    ),
    pytest.param(
        "https://www.bilibili.com/video/bv1xx411c7mD",
        "bilibili",
        BV,
        f"https://www.bilibili.com/video/{BV}",
        id="bilibili-lowercase-bv-prefix",
    ),
    pytest.param(
        f"https://b23.tv/{BV}",
        "bilibili",
        BV,
        f"https://www.bilibili.com/video/{BV}",
        id="bilibili-b23-with-bv-id",
    ),
]


@pytest.mark.parametrize(("url", "platform", "post_id", "canonical"), FULL_URLS)
def test_full_post_url_is_classified_and_canonicalised(
    url: str, platform: str, post_id: str, canonical: str
) -> None:
    link = only(f"看看这个 {url} 谢谢")
    assert link == Link(
        url=url,
        platform=platform,
        kind="post",
        post_id=post_id,
        canonical_url=canonical,
        short=False,
    )
    assert link.dedupe_key == f"{platform}:{post_id}"
    assert classify_url(url) == link


def test_bv_id_is_case_sensitive_after_prefix() -> None:
    upper = only("https://www.bilibili.com/video/BV1XX411C7MD")
    assert upper.post_id == "BV1XX411C7MD"
    assert upper.dedupe_key != only(f"https://www.bilibili.com/video/{BV}").dedupe_key


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://www.bilibili.com/video/BV1xx411c7m", id="bv-too-short"),
        pytest.param("https://www.xiaohongshu.com/explore/64a1b2c3", id="xhs-id-too-short"),
        pytest.param("https://www.xiaohongshu.com/explore/zz" + "0" * 22, id="xhs-not-hex"),
        pytest.param("https://www.douyin.com/video/abc", id="douyin-non-digit"),
    ],
)
def test_malformed_post_ids_are_not_posts(url: str) -> None:
    link = only(url)
    assert link.kind == "other"
    assert link.post_id is None
    assert post_links(url) == []


# --------------------------------------------------------------------------- same post, two forms


@pytest.mark.parametrize(
    ("first", "second", "key"),
    [
        pytest.param(
            f"https://www.xiaohongshu.com/explore/{XHS_ID}?xsec_token=AAA&xsec_source=pc_user",
            f"http://xiaohongshu.com/discovery/item/{XHS_ID}?xsec_token=BBB",
            f"xiaohongshu:{XHS_ID}",
            id="xhs",
        ),
        pytest.param(
            f"https://www.douyin.com/video/{DY_ID}",
            f"https://www.iesdouyin.com/share/video/{DY_ID}/?region=CN",
            f"douyin:{DY_ID}",
            id="douyin",
        ),
        pytest.param(
            f"https://www.douyin.com/jingxuan?modal_id={DY_ID}",
            f"https://www.douyin.com/video/{DY_ID}?previous_page=web_code_link",
            f"douyin:{DY_ID}",
            id="douyin-modal",
        ),
        pytest.param(
            f"https://m.weibo.cn/status/{WB_MID}",
            f"https://weibo.com/detail/{WB_MID}",
            f"weibo:{WB_MID}",
            id="weibo",
        ),
        pytest.param(
            f"https://www.bilibili.com/video/{BV}?spm_id_from=333.788",
            f"https://m.bilibili.com/video/{BV}/",
            f"bilibili:{BV}",
            id="bilibili",
        ),
    ],
)
def test_two_forms_of_one_post_share_dedupe_key(first: str, second: str, key: str) -> None:
    a, b = classify_url(first), classify_url(second)
    assert a is not None and b is not None
    assert a.dedupe_key == b.dedupe_key == key
    assert a.canonical_url == b.canonical_url
    both = find_links(f"{first} 以及 {second}")
    assert [link.url for link in both] == [first]


# --------------------------------------------------------------------------- profiles and home


@pytest.mark.parametrize(
    ("url", "platform", "canonical"),
    [
        pytest.param(
            f"https://www.xiaohongshu.com/user/profile/{XHS_USER}?xsec_token=x&xsec_source=pc_note",
            "xiaohongshu",
            f"https://www.xiaohongshu.com/user/profile/{XHS_USER}",
            id="xhs",
        ),
        pytest.param(
            f"https://www.douyin.com/user/{DY_SEC_UID}?from_tab_name=main",
            "douyin",
            f"https://www.douyin.com/user/{DY_SEC_UID}",
            id="douyin",
        ),
        pytest.param(
            f"https://www.iesdouyin.com/share/user/{DY_SEC_UID}",
            "douyin",
            f"https://www.douyin.com/user/{DY_SEC_UID}",
            id="douyin-share-user",
        ),
        pytest.param(
            "https://weibo.com/u/1234567890", "weibo", "https://weibo.com/u/1234567890", id="wb-u"
        ),
        pytest.param(
            "https://weibo.com/1234567890/", "weibo", "https://weibo.com/u/1234567890", id="wb-uid"
        ),
        pytest.param(
            "https://m.weibo.cn/u/1234567890?uid=1234567890",
            "weibo",
            "https://weibo.com/u/1234567890",
            id="weibo-mobile",
        ),
        pytest.param(
            "https://space.bilibili.com/123456?spm_id_from=333.337",
            "bilibili",
            "https://space.bilibili.com/123456",
            id="bilibili-space",
        ),
        pytest.param(
            "https://space.bilibili.com/123456/video",
            "bilibili",
            "https://space.bilibili.com/123456",
            id="bilibili-space-tab",
        ),
    ],
)
def test_profile_links(url: str, platform: str, canonical: str) -> None:
    link = only(url)
    assert (link.platform, link.kind, link.post_id, link.short) == (
        platform,
        "profile",
        None,
        False,
    )
    assert link.canonical_url == canonical
    assert link.dedupe_key == f"{platform}:{canonical}"
    assert post_links(url) == []


@pytest.mark.parametrize(
    ("url", "platform", "canonical"),
    [
        pytest.param(
            "https://www.xiaohongshu.com/",
            "xiaohongshu",
            "https://www.xiaohongshu.com/",
            id="xhs-home",
        ),
        pytest.param(
            "https://www.xiaohongshu.com/search_result?keyword=%E7%A9%BF%E6%90%AD&xsec_source=pc",
            "xiaohongshu",
            "https://www.xiaohongshu.com/search_result?keyword=%E7%A9%BF%E6%90%AD",
            id="xhs-search",
        ),
        pytest.param(
            "https://www.douyin.com", "douyin", "https://www.douyin.com/", id="douyin-home"
        ),
        pytest.param(
            "https://weibo.com/1234567890/following",
            "weibo",
            "https://weibo.com/1234567890/following",
            id="weibo-following",
        ),
        pytest.param(
            "https://www.bilibili.com/?spm_id_from=333.1007",
            "bilibili",
            "https://www.bilibili.com/",
            id="bilibili-home",
        ),
        pytest.param("https://b23.tv/", "bilibili", "https://b23.tv/", id="short-host-no-path"),
    ],
)
def test_other_pages_of_known_platforms(url: str, platform: str, canonical: str) -> None:
    link = only(url)
    assert (link.platform, link.kind, link.post_id, link.short) == (platform, "other", None, False)
    assert link.canonical_url == canonical
    assert post_links(url) == []


def test_unknown_host_with_scheme_is_other_with_url_key() -> None:
    link = only("详情见 https://Example.COM:8080/a/b?id=3&utm_source=wechat#top 。")
    assert link == Link(
        url="https://Example.COM:8080/a/b?id=3&utm_source=wechat#top",
        platform=None,
        kind="other",
        post_id=None,
        canonical_url="https://example.com:8080/a/b?id=3",
        short=False,
    )
    assert link.dedupe_key == "url:https://example.com:8080/a/b?id=3"


# --------------------------------------------------------------------------- short links


@pytest.mark.parametrize(
    ("url", "platform", "canonical"),
    [
        ("https://xhslink.com/a/AbC12dEf", "xiaohongshu", "https://xhslink.com/a/AbC12dEf"),
        ("http://xhslink.com/AbC12dEf?x=1#y", "xiaohongshu", "https://xhslink.com/AbC12dEf"),
        ("https://v.douyin.com/iRNBho6u/", "douyin", "https://v.douyin.com/iRNBho6u"),
        ("https://t.cn/A6xYzAbQ", "weibo", "https://t.cn/A6xYzAbQ"),
        ("https://b23.tv/AbCdEf1?share_source=qq", "bilibili", "https://b23.tv/AbCdEf1"),
    ],
)
def test_short_links_are_short_posts_without_id(url: str, platform: str, canonical: str) -> None:
    link = only(url)
    assert (link.platform, link.kind, link.post_id, link.short) == (platform, "post", None, True)
    assert link.canonical_url == canonical
    assert link.dedupe_key == f"{platform}:{canonical}"


def test_short_link_canonical_keeps_path_case_and_drops_query() -> None:
    link = only("http://XHSLINK.com/a/AbC12dEf?appuid=1&apptime=2#x")
    assert link.canonical_url == "https://xhslink.com/a/AbC12dEf"


def test_full_douyin_host_is_not_short() -> None:
    link = only(f"https://www.douyin.com/video/{DY_ID}")
    assert link.short is False
    assert PLATFORM_HOSTS["douyin"].short_hosts == ("v.douyin.com",)


# --------------------------------------------------------------------------- host matching


@pytest.mark.parametrize(
    "url",
    [
        f"https://xiaohongshu.com.evil.cn/explore/{XHS_ID}",
        f"https://fakexiaohongshu.com/explore/{XHS_ID}",
        "https://notb23.tv/AbCdEf1",
        "https://xhslink.com.cn/a/AbC12dEf",
        f"https://douyin.com-video.top/video/{DY_ID}",
        f"https://www.xiaohongshu.com@evil.cn/explore/{XHS_ID}",
        "https://weibo.co/1234567890/NbC8x9Yz1",
    ],
)
def test_look_alike_hosts_are_not_platforms(url: str) -> None:
    link = only(url)
    assert link.platform is None
    assert link.kind == "other"
    assert link.post_id is None
    assert link.dedupe_key.startswith("url:")
    assert post_links(url) == []


@pytest.mark.parametrize(
    "text",
    [
        f"xiaohongshu.com.evil.cn/explore/{XHS_ID}",
        f"fakexiaohongshu.com/explore/{XHS_ID}",
        "evil.cn/xhslink.com/a/AbC12dEf",
        "mail me: someone@weibo.com",
        "first.last@xiaohongshu.com",
        "版本 v1.2.3 已发布，评分 4.5 分",
        "readme.md 和 config.yaml",
    ],
)
def test_scheme_less_unknown_hosts_are_ignored(text: str) -> None:
    assert find_links(text) == []


@pytest.mark.parametrize(
    ("host", "platform"),
    [
        ("www.xiaohongshu.com", "xiaohongshu"),
        ("XiaoHongShu.com", "xiaohongshu"),
        ("m.weibo.cn", "weibo"),
        ("weibo.com", "weibo"),
        ("www.iesdouyin.com", "douyin"),
        ("space.bilibili.com", "bilibili"),
        ("www.bilibili.com:443", "bilibili"),
    ],
)
def test_platform_subdomains_case_and_ports(host: str, platform: str) -> None:
    link = only(f"https://{host}/")
    assert link.platform == platform


def test_platform_table_has_every_platform() -> None:
    assert set(PLATFORM_HOSTS) == {
        "xiaohongshu", "douyin", "weibo", "bilibili", "kuaishou", "wechat_channels",
        "wechat_article", "dongchedi", "autohome", "zhihu", "dianping", "instagram", "tiktok",
        "youtube", "x",
    }  # fmt: skip
    for code, spec in PLATFORM_HOSTS.items():
        assert spec.code == code
        assert spec.hosts and spec.posts
        assert spec.hashtag.count("{}") == 1
    assert PLATFORM_HOSTS["weibo"].hashtag == "#{}#"


# --------------------------------------------------------------------------- scheme-less


@pytest.mark.parametrize(
    ("text", "url", "kind", "post_id"),
    [
        pytest.param(
            "链接 xhslink.com/a/AbC12dEf 打开",
            "https://xhslink.com/a/AbC12dEf",
            "post",
            None,
            id="xhslink",
        ),
        pytest.param(
            f"www.xiaohongshu.com/explore/{XHS_ID}",
            f"https://www.xiaohongshu.com/explore/{XHS_ID}",
            "post",
            XHS_ID,
            id="xhs-www",
        ),
        pytest.param(
            "v.douyin.com/iRNBho6u/",
            "https://v.douyin.com/iRNBho6u/",
            "post",
            None,
            id="douyin-short",
        ),
        pytest.param("b23.tv/AbCdEf1", "https://b23.tv/AbCdEf1", "post", None, id="b23"),
        pytest.param(
            "看这条:m.weibo.cn/status/4890123456789012!",
            "https://m.weibo.cn/status/4890123456789012",
            "post",
            WB_MID,
            id="weibo-after-ascii-colon",
        ),
        pytest.param(
            "主页space.bilibili.com/123456",
            "https://space.bilibili.com/123456",
            "profile",
            None,
            id="bilibili-glued-to-cjk",
        ),
    ],
)
def test_scheme_less_platform_urls(text: str, url: str, kind: str, post_id: str | None) -> None:
    link = only(text)
    assert link.url == url
    assert link.kind == kind
    assert link.post_id == post_id


# --------------------------------------------------------------------------- punctuation


@pytest.mark.parametrize(
    "text",
    [
        f"【https://www.bilibili.com/video/{BV}】",
        f"（https://www.bilibili.com/video/{BV}）",
        f"《https://www.bilibili.com/video/{BV}》",
        f"「https://www.bilibili.com/video/{BV}」",
        f"“https://www.bilibili.com/video/{BV}”",
        f"链接：https://www.bilibili.com/video/{BV}，快看！",
        f"https://www.bilibili.com/video/{BV}。",
        f"https://www.bilibili.com/video/{BV}、https://b23.tv/x",
        f"https://www.bilibili.com/video/{BV}…",
        f"https://www.bilibili.com/video/{BV}😆😆",
        f"看https://www.bilibili.com/video/{BV}哦",
        f"(https://www.bilibili.com/video/{BV})",
        f"[https://www.bilibili.com/video/{BV}]",
        f"<https://www.bilibili.com/video/{BV}>",
        f"'https://www.bilibili.com/video/{BV}'",
        f'"https://www.bilibili.com/video/{BV}"',
        f"https://www.bilibili.com/video/{BV}.",
        f"https://www.bilibili.com/video/{BV}!?",
        f"https://www.bilibili.com/video/{BV};",
        f"see https://www.bilibili.com/video/{BV}, thanks",
        f"https://www.bilibili.com/video/{BV}\n下一行",
        f"https://www.bilibili.com/video/{BV}\t",
        f"https://www.bilibili.com/video/{BV}\u3000全角空格",
    ],
)
def test_url_stops_at_punctuation_and_non_ascii(text: str) -> None:
    link = find_links(text)[0]
    assert link.url == f"https://www.bilibili.com/video/{BV}"
    assert link.post_id == BV


def test_trailing_junk_is_trimmed_but_inner_punctuation_kept() -> None:
    link = only("https://example.com/a.b,c;d?q=1!...")
    assert link.url == "https://example.com/a.b,c;d?q=1"


def test_uppercase_scheme_and_host() -> None:
    link = only(f"HTTPS://WWW.XIAOHONGSHU.COM/explore/{XHS_ID}")
    assert link.url == f"HTTPS://WWW.XIAOHONGSHU.COM/explore/{XHS_ID}"
    assert link.canonical_url == f"https://www.xiaohongshu.com/explore/{XHS_ID}"


# --------------------------------------------------------------------------- several links


def test_several_links_in_order_with_kinds() -> None:
    text = (
        "这周交的三条：\n"
        "1. 小红书 http://xhslink.com/a/AbC12dEf，\n"
        f"2. 抖音 https://www.douyin.com/video/{DY_ID}?previous_page=app_code_link\n"
        f"3. B站【https://www.bilibili.com/video/{BV}/?share_source=copy_web】\n"
        "我的主页 https://space.bilibili.com/123456 ，公司官网 https://www.example.com/about"
    )
    links = find_links(text)
    assert [(link.platform, link.kind) for link in links] == [
        ("xiaohongshu", "post"),
        ("douyin", "post"),
        ("bilibili", "post"),
        ("bilibili", "profile"),
        (None, "other"),
    ]
    assert [link.dedupe_key for link in post_links(text)] == [
        "xiaohongshu:https://xhslink.com/a/AbC12dEf",
        f"douyin:{DY_ID}",
        f"bilibili:{BV}",
    ]


@pytest.mark.parametrize(
    "separator",
    [",", "，", " ", "", "\n", "、"],
    ids=["comma", "fw-comma", "sp", "glued", "nl", "dun"],
)
def test_adjacent_urls_are_split(separator: str) -> None:
    text = f"https://b23.tv/AbCdEf1{separator}https://v.douyin.com/iRNBho6u/"
    assert [link.url for link in find_links(text)] == [
        "https://b23.tv/AbCdEf1",
        "https://v.douyin.com/iRNBho6u/",
    ]


def test_url_in_query_value_stays_inside_its_url() -> None:
    link = only("https://example.com/jump?target=https://b23.tv/AbCdEf1")
    assert link.url == "https://example.com/jump?target=https://b23.tv/AbCdEf1"
    assert link.platform is None


def test_duplicates_in_one_text_are_removed_keeping_first() -> None:
    text = (
        "https://v.douyin.com/iRNBho6u/ 再发一遍 v.douyin.com/iRNBho6u "
        f"https://www.douyin.com/video/{DY_ID} https://www.douyin.com/video/{DY_ID}?x=1 "
        f"https://www.iesdouyin.com/share/video/{DY_ID}/"
    )
    links = find_links(text)
    assert [link.url for link in links] == [
        "https://v.douyin.com/iRNBho6u/",
        f"https://www.douyin.com/video/{DY_ID}",
    ]
    assert len({link.dedupe_key for link in links}) == 2


def test_different_posts_are_not_deduped() -> None:
    text = "https://b23.tv/AbCdEf1 https://b23.tv/AbCdEf2 https://b23.tv/abcdef1"
    assert len(find_links(text)) == 3


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   \n\t ", id="blank"),
        pytest.param("😆🚗✨🔥" * 50, id="only-emoji"),
        pytest.param("\x00\x01\x02\x1b[31m\x7f", id="control-chars"),
        pytest.param("http://", id="bare-scheme"),
        pytest.param("https:// ", id="scheme-space"),
        pytest.param("https://[::1/x", id="broken-ipv6"),
        pytest.param("https://:80/x", id="empty-host"),
        pytest.param("【小红书】复制本条信息，打开【小红书】App查看精彩内容！", id="no-url"),
        pytest.param("\ud800 lone surrogate", id="surrogate"),
    ],
)
def test_odd_input_yields_no_links(text: str) -> None:
    assert find_links(text) == []
    assert post_links(text) == []


def test_non_string_input_yields_no_links() -> None:
    assert find_links(None) == []  # type: ignore[arg-type]
    assert classify_url(None) is None  # type: ignore[arg-type]


def test_control_characters_end_a_url() -> None:
    link = only(f"\x00https://www.bilibili.com/video/{BV}\x07\x00more")
    assert link.url == f"https://www.bilibili.com/video/{BV}"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a" * 100_000, id="one-word"),
        pytest.param("a." * 50_000, id="dots"),
        pytest.param("a.a" * 33_000 + "@", id="dotted-then-at"),
        pytest.param("https://" * 12_000, id="schemes"),
        pytest.param("https://a.com/" + "=https:/" * 12_000, id="almost-urls"),
        pytest.param("xhslink.com/" + "a" * 100_000, id="long-path"),
        pytest.param("中" * 100_000, id="cjk"),
        pytest.param("-_" * 50_000, id="punct"),
    ],
)
def test_huge_adversarial_input_is_handled(text: str) -> None:
    # Speed is measured in bench/links.py (linear growth), not asserted here.
    assert len(find_links(text)) <= 1


def test_huge_share_text_finds_every_link() -> None:
    chunk = "复制打开抖音，看看【作品】 # 话题 😆 https://v.douyin.com/{}/ Wsl:/ 10/26 K@W.lp\n"
    text = "".join(chunk.format(f"code{i:05d}") for i in range(1500))
    assert len(text) > 100_000
    links = post_links(text)
    assert len(links) == 1500
    assert links[-1].canonical_url == "https://v.douyin.com/code01499"


def test_link_is_frozen() -> None:
    link = only("https://b23.tv/AbCdEf1")
    with pytest.raises(AttributeError):
        link.url = "x"  # type: ignore[misc]
