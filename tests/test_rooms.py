"""The README's table of rooms matches the tree: every top-level folder of the checkout is a
row, and every row names a folder that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _table_folders() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The rooms", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {m for row in rows for m in re.findall(r"`([a-z_]+)/`", row.split("|")[1])}


def _tree_folders() -> set[str]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    return {p.split("/", 1)[0] for p in tracked if "/" in p and not p.startswith(".")}


def test_readme_rooms_match_the_tree() -> None:
    table, tree = _table_folders(), _tree_folders()
    assert len(table) > 10, "the rooms table was not found in README.md"
    assert table == tree, f"in the table only: {sorted(table - tree)}; " \
                          f"in the tree only: {sorted(tree - table)}"
