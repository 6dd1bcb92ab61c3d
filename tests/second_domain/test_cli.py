"""The same flow through the ``skewless`` command line, on a copy of the data folder (its own
registry) and the state folder: ``services``, ``fit``, ``training-set``, ``materialize`` and
``parity`` exit 0 and agree with the Python API; bad input exits 2 with the fix on stderr.

The commands run in this process (``skewless.cli.run``: the Spark session is shared and feast
is imported once); one bad input goes through the installed ``skewless`` executable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from materialization.materialize import redis_snapshot
from skewless.cli import run
from tests.second_domain.conftest import (
    AS_OF,
    FIT_END,
    FIT_START,
    PARITY_DB,
    REPO,
    feast_apply,
)


@pytest.fixture(scope="module")
def cli_env(online_store, tmp_path_factory):
    """A copy of the feature tables and of the fitted states, a registry of their own (one
    `feast apply` over the copies), as the environment of the commands.

    ``SKEWLESS_SPARK_CONF`` pins the shuffle partitions to the test session's: a fit's float
    sums depend on the partitioning (see the report), and every command's ``get_spark``
    re-applies skewless' default (8) to the running session otherwise."""
    base = tmp_path_factory.mktemp("cli")
    data, state = base / "data", base / "state"
    shutil.copytree(online_store["data"], data, ignore=shutil.ignore_patterns("registry.db"))
    shutil.copytree(online_store["state"], state)
    mp = pytest.MonkeyPatch()
    mp.setenv("GROCERY_DATA_DIR", str(data))
    mp.setenv("GROCERY_STATE_DIR", str(state))
    mp.setenv("SKEWLESS_SPARK_CONF", "spark.sql.shuffle.partitions=4")
    try:
        applied = feast_apply()
        assert applied.returncode == 0, applied.stderr
        yield {**online_store, "cli_data": data, "cli_state": state, "cli_base": base}
    finally:
        mp.undo()


def skewless(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--repo", str(REPO), *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_services_lists_both_with_their_hashes(cli_env, capsys) -> None:
    code, out, err = skewless(capsys, "services")
    assert code == 0, err
    assert "awaits fit" not in out
    for s, info in cli_env["infos"].items():  # rich folds the long hash: look for its start
        assert f"service {s}" in out and info.state_hash[:24] in out
    assert "customer_id: STRING" in out and "product_id: INT64" in out
    assert "channel: STRING, basket_size: INT64" in out


def test_fit_reproduces_the_published_state(cli_env, capsys) -> None:
    code, out, err = skewless(capsys, "fit", "--service", "basket_value", "--start",
                              FIT_START.date(), "--end", FIT_END.date())
    assert code == 0, err
    assert cli_env["infos"]["basket_value"].state_hash in out
    assert str(cli_env["cli_state"] / "basket_value_state.json") in out
    assert "published with `feast apply`" in out


def test_training_set_equals_the_api_one(cli_env, capsys) -> None:
    out_dir = cli_env["cli_base"] / "ts_substitution"
    code, out, err = skewless(capsys, "training-set", "--service", "substitution",
                              "--labels", cli_env["labels"]["substitution"], "--out", out_dir,
                              "--timestamp-column", "asked_at", "--label-column", "accepted")
    assert code == 0, err
    assert "700 rows" in out
    keys = ["customer_id", "product_id", "store_code", "asked_at"]
    got = pq.read_table(out_dir / "data").to_pandas().sort_values(keys, ignore_index=True)
    want = pq.read_table(cli_env["outs"]["substitution"] / "data").to_pandas() \
        .sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(got, want)


def test_materialize_again_changes_nothing(cli_env, capsys) -> None:
    before = redis_snapshot(cli_env["redis"])
    code, out, err = skewless(capsys, "materialize", "--start", "2025-02-28",
                              "--end", AS_OF.isoformat())
    assert code == 0, err
    assert redis_snapshot(cli_env["redis"]) == before


def test_parity_exits_0(cli_env, capsys, tmp_path) -> None:
    from tests.second_domain.test_parity import pairs_for

    pairs = pairs_for(cli_env, "substitution", per_time=25)
    path = tmp_path / "pairs.parquet"
    pairs.to_parquet(path)
    code, out, err = skewless(capsys, "parity", "--service", "substitution", "--pairs", path,
                              "--redis-db", PARITY_DB)
    assert code == 0, out + err


def test_bad_input_exits_2_naming_the_fix(cli_env, capsys, tmp_path) -> None:
    labels = pd.read_parquet(cli_env["labels"]["substitution"]).drop(columns=["store_code"])
    bad = tmp_path / "labels.parquet"
    labels.to_parquet(bad)
    code, _, err = skewless(capsys, "training-set", "--service", "substitution", "--labels",
                            bad, "--out", tmp_path / "ts", "--timestamp-column", "asked_at")
    assert code == 2
    assert "store_code" in err and "substitution" in err
    code, _, err = skewless(capsys, "fit", "--service", "basket_value", "--start",
                            "2025-03-21", "--end", "2025-03-01")
    assert code == 2 and "--start" in err


def test_installed_command_names_the_known_services(cli_env) -> None:
    exe = Path(sys.executable).with_name("skewless")
    proc = subprocess.run([str(exe), "--repo", str(REPO), "fit", "--service", "basket",
                           "--start", "2025-03-01", "--end", "2025-03-21"],
                          capture_output=True, text=True, env={**os.environ})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error:" in proc.stderr
    assert "'basket'" in proc.stderr and "basket_value" in proc.stderr
