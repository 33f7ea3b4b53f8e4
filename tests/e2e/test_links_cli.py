"""Black-box: `koxbot links` reads lines (stdin or a file) and prints one JSON object per link."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SHEET = (
    "7.43 复制打开抖音，看看【小明的作品】新车试驾 # 试驾  "
    "https://v.douyin.com/iRNBho6u/ Wsl:/ 10/26\n"
    "\n"
    "主页 https://www.xiaohongshu.com/user/profile/5f1234567890abcdef123456 ，笔记"
    "【https://www.xiaohongshu.com/explore/64a1b2c3d4e5f60718293a4b?xsec_token=AB12=】\n"
    "两条：youtu.be/dQw4w9WgXcQ?si=x、https://x.com/ada/status/1790000000000000000?s=20\n"
    "无链接的一行 😆\n"
    "https://example.com/about\n"
)


def run_links(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "links", *args],
        input=stdin.encode("utf-8") if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=60,
    )


def records(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]


def test_post_links_from_stdin_one_json_line_each() -> None:
    assert records(run_links(stdin=SHEET)) == [
        {
            "line": 1,
            "platform": "douyin",
            "url": "https://v.douyin.com/iRNBho6u/",
            "canonical_url": "https://v.douyin.com/iRNBho6u",
            "post_id": None,
            "short": True,
        },
        {
            "line": 3,
            "platform": "xiaohongshu",
            "url": "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f60718293a4b?xsec_token=AB12=",
            "canonical_url": "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f60718293a4b",
            "post_id": "64a1b2c3d4e5f60718293a4b",
            "short": False,
        },
        {
            "line": 4,
            "platform": "youtube",
            "url": "https://youtu.be/dQw4w9WgXcQ?si=x",
            "canonical_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "post_id": "dQw4w9WgXcQ",
            "short": False,
        },
        {
            "line": 4,
            "platform": "x",
            "url": "https://x.com/ada/status/1790000000000000000?s=20",
            "canonical_url": "https://x.com/ada/status/1790000000000000000",
            "post_id": "1790000000000000000",
            "short": False,
        },
    ]


def test_all_adds_profiles_and_other_links_with_a_kind(tmp_path: Path) -> None:
    sheet = tmp_path / "links.txt"
    sheet.write_text(SHEET, encoding="utf-8")
    found = records(run_links(str(sheet), "--all"))
    assert [(r["line"], r["platform"], r["kind"]) for r in found] == [
        (1, "douyin", "post"),
        (3, "xiaohongshu", "profile"),
        (3, "xiaohongshu", "post"),
        (4, "youtube", "post"),
        (4, "x", "post"),
        (6, None, "other"),
    ]
    assert found[1]["canonical_url"].endswith("/user/profile/5f1234567890abcdef123456")


def test_bad_bytes_and_a_missing_file() -> None:
    found = records(run_links("-", stdin=b"\xff\xfe junk https://b23.tv/BV1xx411c7mD\r\n"))
    assert [(r["line"], r["post_id"]) for r in found] == [(1, "BV1xx411c7mD")]
    missing = run_links("/no/such/file.txt")
    assert missing.returncode == 2
    assert b"cannot read /no/such/file.txt" in missing.stderr
