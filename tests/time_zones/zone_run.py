"""The time-zone cases, run in a process of their own whose ``TZ`` the caller sets (not a test
module): ``python -m tests.time_zones.zone_run CASES.json RESULT.json``.

A fresh process is the only faithful way to put every part in the zone: PySpark's conversions
in the driver read ``TZ`` when the process starts, Spark's Python workers inherit it, and
Feast's calls run inside. The cases come from :mod:`tests.time_zones.test_time_zones` over
the tests' published pipeline (its repo, feature tables and state); this process computes and
writes the results, the parent judges them in UTC:

* ``training_set``: :func:`spark_jobs.training_set.build_training_set` on the given labels,
  written to the given folder (the parent reads it with pyarrow);
* ``parity``: :func:`skew.parity.parity_check` on the given pairs (materialization, the
  serving library at the as-of times, the offline join), reduced to counts and examples;
* ``fit``: the content hash of the service's state fitted over a window given as naive
  datetimes (they mean UTC).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path


def _zone() -> dict:
    now = datetime.now().astimezone()
    return {"tzname": list(time.tzname), "offset_s": now.utcoffset().total_seconds()}


def main(cases_path: str, result_path: str) -> None:
    from feast_bridge.services import get_service
    from feast_bridge.store import open_store
    from skew.parity import parity_check
    from skew.scratch import RedisTarget
    from spark_jobs.fit_publish import fit_on_spark
    from spark_jobs.spark_session import get_spark
    from spark_jobs.training_set import build_training_set, load_labels

    cases = json.loads(Path(cases_path).read_text(encoding="utf-8"))
    result: dict = {"zone": _zone(), "seconds": {}}
    t0 = time.perf_counter()
    spark = get_spark("skewless-time-zones", conf={"spark.sql.shuffle.partitions": "4"})
    store = open_store(Path(cases["repo"]))
    info = get_service(store, None)
    enc = info.load_state()
    result["seconds"]["start"] = time.perf_counter() - t0

    t = time.perf_counter()
    build_training_set(store, load_labels(spark, cases["labels"]), enc, cases["out"],
                       label_columns=["label"])
    result["seconds"]["training_set"] = time.perf_counter() - t

    t = time.perf_counter()
    pairs = [{**p, "event_timestamp": datetime.fromisoformat(p["event_timestamp"])}
             for p in cases["pairs"]]
    report = parity_check(cases["repo"], enc, pairs, redis=RedisTarget(**cases["redis"]),
                          spark=spark)
    result["parity"] = {
        "ok": report.ok, "compared_rows": report.compared_rows, "steps": report.steps,
        "by_class": dict(report.by_class),
        "examples": [f"{dict(d.keys)} @ {d.as_of} {d.feature}: {d.klass}/{d.cause} offline "
                     f"{d.offline!r} online {d.online!r}" for d in report.differences[:10]],
        "status_counts": [list(map(str, s)) for s in report.status_counts],
    }
    result["seconds"]["parity"] = time.perf_counter() - t

    t = time.perf_counter()
    start, end = (datetime.fromisoformat(x) for x in cases["fit_window"])
    assert start.tzinfo is None and end.tzinfo is None, "the fit case is a naive window"
    result["fit"] = fit_on_spark(spark, store, info, start, end)[0].content_hash
    result["seconds"]["fit"] = time.perf_counter() - t
    result["seconds"]["total"] = time.perf_counter() - t0
    Path(result_path).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:3])
