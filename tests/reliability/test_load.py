"""Bounded load on ``POST /rank`` (bench/load_rank.py) against a uvicorn subprocess serving the
tiny pipeline from a private Redis: concurrent clients on loopback, zero errors.

The suite runs the quick version (4 clients, 5 s). ``SKEWLESS_LOAD_RANK_OUT=<file.json>`` runs
the full one instead (16 clients, 60 s) and writes its figures to that file."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from bench.load_rank import run


def test_rank_under_concurrent_load_has_no_errors(served) -> None:
    out = os.environ.get("SKEWLESS_LOAD_RANK_OUT")
    members = sorted({r["member_id"] for r in served["rows"]})
    titles = sorted({r["title_id"] for r in served["rows"]})
    candidates = titles + list(range(500_000, 500_050 - len(titles)))  # 50 per request
    result = run(quick=not out, env={**served["env"], "SKEWLESS_VECTOR_LOG_DIR":
                                     str(served["work"] / "load_vector_log")},
                 members=members, candidates=candidates, request_time=served["when"])
    if out:
        Path(out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    assert result["requests"] > 0 and result["errors"] == 0, result
    assert result["status_counts"] == {"200": result["requests"]}
    assert math.isfinite(result["p99_ms"]) and result["p50_ms"] <= result["p99_ms"]
