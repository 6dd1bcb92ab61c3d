"""Representative traffic for the demo's main job: a sample of label requests sent through the
HTTP server at their own request times, then the pages that judge the log — the distribution
skew report and ``skewless consistency`` for every day the traffic covers.

Why: a log of one member × 100 titles at one request time is a biased sample, not traffic
(the skew report would call it *not judged*). Label rows are what the model is asked about, so
a sample of them at their own times is the closest the demo has to production traffic.

How (:func:`send_label_traffic`):

1. ``days`` days that hold labels (default 7), spread evenly over the labels' days and ending
   at the last (so the sample spans the training window and, for consecutive days, every
   weekday once), ``per_day`` label rows each (seeded sample), keys and request inputs as the
   service declares them;
2. a private copy of the repo's registry on a scratch Redis database
   (``SKEWLESS_TRAFFIC_REDIS_DB``, default 13; refused when it holds data no skewless check
   wrote, flushed otherwise) is materialized incrementally up to 00:00 UTC of each day (a
   daily batch at the snapshots' time), and that day's requests go to the HTTP app (on that
   database) one label row a request, logged to the stage's own log folder
   (``<data>/traffic/vector_log``, emptied first; the server's log keeps the serve stage's
   requests) — so each request sees what a daily-materialized server holds at its time. What
   such a server misses is what the consistency page shows: a feature row restated *during*
   the day (the demo's facts have late corrections) is in the offline join at the request
   time but not yet online (a ``value`` difference; its cause is ``unknown`` because the log
   holds no raw inputs);
3. :func:`judge_log`: the skew report of the training set against the log (HTML) and the
   consistency metrics of each traffic day (table + trend page).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

TRAFFIC_DB_ENV = "SKEWLESS_TRAFFIC_REDIS_DB"
DEFAULT_TRAFFIC_DB = 13


@dataclass(frozen=True)
class Traffic:
    """What :func:`send_label_traffic` sent: rows per day and the log folder."""

    rows_by_day: tuple[tuple[date, int], ...]
    log_dir: Path

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(d for d, _ in self.rows_by_day)


@dataclass(frozen=True)
class Judged:
    """The pages :func:`judge_log` wrote and what they say."""

    skew_html: Path | None
    skew_summary: str
    consistency_html: Path | None
    consistency: tuple[tuple[date, int, int], ...]  # day, rows, outputs below threshold


def spread_days(label_days: list[date], k: int) -> list[date]:
    """``k`` of the sorted ``label_days``, evenly spread and ending at the last: every
    ``step``-th day with ``step = (len - 1) // (k - 1)`` (one less when that is a multiple of
    7, so that ``k <= 7`` consecutive days fall on distinct weekdays); all of them when there
    are no more than ``k``."""
    if len(label_days) <= k:
        return list(label_days)
    step = max(1, (len(label_days) - 1) // max(1, k - 1))
    step -= step % 7 == 0
    picked = label_days[::-1][::step][:k]
    return sorted(picked)


def sample_label_requests(spark: Any, labels: Any, info: Any, timestamp_column: str,
                          days: int, per_day: int, seed: int) -> list[dict[str, Any]]:
    """``per_day`` label rows of each of ``days`` label days (:func:`spread_days`): the
    service's join keys, its request inputs and ``request_time`` (the label time, aware UTC),
    oldest first."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    day = F.to_date(F.col(timestamp_column))  # the session time zone is UTC
    wanted = spread_days(sorted(r[0] for r in labels.select(day.alias("d")).distinct()
                                .collect()), days)
    if not wanted:
        raise ValueError("the labels hold no rows: generate labels first")
    cols = [*info.entity_keys, *[c for c in info.request_names if c in labels.columns]]
    pick = (labels.where(day.isin(wanted))
            .withColumn("_day", day)
            .withColumn("_n", F.row_number().over(
                Window.partitionBy("_day").orderBy(F.rand(seed))))
            .where(F.col("_n") <= per_day)
            .select(*cols, F.col(timestamp_column).alias("request_time")))
    # through Arrow: the time stays an aware UTC datetime (collect() gives local time)
    rows = pick.toArrow().to_pylist()
    return sorted(rows, key=lambda r: r["request_time"])


