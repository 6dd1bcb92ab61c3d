"""Time encoders: time since an event, and cyclical hour-of-day / day-of-week.

Both read the *request time* — the moment the features are asked for (the label's timestamp
offline, the request's time online) — which the caller passes in; an encoder never reads the
wall clock. Time inputs follow :func:`encoders.values.as_epoch_micros`: aware datetimes are
instants, **naive datetimes are read as UTC**, ISO-8601 strings are parsed, numbers are POSIX
seconds (rounded to the microsecond), anything else is missing.

Both compute from **integer microseconds** since the epoch (the request time arrives as one,
see :mod:`encoders.base`), never from float seconds: a float second has a spacing of 2 µs
after the year ~2242 and 4 µs after ~2514, so ``hh:59:59.999999`` used to fall into the
next hour and a 1 µs elapsed time into 0 or 4 µs. With integers the hour and the weekday are
exact for every ``datetime`` (years 1 to 9999), and an elapsed time is the exact quotient
rounded once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from encoders.base import (
    Compiled,
    EncoderSpec,
    EncoderState,
    OutputField,
    SpecError,
    check_finite,
    missing_field,
    register,
)
from encoders.values import as_epoch_micros

UNIT_SECONDS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}
UNIT_MICROS = {unit: int(seconds) * 1_000_000 for unit, seconds in UNIT_SECONDS.items()}


@register
@dataclass(frozen=True)
class TimeSince(EncoderSpec):
    """Elapsed time from the event time ``input`` to the request time, in ``unit``.

    * Clipped to ``[0, max_value]``: an event *after* the request time (clock skew, a future
      timestamp) gives 0.0; a very old one gives ``max_value``.
    * A missing event time, or a missing request time, gives ``fill`` — by default
      ``max_value`` ("never happened" reads as "long ago") — and 1.0 in ``<name>__missing``
      when ``missing_indicator`` is set.
    * The value is the exact elapsed microseconds divided by the unit's, correctly rounded
      (an int/int division): identical to float-second arithmetic when both times are whole
      seconds, and exact for sub-second times in any year.
    """

    kind = "time_since"
    uses_request_time = True
    input: str
    unit: Literal["seconds", "minutes", "hours", "days"] = "days"
    max_value: float = 365.0
    fill: float | None = None
    missing_indicator: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.unit not in UNIT_SECONDS:
            raise SpecError(f"TimeSince {self.name!r}: unit={self.unit!r}; use one of "
                            f"{sorted(UNIT_SECONDS)}")
        check_finite("TimeSince", "max_value", self.max_value)
        if self.max_value <= 0:
            raise SpecError(f"TimeSince {self.name!r}: max_value must be > 0")
        if self.fill is not None:
            check_finite("TimeSince", "fill", self.fill)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        main = (OutputField(self.name),)
        return main + (missing_field(self.name),) if self.missing_indicator else main

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        key, per, cap = self.input, UNIT_MICROS[self.unit], float(self.max_value)
        # elapsed microseconds above which the value is clipped: d / per > cap <=> d > limit
        limit = math.floor(Fraction(cap) * per)
        fill = cap if self.fill is None else float(self.fill)
        ind = self.missing_indicator
        missing = (fill, 1.0) if ind else (fill,)

        def fn(row, now):
            t = as_epoch_micros(row.get(key))
            if t is None or now is None:
                return missing
            d = now - t
            v = 0.0 if d <= 0 else (cap if d > limit else d / per)
            return (v, 0.0) if ind else (v,)

        return fn


_PERIODS = {"hour_of_day": 24, "day_of_week": 7}


@register
@dataclass(frozen=True)
class Cyclical(EncoderSpec):
    """``sin`` and ``cos`` of the request time's hour of day or day of week.

    Outputs ``<name>__sin`` and ``<name>__cos`` of ``2π·k/P`` where ``k`` is the whole hour
    (0–23, ``P = 24``) or the weekday (Monday = 0 … Sunday = 6, ``P = 7``), in the fixed zone
    ``utc_offset_minutes`` east of UTC (default UTC; a fixed offset, not a named zone, so the
    answer never depends on the machine's tz database). A missing request time gives
    ``(0.0, 0.0)``, the centre of the circle, which no real time maps to. The hour and weekday
    are floor divisions of integer microseconds, so ``hh:59:59.999999`` is hour ``hh`` in
    every year; a naive request time is read as UTC.
    """

    kind = "cyclical"
    uses_request_time = True
    period: Literal["hour_of_day", "day_of_week"] = "hour_of_day"
    utc_offset_minutes: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.period not in _PERIODS:
            raise SpecError(f"Cyclical {self.name!r}: period={self.period!r}; use one of "
                            f"{sorted(_PERIODS)}")
        off = self.utc_offset_minutes
        if isinstance(off, bool) or not isinstance(off, int) or not -1440 < off < 1440:
            raise SpecError(f"Cyclical {self.name!r}: utc_offset_minutes={off!r} must be an "
                            "integer strictly between -1440 and 1440")

    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        return (OutputField(f"{self.name}__sin"), OutputField(f"{self.name}__cos"))

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        p = _PERIODS[self.period]
        table = tuple((math.sin(2 * math.pi * k / p), math.cos(2 * math.pi * k / p))
                      for k in range(p))
        shift = self.utc_offset_minutes * 60_000_000
        missing = (0.0, 0.0)
        if self.period == "hour_of_day":

            def fn(row, now):
                if now is None:
                    return missing
                return table[(now + shift) // 3_600_000_000 % 24]
        else:

            def fn(row, now):
                if now is None:
                    return missing
                # 1970-01-01 was a Thursday (weekday 3)
                return table[((now + shift) // 86_400_000_000 + 3) % 7]

        return fn
