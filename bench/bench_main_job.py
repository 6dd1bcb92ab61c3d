"""Benchmark: the main job end to end, as the README's first command runs it, data rebuilt.

    .venv/bin/python -m bench.bench_main_job [--runs 3] [--json out.json]

Runs ``scripts/demo.sh --fresh`` (set-up already done: a no-op of about a second; then
``skewless demo --fresh``, which rebuilds the tiny preset's data) ``runs`` times after one
warm-up run that is not counted (the first run after a change pays for byte-compiling and a cold
page cache), one after the other in this checkout, and reports the median wall time of the whole
command and of each stage, read from the job's own ``[stage] done in Xs`` lines. The target is
issue 15's: the whole command in at most 60 s.

Edge cases: a run that exits non-zero fails the benchmark (its last output lines are in the
error); a stage missing from a run's output is left out of that run's stages rather than
guessed. The job uses the checkout's ``data/`` folder and the Redis of the environment, like
the README's command: do not run it beside the test suite on the same Redis.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["scripts/demo.sh", "--fresh"]
TARGET_S = 60.0
_STAGE = re.compile(r"^\[(?P<name>[^\]]+)\] done in (?P<seconds>[0-9.]+)s$")


def stages_of(output: str) -> dict[str, float]:
    """The ``[stage] done in Xs`` lines of a main job's output, in order (a stage printed
    twice keeps its last figure)."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        m = _STAGE.match(line.strip())
        if m:
            found[m["name"]] = float(m["seconds"])
    return found


def _one_run() -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).splitlines()[-20:]
        raise RuntimeError(f"`{' '.join(COMMAND)}` exited {proc.returncode}:\n" + "\n".join(tail))
    return {"wall_s": round(wall, 2), "stages_s": stages_of(proc.stdout + proc.stderr)}


def run(quick: bool = False, runs: int | None = None, out: Path | None = None) -> dict:
    """Time the main job (module docstring): ``runs`` counted runs (3; 1 with ``quick``,
    which also skips the warm-up). Returns the figures (also written to ``out``)."""
    runs = runs or (1 if quick else 3)
    if runs < 1:
        raise ValueError(f"runs={runs} must be >= 1")
    if not quick:
        _one_run()  # warm-up, not counted
    done = [_one_run() for _ in range(runs)]
    walls = [r["wall_s"] for r in done]
    names = list(dict.fromkeys(n for r in done for n in r["stages_s"]))
    median = statistics.median(walls)
    result = {
        "command": " ".join(COMMAND), "runs": done, "wall_s_median": round(median, 2),
        "wall_s_min": min(walls), "wall_s_max": max(walls),
        "stages_s_median": {n: round(statistics.median(
            [r["stages_s"][n] for r in done if n in r["stages_s"]]), 2) for n in names},
        "targets": {"main job wall s, README's first command with the data rebuilt (median)": {
            "value": round(median, 2), "limit": TARGET_S, "met": median <= TARGET_S}},
    }
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=None, help="counted runs (3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="one run, no warm-up")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()
    if args.runs is not None and args.runs < 1:
        ap.error("--runs must be >= 1")
    result = run(args.quick, args.runs, args.json)
    print(f"{result['command']}: median {result['wall_s_median']} s "
          f"(min {result['wall_s_min']}, max {result['wall_s_max']}, {len(result['runs'])} runs)")
    print(", ".join(f"{k} {v}s" for k, v in result["stages_s_median"].items()))


if __name__ == "__main__":
    main()
