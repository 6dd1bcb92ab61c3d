"""The shape every encoder shares: a frozen spec, a frozen fitted state, a fixed output schema.

An encoder *kind* is a pair of frozen dataclasses:

* a **spec** (subclass of :class:`EncoderSpec`): what to compute — its name, its inputs and
  options. It is written by a person and never changes when data changes.
* a **state** (subclass of :class:`EncoderState`): what fitting learned from sufficient
  statistics (a mean, a vocabulary, quantile boundaries). Stateless kinds use :class:`NoState`.

A spec turns a state into a *compiled* function ``fn(row, now) -> tuple`` where ``row`` is a
mapping of raw input values and ``now`` is the request time as integer microseconds since
1970-01-01 UTC (:func:`encoders.values.as_epoch_micros`; exact in every year) or ``None``. The
tuple has exactly one value per :class:`OutputField` of ``spec.outputs(state)``, in order, for
*every* input: the width depends on spec and state only.

Kinds register themselves with :func:`register`; :func:`kind_classes` finds them when JSON is
loaded. Only an invalid spec or state raises (:class:`SpecError`, :class:`StateError`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from encoders.stats import Statistics, StatRequest

DType = Literal["float64", "int64"]
Compiled = Callable[[Mapping[str, Any], "int | None"], tuple]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MISSING_SUFFIX = "__missing"


class SpecError(ValueError):
    """An encoder spec is invalid; the message names the field and the fix."""


class StateError(ValueError):
    """A fitted state (or its JSON) is invalid, unknown or does not fit its spec."""


@dataclass(frozen=True)
class OutputField:
    """One column of an encoder's output: its name and type (``float64`` or ``int64``)."""

    name: str
    dtype: DType = "float64"


def check_name(owner: str, field_name: str, value: object) -> None:
    """Raise :class:`SpecError` unless ``value`` is a column-safe identifier."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise SpecError(
            f"{owner}.{field_name}={value!r} is not a valid name; use letters, digits and "
            "underscores, not starting with a digit (it becomes a Spark/Parquet/Feast column)"
        )


def check_finite(owner: str, field_name: str, value: object) -> None:
    """Raise :class:`SpecError` unless ``value`` is a finite real number (not bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"{owner}.{field_name}={value!r} must be a finite number")


def check_positive_int(owner: str, field_name: str, value: object, minimum: int = 1) -> None:
    """Raise :class:`SpecError` unless ``value`` is an int ``>= minimum`` (not bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{owner}.{field_name}={value!r} must be an integer >= {minimum}")


@dataclass(frozen=True)
class EncoderState:
    """Base of fitted states. Subclasses are frozen dataclasses of JSON-able fields."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class NoState(EncoderState):
    """The state of an encoder that learns nothing from data."""


@dataclass(frozen=True)
class EncoderSpec:
    """Base of encoder specs. Subclasses set ``kind``/``version`` and implement the methods.

    Every spec has a ``name`` (the output column, or prefix of its output columns).
    """

    kind: ClassVar[str] = ""
    version: ClassVar[int] = 1
    state_type: ClassVar[type[EncoderState]] = NoState
    uses_request_time: ClassVar[bool] = False

    name: str

    def __post_init__(self) -> None:
        check_name(type(self).__name__, "name", self.name)
        for attr in self.inputs:
            check_name(type(self).__name__, "input", attr)

    # --- what the encoder reads and needs -------------------------------------------------
    @property
    def inputs(self) -> tuple[str, ...]:
        """Row keys this encoder reads (request time is not a row key)."""
        return ()

    def requests(self) -> tuple[StatRequest, ...]:
        """Statistics ``fit`` needs; empty for stateless kinds."""
        return ()

    def fit(self, stats: Statistics) -> EncoderState:
        """Turn sufficient statistics into a state (stateless kinds return ``NoState()``)."""
        return NoState()

    # --- what it produces -------------------------------------------------------------------
    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        raise NotImplementedError

    def compile(self, state: EncoderState) -> Compiled:
        raise NotImplementedError

    def check_state(self, state: EncoderState) -> None:
        """Raise :class:`StateError` if ``state`` cannot belong to this spec."""
        if type(state) is not self.state_type:
            raise StateError(
                f"encoder {self.name!r} of kind {self.kind!r} needs a "
                f"{self.state_type.__name__}, got {type(state).__name__}; fit the spec again"
            )

    def to_json(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise StateError(f"non-finite number {value!r} cannot be stored in encoder JSON")
    return value


_KINDS: dict[str, type[EncoderSpec]] = {}


def register(cls: type[EncoderSpec]) -> type[EncoderSpec]:
    """Class decorator: make a spec kind loadable from JSON by its ``kind``."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} must set a non-empty 'kind'")
    if cls.kind in _KINDS and _KINDS[cls.kind] is not cls:
        raise TypeError(f"encoder kind {cls.kind!r} is registered twice")
    _KINDS[cls.kind] = cls
    return cls


def kind_classes() -> Mapping[str, type[EncoderSpec]]:
    """All registered kinds, by name."""
    return dict(_KINDS)


def missing_field(name: str) -> OutputField:
    """The 0/1 missing-indicator column that goes with output ``name``."""
    return OutputField(name + MISSING_SUFFIX, "float64")
