"""``skewless consistency --date D``: a server with a UTC-5 clock on one day, a correct one the
next; the fault shows in the first day's metrics with its cause and not in the next day's. The
Parquet table is read back with DuckDB (the oracle for the table's shape), a re-run day
replaces its rows, bad input exits 2, and both HTML pages (this log's distribution report and
the consistency trend) render in a real headless Chromium."""

from __future__ import annotations

import contextlib
import io
import math
from datetime import datetime, timezone

import duckdb
import pytest

from materialization.materialize import materialize
from serving.online import OnlineEncoder
from skew.consistency import DayConsistency, NoLogForDay, days_consistency
from skew.consistency_table import read_history, write_day
from skew.pytest_plugin import parity_redis  # noqa: F401
from skew.scratch import private_store, scratch_client
from skewless.cli import run
from tests.browser import check_page, headless_chromium
from tests.skew.faults import LocalClockServer, serve_and_log
from tests.skew.parity_cases import LATER, edge_case_pairs

FAULT_AT = datetime(2024, 1, 24, 6, tzinfo=timezone.utc)  # the UTC-5 clock serves this day
GOOD_AT = LATER                                            # 2024-01-25 06:00, a correct server
FAULT_DAY, GOOD_DAY = FAULT_AT.date(), GOOD_AT.date()
CLOCK_OUTPUTS = {"request_hour__sin", "request_hour__cos", "request_dow__sin",
                 "request_dow__cos", "days_since_last_watch"}


@pytest.fixture(scope="module")
def days(pipeline, parity_redis, tmp_path_factory):  # noqa: F811
    """One log holding two days (each served right after materializing up to its time), and
    ``skewless consistency`` run for both days into one table."""
    base = tmp_path_factory.mktemp("consistency")
    store = private_store(pipeline["repo"], parity_redis, base)
    scratch_client(store).close()
    enc, log, table = pipeline["enc"], base / "log", base / "table"
    materialize(store, datetime(2023, 12, 1, tzinfo=timezone.utc), FAULT_AT, count_rows=False)
    serve_and_log(LocalClockServer(store, enc),
                  edge_case_pairs(pipeline["labels"], 60, times=(FAULT_AT,), seed=31), log,
                  enc.content_hash, FAULT_AT)
    materialize(store, FAULT_AT, GOOD_AT, count_rows=False)
    serve_and_log(OnlineEncoder(store, enc),
                  edge_case_pairs(pipeline["labels"], 60, times=(GOOD_AT,), seed=37), log,
                  enc.content_hash, GOOD_AT)
    runs = {}
    for day in (FAULT_DAY, GOOD_DAY):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = run(["--repo", str(pipeline["repo"]), "consistency", "--service", "ranker",
                        "--training-set", str(pipeline["out"]), "--date", day.isoformat(),
                        "--log", str(log), "--out", str(table)])
        runs[day] = (code, out.getvalue())
    history = read_history(table, "ranker")
    return {"log": log, "table": table, "runs": runs, "base": base,
            "by_day": {d: {f.feature: f for f in history if f.day == d}
                       for d in (FAULT_DAY, GOOD_DAY)}}


def test_a_fault_shows_on_its_day_with_its_cause(days) -> None:
    code, printed = days["runs"][FAULT_DAY]
    assert code == 1, printed
    fault = days["by_day"][FAULT_DAY]
    hour = fault["request_hour__sin"]
    assert hour.rows == 60 and hour.match_rate < 1.0 and hour.mismatches > 0
    assert dict(hour.causes) == {"value/request_time_shift": hour.mismatches}
    # every row at 06:00 UTC, encoded at 01:00: |sin(2π·6/24) − sin(2π·1/24)| on each row
    shift = abs(math.sin(2 * math.pi * 6 / 24) - math.sin(2 * math.pi * 1 / 24))
    assert hour.mean_abs_diff == pytest.approx(shift) == hour.p99_abs_diff
    assert {f.feature for f in fault.values() if f.mismatches} <= CLOCK_OUTPUTS
    assert all(f.match_rate == 1.0 for n, f in fault.items() if n.startswith("plan_oh"))
    assert "request_hour__sin: match" in printed and "request_time_shift" in printed


def test_the_next_day_is_clean(days) -> None:
    code, printed = days["runs"][GOOD_DAY]
    assert code == 0, printed
    good = days["by_day"][GOOD_DAY]
    assert len(good) == len(days["by_day"][FAULT_DAY]) > 0
    assert all(f.rows == 60 and f.match_rate == 1.0 and not f.causes for f in good.values())
    assert all(f.online_only_null == f.offline_only_null == 0 for f in good.values())
    # cold-start members have no member row on either side: null on both
    assert sum(f.both_null for f in good.values()) > 0
    kinds = {f.kind for f in good.values()}
    assert kinds == {"numeric", "categorical"}
    assert all(f.mean_abs_diff is None for f in good.values() if f.kind == "categorical")
    assert all(f.mean_abs_diff == f.p99_abs_diff == 0.0 for f in good.values()
               if f.kind == "numeric")


