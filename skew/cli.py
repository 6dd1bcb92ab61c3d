"""What ``scripts/parity.py`` and ``scripts/replay.py`` share: the options every skew command
takes, loading the training state and the tolerances, and writing the report.

Exit codes: 0 = every feature within tolerance, 1 = above tolerance (or state hashes differ),
2 = bad input (a message naming the problem and the fix, no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from skew.classify import Tolerances
from skew.report import ParityReport
from skew.report_terminal import render

EXIT_OK, EXIT_SKEW, EXIT_BAD_INPUT = 0, 1, 2
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class BadInput(Exception):
    """A command-line input is wrong; the message names the fix."""


def add_common(parser: argparse.ArgumentParser) -> None:
    repo = os.environ.get("SKEWLESS_FEATURE_REPO", str(PROJECT_ROOT / "feature_repo"))
    parser.add_argument("--repo", default=repo, help="Feast repo (SKEWLESS_FEATURE_REPO)")
    parser.add_argument("--training-set", default=None,
                        help="training-set folder: its manifest's state hash must be the "
                             "training state's")
    parser.add_argument("--training-state", default=None,
                        help="encoder state JSON the training set was built with (default: "
                             "SKEWLESS_STATE_PATH, <repo>/encoder_state.json)")
    parser.add_argument("--tolerances", default=None,
                        help='JSON file {"*": {"abs": 0, "ulps": 0, "rate": 0}, "<feature>": '
                             '{...}}; default exact equality')
    parser.add_argument("--json", dest="json_out", default=None, help="write the report here")
    parser.add_argument("--all-features", action="store_true",
                        help="list every feature in the table, not only those that differ")
    parser.add_argument("--no-as-known", action="store_true",
                        help="offline join without the created-timestamp filter")


def training_state(args: argparse.Namespace) -> Any:
    """The training encoder set, checked against the manifest when one is given."""
    from encoders import load
    from spark_jobs.training_set import Manifest

    path = Path(args.training_state or os.environ.get(
        "SKEWLESS_STATE_PATH", Path(args.repo) / "encoder_state.json"))
    if not path.exists():
        raise BadInput(f"no encoder state at {path}; pass --training-state or publish one "
                       "(scripts/fit_publish.py)")
    enc = load(path)
    if args.training_set:
        try:
            manifest = Manifest.read(args.training_set)
        except FileNotFoundError as exc:
            raise BadInput(str(exc)) from None
        if manifest.state_hash != enc.content_hash:
            raise BadInput(f"{path} has state {enc.content_hash} but the training set "
                           f"{args.training_set} was built with {manifest.state_hash}; pass "
                           "--training-state with the state it was built with")
    return enc


def tolerances(args: argparse.Namespace, names: list[str]) -> Tolerances:
    if not args.tolerances:
        return Tolerances()
    p = Path(args.tolerances)
    try:
        spec = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"no tolerances file at {p}") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{p} is not JSON ({exc})") from None
    try:
        return Tolerances.from_mapping(spec, names)
    except ValueError as exc:
        raise BadInput(f"{p}: {exc}") from None


def finish(report: ParityReport, args: argparse.Namespace) -> int:
    """Print the table, write the JSON, return the exit code."""
    render(report, sys.stdout, all_features=args.all_features)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report.to_json(), indent=2, default=str),
                                       encoding="utf-8")
    return EXIT_OK if report.ok else EXIT_SKEW


def run(main: Any, argv: list[str] | None = None) -> int:
    """Call ``main(argv)``; bad input becomes exit code 2 with the message on stderr."""
    try:
        return main(argv)
    except (BadInput, ValueError, FileNotFoundError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
