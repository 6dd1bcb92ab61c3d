"""skewless encoders: one pure-Python definition of every feature transformation.

Standard library only. The offline (Spark) path, the Feast on-demand views and the online
server all call this code unchanged. Typical use::

    from encoders import ZScore, OneHot, stat_requests, collect_statistics, fit, save

    specs = [ZScore("amount_z", input="amount"), OneHot("channel_oh", input="channel")]
    stats = collect_statistics(rows, stat_requests(specs))   # or the Spark collector
    enc = fit(specs, stats)
    enc.encode_vector(row, request_time=now)
    save(enc, "encoder_set.json")                             # enc.content_hash identifies it
"""

from encoders.base import (
    EncoderSpec,
    EncoderState,
    NoState,
    OutputField,
    SpecError,
    StateError,
    kind_classes,
)
from encoders.boolean import Indicator
from encoders.buckets import Buckets, QuantileBuckets, QuantileBucketsState
from encoders.categorical import (
    HashBucket,
    HashedCross,
    OneHot,
    VocabIndex,
    VocabularyState,
    stable_bucket,
)
from encoders.collect import collect_statistics
from encoders.encoder_set import EncoderSet, FittedEncoder, fit, stat_requests
from encoders.numeric import Clip, Log1p, MinMax, MinMaxState, Numeric, ZScore, ZScoreState
from encoders.state_io import dumps, load, loads, save, specs_dumps, specs_loads
from encoders.stats import (
    ExactSums,
    Moments,
    Quantiles,
    Statistics,
    StatisticsError,
    StatRequest,
    ValueCounts,
)
from encoders.temporal import Cyclical, TimeSince
from encoders.values import as_category, as_epoch_micros, as_epoch_seconds, as_number, as_utc

__all__ = [
    "Buckets",
    "Clip",
    "Cyclical",
    "EncoderSet",
    "EncoderSpec",
    "EncoderState",
    "ExactSums",
    "FittedEncoder",
    "HashBucket",
    "HashedCross",
    "Indicator",
    "Log1p",
    "MinMax",
    "MinMaxState",
    "Moments",
    "NoState",
    "Numeric",
    "OneHot",
    "OutputField",
    "QuantileBuckets",
    "QuantileBucketsState",
    "Quantiles",
    "SpecError",
    "StatRequest",
    "StateError",
    "Statistics",
    "StatisticsError",
    "TimeSince",
    "ValueCounts",
    "VocabIndex",
    "VocabularyState",
    "ZScore",
    "ZScoreState",
    "as_category",
    "as_epoch_micros",
    "as_epoch_seconds",
    "as_number",
    "as_utc",
    "collect_statistics",
    "dumps",
    "fit",
    "kind_classes",
    "load",
    "loads",
    "save",
    "specs_dumps",
    "specs_loads",
    "stable_bucket",
    "stat_requests",
]
