"""The planted faults of the injected-skew suite: serving processes that drift from training
the way real ones do, and :func:`serve_and_log` (what a server logs). Shared by the
injected-skew, replay and consistency tests; not a test module."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from encoders.values import as_category
from serving.online import EncodedRow, OnlineEncoder
from serving.vector_log import VectorLog

UTC_MINUS_5 = timezone(timedelta(hours=-5))  # New York in January


class NoTtlServer(OnlineEncoder):
    """Serves whatever Redis holds, however old: Feast alone never checks ttl online."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.views = tuple(replace(v, ttl_us=None) for v in self.views)


class FillZeroServer(OnlineEncoder):
    """Fills null features with 0 before encoding (a pandas ``fillna(0)`` in the server)."""

    def read(self, entity_rows):
        return [replace(vr, values=[tuple(0 if x is None else x for x in vals)
                                    for vals in vr.values])
                for vr in super().read(entity_rows)]


class LocalClockServer(OnlineEncoder):
    """Stamps requests with the local wall clock of a UTC-5 machine, read as UTC."""

    def encode(self, entity_rows, request_time=None, context=None):
        local = request_time.astimezone(UTC_MINUS_5).replace(tzinfo=None)
        return super().encode(entity_rows, local, context)


class RoundingServer(OnlineEncoder):
    """Rounds float outputs to 4 decimals (a JSON encoder with limited precision)."""

    def encode(self, entity_rows, request_time=None, context=None):
        return [EncodedRow(tuple(round(v, 4) if isinstance(v, float) else v for v in r.values),
                           r.statuses)
                for r in super().encode(entity_rows, request_time, context)]


class PyHashServer(OnlineEncoder):
    """Buckets ``device`` with the built-in ``hash()`` in a server process whose
    PYTHONHASHSEED differs from training's (hash() is salted per process)."""

    def encode(self, entity_rows, request_time=None, context=None):
        got = super().encode(entity_rows, request_time, context)
        pos = self.enc.names.index("device_h")
        devices = sorted({c for r in entity_rows if (c := as_category(r.get("device")))})
        code = "import json,sys; print(json.dumps({d: hash(d) % 64 for d in json.load(sys.stdin)}))"
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps(devices),
                             capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": "12345"})
        buckets = json.loads(out.stdout)
        fixed = []
        for row, r in zip(entity_rows, got):
            cat = as_category(row.get("device"))
            values = list(r.values)
            if cat is not None:
                values[pos] = buckets[cat]
            fixed.append(EncodedRow(tuple(values), r.statuses))
        return fixed


def serve_and_log(server: OnlineEncoder, pairs: list[dict], log_dir: Path, state_hash: str,
                  when: datetime) -> None:
    """Log what ``server`` serves for ``pairs`` (demo keys and device) at ``when``, 20 rows a
    request, in the server's log format (serving/api.py)."""
    log = VectorLog(log_dir)
    for i in range(0, len(pairs), 20):
        chunk = pairs[i:i + 20]
        rows = [{"member_id": p["member_id"], "title_id": p["title_id"]} for p in chunk]
        got = server.encode([{**r, "device": p["device"]} for r, p in zip(rows, chunk)], when)
        log.write(request_id=uuid.uuid4().hex, request_time=when, endpoint="/features",
                  state_hash=state_hash, model_id=None, names=server.enc.names,
                  rows=[{**r, "device": p["device"], "statuses": g.statuses,
                         "values": list(g.values)} for r, p, g in zip(rows, chunk, got)])
    log.close()
