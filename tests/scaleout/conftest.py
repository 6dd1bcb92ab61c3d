"""Scale-out fixtures: a local Spark standalone cluster and a local 3-master Redis Cluster
(``clusters/``), each started once per module that asks for it and stopped after it.

No skips: when Java 17+ (Spark) or a redis-server binary is missing, the fixture fails with the
fix in its message.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clusters.redis_cluster import RedisClusterHandle, start_redis_cluster, stop_redis_cluster
from clusters.spark_standalone import SparkClusterHandle, start_spark_cluster, stop_spark_cluster


@pytest.fixture(scope="module")
def spark_cluster() -> Iterator[SparkClusterHandle]:
    """A standalone master + one worker (2 cores, 2g) on 127.0.0.1, free ports."""
    try:
        handle = start_spark_cluster(cores=2, memory="2g")
    except (RuntimeError, ValueError) as exc:
        pytest.fail(f"the local Spark standalone cluster could not start: {exc}", pytrace=False)
    yield handle
    stop_spark_cluster(handle)


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisClusterHandle]:
    """Three cluster-enabled Redis masters on free loopback ports, slots split evenly."""
    try:
        handle = start_redis_cluster(masters=3)
    except (RuntimeError, ValueError) as exc:
        pytest.fail(f"the local Redis Cluster could not start: {exc}", pytrace=False)
    yield handle
    stop_redis_cluster(handle)
