"""Thin wrapper: ``skewless skew-report`` (see ``skewless skew-report --help``).

    .venv/bin/python scripts/skew_report.py --training-set data/training/v1 --log data/vector_log
"""

from __future__ import annotations

import sys

from skewless.cli import run


def main(argv: list[str] | None = None) -> int:
    """Run ``skewless skew-report`` with ``argv`` (default the command line); return the exit
    code (0 nothing over threshold, 1 some output over, 2 bad input)."""
    return run(["skew-report", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
