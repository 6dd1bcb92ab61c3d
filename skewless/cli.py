"""The ``skewless`` command: every step for any encoded service of a Feast repo.

    skewless [--repo DIR] services
    skewless fit --service S --start YYYY-MM-DD --end YYYY-MM-DD [--state PATH] [--no-apply]
    skewless training-set --service S --labels PATH_OR_TABLE --out DIR [...]
    skewless materialize --start ... --end ... [--service S] [--view V ...] [--incremental]
    skewless materialize --full [--service S] [--view V ...]   (recovery: every registered span)
    skewless serve [--host 127.0.0.1] [--port 8000] [--service S ...]
    skewless parity --service S (--pairs FILE | --labels PATH --sample N) [...]
    skewless replay --service S --log DIR [...]
    skewless skew-report --training-set DIR --log DIR [...]
    skewless consistency --date YYYY-MM-DD [--service S] [--log DIR] [--out DIR] [...]
    skewless demo [--preset tiny] [--fresh]

``--repo`` (before the verb) defaults to ``SKEWLESS_FEATURE_REPO``, else the current folder
when it holds ``feature_store.yaml``, else the checkout's ``feature_repo/``. ``--service`` may
be left out when the repo declares exactly one service. Exit codes: 0 ok, 1 skew found, 2 bad
input (one line ``error: ...`` on stderr; see :mod:`skewless.console`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skewless import (
    __version__,
    commands_consistency,
    commands_demo,
    commands_repo,
    commands_skew,
)
from skewless.context import Repo

app = typer.Typer(
    name="skewless", no_args_is_help=True, add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Feature store with one set of encoders offline (Spark) and online (Redis), and skew "
         "detection proving both give identical vectors. Exit codes: 0 ok, 1 skew found, "
         "2 bad input.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"skewless {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    repo: Annotated[Path | None, typer.Option(
        "--repo", help="Feast repo folder (holds feature_store.yaml); default "
                       "SKEWLESS_FEATURE_REPO, else the current folder when it is a Feast "
                       "repo, else the checkout's feature_repo/", show_default=False)] = None,
    version: Annotated[bool, typer.Option(
        "--version", help="print the version and exit", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """skewless: encoded feature services on Feast, with training/serving skew detection."""
    from feast_bridge.store import repo_path

    ctx.obj = Repo(repo.resolve() if repo else repo_path())


commands_repo.register(app)
commands_skew.register(app)
commands_consistency.register(app)
commands_demo.register(app)


def run(argv: list[str] | None = None) -> int:
    """Run the command line in this process and return its exit code instead of exiting
    (for wrappers and tests); usage errors print typer's message and return 2."""
    try:
        app(args=argv, prog_name="skewless")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return 1
    return 0


def main() -> None:
    """Entry point of the ``skewless`` console script."""
    app(prog_name="skewless")
