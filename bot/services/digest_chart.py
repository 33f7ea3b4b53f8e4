"""The digest's chart: daily submissions (bars) and engagement to date (line) over a campaign,
drawn headless with matplotlib's Agg canvas into a PNG file of a fixed size.

No pyplot (no global figure state, nothing that wants a display): a `Figure` is drawn on a
`FigureCanvasAgg` and written straight to the file. matplotlib is imported on first use, so
the bot starts as fast as before. Labels are Chinese only when a font with CJK glyphs is
installed (Noto Sans CJK, Source Han Sans, WenQuanYi, SimHei …); otherwise they are ASCII,
whatever the locale, so the image never shows empty boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

WIDTH, HEIGHT, DPI = 800, 450, 100  # pixels: the PNG is exactly WIDTH × HEIGHT
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
)
LABELS = {
    "en": {"posts": "submissions per day", "engagement": "engagement to date", "day": "day"},
    "zh_CN": {"posts": "每日提交", "engagement": "累计互动", "day": "日期"},
}


@dataclass(frozen=True)
class Series:
    """One campaign's chart data: per local day, the submissions made that day and the
    engagement (likes + comments + shares + favorites of each post's latest metrics) at its end."""

    title: str
    days: list[date]
    submissions: list[int]
    engagement: list[int]


@cache
def cjk_font() -> str | None:
    """The name of an installed font with CJK glyphs, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def labels_for(locale: str) -> dict[str, str]:
    if locale.startswith("zh") and cjk_font() is not None:
        return LABELS["zh_CN"]
    return LABELS["en"]


def render_chart(series: Series, path: Path, locale: str) -> Path:
    """Draw the chart into `path` (a PNG of WIDTH × HEIGHT pixels); returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    words = labels_for(locale)
    font = cjk_font() if words is LABELS["zh_CN"] else None
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    positions = list(range(len(series.days)))
    ticks = [d.strftime("%m-%d") for d in series.days]
    family = {"fontfamily": font} if font else {}
    bars = axes.bar(positions, series.submissions, color="#4C78A8", label=words["posts"])
    axes.bar_label(bars, fontsize=8)
    axes.set_ylabel(words["posts"], **family)
    axes.set_xlabel(words["day"], **family)
    step = max(1, len(ticks) // 12)  # at most about a dozen date labels
    axes.set_xticks(positions[::step], ticks[::step])
    axes.set_ylim(0, max([*series.submissions, 1]) * 1.25)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    line_axes = axes.twinx()
    (line,) = line_axes.plot(
        positions, series.engagement, color="#F58518", marker="o", label=words["engagement"]
    )
    line_axes.set_ylabel(words["engagement"], **family)
    line_axes.set_ylim(0, max([*series.engagement, 1]) * 1.15)
    axes.set_title(series.title, **family)
    axes.legend(handles=[bars, line], loc="upper left", prop={"family": font} if font else None)
    figure.subplots_adjust(left=0.08, right=0.9, top=0.9, bottom=0.14)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return path
