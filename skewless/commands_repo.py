"""Commands over a repo's encoded services: ``services``, ``fit``, ``training-set``,
``materialize`` and ``serve``.

Each opens the repo of the global ``--repo``; feast and pyspark load only inside the commands.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from skew.cli import BadInput
from skewless.console import guarded, step
from skewless.context import check_labels_source, day_or_time, repo_of, window

ServiceOpt = Annotated[str | None, typer.Option(
    "--service", help="encoded service to act on; may be left out when the repo declares "
                      "exactly one (`skewless services` lists them)", show_default=False)]
StartDay = Annotated[str, typer.Option(
    "--start", help="first day of the window, YYYY-MM-DD (00:00 UTC, inclusive)")]
EndDay = Annotated[str, typer.Option(
    "--end", help="day after the window, YYYY-MM-DD (00:00 UTC, exclusive)")]


def _ttl(ttl: timedelta | None) -> str:
    if ttl is None:
        return "no ttl"
    if ttl % timedelta(days=1) == timedelta(0):
        return f"ttl {ttl.days}d"
    return f"ttl {ttl}"


def services(ctx: typer.Context) -> None:
    """List the repo's encoded services: state hash or "awaits fit", keys, views, inputs."""
    from rich.console import Console
    from rich.table import Table

    from feast_bridge.services import get_service, service_names

    store = repo_of(ctx).store()
    names = service_names(store)
    if not names:
        get_service(store)  # raises naming encoded_service(...)
    console = Console()
    for name in names:
        info = get_service(store, name)
        table = Table(title=f"service {name}", show_header=False, title_justify="left")
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        table.add_row("state", info.state_hash or "awaits fit "
                      f"(run `skewless fit --service {name} --start ... --end ...`)")
        table.add_row("join keys", ", ".join(f"{k}: {t}" for k, t in info.entity_types))
        table.add_row("views", "\n".join(
            f"{v.name} ({_ttl(v.ttl)}, {len(v.features)} features)" for v in info.views))
        table.add_row("request inputs", ", ".join(f"{n}: {t}" for n, t in info.request_inputs)
                      or "none")
        table.add_row("encoders", str(len(info.specs)))
        table.add_row("state path", str(info.state_path))
        console.print(table)
    typer.echo(f"{len(names)} encoded service(s) in {repo_of(ctx).path}")


def fit(
    ctx: typer.Context,
    start: StartDay,
    end: EndDay,
    service: ServiceOpt = None,
    state: Annotated[Path | None, typer.Option(
        "--state", help="write the state here instead of the service's declared state path "
                        "(needs --no-apply: `feast apply` publishes the declared path only)",
        show_default=False)] = None,
    apply: Annotated[bool, typer.Option(
        "--apply/--no-apply", help="run `feast apply` after the fit so the encoded view "
                                   "publishes the state")] = True,
) -> None:
    """Fit a service's encoders on Spark over [--start, --end) and publish the state."""
    from spark_jobs.fit_publish import fit_service
    from spark_jobs.spark_session import get_spark

    lo, hi = window(start, end)
    repo = repo_of(ctx)
    store, info = repo.service(service)
    with step("starting Spark"):
        spark = get_spark("skewless-fit")
    with step(f"fitting {info.name} on {lo.date()} .. {hi.date()}"):
        pub = fit_service(spark, store, info.name, lo, hi, state_path=state, apply=apply)
    typer.echo(f"service {pub.service}\nstate   {pub.state_path}\nhash    {pub.content_hash}")
    typer.echo("rows    " + ", ".join(f"{v} {n}" for v, n in pub.rows_per_view.items()))
    typer.echo("published with `feast apply`" if apply else
               f"not published (--no-apply): run `feast apply` in {repo.path} to publish")


