"""Captions: what a share text says besides its link, and the hashtags and mentions in it.

Pure functions. Hashtags are read with each platform's syntax: Weibo closes a tag
(``#话题#``), Xiaohongshu's copied text writes ``#话题[话题]#``, Douyin's share text puts a
space after the mark (``# 试驾``), everyone else writes ``#话题``. Full-width ``＃`` and
``＠`` and full-width letters count as their ASCII forms (NFKC), case does not matter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_CAPTION = 2000

# What share texts wrap around a link: app boilerplate, and Douyin's pass codes.
_BOILERPLATE = [
    re.compile(p)
    for p in (
        r"复制本条信息，?打开【?小红书】?App查看精彩内容[！!]?",
        r"复制打开抖音，?看看",
        r"长按复制此条消息，?打开抖音搜索，?查看TA的更多作品。?",
        r"复制此链接，?打开(?:抖音|TikTok|Dou音)搜索，?直接观看视频！?",
        r"该作品在快手被播放过[0-9.万wWkK]+次，?点击链接，?打开【?快手(?:极速版)?】?直接观看！?",
        r"复制此消息，?打开快手",
        r"[0-9]{1,2}\.[0-9]{1,2}\s",  # Douyin's leading "7.43 "
        r"[A-Za-z]{2,4}:/\s",  # "Wsl:/ "
        r"\b[0-9]{2}/[0-9]{2}\b",  # "10/26"
        r"\b[A-Za-z]@[A-Za-z]\.[A-Za-z]{2}\b",  # "K@W.lp"
        r"\b[A-Za-z]{1,2}@[A-Za-z]{1,2}\.[A-Za-z]{1,2}\b",
    )
]
_TAG_CHARS = r"[^\s#@,.!?:;()\[\]<>'\"，。！？：；、（）【】「」《》“”‘’…]"
_XHS_TAG = re.compile(r"#\s*(" + _TAG_CHARS + r"+?)\[话题\]#")
# Weibo: "#话题#"; a space just inside a mark means the mark opens or closes nothing there
_WEIBO_TAG = re.compile(r"#(?!\s)([^#\n]{0,63}[^#\s])#")
_OPEN_TAG = re.compile(r"#\s?(" + _TAG_CHARS + r"+)")


def normalize(text: str) -> str:
    """NFKC (full-width ＃ → #, ＡＢ → AB), case-folded, without zero-width characters."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _tag_key(tag: str) -> str:
    return re.sub(r"\s+", "", normalize(tag)).strip("#")


def caption_from_share_text(text: str, urls: Iterable[str]) -> str:
    """The share text without its links, app boilerplate and pass codes; may be empty."""
    for url in sorted(set(urls), key=len, reverse=True):
        text = text.replace(url, " ")
        if url.startswith("https://"):
            text = text.replace(url.removeprefix("https://"), " ")
    for pattern in _BOILERPLATE:
        text = pattern.sub(" ", text)
    text = re.sub(r"[ \t\u3000]+", " ", text)
    text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    return text.strip(" ，,")[:MAX_CAPTION]


def caption_is_known(caption: str | None) -> bool:
    """A caption tells something about hashtags only when it carries one."""
    return bool(caption) and "#" in normalize(caption or "")


def find_hashtags(caption: str, platform: str | None) -> list[str]:
    """The hashtags in ``caption`` as ``platform`` writes them, normalised, in order."""
    text = normalize(caption)
    tags: list[str] = []
    if platform == "weibo":
        tags += [m.group(1) for m in _WEIBO_TAG.finditer(text)]
    else:
        if platform == "xiaohongshu":
            tags += [m.group(1) for m in _XHS_TAG.finditer(text)]
            text = _XHS_TAG.sub(" ", text)
        tags += [m.group(1) for m in _OPEN_TAG.finditer(text)]
    keys = [_tag_key(tag) for tag in tags]
    return list(dict.fromkeys(key for key in keys if key))


def missing_hashtags(caption: str, platform: str | None, required: Iterable[str]) -> list[str]:
    """The required tags (as the campaign writes them) that the caption lacks."""
    present = set(find_hashtags(caption, platform))
    return [tag for tag in required if _tag_key(tag) not in present]


def has_mention(caption: str, mention: str) -> bool:
    """``@ACME汽车`` in the caption (not followed by more of a name)."""
    name = normalize(mention).strip().lstrip("@").strip()
    if not name:
        return True
    pattern = r"@\s?" + re.escape(name) + r"(?![0-9a-z_\u4e00-\u9fff])"
    return re.search(pattern, normalize(caption)) is not None


def has_disclosure(caption: str, platform: str | None, disclosure: str) -> bool:
    """The disclosure tag: a hashtag (``#合作``, in the platform's syntax) or plain words."""
    wanted = normalize(disclosure).strip()
    if wanted.startswith("#"):
        return not missing_hashtags(caption, platform, [wanted])
    return re.sub(r"\s+", "", wanted) in re.sub(r"\s+", "", normalize(caption))
