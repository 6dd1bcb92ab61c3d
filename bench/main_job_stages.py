"""Wall and CPU time of every stage of the demo's main job (``skewless demo``), in one process.

    .venv/bin/python -m bench.main_job_stages --fresh --json /tmp/stages.json
    # another checkout's main job (before/after): run it there, with that checkout's venv
    (cd /path/to/other && .venv/bin/python -m bench.main_job_stages --fresh)

The stages are :func:`demo.main_job.run_main_job`'s own (it times them and prints
``[stage] done in Xs``); this script hooks its ``progress`` callback to read, at the start and
end of each stage, the CPU time (user + system) of this process and every process below it
(the Spark JVM, its Python workers, any ``feast`` subprocess and the JVM it starts), from
Linux ``/proc``, sampled ten times a second (:class:`TreeCpu`). CPU time moves far less than
wall time when other jobs share the cores, so before/after comparisons on a loaded machine
should read the CPU column. The whole job's wall and CPU time since the interpreter started
(imports included) is the ``total`` row.

The main job is the one of the checkout this runs in (``-m`` puts the current folder first on
``sys.path``); its folder is printed and written to the JSON as ``root``. Edge case: Linux only
(``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
STARTED = time.perf_counter()


class TreeCpu:
    """CPU seconds (user + system) used so far by a process and every process ever seen below
    it, from Linux ``/proc``: a thread samples the tree every ``interval`` seconds and keeps
    each process's latest figure, so a child that ends (a ``feast`` subprocess, the JVM it
    started, whose CPU its parent never reaps) still counts up to its last sample."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.seen = pid, {}
        self._lock = threading.Lock()
        thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        thread.start()

    def _run(self, interval: float) -> None:
        while True:
            self.total()
            time.sleep(interval)

    def total(self) -> float:
        """Sample now and return the CPU seconds of every process seen so far."""
        todo = [self.pid]
        with self._lock:
            while todo:
                p = todo.pop()
                try:
                    fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                    tasks = list(Path(f"/proc/{p}/task").iterdir())
                except (FileNotFoundError, ProcessLookupError):
                    continue
                # utime + stime, by (pid, start time) so a reused pid is another process
                self.seen[(p, fields[19])] = (int(fields[11]) + int(fields[12])) * TICK_S
                for task in tasks:
                    try:
                        todo += [int(c) for c in (task / "children").read_text().split()]
                    except FileNotFoundError:
                        continue
            return sum(self.seen.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--fresh", action="store_true", help="rebuild facts, labels, tables")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    import demo.main_job
    from demo.main_job import run_main_job

    root = Path(demo.main_job.__file__).resolve().parents[1]
    print(f"main job of {root}", flush=True)

    cpu: dict[str, float] = {}
    tree = TreeCpu(os.getpid())

    @contextmanager
    def measured(name: str) -> Iterator[None]:
        before = tree.total()
        yield
        cpu[name] = tree.total() - before

    result = run_main_job(args.preset, args.fresh, progress=measured)
    rows = {name: {"wall_s": round(wall, 2), "cpu_s": round(cpu[name], 2)}
            for name, wall in result.timings.items()}
    rows["total"] = {"wall_s": round(time.perf_counter() - STARTED, 2),
                     "cpu_s": round(tree.total(), 2)}
    print("| stage | wall s | CPU s |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"root": str(root), "load": os.getloadavg(),
                                         "stages": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
