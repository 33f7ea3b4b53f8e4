"""A campaign as a manager writes it (YAML file or chat wizard), validated in one place.

Every problem is reported at once, each as (field, code, detail); the reply template words them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.money import MoneyError, parse_yuan
from bot.domain.platforms import normalize_platform

MAX_CODE_LENGTH = 32  # campaign, brand and invite codes are varchar(32) columns
CODE_PATTERN = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_-]{{1,{MAX_CODE_LENGTH - 1}}}$")
TIME_FIELDS = ("event_at", "embargo_at", "deadline_at")
# Campaign times are within these years: the timeline's arithmetic around them (a day before,
# a shift of up to a year) stays far from datetime's year 1 and 9999.
MIN_YEAR, MAX_YEAR = 2000, 2099
MAX_YAML_BYTES = 256 * 1024
# A campaign file is at most four levels deep (pricing.cpe.weights.likes) and has a few hundred
# values. Anchors (&) and aliases (*) may be reused a little; expanded, their values count in
# full, so an 800-byte "billion laughs" file is refused before it is ever built.
MAX_YAML_DEPTH = 20
MAX_YAML_ALIASES = 16
MAX_YAML_NODES = 20_000


def shown_code(code: str) -> str:
    """A code as typed, cut to the longest a code can be (a reply quoting it stays short)."""
    code = code.strip()
    return code if len(code) <= MAX_CODE_LENGTH else code[:MAX_CODE_LENGTH] + "…"


@dataclass(frozen=True)
class Problem:
    field: str
    code: str  # see content_templates/<locale>/campaigns/problems.j2
    detail: str = ""


class SpecError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.code} {p.detail}".strip() for p in problems))
        self.problems = problems


class Hashtags(BaseModel):
    model_config = ConfigDict(extra="forbid")
    required: list[str] = Field(default_factory=list)
    optional: list[str] = Field(default_factory=list)

    @field_validator("required", "optional", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> list[str]:
        items = _as_list(value)
        tags = [str(tag).strip().strip("#").strip() for tag in items]
        if any(not tag or re.search(r"\s", tag) for tag in tags):
            raise ValueError("hashtags must be single words, e.g. 新车上市")
        return list(dict.fromkeys(tags))


class PricingSpec(BaseModel):
    """Pricing as written in yuan (`fixed: 50`, `cpe: 0.2`, `cpm: {price: 30, threshold: 1000}`,
    `cps: 8%`, `tiers: {A: 1.5}` …) and stored in fen; see bot.domain.pricing for the rules."""

    model_config = ConfigDict(extra="forbid")
    currency: str = "CNY"
    fixed_fen: int = Field(default=0, ge=0)
    cpe_fen: int = Field(default=0, ge=0)
    cpe_weights: dict[str, str] = Field(default_factory=dict)
    cpe_threshold: int = Field(default=0, ge=0)
    cpm_fen: int = Field(default=0, ge=0)
    cpm_threshold: int = Field(default=0, ge=0)
    cpa_fen: int = Field(default=0, ge=0)
    cpa_on: str = "clicks"
    cps_rate: str = "0"
    bonus_fen: int = Field(default=0, ge=0)
    bonus_hours: int = Field(default=0, ge=0, le=24 * 365)
    post_cap_fen: int = Field(default=0, ge=0)
    creator_cap_fen: int = Field(default=0, ge=0)
    tier_multipliers: dict[str, str] = Field(default_factory=dict)
    budget_fen: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _yuan_to_fen(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(PRICING_NEEDS)
        data = {str(k): v for k, v in value.items()}
        if not any(key in data for key in PRICING_MODELS):
            raise ValueError(PRICING_NEEDS)
        try:
            _pricing_from_yuan(data)
        except (MoneyError, ValueError, TypeError) as exc:
            raise ValueError(str(exc)) from None
        return data

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value.strip().upper()):
            raise ValueError("currency is a three-letter code such as CNY")
        return value.strip().upper()


PRICING_MODELS = (
    "fixed", "cpe", "cpm", "cpa", "cps", "fixed_fen", "cpe_fen", "cpm_fen", "cpa_fen", "cps_rate",
)  # fmt: skip
PRICING_NEEDS = "pricing needs at least one of fixed, cpe, cpm, cpa, cps (amounts in yuan)"
_WEIGHT_KEYS = {"likes", "comments", "shares", "favorites"}


def _pricing_from_yuan(data: dict[str, Any]) -> None:
    """Rewrite the yuan-and-shorthand form in place into the stored fen form."""

    def fen(key: str, value: Any) -> int:
        try:
            return parse_yuan(value)
        except MoneyError as exc:
            raise ValueError(f"{key}: {exc}") from None

    def detail(key: str, main: str) -> dict[str, Any]:
        value = data.pop(key)
        if isinstance(value, dict):
            value = {str(k): v for k, v in value.items()}
            if main not in value:
                raise ValueError(f"{key}: needs {main}")
            return value
        return {main: value}

    if "fixed" in data:
        data["fixed_fen"] = fen("fixed", data.pop("fixed"))
    if "cpe" in data:
        cpe = detail("cpe", "price")
        data["cpe_fen"] = fen("cpe", cpe.pop("price"))
        weights = cpe.pop("weights", {}) or {}
        if not isinstance(weights, dict) or set(map(str, weights)) - _WEIGHT_KEYS:
            raise ValueError("cpe.weights: likes, comments, shares, favorites")
        data["cpe_weights"] = {
            str(k): _ratio(f"cpe.weights.{k}", v, 100) for k, v in weights.items()
        }
        data["cpe_threshold"] = _count("cpe.threshold", cpe.pop("threshold", 0))
        _no_more("cpe", cpe)
    if "cpm" in data:
        cpm = detail("cpm", "price")
        data["cpm_fen"] = fen("cpm", cpm.pop("price"))
        data["cpm_threshold"] = _count("cpm.threshold", cpm.pop("threshold", 0))
        _no_more("cpm", cpm)
    if "cpa" in data:
        cpa = detail("cpa", "price")
        data["cpa_fen"] = fen("cpa", cpa.pop("price"))
        on = str(cpa.pop("on", "clicks")).strip().lower()
        if on not in ("clicks", "leads"):
            raise ValueError("cpa.on: clicks or leads")
        data["cpa_on"] = on
        _no_more("cpa", cpa)
    if "cps" in data:
        cps = detail("cps", "rate")
        data["cps_rate"] = _ratio("cps", cps.pop("rate"), 1)
        _no_more("cps", cps)
    if "bonus" in data:
        bonus = detail("bonus", "amount")
        data["bonus_fen"] = fen("bonus", bonus.pop("amount"))
        data["bonus_hours"] = _count("bonus.hours", bonus.pop("hours", 24))
        _no_more("bonus", bonus)
    for key in ("post_cap", "creator_cap", "budget"):
        if key in data:
            data[f"{key}_fen"] = fen(key, data.pop(key))
    if "tiers" in data:
        tiers = data.pop("tiers")
        if not isinstance(tiers, dict):
            raise ValueError("tiers: a mapping such as {A: 1.5, B: 1.2}")
        data["tier_multipliers"] = {str(k): _ratio(f"tiers.{k}", v, 10) for k, v in tiers.items()}


def _ratio(key: str, value: Any, maximum: int) -> str:
    """'8%' / 0.08 / '1.5' → the exact decimal text; at most 4 decimals, 0 … maximum."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{key}: {value!r} is not a number")
    text = str(value).strip()
    try:
        number = Decimal(text.removesuffix("%").strip())
    except InvalidOperation:
        raise ValueError(f"{key}: {value!r} is not a number") from None
    if text.endswith("%"):
        number /= 100
    if not number.is_finite() or number < 0 or number > maximum:
        raise ValueError(f"{key}: {value!r} must be between 0 and {maximum}")
    if number != number.quantize(Decimal("0.0001")):
        raise ValueError(f"{key}: {value!r} has too many decimals")
    return format(number.normalize(), "f")


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key}: a whole number, 0 or more")
    return value


