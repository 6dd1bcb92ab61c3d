"""Column-wise encoding: a dict of equal-length lists in, a dict of lists out.

This is the shape Feast's python-mode on-demand views and Arrow record batches use. It calls
:meth:`EncoderSet.encode_values` row by row — the one definition — so it cannot drift from the
per-row path. :func:`encode_columns_with_state` takes the published state as JSON text and keeps
the parsed set in a small cache keyed by the text's sha256, so a Feast on-demand view can carry
the state inside its (dill-serialized) function and still parse it once per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from encoders.encoder_set import EncoderSet

REQUEST_TIME = "request_time"
_CACHE: dict[str, EncoderSet] = {}


def encode_columns(enc: EncoderSet, columns: Mapping[str, Sequence[Any]],
                   request_time_key: str = REQUEST_TIME) -> dict[str, list]:
    """Encode every row of ``columns``; the request time is read from ``request_time_key``.

    Columns the set does not read are ignored; an input column that is absent is missing for
    every row. All present columns must have the same length (``ValueError`` otherwise).
    """
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths {sorted(lengths)}; pass one value per "
                         "row in every column")
    n = lengths.pop() if lengths else 0
    keys = [k for k in enc.inputs if k in columns]
    cols = [columns[k] for k in keys]
    times = columns.get(request_time_key)
    out: list[list] = [[] for _ in enc.names]
    appenders = [c.append for c in out]
    encode = enc.encode_values
    for i in range(n):
        row = {k: c[i] for k, c in zip(keys, cols)}
        values = encode(row, None if times is None else times[i])
        for app, v in zip(appenders, values):
            app(v)
    return dict(zip(enc.names, out))


def encoder_set_from_text(state_json: str) -> EncoderSet:
    """Parse (once per process) the encoder set published as JSON text."""
    key = hashlib.sha256(state_json.encode("utf-8", "surrogatepass")).hexdigest()
    enc = _CACHE.get(key)
    if enc is None:
        from encoders.state_io import loads

        enc = _CACHE[key] = loads(state_json)
    return enc


def encode_columns_with_state(state_json: str, columns: Mapping[str, Sequence[Any]],
                              request_time_key: str = REQUEST_TIME) -> dict[str, list]:
    """:func:`encode_columns` with the set given as published JSON text."""
    return encode_columns(encoder_set_from_text(state_json), columns, request_time_key)
