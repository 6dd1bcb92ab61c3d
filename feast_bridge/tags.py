"""The names skewless gives the Feast objects of an encoded service, and the tags it writes on
them (one definition: :mod:`feast_bridge.declare` writes them, :mod:`feast_bridge.services`
reads them). Standard library only, so readers need not import Feast."""

from __future__ import annotations

#: Tags skewless writes on the objects it declares (one definition, read by the catalogue).
STATE_HASH_TAG = "skewless.state_hash"
SERVICE_TAG = "skewless.service"
ROLE_TAG = "skewless.role"
SPECS_TAG = "skewless.specs"
STATE_PATH_TAG = "skewless.state_path"
REQUEST_SOURCE_TAG = "skewless.request_source"
RAW, ENCODED = "raw", "encoded"


def raw_service_name(service: str) -> str:
    return f"{service}_raw"


def encoded_view_name(service: str) -> str:
    return f"{service}_encoded"
