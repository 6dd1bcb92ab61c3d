"""HTTP request and response models of one encoded service, generated from the registry.

:func:`build_models` turns a :class:`feast_bridge.services.ServiceInfo` into pydantic models
(``pydantic.create_model``), so the OpenAPI document shows each service's own fields:

* ``<Svc>Row``: one entity row — every join key (required) and every request input of the
  service's RequestSource (optional; a row's value overrides the top-level one);
* ``<Svc>FeaturesRequest``: ``{"entities": [row, ...], "request_time"?, <request inputs>?}``
  (top-level request inputs apply to every row);
* ``<Svc>RankRequest``: ``{<every join key but the candidate key>, "candidates": [...],
  "request_time"?, <request inputs>?}``; ``<Svc>Ranked``: ``{<candidate key>, "score"}``.

Field types, from Feast value-type names: join keys ``INT64`` / ``INT32`` -> strict JSON
integers in ``0..2**63-1`` / ``0..2**31-1`` (ids: a negative, fractional, boolean or quoted
number is a 422), ``STRING`` -> a JSON string of 1..:data:`KEY_MAX_LENGTH` characters; any
other key type raises :class:`UnsupportedServiceError` at start-up. Request inputs: ``STRING``
-> string of at most :data:`REQUEST_STR_MAX_LENGTH` characters, ``INT64``/``INT32`` -> strict
integer in the type's range, ``FLOAT``/``DOUBLE`` -> finite number, ``BOOL`` -> strict boolean,
``UNIX_TIMESTAMP`` -> ISO-8601 time (naive = UTC, 1970..2200, like ``request_time``); other
types raise :class:`UnsupportedServiceError`. Every model forbids unknown fields (a 422 naming
the field). Field names are the registry's, whatever they are: each field is declared under
an internal name with the registry name as its alias, so a key called ``model_id`` or
``json`` cannot clash with pydantic's own attributes. Names the body shapes reserve
(``entities``, ``candidates``, ``request_time``), or a name that is both a join key and a
request input, raise :class:`UnsupportedServiceError` naming the clash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from encoders.values import as_utc
from feast_bridge.services import ServiceInfo

__all__ = ["KEY_MAX_LENGTH", "REQUEST_STR_MAX_LENGTH", "FeaturesResponse", "RequestContext",
           "ServiceModels", "UnsupportedServiceError", "build_models", "utc_time"]

KEY_MAX_LENGTH = 256
REQUEST_STR_MAX_LENGTH = 64
RESERVED = ("entities", "candidates", "request_time")
_INT_MAX = {"INT64": 2**63 - 1, "INT32": 2**31 - 1}


class UnsupportedServiceError(ValueError):
    """A service whose registry entry the HTTP API cannot expose (the message names why)."""


def utc_time(v: datetime | None) -> datetime | None:
    """Aware UTC (naive = UTC); ``ValueError`` outside 1970..2200 after conversion."""
    if v is None:
        return None
    try:
        v = as_utc(v)
    except OverflowError:  # e.g. 9999-12-31T23:59-05:00 lies past datetime's range in UTC
        v = datetime.max.replace(tzinfo=timezone.utc)
    if not 1970 <= v.year <= 2200:
        raise ValueError("must be between 1970 and 2200 (UTC)")
    return v


UtcTime = Annotated[datetime, AfterValidator(utc_time)]


class RequestContext(BaseModel):
    """Fields every request body has: the request time (unknown fields are refused)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)
    request_time: UtcTime | None = Field(
        None, description="When the features are wanted (ISO-8601; naive = UTC). Default: now.")


class _Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class FeaturesResponse(BaseModel):
    request_id: str
    service: str
    state_hash: str
    names: list[str]
    vectors: list[list[int | float]]
    statuses: list[dict[str, str]]


def key_type(info: ServiceInfo, key: str) -> Any:
    """The annotation of join key ``key`` (see module docstring)."""
    vtype = info.entity_type(key)
    if vtype in _INT_MAX:
        return Annotated[int, Field(strict=True, ge=0, le=_INT_MAX[vtype])]
    if vtype == "STRING":
        return Annotated[str, Field(strict=True, min_length=1, max_length=KEY_MAX_LENGTH)]
    raise UnsupportedServiceError(
        f"service {info.name!r}: join key {key!r} is typed {vtype}; the HTTP API serves "
        "INT64, INT32 and STRING join keys only: declare the entity with one of those "
        "value types, or serve this service in process (serving.client.EncodedFeatures)")


def request_type(info: ServiceInfo, name: str, vtype: str) -> Any:
    """The annotation of request input ``name`` typed ``vtype`` (see module docstring)."""
    if vtype in _INT_MAX:
        return Annotated[int, Field(strict=True, ge=-_INT_MAX[vtype] - 1, le=_INT_MAX[vtype])]
    simple = {
        "STRING": Annotated[str, Field(max_length=REQUEST_STR_MAX_LENGTH)],
        "FLOAT": Annotated[float, Field(allow_inf_nan=False)],
        "DOUBLE": Annotated[float, Field(allow_inf_nan=False)],
        "BOOL": Annotated[bool, Field(strict=True)],
        "UNIX_TIMESTAMP": UtcTime,
    }
    if vtype not in simple:
        raise UnsupportedServiceError(
            f"service {info.name!r}: request input {name!r} is typed {vtype}; the HTTP API "
            f"accepts {sorted([*simple, *_INT_MAX])}: change the RequestSource field's dtype")
    return simple[vtype]


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def _check_names(info: ServiceInfo, candidate_key: str) -> None:
    keys, inputs = set(info.entity_keys), set(info.request_names)
    clash = sorted((keys | inputs) & set(RESERVED))
    if clash:
        raise UnsupportedServiceError(
            f"service {info.name!r} names a join key or request input {clash}, which the HTTP "
            f"bodies reserve ({list(RESERVED)}): rename it in the repo")
    both = sorted(keys & inputs)
    if both:
        raise UnsupportedServiceError(
            f"service {info.name!r}: {both} is both a join key and a request input; rename "
            "the RequestSource field")
    if candidate_key not in keys:
        raise UnsupportedServiceError(
            f"SKEWLESS_RANK_CANDIDATE_KEY={candidate_key!r} is not a join key of service "
            f"{info.name!r} (its join keys: {list(info.entity_keys)})")


