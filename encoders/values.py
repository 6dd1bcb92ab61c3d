"""Input coercion: the one place that decides what a raw value *means*.

Every encoder reads its inputs through one of the three functions below, so a value gets the
same interpretation on every path (Python serving, the Feast on-demand view, the Spark runner
and the statistics collectors). The policies, in full:

``as_number(x) -> float | None``  (``None`` means *missing*)
    * ``None`` -> missing.
    * ``bool`` -> ``1.0`` / ``0.0`` (Python's numeric tower; also what Spark's
      ``CAST(true AS DOUBLE)`` gives).
    * ``int`` -> ``float(x)``; an int too large for a double (``OverflowError``) -> missing.
    * ``float`` -> itself when finite; ``NaN``, ``+inf`` and ``-inf`` -> missing. A value that
      is not a finite real number never reaches the arithmetic.
    * ``str`` -> parsed with ``float()`` after stripping whitespace; strings containing ``_``
      (which ``float()`` would accept as a digit separator) and unparseable strings (``""``,
      ``"abc"``) -> missing; ``"nan"`` / ``"inf"`` parse to non-finite values -> missing.
    * ``bytes`` -> decoded as UTF-8 then treated as ``str``; non-UTF-8 bytes -> missing.
    * any other object with ``__float__`` (``Decimal``, numpy scalars) -> ``float(x)``, then
      the float rule; objects without it (``datetime``, ``list``, ``complex``) -> missing.

``as_category(x) -> str | None``
    * ``None``, ``NaN`` (pandas' missing marker in object columns) -> missing.
    * ``str`` -> stripped of surrounding whitespace and NFC-normalised, so composed and
      decomposed forms of ``"é"`` are the same category; an empty result -> missing. Case is
      kept (``"US"`` and ``"us"`` differ) unless the spec asks for ``lowercase``.
    * ``bool`` -> ``"true"`` / ``"false"`` (Spark's ``CAST(true AS STRING)``).
    * ``int`` and integral finite ``float`` -> decimal digits of the integer, so ``3``,
      ``3.0`` and ``"3"`` are one category (pandas turns nullable int columns into float64;
      this rule keeps that from becoming skew); an int too long to print (over Python's
      4300-digit limit) -> missing. Non-integral finite floats -> ``repr(x)``
      (shortest round-trip form, e.g. ``"2.5"``); ``±inf`` -> missing.
    * ``bytes`` -> decoded as UTF-8 then the ``str`` rule; non-UTF-8 bytes -> missing.
    * numpy booleans -> as ``bool``; objects with ``__index__`` (numpy integers) -> the ``int``
      rule; other objects with ``__float__`` (``numpy.float32``, ``Decimal``) -> converted
      to ``float``, then the ``float`` rule; anything else -> missing.
    * strings with lone surrogates (not encodable as UTF-8) -> missing.

``as_epoch_micros(x) -> int | None``  (a point in time, as integer microseconds since
1970-01-01 00:00 UTC — exact for every ``datetime``, years 1 to 9999)
    * aware ``datetime`` (incl. ``pandas.Timestamp``) -> its instant; the nanoseconds of a
      ``pandas.Timestamp`` are dropped (floored, as ``Timestamp.to_pydatetime`` does).
    * naive ``datetime`` -> **read as UTC** (never as the machine's local zone); so is an
      aware one whose ``utcoffset()`` is ``None``.
    * ``date`` (not datetime) -> midnight UTC of that day.
    * ``str`` -> ISO-8601 via ``datetime.fromisoformat`` (a trailing ``Z`` is accepted), then
      the rules above; unparseable -> missing.
    * numbers (``int``, ``float``, numpy scalars, ``Decimal``; not ``bool`` or numpy bool)
      -> POSIX seconds, read by :func:`as_number` and rounded exactly to the nearest
      microsecond (ties to even); ``bool``, ``NaN``, ``±inf`` -> missing.
    * anything else (or a ``tzinfo`` whose ``utcoffset`` raises) -> missing.

``as_epoch_seconds(x) -> float | None``  (the same instant as POSIX seconds, for display and
comparisons; the encoders compute with :func:`as_epoch_micros`, because a float second
cannot hold a microsecond after the year ~2242 — ``hh:59:59.999999`` became the next hour)
    * numbers -> :func:`as_number` (the float itself, not rounded);
    * everything else -> ``as_epoch_micros(x) / 10**6``, correctly rounded (equal to
      ``datetime.timestamp()`` for an aware ``datetime``).

These functions never raise.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import date, datetime, timedelta, timezone

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_DAY = date(1970, 1, 1)
_US = timedelta(microseconds=1)
_US_PER_DAY = 86_400_000_000
_isfinite = math.isfinite


def as_number(x: object) -> float | None:
    """Return ``x`` as a finite float, or ``None`` when it is missing (see module policy)."""
    t = type(x)
    if t is float:
        return x if _isfinite(x) else None  # type: ignore[return-value]
    if t is int:
        try:
            return float(x)  # type: ignore[arg-type]
        except OverflowError:
            return None
    if x is None:
        return None
    if t is bool:
        return 1.0 if x else 0.0
    if isinstance(x, (bytes, bytearray)):
        try:
            x = bytes(x).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(x, str):
        if "_" in x:
            return None
        try:
            v = float(x.strip())
        except ValueError:
            return None
        return v if _isfinite(v) else None
    if isinstance(x, float):  # float subclasses, e.g. numpy.float64
        v = float(x)
        return v if _isfinite(v) else None
    if isinstance(x, int):  # int subclasses other than bool
        try:
            return float(x)
        except OverflowError:
            return None
    if hasattr(x, "__float__") and not isinstance(x, (complex, datetime, date)):
        try:
            v = float(x)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return None
        return v if _isfinite(v) else None
    return None


def _clean_str(s: str) -> str | None:
    s = s.strip()
    if not s:
        return None
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: not text any store can hold
            return None
        s = unicodedata.normalize("NFC", s)
    return s


def _is_boolish(x: object) -> bool:
    """``bool`` or a numpy boolean scalar (which is not a ``bool`` subclass)."""
    return type(x) is bool or (type(x).__name__ in ("bool_", "bool")
                               and type(x).__module__ == "numpy")


def _float_rule(v: float) -> str | None:
    if not _isfinite(v):
        return None
    if v.is_integer():
        return _int_str(int(v))
    return repr(v)


def as_category(x: object) -> str | None:
    """Return ``x`` as a canonical category string, or ``None`` when missing (see module)."""
    t = type(x)
    if t is str:
        # fast path: already clean ASCII
        if x and x.isascii() and not x[0].isspace() and not x[-1].isspace():  # type: ignore[union-attr]
            return x  # type: ignore[return-value]
        return _clean_str(x)  # type: ignore[arg-type]
    if x is None:
        return None
    if t is bool:
        return "true" if x else "false"
    if t is int:
        return _int_str(x)  # type: ignore[arg-type]
    if isinstance(x, float):
        return _float_rule(float(x))
    if isinstance(x, str):
        return _clean_str(str(x))
    if isinstance(x, (bytes, bytearray)):
        try:
            return _clean_str(bytes(x).decode("utf-8"))
        except UnicodeDecodeError:
            return None
    if _is_boolish(x):
        return "true" if x else "false"
    if isinstance(x, int):
        return _int_str(int(x))
    if hasattr(x, "__index__"):
        try:
            return _int_str(x.__index__())  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            return None
    if hasattr(x, "__float__") and not isinstance(x, (complex, datetime, date)):
        try:
            return _float_rule(float(x))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def _int_str(i: int) -> str | None:
    """Decimal digits of ``i``; ``None`` (missing) past Python's int-to-str digit limit."""
    try:
        return str(i)
    except ValueError:
        return None


