"""The real Redis server the tests use (127.0.0.1:6379, started by ``scripts/setup.sh``)."""

from __future__ import annotations

import pytest
import redis


def real_redis(db: int) -> redis.Redis:
    """A client for database ``db`` of the local server, checked with ``PING``; the test fails
    (never skips) naming the fix when no server answers."""
    client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"no Redis server at 127.0.0.1:6379 ({exc}); run scripts/setup.sh, which "
                    "starts one", pytrace=False)
    return client
