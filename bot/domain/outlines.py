"""Central-kitchen outlines as pure rules: angles, the outline schema, checks and similarity.

One brief becomes a different outline per creator. Each creator gets an *angle* (first-person
review, tutorial, store visit …) fitted to their kind, platform and niches and balanced across
the campaign; a generated outline is checked against the brief (required hashtags, disclosure,
the don'ts) and compared with the campaign's other outlines by character n-grams. Also the
no-I/O halves of the generators (bot/services/outline_generators.py): what a generator is
asked (`OutlineRequest`), the data sections of a prompt, and the template generator's outline
composed from a phrase kit.
Words shown to people live in content_templates/<locale>/outlines/; here only codes and rules.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from string import Formatter
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# How content is made on each platform: decides the shot list and which angles fit.
VIDEO, NOTE, POST, ARTICLE, REVIEW = "video", "note", "post", "article", "review"
PLATFORM_FORMATS: dict[str, str] = {
    "xiaohongshu": NOTE,
    "douyin": VIDEO,
    "kuaishou": VIDEO,
    "bilibili": VIDEO,
    "wechat_channels": VIDEO,
    "tiktok": VIDEO,
    "youtube": VIDEO,
    "instagram": NOTE,
    "weibo": POST,
    "x": POST,
    "wechat_article": ARTICLE,
    "zhihu": ARTICLE,
    "dongchedi": ARTICLE,
    "autohome": ARTICLE,
    "dianping": REVIEW,
}
ALL_FORMATS = frozenset({VIDEO, NOTE, POST, ARTICLE, REVIEW})


def platform_format(platform: str) -> str:
    return PLATFORM_FORMATS.get(platform, POST)


@dataclass(frozen=True)
class Angle:
    """A way into the brief. `niches` are words that make it a better fit; a campaign whose
    don'ts mention any of `conflicts` never uses it (a comparison angle under "no comparisons")."""

    code: str
    kinds: frozenset[str] = frozenset({"koc", "kos"})
    kos_types: frozenset[str] | None = None  # None: every KOS type
    formats: frozenset[str] = ALL_FORMATS
    niches: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


KOC, KOS = frozenset({"koc"}), frozenset({"kos"})
SHOWN = frozenset({VIDEO, NOTE, POST})  # angles that need pictures or footage

ANGLES: tuple[Angle, ...] = (
    Angle("first_person", KOC, niches=("测评", "体验", "review", "生活", "lifestyle")),
    Angle(
        "comparison",
        niches=("测评", "评测", "数码", "review", "tech"),
        conflicts=("竞品", "对比", "比较", "competitor", "compar"),
    ),
    Angle("day_in_life", KOC, formats=SHOWN, niches=("生活", "vlog", "日常", "lifestyle")),
    Angle("tutorial", niches=("科技", "数码", "教程", "tech", "diy", "知识")),
    Angle("qa", niches=("知识", "科普", "问答", "tech")),
    Angle("unboxing", formats=SHOWN, niches=("开箱", "数码", "好物", "tech", "unboxing")),
    Angle("family", KOC, niches=("亲子", "家庭", "宝妈", "育儿", "family", "parent", "kids")),
    Angle("commute", KOC, niches=("通勤", "上班", "城市", "commute", "city", "职场")),
    Angle(
        "budget",
        KOC,
        niches=("省钱", "性价比", "学生", "理财", "budget", "saving"),
        conflicts=("价格", "优惠", "折扣", "price", "discount"),
    ),
    Angle("myth_busting", niches=("科普", "知识", "汽车", "tech", "science")),
    Angle("store_visit", KOS, frozenset({"dealer", "store"}), niches=("门店", "探店", "store")),
    Angle("sales_faq", KOS, niches=("销售", "顾问", "sales")),
    Angle("expert_explainer", KOS, frozenset({"employee", "agent"}), niches=("技术", "expert")),
    Angle("owner_handover", KOS, frozenset({"dealer", "store"}), formats=SHOWN),
)
ANGLE_CODES: tuple[str, ...] = tuple(a.code for a in ANGLES)
_BY_CODE = {a.code: a for a in ANGLES}