def test_the_table_reads_as_one_and_a_rerun_replaces_its_day(days, tmp_path) -> None:
    table = days["table"]
    sql = (f"SELECT service, date, count(*) AS n, min(match_rate) AS worst FROM "
           f"read_parquet('{table}/**/*.parquet', hive_partitioning = true) GROUP BY ALL "
           "ORDER BY date")
    rows = duckdb.sql(sql).fetchall()
    width = len(days["by_day"][GOOD_DAY])
    assert [(s, str(d), n) for s, d, n, _ in rows] == [
        ("ranker", str(FAULT_DAY), width), ("ranker", str(GOOD_DAY), width)]
    assert rows[0][3] < 1.0 == rows[1][3]
    copy = tmp_path / "table"
    result = DayConsistency("ranker", FAULT_DAY, tuple(days["by_day"][FAULT_DAY].values()),
                            "a", "b")
    for _ in range(2):
        write_day(copy, result)
    again = read_history(copy, "ranker")
    assert len(again) == width and {f.day for f in again} == {FAULT_DAY}


def test_bad_input_exits_2_naming_the_fix(pipeline, days, capsys) -> None:
    base = ["--repo", str(pipeline["repo"]), "consistency", "--service", "ranker",
            "--training-set", str(pipeline["out"]), "--out", str(days["base"] / "bad")]
    assert run([*base, "--date", "2024-01-2x", "--log", str(days["log"])]) == 2
    assert "is not a date; write YYYY-MM-DD" in capsys.readouterr().err
    assert run([*base, "--date", "2024-01-26", "--log", str(days["log"])]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "2024-01-26" in err and str(days["log"]) in err
    assert "2024-01-24 (60 rows), 2024-01-25 (60 rows)" in err
    assert run([*base, "--date", "2024-01-24", "--log", str(days["base"] / "nope")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "2024-01-24" in err and "is not a folder" in err
    assert run([*base, "--date", "2024-01-24", "--threshold", "1.5"]) == 2
    assert not (days["base"] / "bad").exists()


def test_pages_render_in_headless_chromium(pipeline, days, tmp_path) -> None:
    """The skew report of this log (120 rows at two times: not judged), the trend page the
    command wrote (the clean day last) and the fault day's page, in headless Chromium."""
    from skew.consistency_html import write_page
    from skew.distribution_report import build_report
    from skew.html_report import write_html

    report = build_report(pipeline["out"], days["log"])
    skew_page = write_html(report, tmp_path / "skew.html")
    fault = DayConsistency("ranker", FAULT_DAY, tuple(days["by_day"][FAULT_DAY].values()),
                           "a", "a")
    history = [f for d in (FAULT_DAY, GOOD_DAY) for f in days["by_day"][d].values()]
    fault_page = write_page(fault, history, 0.99, tmp_path / "fault.html")
    width = len(days["by_day"][GOOD_DAY])
    with headless_chromium() as browser:
        shown = check_page(browser, skew_page,
                           ["Distribution skew: training set vs served vectors",
                            "All outputs", "Histograms", "Not judged", "120 served rows"],
                           tmp_path / "skew.png", min_images=len(report.features))
        assert "OVER" not in shown["text"]
        check_page(browser, days["table"] / "ranker.html",
                   ["Consistency: ranker", f"Worst features on {GOOD_DAY}",
                    "No mismatch on this day.", "Match rate per day", "request_hour__sin"],
                   tmp_path / "consistency.png", min_images=width)
        shown = check_page(browser, fault_page,
                           [f"Worst features on {FAULT_DAY}",
                            "below the match-rate threshold 0.99",
                            "value/request_time_shift"],
                           tmp_path / "fault.png", min_images=width)
        first = shown["text"].index("Match rate per day")
        assert shown["text"].index("request_hour__sin", first) < \
            shown["text"].index("plan_oh__0", first)  # the faulty outputs come first


def test_one_replay_for_several_days_equals_each_days_own(pipeline, days) -> None:
    """``days_consistency`` (the main job's: one replay cut per day) gives every day the
    metrics its own ``skewless consistency --date`` run wrote; a day without rows is named."""
    got = days_consistency(days["log"], pipeline["repo"], pipeline["enc"], "ranker",
                           [FAULT_DAY, GOOD_DAY])
    assert [d.day for d in got] == [FAULT_DAY, GOOD_DAY]
    for result in got:
        own = days["by_day"][result.day]
        assert {f.feature for f in result.features} == set(own)
        for f in result.features:
            o = own[f.feature]
            assert (f.rows, f.matches, f.both_null, f.online_only_null, f.offline_only_null,
                    f.causes) == (o.rows, o.matches, o.both_null, o.online_only_null,
                                  o.offline_only_null, tuple(o.causes)), f.feature
            assert (f.mean_abs_diff is None) == (o.mean_abs_diff is None)
            if f.mean_abs_diff is not None:
                assert math.isclose(f.mean_abs_diff, o.mean_abs_diff, rel_tol=1e-12)
    assert any(f.mismatches for f in got[0].features)  # the fault day is not clean
    with pytest.raises(NoLogForDay, match="2024-01-26"):
        days_consistency(days["log"], pipeline["repo"], pipeline["enc"], "ranker",
                         [GOOD_DAY, GOOD_DAY.replace(day=26)])
