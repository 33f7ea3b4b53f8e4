"""Unit tests for bot.domain.campaign_spec: campaign YAML/dicts validated, every problem named."""

from __future__ import annotations

import copy
import json
import textwrap
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.domain.campaign_spec import (
    MAX_YAML_BYTES,
    MAX_YEAR,
    MIN_YEAR,
    CampaignSpec,
    Problem,
    SpecError,
    parse_campaign_yaml,
    parse_local_time,
    validate_spec,
)
from bot.domain.pricing import Pricing

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_TZ = "Asia/Shanghai"

# No timezone: the default passed in applies. event_at and deadline_at are quoted naive strings,
# embargo_at is an unquoted YAML timestamp (PyYAML hands over a naive datetime).
VALID_YAML = textwrap.dedent(
    """\
    code: kx-2026
    name: 新车上市体验
    brand: kox
    product: KX5
    event_at: "2026-05-20 10:00"
    embargo_at: 2026-05-20 12:00:00
    deadline_at: "2026-05-31 23:59"
    platforms: [小红书, XHS, 抖音, 微博, b站, xiaohongshu]
    key_messages:
      - 续航 700 公里
      - 百公里加速 3.9 秒
    dos: [实拍, 真实体验]
    donts:
      - 竞品对比
    hashtags:
      required: ["#新车上市", 新车上市, "#KOX"]
      optional: [试驾]
    mentions: ["@KOX官方"]
    disclosure: 合作
    pricing:
      fixed: 50
      cpe: 0.2
    """
)

EXPECTED_STORAGE: dict[str, Any] = {
    "code": "KX-2026",
    "name": "新车上市体验",
    "brand": "KOX",
    "product": "KX5",
    "timezone": "Asia/Shanghai",
    "event_at": "2026-05-20T10:00:00+08:00",
    "embargo_at": "2026-05-20T12:00:00+08:00",
    "deadline_at": "2026-05-31T23:59:00+08:00",
    "platforms": ["xiaohongshu", "douyin", "weibo", "bilibili"],
    "key_messages": ["续航 700 公里", "百公里加速 3.9 秒"],
    "dos": ["实拍", "真实体验"],
    "donts": ["竞品对比"],
    "hashtags": {"required": ["新车上市", "KOX"], "optional": ["试驾"]},
    "mentions": ["@KOX官方"],
    "disclosure": "合作",
    "pricing": {
        "currency": "CNY",
        "fixed_fen": 5000,
        "cpe_fen": 20,
        "cpe_weights": {},
        "cpe_threshold": 0,
        "cpm_fen": 0,
        "cpm_threshold": 0,
        "cpa_fen": 0,
        "cpa_on": "clicks",
        "cps_rate": "0",
        "bonus_fen": 0,
        "bonus_hours": 0,
        "post_cap_fen": 0,
        "creator_cap_fen": 0,
        "tier_multipliers": {},
        "budget_fen": 0,
    },
    "assets": [],
    "auto_approve": False,
}

REQUIRED_FIELDS = (
    "code",
    "name",
    "brand",
    "event_at",
    "embargo_at",
    "deadline_at",
    "platforms",
    "key_messages",
    "disclosure",
    "pricing",
)


def valid_data(**changes: Any) -> dict[str, Any]:
    """The valid campaign as YAML loads it, with fields replaced (or removed when None)."""
    data = copy.deepcopy(yaml.safe_load(VALID_YAML))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def problems_of(data: Any, default_timezone: str = DEFAULT_TZ) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        validate_spec(data, default_timezone)
    return caught.value.problems


def yaml_problems(text: str | bytes) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        parse_campaign_yaml(text, DEFAULT_TZ)
    return caught.value.problems


@pytest.fixture
def spec() -> CampaignSpec:
    return parse_campaign_yaml(VALID_YAML, DEFAULT_TZ)


# --------------------------------------------------------------------------- a valid campaign


def test_valid_yaml_fields(spec: CampaignSpec) -> None:
    assert spec.code == "KX-2026"
    assert spec.brand == "KOX"
    assert spec.name == "新车上市体验"
    assert spec.product == "KX5"
    assert spec.timezone == "Asia/Shanghai"
    assert spec.key_messages == ["续航 700 公里", "百公里加速 3.9 秒"]
    assert spec.dos == ["实拍", "真实体验"]
    assert spec.donts == ["竞品对比"]
    assert spec.mentions == ["@KOX官方"]
    assert spec.disclosure == "合作"
    assert spec.assets == []


