"""Daily feature tables computed from the facts, as of any day D (time travel), on Spark.

Snapshot rule. The row for entity ``e`` and day ``D`` (``D`` = 00:00 UTC of a date) uses
exactly the facts with ``event time < D`` and ``created_ts <= D``: what was known at D.
It carries ``event_timestamp = created_timestamp = D``. Recomputing D later from the same
(immutable) facts gives the same rows, whatever other days are computed alongside.

Restatement rule (late-arriving facts). A fact of ``e`` with ``event time < D < created_ts``
was late for D. For every distinct such ``created_ts`` value ``C`` the table gets one more row
for ``(e, D)`` with ``event_timestamp = D`` and ``created_timestamp = C``, computed from the
facts with ``event time < D`` and ``created_ts <= C``: the row as it became known at C. So
each row of the table is the answer "features of e at D, as known at created_timestamp", and
Feast's point-in-time join (latest ``created_timestamp`` among equal ``event_timestamp``)
picks the fully corrected one. A restatement row is written whenever the inputs change, even
if the outputs happen to come out equal. Entities whose only facts before D are late get only
restatement rows for D.

Which entities get rows: those with at least one fact in the version's fact set (members:
viewing events, thumbs or plan rows; titles: viewing events or thumbs). Every member has a
plan row at signup, so members get rows from the day after their signup became known.

Features (windows are ``[D - n days, D)`` on the event time; "all-time" means every fact of the
version's fact set):

``member_features`` (entity ``member_id``)
    ``watch_minutes_7d``, ``watch_minutes_28d``: sums of ``minutes_watched`` (0.0 when none).
    Each value is cast to decimal(20,6) and summed exactly, then cast to double, so results
    do not depend on partitioning or row order; a null or NaN value adds nothing.
    ``titles_started_7d``: distinct titles with a viewing event in 7 days (0 when none).
    ``completion_rate_28d``: completed / views over 28 days (null when no views).
    ``top_genre_28d``: genre with the most watched minutes over 28 days; ties go to the
    smallest genre name (code-point order, same as UTF-8 byte order); null-genre titles
    are ignored; null when no view has a genre.
    ``last_watch_ts``: latest ``start_ts`` all-time, truncated to whole seconds (null when never
    watched). Feast keeps timestamp features online as whole POSIX seconds; truncating here
    makes the offline value the one the online store can hold, so both paths agree.
    ``thumbs_up_ratio``: thumbs up / thumbs, all-time (null when no thumbs).
    ``country``: from ``members`` (static). ``plan``: the plan row with the latest
    ``event_ts`` among rows with ``event_ts < D`` and ``created_ts <= created_timestamp``
    (ties: latest ``created_ts``, then the greatest plan name); null when none.
    ``tenure_days``: whole days from ``signup_ts`` to D (floor).

``title_features`` (entity ``title_id``; rate/genre names carry a ``title_`` prefix so they
never collide with member columns in a joined training frame)
    ``title_plays_7d``: viewing events in 7 days (0 when none). ``title_completion_rate_28d``:
    completed / plays over 28 days (null when no plays). ``title_thumbs_up_rate``: ups /
    thumbs, all-time (null when none). ``title_genre`` (= ``titles.genre``), ``release_year``,
    ``maturity_rating``, ``runtime_minutes``: static attributes from ``titles`` (nullable).

Output: Parquet under ``out_dir/member_features`` and ``out_dir/title_features``, hive
partitions ``snapshot_date=YYYY-MM-DD`` (one file each), timestamps written as
TIMESTAMP_MICROS UTC. Writing replaces only the partitions of the requested days.

How it scales: one Spark job per table for all requested days. Windowed features explode each
fact to the (at most 28) snapshot days it can reach and join the versions on (entity, day);
all-time features are running totals over the days plus a small join for restatement rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    DecimalType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from demo.facts_schema import read_manifest, table_path
from demo.feature_versions import (
    PARTITION_COLUMN,
    VERSION_KEYS,
    all_time,
    explode_window,
    versions_for_days,
    with_availability,
)

SHORT_WINDOW_DAYS = 7
LONG_WINDOW_DAYS = 28
MEMBER_TABLE = "member_features"
TITLE_TABLE = "title_features"
MINUTES_DECIMAL = DecimalType(20, 6)
DAY_US = 86_400_000_000


def _schema(fields: Sequence[tuple[str, object]]) -> StructType:
    return StructType([StructField(name, dtype, True) for name, dtype in fields])  # type: ignore[arg-type]


#: Columns of ``member_features`` in order (``snapshot_date`` is the partition column).
MEMBER_FEATURES_SCHEMA = _schema(
    [
        ("member_id", LongType()),
        ("watch_minutes_7d", DoubleType()),
        ("watch_minutes_28d", DoubleType()),
        ("titles_started_7d", LongType()),
        ("completion_rate_28d", DoubleType()),
        ("top_genre_28d", StringType()),
        ("last_watch_ts", TimestampType()),
        ("thumbs_up_ratio", DoubleType()),
        ("country", StringType()),
        ("plan", StringType()),
        ("tenure_days", LongType()),
        ("event_timestamp", TimestampType()),
        ("created_timestamp", TimestampType()),
        (PARTITION_COLUMN, DateType()),
    ]
)
#: Columns of ``title_features`` in order (``snapshot_date`` is the partition column).
TITLE_FEATURES_SCHEMA = _schema(
    [
        ("title_id", LongType()),
        ("title_plays_7d", LongType()),
        ("title_completion_rate_28d", DoubleType()),
        ("title_thumbs_up_rate", DoubleType()),
        ("title_genre", StringType()),
        ("release_year", LongType()),
        ("maturity_rating", StringType()),
        ("runtime_minutes", LongType()),
        ("event_timestamp", TimestampType()),
        ("created_timestamp", TimestampType()),
        (PARTITION_COLUMN, DateType()),
    ]
)


@dataclass(frozen=True)
class FeatureTablesResult:
    """Where the tables went, for which days, and how many rows those days hold."""

    member_path: Path
    title_path: Path
    days: tuple[date, ...]
    member_rows: int
    title_rows: int


@dataclass(frozen=True)
class _Facts:
    """Fact DataFrames with ``event_ts``, ``created_ts``, ``event_date`` and ``avail_date``."""

    views: DataFrame
    thumbs: DataFrame
    plans: DataFrame
    members: DataFrame
    titles: DataFrame


def default_days(facts_dir: str | Path) -> list[date]:
    """Every snapshot day the facts support: the day after the first fact day up to the day
    after the last one (so the last snapshot sees the whole window)."""
    config = read_manifest(facts_dir)
    return [config.start + timedelta(days=i) for i in range(1, config.days + 1)]


def _check_days(days: Iterable[date]) -> list[date]:
    out = sorted(set(days))
    if not out:
        raise ValueError("no snapshot days given: pass at least one date (or None for all)")
    for day in out:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise ValueError(f"snapshot day {day!r} must be a datetime.date (00:00 UTC implied)")
    return out


def _read(spark: SparkSession, facts_dir: str | Path, table: str) -> DataFrame:
    path = table_path(facts_dir, table)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: generate facts with scripts/generate_facts.py --out {facts_dir}"
        )
    return spark.read.parquet(str(path))


def _load_facts(spark: SparkSession, facts_dir: str | Path, days: Sequence[date]) -> _Facts:
    """Read the facts that can matter for ``days`` (event date before the last day)."""
    last = F.lit(max(days))
    titles = _read(spark, facts_dir, "titles").select(
        "title_id", "genre", "release_year", "maturity_rating", "runtime_minutes"
    )
    views = (
        _read(spark, facts_dir, "viewing_events")
        .where(F.col("date") < last)
        .join(F.broadcast(titles.select("title_id", "genre")), "title_id", "left")
        .select(
            "member_id",
            "title_id",
            "genre",
            "start_ts",
            "created_ts",
            F.col("minutes_watched").try_cast(MINUTES_DECIMAL).alias("minutes_dec"),
            F.col("completed").cast("long").alias("done"),
        )
    )
    thumbs = (
        _read(spark, facts_dir, "thumbs")
        .where(F.col("date") < last)
        .select("member_id", "title_id", "event_ts", "created_ts", "thumb")
        .withColumnRenamed("event_ts", "thumb_ts")
    )
    plans = _read(spark, facts_dir, "member_plans").select(
        "member_id", "plan", F.col("event_ts").alias("plan_ts"), "created_ts"
    )
    views = with_availability(views, "start_ts").where(F.col("event_date") < last)
    thumbs = with_availability(thumbs, "thumb_ts").where(F.col("event_date") < last)
    plans = with_availability(plans, "plan_ts").where(F.col("event_date") < last)
    members = _read(spark, facts_dir, "members").select("member_id", "country", "signup_ts")
    # Materialise once (local checkpoints: blocks are freed when the frames are collected);
    # every feature below reads these several times.
    views, thumbs, plans = (df.localCheckpoint(eager=True) for df in (views, thumbs, plans))
    return _Facts(views, thumbs, plans, members, titles)


def _days_df(spark: SparkSession, days: Sequence[date]) -> DataFrame:
    return spark.createDataFrame([(d,) for d in days], f"{PARTITION_COLUMN} date")


def _ratio(numerator: str, denominator: str) -> Column:
    return F.when(F.col(denominator) > 0, F.col(numerator) / F.col(denominator))


def _member_features(spark: SparkSession, facts: _Facts, days: Sequence[date]) -> DataFrame:
    key, keys = "member_id", ["member_id", *VERSION_KEYS]
    versions = versions_for_days(
        _days_df(spark, days), key, [facts.views, facts.thumbs, facts.plans]
    )
    versions = versions.localCheckpoint(eager=True)
    first_window_day = min(days) - timedelta(days=LONG_WINDOW_DAYS)
    recent = facts.views.where(F.col("event_date") >= F.lit(first_window_day))
    pairs = explode_window(recent, versions, key, "created_ts", LONG_WINDOW_DAYS, SHORT_WINDOW_DAYS)
    short = F.col("short")
    by_genre = pairs.groupBy(*keys, "genre").agg(
        F.sum("minutes_dec").alias("m28"),
        F.sum(F.when(short, F.col("minutes_dec"))).alias("m7"),
        F.count(F.lit(1)).alias("views28"),
        F.sum("done").alias("done28"),
        F.countDistinct(F.when(short, F.col("title_id"))).alias("titles7"),
    )
    # A title has one genre, so distinct titles per genre add up to distinct titles.
    top = F.when(F.col("genre").isNotNull(), F.struct((-F.col("m28")).alias("neg"), "genre"))
    windowed = by_genre.groupBy(*keys).agg(
        F.sum("m7").alias("m7"),
        F.sum("m28").alias("m28"),
        F.sum("views28").alias("views28"),
        F.sum("done28").alias("done28"),
        F.sum("titles7").alias("titles7"),
        F.min(top).getField("genre").alias("top_genre_28d"),
    )
    history_facts = facts.views.select(
        key, "event_ts", "created_ts", "event_date", "avail_date",
        F.col("event_ts").alias("watch_ts"), F.lit(0).alias("up"), F.lit(0).alias("n"),
    ).unionByName(
        facts.thumbs.select(
            key, "event_ts", "created_ts", "event_date", "avail_date",
            F.lit(None).cast("timestamp").alias("watch_ts"),
            (F.col("thumb") == 1).cast("int").alias("up"), F.lit(1).alias("n"),
        )
    )  # fmt: skip
    history = all_time(
        key, versions, history_facts,
        {"last_watch_ts": ("max", "watch_ts"), "thumbs_up": ("sum", "up"), "thumbs": ("sum", "n")},
    )  # fmt: skip
    plan_rows = facts.plans.select(key, "plan", "plan_ts", F.col("created_ts").alias("pc"))
    plan_known = (F.col("plan_ts") < F.col("event_timestamp")) & (
        F.col("pc") <= F.col("created_timestamp")
    )
    plan = (
        versions.join(plan_rows, key)
        .where(plan_known)
        .groupBy(*keys)
        .agg(F.max(F.struct("plan_ts", "pc", "plan")).getField("plan").alias("plan"))
    )
    elapsed = F.unix_micros("event_timestamp") - F.unix_micros("signup_ts")
    tenure = ((elapsed - F.pmod(elapsed, F.lit(DAY_US))) / F.lit(DAY_US)).cast("long")
    zero = F.lit(0)
    out = (
        versions.join(windowed, keys, "left")
        .join(history, keys, "left")
        .join(plan, keys, "left")
        .join(facts.members, key, "left")
        .select(
            F.col(key).cast("long"),
            _or_zero("m7", zero.cast(MINUTES_DECIMAL)).cast("double").alias("watch_minutes_7d"),
            _or_zero("m28", zero.cast(MINUTES_DECIMAL)).cast("double").alias("watch_minutes_28d"),
            _or_zero("titles7", zero).cast("long").alias("titles_started_7d"),
            _ratio("done28", "views28").alias("completion_rate_28d"),
            "top_genre_28d",
            F.date_trunc("second", "last_watch_ts").alias("last_watch_ts"),
            _ratio("thumbs_up", "thumbs").alias("thumbs_up_ratio"),
            "country",
            "plan",
            tenure.alias("tenure_days"),
            "event_timestamp",
            "created_timestamp",
            PARTITION_COLUMN,
        )
    )
    return _conform(out, MEMBER_FEATURES_SCHEMA)


def _title_features(spark: SparkSession, facts: _Facts, days: Sequence[date]) -> DataFrame:
    key, keys = "title_id", ["title_id", *VERSION_KEYS]
    versions = versions_for_days(_days_df(spark, days), key, [facts.views, facts.thumbs])
    versions = versions.localCheckpoint(eager=True)
    first_window_day = min(days) - timedelta(days=LONG_WINDOW_DAYS)
    # On-time facts (created by the next midnight) belong to every version that can see them,
    # so they pre-aggregate per day under one stand-in created key; late facts keep their own.
    on_time = F.col("avail_date") == F.date_add("event_date", 1)
    created_key = F.when(on_time, F.col("avail_date").cast("timestamp")).otherwise(
        F.col("created_ts")
    )
    daily = (
        facts.views.where(F.col("event_date") >= F.lit(first_window_day))
        .groupBy(key, "event_date", created_key.alias("created_key"))
        .agg(F.count(F.lit(1)).alias("plays"), F.sum("done").alias("done"))
    )
    pairs = explode_window(daily, versions, key, "created_key", LONG_WINDOW_DAYS, SHORT_WINDOW_DAYS)
    windowed = pairs.groupBy(*keys).agg(
        F.sum(F.when(F.col("short"), F.col("plays"))).alias("plays7"),
        F.sum("plays").alias("plays28"),
        F.sum("done").alias("done28"),
    )
    history_facts = facts.thumbs.select(
        key, "event_ts", "created_ts", "event_date", "avail_date",
        (F.col("thumb") == 1).cast("int").alias("up"), F.lit(1).alias("n"),
    )  # fmt: skip
    history = all_time(
        key, versions, history_facts, {"thumbs_up": ("sum", "up"), "thumbs": ("sum", "n")}
    )
    out = (
        versions.join(windowed, keys, "left")
        .join(history, keys, "left")
        .join(F.broadcast(facts.titles), key, "left")
        .select(
            F.col(key).cast("long"),
            _or_zero("plays7", F.lit(0)).cast("long").alias("title_plays_7d"),
            _ratio("done28", "plays28").alias("title_completion_rate_28d"),
            _ratio("thumbs_up", "thumbs").alias("title_thumbs_up_rate"),
            F.col("genre").alias("title_genre"),
            F.col("release_year").cast("long"),
            "maturity_rating",
            F.col("runtime_minutes").cast("long"),
            "event_timestamp",
            "created_timestamp",
            PARTITION_COLUMN,
        )
    )
    return _conform(out, TITLE_FEATURES_SCHEMA)


def _conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Exactly ``schema``: names, order, types, and every column nullable (as read back)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def _or_zero(name: str, zero: Column) -> Column:
    """``name``, or ``zero`` when null. Unlike coalesce, the result stays nullable in the
    schema, so computed frames have the schema Parquet files read back with."""
    return F.when(F.col(name).isNull(), zero).otherwise(F.col(name))


def compute_member_features_as_of(
    spark: SparkSession, facts_dir: str | Path, day: date
) -> DataFrame:
    """All ``member_features`` rows of snapshot ``day`` (base rows and restatements), computed
    now from the facts: equal, row for row, to what ``build_feature_tables`` stored for it."""
    days = _check_days([day])
    return _member_features(spark, _load_facts(spark, facts_dir, days), days)


def compute_title_features_as_of(
    spark: SparkSession, facts_dir: str | Path, day: date
) -> DataFrame:
    """All ``title_features`` rows of snapshot ``day`` (see ``compute_member_features_as_of``)."""
    days = _check_days([day])
    return _title_features(spark, _load_facts(spark, facts_dir, days), days)


def _write(df: DataFrame, path: Path, key: str) -> None:
    (
        df.repartition(PARTITION_COLUMN)
        .sortWithinPartitions(PARTITION_COLUMN, key, "created_timestamp")
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(PARTITION_COLUMN)
        .parquet(str(path))
    )


def read_feature_table(
    spark: SparkSession, path: str | Path, days: Sequence[date] | None = None
) -> DataFrame:
    """Read a stored feature table (optionally only some snapshot days)."""
    df = spark.read.parquet(str(path))
    if days is not None:
        df = df.where(F.col(PARTITION_COLUMN).isin(list(days)))
    return df


def build_feature_tables(
    spark: SparkSession,
    facts_dir: str | Path,
    out_dir: str | Path,
    days: Sequence[date] | None = None,
) -> FeatureTablesResult:
    """Compute and write ``member_features`` and ``title_features`` for ``days``
    (default: ``default_days(facts_dir)``): one pass per table covers all days.

    Existing partitions of other days under ``out_dir`` are kept; those of ``days`` replaced.
    Raises ValueError for an empty or non-date ``days`` and FileNotFoundError for missing facts.
    """
    chosen = _check_days(default_days(facts_dir) if days is None else days)
    out = Path(out_dir)
    facts = _load_facts(spark, facts_dir, chosen)
    member_path, title_path = out / MEMBER_TABLE, out / TITLE_TABLE
    _write(_member_features(spark, facts, chosen), member_path, "member_id")
    _write(_title_features(spark, facts, chosen), title_path, "title_id")
    return FeatureTablesResult(
        member_path=member_path,
        title_path=title_path,
        days=tuple(chosen),
        member_rows=stored_rows(member_path, chosen),
        title_rows=stored_rows(title_path, chosen),
    )


def stored_rows(path: str | Path, days: Sequence[date]) -> int:
    """Rows a stored feature table holds for ``days``, read from the Parquet footers of their
    partitions (no Spark job); a day without a partition counts 0."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(f).num_rows for day in days
               for f in (Path(path) / f"{PARTITION_COLUMN}={day.isoformat()}").glob("*.parquet"))
