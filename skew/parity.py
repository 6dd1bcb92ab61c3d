"""Row-level parity: the offline vector (Spark training-set path) against the online vector
(materialize as of that time + the serving library), feature by feature.

Given (entity keys, as-of time) pairs:

1. **Offline, one Spark job** over all pairs: the training set's point-in-time join
   (:func:`spark_jobs.training_set.joined_features`, as-known by default) and the encoders in
   Spark (:func:`spark_jobs.spark_encode.encode_frame`) — the training-set code path — plus, for
   classification, each view's source row at the as-of time (:mod:`skew.sources`).
2. **Online, materialized as of each time**: the repo is opened on a private Redis database
   (default ``127.0.0.1:6379`` db 14, flushed first) with a private copy of the registry; the
   pairs' as-of times are visited in order, the store is materialized incrementally up to each
   (``materialization.materialize.materialize``, end = the as-of time), and the serving library
   (:class:`serving.online.OnlineEncoder`, or any object with its ``encode``/``lookup``/``enc``)
   encodes the pairs of that time right after. As-of times with no source change between them
   (no event or created timestamp in between) share one materialization.
3. **Compare and classify** (:mod:`skew.classify`): raw values are read online only for rows
   that differ, at the same step.

Several online sides can share steps 1 and 2 (:func:`parity_reports`): the injected-skew suite
compares six faulty servers against one offline job and one materialization.

Edge cases: pairs need every join key of the feature service and an aware ``event_timestamp``
(naive times, missing keys, nulls, an empty list raise ``ValueError`` naming the row and the
fix); the scratch database must be empty or a previous parity run's (it carries the marker
hash ``__skewless_parity__``) — anything else raises rather than flush someone's data; a
training-set manifest whose state hash is not the offline set's raises.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from encoders import EncoderSet
from feast_bridge.services import as_of_status
from online_store.connection import checked_client, is_cluster
from skew.classify import (
    ABSENT,
    FOUND,
    TOO_OLD,
    Difference,
    RowContext,
    RowVersion,
    Side,
    Tolerances,
    changed_encoders,
    classify_row,
    lineage,
    normalise_status,
    same_value,
)
from skew.report import ParityReport, summarise
from skew.sources import (
    AS_OF,
    ROW,
    ViewSource,
    change_points,
    keys_and_request_inputs,
    source_versions,
    view_sources,
)

MARKER = "__skewless_parity__"
DEFAULT_DB = 14
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CHUNK = 1000

OnlineFactory = Callable[[Any], Any]


@dataclass(frozen=True)
class RedisTarget:
    """The scratch Redis database the parity check materializes into.

    ``host``/``port`` ``None`` keep the repo's (``SKEWLESS_REDIS_HOST``/``_PORT`` overrides
    apply); ``db`` is the database index (default 14). :meth:`from_env` reads
    ``SKEWLESS_PARITY_REDIS_DB``.
    """

    host: str | None = None
    port: int | None = None
    db: int = DEFAULT_DB

    def __post_init__(self) -> None:
        if isinstance(self.db, bool) or not isinstance(self.db, int) or self.db < 0:
            raise ValueError(f"RedisTarget.db={self.db!r} must be a database index >= 0")

    @staticmethod
    def from_env() -> RedisTarget:
        text = os.environ.get("SKEWLESS_PARITY_REDIS_DB", str(DEFAULT_DB))
        if not text.isdigit():
            raise ValueError(f"SKEWLESS_PARITY_REDIS_DB={text!r} is not a database index; "
                             f"set e.g. {DEFAULT_DB}")
        return RedisTarget(db=int(text))


# --- pairs ---------------------------------------------------------------------------------
def aware_time(value: Any, i: int) -> datetime:
    """``value`` (a datetime, pandas Timestamp or ISO-8601 string with an offset) as an aware
    UTC datetime; naive or unparseable values raise ``ValueError`` naming pair ``i``."""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"pair {i}: event_timestamp {value!r} is not ISO-8601; write e.g. "
                             "2024-01-10T12:00:00+00:00") from None
    if not isinstance(value, datetime):
        raise ValueError(f"pair {i}: event_timestamp {value!r} is not a datetime; pass an "
                         "aware datetime or an ISO-8601 string with an offset")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"pair {i}: event_timestamp {value.isoformat()} is naive; pass an "
                         "aware time, e.g. .replace(tzinfo=timezone.utc)")
    return value.astimezone(timezone.utc)


def normalise_pairs(pairs: Any, entity_keys: Sequence[str], request_inputs: Sequence[str]
                    ) -> list[dict[str, Any]]:
    """Pairs (a pandas DataFrame or a sequence of mappings) as dicts with the entity keys, an
    aware UTC ``event_timestamp`` (the as-of time) and the request inputs (absent -> None)."""
    if hasattr(pairs, "to_dict") and hasattr(pairs, "columns"):
        pairs = pairs.to_dict("records")
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise ValueError("pairs must be a list of mappings or a pandas DataFrame with "
                         f"{[*entity_keys, AS_OF]}")
    if not pairs:
        raise ValueError("pairs is empty: give at least one (entity keys, event_timestamp) row")
    out = []
    for i, p in enumerate(pairs):
        if not isinstance(p, Mapping):
            raise ValueError(f"pair {i} is a {type(p).__name__}, not a mapping")
        absent = [k for k in (*entity_keys, AS_OF) if p.get(k) is None]
        if absent:
            raise ValueError(f"pair {i} lacks {absent}; every pair needs "
                             f"{[*entity_keys, AS_OF]}")
        row = {k: _plain(p[k]) for k in entity_keys}
        row[AS_OF] = aware_time(p[AS_OF], i)
        for k in request_inputs:
            v = p.get(k)
            row[k] = None if v is None or v != v else _plain(v)  # NaN from pandas -> None
        out.append(row)
    return out


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def sample_pairs(labels: Any, n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` rows of a labels DataFrame (Spark; entity keys, ``event_timestamp``, request
    columns) sampled reproducibly, as dicts with aware UTC times. Only the sample is
    collected."""
    from pyspark.sql import functions as F

    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    sample = labels.orderBy(F.xxhash64(*labels.columns, F.lit(seed))).limit(n)
    return sample.toArrow().to_pylist()


