"""Categorical encoders: vocabulary index, one-hot, stable hash bucket, hashed cross.

Shared input policy (see :func:`encoders.values.as_category`): ``None``, ``NaN``, empty or
whitespace-only strings and non-UTF-8 bytes are *missing*; strings are stripped and
NFC-normalised; ``3``, ``3.0`` and ``"3"`` are the same category; ``True`` is ``"true"``. With
``lowercase=True`` the category is lower-cased after that. Unicode categories are ordinary
categories.

Vocabulary (fitted, :class:`VocabIndex` and :class:`OneHot` share it): categories with at least
``min_count`` occurrences in the training window, most frequent first, ties by code-point order
of the category, cut to ``top_k`` when set. A present category outside it is
*out-of-vocabulary* (OOV) — unseen in training or cut by ``min_count``/``top_k``.

Hashing never uses the built-in ``hash()`` (salted per process): buckets come from the first 8
bytes of BLAKE2b of the UTF-8 category, read little-endian, modulo ``num_buckets``. The same
category gets the same bucket in every process, on every machine, in every Python version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from encoders.base import (
    Compiled,
    EncoderSpec,
    EncoderState,
    OutputField,
    SpecError,
    StateError,
    check_positive_int,
    register,
)
from encoders.stats import Statistics, StatisticsError, StatRequest, ValueCounts
from encoders.values import as_category_cased

MISSING_INDEX = 0
OOV_INDEX = 1
_HASH_CACHE = 65536


def stable_bucket(category: str, num_buckets: int) -> int:
    """Bucket of ``category`` in ``[0, num_buckets)``: BLAKE2b-64 little-endian mod n."""
    digest = hashlib.blake2b(category.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_buckets


def fit_vocabulary(counts: ValueCounts, min_count: int, top_k: int | None) -> tuple[str, ...]:
    """Vocabulary from value counts: ``count >= min_count``, by (-count, category), top ``k``."""
    kept = sorted(((-c, v) for v, c in counts.counts.items() if c >= min_count))
    tokens = tuple(v for _, v in kept)
    return tokens if top_k is None else tokens[:top_k]


@dataclass(frozen=True)
class VocabularyState(EncoderState):
    """Fitted vocabulary, most frequent first; unique, non-empty strings."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        toks = self.tokens
        if not isinstance(toks, tuple) or not all(isinstance(t, str) and t for t in toks):
            raise StateError("VocabularyState.tokens must be a tuple of non-empty strings; re-fit")
        if len(set(toks)) != len(toks):
            raise StateError("VocabularyState.tokens has duplicates; re-fit")


@dataclass(frozen=True)
class _VocabularySpec(EncoderSpec):
    input: str
    top_k: int | None = None
    min_count: int = 1
    lowercase: bool = False

    state_type = VocabularyState

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.top_k is not None:
            check_positive_int(type(self).__name__, "top_k", self.top_k)
        check_positive_int(type(self).__name__, "min_count", self.min_count)
        if not isinstance(self.lowercase, bool):
            raise SpecError(f"{type(self).__name__}.lowercase must be True or False")

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    def requests(self) -> tuple[StatRequest, ...]:
        return (StatRequest("value_counts", self.input, coerce="category",
                            lowercase=self.lowercase),)

    def fit(self, stats: Statistics) -> VocabularyState:
        vc = stats.get(self.requests()[0])
        if not isinstance(vc, ValueCounts):
            raise StatisticsError(f"{self.name!r} needs ValueCounts, got {type(vc).__name__}")
        if not vc.counts:
            raise StatisticsError(
                f"encoder {self.name!r}: input {self.input!r} has no present values in the "
                "training window; widen the window, fix the source, or drop the encoder"
            )
        return VocabularyState(fit_vocabulary(vc, self.min_count, self.top_k))

    def check_state(self, state: EncoderState) -> None:
        super().check_state(state)
        assert isinstance(state, VocabularyState)
        if self.top_k is not None and len(state.tokens) > self.top_k:
            raise StateError(f"{self.name!r}: vocabulary of {len(state.tokens)} exceeds "
                             f"top_k={self.top_k}; the state belongs to another spec, re-fit")

    def _lookup_compiled(self, table: Mapping[str, tuple], oov: tuple,
                         missing: tuple) -> Compiled:
        key, lower = self.input, self.lowercase

        def fn(row, now):
            x = row.get(key)
            hit = table.get(x) if type(x) is str else None  # canonical form is idempotent
            if hit is not None:
                return hit
            s = as_category_cased(x, lower)
            if s is None:
                return missing
            return table.get(s, oov)

        return fn


