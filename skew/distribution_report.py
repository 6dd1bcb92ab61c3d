"""Distribution skew between a training set and the served-vector log, for every encoded output.

:func:`build_report` reads bounded samples of both (:mod:`skew.samples`), decides numeric vs
categorical from the encoder kinds (:mod:`skew.feature_kinds`), computes JS divergence and PSI
(numeric) or L-infinity distance (categorical) per output (:mod:`skew.distribution`) and
compares them with the thresholds (:mod:`skew.thresholds`). The result renders as a terminal
table (:meth:`DistributionReport.table`), JSON (:meth:`DistributionReport.to_json`) or HTML
(:mod:`skew.html_report`).

A served sample that cannot represent the traffic — fewer rows, fewer distinct values of a
join key or fewer distinct request times than the minimums of :mod:`skew.thresholds`
(``[sample]``) — is **not judged**: its statistics are still computed and shown, but no output
is marked over threshold (:attr:`DistributionReport.flagged` is empty, the command exits 0) and
the report says why (:attr:`DistributionReport.not_judged`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skew.distribution import (
    DEFAULT_BINS,
    Binning,
    FeatureDistribution,
    check_binning,
    compare,
)
from skew.feature_kinds import OutputKind, output_kinds
from skew.samples import (
    DEFAULT_MAX_ROWS,
    load_training_state,
    read_manifest,
    read_served_sample,
    read_training_sample,
)
from skew.thresholds import ThresholdConfig, exceeded, not_judged

STAT_LABELS = {"js": "JS", "psi": "PSI", "linf": "L-inf"}


@dataclass(frozen=True)
class FeatureSkew:
    """One output's distribution comparison, its thresholds and the statistics over them."""

    output: OutputKind
    distribution: FeatureDistribution
    thresholds: Mapping[str, float]
    over: tuple[str, ...]
    judged: bool = True

    @property
    def name(self) -> str:
        return self.output.name

    @property
    def flagged(self) -> bool:
        return self.judged and bool(self.over)

    @property
    def status(self) -> str:
        """``OVER JS,PSI``, ``ok`` or ``not judged``."""
        if not self.judged:
            return "not judged"
        return "OVER " + ",".join(STAT_LABELS[s] for s in self.over) if self.over else "ok"

    def to_json(self) -> dict[str, Any]:
        return {**self.distribution.to_json(), "encoder": self.output.encoder,
                "encoder_kind": self.output.encoder_kind, "kind_basis": self.output.basis,
                "thresholds": dict(self.thresholds),
                "over_threshold": list(self.over) if self.judged else [],
                "judged": self.judged}


