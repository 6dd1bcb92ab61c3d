"""The grocery repo set up once for this package, as a new user would: generate the data, `feast
apply` (nothing fitted yet), fit both services, build both training sets; then, for the
online tests, materialize into Redis database 5.

The fixtures are package-scoped: the environment they set (``SKEWLESS_FEATURE_REPO``,
``SKEWLESS_REDIS_DB``, ``GROCERY_*``) is undone when this package's tests end, so the suites
after it see their own repo again.

Everything goes through skewless' public API and the ``feast`` CLI. Spark and Redis are
required: a missing one fails the tests (the ``spark`` fixture of ``tests/conftest.py`` and
:func:`tests.real_redis.real_redis`), never skips them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from feast_bridge.services import get_service
from feast_bridge.store import open_store
from spark_jobs.fit_publish import fit_service
from spark_jobs.training_set import build_training_set, load_labels
from tests.real_redis import TEST_REDIS_PORT, real_redis
from tests.second_domain.data import DAYS, LAST_SNAPSHOT, START, generate

REPO = Path(__file__).resolve().parent / "repo"
SERVICES = ("basket_value", "substitution")
FIT_START, FIT_END = START, START + timedelta(days=DAYS)
LABELS = {"basket_value": ("basket_labels", ["basket_eur"]),
          "substitution": ("substitution_labels", ["accepted"])}
ONLINE_DB, PARITY_DB = 5, 6
# The online store is loaded "as known" at this instant, and the online-vs-training-set check
# asks at it: late in the last snapshot day, so the 1-day store ttl expires some stores (those
# without a row that day) while the 2- and 3-day ttls keep most rows present.
AS_OF = LAST_SNAPSHOT + timedelta(hours=18)


def feast_apply(repo: Path = REPO, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess:
    """``feast apply`` in ``repo`` as a user runs it (stdout and stderr captured)."""
    feast = Path(sys.executable).with_name("feast")
    return subprocess.run([str(feast), "apply"], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="package")
def grocery(spark, tmp_path_factory):
    """Generated data, the pre-fit apply, both services fitted, both training sets built."""
    base = tmp_path_factory.mktemp("grocery")
    data, state = base / "data", base / "state"
    state.mkdir()
    gen = generate(data)
    mp = pytest.MonkeyPatch()
    mp.setenv("GROCERY_DATA_DIR", str(data))
    mp.setenv("GROCERY_STATE_DIR", str(state))
    mp.setenv("SKEWLESS_FEATURE_REPO", str(REPO))
    mp.setenv("SKEWLESS_REDIS_HOST", "127.0.0.1")
    mp.setenv("SKEWLESS_REDIS_PORT", str(TEST_REDIS_PORT))
    mp.setenv("SKEWLESS_REDIS_DB", str(ONLINE_DB))
    try:
        first = feast_apply()
        assert first.returncode == 0, f"feast apply failed:\n{first.stdout}\n{first.stderr}"
        store = open_store(REPO)
        before = {s: get_service(store, s) for s in SERVICES}
        prefit_errors = {}
        for s in SERVICES:
            try:
                build_training_set(store, load_labels(spark, getattr(gen, LABELS[s][0])), None,
                                   base / "never", service=s, timestamp_column="asked_at")
            except LookupError as exc:
                prefit_errors[s] = str(exc)
        # one `feast apply` publishes both states: the first fit skips its own (a user runs
        # `skewless fit --service basket_value --no-apply`, then the second fit applies)
        published = {s: fit_service(spark, store, s, FIT_START, FIT_END,
                                    apply=s == SERVICES[-1]) for s in SERVICES}
        store = open_store(REPO)
        infos = {s: get_service(store, s) for s in SERVICES}
        encs = {s: infos[s].load_state() for s in SERVICES}
        manifests, outs, labels = {}, {}, {}
        for s in SERVICES:
            attr, label_cols = LABELS[s]
            labels[s] = getattr(gen, attr)
            outs[s] = base / "training" / s
            manifests[s] = build_training_set(
                store, load_labels(spark, labels[s]), None, outs[s], service=s,
                timestamp_column="asked_at", label_columns=label_cols)
        yield {"base": base, "data": data, "state": state, "gen": gen, "spark": spark,
               "first_apply": first, "before": before, "prefit_errors": prefit_errors,
               "published": published, "store": store, "infos": infos, "encs": encs,
               "manifests": manifests, "outs": outs, "labels": labels}
    finally:
        mp.undo()


@pytest.fixture(scope="package")
def online_store(grocery):
    """The feature tables materialized into Redis DB 5 (flushed first) as known at
    :data:`AS_OF`, with skewless' engine as the repo's YAML declares."""
    client = real_redis(ONLINE_DB)
    client.flushdb()
    try:  # the environment of ``grocery`` (SKEWLESS_REDIS_DB=5, ...) is still set
        store = open_store(REPO)
        store.materialize(START - timedelta(days=1), AS_OF)
        yield {**grocery, "store": store, "redis": client}
    finally:
        client.close()