def _no_more(key: str, rest: dict[str, Any]) -> None:
    if rest:
        raise ValueError(f"{key}: unknown field(s) {', '.join(sorted(rest))}")


class CampaignSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str
    name: str = Field(min_length=1, max_length=200)
    brand: str
    product: str = ""
    timezone: str
    event_at: datetime
    embargo_at: datetime
    deadline_at: datetime
    platforms: list[str] = Field(min_length=1)
    key_messages: list[str] = Field(min_length=1)
    dos: list[str] = Field(default_factory=list)
    donts: list[str] = Field(default_factory=list)
    hashtags: Hashtags = Field(default_factory=Hashtags)
    mentions: list[str] = Field(default_factory=list)
    disclosure: str = Field(min_length=1, max_length=100)
    pricing: PricingSpec
    assets: list[str] = Field(default_factory=list)
    # approve a post without a manager when every check passes (bot.domain.checks)
    auto_approve: bool = False

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not CODE_PATTERN.match(value):
            raise ValueError("2-32 letters, digits, - or _")
        return value.upper()

    @field_validator("brand")
    @classmethod
    def _brand(cls, value: str) -> str:
        if not CODE_PATTERN.match(value):
            raise ValueError("a brand code: 2-32 letters, digits, - or _")
        return value.upper()

    @field_validator("platforms", mode="before")
    @classmethod
    def _platforms(cls, value: Any) -> list[str]:
        codes, unknown = [], []
        for item in _as_list(value):
            code = normalize_platform(str(item))
            (codes if code else unknown).append(code or str(item))
        if unknown:
            raise ValueError(f"unknown platform(s): {', '.join(unknown)}")
        return list(dict.fromkeys(codes))

    @field_validator("key_messages", "dos", "donts", "mentions", "assets", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> list[str]:
        return [str(item).strip() for item in _as_list(value) if str(item).strip()]

    @model_validator(mode="after")
    def _order(self) -> CampaignSpec:
        if self.embargo_at >= self.deadline_at:
            raise ValueError("embargo_at must be before deadline_at")
        if self.event_at > self.deadline_at:
            raise ValueError("event_at must not be after deadline_at")
        return self

    def to_storage(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in re.split(r"[,，、\n]", value) if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _localize_times(data: dict[str, Any], problems: list[Problem]) -> None:
    """Naive times are in the campaign's time zone, a bare date is its midnight; all become aware.

    With an unknown time zone the problem is reported and UTC stands in, so that the other
    fields are still checked and every problem is named at once.
    """
    try:
        zone: tzinfo = ZoneInfo(str(data["timezone"]))
    except (ZoneInfoNotFoundError, ValueError, KeyError, OSError):  # "Asia" is a directory
        problems.append(Problem("timezone", "bad_timezone", str(data.get("timezone", ""))))
        zone = UTC
    for name in TIME_FIELDS:
        value = data.get(name)
        if isinstance(value, str):
            parsed = parse_local_time(value)
            if parsed is None:
                problems.append(Problem(name, "bad_time", value))
                data.pop(name)
                continue
            value = parsed
        elif isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, time())
        if isinstance(value, datetime):
            if not MIN_YEAR <= value.year <= MAX_YEAR:
                problems.append(Problem(name, "time_out_of_range", f"{MIN_YEAR}–{MAX_YEAR}"))
                data.pop(name)
                continue
            data[name] = value.replace(tzinfo=zone) if value.tzinfo is None else value


def parse_local_time(text: str) -> datetime | None:
    """'2026-05-20 10:00', '2026/5/20 10:00', ISO with offset → datetime (maybe naive)."""
    cleaned = text.strip().replace("/", "-").replace("T", " ")
    cleaned = re.sub(
        r"^(\d{4})-(\d{1,2})-(\d{1,2})",
        lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}",
        cleaned,
    )
    cleaned = re.sub(r" (\d):", r" 0\1:", cleaned)
    try:
        return datetime.fromisoformat(cleaned)
    except ValueError:
        return None