def test_platform_aliases_normalized_and_deduplicated(spec: CampaignSpec) -> None:
    assert spec.platforms == ["xiaohongshu", "douyin", "weibo", "bilibili"]


def test_hashtags_hash_stripped_and_deduplicated(spec: CampaignSpec) -> None:
    assert spec.hashtags.required == ["新车上市", "KOX"]
    assert spec.hashtags.optional == ["试驾"]


def test_pricing_in_fen(spec: CampaignSpec) -> None:
    assert spec.pricing.currency == "CNY"
    assert spec.pricing.fixed_fen == 5000
    assert spec.pricing.cpe_fen == 20


def test_naive_string_time_is_in_campaign_timezone(spec: CampaignSpec) -> None:
    assert spec.event_at == datetime(2026, 5, 20, 2, 0, tzinfo=UTC)
    assert spec.event_at.utcoffset() == timedelta(hours=8)
    assert spec.deadline_at == datetime(2026, 5, 31, 15, 59, tzinfo=UTC)


def test_naive_yaml_timestamp_is_in_campaign_timezone(spec: CampaignSpec) -> None:
    assert spec.embargo_at == datetime(2026, 5, 20, 4, 0, tzinfo=UTC)
    assert spec.embargo_at.tzinfo == SHANGHAI


def test_all_times_are_aware(spec: CampaignSpec) -> None:
    assert all(t.tzinfo is not None for t in (spec.event_at, spec.embargo_at, spec.deadline_at))


def test_to_storage_is_json_serialisable(spec: CampaignSpec) -> None:
    stored = spec.to_storage()
    assert json.loads(json.dumps(stored, ensure_ascii=False)) == EXPECTED_STORAGE


def test_to_storage_round_trips_through_validate_spec(spec: CampaignSpec) -> None:
    again = validate_spec(json.loads(json.dumps(spec.to_storage())), "UTC")
    assert again == spec
    assert again.event_at == datetime(2026, 5, 20, 2, 0, tzinfo=UTC)


def test_stored_pricing_feeds_pricing_from_spec(spec: CampaignSpec) -> None:
    assert Pricing.from_spec(spec.to_storage()["pricing"]) == Pricing("CNY", 5000, 20)


def test_validate_spec_accepts_the_same_dict(spec: CampaignSpec) -> None:
    assert validate_spec(valid_data(), DEFAULT_TZ) == spec


def test_yaml_bytes_with_bom(spec: CampaignSpec) -> None:
    assert parse_campaign_yaml(("\ufeff" + VALID_YAML).encode(), DEFAULT_TZ) == spec


def test_yaml_bytes_exactly_at_size_limit(spec: CampaignSpec) -> None:
    data = VALID_YAML.encode() + b"#"
    data += b"x" * (MAX_YAML_BYTES - len(data))
    assert len(data) == 256 * 1024
    assert parse_campaign_yaml(data, DEFAULT_TZ) == spec


# --------------------------------------------------------------------------- time zones


def test_default_timezone_applies_when_absent() -> None:
    spec = validate_spec(valid_data(), "UTC")
    assert spec.timezone == "UTC"
    assert spec.event_at == datetime(2026, 5, 20, 10, 0, tzinfo=UTC)


def test_timezone_in_spec_beats_default() -> None:
    spec = validate_spec(valid_data(timezone="Europe/Berlin"), "UTC")
    assert spec.timezone == "Europe/Berlin"
    assert spec.event_at == datetime(2026, 5, 20, 8, 0, tzinfo=UTC)  # CEST, UTC+2


def test_explicit_offset_string_is_kept() -> None:
    spec = validate_spec(valid_data(event_at="2026-05-20T10:00:00+09:00"), DEFAULT_TZ)
    assert spec.event_at == datetime(2026, 5, 20, 1, 0, tzinfo=UTC)
    assert spec.event_at.utcoffset() == timedelta(hours=9)


def test_aware_yaml_timestamp_is_kept() -> None:
    text = VALID_YAML.replace(
        'deadline_at: "2026-05-31 23:59"', "deadline_at: 2026-05-31 23:59:00Z"
    )
    spec = parse_campaign_yaml(text, DEFAULT_TZ)
    assert spec.deadline_at == datetime(2026, 5, 31, 23, 59, tzinfo=UTC)


