"""Load the feature tables into the online store (Redis) the way users do, and measure it.

:func:`materialize` runs Feast's own ``FeatureStore.materialize`` (or ``materialize_incremental``)
on a store or repo folder and returns a :class:`MaterializeResult`: how many entity rows
landed in Redis, how long the engine took, rows per second and the batch engine that did it.
:func:`redis_snapshot` reads every key of a Redis database (or of one Feast project) into a
plain dict, so two states of Redis can be compared byte for byte.

Two engines, chosen by ``batch_engine`` in ``feature_store.yaml``:

* **skewless' engine** (the project's default, ``materialization/redis_engine.py``): pulls through
  the Spark offline store the latest row per entity among rows with ``start <= event_timestamp <=
  end`` *and* ``created_timestamp <= end`` (as known at ``end``, the rule of the offline
  point-in-time join), writes Feast's exact bytes plus a ``_created_ts:<view>`` field, and
  overwrites when ``(event_ts, created_ts)`` is ``>=`` what Redis holds. A late restatement
  therefore lands, re-running is idempotent, an older interval after a newer one changes nothing.
* **Feast's engines** (``batch_engine: local``, the reference; ``spark.engine``), described
  next.

What Feast writes (``feast/infra/online_stores/redis.py``). One Redis hash per entity key:
the key is ``serialize_entity_key(entity) + project`` (so keys *end* with the project name);
its fields are ``_ts:<view>`` (a protobuf ``Timestamp``, the row's event time) and, per feature,
the 4-byte murmur3 hash of ``"<view>:<feature>"`` mapped to a serialized ``ValueProto`` (a null
is the empty message, ``b""``; ``UnixTimestamp`` values keep whole seconds only). Per view and
entity Feast writes the latest row of the interval (largest event timestamp, ties broken by the
created timestamp) whatever its created timestamp — so a row created after ``end`` (not yet
known then) is loaded — and by default only when that event timestamp is strictly newer than the
one already stored: re-running an interval, or an older one, changes nothing. The check ignores
the created timestamp, so a late restatement row (same event time, later created time) added to
the table after its day was materialized never reaches Redis, while the offline point-in-time
join picks it. ``online_store: {skip_dedup: true}`` drops that read-before-write (one Redis
round trip per batch instead of two): restatements then land, but an older interval materialized
after a newer one overwrites newer values. Feast's engines also store a null ``UnixTimestamp``
as ``-2**63`` (skewless' engine stores the null).

Edge cases (decided here, tested in ``tests/online/test_materialize.py``):

* Times must be timezone-aware; a naive ``datetime`` raises ``ValueError`` (Feast would read it
  as UTC, this module refuses to guess). ``start > end`` raises ``ValueError``. Both ends are
  inclusive (Feast's ``BETWEEN``).
* ``incremental=True`` takes its start from the registry (the end of the previous run of each
  view), so ``start`` must be ``None``. A view never materialized before would start at
  ``now - ttl``, which for historical data lies after ``end``: Feast would silently load
  nothing. That raises ``ValueError`` here (run a full :func:`materialize` first).
* ``rows_written`` counts entity rows whose stored fields for the view (``_ts:<view>`` and
  its feature values) are new or changed by this run, i.e. what actually landed, read back from
  Redis (a ``SCAN`` of the project's keys plus pipelined ``HMGET`` before and after, outside the
  timed section). Rows Feast rewrites with identical bytes (``skip_dedup``, re-runs) change
  nothing and are not counted. ``count_rows=False`` skips the scans (``rows_written`` is then
  ``None``).
* Spark: when the offline store is Spark, a SparkSession is started first with the offline
  store's ``spark_conf`` through :func:`spark_jobs.spark_session.get_spark` (UTC session time
  zone, ``PYSPARK_PYTHON`` = this interpreter). Feast's Spark batch engine would otherwise
  start its own session from the ``batch_engine`` block, ignoring every Spark setting of the
  YAML (its ``spark_conf`` field too, in Feast 0.67), and its Python workers would run the
  ``python3`` on ``PATH``, which may lack Feast.
* Redis not answering raises ``RuntimeError`` naming ``SKEWLESS_REDIS_HOST`` /
  ``SKEWLESS_REDIS_PORT`` and ``scripts/setup.sh``. The environment overrides are applied
  when a repo folder is passed (through ``open_store``); a ``FeatureStore`` is used as given.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from online_store.connection import checked_client
from online_store.layout import key_pattern as feast_key_pattern  # the name callers use
from online_store.watermark import batch_engine_type

__all__ = ["MaterializeResult", "feast_key_pattern", "materialize", "redis_snapshot"]

_SCAN_COUNT = 1000
_PIPELINE_CHUNK = 1000


@dataclass(frozen=True)
class MaterializeResult:
    """What one :func:`materialize` call did.

    ``rows_written``: entity rows that landed (new or changed ``_ts:<view>``), summed over the
    views; ``rows_by_view``: the same per view, as ``(view, rows)`` pairs in materialization
    order. Both are ``None`` with ``count_rows=False``. ``seconds`` is the wall time of Feast's
    call alone (not the Redis scans); ``rows_per_second`` is ``rows_written / seconds``
    (``None`` when rows were not counted). ``engine`` is the batch engine type (``"local"``,
    ``"spark.engine"``, ...). ``start`` is ``None`` for incremental runs.
    """

    engine: str
    incremental: bool
    start: datetime | None
    end: datetime
    views: tuple[str, ...]
    rows_written: int | None
    rows_by_view: tuple[tuple[str, int], ...] | None
    seconds: float
    rows_per_second: float | None


def redis_snapshot(
    client: Any,
    match: bytes | str | None = None,
    keys: Iterable[bytes | str] | None = None,
) -> dict[bytes, dict[bytes, bytes]]:
    """Every hash key → ``{field: value}`` (bytes), keys in sorted order.

    Reads the keys named by ``keys``, else every key that ``SCAN`` finds (all keys of the
    client's database, or those matching the glob ``match``, e.g. ``feast_key_pattern(...)``);
    never ``KEYS``. Values are read with pipelined ``HGETALL`` in chunks of 1000.

    Edge cases: a key missing (or deleted between the scan and the read) is left out, so a
    snapshot of nothing is ``{}``; ``match`` and ``keys`` together raise ``ValueError``; a key
    that is not a hash raises ``TypeError`` naming it (use a database of its own, or a narrower
    ``match``); a client built with ``decode_responses=True`` raises ``ValueError`` (Feast's
    fields and values are binary). Key TTLs are not part of the snapshot. The snapshot is not
    atomic: concurrent writers make it a mix of before and after.
    """
    if match is not None and keys is not None:
        raise ValueError("pass either match= or keys=, not both")
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if kwargs.get("decode_responses"):
        raise ValueError(
            "redis_snapshot needs a client with decode_responses=False: Feast's fields and "
            "values are binary"
        )
    if keys is None:
        names = list(client.scan_iter(match=match, count=_SCAN_COUNT))
    else:
        names = [k.encode("utf-8") if isinstance(k, str) else k for k in keys]
    names = sorted(set(names))
    out: dict[bytes, dict[bytes, bytes]] = {}
    for i in range(0, len(names), _PIPELINE_CHUNK):
        chunk = names[i : i + _PIPELINE_CHUNK]
        with client.pipeline(transaction=False) as pipe:
            for name in chunk:
                pipe.hgetall(name)
            values = pipe.execute(raise_on_error=False)
        for name, value in zip(chunk, values):
            if isinstance(value, Exception):
                raise TypeError(
                    f"Redis key {name!r} is not a hash ({value}); snapshot a database that "
                    "holds only Feast keys, or pass a narrower match="
                )
            if value:
                out[name] = dict(sorted(value.items()))
    return out


def materialize(
    store_or_repo: Any,
    start: datetime | None,
    end: datetime,
    incremental: bool = False,
    *,
    views: Iterable[str] | None = None,
    count_rows: bool = True,
) -> MaterializeResult:
    """Run ``feast materialize START END`` (or ``materialize-incremental END``) via Feast's
    Python API and report what landed in Redis.

    ``store_or_repo``: a ``feast.FeatureStore``, or a repo folder opened with
    ``open_store`` (environment overrides applied). ``views``: feature view names (default,
    ``None``: every view Feast would materialize; an empty list raises ``ValueError``).

    Raises ``ValueError`` for naive or inverted times, for a ``start`` with
    ``incremental=True``, for an incremental run that would load nothing because a view was
    never materialized, and for a non-Redis online store; ``RuntimeError`` when Redis does not
    answer or Java 17+ is missing; Feast's own exception when the job fails (an unknown view
    name: ``FeatureViewNotFoundException``). An incremental run whose ``end`` is not after the
    previous run's end loads nothing and returns ``rows_written == 0``, as does any window
    without rows. See the module docstring for what is counted and why Spark starts first.
    """
    store = _as_store(store_or_repo)
    end = _aware("end", end)
    if incremental:
        if start is not None:
            raise ValueError(
                "incremental=True takes its start from the registry (the end of the previous "
                "run); pass start=None, or incremental=False to give the interval"
            )
    else:
        if start is None:
            raise ValueError("start is required unless incremental=True")
        start = _aware("start", start)
        if start > end:
            raise ValueError(f"start {start.isoformat()} is after end {end.isoformat()}")

    names = None if views is None else [str(v) for v in views]
    if names is not None and not names:
        raise ValueError("views is empty: pass views=None to materialize every online view")
    client = _redis_client(store, count_rows)
    view_list = store._get_feature_views_to_materialize(names)
    if incremental:
        _check_incremental_start(view_list, end)
    _prepare_spark(store)

    project = store.config.project
    view_fields = _view_fields(store, view_list)
    before = _view_states(client, project, view_fields) if count_rows else None
    t0 = time.perf_counter()
    if incremental:
        store.materialize_incremental(end_date=end, feature_views=names)
    else:
        store.materialize(start_date=start, end_date=end, feature_views=names)
    seconds = time.perf_counter() - t0

    rows_by_view = rows_written = rate = None
    if before is not None:
        after = _view_states(client, project, view_fields)
        rows_by_view = tuple(
            (view, sum(1 for key, ts in after[view].items() if before[view].get(key) != ts))
            for view in view_fields
        )
        rows_written = sum(n for _, n in rows_by_view)
        rate = rows_written / seconds if seconds > 0 else 0.0
    return MaterializeResult(
        engine=batch_engine_type(store.config),
        incremental=incremental,
        start=start,
        end=end,
        views=tuple(view_fields),
        rows_written=rows_written,
        rows_by_view=rows_by_view,
        seconds=seconds,
        rows_per_second=rate,
    )


def _as_store(store_or_repo: Any) -> Any:
    if isinstance(store_or_repo, (str, Path)):
        from feast_bridge.store import open_store

        return open_store(Path(store_or_repo))
    if not hasattr(store_or_repo, "materialize") or not hasattr(store_or_repo, "config"):
        raise TypeError(
            f"expected a feast.FeatureStore or a feature repo folder, got {type(store_or_repo)!r}"
        )
    return store_or_repo


def _aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name}={value.isoformat()} is naive: pass a timezone-aware datetime, e.g. "
            f"{name}.replace(tzinfo=timezone.utc)"
        )
    return value.astimezone(timezone.utc)


def _redis_client(store: Any, count_rows: bool = True) -> Any:
    """A redis-py client on the store's online Redis, checked with PING. A Redis Cluster is
    accepted only with ``count_rows=False`` (counting scans one server's keys); the client is
    then Feast's cluster client."""
    config = store.config.online_store
    if getattr(config, "type", None) != "redis":
        raise ValueError(
            f"online store type is {getattr(config, 'type', None)!r}; materialize() counts rows "
            "in Redis: set online_store.type: redis in feature_store.yaml"
        )
    redis_type = getattr(config, "redis_type", "redis")
    redis_type = getattr(redis_type, "value", redis_type)
    if redis_type == "redis_cluster" and not count_rows:
        return checked_client(config)
    if redis_type != "redis":
        raise ValueError(
            f"redis_type {redis_type} is not supported with count_rows=True (keys are scanned "
            "on one server); pass count_rows=False or use redis_type: redis"
        )
    return checked_client(config, single_node=True)


def _check_incremental_start(view_list: list[Any], end: datetime) -> None:
    now = datetime.now(timezone.utc)
    for view in view_list:
        ttl = getattr(view, "ttl", None)
        if getattr(view, "most_recent_end_time", None) is None and ttl and now - ttl > end:
            raise ValueError(
                f"feature view {view.name!r} was never materialized, so Feast would start "
                f"materialize-incremental at now - ttl ({(now - ttl).isoformat()}), after end "
                f"{end.isoformat()}, and load nothing; run materialize(start, end) once first"
            )


def _prepare_spark(store: Any) -> None:
    offline = store.config.offline_store
    if getattr(offline, "type", None) != "spark":
        return
    from materialization.redis_engine import start_spark_for

    start_spark_for(offline)


def _view_fields(store: Any, view_list: list[Any]) -> dict[str, list[bytes]]:
    """view → the Redis hash fields Feast writes for it: ``_ts:<view>``, then one field per
    feature (:mod:`online_store.layout`)."""
    from online_store.layout import event_field, feature_fields, redis_view_name

    out = {}
    for view in view_list:
        name = redis_view_name(view, store.config)
        out[view.name] = [event_field(name),
                          *feature_fields(name, [f.name for f in view.features])]
    return out


def _view_states(
    client: Any, project: str, view_fields: Mapping[str, list[bytes]]
) -> dict[str, dict[bytes, bytes]]:
    """view → {key: digest of the view's stored fields} for the project's keys holding the
    view's ``_ts`` field (a 16-byte BLAKE2b digest keeps memory small on big stores)."""
    out: dict[str, dict[bytes, bytes]] = {view: {} for view in view_fields}
    if not view_fields:
        return out
    names = sorted(set(client.scan_iter(match=feast_key_pattern(project), count=_SCAN_COUNT)))
    fields = [f for per_view in view_fields.values() for f in per_view]
    for i in range(0, len(names), _PIPELINE_CHUNK):
        chunk = names[i : i + _PIPELINE_CHUNK]
        with client.pipeline(transaction=False) as pipe:
            for name in chunk:
                pipe.hmget(name, fields)
            values = pipe.execute(raise_on_error=False)
        for name, row in zip(chunk, values):
            if isinstance(row, Exception):
                continue  # not a hash: not Feast's
            pos = 0
            for view, per_view in view_fields.items():
                part = row[pos : pos + len(per_view)]
                pos += len(per_view)
                if part[0] is None:  # no _ts: the view never wrote this key
                    continue
                h = hashlib.blake2b(digest_size=16)
                for value in part:
                    if value is None:
                        h.update(b"\x00")
                    else:
                        h.update(b"\x01" + len(value).to_bytes(4, "little") + value)
                out[view][name] = h.digest()
    return out
