"""Boolean indicator: a yes/no input as 1.0 / 0.0.

Input policy, in order:

* ``True`` / ``False`` -> 1.0 / 0.0.
* numbers (ints, floats, numpy scalars): finite non-zero -> 1.0, zero -> 0.0; ``NaN``/``±inf``
  -> missing.
* strings (stripped, case-insensitive): ``true t yes y 1`` -> 1.0, ``false f no n 0`` -> 0.0,
  anything else (including ``""``) -> missing. UTF-8 bytes are decoded first.
* ``None`` and every other object -> missing.

Missing -> ``fill`` (default 0.0) and, with ``missing_indicator``, 1.0 in ``<name>__missing``.
"""

from __future__ import annotations

from dataclasses import dataclass

from encoders.base import Compiled, EncoderState, register
from encoders.numeric import ScalarSpec
from encoders.values import as_number

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def as_flag(x: object) -> float | None:
    """1.0, 0.0 or ``None`` (missing) for ``x``, by the module policy. Never raises."""
    if x is True:
        return 1.0
    if x is False:
        return 0.0
    if isinstance(x, (bytes, bytearray)):
        try:
            x = bytes(x).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(x, str):
        s = x.strip().lower()
        return 1.0 if s in _TRUE else (0.0 if s in _FALSE else None)
    v = as_number(x)
    if v is None:
        return None
    return 1.0 if v != 0.0 else 0.0


@register
@dataclass(frozen=True)
class Indicator(ScalarSpec):
    """A boolean input as 1.0/0.0 (policy in the module docstring)."""

    kind = "indicator"

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        key, ind = self.input, self.missing_indicator
        fill = float(self.fill)
        yes, no = ((1.0, 0.0), (0.0, 0.0)) if ind else ((1.0,), (0.0,))
        missing = (fill, 1.0) if ind else (fill,)

        def fn(row, now):
            x = row.get(key)
            if x is True:
                return yes
            if x is False:
                return no
            v = as_flag(x)
            return missing if v is None else (yes if v == 1.0 else no)

        return fn
