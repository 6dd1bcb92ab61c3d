"""The encoded services of a Feast repo, as the registry describes them.

Every step (fit, training set, online encoding, parity, replay, the HTTP server) asks this
module, never a constant, for a service's entity keys and their types, its views with their
ttl, its request inputs, its encoder specs, where its state lives and which state is
published. The registry is filled by ``feast apply`` of a repo that declares services with
:func:`feast_bridge.declare.encoded_service`.

* :func:`service_names` lists the declared services (sorted);
* :func:`get_service` returns one :class:`ServiceInfo`; ``name=None`` picks the only one, and
  an unknown name or an ambiguous ``None`` raises ``LookupError`` listing the known ones;
* :meth:`ServiceInfo.load_state` loads the fitted state and checks it is the published one.

Edge cases: a declared but unfitted service has ``state_hash=None`` (``require_fitted`` raises
naming ``skewless fit``); a repo without any declared service raises ``LookupError`` naming
``encoded_service``; join keys typed other than int or string keep Feast's own value-type name
in ``entity_types`` (the HTTP layer accepts only int and string keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoders import EncoderSet, EncoderSpec, StateError, load, specs_loads
from encoders.columns import REQUEST_TIME
from feast_bridge.tags import (
    RAW,
    REQUEST_SOURCE_TAG,
    ROLE_TAG,
    SERVICE_TAG,
    SPECS_TAG,
    STATE_HASH_TAG,
    STATE_PATH_TAG,
    encoded_view_name,
    raw_service_name,
)

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

#: Python type of a join key / request field by Feast value-type name.
PY_TYPES = {"INT64": "int", "INT32": "int", "STRING": "str", "FLOAT": "float", "DOUBLE": "float",
            "BOOL": "bool", "UNIX_TIMESTAMP": "datetime"}


@dataclass(frozen=True)
class ViewInfo:
    """One feature view of a service: name, join keys, ttl (``None``: no ttl), the features
    the service selects and their Feast value-type names."""

    name: str
    join_keys: tuple[str, ...]
    ttl: timedelta | None
    features: tuple[str, ...]
    feature_types: tuple[str, ...]

    @property
    def ttl_us(self) -> int | None:
        return None if self.ttl is None else round(self.ttl.total_seconds() * 1_000_000)


def as_of_status(event_us: int, t_us: int, ttl_us: int | None) -> str:
    """The point-in-time rule of both paths for a view row of event time ``event_us`` asked
    at ``t_us`` (POSIX microseconds): ``"future"`` when ``event > T``, ``"expired"`` when
    ``T - event > ttl`` (``ttl_us=None``: no ttl), else ``"present"`` — so a row is usable
    exactly when ``T - ttl <= event <= T``, both ends inclusive, as Feast's offline join."""
    if event_us > t_us:
        return "future"
    if ttl_us is not None and t_us - event_us > ttl_us:
        return "expired"
    return "present"


@dataclass(frozen=True)
class ServiceInfo:
    """An encoded service as the registry holds it (see module docstring)."""

    name: str
    raw_service: str
    encoded_view: str
    specs: tuple[EncoderSpec, ...]
    state_path: Path
    views: tuple[ViewInfo, ...]
    entity_keys: tuple[str, ...]
    entity_types: tuple[tuple[str, str], ...]
    request_source: str | None
    request_inputs: tuple[tuple[str, str], ...]
    state_hash: str | None

    @property
    def request_names(self) -> tuple[str, ...]:
        """Request inputs the rows carry (the request time excluded: it is an argument)."""
        return tuple(n for n, _ in self.request_inputs)

    def entity_type(self, key: str) -> str:
        return dict(self.entity_types)[key]

    def require_fitted(self) -> str:
        """The published state hash; ``LookupError`` naming the fit command when none."""
        if not self.state_hash:
            raise LookupError(f"service {self.name!r} is not fitted yet: run `skewless fit "
                              f"--service {self.name} --start YYYY-MM-DD --end YYYY-MM-DD`")
        return self.state_hash

    def load_state(self, path: str | Path | None = None) -> EncoderSet:
        """The fitted state (from ``path``, default the declared state path), checked to be
        the one published in the registry."""
        published = self.require_fitted()
        p = Path(path) if path else self.state_path
        try:
            return load(p, expected_hash=published)
        except StateError as exc:
            raise StateError(f"service {self.name!r}: {exc} (the registry publishes "
                             f"{published}; re-run `skewless fit --service {self.name}` or "
                             "`feast apply`)") from None


