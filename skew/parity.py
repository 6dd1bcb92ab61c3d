"""Row-level parity: the offline vector (Spark training-set path) against the online vector
(materialize as of that time + the serving library), feature by feature.

Given (entity keys, as-of time) pairs (:mod:`skew.pairs`):

1. **Offline, one Spark job** over all pairs (:mod:`skew.offline_side`): the training set's
   point-in-time join and the encoders in Spark — the training-set code path — plus, for
   classification, each view's source row at the as-of time (:mod:`skew.sources`).
2. **Online, materialized as of each time** (:mod:`skew.as_of_store`): the repo is opened on a
   private Redis database (default ``127.0.0.1:6379`` db 14, flushed first) with a private copy of
   the registry (:mod:`skew.scratch`); the pairs' as-of times are visited in order, grouped into
   steps (times with no change of the pairs' entities' rows between them share one), the store is
   brought to what an incremental materialization up to each step would hold, and the serving
   library (:class:`serving.online.OnlineEncoder`, or any object with its
   ``encode``/``lookup``/``enc``) encodes the pairs of that step's times right after, reading that
   Redis. With skewless' engine the engine's pull of the pairs' entities is collected beside the
   offline job, the rows each step holds are picked by the engine's rule and each step writes them
   with the engine's writer; with another engine each step runs Feast's ``materialize``.
3. **Compare and classify** (:mod:`skew.classify`): raw values are read online only for rows
   that differ, at the same step.

Several online sides can share steps 1 and 2 (:func:`parity_reports`): the injected-skew suite
compares six faulty servers against one offline job and one materialization.

Edge cases: bad pairs raise ``ValueError`` naming the row and the fix
(:func:`skew.pairs.normalise_pairs`); a scratch database holding data a parity run did not
write raises (:func:`skew.scratch.scratch_client`); a training-set manifest whose state hash
is not the offline set's raises.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from encoders import EncoderSet
from skew.as_of_store import AsOfStore, MaterializedSteps, Steps, WrittenSteps
from skew.classify import (
    Difference,
    RowContext,
    Side,
    Tolerances,
    changed_encoders,
    classify_row,
    lineage,
    normalise_status,
    same_values,
)
from skew.offline_side import OfflineRow, offline_frames, offline_rows, plan_pairs
from skew.pairs import instant, micros
from skew.report import ParityReport, summarise
from skew.scratch import RedisTarget, private_store, scratch_client
from skew.sources import AS_OF, ViewPull, change_points

_CHUNK = 1000

OnlineFactory = Callable[[Any], Any]


def default_online(enc: EncoderSet, service: str | None = None) -> OnlineFactory:
    """The serving library as it runs in production: ``OnlineEncoder(store, enc)``."""
    def make(store: Any) -> Any:
        from serving.online import OnlineEncoder

        return OnlineEncoder(store, enc, service)

    return make


def parity_reports(
    repo: str | os.PathLike[str],
    enc: EncoderSet,
    pairs: Any,
    online: Mapping[str, OnlineFactory],
    *,
    offline_repo: str | os.PathLike[str] | None = None,
    service: str | None = None,
    as_known: bool = True,
    tolerances: Tolerances | None = None,
    redis: RedisTarget | None = None,
    manifest: Any = None,
    spark: Any = None,
    materialize_steps: bool = False,
) -> dict[str, ParityReport]:
    """One report per online side (see module docstring).

    ``repo``: the Feast repo the online store is materialized from (its sources also give the
    as-of source rows); ``offline_repo`` (default ``repo``): the repo the training-set join
    runs on. ``enc``: the training state (``manifest.state_hash`` must be its hash when a
    manifest is given). ``online``: name -> ``factory(store)`` returning the serving object.
    ``materialize_steps=True`` runs Feast's ``materialize`` at every step even with skewless'
    engine (the reference the written steps are tested against; one materialization per step).
    ``report.seconds``: ``offline`` (step 1, with a Spark job run side by side that collects the
    rows the online store is filled with, whose times are the change points), ``materialize``
    (the steps' rows and their writes, or Feast's materializations), ``online`` (the serving
    library), ``compare``, ``total``.
    """
    from feast_bridge.store import open_store
    from online_store.watermark import writes_watermarks
    from spark_jobs.batch_source import reusing_sources
    from spark_jobs.collect import collect_together
    from spark_jobs.spark_session import get_spark

    if manifest is not None and manifest.state_hash != enc.content_hash:
        raise ValueError(f"the training set's manifest has state {manifest.state_hash} but the "
                         f"offline encoder set is {enc.content_hash}; load the state the "
                         "training set was built with")
    if not online:
        raise ValueError("online is empty: pass at least one serving factory")
    tolerances = tolerances or Tolerances()
    spark = spark or get_spark("skewless-parity")
    redis = redis or RedisTarget.from_env()
    seconds: Counter[str] = Counter()

    t0 = time.perf_counter()
    off_store = open_store(Path(offline_repo or repo))
    with tempfile.TemporaryDirectory(prefix="skewless-parity-") as tmp:
        store = private_store(repo, redis, Path(tmp))
        client = scratch_client(store)
        written = writes_watermarks(store.config) and not materialize_steps
        # each file source is registered once; side-by-side Spark jobs collect the offline
        # vectors and the rows the online store is filled with (their times: the change points)
        with reusing_sources():
            plan = plan_pairs(store, enc, pairs, service)
            by_time: dict[int, list[int]] = {}
            for i, r in enumerate(plan.rows):
                by_time.setdefault(micros(r[AS_OF]), []).append(i)
            frames = offline_frames(spark, off_store, enc, plan, as_known)
            pulls = ViewPull.of_views(spark, store, plan.views, plan.rows)
            tables = collect_together([frames.encoded, *[p.frame for p in pulls]])
        pulled = tables[1:]
        offline = offline_rows(enc, plan, frames, tables[0], pulls, pulled, as_known)
        seconds["offline"] += time.perf_counter() - t0
        t1 = time.perf_counter()
        steps = Steps.of(list(by_time), change_points(pulls, pulled, max(by_time)))
        as_of: AsOfStore = MaterializedSteps(store, steps)
        if written:
            as_of = WrittenSteps.of_pulls(
                store, steps, pulls, pulled,
                [[plan.rows[i] for t in group for i in by_time[t]] for group in steps.groups])
        seconds["materialize"] += time.perf_counter() - t1
        views, rows = plan.views, plan.rows
        entity_keys, request_inputs = plan.entity_keys, plan.request_inputs
        sides = {name: make(store) for name, make in online.items()}
        lin = lineage(enc, {v.name: v.features for v in views})
        diffs: dict[str, list[Difference]] = {n: [] for n in sides}
        counts: dict[str, Counter] = {n: Counter() for n in sides}
        changed = {n: changed_encoders(enc, s.enc) for n, s in sides.items()}
        for k, group in enumerate(steps.groups):
            t2 = time.perf_counter()
            as_of.advance(k)
            seconds["materialize"] += time.perf_counter() - t2
            for t_us in group:
                when = instant(t_us)
                for name, side in sides.items():
                    diffs[name] += _compare_at(side, when, by_time[t_us], rows, offline, lin,
                                               enc, changed[name], tolerances, entity_keys,
                                               request_inputs, counts[name], seconds)
        client.close()
    off_counts = Counter(("offline", v, st) for r in offline for v, st in r.side.statuses.items())
    total = time.perf_counter() - t0
    reports = {}
    for name, side in sides.items():
        secs = {**seconds, "total": total}
        reports[name] = summarise(
            "parity", list(enc.names), len(rows), diffs[name], tolerances,
            (enc.content_hash, side.enc.content_hash), {**off_counts, **counts[name]}, secs,
            steps=len(steps.groups))
    return reports


def _compare_at(side: Any, when: datetime, idx: Sequence[int], rows: Sequence[Mapping[str, Any]],
                offline: Sequence[OfflineRow], lin: Mapping[str, Any], enc: EncoderSet,
                changed: frozenset[str], tolerances: Tolerances, entity_keys: Sequence[str],
                request_inputs: Sequence[str], counts: Counter, seconds: Counter
                ) -> list[Difference]:
    t0 = time.perf_counter()
    names = enc.names
    entity_rows = [{k: rows[i][k] for k in (*entity_keys, *request_inputs)} for i in idx]
    got = []
    for c in range(0, len(entity_rows), _CHUNK):
        got += side.encode(entity_rows[c:c + _CHUNK], when)
    seconds["online"] += time.perf_counter() - t0
    t1 = time.perf_counter()
    online_names = side.enc.names  # another state may have another schema: match by name

    def online_values(j: int) -> dict[str, Any]:
        return dict(zip(online_names, got[j].values))

    offline_vector = itemgetter(*names) if len(names) > 1 else (lambda d: (d[names[0]],))
    differing = []
    for j, (i, enc_row) in enumerate(zip(idx, got)):
        for view, st in enc_row.statuses.items():
            counts[("online", view, st)] += 1
        on = (enc_row.values if online_names == names
              else tuple(online_values(j).get(n) for n in names))
        if not same_values(offline_vector(offline[i].side.values), on):
            differing.append(j)
    out: list[Difference] = []
    if differing:
        subset = [entity_rows[j] for j in differing]
        raw_values, _ = side.lookup(subset, when)
        t_s = micros(when) / 1e6
        for j, raw in zip(differing, raw_values):
            i, enc_row = idx[j], got[j]
            raw = {**{k: entity_rows[j][k] for k in request_inputs}, **raw}
            online_side = Side(online_values(j),
                               {v: normalise_status(s) for v, s in enc_row.statuses.items()},
                               raw, dict(enc_row.statuses))
            ctx = RowContext(i, tuple((k, rows[i][k]) for k in entity_keys), t_s,
                             when.isoformat(), offline[i].versions)
            out += classify_row(ctx, offline[i].side, online_side, lin, enc, changed,
                                tolerances)
    seconds["compare"] += time.perf_counter() - t1
    return out


def parity_check(repo: str | os.PathLike[str], enc: EncoderSet, pairs: Any, *,
                 online_enc: EncoderSet | None = None, **kwargs: Any) -> ParityReport:
    """:func:`parity_reports` with the production serving library as the one online side
    (``OnlineEncoder`` with ``online_enc``, default ``enc``: the state the server loads)."""
    service = kwargs.get("service")
    return parity_reports(repo, enc, pairs,
                          {"online": default_online(online_enc or enc, service)},
                          **kwargs)["online"]