@dataclass(frozen=True)
class CreatorProfile:
    """What the generators know about a creator. Every text field is the creator's own input:
    data for a prompt, never instructions."""

    creator_id: int
    kind: str
    kos_type: str | None
    city: str
    niches: tuple[str, ...]
    tier: str
    platform: str  # the platform this outline is for
    handle: str = ""
    followers: int = 0
    name: str = ""
    locale: str | None = None  # the language they chose in chat, if they did

    @property
    def format(self) -> str:
        return platform_format(self.platform)


def pick_platform(accounts: Iterable[tuple[str, int]], campaign_platforms: list[str]) -> str:
    """The creator's biggest account on a platform the campaign allows, else its first one."""
    allowed = [(f, p) for p, f in accounts if p in campaign_platforms]
    if allowed:
        return max(allowed, key=lambda fp: (fp[0], -campaign_platforms.index(fp[1])))[1]
    return campaign_platforms[0] if campaign_platforms else "xiaohongshu"


def fit_score(angle: Angle, profile: CreatorProfile, donts: Iterable[str] = ()) -> int:
    """0 when the angle does not fit at all; higher is better."""
    if profile.kind not in angle.kinds:
        return 0
    if (
        profile.kind == "kos"
        and angle.kos_types is not None
        and (profile.kos_type not in angle.kos_types)
    ):
        return 0
    if profile.format not in angle.formats:
        return 0
    rules = " ".join(donts).lower()
    if any(word in rules for word in angle.conflicts):
        return 0
    niches = " ".join(profile.niches).lower()
    score = 1 + 2 * sum(1 for word in angle.niches if word in niches)
    if profile.kind == "kos" and angle.kinds == KOS:
        score += 2  # a salesperson's own angles are what KOS content is for
    return score


def fitting_angles(profile: CreatorProfile, donts: Iterable[str] = ()) -> dict[str, int]:
    donts = list(donts)
    scores = {a.code: fit_score(a, profile, donts) for a in ANGLES}
    return {code: score for code, score in scores.items() if score > 0}


def _stable(creator_id: int, code: str) -> str:
    return hashlib.blake2s(f"{creator_id}:{code}".encode(), digest_size=4).hexdigest()


def assign_angle(
    profile: CreatorProfile,
    counts: Mapping[str, int],
    donts: Iterable[str] = (),
    exclude: Iterable[str] = (),
    slack: int = 1,
) -> str:
    """The angle for this creator: among the fitting angles used at most `slack` more often
    than the least used one, the best fit (then the least used; ties broken per creator).

    Over a campaign this keeps the angles balanced (spread within `slack` + 1) while a
    parent still tends to get the family angle. `exclude` (angles this creator had, or that
    came out too close to someone else's outline) is honoured while any fitting angle is left.
    """
    fitting = fitting_angles(profile, donts)
    if not fitting:  # every angle conflicts with the brief: the plain first-person story
        fitting = {"tutorial": 1}
    excluded = set(exclude)
    candidates = {c: s for c, s in fitting.items() if c not in excluded} or fitting
    least = min(counts.get(c, 0) for c in candidates)
    near = [c for c in candidates if counts.get(c, 0) <= least + slack]
    return min(
        near,
        key=lambda c: (-candidates[c], counts.get(c, 0), _stable(profile.creator_id, c)),
    )


# --- the outline ------------------------------------------------------------------------------


def _clean_tag(tag: str) -> str:
    return str(tag).strip().strip("#").strip()