# --- stores --------------------------------------------------------------------------------
def private_store(repo: str | os.PathLike[str], target: RedisTarget, workdir: Path) -> Any:
    """The repo's ``FeatureStore`` on the scratch Redis database, with a private copy of a file
    registry (so materialization intervals are not written to the real one)."""

    from feast_bridge.store import open_store

    store = open_store(Path(repo))
    config = store.config
    if getattr(config.online_store, "type", None) != "redis":
        raise ValueError("the parity check materializes into Redis: set online_store.type: "
                         "redis in feature_store.yaml")
    if is_cluster(config.online_store):
        # a Redis Cluster has database 0 only: the parity run needs a cluster of its own (its
        # keys are flushed), given by SKEWLESS_REDIS_TYPE / SKEWLESS_REDIS_NODES as configured
        return _with_private_registry(store, config, repo, workdir)
    conn = re.sub(r",\s*db=[^,]*", "", config.online_store.connection_string)
    if target.host or target.port:
        first, _, rest = conn.partition(",")
        host, _, port = first.rpartition(":")
        first = f"{target.host or host}:{target.port or port}"
        conn = first + ("," + rest if rest else "")
    config.online_store.connection_string = f"{conn},db={target.db}"
    return _with_private_registry(store, config, repo, workdir)


def _with_private_registry(store: Any, config: Any, repo: str | os.PathLike[str],
                           workdir: Path) -> Any:
    from feast import FeatureStore

    reg = config.registry
    if getattr(reg, "registry_type", "file") == "file" and "://" not in str(reg.path):
        src = Path(reg.path) if Path(reg.path).is_absolute() else Path(repo) / reg.path
        if src.exists():
            dst = workdir / "registry.db"
            shutil.copy(src, dst)
            config.registry_config = {"registry_type": "file", "path": str(dst),
                                      "cache_ttl_seconds": reg.cache_ttl_seconds}
            config._registry = None
    return FeatureStore(repo_path=str(Path(repo).resolve()), config=config)


def scratch_client(store: Any) -> Any:
    """A redis-py client on the store's scratch database, emptied; refuses a database that
    holds data not written by a parity run."""
    from feast.infra.online_stores.redis import RedisOnlineStore

    online = store.config.online_store
    _, params = RedisOnlineStore._parse_connection_string(online.connection_string)
    # one server's database; a cluster gets Feast's client (DBSIZE/FLUSHDB go to every master)
    client = checked_client(online, single_node=True)
    db = params.get("db", 0)
    if client.dbsize() and not client.exists(MARKER):
        raise ValueError(f"Redis database {db} holds {client.dbsize()} keys that a parity run "
                         "did not write; choose an empty database (SKEWLESS_PARITY_REDIS_DB / "
                         "--redis-db) or empty it yourself")
    client.flushdb()
    client.hset(MARKER, "owner", "skewless parity check")
    return client


