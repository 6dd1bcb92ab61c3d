"""Online fixtures: the tiny pipeline materialized into a real Redis server (a dedicated
database index, flushed first), a trained model, and server settings pointing at them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis

from feast_bridge.store import open_store
from scoring.train import train
from serving.settings import Settings
from tests.real_redis import TEST_REDIS_PORT, real_redis

REDIS_DB = 11
END = datetime(2024, 2, 5, tzinfo=timezone.utc)  # after the last snapshot of the tiny preset
# Materialize "as known" this late: the generator's latest late row is created at most 3 days
# after its event, so every restatement of the tiny tables is in Redis (skewless' engine loads
# only rows created by the end time, exactly like the offline as-known join).
KNOWN_BY = END + timedelta(days=4)


@pytest.fixture(scope="session")
def redis_server() -> redis.Redis:
    """A real Redis server (scripts/setup.sh starts one); fails loudly when none answers."""
    client = real_redis(REDIS_DB)
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def online(pipeline, redis_server, tmp_path_factory):
    """The pipeline's feature tables materialized into Redis DB ``REDIS_DB``."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SKEWLESS_REDIS_DB", str(REDIS_DB))
    mp.setenv("SKEWLESS_REDIS_HOST", "127.0.0.1")
    mp.setenv("SKEWLESS_REDIS_PORT", str(TEST_REDIS_PORT))
    store = open_store(pipeline["repo"])
    store.materialize(datetime(2023, 12, 1, tzinfo=timezone.utc), KNOWN_BY)
    work = tmp_path_factory.mktemp("serving")
    model_info = train(pipeline["out"], work / "model.json")
    settings = Settings(repo=pipeline["repo"], state_path=pipeline["repo"] / "encoder_state.json",
                        model_path=work / "model.json", log_dir=work / "vector_log",
                        max_batch=50, max_candidates=200, hash_check_seconds=0.0,
                        redis_db=REDIS_DB)
    from pyspark.sql import functions as F

    last_text = pipeline["spark"].read.parquet(
        str(pipeline["data"] / "features" / "member_features")).agg(
        F.date_format(F.max("event_timestamp"), "yyyy-MM-dd'T'HH:mm:ss")).collect()[0][0]
    last_snapshot = datetime.fromisoformat(last_text)
    yield {**pipeline, "store": store, "settings": settings, "model_info": model_info,
           "last_snapshot": last_snapshot.replace(tzinfo=timezone.utc), "redis": redis_server,
           "ttl": timedelta(days=2)}
    mp.undo()