def seconds_to_micros(v: float) -> int:
    """POSIX seconds (a finite float) as integer microseconds, rounded exactly to the nearest
    (ties to even) — no float multiplication, so no double rounding."""
    p, q = v.as_integer_ratio()
    us, r = divmod(p * 1_000_000, q)
    if 2 * r > q or (2 * r == q and us & 1):
        us += 1
    return us


def _datetime_micros(d: datetime) -> int:
    if d.tzinfo is None or d.utcoffset() is None:
        d = d.replace(tzinfo=_UTC)
    return (d - _EPOCH) // _US


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime: a naive one is taken as UTC (never the machine's
    local zone), an aware one converted. The one "naive means UTC" rule of every path; raises
    ``TypeError`` for a non-datetime and ``OverflowError`` when the converted instant lies
    outside ``datetime``'s range (e.g. ``9999-12-31T23:59-05:00``)."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__} {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=_UTC)
    return value.astimezone(_UTC)


def as_epoch_micros(x: object) -> int | None:
    """Return the instant ``x`` denotes as integer microseconds since the epoch (UTC), or
    ``None`` (see module)."""
    if type(x) is datetime and x.tzinfo is _UTC:  # fast path: aware UTC datetime
        return (x - _EPOCH) // _US
    if isinstance(x, datetime):
        try:
            return int(_datetime_micros(x))
        except (OverflowError, ValueError, OSError, TypeError):
            return None
    if x is None or _is_boolish(x):
        return None
    if isinstance(x, date):
        return (x - _EPOCH_DAY).days * _US_PER_DAY
    if isinstance(x, (bytes, bytearray)):
        try:
            x = bytes(x).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(x, str):
        s = x.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            return as_epoch_micros(datetime.fromisoformat(s))
        except ValueError:
            return None
    v = as_number(x)  # ints, floats, numpy scalars, Decimal: POSIX seconds
    return None if v is None else seconds_to_micros(v)


def as_epoch_seconds(x: object) -> float | None:
    """Return the instant ``x`` denotes as POSIX seconds (UTC), or ``None`` (see module)."""
    if isinstance(x, (date, str, bytes, bytearray)):  # datetime is a date
        us = as_epoch_micros(x)
        return None if us is None else us / 1_000_000
    return None if x is None or _is_boolish(x) else as_number(x)


def as_category_cased(x: object, lowercase: bool) -> str | None:
    """:func:`as_category`, then ``str.lower()`` and NFC again when ``lowercase`` is set
    (lower-casing can un-normalise: the result must itself be a canonical category)."""
    s = as_category(x)
    if s is not None and lowercase:
        s = s.lower()
        if not s.isascii():
            s = unicodedata.normalize("NFC", s)
    return s
