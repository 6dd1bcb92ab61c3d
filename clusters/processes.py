"""Processes of the local clusters: free ports, log tails, and stopping exactly the processes
a launcher started (by pid, checked against their command line, never by name)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # reaps it when it is our child
        return done == 0
    except ChildProcessError:  # not our child (started by another process): probe it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """An exited orphan that init has not reaped yet counts as gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _runs(pid: int, marker: str) -> bool:
    """Whether ``pid``'s command line contains ``marker`` (guards against a reused pid)."""
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _alive(pid)  # no /proc (not Linux): trust the pid


def stop_pids(pids: tuple[int, ...], marker: str, timeout_s: float = 10.0) -> None:
    """``SIGTERM`` each process group led by ``pids`` (started with ``start_new_session``)
    whose command line still contains ``marker``, wait up to ``timeout_s``, then ``SIGKILL``
    what is left. Gone processes, and pids now used by another program, are left alone."""
    pids = tuple(p for p in pids if _alive(p) and _runs(p, marker))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        live = [p for p in pids if _alive(p)]
        for pid in live:
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + timeout_s
        while live and time.monotonic() < deadline:
            live = [p for p in live if _alive(p)]
            time.sleep(0.05)
        if not live:
            return


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the OS picks it; another process may take it
    before it is used, which the launchers report as a start failure)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
