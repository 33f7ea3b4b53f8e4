"""Arguments no one means (oversized codes, ids and shifts, hostile campaign files) get the
usage or "unknown" answer, never the internal-error reply; and /campaigns works for creators."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.campaign_spec import MAX_YAML_ALIASES, MAX_YAML_DEPTH
from storage.models import Invite
from tests.conftest import SCRIPTS, Chat
from tests.service.test_storage import needs_postgres, rerun_on_postgres

INTERNAL_ERROR = ("处理这条消息时出错了", "something went wrong handling that message")
LONG_CODE = "X" * 40
UNKNOWN_LONG_CODE = f"没有找到活动 {'X' * 32}…。发送 /campaigns 查看活动代码。"
HUGE = "99999999999999999999"  # beyond a PostgreSQL bigint, let alone an integer id


def no_internal_error(reply: str) -> bool:
    return not any(marker in reply for marker in INTERNAL_ERROR)


async def test_an_enrolled_creator_sees_their_campaign(enrolled: Chat) -> None:
    for line in ("ada@dm: /campaigns", "ada@dm: 活动"):
        reply = await enrolled.text(line)
        assert reply.startswith("进行中的活动："), reply
        assert "SPRING26 春季新车上市（ACME）" in reply and "✅ 已报名" in reply


async def test_a_creator_in_campaigns_of_two_brands_sees_both(
    enrolled: Chat, tmp_path: Path
) -> None:
    spring = (SCRIPTS / "spring.yaml").read_text(encoding="utf-8")
    for code, brand in (("LUX26", "LUX"), ("ZED26", "ZED")):
        text = spring.replace("SPRING26", code).replace("brand: ACME", f"brand: {brand}")
        (tmp_path / f"{code}.yaml").write_text(text, encoding="utf-8")
    await enrolled.say(
        "boss@dm: /role leo manager LUX",
        "boss@dm: /role leo manager ZED",
        f"leo@dm: !file {tmp_path / 'LUX26.yaml'}",
        f"leo@dm: !file {tmp_path / 'ZED26.yaml'}",
        "leo@dm: /invite LUX26 code=LUX-KOC",
    )
    assert (await enrolled.text("ada@dm: /start LUX-KOC")).startswith("已加入品牌 LUX")
    reply = await enrolled.text("ada@dm: /campaigns")
    assert "SPRING26 春季新车上市（ACME）" in reply
    assert "LUX26 春季新车上市（LUX）" in reply
    assert reply.count("✅ 已报名") == 2
    assert "ZED26" not in reply  # a brand she has nothing to do with


@pytest.mark.parametrize(
    "line",
    [
        f"mia@dm: /settle {LONG_CODE}",
        f"mia@dm: 结算 {LONG_CODE}",
        f"mia@dm: /export {LONG_CODE}",
        f"mia@dm: /timeline {LONG_CODE}",
        f"mia@dm: /timeline {LONG_CODE} shift +30m",
        f"mia@dm: /invite {LONG_CODE}",
        f"mia@dm: /review {LONG_CODE}",
        f"mia@dm: /disputes {LONG_CODE}",
        f"mia@dm: /outlines {LONG_CODE}",
        f"mia@car-club: /linkgroup {LONG_CODE}",
        f"mia@dm: /broadcast {LONG_CODE}",
        f"ada@dm: /brief {LONG_CODE}",
        f"ada@dm: /kit {LONG_CODE}",
        f"ada@dm: /outline {LONG_CODE}",
        f"ada@dm: /join {LONG_CODE}",
    ],
)
async def test_a_code_too_long_to_be_a_campaign_is_unknown(enrolled: Chat, line: str) -> None:
    reply = await enrolled.text(line)
    assert UNKNOWN_LONG_CODE in reply, reply
    assert no_internal_error(reply)


async def test_an_invite_code_too_long_to_exist_is_unknown(chat: Chat) -> None:
    reply = await chat.text("ada@dm: /start " + "Y" * 300)
    assert reply.startswith(f"邀请码 {'Y' * 32}… 不存在"), reply


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"mia@dm: /approve {HUGE}", f"没有找到你的作品 #{HUGE}。"),
        ("mia@dm: /approve 2147483648", "没有找到你的作品 #2147483648。"),
        (f"mia@dm: /reject {HUGE} 缺少合作标注", f"没有找到你的作品 #{HUGE}。"),
        (f"mia@dm: /reject {HUGE}", f"没有找到你的作品 #{HUGE}。"),
        (f"ada@dm: /metrics {HUGE} likes=1", f"没有找到你的作品 #{HUGE}。"),
        (f"ada@dm: /dispute {HUGE} 漏算了点赞", f"没有找到你的作品 #{HUGE}。"),
        (f"mia@dm: /resolve {HUGE}", f"没有找到你运营的品牌下的申诉 #{HUGE}。"),
        (f"mia@dm: /resolve {HUGE} 20 补计", f"没有找到你运营的品牌下的申诉 #{HUGE}。"),
        ("mia@dm: /approve ²", "用法：/approve 作品编号"),  # a digit to isdigit(), not to int()
        (f"mia@dm: /broadcast status {HUGE}", f"没有编号为 {HUGE} 的群发。"),
        (f"mia@dm: /broadcast cancel {HUGE}", f"没有编号为 {HUGE} 的群发。"),
    ],
)
async def test_an_id_too_large_for_any_row_is_unknown(
    enrolled: Chat, line: str, expected: str
) -> None:
    reply = await enrolled.text(line)
    assert reply.startswith(expected), reply


async def test_an_invite_for_more_uses_than_the_column_holds_is_refused(enrolled: Chat) -> None:
    reply = await enrolled.text("mia@dm: /invite SPRING26 max=9999999999")
    assert reply.startswith("用法：/invite 活动代码"), reply
    assert await Invite.filter(max_uses__gt=1_000_000).count() == 0


@pytest.mark.parametrize("shift", [f"-{HUGE}m", "+367d", "999999999d", "8785h"])
async def test_a_shift_beyond_a_year_is_refused_clearly(enrolled: Chat, shift: str) -> None:
    reply = await enrolled.text(f"mia@dm: /timeline SPRING26 shift {shift}")
    assert reply.startswith(f"顺延幅度 {shift} 太大：最多提前或顺延 366 天，没有改动。"), reply
    plan = await enrolled.text("mia@dm: /timeline SPRING26")
    assert "2026-05-20 10:30 GO 开发信号" in plan  # nothing moved


BILLION_LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9 if previous else ['lol'] * 9)}]\n"
    for previous, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


async def test_a_billion_laughs_campaign_file_is_refused(chat: Chat, tmp_path: Path) -> None:
    spring = (SCRIPTS / "spring.yaml").read_text(encoding="utf-8")
    bomb = BILLION_LAUGHS + spring.replace("key_messages:\n", "key_messages: *i\nold_messages:\n")
    assert len(bomb.encode()) < 2000  # the ~800-byte attack plus an ordinary campaign
    (tmp_path / "laughs.yaml").write_text(bomb, encoding="utf-8")
    await chat.say("boss@dm: /role mia manager ACME")
    reply = await chat.text(f"mia@dm: !file {tmp_path / 'laughs.yaml'}")
    assert reply.startswith("活动没有创建（laughs.yaml）"), reply
    assert f"YAML 引用（*别名）太多（最多 {MAX_YAML_ALIASES} 个）" in reply


async def test_a_deeply_nested_campaign_file_is_refused(chat: Chat, tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text("code: " + "[" * 5000 + "]" * 5000 + "\n")
    await chat.say("boss@dm: /role mia manager ACME")
    reply = await chat.text(f"mia@dm: !file {tmp_path / 'deep.yaml'}")
    assert reply.startswith("活动没有创建（deep.yaml）"), reply
    assert f"嵌套太深（最多 {MAX_YAML_DEPTH} 层）" in reply


@needs_postgres
@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_oversized_codes_and_ids_are_unknown_on_postgres_too() -> None:
    """PostgreSQL compares an integer column with a bigger number by failing, not by finding
    nothing: the id and code tests again on PostgreSQL."""
    here = "tests/e2e/test_bad_arguments.py"
    tests = (
        f"{here}::test_an_id_too_large_for_any_row_is_unknown",
        f"{here}::test_a_code_too_long_to_be_a_campaign_is_unknown",
        f"{here}::test_an_invite_for_more_uses_than_the_column_holds_is_refused",
        f"{here}::test_an_enrolled_creator_sees_their_campaign",
    )
    assert " passed" in rerun_on_postgres(tests, 540)
