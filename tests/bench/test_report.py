"""``BENCHMARKS.md`` rendering and the materialization targets, on hand-made results (no
benchmark runs): every target shows met, missed or not measured with its reason; a benchmark
that failed shows its error; quick-size results are not judged against full-size targets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bench.report import write_markdown

ROOT = Path(__file__).resolve().parents[2]


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _phase(rows: int, write_rps: float | None, ratio: float | None, seconds: float) -> dict:
    out = {"rows_written": rows, "rows_read": rows * 10, "seconds_median": seconds,
           "rows_written_per_s": rows / seconds}
    if write_rps is not None:
        out.update({"read_s_median": 1.0, "write_s_median": rows / write_rps,
                    "write_rows_per_s": write_rps, "write_ratio_to_floor": ratio})
    return out


def _summary(rows: int, write_rps: float, ratio: float) -> dict:
    return {"floor": {"rows_written": rows, "rows_per_s_median": write_rps / ratio},
            "skewless": {p: _phase(rows, write_rps, ratio, 4.0) for p in ("day", "full", "rerun")},
            "local": {p: _phase(rows, None, None, 11.0) for p in ("day", "full", "rerun")},
            "skewless_vs_local": {"day": 2.75, "full": 2.75, "rerun": 2.75}}


def test_materialization_targets_met_missed_and_not_judged() -> None:
    targets = _bench_module("bench_materialize").targets
    met = targets(_summary(55_000, 61_000.0, 0.94))
    assert {v["met"] for v in met.values()} == {True} and len(met) == 4
    missed = targets(_summary(55_000, 40_000.0, 0.25))
    assert {v["met"] for v in missed.values()} == {False}
    tiny = targets(_summary(420, 13_000.0, 0.37))
    assert {v["met"] for v in tiny.values()} == {None}
    assert all("too few" in v["note"] for v in tiny.values())


def test_markdown_lists_every_target_and_failures(tmp_path: Path) -> None:
    targets = _bench_module("bench_materialize").targets
    summary = _summary(55_000, 40_000.0, 0.94)
    results = {
        "mode": "default", "started": "2026-11-22T00:00:00Z", "seconds": 12.0,
        "machine": {"cpu": "test cpu", "cores": 2, "memory": "1 GiB", "os": "Linux",
                    "python": "3.11", "java": "17", "redis_server": "7",
                    "versions": {"feast": "0.67.0"}},
        "benchmarks": {
            "materialization": {"ok": True, "seconds": 100.0, "result": {
                "preset": "medium", "repeats": 3, "summary": summary,
                "windows": {"day": {"rows_read": 55_345}, "full": {"rows_read": 4_074_437}},
                "idempotent_rerun": True, "targets": targets(summary)}},
            "parity": {"ok": False, "seconds": 3.0, "error": "exit code 1: boom\nmore"},
        }}
    out = tmp_path / "BENCHMARKS.md"
    write_markdown(results, out, "somewhere/results.json")
    text = out.read_text()
    assert "Raw figures: `somewhere/results.json`" in text
    assert "| materialization | skewless write phase rows/s, day window, ≥ (limit 50,000) | " \
           "40,000 | **no** |" in text
    assert "| materialization | skewless write phase ÷ raw HSET floor, full window, ≥ " \
           "(limit 0.300) | 0.940 | yes |" in text
    assert "day 2.75x" in text and "4,074,437 rows read" in text
    assert "**Failed** after 3.0 s: `exit code 1: boom`" in text