class OutlineDraft(BaseModel):
    """What a generator returns (the LLM as JSON): validated before anyone sees it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    titles: list[str] = Field(min_length=3, max_length=3)
    hook: str = Field(min_length=1, max_length=500)
    beats: list[str] = Field(min_length=3, max_length=5)
    key_messages: list[str] = Field(min_length=1, max_length=10)
    hashtags: list[str] = Field(default_factory=list, max_length=30)
    disclosure: str = ""
    shots: list[str] = Field(min_length=1, max_length=12)
    cta: str = Field(min_length=1, max_length=300)
    avoid: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("titles", "beats", "key_messages", "shots", "avoid")
    @classmethod
    def _no_blank_items(cls, value: list[str]) -> list[str]:
        items = [str(v).strip() for v in value]
        if any(not item for item in items):
            raise ValueError("items must not be empty")
        if any(len(item) > 500 for item in items):
            raise ValueError("an item is longer than 500 characters")
        return items

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return [t for t in (_clean_tag(v) for v in value) if t]


@dataclass(frozen=True)
class OutlineProblem:
    code: str  # invalid_json | schema | missing_hashtag | missing_disclosure | dont
    detail: str = ""


@dataclass(frozen=True)
class BriefRules:
    """The parts of a campaign spec an outline is checked against."""

    required_hashtags: tuple[str, ...]
    disclosure: str
    donts: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BriefRules:
        return cls(
            tuple(spec.get("hashtags", {}).get("required", [])),
            str(spec.get("disclosure", "")),
            tuple(spec.get("donts", [])),
        )


@dataclass
class Checked:
    draft: OutlineDraft | None
    problems: list[OutlineProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.draft is not None and not self.problems


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)


def parse_draft(text: str) -> Checked:
    """Model output → a draft; invalid JSON or schema problems are named, never raised."""
    fenced = _FENCE.match(text or "")
    body = fenced.group(1) if fenced else (text or "").strip()
    try:
        data = json.loads(body)
    except ValueError as exc:
        return Checked(None, [OutlineProblem("invalid_json", str(exc)[:200])])
    if not isinstance(data, dict):
        return Checked(None, [OutlineProblem("invalid_json", "not a JSON object")])
    try:
        return Checked(OutlineDraft.model_validate(data))
    except ValidationError as exc:
        problems = [
            OutlineProblem("schema", f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}")
            for e in exc.errors()
        ]
        return Checked(None, problems)


def check_draft(draft: OutlineDraft, rules: BriefRules) -> list[OutlineProblem]:
    """What the brief requires and forbids: hashtags, disclosure, the don'ts."""
    problems: list[OutlineProblem] = []
    tags = {t.lower() for t in draft.hashtags}
    for tag in rules.required_hashtags:
        if _clean_tag(tag).lower() not in tags:
            problems.append(OutlineProblem("missing_hashtag", tag))
    disclosure = rules.disclosure.strip()
    if disclosure and disclosure.lower() not in (
        f"{draft.disclosure} {' '.join('#' + t for t in draft.hashtags)}".lower()
    ):
        problems.append(OutlineProblem("missing_disclosure", disclosure))
    for dont in dont_violations(promised_text(draft), rules.donts):
        problems.append(OutlineProblem("dont", dont))
    return problems


def validate_output(text: str, rules: BriefRules) -> Checked:
    checked = parse_draft(text)
    if checked.draft is not None:
        checked.problems = check_draft(checked.draft, rules)
    return checked


# --- don'ts ---------------------------------------------------------------------------------

# A don't is a rule in words ("不要和竞品做价格对比", "no medical claims"). Its content terms are
# what remains after the negation and small function words; a sentence of the outline that
# holds every term of a don't breaks it.
_NEGATIONS = re.compile(
    r"^(?:请勿|请不要|不要|不能|不得|不可|禁止|严禁|切勿|别|勿|避免|不许|"
    r"do not|don't|dont|never|no|avoid|must not)\s*",
    re.IGNORECASE,
)
_ZH_SPLIT = re.compile(r"[和与跟对及或的地得了把被在做说讲提用是将为进行任何]+")
_EN_STOP = frozenset(
    {"a", "an", "the", "to", "of", "with", "about", "for", "and", "or", "any", "our", "your",
     "their", "its", "in", "on", "at", "by", "be", "is", "are", "mention", "mentions", "say",
     "says", "make", "makes", "compare", "talk"}
)  # fmt: skip
_SENTENCE = re.compile(r"[。！？!?；;\n]+|(?<=[.])\s+")


def dont_terms(dont: str) -> list[str]:
    text = _NEGATIONS.sub("", dont.strip().lower()).strip(" ，,。.")
    terms: list[str] = []
    for chunk in re.split(r"[\s,，、/]+", text):
        if not chunk:
            continue
        if re.search(r"[\u4e00-\u9fff]", chunk):
            terms += [t for t in _ZH_SPLIT.split(chunk) if len(t) >= 2]
        elif chunk not in _EN_STOP and len(chunk) >= 3:
            terms.append(chunk.rstrip("s") if len(chunk) > 4 else chunk)
    return terms


def dont_violations(text: str, donts: Iterable[str]) -> list[str]:
    """The don'ts that some sentence of `text` breaks (every content term of it present)."""
    sentences = [s.lower() for s in _SENTENCE.split(text) if s.strip()]
    broken = []
    for dont in donts:
        terms = dont_terms(dont)
        if terms and any(all(term in s for term in terms) for s in sentences):
            broken.append(dont)
    return broken


