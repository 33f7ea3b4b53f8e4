"""The words the bot reads, both languages in one place: content_templates/vocabulary.yaml.

A decision (`digest`, `flow`, …) is one place where the bot tells words apart; each of its
meanings (`on`, `off`, `week`) has words in either language. Names are `decision.meaning`:

    VOCABULARY.means("订阅", "digest.on")        # True
    VOCABULARY.meaning("Weekly", "digest")       # "week"
    VOCABULARY.words("flow.cancel")              # ("取消", "/cancel", "cancel")

The file is read once, at import, like the table of constants it replaces: package data, not
I/O on anything that changes (and bot.domain.audience, which must not import bot.core, reads
it too). A broken file fails the import, not the first user who types a word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

VOCABULARY_FILE = Path(__file__).resolve().parents[2] / "content_templates" / "vocabulary.yaml"


class VocabularyError(ValueError):
    """The vocabulary file is not a table of decisions → meanings → words."""


def normalize(word: str) -> str:
    """A word as compared: trimmed, in lower case (Chinese has no case)."""
    return word.strip().lower()


class Vocabulary:
    def __init__(self, table: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
        self._words: dict[str, tuple[str, ...]] = {}  # "decision.meaning" → words
        self._meanings: dict[str, dict[str, str]] = {}  # decision → word → meaning
        if not isinstance(table, Mapping) or not table:
            raise VocabularyError("the vocabulary is empty")
        for decision, meanings in table.items():
            if not isinstance(decision, str) or "." in decision:
                raise VocabularyError(f"decision name {decision!r}: a word without a dot")
            if not isinstance(meanings, Mapping) or not meanings:
                raise VocabularyError(f"{decision}: no meanings")
            seen = self._meanings[decision] = {}
            for meaning, words in meanings.items():
                # an unquoted yes / no / on / off arrives as a bool: say so, not KeyError later
                if not isinstance(meaning, str):
                    raise VocabularyError(f"{decision}: meaning {meaning!r} must be quoted")
                name = f"{decision}.{meaning}"
                if isinstance(words, str) or not isinstance(words, Sequence) or not words:
                    raise VocabularyError(f"{name}: a non-empty list of words")
                for word in words:
                    if not isinstance(word, str) or not word or word != normalize(word):
                        raise VocabularyError(f"{name}: {word!r} (quoted, trimmed, lower case)")
                    if word in seen:
                        raise VocabularyError(
                            f"{decision}: {word!r} means both {seen[word]} and {meaning}"
                        )
                    seen[word] = meaning
                self._words[name] = tuple(words)

    @classmethod
    def load(cls, path: Path = VOCABULARY_FILE) -> Vocabulary:
        with path.open(encoding="utf-8") as file:
            table: Any = yaml.safe_load(file)
        return cls(table)

    @property
    def decisions(self) -> dict[str, tuple[str, ...]]:
        """decision → its meanings, in file order."""
        return {
            decision: tuple(dict.fromkeys(seen.values()))
            for decision, seen in self._meanings.items()
        }

    def words(self, name: str) -> tuple[str, ...]:
        """The words of `decision.meaning`; KeyError for a name the file lacks (a typo)."""
        try:
            return self._words[name]
        except KeyError:
            raise KeyError(f"no {name!r} in {VOCABULARY_FILE.name}") from None

    def word(self, name: str) -> str:
        """The word a button sends for `decision.meaning`: the first one listed."""
        return self.words(name)[0]

    def means(self, word: str, name: str) -> bool:
        """Whether `word` (any case, any surrounding spaces) is one of `decision.meaning`."""
        return normalize(word) in self.words(name)

    def meaning(self, word: str, decision: str) -> str | None:
        """What `word` means in `decision`, or None when it is none of its words."""
        try:
            seen = self._meanings[decision]
        except KeyError:
            raise KeyError(f"no decision {decision!r} in {VOCABULARY_FILE.name}") from None
        return seen.get(normalize(word))


VOCABULARY = Vocabulary.load()