def _raw_services(store: FeatureStore) -> dict[str, Any]:
    out = {}
    for fs in store.list_feature_services():
        tags = fs.tags or {}
        if tags.get(ROLE_TAG) == RAW and tags.get(SERVICE_TAG):
            out[tags[SERVICE_TAG]] = fs
    return out


def service_names(store: FeatureStore) -> tuple[str, ...]:
    """Names of the encoded services declared in the repo (sorted)."""
    return tuple(sorted(_raw_services(store)))


def get_service(store: FeatureStore, name: str | None = None) -> ServiceInfo:
    """The service ``name`` (or the only one when ``None``); see module docstring."""
    raws = _raw_services(store)
    if not raws:
        raise LookupError("the Feast registry holds no encoded service; declare one with "
                          "feast_bridge.declare.encoded_service(...) in the repo and run "
                          "`feast apply`")
    if name is None:
        if len(raws) > 1:
            raise LookupError(f"the repo declares several services {sorted(raws)}; name one "
                              "with --service NAME")
        name = next(iter(raws))
    if name not in raws:
        raise LookupError(f"no encoded service {name!r} in the registry; known services: "
                          f"{sorted(raws)} (run `feast apply` after declaring a new one)")
    fs = raws[name]
    tags = fs.tags
    views = []
    entity_types: dict[str, str] = {}
    for proj in fs.feature_view_projections:
        fv = store.get_feature_view(proj.name)
        ttl = fv.ttl if fv.ttl and fv.ttl.total_seconds() > 0 else None
        for col in fv.entity_columns:
            entity_types.setdefault(col.name, col.dtype.to_value_type().name)
        views.append(ViewInfo(
            name=proj.name,
            join_keys=tuple(c.name for c in fv.entity_columns),
            ttl=ttl,
            features=tuple(f.name for f in proj.features),
            feature_types=tuple(f.dtype.to_value_type().name for f in proj.features),
        ))
    request_source = tags.get(REQUEST_SOURCE_TAG) or None
    request_inputs: tuple[tuple[str, str], ...] = ()
    if request_source:
        src = store.get_data_source(request_source)
        request_inputs = tuple((f.name, f.dtype.to_value_type().name) for f in src.schema
                               if f.name != REQUEST_TIME)
    return ServiceInfo(
        name=name,
        raw_service=fs.name,
        encoded_view=encoded_view_name(name),
        specs=specs_loads(tags[SPECS_TAG]),
        state_path=Path(tags[STATE_PATH_TAG]),
        views=tuple(views),
        entity_keys=tuple(entity_types),
        entity_types=tuple(entity_types.items()),
        request_source=request_source,
        request_inputs=request_inputs,
        state_hash=_published_hash(store, name),
    )


def _published_hash(store: FeatureStore, name: str) -> str | None:
    try:
        odfv = store.get_on_demand_feature_view(encoded_view_name(name))
    except Exception:  # feast raises its own not-found types  # noqa: BLE001
        return None
    return (odfv.tags or {}).get(STATE_HASH_TAG) or None


def registry_bytes(store: FeatureStore, refresh: bool = True) -> bytes | None:
    """The registry as ``store`` holds it, serialized (deterministic bytes: equal bytes, equal
    registry), re-read first when ``refresh`` (``store.refresh_registry()``: ~30 µs for a file
    registry, where rebuilding a service's :class:`ServiceInfo` from it takes ~9 ms). ``None``
    when the registry kind keeps no cached proto; a caller then reads the registry afresh
    (:func:`get_service`) each time."""
    if refresh:
        store.refresh_registry()
    proto = getattr(store.registry, "cached_registry_proto", None)
    return None if proto is None else proto.SerializeToString(deterministic=True)


def registry_state_hash(store: FeatureStore, service: str | None = None) -> str:
    """The state hash published for ``service`` (the only one when ``None``); raises
    ``LookupError`` naming the fix when the service is unknown or not fitted."""
    return get_service(store, service).require_fitted()


__all__ = ["PY_TYPES", "ServiceInfo", "as_of_status", "ViewInfo", "get_service", "raw_service_name",
           "registry_bytes", "registry_state_hash", "service_names"]