def promised_text(draft: OutlineDraft) -> str:
    """Everything the creator will say (the "avoid" list restates the don'ts on purpose)."""
    parts = [*draft.titles, draft.hook, *draft.beats, *draft.key_messages, *draft.shots, draft.cta]
    return "\n".join(parts)


# --- similarity -------------------------------------------------------------------------------

NGRAM = 3


def comparable_text(draft: OutlineDraft) -> str:
    """The creator-specific part: the brief's key messages, hashtags and disclosure are shared
    by every outline on purpose and would make all of them look alike."""
    return "\n".join([*draft.titles, draft.hook, *draft.beats, *draft.shots, draft.cta])


NOT_ALNUM = re.compile(r"[\W_]+")  # \w is exactly str.isalnum() plus "_"


def _normalize(text: str) -> str:
    return NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).lower())


def shingles(text: str, n: int = NGRAM) -> frozenset[str]:
    norm = _normalize(text)
    if len(norm) <= n:
        return frozenset({norm}) if norm else frozenset()
    return frozenset(norm[i : i + n] for i in range(len(norm) - n + 1))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two shingle sets, 0.0 … 1.0."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


class ShingleIndex:
    """The campaign's outlines by shingle, so that the closest one to a new outline is found
    by walking the new outline's shingles instead of comparing it with every other outline."""

    def __init__(self) -> None:
        self._postings: dict[str, set[int]] = {}
        self._sets: dict[int, frozenset[str]] = {}

    def __len__(self) -> int:
        return len(self._sets)

    def add(self, key: int, grams: frozenset[str]) -> None:
        self.remove(key)
        self._sets[key] = grams
        for gram in grams:
            self._postings.setdefault(gram, set()).add(key)

    def remove(self, key: int) -> None:
        for gram in self._sets.pop(key, frozenset()):
            posting = self._postings.get(gram)
            if posting is not None:
                posting.discard(key)
                if not posting:
                    del self._postings[gram]

    def closest(
        self, grams: frozenset[str], ignore: Iterable[int] = ()
    ) -> tuple[int | None, float]:
        """The most similar indexed set (Jaccard) and its score; `ignore` are skipped."""
        postings = self._postings
        shared = Counter(chain.from_iterable(postings[g] for g in grams if g in postings))
        skip = set(ignore)
        best_key, best = None, 0.0
        for key, common in shared.items():
            if key in skip:
                continue
            score = common / (len(grams) + len(self._sets[key]) - common)
            if score > best or (score == best and best_key is not None and key < best_key):
                best_key, best = key, score
        return best_key, best


def closest(
    candidate: frozenset[str], others: Mapping[int, frozenset[str]]
) -> tuple[int | None, float]:
    """The most similar of `others` (id → shingles) and how similar it is."""
    best_id, best = None, 0.0
    for other_id, other in others.items():
        score = similarity(candidate, other)
        if score > best:
            best_id, best = other_id, score
    return best_id, best


# --- what a generator is asked ----------------------------------------------------------------


@dataclass(frozen=True)
class OutlineRequest:
    campaign_code: str
    campaign_name: str
    spec: Mapping[str, Any]
    profile: CreatorProfile
    angle: str
    locale: str
    variant: int = 0  # another try for the same creator and angle phrases it differently

    @property
    def rules(self) -> BriefRules:
        return BriefRules.from_spec(self.spec)


# --- prompt data --------------------------------------------------------------------------------