@register
@dataclass(frozen=True)
class VocabIndex(_VocabularySpec):
    """Vocabulary position as one int64: 0 = missing, 1 = OOV, ``2 + i`` = i-th token.

    The reserved low indices do not move when the vocabulary grows (an embedding's padding
    index can stay 0). Width is 1 whatever the state.
    """

    kind = "vocab_index"

    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        return (OutputField(self.name, "int64"),)

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        assert isinstance(state, VocabularyState)
        table = {t: (i + 2,) for i, t in enumerate(state.tokens)}
        return self._lookup_compiled(table, (OOV_INDEX,), (MISSING_INDEX,))


@register
@dataclass(frozen=True)
class OneHot(_VocabularySpec):
    """One float64 column per vocabulary token (``<name>__<i>``) plus ``<name>__oov``.

    A token sets its column to 1.0; an OOV category sets ``__oov``; a missing input gives all
    zeros. (scikit-learn's ``handle_unknown="ignore"`` gives all zeros for unknown categories
    too; we flag them in ``__oov`` instead, on purpose, so unseen and missing differ.)
    """

    kind = "one_hot"

    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        assert isinstance(state, VocabularyState)
        cols = tuple(OutputField(f"{self.name}__{i}") for i in range(len(state.tokens)))
        return cols + (OutputField(f"{self.name}__oov"),)

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        assert isinstance(state, VocabularyState)
        width = len(state.tokens) + 1
        rows = [tuple(1.0 if j == i else 0.0 for j in range(width)) for i in range(width)]
        table = {t: rows[i] for i, t in enumerate(state.tokens)}
        return self._lookup_compiled(table, rows[-1], (0.0,) * width)


def _hash_fn(num_buckets: int):
    @lru_cache(maxsize=_HASH_CACHE)
    def bucket(s: str) -> tuple[int]:
        return (stable_bucket(s, num_buckets),)

    return bucket


def _cross_fn(num_buckets: int, lower: bool):
    """Bucket of a raw pair. Cached on the raw values when both are ``str`` (the mapping from
    raw strings to a bucket is a pure function), computed afresh otherwise."""
    bucket = _hash_fn(num_buckets)
    missing = (num_buckets,)

    def cross(x: object, y: object) -> tuple[int]:
        a = as_category_cased(x, lower)
        b = as_category_cased(y, lower)
        if a is None or b is None:
            return missing
        return bucket(f"{len(a)}\x1f{a}\x1f{b}")

    return lru_cache(maxsize=_HASH_CACHE)(cross), cross


@register
@dataclass(frozen=True)
class HashBucket(EncoderSpec):
    """Stable hash bucket as one int64 in ``[0, num_buckets)``; missing -> ``num_buckets``."""

    kind = "hash_bucket"
    input: str
    num_buckets: int = 1000
    lowercase: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("HashBucket", "num_buckets", self.num_buckets)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        return (OutputField(self.name, "int64"),)

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        key, lower, bucket = self.input, self.lowercase, _hash_fn(self.num_buckets)
        missing = (self.num_buckets,)

        @lru_cache(maxsize=_HASH_CACHE)
        def from_str(x: str) -> tuple[int]:
            s = as_category_cased(x, lower)
            return missing if s is None else bucket(s)

        def fn(row, now):
            x = row.get(key)
            if type(x) is str:
                return from_str(x)
            s = as_category_cased(x, lower)
            return missing if s is None else bucket(s)

        return fn


@register
@dataclass(frozen=True)
class HashedCross(EncoderSpec):
    """Stable hash bucket of the pair ``(left, right)`` as one int64 in ``[0, num_buckets)``.

    The pair is hashed as ``f"{len(a)}\\x1f{a}\\x1f{b}"`` so ``("ab", "c")`` and ``("a", "bc")``
    differ. If either side is missing the output is the reserved bucket ``num_buckets``.
    """

    kind = "hashed_cross"
    left: str
    right: str
    num_buckets: int = 1000
    lowercase: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("HashedCross", "num_buckets", self.num_buckets)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.left, self.right)

    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        return (OutputField(self.name, "int64"),)

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        left, right = self.left, self.right
        cached, uncached = _cross_fn(self.num_buckets, self.lowercase)

        def fn(row, now):
            a, b = row.get(left), row.get(right)
            if type(a) is str and type(b) is str:
                return cached(a, b)
            return uncached(a, b)

        return fn
