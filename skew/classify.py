"""Feature-by-feature comparison of an offline and an online vector, with every difference
classified. Pure Python (standard library and ``encoders`` only): the Spark and Redis sides
live in :mod:`skew.parity` and :mod:`skew.replay`.

Classes (:data:`CLASSES`), decided in this order for an output whose two values differ:

``state_version``
    the encoder that produced the output has another spec or fitted state online than in
    training (the two sets' content hashes differ and this encoder's JSON differs);
``dtype``
    the values are equal as numbers but of another type (``int`` vs ``float``), or the online
    value is the offline one rounded to float32; or a raw input differs that way (a
    ``Float32`` feature online where training read a double, an int stored as a float);
``missing_online`` / ``missing_offline`` / ``expired``
    the feature view that feeds the output was found on one side only (status ``missing`` or
    ``future``), or is older than its ttl on one side only (``expired``: e.g. ttl not applied
    online); at feature level, a raw input that is null on one side only (e.g. a different
    missing-value default online) is ``missing_offline``/``missing_online`` too;
``value``
    anything else: the numbers differ (absolute difference and distance in float64 ulps are
    reported). The ``cause`` names what was found: ``raw_input`` (an input value differs),
    ``late_row`` (an input differs and the source row was restated late: created after its
    event time), ``request_time_shift`` (the online value is the offline encoder's output at
    another request time: a clock or time-zone fault), ``encoding`` (same inputs, same state,
    another output: the online code computes differently, e.g. ``hash()`` bucketing or
    rounding).

Edge cases: ``NaN`` equals ``NaN``; ``-0.0`` equals ``0.0``; ``True``/``1`` are not compared
(encoders output only ``int`` and ``float``); ulps are computed for finite floats only
(``None`` otherwise); an output whose values are equal is never a difference, whatever the
statuses say.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from encoders import EncoderSet
from encoders.values import as_epoch_micros, as_epoch_seconds

MISSING_ONLINE = "missing_online"
MISSING_OFFLINE = "missing_offline"
EXPIRED = "expired"
VALUE = "value"
DTYPE = "dtype"
STATE_VERSION = "state_version"
CLASSES = (MISSING_ONLINE, MISSING_OFFLINE, EXPIRED, VALUE, DTYPE, STATE_VERSION)

#: normalised view statuses: what a path had for a feature view at the as-of time
FOUND, ABSENT, TOO_OLD = "present", "missing", "expired"
_ONLINE_STATUS = {"present": FOUND, "null": FOUND, "missing": ABSENT, "future": ABSENT,
                  "expired": TOO_OLD}
#: request-time shifts tried when inputs are equal: half hours within +-14 h (time zones)
_SHIFTS = tuple(s * 1800 for s in range(-28, 29) if s)


def normalise_status(status: str) -> str:
    """An online status (``present``/``null``/``missing``/``future``/``expired``) or a source
    status as ``present``, ``missing`` or ``expired``; unknown names raise ``ValueError``."""
    if status in _ONLINE_STATUS:
        return _ONLINE_STATUS[status]
    raise ValueError(f"unknown view status {status!r}; expected one of {sorted(_ONLINE_STATUS)}")


# --- numbers ---------------------------------------------------------------------------------
def _ordered_bits(x: float) -> int:
    bits = struct.unpack("<q", struct.pack("<d", x))[0]
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)


def ulps_between(a: float, b: float) -> int | None:
    """Distance between two finite floats in float64 units in the last place (0 for equal
    values, ``-0.0`` and ``0.0`` included); ``None`` if either is not finite."""
    a, b = float(a), float(b)
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    return abs(_ordered_bits(a) - _ordered_bits(b))


def to_float32(x: float) -> float:
    """``x`` rounded to the nearest float32 (as Feast stores a ``Float32`` field)."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def is_float32_rounding(offline: Any, online: Any) -> bool:
    """True when ``online`` is ``offline`` rounded to float32 and that changed the value."""
    if not (_is_number(offline) and _is_number(online)):
        return False
    off, on = float(offline), float(online)
    return math.isfinite(off) and on != off and to_float32(off) == on


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def same_value(a: Any, b: Any) -> bool:
    """Exact equality of two scalars (``NaN`` equals ``NaN``, types must agree for numbers)."""
    if _is_number(a) and _is_number(b):
        if type(a) is not type(b):
            return False
        if isinstance(a, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    return _raw_equal(a, b)


def same_values(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """:func:`same_value` of every pair of ``a`` and ``b`` (equal lengths). Fast when they are
    the same: equal sequences whose items have the same types are (a ``NaN``, never equal
    to itself, takes the per-item path)."""
    if len(a) != len(b):
        return False
    if list(a) == list(b) and list(map(type, a)) == list(map(type, b)):
        return True
    return all(same_value(x, y) for x, y in zip(a, b))


def _raw_equal(a: Any, b: Any) -> bool:
    """Equality of raw inputs: numbers by value, instants by POSIX time, else ``==``."""
    if a is None or b is None:
        return a is None and b is None
    if _is_number(a) and _is_number(b):
        fa, fb = float(a), float(b)
        return fa == fb or (math.isnan(fa) and math.isnan(fb))
    if hasattr(a, "timestamp") or hasattr(b, "timestamp"):
        return as_epoch_seconds(a) == as_epoch_seconds(b)
    return a == b


# --- values --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tolerance:
    """How much a feature may differ: a ``value`` difference is tolerated when
    ``abs_diff <= abs`` or ``ulps <= ulps``; the feature fails when the fraction of compared
    rows with a difference that is not tolerated exceeds ``rate``. Default: exact equality."""

    abs: float = 0.0
    ulps: int = 0
    rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("abs", "rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"tolerance {name}={v!r} must be a number >= 0")
        if isinstance(self.ulps, bool) or not isinstance(self.ulps, int) or self.ulps < 0:
            raise ValueError(f"tolerance ulps={self.ulps!r} must be an integer >= 0")
        if self.rate > 1:
            raise ValueError(f"tolerance rate={self.rate} is a fraction of rows: use 0..1")

    def accepts(self, abs_diff: float | None, ulps: int | None) -> bool:
        if abs_diff is not None and self.abs > 0 and abs_diff <= self.abs:
            return True
        return ulps is not None and self.ulps > 0 and ulps <= self.ulps


@dataclass(frozen=True)
class Tolerances:
    """Per-feature tolerances (``per_feature``: ``(name, Tolerance)`` pairs) over a default."""

    default: Tolerance = Tolerance()
    per_feature: tuple[tuple[str, Tolerance], ...] = ()

    def for_feature(self, name: str) -> Tolerance:
        for n, tol in self.per_feature:
            if n == name:
                return tol
        return self.default

    @staticmethod
    def from_mapping(spec: Mapping[str, Any], names: Sequence[str]) -> Tolerances:
        """From ``{"*": {"abs": ..}, "<feature>": {"ulps": .., "rate": ..}}``.

        Unknown feature names or keys raise ``ValueError`` naming them and the valid ones.
        """
        if not isinstance(spec, Mapping):
            raise ValueError("tolerances must be a JSON object {feature: {abs, ulps, rate}}")
        unknown = sorted(set(spec) - set(names) - {"*"})
        if unknown:
            raise ValueError(f"tolerances name unknown features {unknown}; the vector's "
                             f"features are {list(names)} (use '*' for the default)")

        def one(key: str, value: Any) -> Tolerance:
            if not isinstance(value, Mapping) or set(value) - {"abs", "ulps", "rate"}:
                raise ValueError(f"tolerance for {key!r} must be an object with keys among "
                                 f"abs, ulps, rate; got {value!r}")
            return Tolerance(**value)

        default = one("*", spec["*"]) if "*" in spec else Tolerance()
        return Tolerances(default, tuple((k, one(k, v)) for k, v in spec.items() if k != "*"))

    def to_json(self) -> dict[str, Any]:
        out = {"*": _tol_json(self.default)}
        out.update({n: _tol_json(t) for n, t in self.per_feature})
        return out


def _tol_json(t: Tolerance) -> dict[str, Any]:
    return {"abs": t.abs, "ulps": t.ulps, "rate": t.rate}


# --- lineage -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lineage:
    """Where one output column comes from: its encoder, the raw inputs it reads, the feature
    views serving those inputs (request inputs have none) and whether it reads the clock."""

    output: str
    encoder: str
    inputs: tuple[str, ...]
    input_views: tuple[str | None, ...]
    uses_request_time: bool

    @property
    def views(self) -> tuple[str, ...]:
        """The distinct views feeding this output, in input order."""
        return tuple(dict.fromkeys(v for v in self.input_views if v is not None))


def lineage(enc: EncoderSet, view_features: Mapping[str, Sequence[str]]) -> dict[str, Lineage]:
    """Output name -> :class:`Lineage`, from the set's encoders and the views' features."""
    owner = {f: v for v, feats in view_features.items() for f in feats}
    out: dict[str, Lineage] = {}
    for fe in enc.encoders:
        ins = tuple(fe.spec.inputs)
        views = tuple(owner.get(i) for i in ins)
        for f in fe.outputs:
            out[f.name] = Lineage(f.name, fe.spec.name, ins, views, fe.spec.uses_request_time)
    return out


def changed_encoders(offline: EncoderSet, online: EncoderSet) -> frozenset[str]:
    """Names of encoders whose spec or state JSON differs between the two sets (an encoder
    present in one set only counts as changed)."""
    if offline.content_hash == online.content_hash:
        return frozenset()

    def doc(enc: EncoderSet) -> dict[str, tuple]:
        return {fe.spec.name: (type(fe.spec).__name__, fe.spec.to_json(), fe.state.to_json())
                for fe in enc.encoders}

    a, b = doc(offline), doc(online)
    return frozenset(n for n in set(a) | set(b) if a.get(n) != b.get(n))


# --- one row -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowVersion:
    """The source row a view had at the as-of time: its event time and the created time of
    the version known then, plus the latest created time of any version of that event time
    (POSIX microseconds) and, when known, how many versions (distinct created times) that
    event time has.

    A row is *late* (restated) when its event time has several versions, or the version
    known at the as-of time is not the latest. A single version created some minutes after its
    event time — how a daily snapshot job normally writes — is not late. When ``versions`` is
    unknown (``None``), any version created after the event time counts as late."""

    event_us: int
    created_us: int | None
    latest_created_us: int | None
    versions: int | None = None

    @property
    def late(self) -> bool:
        if self.versions is not None:
            return self.versions > 1 or self.created_us != self.latest_created_us
        c = [x for x in (self.created_us, self.latest_created_us) if x is not None]
        return any(x > self.event_us for x in c)


@dataclass(frozen=True)
class Side:
    """One path's view of one row: encoded values by output name, normalised view statuses
    (``present``/``missing``/``expired``) and raw input values (``None`` if unknown)."""

    values: Mapping[str, Any]
    statuses: Mapping[str, str]
    raw: Mapping[str, Any] | None = None
    status_detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Difference:
    """One feature of one row that differs, classified (see module docstring)."""

    row: int
    keys: tuple[tuple[str, Any], ...]
    as_of: str
    feature: str
    klass: str
    cause: str
    offline: Any
    online: Any
    abs_diff: float | None
    ulps: int | None
    tolerated: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "keys": dict(self.keys), "as_of": self.as_of,
                "feature": self.feature, "class": self.klass, "cause": self.cause,
                "offline": _json_scalar(self.offline), "online": _json_scalar(self.online),
                "abs_diff": self.abs_diff, "ulps": self.ulps, "tolerated": self.tolerated,
                "detail": self.detail}


def _json_scalar(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    return x


@dataclass(frozen=True)
class RowContext:
    """What the classifier knows about one row besides the two sides."""

    row: int
    keys: tuple[tuple[str, Any], ...]
    as_of_seconds: float
    as_of: str
    versions: Mapping[str, RowVersion | None] = field(default_factory=dict)


def classify_row(
    ctx: RowContext,
    offline: Side,
    online: Side,
    lineages: Mapping[str, Lineage],
    enc: EncoderSet,
    changed: frozenset[str],
    tolerances: Tolerances,
    online_raw: Callable[[], Mapping[str, Any] | None] | None = None,
) -> list[Difference]:
    """Every differing output of one row, classified; ``[]`` when the vectors are equal.

    ``enc`` is the offline (reference) set, used to re-encode inputs when looking for a
    request-time shift. ``online_raw`` is called at most once, and only when a difference needs
    raw values to be classified (the online raw lookup costs a store read).
    """
    diffs: list[Difference] = []
    raw_cache: list[Mapping[str, Any] | None] = []

    def raw_on() -> Mapping[str, Any] | None:
        if online.raw is not None:
            return online.raw
        if not raw_cache:
            raw_cache.append(online_raw() if online_raw is not None else None)
        return raw_cache[0]

    clock = [fe for fe in enc.encoders if fe.spec.uses_request_time]
    shift_cache: list[int | None] = []

    def row_shift() -> int | None:
        if not shift_cache:
            shift_cache.append(_request_time_shift(clock, offline.raw or {},
                                                   ctx.as_of_seconds, online.values))
        return shift_cache[0]

    for name, lin in lineages.items():
        off, on = offline.values.get(name), online.values.get(name)
        if same_value(off, on):
            continue
        klass, cause, detail = _classify(name, lin, off, on, ctx, offline, online, changed,
                                         raw_on, row_shift)
        abs_diff = ulps = None
        if _is_number(off) and _is_number(on):
            d = abs(float(off) - float(on))
            abs_diff = d if math.isfinite(d) else None
            ulps = ulps_between(off, on)
        tolerated = klass == VALUE and tolerances.for_feature(name).accepts(abs_diff, ulps)
        diffs.append(Difference(ctx.row, ctx.keys, ctx.as_of, name, klass, cause, off, on,
                                abs_diff, ulps, tolerated, detail))
    return diffs


def _classify(name: str, lin: Lineage, off: Any, on: Any, ctx: RowContext, offline: Side,
              online: Side, changed: frozenset[str], raw_on: Callable[[], Any],
              row_shift: Callable[[], int | None]) -> tuple[str, str, str]:
    if lin.encoder in changed:
        return STATE_VERSION, "state", (f"encoder {lin.encoder!r} has another spec/state "
                                        "online than in training")
    if _is_number(off) and _is_number(on):
        if float(off) == float(on):
            return DTYPE, "output_type", (f"{type(off).__name__} offline, "
                                          f"{type(on).__name__} online")
        if is_float32_rounding(off, on):
            return DTYPE, "float32", "the online value is the offline one rounded to float32"
    for view in lin.views:
        so, sn = offline.statuses.get(view), online.statuses.get(view)
        if so is None or sn is None or so == sn:
            continue
        where = (f"{view}: offline {offline.status_detail.get(view, so)}, "
                 f"online {online.status_detail.get(view, sn)}")
        if TOO_OLD in (so, sn) and FOUND in (so, sn):
            return EXPIRED, "ttl", where
        if so == FOUND:
            return MISSING_ONLINE, "view_status", where
        if sn == FOUND:
            return MISSING_OFFLINE, "view_status", where
    raw = raw_on()
    off_raw = offline.raw
    if raw is not None and off_raw is not None:
        for key, view in zip(lin.inputs, lin.input_views):
            a, b = off_raw.get(key), raw.get(key)
            if _raw_equal(a, b):
                continue
            what = f"input {key}: offline {a!r}, online {b!r}"
            if a is None:
                return MISSING_OFFLINE, "null_default", what
            if b is None:
                return MISSING_ONLINE, "null_default", what
            if is_float32_rounding(a, b):
                return DTYPE, "float32", what + " (float32-rounded online)"
            if _is_number(a) and _is_number(b) and type(a) is not type(b):
                return DTYPE, "int_float", what
            version = ctx.versions.get(view) if view else None
            if version is not None and version.late:
                return VALUE, "late_row", what + f" ({_late_text(view, version)})"
            return VALUE, "raw_input", what
    if off_raw is not None and lin.uses_request_time:
        shift = row_shift()
        if shift is not None:
            return VALUE, "request_time_shift", (
                f"the online value is the offline encoder's at request time "
                f"{shift / 3600:+g} h (a clock or time-zone fault)")
    if raw is not None and off_raw is not None:
        return VALUE, "encoding", "same inputs, same state, another output online"
    return VALUE, "unknown", "no online raw values to compare (a served-vector log)"


def _late_text(view: str | None, v: RowVersion) -> str:
    return (f"{view} row of event time {_iso_us(v.event_us)} was restated: version known at "
            f"the as-of time created {_iso_us(v.created_us)}, latest version created "
            f"{_iso_us(v.latest_created_us)}")


def _iso_us(us: int | None) -> str:
    if us is None:
        return "-"
    from datetime import datetime, timedelta, timezone

    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)).isoformat()


def _request_time_shift(clock: Sequence[Any], raw: Mapping[str, Any], t: float,
                        online: Mapping[str, Any]) -> int | None:
    """The shift (seconds; whole hours first, then half hours, smallest first) of the request
    time at which *every* output of every clock-reading encoder, re-encoded from the offline
    inputs, equals the online value — one shift for the whole row, so a coincidence on one
    output (hour 12 rounded to ``sin = 0.0`` looks like hour 0) is not taken for a clock
    fault — or ``None``."""
    fns = [(fe.spec.compile(fe.state), [f.name for f in fe.outputs]) for fe in clock]
    t_us = as_epoch_micros(t)  # compiled encoders take the request time in microseconds
    if not fns or t_us is None:
        return None
    for shift in sorted(_SHIFTS, key=lambda s: (s % 3600 != 0, abs(s))):
        if all(same_value(v, online.get(n))
               for fn, names in fns for n, v in zip(names, fn(raw, t_us + shift * 1_000_000))):
            return shift
    return None