def test_date_only_string_is_midnight_in_campaign_timezone() -> None:
    spec = validate_spec(valid_data(event_at="2026-05-20"), DEFAULT_TZ)
    assert spec.event_at == datetime(2026, 5, 20, 0, 0, tzinfo=SHANGHAI)


def test_slash_time_in_spec() -> None:
    spec = validate_spec(valid_data(event_at="2026/5/20 9:05"), DEFAULT_TZ)
    assert spec.event_at == datetime(2026, 5, 20, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "Asia"])
def test_bad_timezone_in_spec(zone: str) -> None:
    assert problems_of(valid_data(timezone=zone)) == [Problem("timezone", "bad_timezone", zone)]


def test_bad_default_timezone() -> None:
    assert problems_of(valid_data(), "Mars/Olympus") == [
        Problem("timezone", "bad_timezone", "Mars/Olympus")
    ]


# --------------------------------------------------------------------------- problems


def test_empty_mapping_names_every_missing_field() -> None:
    problems = problems_of({})
    assert problems == [Problem(name, "missing", "") for name in REQUIRED_FIELDS]


def test_several_missing_fields_all_named() -> None:
    problems = problems_of(valid_data(name=None, platforms=None, pricing=None))
    assert problems == [
        Problem("name", "missing", ""),
        Problem("platforms", "missing", ""),
        Problem("pricing", "missing", ""),
    ]


def test_unknown_field() -> None:
    assert problems_of(valid_data(budget=100)) == [Problem("budget", "unknown_field", "")]


def test_missing_and_unknown_reported_together() -> None:
    problems = problems_of(valid_data(disclosure=None, budget=100))
    assert problems == [
        Problem("disclosure", "missing", ""),
        Problem("budget", "unknown_field", ""),
    ]


def test_spec_error_message_lists_problems() -> None:
    error = SpecError([Problem("name", "missing"), Problem("pricing", "invalid", "too much")])
    assert str(error) == "name: missing; pricing: invalid too much"
    assert error.problems == [
        Problem("name", "missing", ""),
        Problem("pricing", "invalid", "too much"),
    ]


def test_bad_platform_named_in_detail() -> None:
    problems = problems_of(valid_data(platforms=["小红书", "myspace", "friendster"]))
    assert problems == [Problem("platforms", "invalid", "unknown platform(s): myspace, friendster")]


def test_no_platforms() -> None:
    problems = problems_of(valid_data(platforms=[]))
    assert [(p.field, p.code) for p in problems] == [("platforms", "invalid")]


def test_platforms_as_one_string() -> None:
    spec = validate_spec(valid_data(platforms="小红书、抖音, b站"), DEFAULT_TZ)
    assert spec.platforms == ["xiaohongshu", "douyin", "bilibili"]


def test_embargo_after_deadline() -> None:
    problems = problems_of(valid_data(embargo_at="2026-06-01 10:00"))
    assert problems == [Problem("-", "invalid", "embargo_at must be before deadline_at")]


def test_embargo_equal_to_deadline() -> None:
    problems = problems_of(valid_data(embargo_at="2026-05-31 23:59"))
    assert problems == [Problem("-", "invalid", "embargo_at must be before deadline_at")]


def test_event_after_deadline() -> None:
    problems = problems_of(valid_data(event_at="2026-06-01 10:00"))
    assert problems == [Problem("-", "invalid", "event_at must not be after deadline_at")]


def test_embargo_before_event_is_allowed() -> None:
    spec = validate_spec(valid_data(embargo_at="2026-05-19 10:00"), DEFAULT_TZ)
    assert spec.embargo_at == datetime(2026, 5, 19, 2, 0, tzinfo=UTC)


def test_bad_time_string() -> None:
    assert problems_of(valid_data(embargo_at="tomorrow")) == [
        Problem("embargo_at", "bad_time", "tomorrow")
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_at", "1999-12-31 23:59"),
        ("deadline_at", "9999-12-31 23:59"),
        ("embargo_at", datetime(1, 1, 1, 10, 0)),
        ("event_at", date(2100, 1, 1)),
    ],
)
def test_times_outside_the_supported_years(field: str, value: Any) -> None:
    """The timeline computes a day before and up to a year after: far from year 1 and 9999."""
    assert problems_of(valid_data(**{field: value})) == [
        Problem(field, "time_out_of_range", f"{MIN_YEAR}–{MAX_YEAR}")
    ]


