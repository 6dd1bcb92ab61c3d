"""Several server processes on one port (``SKEWLESS_WORKERS``): what each needs of its own.

uvicorn's ``--workers N`` starts N processes that accept on one socket, so a server uses more
than one core (the endpoints are Python: one process holds one GIL). Each process builds its own
app (its own store, encoders and Redis pool) and counts its own load shedding
(:mod:`serving.admission`). The one shared resource is the served-vector log: a rotating file
cannot take lines from two processes, so with ``workers > 1`` each process writes its own log
in a sub-folder ``worker-<k>`` of ``SKEWLESS_VECTOR_LOG_DIR``, and
:func:`serving.log_reader.read_log` reads the sub-folders after the top-level files.

``k`` is the first slot ``0..workers-1`` whose lock file (``.worker-<k>.lock``, an exclusive
``flock`` held for the life of the process) is free: a restarted server reuses the same
folders, so their number stays bounded and each keeps its own size-based rotation. Edge case:
when every slot is held (a worker of an old server still running beside a new one), the
process takes the next slot beyond ``workers`` rather than share a file.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["WORKER_FOLDER", "log_dir_of_worker"]

WORKER_FOLDER = "worker-{}"
_held: list[int] = []  # the lock files' descriptors, open for the life of the process


def log_dir_of_worker(log_dir: Path, workers: int) -> Path:
    """``log_dir`` itself for one worker; else this process's own ``log_dir/worker-<k>``
    (module docstring), created if needed."""
    if workers <= 1:
        return log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    k = 0
    while True:
        fd = os.open(log_dir / f".worker-{k}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            k += 1
            continue
        _held.append(fd)
        folder = log_dir / WORKER_FOLDER.format(k)
        folder.mkdir(exist_ok=True)
        return folder
