"""The public API of ``encoders`` is listed once (``__all__``) and every name resolves."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import encoders

ROOT = Path(__file__).resolve().parents[1]


def test_all_names_resolve_and_are_sorted() -> None:
    assert encoders.__all__ == sorted(encoders.__all__)
    for name in encoders.__all__:
        assert getattr(encoders, name) is not None, name


def test_every_public_name_is_exported() -> None:
    public = {n for n in vars(encoders) if not n.startswith("_") and n[0].isupper()}
    exported_classes = {n for n in encoders.__all__ if n[0].isupper()}
    assert public - set(dir(__builtins__)) <= exported_classes


def test_encoders_import_only_the_standard_library() -> None:
    """Invariant 1: ``encoders/`` imports nothing outside the standard library at import time
    (adapters import Feast lazily, inside the functions that need it)."""
    stdlib = set(sys.stdlib_module_names)
    for path in (ROOT / "encoders").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                assert top in stdlib or top == "encoders", f"{path.name} imports {mod}"


def test_import_loads_no_third_party_module() -> None:
    code = ("import sys, encoders; bad = [m for m in ('numpy', 'pandas', 'pyspark', 'feast', "
            "'redis') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
