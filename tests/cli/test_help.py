"""``skewless --help`` and every verb's help: the verbs are listed, every option is
documented, and importing the command line loads neither feast nor pyspark."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from skewless.cli import app

VERBS = ("services", "fit", "training-set", "materialize", "serve", "parity", "replay",
         "skew-report", "consistency", "demo")
runner = CliRunner()


def test_root_help_lists_every_verb_and_the_global_options() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for verb in VERBS:
        assert verb in result.output
    assert "--repo" in result.output and "SKEWLESS_FEATURE_REPO" in result.output


def test_every_verb_is_registered() -> None:
    assert set(typer.main.get_command(app).commands) == set(VERBS)  # type: ignore[attr-defined]


@pytest.mark.parametrize("verb", VERBS)
def test_every_option_of_every_verb_is_documented(verb: str) -> None:
    command = typer.main.get_command(app).commands[verb]  # type: ignore[attr-defined]
    assert command.help, f"{verb} has no help text"
    undocumented = [p.name for p in command.params if not getattr(p, "help", None)]
    assert not undocumented, f"{verb}: options without help: {undocumented}"
    result = runner.invoke(app, [verb, "--help"])
    assert result.exit_code == 0, result.output
    for param in command.params:
        for flag in param.opts:
            assert flag in result.output, f"{verb} --help does not show {flag}"


def test_root_options_are_documented() -> None:
    group = typer.main.get_command(app)
    assert all(getattr(p, "help", None) for p in group.params)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("skewless ")


def test_importing_the_cli_loads_neither_feast_nor_pyspark() -> None:
    code = ("import sys, skewless, skewless.cli; "
            "print(sorted(m for m in ('feast', 'pyspark') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
