"""Row numbers as people type them: `12`, `#12`."""

from __future__ import annotations

import re

# Row ids are 32-bit integer columns. A larger number names no row, and PostgreSQL refuses to
# compare one with the column (an error, not "nothing found"): lookups answer "unknown" first.
MAX_ID = 2**31 - 1
_ID = re.compile(r"[#＃]?([0-9]{1,40})")  # ASCII digits: str.isdigit() also takes "²"


def parse_id(word: str) -> int | None:
    """'12' / '#12' → 12; None when the word is not a number (the command answers its usage).

    A number too large to be an id is still a number: its lookup answers that it is unknown.
    """
    match = _ID.fullmatch(word.strip())
    return int(match[1]) if match else None


def possible_id(number: int) -> bool:
    return 0 < number <= MAX_ID
