"""Pairs for the parity tests: sampled label rows placed at chosen as-of times that cover the
edge cases (exactly at a snapshot's event time, exactly at ttl, one microsecond past it, inside
the snapshot gap, cold-start members, null and unseen devices). Shared by the parity suite and
the injected-skew suite; not a test module."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from skew.pairs import sample_pairs

UTC = timezone.utc
AT_EVENT = datetime(2024, 1, 10, tzinfo=UTC)                  # a snapshot's event time
MID_DAY = datetime(2024, 1, 12, 13, 37, 11, 500000, tzinfo=UTC)
AT_TTL = datetime(2024, 1, 16, tzinfo=UTC)                    # Jan 14 snapshot + ttl (2 d)
PAST_TTL = AT_TTL + timedelta(microseconds=1)                 # gap: 15..18 removed
IN_GAP = datetime(2024, 1, 17, 12, tzinfo=UTC)
LATER = datetime(2024, 1, 25, 6, tzinfo=UTC)
TIMES = (AT_EVENT, MID_DAY, AT_TTL, PAST_TTL, IN_GAP, LATER)
COLD_START = 9_000_000_000  # demo.facts_schema.COLD_START_MEMBER_ID_BASE
ODD_DEVICES = ("smart-fridge", " TV ", "Télé", "")


def edge_case_pairs(labels, n: int, times=TIMES, seed: int = 11) -> list[dict]:
    """``n`` label rows (cold-start members included, as the labels have them), the i-th at
    ``times[i % len(times)]``, every 50th with an unseen or odd device."""
    pairs = sample_pairs(labels.select("member_id", "title_id", "event_timestamp", "device"),
                         n, seed)
    for i, p in enumerate(pairs):
        p["event_timestamp"] = times[i % len(times)]
        if i % 50 == 7:
            p["device"] = ODD_DEVICES[(i // 50) % len(ODD_DEVICES)]
    return pairs
