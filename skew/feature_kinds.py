"""Which encoded outputs are numeric and which are categorical, decided by the encoder kind.

The kind of the encoder that produced an output decides, never the values:

* **categorical** — ``one_hot`` (each 0/1 column), ``vocab_index``, ``hash_bucket``,
  ``hashed_cross``, ``buckets``, ``quantile_buckets`` (indices), ``indicator`` (0/1), and every
  ``<name>__missing`` indicator column a numeric kind adds;
* **numeric** — ``numeric``, ``clip``, ``log1p``, ``zscore``, ``minmax``, ``time_since``,
  ``cyclical`` (sin/cos).

An encoder kind missing from both tables (one registered after this module was written) falls
back to its output dtype — ``int64`` categorical, ``float64`` numeric — and the result says so
(``basis``), so the report shows the guess; ``tests/skew`` checks that every registered kind is
in a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from encoders import EncoderSet
from encoders.base import MISSING_SUFFIX
from skew.distribution import FeatureKind

CATEGORICAL_KINDS = frozenset({"one_hot", "vocab_index", "hash_bucket", "hashed_cross",
                               "buckets", "quantile_buckets", "indicator"})
NUMERIC_KINDS = frozenset({"numeric", "clip", "log1p", "zscore", "minmax", "time_since",
                           "cyclical"})


@dataclass(frozen=True)
class OutputKind:
    """One encoded output column: its name, numeric or categorical, the encoder that made it
    and on what basis the kind was chosen (``encoder kind``, ``missing indicator`` or
    ``dtype fallback``)."""

    name: str
    kind: FeatureKind
    encoder: str
    encoder_kind: str
    basis: str


def output_kinds(enc: EncoderSet) -> tuple[OutputKind, ...]:
    """One :class:`OutputKind` per output of ``enc``, in schema order."""
    out: list[OutputKind] = []
    for fitted in enc.encoders:
        spec = fitted.spec
        for field in fitted.outputs:
            if field.name == spec.name + MISSING_SUFFIX:
                kind, basis = "categorical", "missing indicator"
            elif spec.kind in CATEGORICAL_KINDS:
                kind, basis = "categorical", "encoder kind"
            elif spec.kind in NUMERIC_KINDS:
                kind, basis = "numeric", "encoder kind"
            else:
                kind = "categorical" if field.dtype == "int64" else "numeric"
                basis = "dtype fallback"
            out.append(OutputKind(field.name, kind, spec.name, spec.kind, basis))
    return tuple(out)
