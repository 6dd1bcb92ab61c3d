"""The ranking model: a logistic regression over the encoded vector, stored as JSON (standard
library only, so training, serving and the skew checks share one definition of scoring).

A model is only as good as the inputs it was trained on, so it records the encoder-state hash
of its training set (``state_hash``) and the vector's column names; the server refuses a model
whose hash differs from the published state. Scoring is a dot product in plain Python — no
scikit-learn at serving time, and no pickle anywhere.
"""

from __future__ import annotations

import json
import math
import operator
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path

from encoders import StateError


@dataclass(frozen=True)
class LinearModel:
    """``sigmoid(intercept + Σ coef_i · x_i)`` over the vector columns ``names`` (the float64
    columns of the encoded vector: index outputs — vocabulary, hash and bucket ids — are
    categories, not magnitudes, so a linear model leaves them out)."""

    model_id: str
    state_hash: str
    names: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    trained_on: str = ""

    def __post_init__(self) -> None:
        if len(self.names) != len(self.coef):
            raise StateError(f"model {self.model_id!r} has {len(self.coef)} coefficients for "
                             f"{len(self.names)} columns; retrain it")
        if not all(math.isfinite(c) for c in (*self.coef, self.intercept)):
            raise StateError(f"model {self.model_id!r} has non-finite coefficients; retrain it")

    def score(self, vector: Sequence[float]) -> float:
        """Probability for a vector holding exactly the model's columns, in order."""
        return _sigmoid(self.intercept + math.fsum([c * x for c, x in zip(self.coef, vector)]))

    def bind(self, schema_names: Sequence[str]) -> Callable[[Sequence[float]], float]:
        """A scorer for full encoded vectors laid out as ``schema_names``; raises naming the
        fix when a model column is absent (the model was trained on another encoder set)."""
        positions = self._positions(schema_names)
        coef, intercept, fsum, mul = self.coef, self.intercept, math.fsum, operator.mul
        if not positions:
            return lambda vector: _sigmoid(intercept)
        pick = operator.itemgetter(*positions)
        if len(positions) == 1:
            only = positions[0]
            return lambda vector: _sigmoid(intercept + coef[0] * vector[only])

        def score(vector: Sequence[float]) -> float:  # == self.score on the model's columns
            return _sigmoid(intercept + fsum(map(mul, coef, pick(vector))))

        return score

    def bind_many(self, schema_names: Sequence[str]
                  ) -> Callable[[Sequence[Sequence[float]]], list[float]]:
        """A scorer of a batch of full vectors (``schema_names`` as in :meth:`bind`) giving
        exactly ``[bind(schema_names)(v) for v in vectors]``, faster when columns hold one
        value across the batch (a ranking's query side: the same non-candidate keys in every row).

        Exact: the products of the batch-constant columns are summed once into a few floats
        whose real sum *is* the sum of those products (:func:`_exact_terms`), and each row's
        ``fsum`` — correctly rounded — takes them in place of those products, so it rounds the
        same real number. A batch of fewer than 4 rows, or whose constant products or their
        sum are not finite (``fsum``'s own rules for inf and nan then apply), is
        scored row by row, and so is a batch where ``fsum`` meets an intermediate overflow.
        ``0.0`` and ``-0.0`` count as one value: their products differ
        only in the sign of a zero, which cannot change a sum that is not zero, and the
        sigmoid of ``±0`` is 0.5 either way."""
        one = self.bind(schema_names)
        positions = self._positions(schema_names)
        if len(positions) < 2:
            return lambda vectors: [one(v) for v in vectors]
        coef, intercept, fsum, mul = self.coef, self.intercept, math.fsum, operator.mul
        exp = math.exp

        def score_many(vectors: Sequence[Sequence[float]]) -> list[float]:
            n = len(vectors)
            if n < 4:
                return [one(v) for v in vectors]
            columns = list(zip(*vectors))
            same = [j for j, p in enumerate(positions)
                    if columns[p].count(columns[p][0]) == n]
            shared = _exact_terms([coef[j] * columns[positions[j]][0] for j in same]
                                  ) if same else None
            if shared is None:  # no constant column, or a non-finite constant product
                return [one(v) for v in vectors]
            constant = set(same)
            rest = [j for j in range(len(positions)) if j not in constant]
            rest_coef = [coef[j] for j in rest]
            if len(rest) > 1:
                rest_pick = operator.itemgetter(*(positions[j] for j in rest))
            else:  # itemgetter of one position gives a value, not a tuple; of none, an error
                rest_pick = (lambda v: ()) if not rest else (lambda v, p=positions[rest[0]]:
                                                              (v[p],))
            try:
                zs = [intercept + fsum(chain(shared, map(mul, rest_coef, rest_pick(v))))
                      for v in vectors]
            except OverflowError:  # fsum's intermediate overflow: as the rows alone do
                return [one(v) for v in vectors]
            return [1.0 / (1.0 + exp(-z)) if z >= 0 else exp(z) / (1.0 + exp(z))
                    for z in zs]  # _sigmoid, inline

        return score_many

    def _positions(self, schema_names: Sequence[str]) -> list[int]:
        index = {n: i for i, n in enumerate(schema_names)}
        absent = [n for n in self.names if n not in index]
        if absent:
            raise StateError(f"model {self.model_id!r} uses columns {absent[:5]} that the "
                             "encoder set does not produce; retrain it on a current training set")
        return [index[n] for n in self.names]

    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, p)
        return p

    @staticmethod
    def load(path: str | os.PathLike[str]) -> LinearModel:
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            return LinearModel(model_id=d["model_id"], state_hash=d["state_hash"],
                               names=tuple(d["names"]), coef=tuple(float(c) for c in d["coef"]),
                               intercept=float(d["intercept"]), trained_on=d.get("trained_on", ""))
        except FileNotFoundError:
            raise StateError(f"no model at {p}; train one: scripts/train_model.py") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"model file {p} is not a skewless model ({exc}); retrain it with "
                             "scripts/train_model.py") from None


def _exact_terms(values: Sequence[float]) -> list[float] | None:
    """A few floats whose exact (real) sum is the exact sum of ``values``, or ``None`` when a
    value is not finite or a sum overflows.

    Each term is ``fsum`` (correctly rounded) of ``values`` minus the terms before it, until
    that residual is exactly zero: ``fsum`` gives ``0.0`` only for an exact sum of zero (a
    sum of floats is a multiple of the smallest subnormal, which rounds to no less than it).
    Each residual is at most half an ulp of the term before, so there are at most ~40
    terms from the largest double down to the smallest (typically one or two)."""
    terms: list[float] = []
    rest = list(values)
    for _ in range(64):
        try:
            s = math.fsum(rest)
        except (OverflowError, ValueError):  # an intermediate overflow; inf - inf
            return None
        if not math.isfinite(s):
            return None
        if s == 0.0:
            return terms
        terms.append(s)
        rest.append(-s)
    return None


def _sigmoid(z: float) -> float:
    """The logistic function, without overflow for large ``|z|``."""
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
