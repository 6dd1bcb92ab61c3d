"""What the skew commands (``skewless parity``, ``skewless replay``) share, on plain values:
the training state checked against a training set, tolerances, pairs from a file or sampled
from labels, ISO times, and writing the report.

Exit codes: 0 = every feature within tolerance, 1 = above tolerance (or state hashes differ),
2 = bad input (a message naming the problem and the fix, no traceback).

Every helper raises :class:`BadInput` (a ``ValueError``) or ``LookupError`` for unusable input;
the command line turns both into exit code 2. Nothing here imports feast or pyspark at import
time.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from skew.classify import Tolerances
from skew.report import ParityReport
from skew.report_terminal import render

if TYPE_CHECKING:  # pragma: no cover
    from encoders import EncoderSet
    from feast_bridge.services import ServiceInfo

EXIT_OK, EXIT_SKEW, EXIT_BAD_INPUT = 0, 1, 2
AS_OF = "event_timestamp"  # the column pairs carry their as-of time in


class BadInput(ValueError):
    """A command-line input is wrong; the message names the fix."""


def training_state(info: ServiceInfo, state_path: str | os.PathLike[str] | None = None,
                   training_set: str | os.PathLike[str] | None = None) -> EncoderSet:
    """The training encoder set of service ``info``: ``state_path`` (default the service's
    declared state path), checked against the training set's manifest when one is given.

    Edge cases: no state file and no published state raises ``LookupError`` naming
    ``skewless fit``; a state file the manifest was not built with, or a training set of
    another service, raises :class:`BadInput`. The registry's published hash is deliberately
    not enforced: parity may compare a training state with another served state."""
    from encoders import load
    from spark_jobs.training_set import Manifest

    path = Path(state_path) if state_path else info.state_path
    if not path.exists():
        if not state_path:
            info.require_fitted()
        raise BadInput(f"no encoder state at {path}; pass --training-state or run `skewless "
                       f"fit --service {info.name}`")
    enc = load(path)
    if training_set:
        manifest = Manifest.read(training_set)
        if manifest.service and manifest.service != info.name:
            raise BadInput(f"the training set {training_set} belongs to service "
                           f"{manifest.service!r}, not {info.name!r}; pass --service "
                           f"{manifest.service}")
        if manifest.state_hash != enc.content_hash:
            raise BadInput(f"{path} has state {enc.content_hash} but the training set "
                           f"{training_set} was built with {manifest.state_hash}; pass "
                           "--training-state with the state it was built with")
    return enc


def load_tolerances(path: str | os.PathLike[str] | None, names: list[str]) -> Tolerances:
    """Tolerances from a JSON file (``None``: exact equality); features it names must be in
    ``names``."""
    if not path:
        return Tolerances()
    p = Path(path)
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


def read_pairs(path: str | os.PathLike[str]) -> Any:
    """A pandas frame of pairs from ``.parquet`` (file or folder), ``.csv`` or ``.jsonl``."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise BadInput(f"no pairs file at {p}")
    if p.suffix == ".parquet" or p.is_dir():
        return pd.read_parquet(p)
    if p.suffix == ".csv":
        return pd.read_csv(p)
    if p.suffix in (".jsonl", ".json"):
        return pd.read_json(p, lines=p.suffix == ".jsonl")
    raise BadInput(f"{p}: pairs must be .parquet, .csv or .jsonl")


def pairs_from_labels(labels: Any, info: ServiceInfo, n: int, seed: int = 7,
                      timestamp_column: str = AS_OF) -> list[dict[str, Any]]:
    """``n`` pairs sampled reproducibly from a Spark labels frame: the service's join keys,
    the label time (``timestamp_column``, renamed ``event_timestamp``) and its request
    inputs. Missing columns raise ``ValueError`` naming them and the service."""
    from skew.pairs import sample_pairs
    from spark_jobs.training_set import check_labels

    if n < 1:
        raise BadInput(f"--sample {n} must be >= 1")
    check_labels(labels, info, timestamp_column, ())
    frame = labels.select(*info.entity_keys, labels[timestamp_column].alias(AS_OF),
                          *info.request_names)
    return sample_pairs(frame, n, seed)


def parse_time(text: str | None, option: str) -> datetime | None:
    """An aware ISO-8601 time (``Z`` allowed); ``None`` stays ``None``."""
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{option} {text!r} is not an ISO-8601 time; write e.g. "
                       "2024-02-01T00:00:00+00:00") from None
    if t.tzinfo is None:
        raise BadInput(f"{option} {text!r} has no UTC offset; add +00:00")
    return t


def finish(report: ParityReport, json_out: str | os.PathLike[str] | None = None,
           all_features: bool = False, out: TextIO | None = None) -> int:
    """Print the table, write the JSON report (when asked), return the exit code."""
    render(report, out or sys.stdout, all_features=all_features)
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(report.to_json(), indent=2, default=str),
                                  encoding="utf-8")
    return EXIT_OK if report.ok else EXIT_SKEW
