"""Per-statistic thresholds with per-feature overrides, from a small TOML or JSON file.

Defaults (a feature is *over threshold* when a statistic is strictly greater):

* ``js = 0.1`` — Jensen–Shannon divergence in bits. With 10 equal-width bins, a normal
  feature whose serving mean moves by 0.5 standard deviations scores ≈ 0.040, by 1 sd ≈ 0.149
  (measured, 200k rows a side; ``tests/skew/test_distribution.py`` pins them): 0.1 flags a
  shift of about 0.8 sd, far above the sampling noise of 2,000 served rows against 5,000
  training rows (median 0.0013, largest of 50 draws 0.0025).
* ``psi = 0.2`` — the usual credit-scoring rule of thumb: below 0.1 no change, 0.1–0.25 a
  moderate change, above 0.25 a major one. The same 0.5 / 1 sd shifts score ≈ 0.23 / 0.92, so
  PSI flags from about 0.47 sd (sampling noise as above: median 0.007, largest 0.014).
* ``linf = 0.1`` — the most-changed category gained or lost 10 percentage points of the
  population. Sampling noise of one category's share is at most sqrt(0.25 / n), 0.011 for
  n = 2,000 served rows, so 0.1 is about 9 standard errors away.

**Not judged.** A served sample that cannot represent the traffic is not compared with the
thresholds at all: the report says *not judged* and why, instead of *over threshold*, and the
command does not exit 1 for it. Minimums (``[sample]``; each must be reached):

* ``min_rows = 500`` served rows read: below, sampling noise alone moves JS/PSI/L-inf towards
  the thresholds (one category's share has a standard error up to sqrt(0.25 / n): 0.022 at
  n = 500, a fifth of the L-inf threshold; ten times that at n = 5);
* ``min_entities = 50`` distinct values of *each* join key: a sample of one user × 100
  items shows that user's features, not the population's (every output of the user's views
  is one value);
* ``min_request_times = 10`` distinct request times: features of the request time (hour,
  weekday, time since an event) take one value per instant.

File format (``.toml`` or ``.json``, same structure; TOML needs Python 3.11+)::

    [defaults]                              # optional: replaces the built-in defaults
    js = 0.1
    psi = 0.2
    linf = 0.1

    [sample]                                # optional: the not-judged minimums
    min_rows = 500
    min_entities = 50
    min_request_times = 10

    [features]
    orders_7d_log = { psi = 0.3 }           # an output name
    "channel_oh__*" = { linf = 0.15 }       # or an fnmatch pattern over output names

Resolution for an output: the defaults, then every matching pattern in file order, then its
exact name. A name or pattern that matches no output, an unknown statistic, a statistic that
does not apply to any matched output (``linf`` on a numeric one), or a negative/NaN value is an
error naming the fix. ``inf`` (TOML) disables a statistic.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skew.distribution import FeatureKind

STATISTICS: dict[FeatureKind, tuple[str, ...]] = {"numeric": ("js", "psi"),
                                                  "categorical": ("linf",)}
DEFAULTS: dict[str, float] = {"js": 0.1, "psi": 0.2, "linf": 0.1}
_ALL = tuple(DEFAULTS)
SAMPLE_DEFAULTS: dict[str, int] = {"min_rows": 500, "min_entities": 50,
                                   "min_request_times": 10}


class ThresholdConfigError(ValueError):
    """The thresholds file is unreadable or invalid; the message names the fix."""


@dataclass(frozen=True)
class ThresholdConfig:
    """Defaults per statistic plus ``(name or pattern, {statistic: value})`` overrides."""

    defaults: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULTS))
    overrides: tuple[tuple[str, Mapping[str, float]], ...] = ()
    source: str = "built-in defaults"
    sample: Mapping[str, int] = field(default_factory=lambda: dict(SAMPLE_DEFAULTS))

    def __post_init__(self) -> None:
        _check_sample(self.sample, "sample")
        _check_values(self.defaults, "defaults")
        for key, values in self.overrides:
            _check_values(values, f"features.{key}")

    def resolve(self, name: str, kind: FeatureKind) -> dict[str, float]:
        """The thresholds of output ``name`` of ``kind`` (only the statistics of that kind)."""
        merged = dict(self.defaults)
        exact = [v for k, v in self.overrides if k == name]
        for key, values in self.overrides:
            if key != name and _is_pattern(key) and fnmatch.fnmatchcase(name, key):
                merged.update(values)
        for values in exact:
            merged.update(values)
        return {s: merged[s] for s in STATISTICS[kind]}

    def check_outputs(self, outputs: Iterable[tuple[str, FeatureKind]]) -> None:
        """Raise :class:`ThresholdConfigError` for an override matching no output or setting
        a statistic none of its matched outputs has."""
        kinds = dict(outputs)
        for key, values in self.overrides:
            matched = [n for n in kinds if n == key or (_is_pattern(key)
                                                        and fnmatch.fnmatchcase(n, key))]
            if not matched:
                raise ThresholdConfigError(
                    f"{self.source}: features.{key!r} matches no encoded output; use one of "
                    f"{sorted(kinds)} or an fnmatch pattern over them")
            usable = {s for n in matched for s in STATISTICS[kinds[n]]}
            wrong = sorted(set(values) - usable)
            if wrong:
                raise ThresholdConfigError(
                    f"{self.source}: features.{key!r} sets {wrong} but its outputs "
                    f"{matched[:5]} only have {sorted(usable)} (numeric outputs: js, psi; "
                    "categorical: linf); remove those keys")


def exceeded(statistics: Mapping[str, float], thresholds: Mapping[str, float]
             ) -> tuple[str, ...]:
    """The statistics strictly greater than their threshold, in ``statistics`` order."""
    return tuple(s for s, v in statistics.items() if s in thresholds and v > thresholds[s])


def load_thresholds(path: str | os.PathLike[str] | None) -> ThresholdConfig:
    """The config in ``path`` (``.toml`` or ``.json``), or the defaults for ``None``."""
    if path is None:
        return ThresholdConfig()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ThresholdConfigError(f"cannot read thresholds file {p} ({exc.strerror}); pass "
                                   "an existing .toml or .json file") from None
    doc = _parse(p, text)
    if not isinstance(doc, dict):
        raise ThresholdConfigError(f"{p}: the top level must be a table/object with "
                                   "'defaults' and/or 'features'")
    unknown = sorted(set(doc) - {"defaults", "features", "sample"})
    if unknown:
        raise ThresholdConfigError(f"{p}: unknown top-level keys {unknown}; use 'defaults', "
                                   "'features' and 'sample'")
    sample = doc.get("sample", {})
    if not isinstance(sample, dict):
        raise ThresholdConfigError(f"{p}: 'sample' must be a table like {{ min_rows = 500 }}")
    _check_sample(sample, f"{p}: sample")
    defaults = {**DEFAULTS, **_table(doc.get("defaults", {}), f"{p}: defaults")}
    features = doc.get("features", {})
    if not isinstance(features, dict):
        raise ThresholdConfigError(f"{p}: 'features' must map output names to tables like "
                                   "{ psi = 0.3 }")
    overrides = tuple((str(k), _table(v, f"{p}: features.{k}")) for k, v in features.items())
    try:
        return ThresholdConfig(defaults, overrides, source=str(p),
                               sample={**SAMPLE_DEFAULTS, **sample})
    except ThresholdConfigError as exc:
        raise ThresholdConfigError(f"{p}: {exc}") from None


def _parse(p: Path, text: str) -> Any:
    if p.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ThresholdConfigError(f"{p} is not valid JSON ({exc}); fix the syntax") from None
    if p.suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise ThresholdConfigError(f"{p}: reading TOML needs Python 3.11+; write the same "
                                       "structure as JSON") from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ThresholdConfigError(f"{p} is not valid TOML ({exc}); fix the syntax") from None
    raise ThresholdConfigError(f"{p}: unknown thresholds file type {p.suffix!r}; use .toml or "
                               ".json")


def _table(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ThresholdConfigError(f"{where} must be a table like {{ js = 0.1 }}, got "
                                   f"{type(value).__name__}")
    _check_values(value, where)
    return {k: float(v) for k, v in value.items()}


def _check_values(values: Mapping[str, Any], where: str) -> None:
    for key, v in values.items():
        if key not in _ALL:
            raise ThresholdConfigError(f"{where}: unknown statistic {key!r}; use {list(_ALL)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or v < 0:
            raise ThresholdConfigError(f"{where}.{key}={v!r} must be a number >= 0 (inf "
                                       "disables it)")


def _check_sample(values: Mapping[str, Any], where: str) -> None:
    for key, v in values.items():
        if key not in SAMPLE_DEFAULTS:
            raise ThresholdConfigError(f"{where}: unknown minimum {key!r}; use "
                                       f"{list(SAMPLE_DEFAULTS)}")
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ThresholdConfigError(f"{where}.{key}={v!r} must be a whole number >= 0 "
                                       "(0 judges every sample)")


def not_judged(rows: int, request_times: int | None, entities: Iterable[tuple[str, int]],
               minimums: Mapping[str, int], cap: int) -> tuple[str, ...]:
    """Why a served sample of ``rows`` rows, ``request_times`` distinct request times
    (``None``: unknown) and ``entities`` (join key, distinct values) is not judged against
    ``minimums`` (see the module docstring); ``()`` when it is judged. Counts equal to ``cap``
    mean "at least" and always pass a minimum up to ``cap``."""
    out = []
    if rows < minimums["min_rows"]:
        out.append(f"{rows:,} served rows (fewer than {minimums['min_rows']:,})")
    for key, n in entities:
        if n < min(minimums["min_entities"], cap):
            out.append(f"{n:,} distinct {key} (fewer than {minimums['min_entities']:,}): the "
                       f"sample shows those entities, not the traffic")
    if request_times is not None and request_times < min(minimums["min_request_times"], cap):
        out.append(f"{request_times:,} request time{'s' if request_times != 1 else ''} (fewer "
                   f"than {minimums['min_request_times']:,}): request-time features take one "
                   "value per instant")
    return tuple(out)


def _is_pattern(key: str) -> bool:
    return any(c in key for c in "*?[")
