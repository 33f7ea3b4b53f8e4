"""The words the bot reads: one file, both languages, no word with two meanings in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.core.render import Renderer
from bot.domain.audience import Scope
from bot.domain.vocabulary import (
    VOCABULARY,
    VOCABULARY_FILE,
    Vocabulary,
    VocabularyError,
)

CHINESE = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[a-z]")
# Meanings with no word in one of the languages, and why.
ONE_LANGUAGE = {
    "wizard_pricing.cpe",  # an acronym, written the same in Chinese
    "language.en",  # `/lang 英文` has never been understood; add it here when it is
}


def _raw() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load(VOCABULARY_FILE.read_text(encoding="utf-8"))


def test_every_meaning_has_words() -> None:
    raw = _raw()
    assert raw and all(raw.values())
    for decision, meanings in raw.items():
        for meaning, words in meanings.items():
            assert isinstance(meaning, str), (decision, meaning)  # an unquoted yes / no is a bool
            assert words and all(isinstance(w, str) and w for w in words), (decision, meaning)


def test_no_word_means_two_things_within_a_decision() -> None:
    for decision, meanings in _raw().items():
        words = [w for ws in meanings.values() for w in ws]
        twice = sorted({w for w in words if words.count(w) > 1})
        assert twice == [], decision


def test_both_languages_are_there() -> None:
    for decision, meanings in VOCABULARY.decisions.items():
        for meaning in meanings:
            name = f"{decision}.{meaning}"
            if name in ONE_LANGUAGE:
                continue
            words = VOCABULARY.words(name)
            assert any(CHINESE.search(w) for w in words), f"{name}: no Chinese word"
            assert any(LATIN.search(w) for w in words), f"{name}: no English word"


def test_matching_ignores_latin_case_and_surrounding_spaces() -> None:
    assert VOCABULARY.means("  Confirm ", "settle.confirm")
    assert VOCABULARY.means("/CANCEL", "flow.cancel")
    assert VOCABULARY.means("取消", "flow.cancel")
    assert not VOCABULARY.means("停止", "flow.cancel")  # stops a broadcast, not a conversation
    assert VOCABULARY.meaning("WEEKLY", "digest") == "week"
    assert VOCABULARY.meaning("ZH-CN", "language") == "zh_CN"
    assert VOCABULARY.meaning("maybe", "digest") is None


def test_a_misspelt_name_is_an_error_not_a_no() -> None:
    with pytest.raises(KeyError):
        VOCABULARY.means("on", "digest.onn")
    with pytest.raises(KeyError):
        VOCABULARY.meaning("on", "digestt")


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"d": {"a": ["x"], "b": ["x"]}}, "means both"),
        ({"d": {"a": []}}, "non-empty"),
        ({"d": {"a": ["Yes"]}}, "lower case"),
        ({"d": {True: ["yes"]}}, "quoted"),
        ({"d": {}}, "no meanings"),
    ],
)
def test_a_bad_table_fails_when_loaded(table: dict, problem: str) -> None:
    with pytest.raises(VocabularyError, match=problem):
        Vocabulary(table)


def test_a_bare_yes_in_the_file_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "vocabulary.yaml"
    path.write_text("consent:\n  yes: [yes]\n", encoding="utf-8")
    with pytest.raises(VocabularyError):
        Vocabulary.load(path)


def test_the_same_word_may_mean_different_things_in_different_decisions() -> None:
    vocab = Vocabulary({"a": {"x": ["cancel"]}, "b": {"y": ["cancel"]}})
    assert vocab.means("cancel", "a.x") and vocab.means("cancel", "b.y")


def test_audience_scopes_are_the_scope_values() -> None:
    assert set(VOCABULARY.decisions["audience_scope"]) == {s.value for s in Scope}


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_option_label_shown_is_understood(locale: str) -> None:
    """A user who types a button's label instead of pressing it is understood."""
    renderer = Renderer(locale)
    for question in ("more", "consent"):
        for value in ("yes", "no"):
            label = renderer.render(locale, "onboarding/option", question=question, value=value)
            assert VOCABULARY.meaning(label, f"onboarding_{question}") == value, label
            assert VOCABULARY.meaning(value, f"onboarding_{question}") == value
    for value in ("create", "cancel"):
        label = renderer.render(locale, "wizard/option", value=value)
        assert VOCABULARY.meaning(label, "wizard_confirm") == value, label
        assert VOCABULARY.word(f"wizard_confirm.{value}") == value  # what the button sends


def test_buttons_send_words_the_bot_reads() -> None:
    assert VOCABULARY.word("broadcast_confirm.confirm") == "确认"
    assert VOCABULARY.word("metrics_import_confirm.confirm") == "确认"
    assert VOCABULARY.word("flow.cancel") == "取消"


# What each place accepted before the vocabulary existed: all of it still means the same.
BEFORE = {
    "flow.cancel": ("/cancel", "取消", "cancel"),
    "broadcast_confirm.confirm": (
        "确认", "确认发送", "发送", "confirm", "send", "yes", "y", "ok", "是"
    ),
    "broadcast_confirm.send_at": ("at", "定时", "在"),
    "metrics_import_confirm.confirm": ("确认", "确认导入", "confirm", "yes", "y", "ok", "是"),
    "wizard_pricing.fixed": ("fixed", "固定"),
    "wizard_pricing.cpe": ("cpe",),
    "audience_scope.brand": ("brand", "all", "全部", "品牌"),
    "audience_scope.campaign": ("campaign", "enrolled", "活动", "报名"),
    "audience_scope.pending": ("pending", "unsubmitted", "未提交"),
    "audience_scope.groups": ("groups", "group", "群", "活动群"),
    "audience_filter.tier": ("tier", "等级"),
    "audience_filter.city": ("city", "城市"),
    "audience_filter.platform": ("platform", "平台"),
    "audience_filter.kind": ("kind", "类型"),
    "broadcast_action.cancel": ("cancel", "取消", "停止"),
    "broadcast_action.retry": ("retry", "重试"),
    "broadcast_action.status": ("status", "状态"),
    "settle.confirm": ("confirm", "确认"),
    "settle.paid": ("paid", "已支付", "支付"),
    "digest.on": ("on", "订阅", "开"),
    "digest.off": ("off", "退订", "关"),
    "digest.week": ("week", "weekly", "周报"),
    "earnings.detail": ("detail", "details", "明细", "详细"),
    "outline.new": ("new", "another", "换", "换一个", "重新", "再来", "新"),
    "outlines.stats": ("usage", "stats", "用量", "统计"),
    "timeline.pause": ("pause", "暂停"),
    "timeline.resume": ("resume", "恢复"),
    "timeline.shift": ("shift", "顺延", "调整"),
    "language.zh_CN": ("zh", "zh_cn", "zh-cn", "中文"),
    "language.en": ("en", "english"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_words_understood_before_still_are(name: str) -> None:
    for word in BEFORE[name]:
        assert VOCABULARY.means(word, name), word
        assert VOCABULARY.means(word.upper(), name), word
