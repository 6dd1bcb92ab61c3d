"""Unit tests for vocabulary, one-hot, hash bucket and hashed cross."""

from __future__ import annotations

import hashlib

import pytest

from encoders import (
    HashBucket,
    HashedCross,
    OneHot,
    SpecError,
    StateError,
    VocabIndex,
    VocabularyState,
    collect_statistics,
    fit,
    stable_bucket,
    stat_requests,
)

PINNED = {"Drama": 728465, "Télénovela": 272620, "": 42724}
DATA = ["b"] * 3 + ["a"] * 3 + ["c"] * 2 + ["d"] + [None, "", float("nan")]


def fit_on(spec, values=DATA):
    return fit([spec], collect_statistics([{"g": v} for v in values], stat_requests([spec])))


def test_vocabulary_order_is_count_then_code_point() -> None:
    enc = fit_on(VocabIndex("v", input="g"))
    assert enc.encoders[0].state == VocabularyState(("a", "b", "c", "d"))


def test_vocab_index_reserves_missing_and_oov() -> None:
    enc = fit_on(VocabIndex("v", input="g", min_count=2))
    assert enc.encoders[0].state.tokens == ("a", "b", "c")
    got = [enc.encode_values({"g": v})[0] for v in ("a", "b", "c", "d", "new", None, "")]
    assert got == [2, 3, 4, 1, 1, 0, 0]


def test_top_k_cuts_the_vocabulary() -> None:
    enc = fit_on(VocabIndex("v", input="g", top_k=2))
    assert enc.encoders[0].state.tokens == ("a", "b")


def test_lowercase_applies_when_fitting_and_encoding() -> None:
    enc = fit_on(VocabIndex("v", input="g", lowercase=True), ["US", "us", "Br"])
    assert enc.encoders[0].state.tokens == ("us", "br")
    assert enc.encode_values({"g": "uS"}) == [2]


def test_one_hot_columns_oov_and_missing() -> None:
    enc = fit_on(OneHot("o", input="g", top_k=2))
    assert enc.names == ("o__0", "o__1", "o__oov")
    assert enc.encode_values({"g": "a"}) == [1.0, 0.0, 0.0]
    assert enc.encode_values({"g": "b"}) == [0.0, 1.0, 0.0]
    assert enc.encode_values({"g": "c"}) == [0.0, 0.0, 1.0]  # cut by top_k: out of vocabulary
    assert enc.encode_values({"g": None}) == [0.0, 0.0, 0.0]


def test_stable_bucket_is_pinned() -> None:
    # BLAKE2b-64 little-endian mod n, restated independently, and pinned: a model trained on
    # buckets must find the same buckets after any upgrade.
    for s in ("Drama", "Télénovela", ""):
        digest = hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest()
        assert stable_bucket(s, 1 << 20) == int.from_bytes(digest, "little") % (1 << 20)
    pinned = {s: stable_bucket(s, 1 << 20) for s in ("Drama", "Télénovela", "")}
    assert pinned == PINNED


def test_hash_bucket_range_and_missing() -> None:
    enc = fit_on(HashBucket("h", input="g", num_buckets=10))
    assert enc.encode_values({"g": "a"}) == [stable_bucket("a", 10)]
    assert enc.encode_values({"g": "  a "}) == [stable_bucket("a", 10)]
    assert enc.encode_values({"g": None}) == [10]


def test_hashed_cross_is_order_and_boundary_sensitive() -> None:
    spec = HashedCross("x", left="a", right="b", num_buckets=1 << 30)
    enc = fit([spec], collect_statistics([], ()))
    ab_c = enc.encode_values({"a": "ab", "b": "c"})
    a_bc = enc.encode_values({"a": "a", "b": "bc"})
    assert ab_c != a_bc
    assert enc.encode_values({"a": "c", "b": "ab"}) != ab_c
    assert enc.encode_values({"a": None, "b": "c"}) == [1 << 30]
    assert enc.encode_values({"a": "x", "b": ""}) == [1 << 30]
    assert enc.encode_values({"a": 3, "b": "c"}) == enc.encode_values({"a": "3.0", "b": "c"}) \
        or enc.encode_values({"a": 3, "b": "c"}) == enc.encode_values({"a": "3", "b": "c"})


def test_invalid_vocabulary_specs_and_states() -> None:
    with pytest.raises(SpecError, match="top_k"):
        VocabIndex("v", input="g", top_k=0)
    with pytest.raises(SpecError, match="min_count"):
        OneHot("v", input="g", min_count=0)
    with pytest.raises(StateError, match="duplicates"):
        VocabularyState(("a", "a"))
    with pytest.raises(StateError, match="non-empty strings"):
        VocabularyState(("a", ""))
    with pytest.raises(StateError, match="exceeds top_k"):
        VocabIndex("v", input="g", top_k=1).compile(VocabularyState(("a", "b")))