def validate_spec(data: Any, default_timezone: str) -> CampaignSpec:
    """Validate a campaign dict; raise SpecError naming every problem."""
    if not isinstance(data, dict):
        raise SpecError([Problem("-", "not_a_mapping")])
    data = {str(k): v for k, v in data.items()}
    data.setdefault("timezone", default_timezone)
    problems: list[Problem] = []
    _localize_times(data, problems)
    try:
        spec = CampaignSpec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "-"
            if field in {p.field for p in problems}:
                continue
            code = "missing" if err["type"] == "missing" else "invalid"
            if err["type"] == "extra_forbidden":
                code = "unknown_field"
            message = str(err.get("ctx", {}).get("error", "")) or err["msg"]
            problems.append(
                Problem(field, code, "" if code in ("missing", "unknown_field") else message)
            )
        raise SpecError(problems) from None
    if problems:
        raise SpecError(problems)
    return spec


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, bounded while it composes the node tree (before any value is
    built): nesting depth (deeper input would end in a RecursionError), the number of aliases,
    and the number of values with every alias expanded (aliases share one Python object, but
    validation walks, and str() writes out, each of its uses)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._values = 0
        self._expanded: dict[int, int] = {}  # id(node) → its values, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise SpecError([Problem("-", "too_many_aliases", str(MAX_YAML_ALIASES))])
            node = super().compose_node(parent, index)
            size = self._expanded.get(id(node))
            if size is None:  # an alias inside its own anchor: a structure without end
                raise SpecError([Problem("-", "recursive_alias")])
            self._count(size)
            return node
        if self._depth >= MAX_YAML_DEPTH:
            raise SpecError([Problem("-", "too_deep", str(MAX_YAML_DEPTH))])
        before = self._values
        self._count(1)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._expanded[id(node)] = self._values - before
        return node

    def _count(self, values: int) -> None:
        self._values += values
        if self._values > MAX_YAML_NODES:
            raise SpecError([Problem("-", "too_many_values", str(MAX_YAML_NODES))])


def load_yaml(text: str | bytes) -> Any:
    """A YAML document within MAX_YAML_BYTES / _DEPTH / _ALIASES / _NODES; SpecError else."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "replace"))
    if size > MAX_YAML_BYTES:
        raise SpecError([Problem("-", "too_large", str(MAX_YAML_BYTES // 1024))])
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SpecError([Problem("-", "not_utf8")]) from None
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader: plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise SpecError([Problem("-", "yaml", where)]) from None
    except (ValueError, OverflowError):
        # a value YAML reads but Python cannot hold: the year 0, an int of 5000 digits
        raise SpecError([Problem("-", "yaml", "")]) from None
    except RecursionError:  # not reached within MAX_YAML_DEPTH; kept as a last guard
        raise SpecError([Problem("-", "too_deep", str(MAX_YAML_DEPTH))]) from None


def parse_campaign_yaml(text: str | bytes, default_timezone: str) -> CampaignSpec:
    return validate_spec(load_yaml(text), default_timezone)
