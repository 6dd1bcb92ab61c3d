"""``skewless consistency --date D``: one UTC day of the served-vector log replayed through the
offline path, per-feature metrics appended to a Parquet table (:mod:`skew.consistency_table`;
re-running a day replaces that day's rows for that service) and a trend page written.

Exit codes: 0 every output's match rate at or above the threshold, 1 some output below it (for
a scheduler to alert on), 2 bad input — a date that is not ``YYYY-MM-DD``, no log folder, no
row logged on that day (the message names the day and the folder), an unknown service.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from skew.cli import BadInput, load_tolerances, training_state
from skewless.commands_repo import ServiceOpt
from skewless.commands_skew import AsKnownOpt, TolerancesOpt, TrainingSetOpt, TrainingStateOpt
from skewless.console import EXIT_OK, EXIT_SKEW, guarded, step
from skewless.context import day as as_day
from skewless.context import repo_of

THRESHOLD_ENV, DIR_ENV = "SKEWLESS_CONSISTENCY_THRESHOLD", "SKEWLESS_CONSISTENCY_DIR"


def default_table() -> Path:
    """``SKEWLESS_CONSISTENCY_DIR``, else ``<SKEWLESS_DATA_DIR>/consistency``."""
    from feast_bridge.store import data_dir

    return Path(os.environ.get(DIR_ENV) or data_dir() / "consistency")


def default_log() -> Path:
    """``SKEWLESS_VECTOR_LOG_DIR``, else ``<SKEWLESS_DATA_DIR>/vector_log`` (the server's)."""
    from feast_bridge.store import data_dir

    return Path(os.environ.get("SKEWLESS_VECTOR_LOG_DIR") or data_dir() / "vector_log")


def default_threshold() -> float:
    """``SKEWLESS_CONSISTENCY_THRESHOLD`` (a number in [0, 1]), else 0.99."""
    from skew.consistency import DEFAULT_THRESHOLD

    text = os.environ.get(THRESHOLD_ENV)
    if not text:
        return DEFAULT_THRESHOLD
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise BadInput(f"{THRESHOLD_ENV}={text!r} must be a match rate between 0 and 1 "
                       f"(default {DEFAULT_THRESHOLD})")
    return value


def consistency(
    ctx: typer.Context,
    day: Annotated[str, typer.Option(
        "--date", help="UTC day of the logged request times to replay, YYYY-MM-DD")],
    service: ServiceOpt = None,
    log: Annotated[Path | None, typer.Option(
        "--log", help="served-vector log folder (default SKEWLESS_VECTOR_LOG_DIR, else "
                      "<data dir>/vector_log)", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="consistency table folder (Parquet; default SKEWLESS_CONSISTENCY_DIR, "
                      "else <data dir>/consistency)", show_default=False)] = None,
    html: Annotated[Path | None, typer.Option(
        "--html", help="trend page to write (default <table folder>/<service>.html)",
        show_default=False)] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="exit 1 when an output's match rate is below this (default "
                            "SKEWLESS_CONSISTENCY_THRESHOLD, else 0.99)", min=0.0, max=1.0,
        show_default=False)] = None,
    training_set: TrainingSetOpt = None,
    training_state_path: TrainingStateOpt = None,
    tolerances: TolerancesOpt = None,
    as_known: AsKnownOpt = True,
) -> int:
    """Daily consistency: replay one day's log, append per-feature metrics, plot the trend."""
    from skew.consistency import day_consistency, worst
    from skew.consistency_html import write_page
    from skew.consistency_table import read_history, write_day

    when = as_day(day, "--date").date()
    limit = default_threshold() if threshold is None else threshold
    log_dir, table = log or default_log(), out or default_table()
    repo = repo_of(ctx)
    _, info = repo.service(service)
    enc = training_state(info, training_state_path, training_set)
    tol = load_tolerances(tolerances, list(enc.names))
    with step(f"replaying {info.name}'s rows logged on {when}"):
        result = day_consistency(log_dir, repo.path, enc, info.name, when, as_known=as_known,
                                 tolerances=tol)
    written = write_day(table, result)
    page = write_page(result, read_history(table, info.name), limit,
                      html or table / f"{info.name}.html")
    below = result.below(limit)
    typer.echo(f"consistency of {info.name} on {when}: {result.rows:,} logged rows, "
               f"{len(result.features)} outputs, {len(below)} below match rate {limit:g}")
    for f in worst(result.features):
        causes = ", ".join(f"{c} {n}" for c, n in f.causes) or "-"
        typer.echo(f"  {f.feature}: match {f.match_rate:.4f} ({f.mismatches:,} mismatches; "
                   f"null online-only {f.online_only_null:,}, offline-only "
                   f"{f.offline_only_null:,}); causes {causes}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"table: {written}")
    typer.echo(f"page:  {page}")
    return EXIT_SKEW if below else EXIT_OK


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    app.command("consistency")(guarded(consistency))