def training_set(
    ctx: typer.Context,
    labels: Annotated[str, typer.Option(
        "--labels", help="labels: a Parquet file or folder, or a Spark catalog table, with "
                         "the service's join keys, the timestamp column, its request inputs "
                         "and the label columns")],
    out: Annotated[Path, typer.Option("--out", help="training-set folder to create")],
    service: ServiceOpt = None,
    timestamp_column: Annotated[str, typer.Option(
        "--timestamp-column", help="labels column holding the label (request) time")
    ] = "event_timestamp",
    label_column: Annotated[list[str] | None, typer.Option(
        "--label-column", help="label column to keep (repeat for several; default every "
                               "column that is no join key, timestamp or request input)",
        show_default=False)] = None,
    state: Annotated[Path | None, typer.Option(
        "--state", help="encoder state JSON (default the service's declared state path); "
                        "its hash must be the published one", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="replace an existing training set at --out")] = False,
    as_known: Annotated[bool, typer.Option(
        "--as-known/--no-as-known", help="join only feature rows created by the label time "
                                         "(as the online store could serve them)")] = True,
    join: Annotated[str, typer.Option(
        "--join", help="who computes the point-in-time join: skewless (its own sort-based "
                       "as-of join) or feast (Feast's Spark offline store, the reference)")
    ] = "skewless",
    from_log: Annotated[Path | None, typer.Option(
        "--from-log", help="build from the served-facts log in this folder (what the server "
                           "read and served) instead of the point-in-time join; --state may "
                           "then be any state, e.g. a refit one to evaluate",
        show_default=False)] = None,
    match: Annotated[str, typer.Option(
        "--match", help="with --from-log: how a label finds its served row: time (join keys, "
                        "label time = request time, and the request inputs the labels carry) "
                        "or request_id (a request_id column in the labels)")] = "time",
) -> None:
    """Build an encoded training set (Parquet + manifest.json): point-in-time correct from the
    feature tables, or from what the server served (--from-log)."""
    from spark_jobs.spark_session import short_job_for, start_spark
    from spark_jobs.training_from_log import MATCHES
    from spark_jobs.training_set import build_training_set, check_join, load_labels

    try:
        check_join(join)
    except ValueError as exc:
        raise BadInput(f"--join: {exc}") from None
    if match not in MATCHES:
        raise BadInput(f"--match: unknown match {match!r}; choose one of {', '.join(MATCHES)}")
    if from_log is not None and not from_log.is_dir():
        raise BadInput(f"--from-log: {from_log} is not a folder; pass the server's log folder "
                       "(SKEWLESS_VECTOR_LOG_DIR, default data/vector_log)")
    check_labels_source(labels)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite or another --out")
    # the JVM starts while Feast is imported and the registry read (small labels: a short job)
    starting = start_spark("skewless-training-set", short_job=short_job_for(labels))
    store, info = repo_of(ctx).service(service)
    if from_log is not None:
        _training_set_from_log(store, info, starting, from_log, labels, out, state,
                               timestamp_column, label_column, overwrite, match)
        return
    info.require_fitted()
    enc = info.load_state(state)
    with step("starting Spark"):
        spark = starting.result()
    with step(f"building the {info.name} training set"):
        manifest = build_training_set(
            store, load_labels(spark, labels), enc, out, service=info.name,
            timestamp_column=timestamp_column, label_columns=label_column or None,
            overwrite=overwrite, as_known=as_known, join=join,
            inputs={"labels": labels, "state": str(Path(state or info.state_path).resolve())})
    typer.echo(f"training set {out}: {manifest.row_count} rows, {manifest.time_range[0]} .. "
               f"{manifest.time_range[1]}, labels {list(manifest.label_columns)}, state "
               f"{manifest.state_hash}")


def _training_set_from_log(store: Any, info: Any, starting: Any, log: Path, labels: str,
                           out: Path, state: Path | None, timestamp_column: str,
                           label_column: list[str] | None, overwrite: bool, match: str) -> None:
    """``training-set --from-log``: any state (a refit one is evaluated on served inputs);
    ``starting``: the Spark session being started (``start_spark``)."""
    from encoders import load
    from spark_jobs.training_from_log import build_training_set_from_log
    from spark_jobs.training_set import load_labels

    enc = load(state) if state else info.load_state()
    with step("starting Spark"):
        spark = starting.result()
    with step(f"building the {info.name} training set from the served facts in {log}"):
        manifest = build_training_set_from_log(
            store, spark, log, load_labels(spark, labels), enc, out, service=info.name,
            match=match, timestamp_column=timestamp_column,
            label_columns=label_column or None, overwrite=overwrite,
            inputs={"labels": labels, "state": str(Path(state or info.state_path).resolve())})
    unmatched = manifest.inputs["unmatched_labels"]
    typer.echo(f"training set {out} (from the log): {manifest.row_count} rows, "
               f"{manifest.time_range[0]} .. {manifest.time_range[1]}, labels "
               f"{list(manifest.label_columns)}, state {manifest.state_hash}; "
               f"{unmatched} label(s) matched no served row"
               + (f"; served with {manifest.inputs['served_state_hashes']}"
                  if manifest.inputs["served_state_hashes"] != [manifest.state_hash] else ""))