@dataclass(frozen=True)
class DistributionReport:
    """Everything the terminal table, the JSON and the HTML report show."""

    training_set: str
    log: str
    state_hash: str
    feature_service: str
    training_time_range: tuple[str, str]
    training_rows: str
    serving_rows: str
    max_rows: int
    bins: int
    binning: str
    thresholds: ThresholdConfig
    features: tuple[FeatureSkew, ...]
    notes: tuple[str, ...] = ()
    not_judged: tuple[str, ...] = ()

    @property
    def flagged(self) -> tuple[FeatureSkew, ...]:
        return tuple(f for f in self.features if f.flagged)

    @property
    def ordered(self) -> tuple[FeatureSkew, ...]:
        """Flagged outputs first, each group in schema order."""
        return self.flagged + tuple(f for f in self.features if not f.flagged)

    def method(self) -> str:
        """One line stating binning, sample cap and default thresholds."""
        d, m = self.thresholds.defaults, self.thresholds.sample
        return (f"numeric: JS divergence (log2) and PSI (ln, empty bins -> 1e-4) on {self.bins} "
                f"{self.binning.replace('_', '-')} bins + a missing bin; categorical: "
                f"L-infinity over categories + missing; sample cap {self.max_rows:,} rows a "
                f"side; thresholds js {d['js']:g}, psi {d['psi']:g}, linf {d['linf']:g} "
                f"({self.thresholds.source}); judged when the served sample has at least "
                f"{m['min_rows']:,} rows, {m['min_entities']:,} distinct values of each join "
                f"key and {m['min_request_times']:,} request times")

    def summary(self) -> str:
        if self.not_judged:
            return ("not judged: the served sample does not represent the traffic ("
                    + "; ".join(self.not_judged) + "). Statistics are shown, not compared "
                    "with the thresholds; log more varied traffic (many entities, request "
                    "times) or lower the [sample] minimums")
        if not self.flagged:
            return f"no output over threshold ({len(self.features)} compared)"
        return (f"{len(self.flagged)} of {len(self.features)} outputs over threshold: "
                + ", ".join(f.name for f in self.flagged))

    def to_json(self) -> dict[str, Any]:
        return {
            "training_set": self.training_set, "log": self.log, "state_hash": self.state_hash,
            "feature_service": self.feature_service,
            "training_time_range": list(self.training_time_range),
            "training_rows": self.training_rows, "serving_rows": self.serving_rows,
            "max_rows": self.max_rows, "bins": self.bins, "binning": self.binning,
            "thresholds": {"defaults": dict(self.thresholds.defaults),
                           "overrides": {k: dict(v) for k, v in self.thresholds.overrides},
                           "source": self.thresholds.source},
            "method": self.method(), "notes": list(self.notes),
            "judged": not self.not_judged, "not_judged_reasons": list(self.not_judged),
            "minimums": dict(self.thresholds.sample),
            "over_threshold": [f.name for f in self.flagged],
            "features": [f.to_json() for f in self.features],
        }

    def table(self) -> str:
        """A plain-text table, flagged outputs first, with a header and a summary line."""
        head = ("output", "kind", "encoder", "missing t/s", "JS", "PSI", "L-inf",
                "largest gap", "status")
        rows = [head]
        for f in self.ordered:
            d, st = f.distribution, f.distribution.statistics
            rows.append((
                f.name, d.kind, f.output.encoder_kind,
                f"{d.train_missing_rate:.3f}/{d.serve_missing_rate:.3f}",
                *(_stat(st, f.thresholds if f.judged else {}, s) for s in ("js", "psi", "linf")),
                d.largest_gap[:24], f.status,
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = [f"training set {self.training_set} ({self.training_rows}, state "
                 f"{self.state_hash[:19]}...)",
                 f"served log   {self.log} ({self.serving_rows})",
                 self.method(), *(f"note: {n}" for n in self.notes), ""]
        for i, r in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines += ["", self.summary()]
        return "\n".join(lines)


def _stat(stats: Mapping[str, float], thresholds: Mapping[str, float], name: str) -> str:
    if name not in stats:
        return "-"
    mark = "*" if stats[name] > thresholds.get(name, float("inf")) else ""
    return f"{stats[name]:.4f}{mark}"


def build_report(training_set: str | os.PathLike[str], log: str | os.PathLike[str], *,
                 state_path: str | os.PathLike[str] | None = None,
                 thresholds: ThresholdConfig | None = None,
                 max_rows: int = DEFAULT_MAX_ROWS, bins: int = DEFAULT_BINS,
                 binning: Binning = "equal_width", seed: int = 0) -> DistributionReport:
    """Compare every encoded output of ``training_set`` with the served-vector ``log``.

    Raises :class:`~skew.samples.SkewInputError` for unusable inputs (missing folders, an empty
    log, a log served with another state), :class:`~skew.thresholds.ThresholdConfigError` for
    overrides naming no output, ``ValueError`` for bad ``bins``/``binning``.
    """
    thresholds = thresholds or ThresholdConfig()
    check_binning(bins, binning)
    manifest = read_manifest(training_set)
    enc = load_training_state(manifest, training_set, state_path)
    kinds = output_kinds(enc)
    thresholds.check_outputs((k.name, k.kind) for k in kinds)
    names = [k.name for k in kinds]
    served = read_served_sample(log, names, manifest.state_hash, max_rows, seed,
                                manifest.entity_keys)
    cov = served.coverage
    reasons = not_judged(served.rows_read, cov.request_times if cov else None,
                         cov.entities if cov else (), thresholds.sample,
                         cov.cap if cov else 0)
    trained = read_training_sample(training_set, names, max_rows, seed)
    features = []
    for k in kinds:
        dist = compare(k.name, k.kind, trained.columns[k.name], served.columns[k.name],
                       bins=bins, binning=binning)
        limits = thresholds.resolve(k.name, k.kind)
        features.append(FeatureSkew(k, dist, limits, exceeded(dist.statistics, limits),
                                    judged=not reasons))
    notes = list(served.notes)  # log lines skipped, requests the server did not log
    guessed = [k.name for k in kinds if k.basis == "dtype fallback"]
    if guessed:
        notes.append(f"kind guessed from dtype (encoder kind not in skew.feature_kinds) for "
                     f"{guessed}")
    return DistributionReport(
        training_set=str(training_set), log=str(log), state_hash=manifest.state_hash,
        feature_service=manifest.feature_service,
        training_time_range=tuple(manifest.time_range),  # type: ignore[arg-type]
        training_rows=trained.describe(), serving_rows=served.describe(), max_rows=max_rows,
        bins=bins, binning=binning, thresholds=thresholds, features=tuple(features),
        notes=tuple(notes), not_judged=reasons)