def send_label_traffic(spark: Any, repo: Path, service: str, labels_dir: Path,
                       settings: Any, log_dir: Path, *, timestamp_column: str, days: int = 7,
                       per_day: int = 80, seed: int = 0) -> Traffic:
    """Send the sampled label requests through the HTTP app (module docstring, steps 1–2),
    logging to ``log_dir`` (emptied first: the traffic of this run only)."""
    import shutil

    from fastapi.testclient import TestClient

    from feast_bridge.services import get_service
    from materialization.materialize import materialize
    from serving.api import create_app
    from skew.scratch import RedisTarget, private_store, scratch_client

    text = os.environ.get(TRAFFIC_DB_ENV, str(DEFAULT_TRAFFIC_DB))
    if not text.isdigit():
        raise ValueError(f"{TRAFFIC_DB_ENV}={text!r} is not a Redis database index; set e.g. "
                         f"{DEFAULT_TRAFFIC_DB}")
    db = int(text)
    workdir = Path(tempfile.mkdtemp(prefix="skewless-traffic-"))
    store = private_store(repo, RedisTarget(db=db), workdir)
    info = get_service(store, service)
    requests = sample_label_requests(spark, spark.read.parquet(str(labels_dir)), info,
                                     timestamp_column, days, per_day, seed)
    scratch_client(store).close()
    by_day: dict[date, list[dict[str, Any]]] = {}
    for r in requests:
        by_day.setdefault(r["request_time"].date(), []).append(r)
    shutil.rmtree(log_dir, ignore_errors=True)
    # the settings' own check intervals: each day's app starts after that day's materialize
    # and serves its ~80 requests well within them (a check per request, as with intervals of
    # 0, re-read the registry on every request: 13 of the stage's 18 s)
    app_settings = replace(settings, log_dir=log_dir, redis_db=db)
    done = None
    for day, rows in sorted(by_day.items()):
        midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        # the daily batch: as known at 00:00 UTC (the snapshots' event time)
        materialize(store, done or midnight - timedelta(days=365 * 4), midnight,
                    count_rows=False)
        done = midnight
        with TestClient(create_app(app_settings)) as client:
            for r in rows:
                entity = {k: v for k, v in r.items() if k != "request_time"}
                got = client.post(f"/services/{service}/features", json={
                    "entities": [entity], "request_time": r["request_time"].isoformat()})
                if got.status_code != 200:
                    raise RuntimeError(f"POST /services/{service}/features answered "
                                       f"{got.status_code}: {got.text}")
    return Traffic(tuple((d, len(rows)) for d, rows in sorted(by_day.items())), log_dir)


def judge_log(spark: Any, repo: Path, service: str, enc: Any, training_dir: Path,
              traffic: Traffic, out_dir: Path) -> Judged:
    """The skew report (``out_dir/skew.html``) of ``training_dir`` against the log, and the
    consistency metrics of each traffic day (table ``out_dir/consistency``, trend page
    ``out_dir/consistency/<service>.html``) — module docstring, step 3. A log the skew report
    cannot use (served with another state: an older run's) is named in the summary."""
    from skew.consistency import DEFAULT_THRESHOLD, days_consistency
    from skew.consistency_html import write_page
    from skew.consistency_table import read_history, write_day
    from skew.distribution_report import build_report
    from skew.html_report import write_html
    from skew.samples import SkewInputError

    skew_html: Path | None = None
    try:
        report = build_report(training_dir, traffic.log_dir)
        skew_html, summary = write_html(report, out_dir / "skew.html"), report.summary()
    except SkewInputError as exc:
        summary = f"not written: {exc}"
    table, days, result = out_dir / "consistency", [], None
    for day, result in zip(traffic.days, days_consistency(  # one replay for every day
            traffic.log_dir, repo, enc, service, list(traffic.days), spark=spark)):
        write_day(table, result)
        days.append((day, result.rows, len(result.below(DEFAULT_THRESHOLD))))
    page = None if result is None else write_page(  # once, for the last day: its trend
        result, read_history(table, service), DEFAULT_THRESHOLD, table / f"{service}.html")
    return Judged(skew_html, summary, page, tuple(days))


def summary_lines(traffic: Traffic, judged: Judged) -> list[str]:
    """Lines for the main job's summary."""
    first, last = traffic.days[0], traffic.days[-1]
    rows = sum(n for _, n in traffic.rows_by_day)
    below = ", ".join(f"{d} {n}" for d, _, n in judged.consistency if n) or "none"
    return [f"traffic        {rows:,} label requests at their own times, {first} .. {last}, "
            f"logged to {traffic.log_dir}",
            f"skew report    {judged.skew_html or '-'}: {judged.skew_summary}",
            f"consistency    {judged.consistency_html}: outputs below match rate per day: "
            f"{below}"]

