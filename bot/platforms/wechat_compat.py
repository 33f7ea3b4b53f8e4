"""The one module that imports wechaty, with what python-wechaty 0.10.7 needs on Python 3.11.

- `PuppetOptions` is a dataclass used as a dataclass default (`WechatyOptions.puppet_options`);
  Python 3.11 refuses unhashable defaults, so it gets `object.__hash__` before the first
  `import wechaty`.
- wechaty decides where its cache lives (`.wechaty/job.db`, plugin caches) from `CACHE_DIR`,
  partly at import time: `load()` sets it first.
- It needs `pyee<12` (async listeners) and `urllib3<2` (requests via wechaty-puppet); a wrong
  version is reported as one clear error instead of a failure deep inside a login.

Everything else in koxbot reaches wechaty through `load()`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class WechatyUnavailable(RuntimeError):
    """wechaty cannot be imported in this environment (wrong pins, missing package)."""


@dataclass(frozen=True)
class WechatyAPI:
    """The pieces of wechaty the adapter uses."""

    Wechaty: Any
    WechatyOptions: Any
    PuppetOptions: Any
    FileBox: Any
    FileBoxType: Any
    MessageType: Any
    FriendshipType: Any
    EventErrorPayload: Any
    cache_dir: str


_api: WechatyAPI | None = None
_ANGLED = re.compile(r"<[^<>]*>")


class _RedactToken(logging.Filter):
    """wechaty-puppet-service logs the token at WARNING on every start: never let it out."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "token" in text:
            record.msg, record.args = _ANGLED.sub("<***>", text), None
        return True


def _major(package: str) -> int:
    try:
        return int(metadata.version(package).split(".")[0])
    except (metadata.PackageNotFoundError, ValueError) as exc:
        raise WechatyUnavailable(f"wechaty needs the package {package!r}: {exc}") from None


def _check_pins() -> None:
    if _major("pyee") >= 12:
        raise WechatyUnavailable("wechaty 0.10.7 needs pyee<12 (pip install 'pyee<12')")
    if _major("urllib3") >= 2:
        raise WechatyUnavailable("wechaty 0.10.7 needs urllib3<2 (pip install 'urllib3<2')")


def load(cache_dir: str | os.PathLike[str]) -> WechatyAPI:
    """Apply the shim, point wechaty's cache at `cache_dir`, import it once, return its API.

    wechaty's caches are process-global: the first call's directory is where its import-time
    paths (the scheduler's job store) point; later calls move only its lazily read paths."""
    global _api
    path = str(Path(cache_dir).resolve())
    Path(path).mkdir(parents=True, exist_ok=True)
    os.environ["CACHE_DIR"] = path
    if _api is not None:
        if _api.cache_dir != path:
            log.debug("wechaty already loaded with CACHE_DIR=%s; now %s", _api.cache_dir, path)
        return _api
    _check_pins()
    # wechaty's loggers print every event at INFO to their own handlers; ours say what matters.
    os.environ.setdefault("WECHATY_LOG", "warn")
    try:
        from wechaty_puppet.schemas.puppet import PuppetOptions

        PuppetOptions.__hash__ = object.__hash__  # type: ignore[method-assign,assignment]

        from wechaty import Wechaty, WechatyOptions
        from wechaty_puppet import EventErrorPayload, FileBox, FriendshipType, MessageType
        from wechaty_puppet.file_box.type import FileBoxType
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise WechatyUnavailable(f"cannot import wechaty: {exc}") from exc
    logging.getLogger("PuppetService").addFilter(_RedactToken())
    # "no blueprint, no web service" on every login: we use no wechaty plugins.
    logging.getLogger("wechaty.plugin").setLevel(logging.ERROR)
    # hpack logs every HTTP/2 header at DEBUG, and the token travels as the :authority header.
    logging.getLogger("hpack").setLevel(logging.INFO)
    _api = WechatyAPI(
        Wechaty=Wechaty,
        WechatyOptions=WechatyOptions,
        PuppetOptions=PuppetOptions,
        FileBox=FileBox,
        FileBoxType=FileBoxType,
        MessageType=MessageType,
        FriendshipType=FriendshipType,
        EventErrorPayload=EventErrorPayload,
        cache_dir=path,
    )
    return _api
