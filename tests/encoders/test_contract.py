"""The contract every encoder kind keeps, parametrized over the whole catalogue.

* JSON round trip is lossless (specs, states, canonical bytes and hash).
* The set hash is identical in subprocesses started with other ``PYTHONHASHSEED`` values.
* Output width is fixed: every input, however odd, gives ``len(schema)`` values.
* Every edge input gives the documented output and never raises: each edge input is listed
  with the canonical input it must encode like (``MISSING`` = the documented missing output).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoders import dumps, kind_classes, loads
from encoders.state_io import canonical_json, to_document
from tests.encoders.catalogue import BASE_ROW, ENTRIES, REQUEST_TIME, Entry, fitted, full_set

ROOT = Path(__file__).resolve().parents[2]
MISSING = object()

NUMBER_EDGES = [
    (None, MISSING), (float("nan"), MISSING), (float("inf"), MISSING), (float("-inf"), MISSING),
    ("abc", MISSING), ("", MISSING), ("   ", MISSING), ("nan", MISSING), ("inf", MISSING),
    ("1_000", MISSING), (b"\xff\xfe", MISSING), (object(), MISSING), ([1.0], MISSING),
    (complex(1, 0), MISSING), (datetime(2026, 1, 1), MISSING), (10**400, MISSING),
    (-(10**400), MISSING), (np.float64("nan"), MISSING), (Decimal("NaN"), MISSING),
    (True, 1.0), (False, 0.0), (3, 3.0), (" 3.5 ", 3.5), ("3.5", 3.5), (b"2.5", 2.5),
    (Decimal("2.5"), 2.5), (np.float64(2.5), 2.5), (np.int64(3), 3.0), (np.float32(0.5), 0.5),
    (-5, -5.0), (1e-320, 1e-320), (2**53 + 1, float(2**53 + 1)),
]
NFD = "Te\u0301le\u0301novela"
CATEGORY_EDGES = [
    (None, MISSING), (float("nan"), MISSING), (np.float64("nan"), MISSING), ("", MISSING),
    ("  \t ", MISSING), (b"\xff\xfe", MISSING), (object(), MISSING), (["Drama"], MISSING),
    (float("inf"), MISSING), (pd.NA, MISSING),
    ("Drama ", "Drama"), ("\tDrama", "Drama"), (b"Drama", "Drama"), (NFD, "Télénovela"),
    (3, "3"), (3.0, "3"), (np.int64(3), "3"), (np.float64(3.0), "3"), (True, "true"),
    (False, "false"), (2.5, "2.5"), ("zzz never seen", "zzz never seen"), ("日本", "日本"),
    ("\ud800", "\ud800"),
]
T = datetime(2026, 10, 31, 21, 0)
TIME_EDGES = [
    (None, MISSING), (float("nan"), MISSING), ("not a date", MISSING), (True, MISSING),
    (b"\xff", MISSING), (object(), MISSING), (float("inf"), MISSING), (pd.NaT, MISSING),
    (T, T.replace(tzinfo=timezone.utc)),  # naive = UTC
    (T.replace(tzinfo=timezone(timedelta(hours=5))),
     (T - timedelta(hours=5)).replace(tzinfo=timezone.utc)),
    ("2026-10-31T21:00:00Z", T.replace(tzinfo=timezone.utc)),
    ("2026-10-31T21:00:00", T.replace(tzinfo=timezone.utc)),
    (T.replace(tzinfo=timezone.utc).timestamp(), T.replace(tzinfo=timezone.utc)),
    (pd.Timestamp("2026-10-31 21:00", tz="UTC"), T.replace(tzinfo=timezone.utc)),
    (pd.Timestamp("2026-10-31 17:00", tz="America/New_York"), T.replace(tzinfo=timezone.utc)),
    (date(2026, 10, 31), datetime(2026, 10, 31, tzinfo=timezone.utc)),
    (datetime(1900, 1, 1), datetime(1900, 1, 1, tzinfo=timezone.utc)),
]
FLAG_EDGES = [
    (None, MISSING), (float("nan"), MISSING), ("maybe", MISSING), ("", MISSING),
    (object(), MISSING), (b"\xff", MISSING),
    ("yes", True), (" TRUE ", True), ("y", True), ("1", True), (1, True), (2.5, True),
    (b"true", True), (np.bool_(True), True), ("no", False), ("F", False), (0, False),
    (0.0, False), ("0", False), (np.int64(0), False),
]
EDGES = {"number": NUMBER_EDGES, "category": CATEGORY_EDGES, "time": TIME_EDGES,
         "flag": FLAG_EDGES, "request_time": TIME_EDGES}


def _encode(entry: Entry, value: object) -> list:
    """Encode with ``value`` as the entry's first input (or request time), others fixed."""
    enc = fitted(entry)
    if entry.family == "request_time":
        return enc.encode_values(BASE_ROW, request_time=value)
    row = dict(BASE_ROW)
    row[entry.spec.inputs[0]] = value
    return enc.encode_values(row, request_time=REQUEST_TIME)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_json_round_trip_is_lossless(entry: Entry) -> None:
    enc = fitted(entry)
    again = loads(dumps(enc))
    assert again == enc
    assert again.encoders[0].spec == entry.spec
    assert again.encoders[0].state == enc.encoders[0].state
    assert again.content_hash == enc.content_hash
    assert canonical_json(to_document(again)) == canonical_json(to_document(enc))
    assert again.schema == enc.schema


def test_catalogue_covers_every_registered_kind() -> None:
    assert {e.spec.kind for e in ENTRIES} == set(kind_classes())


def test_set_hash_is_identical_across_processes_and_hash_seeds() -> None:
    local = [full_set().content_hash] + [fitted(e).content_hash for e in ENTRIES]
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-m", "tests.encoders.catalogue"], cwd=ROOT,
                             env=env, capture_output=True, text=True, check=True).stdout
        remote = [line.split()[-1] for line in out.splitlines()]
        assert remote == local, f"hash differs with PYTHONHASHSEED={seed}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_missing_input_gives_the_documented_output(entry: Entry) -> None:
    assert tuple(_encode(entry, None)) == entry.missing


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_absent_key_is_missing(entry: Entry) -> None:
    enc = fitted(entry)
    if entry.family == "request_time":
        assert tuple(enc.encode_values({})) == entry.missing
    else:
        row = {k: v for k, v in BASE_ROW.items() if k != entry.spec.inputs[0]}
        assert tuple(enc.encode_values(row, REQUEST_TIME)) == entry.missing


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_every_edge_input_encodes_like_its_canonical_input(entry: Entry) -> None:
    width = fitted(entry).width
    for edge, canonical in EDGES[entry.family]:
        got = _encode(entry, edge)
        assert len(got) == width, (entry.id, edge)
        if canonical is MISSING:
            assert tuple(got) == entry.missing, (entry.id, edge, got)
        else:
            assert got == _encode(entry, canonical), (entry.id, edge, canonical)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_width_and_types_are_fixed_for_any_input(entry: Entry) -> None:
    enc = fitted(entry)
    every_edge = [v for fam in EDGES.values() for v, _ in fam]
    for value in every_edge:
        got = _encode(entry, value)
        assert len(got) == enc.width == len(enc.schema)
        for field, v in zip(enc.schema, got):
            assert type(v) is (int if field.dtype == "int64" else float), (field, value, v)
            assert v == v and abs(v) != float("inf"), (field, value, v)
