"""The real Redis server the tests use: 127.0.0.1:6379 (started by ``scripts/setup.sh``), or the
port in ``SKEWLESS_TEST_REDIS_PORT`` (so two checkouts can run their suites side by side, each
against a server of its own)."""

from __future__ import annotations

import os

import pytest
import redis

#: The port of the tests' Redis server on 127.0.0.1.
TEST_REDIS_PORT = int(os.environ.get("SKEWLESS_TEST_REDIS_PORT", "6379"))


def real_redis(db: int) -> redis.Redis:
    """A client for database ``db`` of the local server, checked with ``PING``; the test fails
    (never skips) naming the fix when no server answers."""
    client = redis.Redis(host="127.0.0.1", port=TEST_REDIS_PORT, db=db, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"no Redis server at 127.0.0.1:{TEST_REDIS_PORT} ({exc}); run "
                    "scripts/setup.sh, which starts one", pytrace=False)
    return client
