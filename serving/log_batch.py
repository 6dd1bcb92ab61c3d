"""Served-vector log calls handed over in batches, so the log's writer thread wakes up a few
times a second instead of once per request.

Each ``VectorLog.write_encoded`` puts a record on a queue whose writer thread is blocked on it:
every put wakes that thread, and on a busy machine the wake-up often costs the request thread
its time slice (the woken writer then waits for the GIL the descheduled request thread holds).
py-spy on a loaded 2-core machine put ~20% of the server's GIL time in that put. A
:class:`BatchedLog` keeps the calls of answered requests in a list and hands them to the log
together, ``delay_s`` after the first one (a timer on the event loop), so a burst of answers
costs one wake-up.

Edge cases: called outside an event loop (no running loop), a call goes to the log at once;
:meth:`flush` and :meth:`close` hand over what is pending first, from any thread (a lock guards
the list), so nothing answered is lost at shutdown and a reader that flushes sees every line;
a call that raises is logged and does not stop the others.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BatchedLog"]

log = logging.getLogger("skewless.serving")


class BatchedLog:
    """``vector_log`` (a :class:`serving.vector_log.VectorLog`) fed in batches."""

    def __init__(self, vector_log: Any, delay_s: float = 0.05) -> None:
        self.vector_log = vector_log
        self.delay_s = delay_s
        self._pending: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def later(self, call: Callable[[], None]) -> None:
        """Run ``call`` (one request's ``VectorLog.write_encoded``) with the next batch."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            call()
            return
        with self._lock:
            first = not self._pending
            self._pending.append(call)
        if first:
            loop.call_later(self.delay_s, self.hand_over)

    def hand_over(self) -> None:
        """Hand every pending call to the log now."""
        with self._lock:
            calls, self._pending = self._pending, []
        for call in calls:
            try:
                call()
            except Exception:  # one bad line must not lose the others
                log.exception("a served-vector log line could not be queued")

    def flush(self) -> None:
        """Hand over what is pending and write everything to disk."""
        self.hand_over()
        self.vector_log.flush()

    def close(self) -> None:
        self.hand_over()
        self.vector_log.close()
