"""What every command shares: the Feast repo chosen by the global ``--repo`` and the service a
step concerns, plus the parsing of dates and label sources the commands take.

Edge cases: a repo folder without ``feature_store.yaml`` raises ``FileNotFoundError`` naming
``--repo`` / ``SKEWLESS_FEATURE_REPO``; ``--service`` may be left out only when the repo
declares exactly one encoded service (``feast_bridge.services.get_service`` lists them
otherwise); a labels argument that looks like a path (it has a ``/`` or ends in
``.parquet``) but does not exist fails before Spark starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from skew.cli import BadInput, parse_time
from skewless.console import step


@dataclass(frozen=True)
class Repo:
    """The Feast repo of this invocation."""

    path: Path

    def store(self) -> Any:
        """The repo's ``FeatureStore`` (environment overrides applied)."""
        if not (self.path / "feature_store.yaml").exists():
            raise FileNotFoundError(
                f"no feature_store.yaml in {self.path}; pass --repo DIR (a Feast repo) or set "
                "SKEWLESS_FEATURE_REPO")
        from feast_bridge.store import open_store

        with step("opening the Feast repo"):
            return open_store(self.path)

    def service(self, name: str | None) -> tuple[Any, Any]:
        """``(store, ServiceInfo)`` of service ``name`` (the only one when ``None``)."""
        from feast_bridge.services import get_service

        store = self.store()
        return store, get_service(store, name)


def repo_of(ctx: typer.Context) -> Repo:
    """The repo the root command stored on the context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, Repo):  # a command invoked without the root callback
        from feast_bridge.store import repo_path

        return Repo(repo_path())
    return obj


def day(text: str, option: str) -> datetime:
    """``YYYY-MM-DD`` as 00:00 UTC of that day."""
    try:
        d = date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{option} {text!r} is not a date; write YYYY-MM-DD") from None
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def day_or_time(text: str, option: str) -> datetime:
    """``YYYY-MM-DD`` (00:00 UTC) or an ISO-8601 time with a UTC offset."""
    if len(text.strip()) == 10:
        return day(text, option)
    t = parse_time(text, option)
    assert t is not None
    return t.astimezone(timezone.utc)


def window(start: str, end: str) -> tuple[datetime, datetime]:
    """``(--start, --end)`` as UTC days; ``start`` must be before ``end``."""
    lo, hi = day(start, "--start"), day(end, "--end")
    if lo >= hi:
        raise BadInput(f"--start {start} must be before --end {end} (the end is exclusive)")
    return lo, hi


def check_labels_source(source: str) -> None:
    """Fail early for a labels path that does not exist (a table name is checked by Spark)."""
    looks_like_path = os.sep in source or "/" in source or source.endswith(".parquet")
    if looks_like_path and not Path(source).exists():
        raise FileNotFoundError(f"no labels at {source}: pass a Parquet file or folder, or "
                                "the name of a table in the Spark catalog")


def choices(name: str, values: Iterable[str]) -> type[Enum]:
    """A string ``Enum`` of ``values`` (how typer offers a fixed set of choices)."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]
