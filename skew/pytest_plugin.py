"""pytest fixtures and assertions for parity tests in a user's own suite.

Use them by importing into a test module or a conftest::

    from skew.pytest_plugin import assert_parity, parity_redis  # noqa: F401

    def test_my_model_has_no_skew(parity_redis, my_repo, my_state, my_pairs):
        assert_parity(parity_check(my_repo, my_state, my_pairs, redis=parity_redis))

``parity_redis`` is a :class:`skew.scratch.RedisTarget` on a real Redis server
(``SKEWLESS_REDIS_HOST``/``_PORT``, default ``127.0.0.1:6379``; database
``SKEWLESS_PARITY_REDIS_DB``, default 14), emptied first. When no server answers the test
*fails* naming the fix — it is never skipped.
"""

from __future__ import annotations

import pytest

from skew.report import ParityReport
from skew.scratch import MARKER, RedisTarget


@pytest.fixture(scope="session")
def parity_redis() -> RedisTarget:
    """A real Redis database for parity runs, emptied; fails loudly when none answers."""
    import redis

    from online_store.connection import RedisAddress

    target = RedisTarget.from_env()
    address = RedisAddress.from_env()  # a bad SKEWLESS_REDIS_* raises naming the variable
    host, port = address.host or "127.0.0.1", address.port or 6379
    client = redis.Redis(host=host, port=port, db=target.db, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        pytest.fail(f"no Redis server at {host}:{port} ({exc}); run scripts/setup.sh, which "
                    "starts one, or set SKEWLESS_REDIS_HOST/PORT", pytrace=False)
    client.flushdb()
    client.hset(MARKER, "owner", "skewless parity tests")
    client.close()
    return target


def assert_parity(report: ParityReport, examples: int = 10) -> None:
    """Fail with the failing features, classes and example differences unless ``report.ok``."""
    if report.ok:
        return
    lines = [f"parity failed: {report.failing_features()} above tolerance; by class "
             f"{report.by_class}; state match {report.state_match}"]
    for d in [d for d in report.differences if not d.tolerated][:examples]:
        lines.append(f"  row {d.row} {dict(d.keys)} @ {d.as_of} {d.feature}: "
                     f"{d.klass}/{d.cause}: offline {d.offline!r} online {d.online!r} "
                     f"({d.detail})")
    pytest.fail("\n".join(lines), pytrace=False)
