"""Thin wrapper: ``skewless demo`` (the main job; see ``skewless demo --help``).

    .venv/bin/python scripts/demo.py [--preset tiny] [--fresh]
"""

from __future__ import annotations

import sys

from skewless.cli import run

if __name__ == "__main__":
    sys.exit(run(["demo", *sys.argv[1:]]))
