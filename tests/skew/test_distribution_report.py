"""End to end: the session pipeline's training set against served-vector logs written with the
real :class:`serving.vector_log.VectorLog` — one that follows the training distribution (nothing
flagged), one with a planted shift on two outputs (exactly those flagged), and the demo's old
biased sample (one member × 100 titles at one request time: *not judged*, not over) — through
the ``scripts/skew_report.py`` command, its exit codes, JSON and HTML. Served requests carry
their label rows' own times (25 rows a request), as representative traffic does."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from serving.vector_log import VectorLog
from spark_jobs.training_set import DATA

ENTITY_KEYS = ("member_id", "title_id")  # the demo service's join keys

ROOT = Path(__file__).resolve().parents[2]
NUMERIC_SHIFTED = "title_plays_7d_log"  # log1p: numeric
CATEGORICAL_SHIFTED = "country_idx"  # vocab index: categorical
SERVED_ROWS = 2000
WHEN = datetime(2024, 2, 1, 12, tzinfo=timezone.utc)  # the biased sample's one request time


def _cli():
    spec = importlib.util.spec_from_file_location("skew_report", ROOT / "scripts/skew_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.main


@pytest.fixture(scope="module")
def served(pipeline, tmp_path_factory):
    """Training rows (dicts) and logs: unshifted, shifted, served with another state."""
    enc, out, manifest = pipeline["enc"], pipeline["out"], pipeline["manifest"]
    names = list(enc.names)
    table = pq.read_table(out / DATA, columns=[*ENTITY_KEYS, "device", "event_timestamp",
                                               *names])
    rows = table.to_pylist()
    rng = np.random.default_rng(42)
    pick = rng.choice(len(rows), size=min(SERVED_ROWS, len(rows)), replace=False)
    sample = [rows[i] for i in pick]

    col = np.array([r[NUMERIC_SHIFTED] for r in rows], dtype=float)
    assert col.std() > 0, f"{NUMERIC_SHIFTED} is constant in the training set"
    cats, counts = np.unique([r[CATEGORICAL_SHIFTED] for r in rows], return_counts=True)
    rare = int(cats[np.argmin(counts)])
    assert counts.min() / len(rows) < 0.5

    def shifted(row: dict, i: int) -> dict:
        row = {**row, NUMERIC_SHIFTED: row[NUMERIC_SHIFTED] + 2 * float(col.std())}
        if i % 5 < 2:  # 40% of the rows move to the rarest category
            row[CATEGORICAL_SHIFTED] = rare
        return row

    base = tmp_path_factory.mktemp("skew_logs")

    def write(name: str, vectors: list[dict], state: str, one_time: bool = False) -> Path:
        log = VectorLog(base / name)
        for start in range(0, len(vectors), 25):  # requests of 25 candidates
            chunk = vectors[start:start + 25]
            when = WHEN if one_time else chunk[0]["event_timestamp"]
            log.write(request_id=f"{name}-{start}", request_time=when, endpoint="/rank",
                      state_hash=state, model_id="m", names=names,
                      rows=[{"member_id": r["member_id"], "title_id": r["title_id"],
                             "device": r["device"], "statuses": {},
                             "values": [r[n] for n in names]} for r in chunk])
        log.close()
        return base / name

    return {
        "out": out, "state": pipeline["repo"] / "encoder_state.json", "names": names,
        "same": write("same", sample, manifest.state_hash),
        "shifted": write("shifted", [shifted(r, i) for i, r in enumerate(sample)],
                         manifest.state_hash),
        "other_state": write("other", sample[:50], "sha256:" + "0" * 64),
        # the demo's old log: one member, 100 titles, one request time — shifted, so a judged
        # report would flag it
        "biased": write("biased", [{**shifted(r, i), "member_id": sample[0]["member_id"],
                                    "title_id": 500_000 + i}
                                   for i, r in enumerate(sample[:101])],
                        manifest.state_hash, one_time=True),
        "base": base, "rows": len(rows),
    }


def test_same_distribution_flags_nothing(served, capsys) -> None:
    out_json = served["base"] / "same.json"
    code = _cli()(["--training-set", str(served["out"]), "--log", str(served["same"]),
                   "--json", str(out_json)])  # state found through SKEWLESS_STATE_PATH
    printed = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    assert report["over_threshold"] == [], printed
    assert code == 0
    assert len(report["features"]) == len(served["names"])
    assert f"{SERVED_ROWS:,} rows (all)" in report["serving_rows"]
    assert "no output over threshold" in printed
    kinds = {f["name"]: f["kind"] for f in report["features"]}
    assert kinds[NUMERIC_SHIFTED] == "numeric" and kinds[CATEGORICAL_SHIFTED] == "categorical"
    assert kinds["watch_minutes_7d_z__missing"] == "categorical"


def test_planted_shift_flags_exactly_those_outputs(served, capsys) -> None:
    html, out_json = served["base"] / "r" / "shifted.html", served["base"] / "shifted.json"
    code = _cli()(["--training-set", str(served["out"]), "--log", str(served["shifted"]),
                   "--state", str(served["state"]), "--html", str(html), "--json",
                   str(out_json)])
    printed = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    assert sorted(report["over_threshold"]) == sorted([NUMERIC_SHIFTED, CATEGORICAL_SHIFTED])
    assert code == 1
    by_name = {f["name"]: f for f in report["features"]}
    assert set(by_name[NUMERIC_SHIFTED]["over_threshold"]) == {"js", "psi"}
    assert by_name[CATEGORICAL_SHIFTED]["over_threshold"] == ["linf"]
    table = printed.splitlines()
    first_rows = [ln.split()[0] for ln in table if ln.split() and "OVER" in ln]
    assert sorted(first_rows) == sorted([NUMERIC_SHIFTED, CATEGORICAL_SHIFTED])
    page = html.read_text(encoding="utf-8")
    box = page[page.index("class='box bad'"):page.index("</div>")]
    assert NUMERIC_SHIFTED in box and CATEGORICAL_SHIFTED in box
    assert page.count("data:image/png;base64,") == len(served["names"])
    assert "<script" not in page and "src='http" not in page  # self-contained


def test_per_feature_overrides_accept_the_shift(served, tmp_path: Path) -> None:
    cfg = tmp_path / "thresholds.toml"
    cfg.write_text(f"[features]\n{NUMERIC_SHIFTED} = {{ js = 1.0, psi = inf }}\n"
                   f'"country_*" = {{ linf = 0.9 }}\n', encoding="utf-8")
    code = _cli()(["--training-set", str(served["out"]), "--log", str(served["shifted"]),
                   "--thresholds", str(cfg)])
    assert code == 0


def test_sample_cap_is_stated(served, capsys) -> None:
    code = _cli()(["--training-set", str(served["out"]), "--log", str(served["same"]),
                   "--max-rows", "1000", "--binning", "quantile"])
    printed = capsys.readouterr().out
    assert f"1,000 of {served['rows']:,} rows (uniform sample)" in printed
    assert "sample cap 1,000 rows" in printed and "quantile bins" in printed
    assert code in (0, 1)  # 1,000 rows: small-sample noise may flag; the cap is what we test


def test_a_biased_sample_is_not_judged(served, capsys, tmp_path: Path) -> None:
    html, out_json = tmp_path / "biased.html", tmp_path / "biased.json"
    args = ["--training-set", str(served["out"]), "--log", str(served["biased"])]
    code = _cli()([*args, "--html", str(html), "--json", str(out_json)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads(out_json.read_text())
    assert report["judged"] is False and report["over_threshold"] == []
    reasons = report["not_judged_reasons"]
    assert len(reasons) == 3, reasons
    assert reasons[0].startswith("101 served rows (fewer than 500)")
    assert reasons[1].startswith("1 distinct member_id (fewer than 50)")
    assert reasons[2].startswith("1 request time (fewer than 10)")
    assert not any("title_id" in r for r in reasons)  # 100 titles: enough
    assert "OVER" not in printed and printed.count("not judged") >= len(served["names"])
    page = html.read_text(encoding="utf-8")
    assert "Not judged" in page and "class='box bad'" not in page and ">OVER<" not in page
    # the same sample judged (every minimum 0) is flagged: the minimums are what hold it back
    cfg = tmp_path / "judge_all.toml"
    cfg.write_text("[sample]\nmin_rows = 0\nmin_entities = 0\nmin_request_times = 0\n")
    assert _cli()([*args, "--thresholds", str(cfg)]) == 1
    assert "OVER" in capsys.readouterr().out
    cfg.write_text("[sample]\nmin_rows = 100\nmin_entities = 1\nmin_request_times = 1\n")
    assert _cli()([*args, "--thresholds", str(cfg)]) == 1  # every minimum reached
    capsys.readouterr()
    cfg.write_text("[sample]\nmin_rows = 102\nmin_entities = 1\nmin_request_times = 1\n")
    assert _cli()([*args, "--thresholds", str(cfg)]) == 0  # one row short
    assert "101 served rows (fewer than 102)" in capsys.readouterr().out


@pytest.mark.parametrize("case, match", [
    ("other_state", "state-version problem"),
    ("empty", "is empty"),
    ("no_log", "not a folder"),
    ("no_training_set", "no training set"),
    ("bad_thresholds", "unknown statistic"),
    ("bad_minimum", "must be a whole number >= 0"),
    ("wrong_state_file", "Pass --state"),
])
def test_bad_input_exits_2_naming_the_fix(served, capsys, tmp_path: Path, case: str,
                                          match: str) -> None:
    args = {"--training-set": str(served["out"]), "--log": str(served["same"])}
    if case in ("other_state", "no_log"):
        args["--log"] = str(served["other_state"] if case == "other_state" else tmp_path / "x")
    elif case == "empty":
        (tmp_path / "empty").mkdir()
        args["--log"] = str(tmp_path / "empty")
    elif case == "no_training_set":
        args["--training-set"] = str(tmp_path / "missing")
    elif case == "bad_thresholds":
        (tmp_path / "t.json").write_text('{"defaults": {"kl": 1}}')
        args["--thresholds"] = str(tmp_path / "t.json")
    elif case == "bad_minimum":
        (tmp_path / "t.json").write_text('{"sample": {"min_rows": -1}}')
        args["--thresholds"] = str(tmp_path / "t.json")
    elif case == "wrong_state_file":
        (tmp_path / "s.json").write_text('{"format": "nope"}')
        args["--state"] = str(tmp_path / "s.json")
    code = _cli()([x for kv in args.items() for x in kv])
    err = capsys.readouterr().err
    assert code == 2
    assert match in err
