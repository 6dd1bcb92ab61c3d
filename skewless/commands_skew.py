"""Skew commands: ``parity`` (offline vs online vectors for sampled pairs), ``replay`` (the
served-vector log back through the offline path) and ``skew-report`` (distribution skew
between a training set and the log). Exit 0 when within tolerance, 1 on skew, 2 on bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from skew.cli import (
    BadInput,
    finish,
    load_tolerances,
    pairs_from_labels,
    parse_time,
    read_pairs,
    training_state,
)
from skew.distribution import BINNINGS, DEFAULT_BINS
from skew.samples import DEFAULT_MAX_ROWS
from skewless.commands_repo import ServiceOpt
from skewless.console import EXIT_OK, EXIT_SKEW, guarded, step
from skewless.context import check_labels_source, choices, repo_of

Binning = choices("Binning", BINNINGS)
DEFAULT_BINNING = Binning(BINNINGS[0])

TrainingSetOpt = Annotated[Path | None, typer.Option(
    "--training-set", help="training-set folder: its manifest's service and state hash must "
                           "match the training state", show_default=False)]
TrainingStateOpt = Annotated[Path | None, typer.Option(
    "--training-state", help="encoder state JSON the training set was built with (default the "
                             "service's declared state path)", show_default=False)]
TolerancesOpt = Annotated[Path | None, typer.Option(
    "--tolerances", help='JSON {"*": {"abs": 0, "ulps": 0, "rate": 0}, "<feature>": {...}}; '
                         "default exact equality", show_default=False)]
JsonOpt = Annotated[Path | None, typer.Option(
    "--json", help="also write the report as JSON here", show_default=False)]
AllFeaturesOpt = Annotated[bool, typer.Option(
    "--all-features", help="list every feature in the table, not only those that differ")]
AsKnownOpt = Annotated[bool, typer.Option(
    "--as-known/--no-as-known", help="offline join with (default) or without the "
                                     "created-timestamp filter")]


def parity(
    ctx: typer.Context,
    service: ServiceOpt = None,
    pairs: Annotated[Path | None, typer.Option(
        "--pairs", help="pairs file (.parquet, .csv, .jsonl): join keys, event_timestamp "
                        "(ISO-8601 with offset) and request inputs", show_default=False)] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", help="labels (Parquet path or Spark table) to sample --sample pairs from",
        show_default=False)] = None,
    sample: Annotated[int, typer.Option("--sample", help="pairs sampled from --labels", min=1)
                      ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="sampling seed")] = 7,
    timestamp_column: Annotated[str, typer.Option(
        "--timestamp-column", help="labels column holding the as-of time (with --labels)")
    ] = "event_timestamp",
    training_set: TrainingSetOpt = None,
    training_state_path: TrainingStateOpt = None,
    state: Annotated[Path | None, typer.Option(
        "--state", help="encoder state the server loads (default the training state)",
        show_default=False)] = None,
    tolerances: TolerancesOpt = None,
    json_out: JsonOpt = None,
    all_features: AllFeaturesOpt = False,
    as_known: AsKnownOpt = True,
    redis_db: Annotated[int | None, typer.Option(
        "--redis-db", help="scratch Redis database the online side materializes into, empty "
                           "or a previous parity run's (default SKEWLESS_PARITY_REDIS_DB, "
                           "else 14)", min=0, show_default=False)] = None,
) -> int:
    """Row-level parity: offline vs online vectors for the same pairs, differences classified."""
    from encoders import load
    from skew.parity import parity_check
    from skew.scratch import RedisTarget
    from spark_jobs.spark_session import get_spark

    if (pairs is None) == (labels is None):
        raise BadInput("pass either --pairs FILE or --labels PATH (with --sample N), not "
                       + ("both" if pairs else "neither"))
    rows: Any = read_pairs(pairs) if pairs is not None else None
    if labels is not None:
        check_labels_source(labels)
    repo = repo_of(ctx)
    _, info = repo.service(service)
    enc = training_state(info, training_state_path, training_set)
    online_enc = load(state) if state else enc
    tol = load_tolerances(tolerances, list(enc.names))
    with step("starting Spark"):
        spark = get_spark("skewless-parity")
    if labels is not None:
        from spark_jobs.training_set import load_labels

        rows = pairs_from_labels(load_labels(spark, labels), info, sample, seed,
                                 timestamp_column)
    target = RedisTarget(db=redis_db) if redis_db is not None else None
    with step(f"parity of {info.name} on {len(rows)} pairs"):
        report = parity_check(repo.path, enc, rows, service=info.name, online_enc=online_enc,
                              as_known=as_known, tolerances=tol, redis=target, spark=spark)
    return finish(report, json_out, all_features)


def replay(
    ctx: typer.Context,
    log: Annotated[Path, typer.Option(
        "--log", envvar="SKEWLESS_VECTOR_LOG_DIR",
        help="served-vector log folder (SKEWLESS_VECTOR_LOG_DIR)")],
    service: ServiceOpt = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="replay rows served at or after this ISO-8601 time (with offset)",
        show_default=False)] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="replay rows served before this ISO-8601 time (with offset)",
        show_default=False)] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", help="replay only the most recent N rows", min=1, show_default=False)
    ] = None,
    training_set: TrainingSetOpt = None,
    training_state_path: TrainingStateOpt = None,
    tolerances: TolerancesOpt = None,
    json_out: JsonOpt = None,
    all_features: AllFeaturesOpt = False,
    as_known: AsKnownOpt = True,
) -> int:
    """Replay the served-vector log through the offline path: match rate per feature."""
    from skew.replay import replay_log

    lo, hi = parse_time(since, "--since"), parse_time(until, "--until")
    repo = repo_of(ctx)
    _, info = repo.service(service)
    enc = training_state(info, training_state_path, training_set)
    tol = load_tolerances(tolerances, list(enc.names))
    with step(f"replaying {log}"):
        report = replay_log(log, repo.path, enc, service=info.name, as_known=as_known,
                            tolerances=tol, since=lo, until=hi, limit=limit)
    return finish(report, json_out, all_features)


def skew_report(
    training_set: Annotated[Path, typer.Option(
        "--training-set", help="training-set folder (Parquet + manifest.json)")],
    log: Annotated[Path, typer.Option("--log", help="served-vector log folder")],
    html: Annotated[Path | None, typer.Option(
        "--html", help="write the HTML report here", show_default=False)] = None,
    json_out: JsonOpt = None,
    thresholds: Annotated[Path | None, typer.Option(
        "--thresholds", help="per-feature thresholds (.toml or .json, see skew/thresholds.py)",
        show_default=False)] = None,
    state: Annotated[Path | None, typer.Option(
        "--state", help="encoder state JSON the training set was built with (default the "
                        "manifest's, else SKEWLESS_STATE_PATH)", show_default=False)] = None,
    max_rows: Annotated[int, typer.Option("--max-rows", help="sample cap per side", min=1)
                        ] = DEFAULT_MAX_ROWS,
    bins: Annotated[int, typer.Option("--bins", help="numeric histogram bins", min=1)
                    ] = DEFAULT_BINS,
    binning: Annotated[Binning, typer.Option("--binning", help="numeric bin edges")
                       ] = DEFAULT_BINNING,
    seed: Annotated[int, typer.Option("--seed", help="sampling seed")] = 0,
) -> int:
    """Distribution skew per encoded output between a training set and the served log."""
    from skew.distribution_report import build_report
    from skew.thresholds import load_thresholds

    with step("comparing distributions"):
        report = build_report(training_set, log, state_path=state,
                              thresholds=load_thresholds(thresholds), max_rows=max_rows,
                              bins=bins, binning=binning.value, seed=seed)
    typer.echo(report.table())
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
        typer.echo(f"JSON report: {json_out}")
    if html:
        from skew.html_report import write_html

        typer.echo(f"HTML report: {write_html(report, html)}")
    return EXIT_SKEW if report.flagged else EXIT_OK


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("parity")(guarded(parity))
    app.command("replay")(guarded(replay))
    app.command("skew-report")(guarded(skew_report))
