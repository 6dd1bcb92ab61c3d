"""Declare an encoded service in a Feast repo: one call yields the Feast objects of one model.

In a repo file, beside the feature views it reads::

    churn_raw, churn_encoded, churn = encoded_service(
        "churn",
        features=[customer_stats, store_stats[["footfall_7d"]]],
        request_source=checkout_context,          # optional: per-request inputs
        encoders=[ZScore("spend_z", input="spend_28d"), ...],
        state_path=HERE / "churn_state.json",     # written by `skewless fit --service churn`
    )

It returns :class:`EncodedServiceObjects` (a named tuple, so the three names bind at module
level where ``feast apply`` finds them):

* ``raw`` — the feature service ``<name>_raw`` over ``features``: what the training-set join
  and the online lookup read. Its tags carry what skewless needs from the registry: the service
  name, the encoder specs (JSON), the state path and the request source's name.
* ``encoded_view`` — the python on-demand view ``<name>_encoded`` whose function source holds
  the fitted state (Feast rebuilds view functions from their source text, so the registry
  carries exactly that state) and whose tag ``skewless.state_hash`` names its hash; ``None``
  until the service is fitted.
* ``service`` — the feature service ``<name>`` over the encoded view (tagged with the hash);
  ``None`` until fitted.

Edge cases: before a fit (no state file), or when the state on disk was fitted for other
encoders than those declared (the declaration changed), only ``raw`` is built and a line on
stderr says the service awaits ``skewless fit``. A bad declaration raises ``ValueError`` at
``feast apply`` naming the fix: a name that is not an identifier, no encoders, two encoders
with one name, an encoder input that no view of the service serves and the request source
does not declare, a feature served by two views. The request time is not a request field:
encoders get it as the label time offline and the request time online; when the request
source lacks a ``request_time`` field, the encoded view adds the shared source
:data:`REQUEST_TIME_SOURCE` for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from feast import FeatureService, Field, RequestSource
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.types import Float64, Int64, UnixTimestamp

from encoders import EncoderSpec, StateError, specs_dumps
from encoders.columns import REQUEST_TIME, encoder_set_from_text
from feast_bridge.tags import (
    ENCODED,
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

REQUEST_TIME_SOURCE = RequestSource(
    name="skewless_request_time",
    schema=[Field(name=REQUEST_TIME, dtype=UnixTimestamp)],
    description="The request time of an encoded view: the label time offline, the time of "
                "the request online",
)
_OUTPUT_TYPES = {"float64": Float64, "int64": Int64}


class EncodedServiceObjects(NamedTuple):
    """The Feast objects of one encoded service (see module docstring)."""

    raw: FeatureService
    encoded_view: OnDemandFeatureView | None
    service: FeatureService | None


def feast_udf_source(function_name: str, state_json: str) -> str:
    """Self-contained Python source of a Feast python-mode on-demand view function that
    encodes with exactly ``state_json``.

    Feast 0.67 rebuilds on-demand view functions from their *source text* stored in the
    registry (``exec`` in a bare namespace), so the function can rely on no global of the file
    that defined it: the state travels inside the source as a string literal.
    """
    if not function_name.isidentifier():
        raise ValueError(f"{function_name!r} is not a Python identifier; pick a view name "
                         "made of letters, digits and underscores")
    return (
        f"def {function_name}(inputs):\n"
        f"    from encoders.columns import encode_columns_with_state\n"
        f"    return encode_columns_with_state({state_json!r}, inputs)\n"
    )


def _features_of(item: Any) -> tuple[str, tuple[str, ...]]:
    """(view name, feature names) of a FeatureView or a projection (``view[["a", "b"]]``)."""
    proj = getattr(item, "projection", item)
    return proj.name, tuple(f.name for f in proj.features)


def check_declaration(name: str, features: Sequence[Any], encoders: Sequence[EncoderSpec],
                      request_fields: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the fix when the declaration cannot work (module doc)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"service name {name!r} is not a Python identifier; use letters, "
                         "digits and underscores (it names Feast objects and a view function)")
    if not features:
        raise ValueError(f"service {name!r} reads no feature view; pass features=[view, ...]")
    if not encoders:
        raise ValueError(f"service {name!r} declares no encoders; pass encoders=[...]")
    bad = [e for e in encoders if not isinstance(e, EncoderSpec)]
    if bad:
        raise ValueError(f"service {name!r}: encoders must be skewless encoder specs "
                         f"(ZScore(...), OneHot(...)); got {type(bad[0]).__name__}")
    seen: dict[str, str] = {}
    for item in features:
        view, names = _features_of(item)
        for f in names:
            if f in seen:
                raise ValueError(f"service {name!r}: feature {f!r} is served by views "
                                 f"{seen[f]!r} and {view!r}; select it from one view only "
                                 f"(e.g. {view}[[...]] without it)")
            seen[f] = view
    spec_names = [e.name for e in encoders]
    dupes = sorted({n for n in spec_names if spec_names.count(n) > 1})
    if dupes:
        raise ValueError(f"service {name!r}: two encoders are named {dupes}; give each "
                         "encoder a unique name (it prefixes its output columns)")
    clash = sorted(set(request_fields) & set(seen))
    if clash:
        raise ValueError(f"service {name!r}: {clash} are both request fields and view "
                         "features; rename the request field")
    known = set(seen) | set(request_fields)
    for e in encoders:
        unknown = [i for i in e.inputs if i not in known]
        if unknown:
            raise ValueError(
                f"service {name!r}: encoder {e.name!r} reads {unknown}, which no feature view "
                f"of the service serves ({sorted(seen)}) and the request source does not "
                "declare; add the view to features=[...], or the field to the RequestSource")


def encoded_service(
    name: str,
    *,
    features: Sequence[Any],
    encoders: Sequence[EncoderSpec],
    state_path: str | os.PathLike[str],
    request_source: RequestSource | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    owner: str = "",
) -> EncodedServiceObjects:
    """The Feast objects of the encoded service ``name`` (see module docstring)."""
    request_fields = tuple(f.name for f in request_source.schema) if request_source else ()
    inputs_fields = tuple(f for f in request_fields if f != REQUEST_TIME)
    check_declaration(name, features, encoders, inputs_fields)
    path = Path(state_path).resolve()
    user_tags = dict(tags or {})
    raw = FeatureService(
        name=raw_service_name(name),
        features=list(features),
        description=description or f"Raw inputs of the encoded service {name!r}",
        owner=owner,
        tags={**user_tags, SERVICE_TAG: name, ROLE_TAG: RAW, SPECS_TAG: specs_dumps(encoders),
              STATE_PATH_TAG: str(path),
              REQUEST_SOURCE_TAG: request_source.name if request_source else ""},
    )
    state_json = _fitted_state(name, path, tuple(encoders))
    if state_json is None:
        return EncodedServiceObjects(raw, None, None)
    enc = encoder_set_from_text(state_json)
    view_name = encoded_view_name(name)
    source = feast_udf_source(view_name, state_json)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(source, f"<skewless encoded view {view_name}>", "exec"), namespace)  # noqa: S102
    sources: list[Any] = [*features]
    if request_source is not None:
        sources.append(request_source)
    if REQUEST_TIME not in request_fields:
        sources.append(REQUEST_TIME_SOURCE)
    hash_tags = {SERVICE_TAG: name, STATE_HASH_TAG: enc.content_hash}
    view = OnDemandFeatureView(
        name=view_name,
        sources=sources,
        schema=[Field(name=f.name, dtype=_OUTPUT_TYPES[f.dtype]) for f in enc.schema],
        mode="python",
        udf=namespace[view_name],
        udf_string=source,
        tags={**user_tags, **hash_tags, ROLE_TAG: ENCODED},
        owner=owner,
        description=f"Encoded inputs of {name!r}: the skewless encoders with the fitted state "
                    "(hash in the tags)",
    )
    service = FeatureService(
        name=name,
        features=[view],
        tags={**user_tags, **hash_tags, ROLE_TAG: ENCODED},
        owner=owner,
        description=description or f"Encoded input contract of {name!r}: fixed width and order",
    )
    return EncodedServiceObjects(raw, view, service)


def _fitted_state(name: str, path: Path, specs: tuple[EncoderSpec, ...]) -> str | None:
    """The state's JSON text when ``path`` holds a state fitted for exactly ``specs``; else
    ``None`` with a line on stderr saying what to run."""
    if not path.exists():
        print(f"skewless: service {name!r} awaits a fit (no state at {path}); run "
              f"`skewless fit --service {name} --start ... --end ...`", file=sys.stderr)
        return None
    text = path.read_text(encoding="utf-8")
    try:  # parsed once per process: the encoded view's function reuses this parse
        fitted = tuple(e.spec for e in encoder_set_from_text(text).encoders)
    except StateError as exc:
        raise ValueError(f"service {name!r}: the state at {path} cannot be read ({exc})") from None
    if fitted != specs:
        print(f"skewless: service {name!r} awaits a fit (the state at {path} was fitted for "
              f"other encoders than those declared); run `skewless fit --service {name} ...`",
              file=sys.stderr)
        return None
    return text