def prompt_data(value: Any) -> str:
    """JSON for a data section. `<` and `>` are escaped, so creator text can never close the
    section it sits in (`</creator_profile>` inside a handle stays inert)."""
    text = json.dumps(value, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def brief_data(request: OutlineRequest) -> dict[str, Any]:
    """The brief as the prompt shows it: the same for every creator of a campaign."""
    spec = request.spec
    hashtags = spec.get("hashtags", {})
    return {
        "campaign": request.campaign_name,
        "product": spec.get("product", ""),
        "key_messages": list(spec.get("key_messages", [])),
        "dos": list(spec.get("dos", [])),
        "donts": list(spec.get("donts", [])),
        "required_hashtags": list(hashtags.get("required", [])),
        "optional_hashtags": list(hashtags.get("optional", [])),
        "mentions": list(spec.get("mentions", [])),
        "disclosure": spec.get("disclosure", ""),
        "platforms": list(spec.get("platforms", [])),
    }


def profile_data(p: CreatorProfile) -> dict[str, Any]:
    """The creator's own words the prompt carries, as data (see `prompt_data`)."""
    return {
        "name": p.name,
        "city": p.city,
        "niches": list(p.niches),
        "handle": p.handle,
        "followers": p.followers,
        "tier": p.tier,
    }


# --- the template generator's outline ---------------------------------------------------------


class OutlineKit(Protocol):
    """One locale's phrases (content_templates/<locale>/outlines/_kit.j2): per angle its
    titles, hooks, beats and shot; voices per creator kind; shots per format; calls to action."""

    angles: Mapping[str, Mapping[str, Any]]
    voice: Mapping[str, Sequence[str]]
    shots: Mapping[str, Sequence[str]]
    ctas: Sequence[str]
    kos_ctas: Sequence[str]
    always_avoid: Sequence[str]


class _Blank(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


def fill_pattern(pattern: str, values: Mapping[str, str]) -> str:
    # Only plain {name} fields are ours; the values (creator text) are never parsed as patterns.
    names = {name for _, name, _, _ in Formatter().parse(pattern) if name}
    return pattern.format_map(_Blank({n: values.get(n, "") for n in names})).strip()


def compose_outline(
    request: OutlineRequest, kit: OutlineKit, platform_names: Mapping[str, str]
) -> OutlineDraft:
    """The brief × the angle's phrases × the profile. Seeded per creator, angle and try, so
    the same request gives the same outline and another try a different one."""
    spec, p = request.spec, request.profile
    rng = random.Random(f"{p.creator_id}:{request.angle}:{request.variant}")
    messages = list(spec.get("key_messages", [])) or [spec.get("product", "")]
    shift = rng.randrange(len(messages))
    messages = messages[shift:] + messages[:shift]
    values = {
        "product": spec.get("product") or request.campaign_name,
        "campaign": request.campaign_name,
        "city": p.city,
        "niche": rng.choice(p.niches) if p.niches else "",
        "platform": platform_names.get(p.platform, p.platform),
        "message": messages[0],
        "message2": messages[1 % len(messages)],
        "do": (spec.get("dos") or [""])[0],
    }
    phrases = kit.angles[request.angle]
    titles = [fill_pattern(t, values) for t in rng.sample(phrases["titles"], 3)]
    beats = [fill_pattern(b, values) for b in phrases["beats"]][:5]
    if len(beats) > 4 and rng.random() < 0.5:
        beats.pop(rng.randrange(1, len(beats) - 1))  # a beat less, now and then
    voice = kit.voice["kos" if p.kind == "kos" else "koc"]
    key_messages = [fill_pattern(rng.choice(voice), {"message": m}) for m in messages]
    shots = [fill_pattern(phrases["shot"], values)]
    format_shots = list(kit.shots[p.format])
    shots += rng.sample(format_shots, min(3, len(format_shots)))
    ctas = list(kit.ctas) + (list(kit.kos_ctas) if p.kind == "kos" else [])
    hashtags = list(spec.get("hashtags", {}).get("required", []))
    optional = list(spec.get("hashtags", {}).get("optional", []))
    hashtags += rng.sample(optional, min(2, len(optional)))
    return OutlineDraft(
        titles=titles,
        hook=fill_pattern(rng.choice(phrases["hooks"]), values),
        beats=beats,
        key_messages=key_messages,
        hashtags=hashtags,
        disclosure=str(spec.get("disclosure", "")),
        shots=shots,
        cta=rng.choice(ctas),
        avoid=[*spec.get("donts", []), *kit.always_avoid],
    )


def angle(code: str) -> Angle:
    return _BY_CODE[code]


def format_micros(micros: int, currency: str = "USD") -> str:
    """Model costs are tiny: millionths of a currency unit, shown to 4 decimals ($0.0123)."""
    from decimal import ROUND_HALF_UP, Decimal

    from bot.domain.money import CURRENCY_SYMBOLS

    amount = (Decimal(int(micros)) / Decimal(1_000_000)).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_UP
    )
    return f"{CURRENCY_SYMBOLS.get(currency, currency + ' ')}{amount:,}"
