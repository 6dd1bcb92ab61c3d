"""Distribution skew between a training set and the served-vector log, per encoded output.

    .venv/bin/python scripts/skew_report.py --training-set data/training/v1 \
        --log data/vector_log [--html skew.html] [--json skew.json] [--thresholds t.toml] \
        [--state feature_repo/encoder_state.json] [--max-rows 200000] [--bins 10] \
        [--binning equal_width|quantile] [--seed 0]

Prints a table (JS divergence and PSI for numeric outputs, L-infinity distance for categorical
ones) and exits 0 when no output is over its threshold, 1 when some are, 2 on bad input (a
missing folder, an empty log, a log served with another encoder state, a bad thresholds file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OK, OVER, BAD_INPUT = 0, 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from skew.distribution import BINNINGS, DEFAULT_BINS
    from skew.samples import DEFAULT_MAX_ROWS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--training-set", type=Path, required=True,
                    help="training set folder (Parquet + manifest.json)")
    ap.add_argument("--log", type=Path, required=True, help="served-vector log folder")
    ap.add_argument("--html", type=Path, help="write the HTML report here")
    ap.add_argument("--json", type=Path, help="write the report as JSON here")
    ap.add_argument("--thresholds", type=Path,
                    help="per-feature thresholds (.toml or .json, see skew/thresholds.py)")
    ap.add_argument("--state", type=Path, help="encoder state JSON the training set was built "
                    "with (default: the manifest's, else SKEWLESS_STATE_PATH)")
    ap.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS,
                    help=f"sample cap per side (default {DEFAULT_MAX_ROWS:,})")
    ap.add_argument("--bins", type=int, default=DEFAULT_BINS,
                    help=f"numeric bins (default {DEFAULT_BINS})")
    ap.add_argument("--binning", choices=BINNINGS, default="equal_width")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from encoders import StateError
    from skew.distribution_report import build_report
    from skew.samples import SkewInputError
    from skew.thresholds import ThresholdConfigError, load_thresholds

    try:
        report = build_report(
            args.training_set, args.log, state_path=args.state,
            thresholds=load_thresholds(args.thresholds), max_rows=args.max_rows,
            bins=args.bins, binning=args.binning, seed=args.seed)
    except (SkewInputError, ThresholdConfigError, StateError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    print(report.table())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
        print(f"JSON report: {args.json}")
    if args.html:
        from skew.html_report import write_html

        print(f"HTML report: {write_html(report, args.html)}")
    return OVER if report.flagged else OK


if __name__ == "__main__":
    sys.exit(main())
