"""``BENCHMARKS.md`` from ``bench/results.json``: machine, versions, figures, ratios, targets.

Each benchmark's ``run()`` result has its own shape; one small ``_section_*`` function per
benchmark turns it into a Markdown table and a list of :class:`Target` rows (the issue's
target, the measured figure, met or not). A benchmark whose result lacks a figure a target
needs reports that target as "not measured" instead of guessing. Unknown benchmarks are
rendered as their JSON.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    """One stated target and what was measured against it (``met`` None: not measured)."""

    benchmark: str
    target: str
    measured: str
    met: bool | None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command_line(cmd: list[str]) -> str:
    exe = shutil.which(cmd[0])
    if exe is None:
        return "not found"
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine_facts() -> dict[str, Any]:
    """CPU, cores, memory, OS and the versions of every part that is measured."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{mem_kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        mem = "unknown"
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "java": _command_line(["java", "-version"]),
        "redis_server": _command_line(["redis-server", "--version"]),
        "versions": {d: _version(d) for d in ("feast", "pyspark", "redis", "pyarrow", "pandas",
                                              "duckdb", "fastapi", "uvicorn")},
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.{3 if abs(value) < 10 else digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "–" if value is None else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return out


def _section_encoding(result: dict) -> tuple[list[str], list[Target]]:
    rows = [[name, v["rows_per_second"], v["rows_per_second_per_core"],
             v["us_per_row_per_core"], v["per_core_ratio_to_per_row_python"]]
            for name, v in result["variants"].items()]
    lines = [f"{result['rows']:,} rows, {result['repeats']} alternating repeats, "
             f"{result['encoders']} encoders / {result['outputs']} outputs. Peer: per-row Python "
             "(the server's path); the Spark runner's per-core rate includes the Arrow transfer "
             "to and from the Python worker.", ""]
    lines += _table(["variant", "rows/s", "rows/s per core", "µs/row per core",
                     "per core vs per-row Python"], rows)
    return lines, []


def _section_online(result: dict) -> tuple[list[str], list[Target]]:
    lines = [f"{result['iterations']} iterations per variant, call order rotated every "
             f"iteration; request time {result['request_time']}; load average at the start "
             f"{result.get('load_average')}. Peer: Feast `get_online_features` (raw, and with "
             "the encoders as a python on-demand view); floor: redis-py pipelined HMGET of the "
             "same keys and fields, no decoding.", ""]
    ms = result["ms"]

    def ratio(name: str, peer: str, q: str) -> float | None:
        size = name.rsplit(" ", 1)[-1]
        other = ms.get(f"{peer} {size}")
        return None if other is None or name.startswith("HTTP") else ms[name][q] / other[q]

    lines += _table(["variant", "p50 ms", "p99 ms", "p50 ÷ floor", "p99 ÷ floor",
                     "p99 ÷ Feast raw"],
                    [[name, v["p50"], v["p99"], ratio(name, "raw HMGET floor", "p50"),
                      ratio(name, "raw HMGET floor", "p99"), ratio(name, "feast raw", "p99")]
                     for name, v in ms.items()])
    return lines, []


def _loads(result: dict) -> list[float]:
    """Every 1-minute load average a training-set run saw (before and after it)."""
    return [x for entry in result.get("sizes", {}).values()
            for runs in (entry.get("runs") or {}).values() for r in runs
            for x in (r.get("loadavg1_before_after") or ())]


def _section_training_set(result: dict) -> tuple[list[str], list[Target]]:
    loads = sorted(_loads(result))
    lines = [f"Labels → point-in-time join → encoders in Spark → Parquet, facts preset "
             f"`{result['config'].get('facts_preset')}`, driver memory "
             f"{result['config'].get('driver_memory')}. spark: skewless' own join "
             "(`spark_jobs/point_in_time.py`); spark-feast: the same with Feast's Spark join "
             "(`--join feast`, the reference peer). Peer: Feast `to_df()` with the encoders "
             "as a python on-demand view; floor: DuckDB ASOF join + Python encoding. Wall and "
             "CPU are medians of the runs (CPU: the whole process tree, JVM and Python "
             "workers included); peak memory is the whole process tree. Exact-equality check "
             "of a sample across the paths: "
             f"{'ok' if (result.get('parity') or {}).get('ok') else 'not run'}.", ""]
    if result.get("command"):
        lines += [f"Command: `{result['command']}`" + (
            f"; 1-minute load average around the runs {loads[0]:.1f}–{loads[-1]:.1f} "
            f"(median {loads[len(loads) // 2]:.1f})." if loads else "."), ""]
    rows = []
    for size, entry in result.get("sizes", {}).items():
        for path, v in entry.get("summary", {}).items():
            if path == "ratios" or not isinstance(v, dict) or "wall_s" not in v:
                continue
            rows.append([f"{int(size):,}", path, v.get("runs"), v.get("wall_s"),
                         v.get("cpu_s"), v.get("rows_per_s"), v.get("peak_mib"),
                         v.get("status")])
    lines += _table(["labels", "path", "runs", "wall s", "CPU s", "rows/s", "peak MiB",
                     "status"], rows)
    for size, entry in result.get("sizes", {}).items():
        summary = entry.get("summary") or {}
        parts = []
        for key, value in (summary.get("ratios") or {}).items():
            peer = key.removeprefix("spark_over_").removesuffix("_wall")
            failed = (summary.get(peer) or {}).get("ok_runs") == 0
            parts.append(f"spark / {peer}: " + ("– (it did not finish)" if failed
                                                 else f"{value:.2f}"))
        if parts:
            lines += ["", f"{int(size):,} labels, wall-time ratios: " + ", ".join(parts) + "."]
    notes = result.get("notes") or []
    if notes:
        lines += [""] + [f"* {n}" for n in notes]
    t = result.get("targets") or {}
    largest = max((int(k) for k in result.get("sizes", {})), default=0)
    a_size = int(t.get("A_size") or 0)
    judged = a_size >= 1_000_000  # the size for this target
    retries = [f"{k.removeprefix('A_spark_not_slower_than_')}: "
               f"{'yes' if v else 'no'}" for k, v in t.items()
               if k.startswith("A_spark_not_slower_than_feast@")]
    a_text = (f"at {a_size:,} labels" + ("" if judged else " (not judged below 1M)")
              + (f"; vs to_df given more memory ({', '.join(retries)})" if retries else ""))
    found = [Target("training_set", "spark path ≥ 1x Feast to_df at 1M labels (driver 2g)",
                    a_text, t.get("A_spark_not_slower_than_feast") if judged else None),
             Target("training_set", "10M labels complete with driver 2g; to_df OOMs or 3x slower",
                    f"largest measured: {largest:,} labels; to_df: {t.get('B_feast_status', '–')}",
                    (t.get("B_spark_finishes") and t.get("B_feast_oom_or_3x_slower"))
                    if largest >= 10_000_000 else None)]
    return lines, found


def _section_materialization(result: dict) -> tuple[list[str], list[Target]]:
    summary, wins = result["summary"], result["windows"]
    floor = summary["floor"]
    lines = [f"Preset `{result['preset']}`, {result['repeats']} alternating repeat(s); each "
             "engine runs `FeatureStore.materialize` in a fresh process (Spark read included "
             f"in its wall time). Day window: {wins['day']['rows_read']:,} source rows read; "
             f"full window: {wins['full']['rows_read']:,} rows read; both write one row per "
             "entity. Peer: Feast's local engine; floor: raw redis-py pipelined HSET of the "
             f"engine's exact payload ({floor['rows_written']:,} keys, "
             f"{floor['rows_per_s_median']:,.0f} rows/s median). Re-runs byte-identical: "
             f"{result.get('idempotent_rerun')}.", ""]
    rows = []
    for variant, s in summary.items():
        if variant in ("floor", "skewless_vs_local"):
            continue
        for phase in ("day", "full", "rerun"):
            p = s[phase]
            rows.append([variant, phase, p["rows_written"], p["seconds_median"],
                         p["rows_written_per_s"], p.get("read_s_median"),
                         p.get("write_s_median"), p.get("write_rows_per_s"),
                         p.get("write_ratio_to_floor")])
    lines += _table(["engine", "window", "rows written", "wall s (median)",
                     "rows written/s end to end", "read s", "write s", "write-phase rows/s",
                     "write phase ÷ floor"], rows)
    ratios = summary.get("skewless_vs_local")
    if ratios:
        lines += ["", "skewless engine speed-up over Feast's local engine (wall time, same run): "
                  + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()) + "."]
    return lines, []