@dataclass(frozen=True)
class ServiceModels:
    """The generated models of one service and how to read their bodies back.

    ``fields`` maps internal field names to registry names (``f0`` -> ``user_id``)."""

    service: str
    entity_keys: tuple[str, ...]
    request_names: tuple[str, ...]
    candidate_key: str
    row: type[BaseModel]
    features_request: type[BaseModel]
    rank_request: type[BaseModel]
    ranked: type[BaseModel]
    rank_response: type[BaseModel]

    def context(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Top-level request inputs of a dumped body (``None`` when not sent)."""
        return {n: body.get(n) for n in self.request_names}

    def feature_rows(self, body: BaseModel) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """``(rows, context)`` of a features body: rows keyed by registry names, holding the
        join keys and the request inputs the row itself sets (a row's ``null`` = not set)."""
        d = body.model_dump(by_alias=True)
        rows = [{k: v for k, v in e.items() if v is not None} for e in d["entities"]]
        return rows, self.context(d)

    def rank_rows(self, body: BaseModel) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """``(rows, context)`` of a rank body: one row per candidate, candidates in order."""
        d = body.model_dump(by_alias=True)
        fixed = {k: d[k] for k in self.entity_keys if k != self.candidate_key}
        key = self.candidate_key
        return [{**fixed, key: c} for c in d["candidates"]], self.context(d)


def build_models(info: ServiceInfo, candidate_key: str | None = None) -> ServiceModels:
    """The models of ``info`` (module docstring); ``candidate_key`` default: the last join
    key. Raises :class:`UnsupportedServiceError` naming the fix."""
    if not info.entity_keys:
        raise UnsupportedServiceError(f"service {info.name!r} has no join key; the HTTP API "
                                      "serves entity-keyed services")
    candidate_key = candidate_key or info.entity_keys[-1]
    _check_names(info, candidate_key)
    camel = _camel(info.name)
    keys = {k: key_type(info, k) for k in info.entity_keys}
    inputs = {n: request_type(info, n, t) for n, t in info.request_inputs}
    internal = {name: f"f{i}" for i, name in enumerate([*keys, *inputs])}

    def field(name: str, annotation: Any, required: bool, doc: str) -> tuple[Any, Any]:
        if required:
            return annotation, Field(..., alias=name, description=doc)
        return annotation | None, Field(None, alias=name, description=doc)

    key_doc = {k: f"join key {k} ({info.entity_type(k)})" for k in keys}
    input_doc = {n: f"request input {n} ({t}) of {info.request_source}; optional"
                 for n, t in info.request_inputs}
    request_fields = {internal[n]: field(n, a, False, input_doc[n]) for n, a in inputs.items()}
    row = create_model(
        f"{camel}Row", __base__=_Forbid,
        __doc__=f"An entity row of service {info.name}: its join keys and, optionally, "
                "request inputs for this row only.",
        **{internal[k]: field(k, a, True, key_doc[k]) for k, a in keys.items()},
        **{internal[n]: field(n, a, False, input_doc[n] + " (overrides the top level)")
           for n, a in inputs.items()})
    features_request = create_model(
        f"{camel}FeaturesRequest", __base__=RequestContext,
        __doc__=f"Encoded vectors of service {info.name} for entity rows.",
        entities=(list[row], Field(..., min_length=1, description="Entity rows; at most "
                                                                     "SKEWLESS_MAX_BATCH")),
        **request_fields)
    rank_request = create_model(
        f"{camel}RankRequest", __base__=RequestContext,
        __doc__=f"Rank candidate {candidate_key} values with the model of service {info.name}.",
        **{internal[k]: field(k, a, True, key_doc[k]) for k, a in keys.items()
           if k != candidate_key},
        candidates=(list[keys[candidate_key]], Field(
            ..., min_length=1, description=f"{candidate_key} values to rank; at most "
                                           "SKEWLESS_MAX_CANDIDATES")),
        **request_fields)
    plain = int if info.entity_type(candidate_key) in _INT_MAX else str
    ranked = create_model(f"{camel}Ranked", __base__=BaseModel,
                          **{internal[candidate_key]: (plain, Field(..., alias=candidate_key)),
                             "score": (float, ...)})
    rank_response = create_model(
        f"{camel}RankResponse", __base__=BaseModel, request_id=(str, ...), service=(str, ...),
        state_hash=(str, ...), model_id=(str, ...), ranking=(list[ranked], ...))
    return ServiceModels(info.name, info.entity_keys, info.request_names, candidate_key, row,
                         features_request, rank_request, ranked, rank_response)