def test_several_bad_times_each_reported() -> None:
    problems = problems_of(valid_data(event_at="soon", deadline_at="2026-13-01 10:00"))
    assert problems == [
        Problem("event_at", "bad_time", "soon"),
        Problem("deadline_at", "bad_time", "2026-13-01 10:00"),
    ]


PRICING_NEEDS = "pricing needs at least one of fixed, cpe, cpm, cpa, cps (amounts in yuan)"


@pytest.mark.parametrize(
    ("pricing", "detail"),
    [
        pytest.param(
            {"fixed": 50, "cpe": 0.001}, "cpe: 0.001 has more than two decimals", id="3dp"
        ),
        pytest.param({"fixed": "1.234"}, "fixed: '1.234' has more than two decimals", id="3dp-str"),
        pytest.param({"fixed": -1}, "fixed: -1 is negative", id="negative"),
        pytest.param({"cpe": "abc"}, "cpe: 'abc' is not an amount", id="not-amount"),
        pytest.param({"currency": "CNY"}, PRICING_NEEDS, id="no-amounts"),
        pytest.param({}, PRICING_NEEDS, id="empty"),
        pytest.param(50, PRICING_NEEDS, id="scalar"),
    ],
)
def test_bad_pricing(pricing: Any, detail: str) -> None:
    assert problems_of(valid_data(pricing=pricing)) == [Problem("pricing", "invalid", detail)]


def test_pricing_fixed_only_and_currency_upper_cased() -> None:
    spec = validate_spec(valid_data(pricing={"fixed": "¥12.50", "currency": "usd"}), DEFAULT_TZ)
    assert (spec.pricing.currency, spec.pricing.fixed_fen, spec.pricing.cpe_fen) == ("USD", 1250, 0)


def test_pricing_bad_currency() -> None:
    assert problems_of(valid_data(pricing={"fixed": 1, "currency": "yuan"})) == [
        Problem("pricing.currency", "invalid", "currency is a three-letter code such as CNY")
    ]


def test_pricing_unknown_key() -> None:
    assert problems_of(valid_data(pricing={"fixed": 1, "tip": 3})) == [
        Problem("pricing.tip", "unknown_field", "")
    ]


@pytest.mark.parametrize("code", ["k", "kx 01", "-kx", "x" * 33, "新车"])
def test_bad_code(code: str) -> None:
    assert problems_of(valid_data(code=code)) == [
        Problem("code", "invalid", "2-32 letters, digits, - or _")
    ]


def test_code_stripped_and_upper_cased() -> None:
    assert validate_spec(valid_data(code=" kx_01 "), DEFAULT_TZ).code == "KX_01"


def test_hashtags_as_one_string() -> None:
    spec = validate_spec(valid_data(hashtags={"required": "#a, #b、c"}), DEFAULT_TZ)
    assert spec.hashtags.required == ["a", "b", "c"]
    assert spec.hashtags.optional == []


def test_weibo_style_hashtag_stripped() -> None:
    spec = validate_spec(valid_data(hashtags={"required": ["#新车上市#"]}), DEFAULT_TZ)
    assert spec.hashtags.required == ["新车上市"]


def test_hashtag_with_space() -> None:
    assert problems_of(valid_data(hashtags={"required": ["新车 上市"]})) == [
        Problem("hashtags.required", "invalid", "hashtags must be single words, e.g. 新车上市")
    ]


def test_list_fields_from_strings_and_blanks_dropped() -> None:
    spec = validate_spec(
        valid_data(dos="实拍, 真实体验", donts=["  ", "竞品对比 "], key_messages=["续航"]),
        DEFAULT_TZ,
    )
    assert spec.dos == ["实拍", "真实体验"]
    assert spec.donts == ["竞品对比"]
    assert spec.key_messages == ["续航"]


def test_blank_key_messages() -> None:
    problems = problems_of(valid_data(key_messages=["  "]))
    assert [(p.field, p.code) for p in problems] == [("key_messages", "invalid")]


def test_disclosure_too_long() -> None:
    problems = problems_of(valid_data(disclosure="x" * 101))
    assert [(p.field, p.code) for p in problems] == [("disclosure", "invalid")]


# --------------------------------------------------------------------------- YAML input


