"""The encoder set: a model's input contract, fitted, ordered, with a fixed output schema.

An :class:`EncoderSet` is an ordered tuple of (spec, state) pairs. Its :attr:`~EncoderSet.schema`
(output names, types, order) depends only on those pairs, never on rows; its
:attr:`~EncoderSet.content_hash` identifies it across processes and machines (sha256 of
canonical JSON, see :mod:`encoders.state_io`). It encodes one row — a mapping of raw input values
— plus the request time to a dict, a tuple, or a fixed-order float vector.

Row policy: keys the set does not read are ignored; a key it reads that is absent is *missing*
(same as ``None``). ``request_time`` follows :func:`encoders.values.as_epoch_micros` (naive =
UTC; the encoders get it as exact integer microseconds); a missing one is *missing* for the
encoders that use it. Only a ``row`` that is not a
mapping raises (``TypeError``).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from encoders.base import EncoderSpec, EncoderState, OutputField, SpecError
from encoders.stats import Statistics, StatRequest
from encoders.values import as_epoch_micros


@dataclass(frozen=True)
class FittedEncoder:
    """A spec with the state fitted for it (checked on construction)."""

    spec: EncoderSpec
    state: EncoderState

    def __post_init__(self) -> None:
        self.spec.check_state(self.state)

    @property
    def outputs(self) -> tuple[OutputField, ...]:
        return self.spec.outputs(self.state)


def stat_requests(specs: Iterable[EncoderSpec]) -> tuple[StatRequest, ...]:
    """Every statistic the specs need, each once, in first-seen order."""
    seen: dict[StatRequest, None] = {}
    for spec in specs:
        for req in spec.requests():
            seen.setdefault(req, None)
    return tuple(seen)


def fit(specs: Sequence[EncoderSpec], stats: Statistics) -> EncoderSet:
    """Fit every spec from ``stats`` and return the set, in the order of ``specs``.

    Raises :class:`~encoders.stats.StatisticsError` when a needed statistic is absent or has no
    present values, and :class:`~encoders.base.SpecError` for duplicate output names.
    """
    return EncoderSet(tuple(FittedEncoder(s, s.fit(stats)) for s in specs))


@dataclass(frozen=True)
class EncoderSet:
    """Ordered fitted encoders; see the module docstring for the row policy."""

    encoders: tuple[FittedEncoder, ...]
    schema: tuple[OutputField, ...] = field(init=False, compare=False, repr=False)
    _fns: tuple = field(init=False, compare=False, repr=False)
    _names: tuple[str, ...] = field(init=False, compare=False, repr=False)
    _hash: list = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.encoders, tuple) or not all(
            isinstance(e, FittedEncoder) for e in self.encoders
        ):
            raise SpecError("EncoderSet.encoders must be a tuple of FittedEncoder; use fit() "
                            "or EncoderSet.of(...)")
        schema = tuple(f for e in self.encoders for f in e.outputs)
        names = [f.name for f in schema]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpecError(f"duplicate output names {dupes}; give each encoder a unique name")
        shadow = sorted(set(names) & {k for e in self.encoders for k in e.spec.inputs})
        if shadow:
            raise SpecError(f"output names {shadow} equal input names; rename the encoders "
                            "(Feast on-demand views return inputs and outputs in one mapping)")
        spec_names = [e.spec.name for e in self.encoders]
        if len(set(spec_names)) != len(spec_names):
            raise SpecError("duplicate encoder names; give each encoder a unique name")
        object.__setattr__(self, "schema", schema)
        object.__setattr__(self, "_names", tuple(names))
        object.__setattr__(self, "_fns", tuple(e.spec.compile(e.state) for e in self.encoders))
        object.__setattr__(self, "_hash", [])

    @staticmethod
    def of(*pairs: tuple[EncoderSpec, EncoderState]) -> EncoderSet:
        return EncoderSet(tuple(FittedEncoder(s, st) for s, st in pairs))

    # --- description --------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Output column names, in vector order."""
        return self._names

    @property
    def width(self) -> int:
        return len(self._names)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Row keys read by any encoder, each once, in first-use order."""
        return tuple(dict.fromkeys(k for e in self.encoders for k in e.spec.inputs))

    @property
    def uses_request_time(self) -> bool:
        return any(e.spec.uses_request_time for e in self.encoders)

    @property
    def content_hash(self) -> str:
        """``sha256:<hex>`` of the canonical JSON of specs and states (see ``state_io``)."""
        if not self._hash:
            from encoders.state_io import content_hash

            self._hash.append(content_hash(self))
        return self._hash[0]

    # --- encoding -------------------------------------------------------------------------------
    def encode_values(self, row: Mapping[str, Any], request_time: object = None) -> list:
        """Output values in schema order (``int`` for int64 columns, ``float`` otherwise)."""
        now = None if request_time is None else as_epoch_micros(request_time)
        out: list = []
        ext = out.extend
        try:
            for fn in self._fns:
                ext(fn(row, now))
        except AttributeError:
            if not isinstance(row, Mapping):
                raise TypeError(
                    f"row must be a mapping of input name to raw value, got "
                    f"{type(row).__name__}; pass e.g. {{'{(self.inputs or ('x',))[0]}': 1.0}}"
                ) from None
            raise
        return out

    def encode_row(self, row: Mapping[str, Any], request_time: object = None) -> dict[str, Any]:
        """``{output name: value}`` in schema order."""
        return dict(zip(self._names, self.encode_values(row, request_time)))

    def encode_vector(self, row: Mapping[str, Any], request_time: object = None) -> list[float]:
        """The model's input vector: every output as a float, in schema order."""
        return array("d", self.encode_values(row, request_time)).tolist()
