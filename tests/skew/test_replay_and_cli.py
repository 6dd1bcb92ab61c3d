"""Log replay (served vectors back through the offline path at the logged times) and the
``skewless parity`` / ``skewless replay`` commands (exit codes 0 / 1 / 2, JSON output)."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import datetime, timezone

import pytest

from materialization.materialize import materialize
from serving.online import OnlineEncoder
from skew.classify import STATE_VERSION, VALUE
from skew.pytest_plugin import parity_redis  # noqa: F401
from skew.replay import replay_log
from skew.scratch import private_store, scratch_client
from tests.skew.faults import LocalClockServer, serve_and_log
from tests.skew.parity_cases import LATER, edge_case_pairs


@pytest.fixture(scope="module")
def logs(pipeline, parity_redis, tmp_path_factory):  # noqa: F811
    """Logs of a correct server and of a UTC-5-clock server, both at ``LATER`` with the store
    materialized up to then, plus a log claiming another state."""
    base = tmp_path_factory.mktemp("replay")
    store = private_store(pipeline["repo"], parity_redis, base)
    scratch_client(store).close()
    materialize(store, datetime(2023, 12, 1, tzinfo=timezone.utc), LATER, count_rows=False)
    enc = pipeline["enc"]
    pairs = edge_case_pairs(pipeline["labels"], 80, times=(LATER,), seed=17)
    serve_and_log(OnlineEncoder(store, enc), pairs, base / "good", enc.content_hash, LATER)
    serve_and_log(LocalClockServer(store, enc), pairs, base / "clock", enc.content_hash,
                  LATER)
    serve_and_log(OnlineEncoder(store, enc), pairs[:10], base / "other_state",
                  "sha256:" + "0" * 64, LATER)
    return base


def test_replay_of_a_correct_server_matches_everywhere(pipeline, logs) -> None:
    report = replay_log(logs / "good", pipeline["repo"], pipeline["enc"],
                        spark=pipeline["spark"])
    assert report.compared_rows == 80 and report.ok, report.by_class
    assert all(f.match_rate == 1.0 for f in report.features)


def test_replay_classifies_a_clock_fault(pipeline, logs) -> None:
    report = replay_log(logs / "clock", pipeline["repo"], pipeline["enc"],
                        spark=pipeline["spark"])
    assert not report.ok
    hour = next(f for f in report.features if f.name == "request_hour__sin")
    assert hour.match_rate < 1.0
    assert report.classes_of("request_hour__sin") == {VALUE}
    assert report.causes_of("request_hour__sin") == {"request_time_shift"}
    plan = next(f for f in report.features if f.name.startswith("plan_oh"))
    assert plan.match_rate == 1.0


def test_replay_of_another_state_is_state_version(pipeline, logs) -> None:
    report = replay_log(logs / "other_state", pipeline["repo"], pipeline["enc"],
                        spark=pipeline["spark"])
    assert not report.ok and not report.state_match
    assert {d.klass for d in report.differences} <= {STATE_VERSION}


def test_replay_bad_input(pipeline, logs, tmp_path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        replay_log(tmp_path / "nope", pipeline["repo"], pipeline["enc"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no served rows"):
        replay_log(tmp_path / "empty", pipeline["repo"], pipeline["enc"])


def test_replay_skips_a_torn_last_line_and_counts_drops(pipeline, logs, tmp_path, caplog,
                                                        capsys) -> None:
    """Issue 14.6: a SIGKILL's torn last line is skipped with a warning naming the file and
    line, the summary counts it (and the drops a marker line records), the exit code is the
    replay's own (0 here), not a bare JSON error."""
    from skewless.cli import run

    log_dir = tmp_path / "torn"
    shutil.copytree(logs / "good", log_dir)
    path = log_dir / "vectors.jsonl"
    whole = len(path.read_text().splitlines())
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"marker": "dropped", "requests": 2, "rows": 40, "services": {"ranker": '
                 '{"requests": 2, "rows": 40}}}\n')
        fh.write('{"request_id": "torn", "time": "2024-')
    out = tmp_path / "replay.json"
    with caplog.at_level(logging.WARNING, logger="skewless.vector_log"):
        code = run(["--repo", str(pipeline["repo"]), "replay", "--service", "ranker",
                    "--training-set", str(pipeline["out"]), "--log", str(log_dir),
                    "--json", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed
    where = f"{path} line {whole + 2}"
    assert where in caplog.text
    body = json.loads(out.read_text())
    assert body["compared_rows"] == 80 and body["ok"]
    summary = " ".join(printed.out.split())  # the table wraps long lines
    assert f"skipped 1 log line(s) that are not JSON: {where}: " in summary
    assert "dropped 2 requests (40 rows)" in summary
    assert sum("skipped 1 log line" in n or "dropped 2 requests" in n
               for n in body["notes"]) == 2


def test_cli_exit_codes_and_json(pipeline, logs, parity_redis, tmp_path, capsys) -> None:  # noqa: F811
    """``skewless parity`` / ``skewless replay`` in-process: exit codes, JSON, messages."""
    from skewless.cli import run

    root = ["--repo", str(pipeline["repo"])]
    common = ["--service", "ranker", "--training-set", str(pipeline["out"])]
    pairs = tmp_path / "pairs.jsonl"
    rows = edge_case_pairs(pipeline["labels"], 30, times=(LATER,), seed=23)
    pairs.write_text("".join(json.dumps({**r, "event_timestamp": r["event_timestamp"]
                                         .isoformat()}) + "\n" for r in rows))
    out = tmp_path / "parity.json"
    code = run([*root, "parity", *common, "--pairs", str(pairs), "--json", str(out),
                "--redis-db", str(parity_redis.db)])
    assert code == 0, capsys.readouterr()
    body = json.loads(out.read_text())
    assert body["ok"] and body["compared_rows"] == 30 and body["by_class"]["value"] == 0
    assert "PASS" in capsys.readouterr().out

    code = run([*root, "replay", *common, "--log", str(logs / "clock"), "--json",
                str(tmp_path / "replay.json")])
    assert code == 1
    assert "request_hour__sin" in capsys.readouterr().out
    assert json.loads((tmp_path / "replay.json").read_text())["by_class"]["value"] > 0

    bad_tol = tmp_path / "tol.json"
    bad_tol.write_text(json.dumps({"no_such_feature": {"abs": 1}}))
    assert run([*root, "replay", *common, "--log", str(logs / "good"), "--tolerances",
                str(bad_tol)]) == 2
    assert "unknown features ['no_such_feature']" in capsys.readouterr().err
    assert run([*root, "parity", *common, "--pairs", str(tmp_path / "missing.csv")]) == 2
    assert "no pairs file" in capsys.readouterr().err
    assert run([*root, "replay", *common, "--log", str(logs / "good"),
                "--since", "2024-01-01"]) == 2
    assert "no UTC offset" in capsys.readouterr().err


def test_cli_parity_samples_generic_labels(pipeline, parity_redis, tmp_path, capsys) -> None:  # noqa: F811
    """``--labels`` with the demo's raw labels: the label time is ``impression_ts``, the pairs
    carry the service's join keys and request inputs; a missing join key is bad input."""
    from skewless.cli import run

    root = ["--repo", str(pipeline["repo"]), "parity", "--redis-db", str(parity_redis.db)]
    code = run([*root, "--labels", str(pipeline["labels_dir"]), "--sample", "40",
                "--timestamp-column", "impression_ts", "--json", str(tmp_path / "p.json")])
    assert code == 0, capsys.readouterr()
    assert json.loads((tmp_path / "p.json").read_text())["compared_rows"] == 40
    capsys.readouterr()
    spark = pipeline["spark"]
    no_key = tmp_path / "no_title"
    spark.read.parquet(str(pipeline["labels_dir"])).drop("title_id").write.parquet(str(no_key))
    assert run([*root, "--labels", str(no_key), "--timestamp-column", "impression_ts"]) == 2
    err = capsys.readouterr().err
    assert "['title_id']" in err and "'ranker'" in err and "Traceback" not in err
