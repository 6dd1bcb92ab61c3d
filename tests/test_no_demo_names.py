"""A tool, not a demo: no library module names the demo's entities, views, services or columns.

Library rooms are every package except the demo example (``demo/``, ``feature_repo/``), the
tests and the benchmarks. Every name the demo defines is forbidden there, in code, strings,
comments and docstrings alike: examples in docstrings use neutral names, so a reader never
mistakes a demo column for something the library needs. ("title" alone is a common word: the
demo's names start with ``title_``.)
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("encoders", "feast_bridge", "online_store", "materialization", "spark_jobs",
           "scoring", "serving", "skew", "skewless", "clusters")
DEMO_NAMES = ("member", r"title_(?!justify)", "ranker", "device", "impression", "played_within_7d",
              "watch_minutes", "genre", "country", "maturity", "runtime_minutes",
              "request_context", r"encoder_state\.json")
PATTERN = re.compile(r"(?<![A-Za-z])(" + "|".join(DEMO_NAMES) + ")", re.IGNORECASE)


def library_files() -> list[Path]:
    files = [p for room in LIBRARY for p in sorted((ROOT / room).rglob("*.py"))]
    assert len(files) > 40, "the library rooms moved: update LIBRARY"
    return files


def test_no_library_module_names_the_demo() -> None:
    found = []
    for path in library_files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PATTERN.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "library code names the demo:\n" + "\n".join(found)


def test_the_check_catches_a_demo_name() -> None:
    assert PATTERN.search('ENTITY_KEYS = ("member_id", "title_id")')
    assert PATTERN.search("feature_service='ranker_raw'")
    assert not PATTERN.search("Table(title='skewless parity', title_justify='left')")