# --- offline -------------------------------------------------------------------------------
@dataclass(frozen=True)
class OfflineRow:
    """The offline side of one pair."""

    side: Side
    versions: Mapping[str, RowVersion | None]


def _spark_type(values: Sequence[Any]) -> Any:
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return BooleanType()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return LongType()
    if present and all(isinstance(v, (int, float)) for v in present):
        return DoubleType()
    return StringType()


def pairs_frame(spark: Any, pairs: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """The pairs as a Spark DataFrame: ``_parity_row`` (the index), ``columns``,
    ``event_timestamp``."""
    from pyspark.sql.types import LongType, StructField, StructType, TimestampType

    fields = [StructField(ROW, LongType(), False)]
    fields += [StructField(c, _spark_type([p[c] for p in pairs]), True) for c in columns]
    fields.append(StructField(AS_OF, TimestampType(), False))
    rows = [(i, *(p[c] for c in columns), p[AS_OF]) for i, p in enumerate(pairs)]
    return spark.createDataFrame(rows, StructType(fields))


def _status(version: RowVersion | None, t_us: int, ttl_us: int | None) -> str:
    if version is None:
        return ABSENT
    # the source row is at or before T by construction: present or expired (same strings)
    return TOO_OLD if as_of_status(version.event_us, t_us, ttl_us) == TOO_OLD else FOUND


@dataclass(frozen=True)
class OfflineSide:
    """The pairs as the offline path sees them: the views, their join keys, the request
    inputs, the normalised pairs and one :class:`OfflineRow` per pair (same order)."""

    views: tuple[ViewSource, ...]
    entity_keys: tuple[str, ...]
    request_inputs: tuple[str, ...]
    rows: list[dict[str, Any]]
    offline: list[OfflineRow]


def offline_side(spark: Any, views_store: Any, offline_store: Any, enc: EncoderSet, pairs: Any,
                 service: str | None, as_known: bool) -> OfflineSide:
    """Views of ``service`` (the only one when ``None``) from ``views_store``, the pairs
    normalised against their
    keys and ``enc``'s request inputs (bad pairs raise ``ValueError`` naming the fix), then
    :func:`offline_rows` on ``offline_store`` (the same store, or the original repo's when the
    online side runs on a private copy)."""
    from feast_bridge.services import get_service

    feature_service = get_service(views_store, service).raw_service
    views = view_sources(views_store, feature_service)
    entity_keys, request_inputs = keys_and_request_inputs(views, enc.inputs)
    rows = normalise_pairs(pairs, entity_keys, request_inputs)
    offline = offline_rows(spark, offline_store, enc, rows, views, entity_keys=entity_keys,
                           request_inputs=request_inputs, feature_service=feature_service,
                           as_known=as_known)
    return OfflineSide(tuple(views), tuple(entity_keys), tuple(request_inputs), rows, offline)


def offline_rows(spark: Any, store: Any, enc: EncoderSet, pairs: Sequence[Mapping[str, Any]],
                 views: Sequence[ViewSource], *, entity_keys: Sequence[str],
                 request_inputs: Sequence[str], feature_service: str,
                 as_known: bool = True) -> list[OfflineRow]:
    """One Spark job: the training-set join + encoders over all pairs, and each view's
    source row (see module docstring). Returns one :class:`OfflineRow` per pair, in order."""
    from spark_jobs.spark_encode import encode_frame
    from spark_jobs.training_set import joined_features

    labels = pairs_frame(spark, pairs, [*entity_keys, *request_inputs])
    joined, _ = joined_features(store, labels, feature_service, as_known)
    view_inputs = [i for i in enc.inputs if i in joined.columns and i not in request_inputs]
    encoded = encode_frame(joined, enc, [ROW, *view_inputs])
    versions = source_versions(spark, views, labels, as_known)
    table = encoded.join(versions, ROW, "left").toArrow()
    names = enc.names
    out: list[OfflineRow | None] = [None] * len(pairs)
    for rec in table.to_pylist():
        i = rec[ROW]
        t_us = _us(pairs[i][AS_OF])
        vers: dict[str, RowVersion | None] = {}
        statuses, detail = {}, {}
        for v in views:
            ev = rec.get(f"{v.name}__ev")
            vers[v.name] = None if ev is None else RowVersion(
                ev, rec.get(f"{v.name}__cr"), rec.get(f"{v.name}__latest"),
                rec.get(f"{v.name}__versions"))
            statuses[v.name] = _status(vers[v.name], t_us, v.ttl_us)
            detail[v.name] = statuses[v.name] if ev is None else \
                f"{statuses[v.name]} (row of {_iso(ev)})"
        raw = {k: rec[k] for k in view_inputs}
        raw.update({k: pairs[i][k] for k in request_inputs})
        out[i] = OfflineRow(Side({n: rec[n] for n in names}, statuses, raw, detail), vers)
    lost = [i for i, r in enumerate(out) if r is None]
    if lost:
        raise RuntimeError(f"the offline join returned no row for pairs {lost[:5]}; the join "
                           "must keep every entity row (is a pair duplicated?)")
    return out  # type: ignore[return-value]


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _iso(us: int) -> str:
    return (_EPOCH + timedelta(microseconds=us)).isoformat()


# --- online --------------------------------------------------------------------------------
def steps_for(times_us: Sequence[int], points_us: Sequence[int]) -> list[list[int]]:
    """Group sorted distinct as-of times so that no change point lies strictly between the
    first and the last of a group (one materialization serves the group)."""
    groups: list[list[int]] = []
    last_key = None
    for t in times_us:
        key = bisect_right(points_us, t)
        if groups and key == last_key:
            groups[-1].append(t)
        else:
            groups.append([t])
        last_key = key
    return groups


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
) -> dict[str, ParityReport]:
    """One report per online side (see module docstring).

    ``repo``: the Feast repo the online store is materialized from (its sources also give the
    as-of source rows); ``offline_repo`` (default ``repo``): the repo the training-set join
    runs on. ``enc``: the training state (``manifest.state_hash`` must be its hash when a
    manifest is given). ``online``: name -> ``factory(store)`` returning the serving object.
    """
    from feast_bridge.store import open_store
    from materialization.materialize import materialize
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
        side = offline_side(spark, store, off_store, enc, pairs, service, as_known)
        views, rows, offline = side.views, side.rows, side.offline
        entity_keys, request_inputs = side.entity_keys, side.request_inputs
        seconds["offline"] += time.perf_counter() - t0

        t1 = time.perf_counter()
        times = sorted({_us(r[AS_OF]) for r in rows})
        points = change_points(spark, views, _EPOCH, _EPOCH + timedelta(microseconds=times[-1]))
        groups = steps_for(times, points)
        client = scratch_client(store)
        sides = {name: make(store) for name, make in online.items()}
        seconds["materialize"] += time.perf_counter() - t1
        lin = lineage(enc, {v.name: v.features for v in views})
        by_time: dict[int, list[int]] = {}
        for i, r in enumerate(rows):
            by_time.setdefault(_us(r[AS_OF]), []).append(i)
        diffs: dict[str, list[Difference]] = {n: [] for n in sides}
        counts: dict[str, Counter] = {n: Counter() for n in sides}
        changed = {n: changed_encoders(enc, s.enc) for n, s in sides.items()}
        start = _EPOCH + timedelta(microseconds=min(points[0], times[0])) if points else None
        for group in groups:
            end = _EPOCH + timedelta(microseconds=group[0])
            t2 = time.perf_counter()
            materialize(store, start or end, end, count_rows=False)
            seconds["materialize"] += time.perf_counter() - t2
            start = end
            for t_us in group:
                when = _EPOCH + timedelta(microseconds=t_us)
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
            steps=len(groups))
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
    online_values = [dict(zip(online_names, r.values)) for r in got]
    differing = []
    for j, (i, enc_row) in enumerate(zip(idx, got)):
        for view, st in enc_row.statuses.items():
            counts[("online", view, st)] += 1
        off, on = offline[i].side.values, online_values[j]
        if any(not same_value(off[n], on.get(n)) for n in names):
            differing.append(j)
    out: list[Difference] = []
    if differing:
        subset = [entity_rows[j] for j in differing]
        raw_values, _ = side.lookup(subset, when)
        t_s = (when - _EPOCH).total_seconds()
        for j, raw in zip(differing, raw_values):
            i, enc_row = idx[j], got[j]
            raw = {**{k: entity_rows[j][k] for k in request_inputs}, **raw}
            online_side = Side(online_values[j],
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
