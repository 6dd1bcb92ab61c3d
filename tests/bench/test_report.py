"""``BENCHMARKS.md`` rendering and the materialization targets, on hand-made results (no
benchmark runs): every target shows met, missed or not measured with its reason; a benchmark
that failed shows its error; quick-size results are not judged against full-size targets."""

from __future__ import annotations

from pathlib import Path

from bench.bench_materialize import targets
from bench.report import write_markdown
from bench.training_set_targets import floor_targets


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
    met = targets(_summary(55_000, 61_000.0, 0.94))
    assert {v["met"] for v in met.values()} == {True} and len(met) == 4
    missed = targets(_summary(55_000, 40_000.0, 0.25))
    assert {v["met"] for v in missed.values()} == {False}
    tiny = targets(_summary(420, 13_000.0, 0.37))
    assert {v["met"] for v in tiny.values()} == {None}
    assert all("too few" in v["note"] for v in tiny.values())


def test_markdown_lists_every_target_and_failures(tmp_path: Path) -> None:
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


def _training_result() -> dict:
    def run(wall: float, load: float) -> dict:
        return {"wall_s": wall, "cpu_s": wall / 2, "status": "ok", "rows": 100_000,
                "loadavg1_before_after": [load, load + 1]}

    def summary(wall: float, runs: int) -> dict:
        return {"runs": runs, "ok_runs": runs, "wall_s": wall, "cpu_s": wall / 2,
                "rows_per_s": 100_000 / wall, "peak_mib": 900.0, "status": "ok"}

    sizes = {
        "100000": {"summary": {"spark": summary(20.0, 3), "floor": summary(5.0, 3),
                               "ratios": {"spark_over_floor_wall": 4.0}},
                   "runs": {"spark": [run(20.0, 2.0)] * 3, "floor": [run(5.0, 3.5)] * 3}},
        "1000000": {"summary": {"spark": summary(90.0, 3), "floor": summary(20.0, 3),
                                "ratios": {"spark_over_floor_wall": 4.5}},
                    "runs": {"spark": [run(90.0, 6.0)], "floor": [run(20.0, 1.5)]}}}
    return {"config": {"facts_preset": "small", "driver_memory": "2g"},
            "command": ".venv/bin/python -m bench.bench_training_set --sizes=100000,1000000",
            "parity": {"ok": True}, "sizes": sizes,
            "targets": {"skipped": "the feast path was not run (--paths)",
                        **floor_targets(sizes)}}


def _results(benchmarks: dict) -> dict:
    return {"mode": "full", "started": "2026-12-05T00:00:00Z", "seconds": 60.0,
            "machine": {"cpu": "test cpu", "cores": 2, "memory": "1 GiB", "os": "Linux",
                        "python": "3.11", "java": "17", "redis_server": "7",
                        "versions": {"feast": "0.67.0"}},
            "benchmarks": benchmarks}


def test_training_set_section_has_the_command_load_and_floor_ratio_targets(
        tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    write_markdown(_results({"training_set": {"ok": True, "seconds": 60.0,
                                              "result": _training_result()}}), out)
    text = out.read_text()
    assert "Generated by `.venv/bin/python -m bench.run_all --full`" in text
    assert "Command: `.venv/bin/python -m bench.bench_training_set --sizes=100000,1000000`; " \
           "1-minute load average around the runs 1.5–7.0" in text
    assert "| training_set | spark ÷ floor wall at 100,000 labels (limit 5.000) | 4.000 | " \
           "yes |" in text
    assert "| training_set | spark ÷ floor wall at 1,000,000 labels (limit 3.000) | 4.500 | " \
           "**no** |" in text
    assert "| 100,000 | spark | 3 | 20.00 | 10.00 |" in text


def test_floor_ratio_is_not_judged_below_the_issues_sizes() -> None:
    sizes = _training_result()["sizes"]
    small = {"20000": {"summary": {**sizes["100000"]["summary"],
                                   "ratios": {"spark_over_floor_wall": 6.8}}}}
    assert floor_targets(small) == {"spark ÷ floor wall at 20,000 labels (not judged below "
                                    "100,000)": {"value": 6.8, "limit": 5.0, "met": None}}


def test_the_hand_written_part_survives_a_new_run(tmp_path: Path) -> None:
    from bench.report import HAND_WRITTEN

    out = tmp_path / "BENCHMARKS.md"
    out.write_text(f"# old figures\n\nstale\n\n{HAND_WRITTEN}\n\n## By hand\n\nkept text\n")
    write_markdown(_results({"training_set": {"ok": True, "seconds": 60.0,
                                              "result": _training_result()}}), out)
    text = out.read_text()
    assert "stale" not in text and "## Training sets" in text
    assert text.endswith(f"{HAND_WRITTEN}\n\n## By hand\n\nkept text\n")
    assert text.index("## Targets") < text.index(HAND_WRITTEN)
    write_markdown(_results({}), out)  # again: still exactly one hand-written part
    assert out.read_text().count(HAND_WRITTEN) == 1 and "kept text" in out.read_text()


def test_main_job_stages_are_read_from_the_jobs_own_lines_and_judged_by_the_median(
        tmp_path: Path) -> None:
    from bench.bench_main_job import TARGET_S, stages_of

    output = ("[spark] ...\n[spark] done in 3.7s\nnoise [x] done in 9s\n"
              "[feature tables] done in 13.8s\n  [reports] done in 6.5s  \n")
    assert stages_of(output) == {"spark": 3.7, "feature tables": 13.8, "reports": 6.5}
    walls = [41.7, 64.0, 43.1]
    result = {"command": "scripts/demo.sh --fresh", "wall_s_median": 43.1, "wall_s_min": 41.7,
              "wall_s_max": 64.0, "runs": [{"wall_s": w, "stages_s": {}} for w in walls],
              "stages_s_median": {"spark": 3.7, "reports": 6.5},
              "targets": {"main job wall s (median)": {"value": 43.1, "limit": TARGET_S,
                                                       "met": True}}}
    out = tmp_path / "BENCHMARKS.md"
    write_markdown(_results({"main_job": {"ok": True, "seconds": 200.0, "result": result}}), out)
    text = out.read_text()
    assert "median **43.1 s** (min 41.7, max 64.0)" in text
    assert "| reports | 6.500 |" in text
    assert "| main_job | main job wall s (median) (limit 60.00) | 43.10 | yes |" in text
