"""``skewless demo``: the demo's main job (:mod:`demo.main_job`) end to end on the embedded
defaults, with a spinner per stage, per-stage times and the summary."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from demo.facts import PRESETS
from skewless.console import guarded, spinner
from skewless.context import choices, repo_of

Preset = choices("Preset", sorted(PRESETS))
DEFAULT_PRESET = Preset("tiny")


def demo(
    ctx: typer.Context,
    preset: Annotated[Preset, typer.Option(
        "--preset", help="size of the generated facts (tiny: minutes; large: 10M events)")
    ] = DEFAULT_PRESET,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="regenerate facts, labels and feature tables even when the ones in "
                        "SKEWLESS_DATA_DIR match the preset")] = False,
) -> None:
    """Run the demo's main job end to end (data in SKEWLESS_DATA_DIR, default data/)."""
    from demo.main_job import run_main_job, summary_lines

    warnings.filterwarnings("ignore", message=".*httpx2")  # the in-process TestClient
    result = run_main_job(preset.value, fresh, repo=repo_of(ctx).path, progress=spinner)
    typer.echo("")
    for line in summary_lines(result):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    app.command("demo")(guarded(demo))
