"""Bad input exits 2 with one line ``error: <message>`` on stderr naming the fix, no
traceback. The first tests need neither Spark nor a registry; the last ones open the demo
service of the session pipeline (fitted) and an applied but unfitted copy of the demo repo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skewless.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _fails(args: list[str], *needles: str) -> str:
    result = runner.invoke(app, args)
    err = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("args, needles", [
    (["fit", "--start", "2024-01-29", "--end", "2024-01-01"], ["must be before --end"]),
    (["fit", "--start", "2024-1-1", "--end", "2024-01-29"], ["--start", "YYYY-MM-DD"]),
    (["training-set", "--labels", "no/such/labels", "--out", "x"],
     ["no labels at no/such/labels", "Spark catalog"]),
    (["training-set", "--labels", "no/such/labels", "--out", "x", "--join", "spark"],
     ["--join", "unknown join 'spark'", "skewless, feast"]),
    (["parity", "--labels", "no/such/labels"], ["no labels at no/such/labels"]),
    (["parity"], ["--pairs FILE or --labels PATH", "neither"]),
    (["parity", "--pairs", "p.csv", "--labels", "l"], ["both"]),
    (["parity", "--pairs", "no_such_pairs.csv"], ["no pairs file at no_such_pairs.csv"]),
    (["replay", "--log", "x", "--since", "2024-01-01"], ["--since", "no UTC offset"]),
    (["materialize", "--end", "2024-02-01"], ["--start", "--incremental"]),
    (["materialize"], ["pass --end", "--full"]),
    (["materialize", "--full", "--start", "2024-01-01"], ["--full takes each view's span",
                                                          "--start"]),
])
def test_bad_input_before_any_store_is_opened(args: list[str], needles: list[str]) -> None:
    _fails(args, *needles)


def test_a_folder_that_is_no_feast_repo(tmp_path: Path) -> None:
    _fails(["--repo", str(tmp_path), "services"], "no feature_store.yaml", "--repo")


def test_training_set_refuses_an_existing_output(tmp_path: Path) -> None:
    labels = tmp_path / "labels.parquet"
    labels.touch()
    _fails(["training-set", "--labels", str(labels), "--out", str(tmp_path)], "--overwrite")


def test_usage_errors_exit_2() -> None:
    result = runner.invoke(app, ["fit", "--end", "2024-01-29"])
    assert result.exit_code == 2 and "--start" in result.output


@pytest.fixture(scope="module")
def unfitted_repo(pipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo repo over the pipeline's feature tables after `feast apply` without
    any state: ranker awaits a fit."""
    from feast_bridge.store import feast_cli

    base = tmp_path_factory.mktemp("unfitted")
    repo = base / "feature_repo"
    repo.mkdir()
    for name in ("feature_store.yaml", "definitions.py"):
        shutil.copy(ROOT / "feature_repo" / name, repo / name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWLESS_DATA_DIR", str(pipeline["data"]))
        mp.setenv("SKEWLESS_STATE_PATH", str(repo / "encoder_state.json"))
        feast_cli("apply", repo=repo)
    return repo


def test_unknown_service_lists_the_known_ones(unfitted_repo: Path) -> None:
    _fails(["--repo", str(unfitted_repo), "fit", "--service", "nope", "--start", "2024-01-01",
            "--end", "2024-01-29"], "'nope'", "known services: ['ranker']")


def test_a_service_not_fitted_names_skewless_fit(unfitted_repo: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.parquet"
    labels.touch()
    _fails(["--repo", str(unfitted_repo), "training-set", "--labels", str(labels), "--out",
            str(tmp_path / "out")], "'ranker' is not fitted", "skewless fit --service ranker")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("member_id,title_id,event_timestamp\n1,2,2024-01-10T00:00:00+00:00\n")
    _fails(["--repo", str(unfitted_repo), "parity", "--pairs", str(pairs)],
           "skewless fit --service ranker")


def test_services_shows_an_unfitted_service(unfitted_repo: Path) -> None:
    result = runner.invoke(app, ["--repo", str(unfitted_repo), "services"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "service ranker" in out and "awaits fit" in out
    assert "member_id: INT64" in out and "device: STRING" in out
    assert "1 encoded service(s)" in out