def test_broken_yaml_has_line_and_column() -> None:
    assert yaml_problems("code: [a\nname: x\n") == [Problem("-", "yaml", "2:5")]


def test_bad_indentation_yaml() -> None:
    assert yaml_problems("a: b\n  c: d\n") == [Problem("-", "yaml", "2:4")]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("- code: KX\n- name: x\n", id="list"),
        pytest.param("just a string\n", id="scalar"),
        pytest.param("", id="empty"),
    ],
)
def test_yaml_not_a_mapping(text: str) -> None:
    assert yaml_problems(text) == [Problem("-", "not_a_mapping", "")]


@pytest.mark.parametrize("data", [[1, 2], "text", None, 42])
def test_validate_spec_not_a_mapping(data: Any) -> None:
    assert problems_of(data) == [Problem("-", "not_a_mapping", "")]


def test_non_utf8_bytes() -> None:
    assert yaml_problems(VALID_YAML.encode("gb18030")) == [Problem("-", "not_utf8", "")]


def test_oversized_bytes() -> None:
    data = b"#" * (MAX_YAML_BYTES + 1)
    assert yaml_problems(data) == [Problem("-", "too_large", "256")]


def test_yaml_problems_reported_from_text() -> None:
    text = VALID_YAML.replace("name: 新车上市体验\n", "").replace("  cpe: 0.2", "  cpe: 0.001")
    assert yaml_problems(text) == [
        Problem("name", "missing", ""),
        Problem("pricing", "invalid", "cpe: 0.001 has more than two decimals"),
    ]


# --------------------------------------------------------------------------- parse_local_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-20 10:00", datetime(2026, 5, 20, 10, 0)),
        ("2026/5/20 9:05", datetime(2026, 5, 20, 9, 5)),
        ("2026/05/20 09:05", datetime(2026, 5, 20, 9, 5)),
        ("2026-5-2 23:59", datetime(2026, 5, 2, 23, 59)),
        ("2026-05-20T10:00", datetime(2026, 5, 20, 10, 0)),
        ("2026-05-20 10:00:30", datetime(2026, 5, 20, 10, 0, 30)),
        ("  2026-05-20 10:00  ", datetime(2026, 5, 20, 10, 0)),
        ("2026-05-20", datetime(2026, 5, 20, 0, 0)),
    ],
)
def test_parse_local_time_naive(text: str, expected: datetime) -> None:
    parsed = parse_local_time(text)
    assert parsed == expected
    assert parsed is not None
    assert parsed.tzinfo is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2026-05-20T10:00:00+08:00",
            datetime(2026, 5, 20, 10, 0, tzinfo=timezone(timedelta(hours=8))),
        ),
        ("2026-05-20T02:00:00Z", datetime(2026, 5, 20, 2, 0, tzinfo=UTC)),
        (
            "2026-05-20 10:00+09:00",
            datetime(2026, 5, 20, 10, 0, tzinfo=timezone(timedelta(hours=9))),
        ),
    ],
)
def test_parse_local_time_aware(text: str, expected: datetime) -> None:
    parsed = parse_local_time(text)
    assert parsed is not None
    assert parsed.tzinfo is not None
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    ["tomorrow", "", "2026-13-01 10:00", "2026-05-32", "10:00", "20 May 2026", "2026-05-20 25:00"],
)
def test_parse_local_time_rejects(text: str) -> None:
    assert parse_local_time(text) is None


# --------------------------------------------------------------------------- known bugs


def test_yaml_date_only_value_is_midnight_in_campaign_timezone() -> None:
    text = VALID_YAML.replace('deadline_at: "2026-05-31 23:59"', "deadline_at: 2026-05-31")
    spec = parse_campaign_yaml(text, DEFAULT_TZ)
    assert spec.deadline_at == datetime(2026, 5, 31, 0, 0, tzinfo=SHANGHAI)


def test_bad_timezone_with_an_aware_time_is_a_problem_not_a_crash() -> None:
    data = valid_data(timezone="Mars/Olympus", deadline_at="2026-05-31T23:59:00+08:00")
    assert problems_of(data) == [Problem("timezone", "bad_timezone", "Mars/Olympus")]


def test_bad_timezone_does_not_make_valid_slash_times_invalid() -> None:
    data = valid_data(timezone="Mars/Olympus", event_at="2026/5/20 10:00")
    assert problems_of(data) == [Problem("timezone", "bad_timezone", "Mars/Olympus")]
