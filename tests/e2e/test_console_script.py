"""Black-box: the `koxbot console` command runs a script and prints JSON, as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SCRIPTS

NOW = "2026-05-20T11:00:00+08:00"


def run_console(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{tmp_path / 'koxbot.sqlite3'}",
        "ADMIN_IDS": "console:boss",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
    )


def test_whole_loop_from_a_script(tmp_path: Path) -> None:
    result = run_console(tmp_path, "--script", str(SCRIPTS / "loop.txt"), "--json", "--now", NOW)
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    texts = [m["text"] for m in messages]

    assert any("活动已创建：春季新车上市（SPRING26）" in t for t in texts)
    assert any(t.startswith("邀请码：ACME-KOC") for t in texts)
    done = next(t for t in texts if t.startswith("报名成功"))
    assert "等级：B（1千+粉丝）" in done
    assert any(
        "小红书：#ACME春季新车 #试驾" in t and "微博：#ACME春季新车# #试驾#" in t for t in texts
    )

    received = [m for m in messages if m["text"].startswith("已收到作品")]
    assert [(m["chat"], m["to"]) for m in received] == [("dm", "ada"), ("car-club", "ada")]

    queue = next(m for m in messages if m["text"].startswith("待审核作品"))
    assert queue["choices"] == ["通过 #1", "驳回 #1", "通过 #2", "驳回 #2"]
    notices = [m["text"] for m in messages if m["to"] == "ada" and m["text"][:1] in "✅❌"]
    assert notices[0].startswith("✅ 你的作品 #1")
    assert notices[1].startswith("❌ 你的作品 #2") and "没有带合作标注" in notices[1]

    # likes 100→12000 (the second report keeps the other counters): 12000+10+5+20 = 12035
    # engagements × ¥0.20 = ¥2,407.00, plus ¥50.00 fixed for the approved post.
    earnings = [m for m in messages if m["text"].startswith("💰")]
    assert len(earnings) == 1 and (earnings[0]["chat"], earnings[0]["to"]) == ("dm", "ada")
    assert "合计 ¥2,457.00" in earnings[0]["text"]
    assert "#1 小红书：¥2,457.00（待结算 ¥2,457.00）" in earnings[0]["text"]
    assert "待结算 ¥2,457.00｜已结算 ¥0.00｜已支付 ¥0.00" in earnings[0]["text"]
    assert "#2 抖音：已驳回，暂不计收益" in earnings[0]["text"]
    group_note = messages[-1]
    assert (group_note["chat"], group_note["to"]) == ("car-club", "ada")
    assert "私信" in group_note["text"] and "¥" not in group_note["text"]


def test_readable_output_and_numbered_choices(tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("boss@dm: /role mia manager ACME\nmia@dm: /newcampaign\nmia@dm: 取消\n")
    result = run_console(tmp_path, "--script", str(script))
    assert result.returncode == 0, result.stderr
    assert "bot → dm @boss: 已授予 mia 运营权限（品牌 ACME）。" in result.stdout
    assert "bot → dm @mia: 已取消，什么都没有保存。" in result.stdout


def test_unreadable_script_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("this line has no speaker\nboss@dm: /help\n")
    result = run_console(tmp_path, "--script", str(script), "--json")
    assert result.returncode == 1
    assert "line 1: expected `USER@CHAT: text`" in result.stderr
    assert "/role" in json.loads(result.stdout.splitlines()[0])["text"]


def test_bad_configuration_fails_with_one_clear_line(tmp_path: Path) -> None:
    result = run_console(tmp_path, "--script", str(SCRIPTS / "loop.txt"), env={"ADMIN_IDS": "boss"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: ADMIN_IDS: 'boss' is not platform:user_id (e.g. console:boss)"
    ]
    result = run_console(
        tmp_path, "--script", str(SCRIPTS / "loop.txt"), env={"TIMEZONE": "Mars/Base"}
    )
    assert result.returncode == 2
    assert "TIMEZONE" in result.stderr and "Traceback" not in result.stderr


def test_the_demo_seeds_data_and_its_script_walks_the_loop(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{tmp_path / 'koxbot.sqlite3'}",
        "ADMIN_IDS": "console:boss",
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    assert (tmp_path / "data" / "demo.txt").read_text(
        encoding="utf-8"
    ).strip() == seeded.stdout.strip()
    result = run_console(tmp_path, "--script", "data/demo.txt", "--json")
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    queue = next(m for m in messages if m["text"].startswith("待审核作品"))
    assert queue["choices"][:2] == ["通过 #3", "驳回 #3"]  # ben's second post waits
    ada = next(m["text"] for m in messages if m["to"] == "ada" and m["text"].startswith("💰"))
    assert "合计 ¥259.20" in ada  # ¥50 + (820+64+12+150) × ¥0.20
    newcomer = [m for m in messages if m["text"].startswith("💰")][-1]["text"]
    assert "合计 ¥361.60" in newcomer  # ¥50 + (1200+88+30+240) × ¥0.20
    again = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0 and "5 creators seeded" in again.stdout  # 4 + the newcomer
