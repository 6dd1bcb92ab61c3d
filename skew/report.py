"""The result of a parity check or a log replay: per-feature summaries, every classified
difference, and the verdict against the tolerances (JSON for machines).

A feature **fails** when the fraction of compared rows with a difference that its tolerance
does not accept exceeds the tolerance's ``rate`` (default 0: any such difference fails). A
report **fails** when any feature fails or when the two sides' state hashes differ (the state
served must be the state trained on, whatever the values say). ``match_rate`` is the fraction
of compared rows whose value is equal or tolerated — the consistency measure Chronon reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skew.classify import CLASSES, Difference, Tolerance, Tolerances


@dataclass(frozen=True)
class FeatureSummary:
    """One output column over all compared rows."""

    name: str
    compared: int
    differing: int
    tolerated: int
    by_class: tuple[tuple[str, int], ...]
    max_abs_diff: float | None
    max_ulps: int | None
    tolerance: Tolerance
    failing: bool

    @property
    def match_rate(self) -> float:
        """Rows equal or within tolerance, over rows compared (1.0 when none compared)."""
        if not self.compared:
            return 1.0
        return (self.compared - self.differing + self.tolerated) / self.compared

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "compared": self.compared, "differing": self.differing,
                "tolerated": self.tolerated, "match_rate": self.match_rate,
                "by_class": dict(self.by_class), "max_abs_diff": self.max_abs_diff,
                "max_ulps": self.max_ulps,
                "tolerance": {"abs": self.tolerance.abs, "ulps": self.tolerance.ulps,
                              "rate": self.tolerance.rate},
                "failing": self.failing}


@dataclass(frozen=True)
class ParityReport:
    """What a parity check (``kind="parity"``) or a log replay (``kind="replay"``) found."""

    kind: str
    compared_rows: int
    state_hash_offline: str
    state_hash_online: str
    features: tuple[FeatureSummary, ...]
    differences: tuple[Difference, ...]
    status_counts: tuple[tuple[str, str, str, int], ...]
    seconds: tuple[tuple[str, float], ...]
    tolerances: Tolerances
    notes: tuple[str, ...] = ()
    steps: int = 0

    @property
    def state_match(self) -> bool:
        return self.state_hash_offline == self.state_hash_online

    @property
    def ok(self) -> bool:
        return self.state_match and not any(f.failing for f in self.features)

    @property
    def by_class(self) -> dict[str, int]:
        """Untolerated differences per class (every class listed, zeros included)."""
        c = Counter(d.klass for d in self.differences if not d.tolerated)
        return {k: c.get(k, 0) for k in CLASSES}

    def classes_of(self, feature: str) -> set[str]:
        """The classes of the (untolerated) differences of one feature."""
        return {d.klass for d in self.differences if d.feature == feature and not d.tolerated}

    def causes_of(self, feature: str) -> set[str]:
        return {d.cause for d in self.differences if d.feature == feature and not d.tolerated}

    def failing_features(self) -> list[str]:
        return [f.name for f in self.features if f.failing]

    def to_json(self, max_differences: int | None = 1000) -> dict[str, Any]:
        """JSON-able dict; ``max_differences`` caps the listed differences (``None``: all)."""
        diffs = self.differences if max_differences is None else \
            self.differences[:max_differences]
        return {
            "kind": self.kind, "ok": self.ok, "compared_rows": self.compared_rows,
            "state_hash_offline": self.state_hash_offline,
            "state_hash_online": self.state_hash_online, "state_match": self.state_match,
            "by_class": self.by_class, "failing_features": self.failing_features(),
            "features": [f.to_json() for f in self.features],
            "differences": [d.to_json() for d in diffs],
            "differences_total": len(self.differences),
            "status_counts": [{"side": s, "view": v, "status": st, "rows": n}
                              for s, v, st, n in self.status_counts],
            "seconds": dict(self.seconds), "steps": self.steps,
            "tolerances": self.tolerances.to_json(), "notes": list(self.notes),
        }


def summarise(kind: str, names: Sequence[str], compared_rows: int,
              differences: Iterable[Difference], tolerances: Tolerances,
              state_hashes: tuple[str, str], status_counts: Mapping[tuple[str, str, str], int],
              seconds: Mapping[str, float], notes: Sequence[str] = (), steps: int = 0
              ) -> ParityReport:
    """Build a :class:`ParityReport` from classified differences (see module docstring)."""
    diffs = tuple(sorted(differences, key=lambda d: (d.row, names.index(d.feature)
                                                     if d.feature in names else -1)))
    per: dict[str, list[Difference]] = {n: [] for n in names}
    for d in diffs:
        per.setdefault(d.feature, []).append(d)
    features = []
    for name in names:
        ds = per[name]
        tol = tolerances.for_feature(name)
        bad = sum(1 for d in ds if not d.tolerated)
        absd = [d.abs_diff for d in ds if d.abs_diff is not None]
        ulps = [d.ulps for d in ds if d.ulps is not None]
        features.append(FeatureSummary(
            name=name, compared=compared_rows, differing=len(ds), tolerated=len(ds) - bad,
            by_class=tuple(sorted(Counter(d.klass for d in ds).items())),
            max_abs_diff=max(absd) if absd else None, max_ulps=max(ulps) if ulps else None,
            tolerance=tol,
            failing=bool(compared_rows) and bad / compared_rows > tol.rate))
    return ParityReport(kind=kind, compared_rows=compared_rows,
                        state_hash_offline=state_hashes[0], state_hash_online=state_hashes[1],
                        features=tuple(features), differences=diffs,
                        status_counts=tuple(sorted((s, v, st, n) for (s, v, st), n
                                                   in status_counts.items())),
                        seconds=tuple(seconds.items()), tolerances=tolerances,
                        notes=tuple(notes), steps=steps)
