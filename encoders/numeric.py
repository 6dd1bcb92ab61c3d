"""Numeric encoders: passthrough, clip, log1p, z-score, min-max.

Shared input policy (see :func:`encoders.values.as_number`): ``None``, ``NaN``, ``±inf``,
unparseable strings and non-numeric objects are *missing*; ``bool`` is 1.0/0.0; ints and numeric
strings are read as doubles. A missing input produces the spec's ``fill`` — a value in *output*
space, written to the output column as is — and, when ``missing_indicator`` is set, 1.0 in the
extra column ``<name>__missing`` (0.0 otherwise). Outputs are always finite float64: a result
that would overflow to ±inf (e.g. a z-score of 1e308) saturates at ±1.7976931348623157e308.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

from encoders.base import (
    Compiled,
    EncoderSpec,
    EncoderState,
    OutputField,
    SpecError,
    StateError,
    check_finite,
    missing_field,
    register,
)
from encoders.stats import Moments, Statistics, StatisticsError, StatRequest
from encoders.values import as_number

Transform = Callable[[float], float]
_MAX = sys.float_info.max


def saturate(r: float) -> float:
    """Map an overflowed result to a finite one: ±inf -> ±max double, NaN (inf/inf) -> 0.0."""
    if r != r:
        return 0.0
    return _MAX if r > 0.0 else -_MAX


def numeric_compiled(key: str, transform: Transform | None, fill: float,
                     indicator: bool) -> Compiled:
    """Build ``fn(row, now)`` reading ``row[key]`` as a number and applying ``transform``.

    The fast path (a finite ``float``) skips :func:`as_number`; ``x - x == 0.0`` is false for
    NaN and ±inf, so it is exactly the finiteness test. ``transform=None`` is the identity.
    """
    if transform is None:
        if indicator:
            missing = (fill, 1.0)

            def fn(row, now):
                x = row.get(key)
                if type(x) is float and x - x == 0.0:
                    return (x, 0.0)
                v = as_number(x)
                return missing if v is None else (v, 0.0)
        else:
            missing = (fill,)

            def fn(row, now):
                x = row.get(key)
                if type(x) is float and x - x == 0.0:
                    return (x,)
                v = as_number(x)
                return missing if v is None else (v,)
        return fn
    f = transform
    if indicator:
        missing = (fill, 1.0)

        def fn(row, now):
            x = row.get(key)
            if type(x) is float and x - x == 0.0:
                return (f(x), 0.0)
            v = as_number(x)
            return missing if v is None else (f(v), 0.0)
    else:
        missing = (fill,)

        def fn(row, now):
            x = row.get(key)
            if type(x) is float and x - x == 0.0:
                return (f(x),)
            v = as_number(x)
            return missing if v is None else (f(v),)
    return fn


@dataclass(frozen=True)
class ScalarSpec(EncoderSpec):
    """Base of kinds with one input, a ``fill`` for missing and an optional missing indicator."""

    input: str
    fill: float = 0.0
    missing_indicator: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite(type(self).__name__, "fill", self.fill)
        if not isinstance(self.missing_indicator, bool):
            raise SpecError(f"{type(self).__name__}.missing_indicator must be True or False")

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        main = (OutputField(self.name),)
        return main + (missing_field(self.name),) if self.missing_indicator else main

    def transform(self, state: EncoderState) -> Transform | None:
        return None

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        return numeric_compiled(self.input, self.transform(state), float(self.fill),
                                self.missing_indicator)

    def _moments(self, stats: Statistics) -> Moments:
        m = stats.get(self.requests()[0])
        if not isinstance(m, Moments):
            raise StatisticsError(f"{self.name!r} needs Moments, got {type(m).__name__}")
        if m.count == 0:
            raise StatisticsError(
                f"encoder {self.name!r}: input {self.input!r} has no present values in the "
                "training window; widen the window, fix the source, or drop the encoder"
            )
        return m

    def _overflow(self, what: str) -> StatisticsError:
        """The refusal of a fitted statistic beyond the float range (the fix is the same for
        every kind: bring the column's magnitude down before this encoder)."""
        return StatisticsError(
            f"encoder {self.name!r}: the {what} of {self.input!r} overflows a double; "
            "encode it with Log1p or Clip first, or fix the outliers in the source")


@register
@dataclass(frozen=True)
class Numeric(ScalarSpec):
    """Passthrough of a number. Missing -> ``fill``; output = input otherwise."""

    kind = "numeric"


@register
@dataclass(frozen=True)
class Clip(ScalarSpec):
    """The number clamped to ``[low, high]``. Missing -> ``fill`` (not clamped)."""

    kind = "clip"
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite("Clip", "low", self.low)
        check_finite("Clip", "high", self.high)
        if self.low > self.high:
            raise SpecError(f"Clip {self.name!r}: low={self.low} > high={self.high}; swap them")

    def transform(self, state: EncoderState) -> Transform:
        lo, hi = float(self.low), float(self.high)
        return lambda v: lo if v < lo else (hi if v > hi else v)


@register
@dataclass(frozen=True)
class Log1p(ScalarSpec):
    """``log1p(max(x, 0))``: for counts and durations. Negative inputs (a negative count is a
    data error) are clamped to 0 and give 0.0; missing -> ``fill``."""

    kind = "log1p"

    def transform(self, state: EncoderState) -> Transform:
        log1p = math.log1p
        return lambda v: log1p(v) if v > 0.0 else 0.0


@dataclass(frozen=True)
class ZScoreState(EncoderState):
    """Fitted mean and scale of a z-score. ``scale`` is never 0 (see :class:`ZScore`)."""

    mean: float
    scale: float

    def __post_init__(self) -> None:
        for attr in ("mean", "scale"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise StateError(f"ZScoreState.{attr}={v!r} must be a finite number; re-fit")
        if self.scale <= 0:
            raise StateError(f"ZScoreState.scale={self.scale!r} must be > 0; re-fit")


@register
@dataclass(frozen=True)
class ZScore(ScalarSpec):
    """``(x - mean) / scale`` with the *population* standard deviation (ddof=0).

    Decisions, written once: ``scale`` is the population standard deviation (``ddof=0``, as
    scikit-learn's StandardScaler; Spark's StandardScaler uses ddof=1). A zero-variance input
    gets ``scale = 1.0`` (scikit-learn's rule; Spark would output 0.0), so the output is
    ``x - mean``. Missing -> ``fill`` (default 0.0, i.e. the training mean). Fitting on a
    window with no present values raises :class:`~encoders.stats.StatisticsError`.
    """

    kind = "zscore"
    state_type = ZScoreState

    def requests(self) -> tuple[StatRequest, ...]:
        return (StatRequest("moments", self.input),)

    def fit(self, stats: Statistics) -> ZScoreState:
        m = self._moments(stats)
        std = math.sqrt(m.variance)
        if not (math.isfinite(std) and math.isfinite(m.mean)):
            raise self._overflow("variance")
        return ZScoreState(mean=m.mean, scale=std if std > 0.0 else 1.0)

    def transform(self, state: EncoderState) -> Transform:
        assert isinstance(state, ZScoreState)
        mean, scale = state.mean, state.scale
        return lambda v: r if (r := (v - mean) / scale) - r == 0.0 else saturate(r)


@dataclass(frozen=True)
class MinMaxState(EncoderState):
    """Fitted minimum and maximum (``min <= max``, and ``max - min`` a finite double: a wider
    range would divide every input by ``inf`` and give 0.0 for everything)."""

    min: float
    max: float

    def __post_init__(self) -> None:
        for attr in ("min", "max"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise StateError(f"MinMaxState.{attr}={v!r} must be a finite number; re-fit")
        if self.min > self.max:
            raise StateError(f"MinMaxState min={self.min} > max={self.max}; re-fit")
        if not math.isfinite(self.max - self.min):
            raise StateError(f"MinMaxState range max - min = {self.max!r} - ({self.min!r}) "
                             "overflows a double, so every output would be 0.0; re-fit (the "
                             "fit refuses such a column: encode it with Log1p or Clip first)")


@register
@dataclass(frozen=True)
class MinMax(ScalarSpec):
    """``(x - min) / (max - min)`` with the training min and max.

    A constant input (``max == min``) uses a range of 1.0, so the output is ``x - min``
    (scikit-learn's MinMaxScaler rule). Values outside the training range map outside
    ``[0, 1]`` unless ``clip`` is set, which clamps the output to ``[0, 1]``. Missing -> ``fill``.
    A training range wider than the largest double (``max - min`` overflows, e.g. -1e308 and
    1e308) is refused when fitting with :class:`~encoders.stats.StatisticsError`, as
    :class:`ZScore` refuses a variance that overflows, and when loading such a state.
    """

    kind = "minmax"
    state_type = MinMaxState
    clip: bool = False

    def requests(self) -> tuple[StatRequest, ...]:
        return (StatRequest("moments", self.input),)

    def fit(self, stats: Statistics) -> MinMaxState:
        m = self._moments(stats)
        if not math.isfinite(m.max - m.min):
            raise self._overflow(f"range ({m.min!r} .. {m.max!r})")
        return MinMaxState(min=m.min, max=m.max)

    def transform(self, state: EncoderState) -> Transform:
        assert isinstance(state, MinMaxState)
        lo = state.min
        rng = state.max - state.min
        rng = rng if rng > 0.0 else 1.0
        if self.clip:
            return lambda v: 0.0 if not (r := (v - lo) / rng) >= 0.0 else (1.0 if r > 1.0 else r)
        return lambda v: r if (r := (v - lo) / rng) - r == 0.0 else saturate(r)
