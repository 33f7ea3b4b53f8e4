"""Find and classify post links in whatever a creator pastes.

A creator may paste a bare URL, a short link, or a whole app share text with emoji,
a title, hashtags, Chinese brackets and full-width punctuation around the link.
:func:`find_links` pulls every URL out of such a text and classifies it against the
platform table :data:`PLATFORM_HOSTS`; :func:`post_links` keeps only the posts.

Pure functions only: no I/O, no network. Short links (``xhslink.com``, ``v.douyin.com``,
``t.cn``, ``b23.tv``) are flagged ``short=True`` and left for a resolver to follow; the
resolver can hand the final URL back to :func:`classify_url`.

Adding a platform means adding one :class:`PlatformSpec` entry to ``_PLATFORM_SPECS``
(hosts, URL shapes of posts and profiles, canonical forms, hashtag syntax, and how a post
id tells the time it was posted, where it does).
Every regex here is either anchored and free of nested ambiguous repetition or scans
each character a bounded number of times, so matching stays linear in the text length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "PLATFORM_HOSTS",
    "PLATFORM_SPECS",
    "Link",
    "PlatformSpec",
    "UrlPattern",
    "classify_url",
    "find_links",
    "post_links",
    "post_time",
]


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Link:
    """One URL found in a text, classified."""

    url: str  # as found in the text (trailing junk trimmed; "https://" added if no scheme)
    platform: str | None  # platform code, None when the host is not a known platform
    kind: str  # "post" | "profile" | "other"
    post_id: str | None  # canonical post id when derivable without network
    canonical_url: str  # canonical form; for short links the short URL itself, normalised
    short: bool  # True for a short link that needs resolving (post_id is None then)
    # the account the URL names (a user name or numeric id), when it shows one; derived from
    # ``url``, so it takes no part in equality
    author: str | None = field(default=None, compare=False)

    @property
    def dedupe_key(self) -> str:
        if self.platform is None:
            return "url:" + self.canonical_url
        if self.post_id:
            return f"{self.platform}:{self.post_id}"
        return f"{self.platform}:{self.canonical_url}"


@dataclass(frozen=True)
class UrlPattern:
    """One recognisable URL shape of a platform.

    ``path`` is a regex full-matched against the URL path with trailing slashes removed
    (the site root is the empty string). ``query``, when set, is a regex (or a tuple of
    regexes) full-matched against one ``name=value`` pair of the raw query string; the
    pattern matches when the path matches and each query regex matches some pair. Named
    groups of all of them feed the templates. ``canonical``, ``post_id`` and ``author``
    are :meth:`str.format` templates over those groups (``post_id`` is only used for post
    patterns; ``author`` defaults to ``{id}`` for profile patterns). ``hosts``, when
    non-empty, restricts the pattern to those hosts (same suffix rule as platform hosts).
    ``short`` marks a post shape that is a short link: it needs resolving, has no post id,
    and ``canonical`` is its normalised form.
    """

    path: str
    canonical: str
    post_id: str = "{id}"
    query: str | tuple[str, ...] | None = None
    hosts: tuple[str, ...] = ()
    short: bool = False
    author: str | None = None
    path_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    query_res: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path_re", re.compile(self.path))
        queries = (self.query,) if isinstance(self.query, str) else (self.query or ())
        object.__setattr__(self, "query_res", tuple(re.compile(q) for q in queries))

    def match(self, host: str, path: str, query: str) -> dict[str, str] | None:
        """Named groups when ``host``/``path``/``query`` have this shape, else None."""
        if self.hosts and not any(_host_in(host, domain) for domain in self.hosts):
            return None
        m = self.path_re.fullmatch(path)
        if m is None:
            return None
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        pairs = query.split("&") if self.query_res else []
        for query_re in self.query_res:
            for pair in pairs:
                qm = query_re.fullmatch(pair)
                if qm is not None:
                    groups.update({k: v for k, v in qm.groupdict().items() if v is not None})
                    break
            else:
                return None
        return groups


@dataclass(frozen=True)
class PlatformSpec:
    """One platform: its domains and the URL shapes of its posts and profiles.

    ``hosts`` and ``short_hosts`` are registrable domains (or exact subdomains): a URL
    host belongs to the platform when it equals one of them or ends with ``"." + it``.
    A host matching ``short_hosts`` is a short link: any non-empty path is a post that
    needs resolving, unless a post pattern already gives its id.
    Post patterns are tried first (in order), then profile patterns.
    ``hashtag`` is how a hashtag is written there (``{}`` is the tag): Weibo closes it
    (``#话题#``), most others do not (``#话题``). ``id_clock`` names how a post id tells
    when it was posted (see :func:`post_time`), None when it does not.
    """

    code: str
    hosts: tuple[str, ...]
    short_hosts: tuple[str, ...] = ()
    posts: tuple[UrlPattern, ...] = ()
    profiles: tuple[UrlPattern, ...] = ()
    hashtag: str = "#{}"
    id_clock: str | None = None


# --------------------------------------------------------------------------- the table

_XHS_NOTE = r"(?P<id>[0-9a-fA-F]{24})"
_DIGITS_ID = r"(?P<id>[0-9]+)"
_WEIBO_MID = r"(?P<id>[0-9A-Za-z]{9,})"
_KS_PHOTO = r"(?P<id>[0-9A-Za-z]{8,32})"
_IG_CODE = r"(?P<id>[0-9A-Za-z_\-]{5,64})"
_YT_ID = r"(?P<id>[0-9A-Za-z_\-]{11})"
_USER = r"(?P<user>[0-9A-Za-z_.\-]{1,64})"
# first path segments of Instagram / X / TikTok that are pages, not user names
_IG_PAGES = r"(?!(?:p|reel|reels|tv|explore|accounts|stories|direct|about|legal)$)"
_X_PAGES = (
    r"(?!(?:i|home|explore|search|settings|notifications|messages|compose|intent|share|hashtag"
    r"|login|signup|tos|privacy)$)"
)

_PLATFORM_SPECS: tuple[PlatformSpec, ...] = (
    PlatformSpec(
        code="xiaohongshu",
        hosts=("xiaohongshu.com",),
        short_hosts=("xhslink.com",),
        posts=(
            UrlPattern(r"/explore/" + _XHS_NOTE, "https://www.xiaohongshu.com/explore/{id}"),
            UrlPattern(r"/discovery/item/" + _XHS_NOTE, "https://www.xiaohongshu.com/explore/{id}"),
            # the web app opens a note from a profile page as /user/profile/<uid>/<note id>
            UrlPattern(
                r"/user/profile/(?P<user>[0-9A-Za-z]+)/" + _XHS_NOTE,
                "https://www.xiaohongshu.com/explore/{id}",
                author="{user}",
            ),
        ),
        profiles=(
            UrlPattern(
                r"/user/profile/(?P<id>[0-9A-Za-z]+)",
                "https://www.xiaohongshu.com/user/profile/{id}",
            ),
        ),
        id_clock="objectid",
    ),
    PlatformSpec(
        code="douyin",
        hosts=("douyin.com", "iesdouyin.com"),
        short_hosts=("v.douyin.com",),
        posts=(
            # a post opened as a modal over any page: www.douyin.com/...?modal_id=<id>
            UrlPattern(r".*", "https://www.douyin.com/video/{id}", query=r"modal_id=" + _DIGITS_ID),
            UrlPattern(r"/video/" + _DIGITS_ID, "https://www.douyin.com/video/{id}"),
            UrlPattern(r"/note/" + _DIGITS_ID, "https://www.douyin.com/note/{id}"),
            UrlPattern(r"/share/video/" + _DIGITS_ID, "https://www.douyin.com/video/{id}"),
            UrlPattern(r"/share/note/" + _DIGITS_ID, "https://www.douyin.com/note/{id}"),
        ),
        profiles=(
            UrlPattern(
                r"(?:/share)?/user/(?P<id>[0-9A-Za-z_.\-]+)", "https://www.douyin.com/user/{id}"
            ),
        ),
        id_clock="bytedance",
    ),
    PlatformSpec(
        code="weibo",
        hosts=("weibo.com", "weibo.cn"),
        short_hosts=("t.cn",),
        posts=(
            UrlPattern(r"/(?:status|detail)/" + _WEIBO_MID, "https://m.weibo.cn/status/{id}"),
            UrlPattern(
                r"/(?P<uid>[0-9]+)/(?!(?:following|followers)$)" + _WEIBO_MID,
                "https://weibo.com/{uid}/{id}",
                author="{uid}",
            ),
        ),
        profiles=(UrlPattern(r"/(?:u/|profile/)?(?P<id>[0-9]+)", "https://weibo.com/u/{id}"),),
        hashtag="#{}#",
    ),
    PlatformSpec(
        code="bilibili",
        hosts=("bilibili.com",),
        short_hosts=("b23.tv",),
        posts=(
            # "BV" itself is case-insensitive; the 10 characters after it are not
            UrlPattern(
                r"/video/[Bb][Vv](?P<bv>[0-9A-Za-z]{10})",
                "https://www.bilibili.com/video/BV{bv}",
                post_id="BV{bv}",
            ),
            UrlPattern(
                r"/video/[Aa][Vv](?P<av>[0-9]+)",
                "https://www.bilibili.com/video/av{av}",
                post_id="av{av}",
            ),
            # b23.tv/<BV id> redirects straight to the video: no need to resolve it
            UrlPattern(
                r"/[Bb][Vv](?P<bv>[0-9A-Za-z]{10})",
                "https://www.bilibili.com/video/BV{bv}",
                post_id="BV{bv}",
                hosts=("b23.tv",),
            ),
            # a column article (专栏) and a dynamic (动态)
            UrlPattern(r"/read/cv(?P<id>[0-9]+)", "https://www.bilibili.com/read/cv{id}", "cv{id}"),
            UrlPattern(
                r"/(?:opus|dynamic)/(?P<id>[0-9]+)",
                "https://www.bilibili.com/opus/{id}",
                "opus{id}",
            ),
        ),
        profiles=(
            UrlPattern(
                r"/(?P<id>[0-9]+)(?:/.*)?",
                "https://space.bilibili.com/{id}",
                hosts=("space.bilibili.com",),
            ),
            UrlPattern(
                r"/space/(?P<id>[0-9]+)(?:/.*)?",
                "https://space.bilibili.com/{id}",
                hosts=("m.bilibili.com",),
            ),
        ),
    ),
    PlatformSpec(
        code="kuaishou",
        hosts=("kuaishou.com", "gifshow.com", "chenzhongtech.com", "kuaishouapp.com"),
        short_hosts=("v.kuaishou.com",),
        posts=(
            UrlPattern(r"/short-video/" + _KS_PHOTO, "https://www.kuaishou.com/short-video/{id}"),
            # the app's share pages: v.m.chenzhongtech.com/fw/photo/<id>, m.gifshow.com/...
            UrlPattern(r"(?:/fw)?/photo/" + _KS_PHOTO, "https://www.kuaishou.com/short-video/{id}"),
            UrlPattern(
                r"/u/(?P<user>[0-9A-Za-z_\-]+)/" + _KS_PHOTO,
                "https://www.kuaishou.com/short-video/{id}",
                author="{user}",
                hosts=("live.kuaishou.com",),
            ),
        ),
        profiles=(
            UrlPattern(
                r"/(?:profile|u)/(?P<id>[0-9A-Za-z_\-]+)", "https://www.kuaishou.com/profile/{id}"
            ),
        ),
    ),
    PlatformSpec(
        code="wechat_channels",
        hosts=("channels.weixin.qq.com", "weixin.qq.com"),
        posts=(
            UrlPattern(
                r"/sph/(?P<code>[0-9A-Za-z_\-]+)",
                "https://weixin.qq.com/sph/{code}",
                hosts=("weixin.qq.com",),
                short=True,
            ),
            UrlPattern(
                r"/web/pages/feed",
                "https://channels.weixin.qq.com/web/pages/feed?eid={id}",
                query=r"eid=(?P<id>[0-9A-Za-z_\-%.~]+)",
                hosts=("channels.weixin.qq.com",),
            ),
        ),
    ),
    PlatformSpec(
        code="wechat_article",
        hosts=("mp.weixin.qq.com",),
        posts=(
            UrlPattern(r"/s/(?P<id>[0-9A-Za-z_\-]{10,64})", "https://mp.weixin.qq.com/s/{id}"),
            # the long form names the account (__biz), the message and its place in it
            UrlPattern(
                r"/s",
                "https://mp.weixin.qq.com/s?__biz={biz}&mid={mid}&idx={idx}&sn={sn}",
                post_id="{biz}:{mid}:{idx}",
                query=(
                    r"__biz=(?P<biz>[0-9A-Za-z%=+/]+)",
                    r"mid=(?P<mid>[0-9]+)",
                    r"idx=(?P<idx>[0-9]+)",
                    r"sn=(?P<sn>[0-9a-fA-F]+)",
                ),
                author="{biz}",
            ),
        ),
        profiles=(
            UrlPattern(
                r"/mp/profile_ext",
                "https://mp.weixin.qq.com/mp/profile_ext?action=home&__biz={id}",
                query=r"__biz=(?P<id>[0-9A-Za-z%=+/]+)",
            ),
        ),
    ),
    PlatformSpec(
        code="dongchedi",
        hosts=("dongchedi.com", "dcdapp.com"),
        posts=(
            UrlPattern(
                r"(?:/motor)?(?:/m)?(?:/ugc)?/(?P<kind>article|video)/" + _DIGITS_ID,
                "https://www.dongchedi.com/{kind}/{id}",
            ),
        ),
        profiles=(UrlPattern(r"/user/" + _DIGITS_ID, "https://www.dongchedi.com/user/{id}"),),
        id_clock="bytedance",
    ),
    PlatformSpec(
        code="autohome",
        hosts=("autohome.com.cn",),
        posts=(
            UrlPattern(
                r"(?:/chejiahao)?/info/" + _DIGITS_ID,
                "https://chejiahao.autohome.com.cn/info/{id}",
                post_id="info{id}",
                hosts=(
                    "chejiahao.autohome.com.cn",
                    "chejiahao.m.autohome.com.cn",
                    "m.autohome.com.cn",
                ),
            ),
            UrlPattern(
                r"/bbs/thread/(?P<hash>[0-9a-fA-F]+)/(?P<id>[0-9]+)-[0-9]+(?:\.html)?",
                "https://club.autohome.com.cn/bbs/thread/{hash}/{id}-1.html",
                post_id="thread{id}",
                hosts=("club.autohome.com.cn", "club.m.autohome.com.cn"),
            ),
        ),
        profiles=(
            UrlPattern(
                r"/[Aa]uthors/" + _DIGITS_ID,
                "https://chejiahao.autohome.com.cn/Authors/{id}",
                hosts=("chejiahao.autohome.com.cn", "chejiahao.m.autohome.com.cn"),
            ),
            UrlPattern(
                r"/" + _DIGITS_ID, "https://i.autohome.com.cn/{id}", hosts=("i.autohome.com.cn",)
            ),
        ),
    ),
    PlatformSpec(
        code="zhihu",
        hosts=("zhihu.com",),
        posts=(
            UrlPattern(
                r"(?:/question/[0-9]+)?/answer/" + _DIGITS_ID,
                "https://www.zhihu.com/answer/{id}",
                post_id="answer{id}",
            ),
            UrlPattern(
                r"/p/" + _DIGITS_ID,
                "https://zhuanlan.zhihu.com/p/{id}",
                post_id="p{id}",
                hosts=("zhuanlan.zhihu.com",),
            ),
            UrlPattern(r"/zvideo/" + _DIGITS_ID, "https://www.zhihu.com/zvideo/{id}", "zvideo{id}"),
            UrlPattern(r"/pin/" + _DIGITS_ID, "https://www.zhihu.com/pin/{id}", "pin{id}"),
        ),
        profiles=(
            UrlPattern(
                r"/(?:people|org)/(?P<id>[0-9A-Za-z_\-]+)(?:/.*)?",
                "https://www.zhihu.com/people/{id}",
            ),
        ),
    ),
    PlatformSpec(
        code="dianping",
        hosts=("dianping.com",),
        short_hosts=("dpurl.cn",),
        posts=(
            UrlPattern(
                r"/(?:ugcdetail|review|note)/" + _DIGITS_ID, "https://m.dianping.com/ugcdetail/{id}"
            ),
        ),
        profiles=(UrlPattern(r"/member/" + _DIGITS_ID, "https://www.dianping.com/member/{id}"),),
    ),
    PlatformSpec(
        code="instagram",
        hosts=("instagram.com", "instagr.am"),
        posts=(
            UrlPattern(r"/(?:p|reels?|tv)/" + _IG_CODE, "https://www.instagram.com/p/{id}/"),
            UrlPattern(
                r"/" + _IG_PAGES + _USER + r"/(?:p|reels?|tv)/" + _IG_CODE,
                "https://www.instagram.com/p/{id}/",
                author="{user}",
            ),
        ),
        profiles=(
            UrlPattern(
                r"/" + _IG_PAGES + r"(?P<id>[0-9A-Za-z_.]{1,30})",
                "https://www.instagram.com/{id}/",
            ),
        ),
    ),
    PlatformSpec(
        code="tiktok",
        hosts=("tiktok.com",),
        short_hosts=("vm.tiktok.com", "vt.tiktok.com"),
        posts=(
            UrlPattern(
                r"/@" + _USER + r"/(?:video|photo)/" + _DIGITS_ID,
                "https://www.tiktok.com/@{user}/video/{id}",
                author="{user}",
            ),
            UrlPattern(r"/v/(?P<id>[0-9]+)(?:\.html)?", "https://www.tiktok.com/embed/v2/{id}"),
            UrlPattern(r"/embed(?:/v2)?/" + _DIGITS_ID, "https://www.tiktok.com/embed/v2/{id}"),
            UrlPattern(r"/t/(?P<code>[0-9A-Za-z]+)", "https://www.tiktok.com/t/{code}", short=True),
        ),
        profiles=(UrlPattern(r"/@(?P<id>[0-9A-Za-z_.]{1,64})", "https://www.tiktok.com/@{id}"),),
        id_clock="bytedance",
    ),
    PlatformSpec(
        code="youtube",
        hosts=("youtube.com", "youtu.be", "youtube-nocookie.com"),
        posts=(
            UrlPattern(r"/watch", "https://www.youtube.com/watch?v={id}", query=r"v=" + _YT_ID),
            UrlPattern(
                r"/(?:shorts|live|embed|v)/" + _YT_ID, "https://www.youtube.com/watch?v={id}"
            ),
            UrlPattern(r"/" + _YT_ID, "https://www.youtube.com/watch?v={id}", hosts=("youtu.be",)),
        ),
        profiles=(
            UrlPattern(
                r"/@(?P<id>[0-9A-Za-z_.\-]{1,100})(?:/.*)?", "https://www.youtube.com/@{id}"
            ),
            UrlPattern(
                r"/channel/(?P<id>UC[0-9A-Za-z_\-]{22})(?:/.*)?",
                "https://www.youtube.com/channel/{id}",
            ),
            UrlPattern(
                r"/(?:c|user)/(?P<id>[0-9A-Za-z_.\-]+)(?:/.*)?", "https://www.youtube.com/c/{id}"
            ),
        ),
    ),
    PlatformSpec(
        code="x",
        hosts=("x.com", "twitter.com", "fxtwitter.com", "vxtwitter.com", "fixupx.com"),
        short_hosts=("t.co",),
        posts=(
            UrlPattern(
                r"/"
                + _X_PAGES
                + r"(?P<user>[0-9A-Za-z_]{1,15})/status(?:es)?/"
                + _DIGITS_ID
                + r"(?:/(?:photo|video)/[0-9]+)?",
                "https://x.com/{user}/status/{id}",
                author="{user}",
            ),
            UrlPattern(r"/i/(?:web/)?status/" + _DIGITS_ID, "https://x.com/i/web/status/{id}"),
        ),
        profiles=(
            UrlPattern(r"/" + _X_PAGES + r"(?P<id>[0-9A-Za-z_]{1,15})", "https://x.com/{id}"),
        ),
        id_clock="snowflake",
    ),
)

#: The platform data table, in the order platforms are offered to creators.
PLATFORM_SPECS = _PLATFORM_SPECS

#: The platform data table, keyed by platform code.
PLATFORM_HOSTS: dict[str, PlatformSpec] = {spec.code: spec for spec in _PLATFORM_SPECS}

# Query parameters that only track the share (who, when, from which app screen).
_TRACKING_PARAM_PREFIXES = ("utm_", "xsec_", "share_", "spm")
_TRACKING_PARAMS = frozenset(
    {
        "app_platform",
        "app_version",
        "apptime",
        "appuid",
        "author_share",
        "bbid",
        "enter_from",
        "extra_params",
        "chksm",
        "feature",
        "fbclid",
        "from_spmid",
        "gclid",
        "igsh",
        "igshid",
        "ignoreengage",
        "is_copy_url",
        "is_from_webapp",
        "is_story_h5",
        "msource",
        "previous_page",
        "ref_src",
        "ref_url",
        "scene",
        "sender_device",
        "shareredid",
        "si",
        "srcid",
        "timestamp",
        "ts",
        "tt_from",
        "u_code",
        "unique_k",
        "vd_source",
        "xhsshare",
    }
)

# --------------------------------------------------------------------------- URL finding

# Characters a URL may contain here: RFC 3986 unreserved + reserved, minus quotes and
# brackets (which in chat text close the URL far more often than they belong to it).
# Everything else (whitespace, control characters, CJK, full-width punctuation, emoji)
# ends the URL.
_URL_CHARS = r"A-Za-z0-9\-._~:/?#@!$&*+,;=%"
_AUTHORITY_CHARS = r"A-Za-z0-9\-._~%!$&*+,;=:@"
# A second "http(s)://" starts the next URL, unless it is a query value ("?u=https://").
_NOT_NEXT_URL = r"(?!(?<!=)https?://)"
_URL_RE = re.compile(
    r"(?:"
    r"(?P<scheme>https?)://(?P<authority>(?:" + _NOT_NEXT_URL + r"[" + _AUTHORITY_CHARS + r"])*)"
    r"|"
    # scheme-less: a dotted host name that does not continue a word, path or e-mail address
    r"(?<![A-Za-z0-9\-._@/%])"
    r"(?P<host>[A-Za-z0-9][A-Za-z0-9\-]*(?:\.[A-Za-z0-9\-]+)+)(?::[0-9]{1,5})?"
    r"(?![A-Za-z0-9\-_@])"
    r")"
    r"(?P<rest>[/?#](?:" + _NOT_NEXT_URL + r"[" + _URL_CHARS + r"])*)?",
    re.ASCII | re.IGNORECASE,
)
_TRAILING_JUNK = ".,;:!?*"


def _host_in(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _lookup_host(host: str) -> tuple[PlatformSpec | None, bool]:
    """The platform owning ``host`` (longest matching domain wins) and whether it is short."""
    best: PlatformSpec | None = None
    best_len = -1
    best_short = False
    for spec in _PLATFORM_SPECS:
        for domains, is_short in ((spec.short_hosts, True), (spec.hosts, False)):
            for domain in domains:
                if len(domain) > best_len and _host_in(host, domain):
                    best, best_len, best_short = spec, len(domain), is_short
    return best, best_short


def _clean_query(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = pair.split("=", 1)[0].lower()
        if name in _TRACKING_PARAMS or name.startswith(_TRACKING_PARAM_PREFIXES):
            continue
        kept.append(pair)
    return "&".join(kept)


def _split(url: str) -> tuple[SplitResult, str] | None:
    """``urlsplit`` plus the normalised host, or None when the URL has no usable host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    if "." not in host or host.startswith(".") or ".." in host:
        return None
    return parts, host


def _classify(url: str) -> Link | None:
    """Classify ``url``, which has an http(s) scheme."""
    split = _split(url)
    if split is None:
        return None
    parts, host = split
    raw_path = parts.path
    path = raw_path.rstrip("/")
    spec, is_short = _lookup_host(host)

    if spec is None:
        netloc = host
        try:
            if parts.port is not None:
                netloc = f"{host}:{parts.port}"
        except ValueError:
            pass
        query = _clean_query(parts.query)
        canonical = f"{parts.scheme.lower()}://{netloc}{raw_path or '/'}"
        canonical += f"?{query}" if query else ""
        return Link(url, None, "other", None, canonical, False)

    for pattern in spec.posts:
        groups = pattern.match(host, path, parts.query)
        if groups is not None:
            canonical = pattern.canonical.format(**groups)
            if pattern.short:
                return Link(url, spec.code, "post", None, canonical, True)
            author = pattern.author.format(**groups) if pattern.author else None
            post_id = pattern.post_id.format(**groups)
            return Link(url, spec.code, "post", post_id, canonical, False, author)

    if is_short and path:
        return Link(url, spec.code, "post", None, f"https://{host}{path}", True)

    for pattern in spec.profiles:
        groups = pattern.match(host, path, parts.query)
        if groups is not None:
            author = (pattern.author or "{id}").format(**groups)
            canonical = pattern.canonical.format(**groups)
            return Link(url, spec.code, "profile", None, canonical, False, author)

    query = _clean_query(parts.query)
    canonical = f"https://{host}{raw_path or '/'}" + (f"?{query}" if query else "")
    return Link(url, spec.code, "other", None, canonical, False)


# --------------------------------------------------------------------------- public API


def classify_url(url: str) -> Link | None:
    """Classify one URL (e.g. the final URL a short link resolved to).

    A missing scheme is taken as ``https://``. Returns None when ``url`` has no usable
    host. Unlike :func:`find_links`, the URL is taken whole: nothing is trimmed.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url:
        return None
    full_url = url if re.match(r"https?://", url, re.ASCII | re.IGNORECASE) else "https://" + url
    return _classify(full_url)


def find_links(text: str) -> list[Link]:
    """Every URL in ``text``, classified, in order of appearance, without duplicates.

    Two links are duplicates when they have the same :attr:`Link.dedupe_key`; the first
    one found is kept. URLs without a scheme count only when their host is a known
    platform host. Never raises.
    """
    if not isinstance(text, str) or not text:
        return []
    links: list[Link] = []
    seen: set[str] = set()
    for m in _URL_RE.finditer(text):
        found = m.group(0).rstrip(_TRAILING_JUNK)
        if m.group("scheme") is not None:
            full_url = found
        else:
            host = m.group("host").lower().rstrip(".")
            if _lookup_host(host)[0] is None:
                continue
            full_url = "https://" + found
        link = _classify(full_url)
        if link is None or link.dedupe_key in seen:
            continue
        seen.add(link.dedupe_key)
        links.append(link)
    return links


def post_links(text: str) -> list[Link]:
    """Only the post links of :func:`find_links` (short links of a platform included)."""
    return [link for link in find_links(text) if link.kind == "post"]


# The earliest and latest times a post id may tell: an id outside them is not a real one.
_CLOCK_FLOOR = datetime(2010, 1, 1, tzinfo=UTC)
_CLOCK_CEILING = datetime(2100, 1, 1, tzinfo=UTC)
_TWITTER_EPOCH_MS = 1288834974657


def post_time(link: Link) -> datetime | None:
    """When the post was published, as far as its id tells (UTC), else None.

    Xiaohongshu note ids are MongoDB ObjectIds (the first 8 hex digits are Unix seconds);
    ByteDance ids (Douyin, TikTok, Dongchedi) carry Unix seconds in their top 32 bits;
    X ids are snowflakes (milliseconds since 2010-11-04 in the bits above 22).
    """
    if link.kind != "post" or not link.post_id or link.platform is None:
        return None
    spec = PLATFORM_HOSTS.get(link.platform)
    clock = spec.id_clock if spec else None
    post_id = link.post_id
    seconds: float
    if clock == "objectid" and re.fullmatch(r"[0-9a-fA-F]{24}", post_id):
        seconds = int(post_id[:8], 16)
    elif clock == "bytedance" and post_id.isdigit() and 17 <= len(post_id) <= 20:
        seconds = int(post_id) >> 32
    elif clock == "snowflake" and post_id.isdigit() and 15 <= len(post_id) <= 20:
        seconds = ((int(post_id) >> 22) + _TWITTER_EPOCH_MS) / 1000
    else:
        return None
    if not _CLOCK_FLOOR.timestamp() <= seconds < _CLOCK_CEILING.timestamp():
        return None
    return datetime.fromtimestamp(seconds, UTC)
