"""``feast apply`` in this process: Feast's own apply of a repo, without a new Python, a new
``import feast`` and a new Spark session for every apply.

:func:`apply_repo` runs what ``feast apply`` runs (``feast.repo_operations``: read the repo's
definitions with ``_get_repo_contents``, then ``apply_total_with_repo_instance`` with source
validation) on an open store, so the registry, the infrastructure and the messages are those
of the CLI:

* the repo's Python files are imported afresh on every call, the way a new ``feast`` process
  would (their modules are dropped from ``sys.modules`` before and after), so a state file
  written since the last apply is read — and a repo file named like a module another repo
  already loaded (``definitions``) is never confused with it;
* while the files load, the working directory is the repo and the repo folder is first on
  ``sys.path`` (the CLI chdirs too); both, and ``sys.dont_write_bytecode`` which Feast sets,
  are restored afterwards, whatever happens;
* what Feast and the repo print (the registry diff, ``skewless: service 'x' awaits a fit``) is
  captured and returned as :class:`Applied`, as :func:`feast_bridge.store.feast_cli` returns
  the CLI's output;
* the store's registry is the one updated, so the same store sees the applied objects at once
  (no reload);
* Feast's source validation reads each Spark source through the active Spark session when
  there is one (the CLI starts a session of its own); the one SQL setting Feast's Spark store
  sets on the session (``spark.sql.parser.quotedRegexColumnNames``) is put back as it was.

Errors: a bad declaration raises the repo's own exception (e.g. ``ValueError`` naming the fix,
from :mod:`feast_bridge.declare`); where Feast would exit the CLI (a project name that does not
match ``feature_store.yaml``, several projects) :class:`ApplyError` carries Feast's message.

A user's ``feast apply`` on the command line is untouched: this is the same code path in
another process.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The session setting Feast's Spark offline store sets whenever it touches the session.
FEAST_SPARK_SETTING = "spark.sql.parser.quotedRegexColumnNames"


class ApplyError(RuntimeError):
    """Feast refused the repo where its CLI would exit (its message is the text)."""


@dataclass(frozen=True)
class Applied:
    """What an in-process ``feast apply`` printed: ``stdout`` (Feast's registry and
    infrastructure diff) and ``stderr`` (e.g. skewless' "awaits a fit" lines)."""

    stdout: str
    stderr: str


def apply_repo(store: Any) -> Applied:
    """``feast apply`` of ``store``'s repo in this process (see the module docstring)."""
    from feast.repo_operations import _get_repo_contents, apply_total_with_repo_instance

    repo_root = Path(store.repo_path).resolve()
    out, err = io.StringIO(), io.StringIO()
    with _spark_setting_kept(), _repo_importable(repo_root), redirect_stdout(out), \
            redirect_stderr(err):
        try:
            repo = _get_repo_contents(repo_root, store.config.project, store.config)
        except SystemExit:
            raise ApplyError(f"`feast apply` refused {repo_root}: "
                             f"{(out.getvalue() + err.getvalue()).strip()}") from None
        apply_total_with_repo_instance(store, store.config.project, store.registry, repo,
                                       skip_source_validation=False)
    return Applied(out.getvalue(), err.getvalue())


def _repo_modules(repo_root: Path) -> list[str]:
    """Module names Feast gives the repo's files (relative to the working directory, which
    must be ``repo_root``)."""
    from feast.repo_operations import get_repo_files, py_path_to_module

    return [py_path_to_module(f) for f in get_repo_files(repo_root)]


@contextmanager
def _repo_importable(repo_root: Path) -> Iterator[None]:
    """Working directory = ``repo_root``, ``repo_root`` first on ``sys.path``, and the repo's
    modules imported afresh; everything restored on exit."""
    import importlib

    cwd, path, no_bytecode = os.getcwd(), list(sys.path), sys.dont_write_bytecode
    os.chdir(repo_root)
    modules: list[str] = []
    try:
        modules = _repo_modules(repo_root)
        for name in modules:
            sys.modules.pop(name, None)
        sys.path.insert(0, str(repo_root))
        importlib.invalidate_caches()
        yield
    finally:
        for name in modules:
            sys.modules.pop(name, None)
        sys.path[:] = path
        sys.dont_write_bytecode = no_bytecode
        os.chdir(cwd)


@contextmanager
def _spark_setting_kept() -> Iterator[None]:
    """Put :data:`FEAST_SPARK_SETTING` back as it was on the active Spark session (if any)."""
    session = _active_spark()
    before = session.conf.get(FEAST_SPARK_SETTING, None) if session is not None else None
    try:
        yield
    finally:
        if session is not None:
            if before is None:
                session.conf.unset(FEAST_SPARK_SETTING)
            else:
                session.conf.set(FEAST_SPARK_SETTING, before)


def _active_spark() -> Any:
    if "pyspark" not in sys.modules:  # no session can be active without pyspark loaded
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()
