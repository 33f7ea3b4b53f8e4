"""bot.domain.links on every platform of the table: real share texts, URL forms, negatives,
the time a post id tells, and a property test (never crashes, never invents a URL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.links import Link, classify_url, find_links, post_links, post_time
from tests.unit.test_links import only

DY_AFTER = "7641803381662272789"  # a ByteDance id minted 2026-05-20 03:00 UTC
XHS_AFTER = "6a0d23b0" + "0a1b2c3d4e5f6a7b"  # an ObjectId minted at the same second


# --------------------------------------------------------------------------- share texts

SHARE_TEXTS = [
    pytest.param(
        "https://v.kuaishou.com/Hk8Ab2 试驾ACME E7，续航真的顶 #试驾 #ACME春季新车 "
        "该作品在快手被播放过1.2万次，点击链接，打开【快手极速版】直接观看！",
        "kuaishou",
        "https://v.kuaishou.com/Hk8Ab2",
        None,
        "https://v.kuaishou.com/Hk8Ab2",
        id="kuaishou-app-share",
    ),
    pytest.param(
        "【快手】看看我的作品 https://www.kuaishou.com/short-video/3xf8enb4dkjwhc9?authorId="
        "3xq2wumb5ikqdwe&streamSource=profile&area=profilexxnull 复制此消息，打开快手",
        "kuaishou",
        "https://www.kuaishou.com/short-video/3xf8enb4dkjwhc9?authorId=3xq2wumb5ikqdwe"
        "&streamSource=profile&area=profilexxnull",
        "3xf8enb4dkjwhc9",
        "https://www.kuaishou.com/short-video/3xf8enb4dkjwhc9",
        id="kuaishou-web",
    ),
    pytest.param(
        "#视频号 ACME春季新车试驾 https://weixin.qq.com/sph/AdKx9pQ2 打开微信查看",
        "wechat_channels",
        "https://weixin.qq.com/sph/AdKx9pQ2",
        None,
        "https://weixin.qq.com/sph/AdKx9pQ2",
        id="channels-sph",
    ),
    pytest.param(
        "推荐阅读《春日试驾｜700公里续航是真的吗？》https://mp.weixin.qq.com/s/Ab3dEfGh1jKlMnOpQr5tUv",
        "wechat_article",
        "https://mp.weixin.qq.com/s/Ab3dEfGh1jKlMnOpQr5tUv",
        "Ab3dEfGh1jKlMnOpQr5tUv",
        "https://mp.weixin.qq.com/s/Ab3dEfGh1jKlMnOpQr5tUv",
        id="wechat-article-short-form",
    ),
    pytest.param(
        "http://mp.weixin.qq.com/s?__biz=MzA3NDM0NzI0MQ==&mid=2651234567&idx=2"
        "&sn=0a1b2c3d4e5f67890a1b2c3d4e5f6789&chksm=84a1b2c3&scene=21#wechat_redirect",
        "wechat_article",
        "http://mp.weixin.qq.com/s?__biz=MzA3NDM0NzI0MQ==&mid=2651234567&idx=2"
        "&sn=0a1b2c3d4e5f67890a1b2c3d4e5f6789&chksm=84a1b2c3&scene=21#wechat_redirect",
        "MzA3NDM0NzI0MQ==:2651234567:2",
        "https://mp.weixin.qq.com/s?__biz=MzA3NDM0NzI0MQ==&mid=2651234567&idx=2"
        "&sn=0a1b2c3d4e5f67890a1b2c3d4e5f6789",
        id="wechat-article-long-form",
    ),
    pytest.param(
        "ACME E7 深度试驾：续航、快充、智驾全测 - 懂车帝 "
        "https://m.dcdapp.com/motor/m/ugc/video/7301234567890123456?share_token=abc&tt_from=copy_link",
        "dongchedi",
        "https://m.dcdapp.com/motor/m/ugc/video/7301234567890123456?share_token=abc&tt_from=copy_link",
        "7301234567890123456",
        "https://www.dongchedi.com/video/7301234567890123456",
        id="dongchedi-app-share",
    ),
    pytest.param(
        "【汽车之家】春季新车上市，试驾ACME E7 https://chejiahao.m.autohome.com.cn/info/15234567"
        "?pvareaid=6830286",
        "autohome",
        "https://chejiahao.m.autohome.com.cn/info/15234567?pvareaid=6830286",
        "info15234567",
        "https://chejiahao.autohome.com.cn/info/15234567",
        id="autohome-chejiahao",
    ),
    pytest.param(
        "https://club.autohome.com.cn/bbs/thread/a1b2c3d4e5f6/109876543-1.html#pvareaid=101",
        "autohome",
        "https://club.autohome.com.cn/bbs/thread/a1b2c3d4e5f6/109876543-1.html#pvareaid=101",
        "thread109876543",
        "https://club.autohome.com.cn/bbs/thread/a1b2c3d4e5f6/109876543-1.html",
        id="autohome-club",
    ),
    pytest.param(
        "电动车冬天续航打几折？ - 知乎 https://www.zhihu.com/question/612345678/answer/3123456789"
        "?utm_psn=1712345678901234567",
        "zhihu",
        "https://www.zhihu.com/question/612345678/answer/3123456789?utm_psn=1712345678901234567",
        "answer3123456789",
        "https://www.zhihu.com/answer/3123456789",
        id="zhihu-answer",
    ),
    pytest.param(
        "我的试驾笔记：https://zhuanlan.zhihu.com/p/661234567。",
        "zhihu",
        "https://zhuanlan.zhihu.com/p/661234567",
        "p661234567",
        "https://zhuanlan.zhihu.com/p/661234567",
        id="zhihu-article",
    ),
    pytest.param(
        "【大众点评】ACME体验店，试驾服务很贴心 https://m.dianping.com/ugcdetail/123456789"
        "?sceneType=0&bizType=29&msource=Appshare2021&utm_source=ugcshare",
        "dianping",
        "https://m.dianping.com/ugcdetail/123456789?sceneType=0&bizType=29&msource=Appshare2021"
        "&utm_source=ugcshare",
        "123456789",
        "https://m.dianping.com/ugcdetail/123456789",
        id="dianping-note",
    ),
    pytest.param(
        "我在大众点评发了一篇笔记 http://dpurl.cn/AbCd12 ，快来看看吧~",
        "dianping",
        "http://dpurl.cn/AbCd12",
        None,
        "https://dpurl.cn/AbCd12",
        id="dianping-short",
    ),
    pytest.param(
        "Spring test drive 🚗✨ https://www.instagram.com/reel/C8aBcDeFgHi/?igsh=MWQ1ZGUxMzBkMA==",
        "instagram",
        "https://www.instagram.com/reel/C8aBcDeFgHi/?igsh=MWQ1ZGUxMzBkMA==",
        "C8aBcDeFgHi",
        "https://www.instagram.com/p/C8aBcDeFgHi/",
        id="instagram-reel",
    ),
    pytest.param(
        "Check out ada's video! #TikTok > https://vm.tiktok.com/ZMhvqKxYz/",
        "tiktok",
        "https://vm.tiktok.com/ZMhvqKxYz/",
        None,
        "https://vm.tiktok.com/ZMhvqKxYz",
        id="tiktok-vm",
    ),
    pytest.param(
        "https://vt.tiktok.com/ZSjAbCdEf/ 复制此链接，打开TikTok",
        "tiktok",
        "https://vt.tiktok.com/ZSjAbCdEf/",
        None,
        "https://vt.tiktok.com/ZSjAbCdEf",
        id="tiktok-vt",
    ),
    pytest.param(
        "https://www.tiktok.com/t/ZTRabc123/",
        "tiktok",
        "https://www.tiktok.com/t/ZTRabc123/",
        None,
        "https://www.tiktok.com/t/ZTRabc123",
        id="tiktok-t",
    ),
    pytest.param(
        f"https://www.tiktok.com/@ada.drives/video/{DY_AFTER}?is_from_webapp=1&sender_device=pc",
        "tiktok",
        f"https://www.tiktok.com/@ada.drives/video/{DY_AFTER}?is_from_webapp=1&sender_device=pc",
        DY_AFTER,
        f"https://www.tiktok.com/@ada.drives/video/{DY_AFTER}",
        id="tiktok-web",
    ),
    pytest.param(
        "ACME E7 first drive (4K) https://youtu.be/dQw4w9WgXcQ?si=AbCdEf123",
        "youtube",
        "https://youtu.be/dQw4w9WgXcQ?si=AbCdEf123",
        "dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        id="youtube-share",
    ),
    pytest.param(
        "https://m.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s",
        "youtube",
        "https://m.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s",
        "dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        id="youtube-watch",
    ),
    pytest.param(
        "https://youtube.com/shorts/dQw4w9WgXcQ?si=x",
        "youtube",
        "https://youtube.com/shorts/dQw4w9WgXcQ?si=x",
        "dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        id="youtube-shorts",
    ),
    pytest.param(
        "Spring drive, 700 km on one charge 🔋 https://x.com/ada_drives/status/1790000000000000000"
        "?s=46&t=AbCdEfGh",
        "x",
        "https://x.com/ada_drives/status/1790000000000000000?s=46&t=AbCdEfGh",
        "1790000000000000000",
        "https://x.com/ada_drives/status/1790000000000000000",
        id="x-share",
    ),
    pytest.param(
        "https://twitter.com/ada_drives/status/1790000000000000000/photo/1",
        "x",
        "https://twitter.com/ada_drives/status/1790000000000000000/photo/1",
        "1790000000000000000",
        "https://x.com/ada_drives/status/1790000000000000000",
        id="twitter-photo",
    ),
    pytest.param(
        "全文 https://t.co/AbCdEf123",
        "x",
        "https://t.co/AbCdEf123",
        None,
        "https://t.co/AbCdEf123",
        id="x-tco",
    ),
    pytest.param(
        "【春季新车测评-哔哩哔哩】 https://www.bilibili.com/read/cv12345678?spm_id_from=333.999",
        "bilibili",
        "https://www.bilibili.com/read/cv12345678?spm_id_from=333.999",
        "cv12345678",
        "https://www.bilibili.com/read/cv12345678",
        id="bilibili-column",
    ),
]


@pytest.mark.parametrize(("text", "platform", "url", "post_id", "canonical"), SHARE_TEXTS)
def test_share_texts_of_every_platform(
    text: str, platform: str, url: str, post_id: str | None, canonical: str
) -> None:
    link = only(text)
    assert link == Link(
        url=url,
        platform=platform,
        kind="post",
        post_id=post_id,
        canonical_url=canonical,
        short=post_id is None,
    )
    assert post_links(text) == [link]
    assert link.dedupe_key == f"{platform}:{post_id or canonical}"
    if post_id is not None:  # a canonical URL reads back as the same post
        again = classify_url(canonical)
        assert again is not None and again.dedupe_key == link.dedupe_key


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            "https://www.kuaishou.com/short-video/3x5u9tmvn7wzr2s",
            "https://v.m.chenzhongtech.com/fw/photo/3x5u9tmvn7wzr2s?cc=share_copylink&fid=1",
            id="kuaishou",
        ),
        pytest.param(
            "https://www.dongchedi.com/article/7301234567890123456",
            "https://m.dcdapp.com/motor/m/ugc/article/7301234567890123456",
            id="dongchedi",
        ),
        pytest.param(
            "https://chejiahao.autohome.com.cn/info/15234567",
            "https://m.autohome.com.cn/chejiahao/info/15234567",
            id="autohome",
        ),
        pytest.param(
            "https://www.zhihu.com/answer/3123456789",
            "https://www.zhihu.com/question/612345678/answer/3123456789",
            id="zhihu",
        ),
        pytest.param(
            "https://www.dianping.com/review/123456789",
            "https://m.dianping.com/ugcdetail/123456789?sceneType=0",
            id="dianping",
        ),
        pytest.param(
            "https://www.instagram.com/p/C8aBcDeFgHi/",
            "https://instagram.com/ada.drives/reel/C8aBcDeFgHi?igsh=x",
            id="instagram",
        ),
        pytest.param(
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "https://youtu.be/dQw4w9WgXcQ",
            id="youtube",
        ),
        pytest.param(
            "https://x.com/ada_drives/status/1790000000000000000",
            "https://mobile.twitter.com/ada_drives/status/1790000000000000000?lang=en",
            id="x",
        ),
    ],
)
def test_two_forms_of_one_post_are_one_post(first: str, second: str) -> None:
    a, b = classify_url(first), classify_url(second)
    assert a is not None and b is not None
    assert a.kind == b.kind == "post"
    assert a.dedupe_key == b.dedupe_key
    assert a.canonical_url == b.canonical_url


@pytest.mark.parametrize(
    ("url", "platform", "author"),
    [
        ("https://www.kuaishou.com/profile/3xabcdef123", "kuaishou", "3xabcdef123"),
        ("https://www.dongchedi.com/user/12345678", "dongchedi", "12345678"),
        ("https://chejiahao.autohome.com.cn/Authors/4567890", "autohome", "4567890"),
        ("https://i.autohome.com.cn/12345678", "autohome", "12345678"),
        ("https://www.zhihu.com/people/ada-drives/answers", "zhihu", "ada-drives"),
        ("https://www.dianping.com/member/987654", "dianping", "987654"),
        ("https://www.instagram.com/ada.drives/?hl=en", "instagram", "ada.drives"),
        ("https://www.tiktok.com/@ada.drives?lang=en", "tiktok", "ada.drives"),
        ("https://www.youtube.com/@AdaDrives/videos", "youtube", "AdaDrives"),
        ("https://www.youtube.com/channel/UC1234567890abcdefghijAB", "youtube", None),
        ("https://x.com/ada_drives", "x", "ada_drives"),
        (
            "https://mp.weixin.qq.com/mp/profile_ext?action=home&__biz=MzA3NDM0NzI0MQ==",
            "wechat_article",
            "MzA3NDM0NzI0MQ==",
        ),
    ],
)
def test_profiles_of_every_platform_are_not_posts(
    url: str, platform: str, author: str | None
) -> None:
    link = only(url)
    assert (link.platform, link.kind, link.post_id) == (platform, "profile", None)
    if author is not None:
        assert link.author == author
    assert post_links(url) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://www.zhihu.com/question/612345678",
        "https://www.zhihu.com/search?q=ACME",
        "https://www.dianping.com/shop/H1a2b3c4",
        "https://www.instagram.com/explore/",
        "https://x.com/home",
        "https://x.com/search?q=%23ACME",
        "https://www.youtube.com/results?search_query=acme",
        "https://www.youtube.com/watch?v=tooshort",
        "https://www.tiktok.com/foryou",
        "https://www.dongchedi.com/auto/series/4567",
        "https://www.autohome.com.cn/news/202605/1234567.html",
        "https://mp.weixin.qq.com/s?__biz=MzA3NDM0NzI0MQ==&mid=2651234567",  # incomplete
        "https://channels.weixin.qq.com/platform",
        "https://www.kuaishou.com/search/video?searchKey=acme",
    ],
)
def test_other_pages_are_not_posts(url: str) -> None:
    link = only(url)
    assert link.kind != "post"
    assert post_links(url) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://kuaishou.com.evil.cn/short-video/3xf8enb4dkjwhc9",
        "https://youtube.com-watch.top/watch?v=dQw4w9WgXcQ",
        "https://fakeyoutu.be/dQw4w9WgXcQ",
        "https://x.com.phish.io/ada/status/1790000000000000000",
        "https://notx.com/ada/status/1790000000000000000",
        "https://mp.weixin.qq.com.evil.cn/s/Ab3dEfGh1jKlMnOpQr5tUv",
        "https://www.tiktok.com@evil.cn/@ada/video/7301234567890123456",
        "https://zhihu.co/answer/3123456789",
    ],
)
def test_look_alike_hosts_of_new_platforms_are_rejected(url: str) -> None:
    link = only(url)
    assert link.platform is None
    assert link.kind == "other"
    assert post_links(url) == []


@pytest.mark.parametrize(
    ("url", "author"),
    [
        ("https://www.tiktok.com/@ada.drives/video/7301234567890123456", "ada.drives"),
        ("https://x.com/Ada_Drives/status/1790000000000000000", "Ada_Drives"),
        ("https://weibo.com/1234567890/NbC8x9Yz1", "1234567890"),
        ("https://www.instagram.com/ada.drives/p/C8aBcDeFgHi/", "ada.drives"),
        (
            "https://www.xiaohongshu.com/user/profile/5f1234567890abcdef123456/"
            "64a1b2c3d4e5f60718293a4b",
            "5f1234567890abcdef123456",
        ),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", None),
        ("https://www.douyin.com/video/7301234567890123456", None),
    ],
)
def test_the_account_a_post_url_shows(url: str, author: str | None) -> None:
    assert only(url).author == author


# --------------------------------------------------------------------------- post time


@pytest.mark.parametrize(
    ("url", "when"),
    [
        (
            f"https://www.xiaohongshu.com/explore/{XHS_AFTER}",
            datetime(2026, 5, 20, 3, 0, tzinfo=UTC),
        ),
        (f"https://www.douyin.com/video/{DY_AFTER}", datetime(2026, 5, 20, 3, 0, tzinfo=UTC)),
        (
            f"https://www.tiktok.com/@ada/video/{DY_AFTER}",
            datetime(2026, 5, 20, 3, 0, tzinfo=UTC),
        ),
        (
            "https://www.dongchedi.com/article/7301234567890123456",
            datetime(2023, 11, 14, 8, 39, 3, tzinfo=UTC),
        ),
        (
            "https://x.com/ada/status/1790000000000000000",
            datetime(2024, 5, 13, 12, 43, 51, 248000, tzinfo=UTC),
        ),
    ],
)
def test_post_time_from_the_id(url: str, when: datetime) -> None:
    assert post_time(only(url)) == when


@pytest.mark.parametrize(
    "url",
    [
        "https://www.bilibili.com/video/BV1xx411c7mD",  # BV ids carry no time
        "https://weibo.com/1234567890/NbC8x9Yz1",
        "https://v.douyin.com/iRNBho6u/",  # a short link has no id yet
        "https://www.douyin.com/video/12345",  # too short to be a ByteDance id
        "https://www.xiaohongshu.com/explore/000000000000000000000000",  # 1970
        "https://www.xiaohongshu.com/user/profile/5f1234567890abcdef123456",  # a profile
    ],
)
def test_no_post_time_where_the_id_tells_none(url: str) -> None:
    assert post_time(only(url)) is None


# --------------------------------------------------------------------------- properties

_PIECES = st.sampled_from(
    [
        "https://", "http://", "www.", "xhslink.com/", "v.douyin.com/", "x.com/", "youtu.be/",
        "/video/", "/status/", "?v=", "&", "=", "#", "＃", "@", ".", "/", ":", "【", "】", "，",
        "😆", "\u200b", "\u3000", " ", "\n", "复制打开抖音", "7301234567890123456", "BV1xx411c7mD",
        "dQw4w9WgXcQ", "xiaohongshu.com", "evil.cn", "%", "[", "]",
    ]
)  # fmt: skip
_NOISY_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(_NOISY_TEXT)
def test_property_never_crashes_and_never_invents_a_url(text: str) -> None:
    links = find_links(text)
    for link in links:
        found = link.url
        if found.startswith("https://") and found not in text:
            found = found.removeprefix("https://")  # a scheme-less URL gets a scheme
        assert found and found in text, (link, text)
        assert link.kind in ("post", "profile", "other")
        assert (link.post_id is None) or not link.short
        assert len({x.dedupe_key for x in links}) == len(links)
    assert post_links(text) == [link for link in links if link.kind == "post"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_property_classify_url_never_crashes(text: str) -> None:
    link = classify_url(text)
    assert link is None or link.canonical_url.startswith(("http://", "https://"))
