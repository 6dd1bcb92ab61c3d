"""The per-feature day metrics (:func:`skew.consistency.summarise_day`) on hand-made replayed
rows, pure Python: the null counts by side, mean and p99 of |difference| against numpy, the
causes, the match rate; and :func:`skew.consistency.rows_of_day` (UTC day bounds, the service
filter, the message for a day without rows)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from demo.specs import MEMBER_INPUTS, TITLE_INPUTS, request_times, synthetic_rows
from encoders import collect_statistics, fit, stat_requests
from skew.classify import Side, Tolerances, lineage
from skew.consistency import NoLogForDay, rows_of_day, summarise_day
from skew.feature_kinds import output_kinds
from skew.replay import Replay, ReplayedRow
from skew.report import summarise

UTC = timezone.utc


@pytest.fixture(scope="module")
def enc():
    from demo.specs import DEMO_SPECS

    return fit(DEMO_SPECS, collect_statistics(synthetic_rows(300, seed=3),
                                              stat_requests(DEMO_SPECS)))


def _replay(enc, n: int = 40):
    """``n`` rows encoded from the same inputs on both sides, except: rows 0-4 have the member
    view missing online only (inputs None online), rows 5-7 missing on both sides, rows 8-9
    missing offline only; rows 10-19 have ``title_plays_7d`` doubled online."""
    lin = lineage(enc, {"members": MEMBER_INPUTS, "titles": TITLE_INPUTS})
    rows, times = synthetic_rows(n, seed=5), request_times(n, seed=2)
    out = []
    for i, (raw, t) in enumerate(zip(rows, times)):
        off_raw, on_raw = dict(raw), dict(raw)
        off_st, on_st = {"members": "present", "titles": "present"}, \
            {"members": "present", "titles": "present"}
        if i < 10:
            gone = (on_raw,) if i < 5 else (on_raw, off_raw) if i < 8 else (off_raw,)
            for side in gone:
                side.update({k: None for k in MEMBER_INPUTS})
            if i < 8:
                on_st["members"] = "missing"
            if i >= 5:
                off_st["members"] = "missing"
        elif i < 20 and on_raw.get("title_plays_7d") is not None:
            on_raw["title_plays_7d"] = on_raw["title_plays_7d"] * 2 + 1
        off = Side(dict(zip(enc.names, enc.encode_vector(off_raw, t))), off_st, off_raw)
        on = Side(dict(zip(enc.names, enc.encode_vector(on_raw, t))), on_st, on_raw)
        out.append((i, t, off, on))
    from skew.classify import RowContext, classify_row

    replayed, diffs = [], []
    for i, t, off, on in out:
        ctx = RowContext(i, (("k", i),), t.timestamp(), t.isoformat())
        d = classify_row(ctx, off, on, lin, enc, frozenset(), Tolerances())
        diffs += d
        replayed.append(ReplayedRow({"k": i}, on, off, tuple(d)))
    report = summarise("replay", list(enc.names), n, diffs, Tolerances(), ("h", "h"), {}, {})
    return Replay(tuple(replayed), lin, report), out


def test_day_metrics_by_hand(enc) -> None:
    replay, sides = _replay(enc)
    day = summarise_day(replay, "svc", date(2024, 1, 2), enc)
    kinds = {k.name: k.kind for k in output_kinds(enc)}
    by = {f.feature: f for f in day.features}
    assert [f.feature for f in day.features] == list(enc.names)
    member = next(n for n, li in replay.lineage.items() if li.views == ("members",))
    m = by[member]
    assert (m.online_only_null, m.both_null, m.offline_only_null) == (5, 3, 2)
    for name, f in by.items():
        summary = next(s for s in replay.report.features if s.name == name)
        assert f.match_rate == pytest.approx(summary.match_rate)
        assert f.mismatches == sum(n for _, n in f.causes)
        diffs = [abs(on.values[name] - off.values[name]) for *_, off, on in sides
                 if on.values[name] is not None and off.values[name] is not None]
        if kinds[name] == "numeric":
            assert f.mean_abs_diff == pytest.approx(float(np.mean(diffs)))
            assert f.p99_abs_diff == pytest.approx(float(np.percentile(diffs, 99)))
        else:
            assert f.mean_abs_diff is None and f.p99_abs_diff is None
    plays = [n for n, li in replay.lineage.items() if "title_plays_7d" in li.inputs]
    assert plays and any(by[n].mismatches for n in plays)
    assert all(c.startswith("value/raw_input") for n in plays for c, _ in by[n].causes)
    assert {c for c, _ in m.causes} <= {"missing_online/view_status",
                                        "missing_offline/view_status"}
    assert day.below(1.0) and day.below(0.0) == ()


def test_rows_of_day_takes_the_utc_day_and_the_service() -> None:
    start = datetime(2024, 1, 2, tzinfo=UTC)

    def entry(t, service, n=2):
        return {"time": t.isoformat(), "service": service, "names": ["x"], "state_hash": "h",
                "rows": [{"k": i, "values": [1.0], "statuses": {}} for i in range(n)]}

    entries = [entry(start - timedelta(microseconds=1), "a"), entry(start, "a"),
               entry(start + timedelta(hours=23, minutes=59), "a", 3), entry(start, "b", 7),
               entry(start + timedelta(days=1), "a"), {**entry(start, None), "service": None}]
    got = rows_of_day(entries, date(2024, 1, 2), "a")
    assert len(got) == 2 + 3 + 2  # the unnamed service's rows are kept
    with pytest.raises(NoLogForDay, match=r"on 2024-01-05 .* in the log; days it holds: "
                                          r"2024-01-01 \(2 rows\), 2024-01-02 \(7 rows\), "
                                          r"2024-01-03 \(2 rows\)"):
        rows_of_day(entries, date(2024, 1, 5), "a")
