"""The commands on the session pipeline's repo (fitted demo service, Spark in this process):
``services`` shows the published state, ``fit --no-apply`` reproduces it, ``training-set``
builds from the demo's raw labels with a renamed timestamp column, and labels lacking a join
key are bad input naming key and service."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from encoders import load
from skewless.cli import app
from spark_jobs.training_set import Manifest

runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_services_shows_the_published_state(pipeline) -> None:
    out = _ok(["--repo", str(pipeline["repo"]), "services"])
    assert "service ranker" in out and "awaits fit" not in out
    assert pipeline["enc"].content_hash[:20] in out.replace("\n", "")
    assert "member_features" in out and "ttl 2d" in out


def test_fit_without_apply_reproduces_the_published_state(pipeline, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    out = _ok(["--repo", str(pipeline["repo"]), "fit", "--start", "2024-01-01", "--end",
               "2024-01-29", "--state", str(state), "--no-apply"])
    fitted = load(state)
    assert "not published (--no-apply)" in out and fitted.content_hash in out
    published = json.loads(Path(pipeline["repo"] / "encoder_state.json").read_text())
    # the statistics are exact sums rounded once: a refit of the same window is bit-identical
    assert json.loads(state.read_text())["encoders"] == published["encoders"]
    assert _ok(["--repo", str(pipeline["repo"]), "services"]).count("awaits fit") == 0


def test_training_set_from_raw_labels(pipeline, tmp_path: Path) -> None:
    out_dir = tmp_path / "ts"
    args = ["--repo", str(pipeline["repo"]), "training-set", "--service", "ranker", "--labels",
            str(pipeline["labels_dir"]), "--out", str(out_dir), "--timestamp-column",
            "impression_ts", "--label-column", "played_within_7d", "--join", "feast"]
    printed = _ok(args)
    manifest, reference = Manifest.read(out_dir), pipeline["manifest"]
    assert manifest.inputs["join"] == "feast" and reference.inputs["join"] == "skewless"
    assert manifest.row_count == reference.row_count and f"{manifest.row_count} rows" in printed
    assert manifest.state_hash == reference.state_hash
    assert manifest.timestamp_column == "impression_ts"
    assert manifest.label_columns == ("played_within_7d",)
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.stderr


def test_labels_missing_a_join_key_name_key_and_service(pipeline, tmp_path: Path) -> None:
    labels = tmp_path / "no_member"
    pipeline["spark"].read.parquet(str(pipeline["labels_dir"])).drop("member_id") \
        .write.parquet(str(labels))
    result = runner.invoke(app, ["--repo", str(pipeline["repo"]), "training-set", "--labels",
                                 str(labels), "--out", str(tmp_path / "ts"),
                                 "--timestamp-column", "impression_ts"])
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert err.startswith("error: ") and "['member_id']" in err and "'ranker'" in err
