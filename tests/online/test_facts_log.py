"""The served-facts log (:mod:`serving.facts_log`): Parquet rows of what was read and served,
partitioned by service and the request time's UTC date and hour, read back by
:func:`serving.log_reader.read_log` as the same records as the JSON-lines log; closed files
only, torn ones counted; sampling, drops and write errors counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from serving.facts_log import FactsLog
from serving.facts_schema import FactsSchema, ViewColumns, names_of
from serving.log_queue import is_sampled
from serving.log_reader import LogReader, read_log
from serving.online import EncodedRow, ServedView

UTC = timezone.utc
WHEN = datetime(2024, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)
SCHEMA = FactsSchema(
    service="shop",
    entity_keys=(("customer", pa.int64()), ("sku", pa.string())),
    request_inputs=(("channel", pa.string()), ("promo_at", pa.timestamp("us", tz="UTC"))),
    views=(ViewColumns("customers", ("spend", "tier"), ("customers__spend", "customers__tier"),
                       (pa.float64(), pa.string())),
           ViewColumns("skus", ("price",), ("skus__price",), (pa.float64(),))))
NAMES = ["a", "b"]


def _request(log: FactsLog, rid: str, when: datetime = WHEN, state: str = "sha256:s",
             names: list[str] = NAMES) -> None:
    """Two rows of one customer and two skus; the second row carries its own channel; the
    second sku is not in the store; the customer row is present."""
    keys = [{"customer": 7, "sku": "x"}, {"customer": 7, "sku": "y", "channel": "app"}]
    views = [ServedView(index=[0, 0], statuses=["present"], stamps_us=[1_700_000_000_000_000],
                        values=[(12.5, "gold")]),
             ServedView(index=[0, 1], statuses=["expired", "missing"],
                        stamps_us=[1_600_000_000_000_000, 0], values=[(3.0,), (None,)])]
    encoded = [EncodedRow((0.25, 1), {"customers": "present", "skus": "expired"}),
               EncodedRow((0.25, 0), {"customers": "present", "skus": "missing"})]
    log.write_encoded(request_id=rid, request_time=when, endpoint="/rank", state_hash=state,
                      model_id="m1", names=names, keys=keys,
                      context={"channel": "web", "promo_at": datetime(2024, 2, 1, tzinfo=UTC)},
                      encoded=encoded, service="shop", views=views)


def test_facts_are_written_partitioned_and_read_back_as_served(tmp_path) -> None:
    log = FactsLog(tmp_path, {"shop": SCHEMA})
    _request(log, "r1")
    _request(log, "r2", WHEN + timedelta(microseconds=1))  # the next UTC day
    log.close()
    files = sorted(tmp_path.glob("service=shop/date=*/hour=*/*.parquet"))
    assert [f.parent.parent.name + "/" + f.parent.name for f in files] == [
        "date=2024-03-01/hour=23", "date=2024-03-02/hour=00"]
    records = list(read_log(tmp_path))
    assert [r["request_id"] for r in records] == ["r1", "r2"]
    r = records[0]
    assert (r["service"], r["state_hash"], r["model_id"], r["names"], r["endpoint"]) == (
        "shop", "sha256:s", "m1", NAMES, "/rank")
    assert r["time"] == "2024-03-01T23:59:59.999999+00:00"
    first, second = r["rows"]
    assert (first["channel"], second["channel"]) == ("web", "app")  # a row's own input wins
    assert first["promo_at"] == "2024-02-01T00:00:00+00:00"
    assert first["statuses"] == {"customers": "present", "skus": "expired"}
    assert second["statuses"] == {"customers": "present", "skus": "missing"}
    assert first["views"]["customers"] == {
        "event_timestamp": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        "values": {"spend": 12.5, "tier": "gold"}}
    assert first["views"]["skus"]["values"] == {"price": 3.0}  # expired: the value read kept
    assert second["views"]["skus"] == {"event_timestamp": None, "values": {"price": None}}
    assert [first["values"], second["values"]] == [[0.25, 1], [0.25, 0]]
    assert type(first["values"][1]) is int  # an id output reads back as an int, not 1.0
    # pyarrow (as Spark) reads a service's folder as one dataset with partition columns
    table = ds.dataset(tmp_path / "service=shop", format="parquet",
                       partitioning="hive").to_table()
    assert table.num_rows == 4 and {"date", "hour", "customers__spend"} <= set(table.column_names)
    assert names_of(pq.read_schema(files[0])) == NAMES


def test_files_close_at_their_row_bound_and_on_a_state_change(tmp_path) -> None:
    log = FactsLog(tmp_path, {"shop": SCHEMA}, file_rows=4, row_group_rows=2)
    for i in range(5):  # 10 rows: files of 4, 4 and 2 rows
        _request(log, f"r{i}")
    _request(log, "new-state", state="sha256:t", names=["a", "c"])
    log.flush()
    assert log.stats().open_rows == 0
    files = sorted(tmp_path.glob("service=shop/date=*/hour=*/*.parquet"))
    rows = sorted(pq.read_metadata(f).num_rows for f in files)
    assert rows == [2, 2, 4, 4]
    by_names = {tuple(names_of(pq.read_schema(f))) for f in files}
    assert by_names == {("a", "b"), ("a", "c")}
    log.close()
    records = list(read_log(tmp_path))
    assert [r["request_id"] for r in records].count("new-state") == 1
    # every record's request fields are its own (several requests per file)
    assert {(r["request_id"], r["state_hash"], r["time"]) for r in records} == {
        *((f"r{i}", "sha256:s", WHEN.isoformat()) for i in range(5)),
        ("new-state", "sha256:t", WHEN.isoformat())}


def test_rows_are_converted_in_small_pieces_and_written_in_whole_row_groups(tmp_path) -> None:
    """``convert_rows`` bounds each conversion (the GIL the requests need is held that long);
    the row groups are still ``row_group_rows`` long, the last one what was left at close."""
    log = FactsLog(tmp_path, {"shop": SCHEMA}, row_group_rows=6, convert_rows=2)
    assert log.wake_rows == 2
    for i in range(7):  # 14 rows: row groups of 6, 6 and 2
        _request(log, f"r{i}")
    log.close()
    (file,) = tmp_path.glob("service=shop/date=*/hour=*/*.parquet")
    meta = pq.read_metadata(file)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [6, 6, 2]
    assert [r["request_id"] for r in read_log(tmp_path)] == [f"r{i}" for i in range(7)]


def test_an_idle_file_is_closed_after_its_age_bound(tmp_path) -> None:
    log = FactsLog(tmp_path, {"shop": SCHEMA}, file_seconds=0.2)
    _request(log, "r1")
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while not list(tmp_path.glob("service=shop/*/*/*.parquet")):
        assert datetime.now(UTC) < deadline, "the writer never closed the idle file"
    assert [r["request_id"] for r in read_log(tmp_path)] == ["r1"]
    log.close()


def test_a_file_being_closed_still_counts_as_open_until_it_is_readable(tmp_path,
                                                                         monkeypatch) -> None:
    """``open_rows == 0`` (with nothing queued) is how a reader knows everything is readable:
    a file being closed must count until its final name exists (a race CI once hit)."""
    import serving.facts_log as facts_log

    seen: list[tuple[int, bool]] = []
    real_replace = os.replace

    def replace_and_look(src, dst):  # called by the writer thread, inside the close
        stats = log.stats()
        seen.append((stats.open_rows + stats.queued_rows, Path(dst).exists()))
        real_replace(src, dst)

    monkeypatch.setattr(facts_log.os, "replace", replace_and_look)
    log = FactsLog(tmp_path, {"shop": SCHEMA}, file_seconds=0.2)
    _request(log, "r1")  # closed by its age bound, on an idle tick (nothing queued then)
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while not seen:
        assert datetime.now(UTC) < deadline, "the writer never closed the idle file"
    assert log.flush(10)
    assert seen == [(2, False)]  # its two rows still counted while it was renamed
    assert log.stats().open_rows == 0
    assert [r["request_id"] for r in read_log(tmp_path)] == ["r1"]
    log.close()


def test_sampling_keeps_the_requests_their_id_selects_and_counts_the_rest(tmp_path) -> None:
    log = FactsLog(tmp_path, {"shop": SCHEMA}, sample_rate=0.3)
    ids = [f"req-{i}" for i in range(200)]
    for rid in ids:
        _request(log, rid)
    log.close()
    kept = [rid for rid in ids if is_sampled(rid, 0.3)]
    assert 30 < len(kept) < 90  # the rate, roughly: the choice is the id's hash
    assert [r["request_id"] for r in read_log(tmp_path)] == kept
    stats = log.stats()
    assert (stats.sampled_out_requests, stats.sampled_out_rows) == (200 - len(kept),
                                                                     2 * (200 - len(kept)))
    assert stats.dropped_requests == 0 and stats.written_requests == len(kept)


def test_a_value_the_column_refuses_drops_that_request_counted_and_the_writer_goes_on(
        tmp_path, caplog) -> None:
    log = FactsLog(tmp_path, {"shop": SCHEMA})
    log.write_encoded(request_id="bad", request_time=WHEN, endpoint="/rank", state_hash="s",
                      model_id=None, names=NAMES, keys=[{"customer": "not-an-int", "sku": "x"}],
                      context={}, encoded=[EncodedRow((0.0, 0.0), {})], service="shop",
                      views=[ServedView([0], ["missing"], [0], [(None, None)]),
                             ServedView([0], ["missing"], [0], [(None,)])])
    log.flush()
    _request(log, "good")
    log.close()
    stats = log.stats()
    assert stats.write_errors == 1 and stats.dropped_requests == 1
    assert [r["request_id"] for r in read_log(tmp_path)] == ["good"]
    reader = LogReader(tmp_path)
    list(reader)
    assert reader.dropped_requests == 1  # the drop marker file counts it too
    assert "writing 1 requests of service shop failed" in caplog.text


def test_a_schema_whose_names_clash_is_refused_naming_them() -> None:
    clash = FactsSchema("s", (("a__b", pa.int64()),), (),
                        (ViewColumns("a", ("b",), ("a__b",), (pa.int64(),)),))
    with pytest.raises(ValueError, match=r"\['a__b'\] occur twice"):
        clash.check()
    own = FactsSchema("s", (("__row", pa.int64()),), (), ())
    with pytest.raises(ValueError, match="start with '__'"):
        own.check()


_CHILD = textwrap.dedent("""
    import os, signal
    from tests.online.test_facts_log import SCHEMA, _request
    from serving.facts_log import FactsLog
    log = FactsLog({directory!r}, {{"shop": SCHEMA}}, file_rows=6)
    for i in range(8):  # 16 rows: files of 6 and 6 closed, 4 rows in the open file
        _request(log, f"r{{i}}")
    log.flush()
    for i in range(8, 10):  # 4 more rows into a new open file, never closed
        _request(log, f"r{{i}}")
    while log.stats().queued_rows:
        pass
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_sigkill_leaves_every_closed_file_whole_and_the_open_one_counted(tmp_path) -> None:
    root = Path(__file__).resolve().parents[2]
    code = _CHILD.format(directory=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    reader = LogReader(tmp_path)
    got = [r["request_id"] for r in reader]
    assert got == [f"r{i}" for i in range(8)]  # 2 closed files of 6 rows, 1 of 4 (flush)
    assert len(reader.unclosed) == 1 and reader.unclosed[0].name.endswith(".open")
    assert "1 served-facts file(s) not closed" in " ".join(reader.notes())