def _section_parity(result: dict) -> tuple[list[str], list[Target]]:
    days = result.get("as_of_days")
    lines = [f"{result['rows']:,} label rows at {result['as_of_times']} as-of times"
             f"{f' on {days} days' if days else ''}, order "
             f"{' '.join(result['order'])}: the parity check (Spark offline vectors + "
             "materialize-as-of + online vectors + comparison) vs building the training set "
             "for the same rows.", ""]
    lines += _table(["", "median ms/row", "p99 ms/row"],
                    [[k, 1e3 * result["per_row_median_s"][k], 1e3 * result["per_row_p99_s"][k]]
                     for k in result["per_row_median_s"]])
    lines += ["", f"Ratio parity / training set (median per row): "
                  f"{result['ratio_parity_to_training_median']:.2f}."]
    stages = result.get("parity_breakdown_median_s")
    if stages:
        lines += ["", "Parity stages, median s (offline and materialize overlap): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()) + "."]
    return lines, []


def _section_main_job(result: dict) -> tuple[list[str], list[Target]]:
    runs = result["runs"]
    lines = [f"`{result['command']}` (the README's first command, set-up already done, the "
             f"tiny preset's data rebuilt), {len(runs)} counted runs after a warm-up: median "
             f"**{result['wall_s_median']:.1f} s** (min {result['wall_s_min']:.1f}, max "
             f"{result['wall_s_max']:.1f}).", ""]
    lines += _table(["stage", "median s"], [[k, v] for k, v in
                                             result["stages_s_median"].items()])
    return lines, []


def generic_targets(name: str, result: dict) -> list[Target]:
    """``result["targets"]`` as ``{label: {"value", "limit", "met"}}`` -> :class:`Target` rows
    (the convention every benchmark's ``run()`` follows for its stated targets)."""
    out = []
    for label, t in (result.get("targets") or {}).items():
        if not isinstance(t, dict):  # a benchmark with its own target format (its section)
            continue
        value, limit = t.get("value"), t.get("limit")
        met = t.get("met")
        out.append(Target(name, f"{label} (limit {_fmt(limit)})",
                          _fmt(value) if value is not None else t.get("note", "–"),
                          None if met is None else bool(met)))
    return out


SECTIONS: dict[str, tuple[str, Callable[[dict], tuple[list[str], list[Target]]]]] = {
    "online": ("Online: encoded vectors vs Feast vs raw Redis", _section_online),
    "training_set": ("Training sets: Spark path vs Feast's Spark join vs Feast to_df vs DuckDB",
                     _section_training_set),
    "materialization": ("Materialization into Redis: skewless engine vs Feast local vs raw "
                        "HSET", _section_materialization),
    "parity": ("Parity check cost vs training-set cost", _section_parity),
    "encoding": ("Encoding throughput: per-row Python vs the Spark runner, per core",
                 _section_encoding),
    "main_job": ("The main job end to end (README's first command)", _section_main_job),
}


#: The line where the hand-written part of ``BENCHMARKS.md`` starts: :func:`write_markdown`
#: keeps it, and everything after it, as it is.
HAND_WRITTEN = ("<!-- Written by hand from here on: bench/run_all.py keeps this part as it is "
                "and regenerates everything above. -->")


def hand_written_part(path: Path) -> list[str]:
    """The lines of ``path`` from :data:`HAND_WRITTEN` on; none when the file or the line is
    missing."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return lines[lines.index(HAND_WRITTEN):] if HAND_WRITTEN in lines else []


def write_markdown(results: dict, path: Path, json_name: str = "bench/results.json") -> None:
    """Write ``BENCHMARKS.md`` for ``results`` (the ``bench/results.json`` structure);
    ``json_name`` is where the raw figures were written, as the page should cite it. The
    file's hand-written part (from :data:`HAND_WRITTEN` on) is kept below the new figures."""
    m = results["machine"]
    lines = ["# Benchmarks", "",
             f"Generated by `.venv/bin/python -m bench.run_all{_mode_flag(results['mode'])}` "
             f"on {results['started']} ({results.get('seconds', 0):,.0f} s in all). Raw figures: "
             f"`{json_name}`.", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}; "
             f"Python {m['python']}; Java: {m['java']}; Redis: {m['redis_server']}.", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".", "",
             "These are shared 2-core machines: figures are noisy; each benchmark alternates "
             "the runs it compares, so drift hits them alike — read the ratios first.", ""]
    targets: list[Target] = []
    body: list[str] = []
    for name, entry in results["benchmarks"].items():
        title, section = SECTIONS.get(name, (name, None))
        body += [f"## {title}", ""]
        if not entry["ok"]:
            body += [f"**Failed** after {entry['seconds']} s: `{entry['error'].splitlines()[0]}`",
                     ""]
            continue
        if section is None:
            body += ["```json", json.dumps(entry["result"], indent=2, default=str), "```", ""]
            continue
        text, found = section(entry["result"])
        found = found + generic_targets(name, entry["result"])
        when = f" Measured {entry['measured']}." if entry.get("measured") else ""
        body += text + ["", f"_Wall time of this benchmark: {entry['seconds']:,.0f} s.{when}_",
                        ""]
        targets += found
    if targets:
        lines += ["## Targets", ""]
        lines += _table(["benchmark", "target", "measured", "met"],
                        [[t.benchmark, t.target, t.measured,
                          "not measured" if t.met is None else ("yes" if t.met else "**no**")]
                         for t in targets])
        lines.append("")
    kept = hand_written_part(path)
    text = "\n".join(lines + body).rstrip() + "\n"
    path.write_text(text + ("\n" + "\n".join(kept).rstrip() + "\n" if kept else ""),
                    encoding="utf-8")


def _mode_flag(mode: str) -> str:
    return {"quick": " --quick", "full": " --full"}.get(mode, "")
