"""The local Redis for tests: a skip marker when it is not there, and keys of one's own.

REDIS_URL overrides the address (default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_answers() -> bool:
    """A PING over a plain socket: no event loop needed at collection time."""
    address = urlsplit(REDIS_URL)
    try:
        with socket.create_connection(
            (address.hostname or "127.0.0.1", address.port or 6379), timeout=1
        ) as conn:
            conn.sendall(b"PING\r\n")
            # +PONG, or -NOAUTH from a server that wants a password: either way it is Redis
            return conn.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


needs_redis = pytest.mark.skipif(
    not _redis_answers(), reason=f"Redis does not answer at {REDIS_URL} (set REDIS_URL)"
)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test (or run) uses; its keys are deleted afterwards.

    (Synchronous, so that a fixture may ask for it only when its test uses Redis.)"""
    prefix = f"koxbot:test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