def materialize(
    ctx: typer.Context,
    end: Annotated[str | None, typer.Option(
        "--end", help="load rows up to this time: YYYY-MM-DD (00:00 UTC) or ISO-8601 with an "
                      "offset; required unless --full", show_default=False)] = None,
    start: Annotated[str | None, typer.Option(
        "--start", help="load rows from this time (same formats); required unless "
                        "--incremental or --full", show_default=False)] = None,
    incremental: Annotated[bool, typer.Option(
        "--incremental", help="start where the previous run of each view ended")] = False,
    full: Annotated[bool, typer.Option(
        "--full", help="recovery: re-materialize each view over everything the registry "
                       "says was materialized (earliest start to latest end), whatever it "
                       "says is done; restores a Redis that lost its data")] = False,
    service: Annotated[str | None, typer.Option(
        "--service", help="only the views of this service (default every online view)",
        show_default=False)] = None,
    view: Annotated[list[str] | None, typer.Option(
        "--view", help="only this feature view (repeat for several)", show_default=False)
    ] = None,
) -> None:
    """Load feature rows into the online store (Redis), counting the rows written."""
    from materialization.materialize import materialize as run

    if full and (start or end or incremental):
        raise BadInput("--full takes each view's span from the registry: leave out --start, "
                       "--end and --incremental")
    if not full and end is None:
        raise BadInput("pass --end (or --full to re-materialize what the registry records)")
    if start is None and not incremental and not full:
        raise ValueError("pass --start (or --incremental to continue from the previous run)")
    repo = repo_of(ctx)
    views: list[str] | None = list(view) if view else None
    if service is not None:
        store, info = repo.service(service)
        views = [*(views or []), *(v.name for v in info.views if v.name not in (views or []))]
    else:
        store = repo.store()
    if full:
        _materialize_full(store, views)
        return
    lo = None if start is None else day_or_time(start, "--start")
    hi = day_or_time(end or "", "--end")
    with step("materializing"):
        result = run(store, lo, hi, incremental, views=views)
    typer.echo(_summary(result, hi))


def _summary(result: Any, hi: Any) -> str:
    per_view = ", ".join(f"{v} {n}" for v, n in result.rows_by_view or ())
    return (f"materialized {', '.join(result.views) or 'no views'} up to {hi.isoformat()} "
            f"({result.engine} engine, {result.seconds:.1f}s): {result.rows_written} entity "
            "rows written" + (f" ({per_view})" if per_view else ""))


def _materialize_full(store: Any, views: list[str] | None) -> None:
    from materialization.recover import materialize_full, registered_spans

    spans, never = registered_spans(store, views)
    if not spans:
        raise BadInput(f"no view of {views or 'the repo'} was ever materialized, so --full "
                       "has no span to restore; run `skewless materialize --start ... --end "
                       "...` first")
    with step("re-materializing " + "; ".join(
            f"{', '.join(s.views)} from {s.start.isoformat()} to {s.end.isoformat()}"
            for s in spans)):
        result = materialize_full(store, [v for s in spans for v in s.views])
    for span, run in result.runs:
        typer.echo(_summary(run, span.end).replace("up to", f"from {span.start.isoformat()} "
                                                            "up to", 1))
    for name in never:
        typer.echo(f"skipped {name}: never materialized (run `skewless materialize --start "
                   f"... --end ... --view {name}`)")


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on", min=1, max=65535)
                    ] = 8000,
    service: Annotated[list[str] | None, typer.Option(
        "--service", help="serve this service (repeat for several; default every fitted "
                          "service); sets SKEWLESS_SERVICES", show_default=False)] = None,
    log_level: Annotated[str, typer.Option(
        "--log-level", help="uvicorn log level (critical, error, warning, info, debug)")
    ] = "info",
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="server processes (default SKEWLESS_WORKERS, else 1); with "
                                 "more than one, each logs to <log dir>/worker-<k>",
        show_default=False)] = None,
) -> None:
    """Run the HTTP server (uvicorn, serving.api:app); other settings: SKEWLESS_* env."""
    import uvicorn

    from serving.settings import workers_from_env

    repo = repo_of(ctx)
    if not (repo.path / "feature_store.yaml").exists():
        repo.store()  # raises naming --repo
    os.environ["SKEWLESS_FEATURE_REPO"] = str(repo.path)
    if service:
        os.environ["SKEWLESS_SERVICES"] = ",".join(service)
    from serving.settings import Settings

    Settings.from_env()  # a bad SKEWLESS_* value (e.g. the Redis port) stops here, named
    typer.echo(f"serving {', '.join(service) if service else 'every fitted service'} of "
               f"{repo.path} on http://{host}:{port}", err=True)
    if workers is not None:
        os.environ["SKEWLESS_WORKERS"] = str(workers)
    from serving.http_protocol import PROTOCOL  # 431 past the head limit, one write per answer

    uvicorn.run("serving.api:app", host=host, port=port, log_level=log_level, http=PROTOCOL,
                workers=workers_from_env())


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    commands: dict[str, Any] = {"services": services, "fit": fit, "training-set": training_set,
                                "materialize": materialize, "serve": serve}
    for name, fn in commands.items():
        app.command(name)(guarded(fn))
