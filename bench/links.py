"""The link extractor stays linear: time for 10× the text should be about 10× the time.

Prints, per input shape, the seconds for a 10k- and a 100k-character text and their ratio
(≈10 is linear; far above 10 would mean backtracking). Run: .venv/bin/python -m bench.links
"""

from __future__ import annotations

import time

from bot.domain.links import find_links

SHAPES = {
    "share texts": lambda n: "".join(
        f"复制打开抖音 😆 https://v.douyin.com/c{i:05d}/ Wsl:/ 10/26\n" for i in range(n // 50)
    ),
    "repeated schemes": lambda n: "https://" * (n // 8),
    "almost URLs": lambda n: "https://a.com/" + "=https:/" * (n // 8),
    "long path": lambda n: "xhslink.com/" + "a" * n,
    "CJK prose": lambda n: "中" * n,
}


def seconds(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        find_links(text)
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    for name, make in SHAPES.items():
        small, large = seconds(make(10_000)), seconds(make(100_000))
        ratio = large / small
        print(f"{name:18} 10k {small * 1e3:7.2f} ms, 100k {large * 1e3:7.2f} ms: {ratio:4.1f}×")
