"""The served-vector log fed in batches (serving/log_batch.py): calls made on an event loop wait
for the batch's timer, a flush or a close hands them over first, and nothing is lost."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from functools import partial

from serving.log_batch import BatchedLog
from serving.vector_log import VectorLog, read_log

WHEN = datetime(2024, 2, 5, 12, tzinfo=timezone.utc)


def _call(log: BatchedLog, request_id: str):
    return partial(log.vector_log.write, request_id=request_id, request_time=WHEN,
                   endpoint="/rank", state_hash="h", model_id=None, names=["x"],
                   rows=[{"k": 1, "statuses": {}, "values": [0.5]}])


def _ids(directory) -> list[str]:
    return [e["request_id"] for e in read_log(directory)]


def test_calls_on_a_loop_go_over_together_after_the_delay(tmp_path) -> None:
    log = BatchedLog(VectorLog(tmp_path), delay_s=0.05)

    async def answer_three() -> list[str]:
        for i in range(3):
            log.later(_call(log, f"r{i}"))
        log.vector_log.flush()
        before = _ids(tmp_path)  # still pending: nothing reached the log yet
        await asyncio.sleep(0.2)  # the batch's timer fires
        log.vector_log.flush()
        return before

    assert asyncio.run(answer_three()) == []
    assert _ids(tmp_path) == ["r0", "r1", "r2"]
    log.close()


def test_flush_and_close_hand_over_what_is_pending(tmp_path) -> None:
    log = BatchedLog(VectorLog(tmp_path), delay_s=3600)

    async def answer(request_id: str) -> None:
        log.later(_call(log, request_id))

    asyncio.run(answer("a"))
    log.flush()
    assert _ids(tmp_path) == ["a"]
    asyncio.run(answer("b"))
    log.close()
    assert _ids(tmp_path) == ["a", "b"]


def test_outside_a_loop_a_call_goes_over_at_once(tmp_path) -> None:
    log = BatchedLog(VectorLog(tmp_path))
    log.later(_call(log, "now"))
    log.vector_log.flush()
    assert _ids(tmp_path) == ["now"]
    log.close()
