"""The consistency trend page of one service: one self-contained HTML file.

At the top, the day just computed: rows compared, the outputs below the threshold (a red box)
or none (green), and the worst outputs of that day (lowest match rate, with their mismatches,
null counts, |difference| and causes). Then one small matplotlib chart per output: its match
rate per day over the table's history up to that day, the threshold as a dashed line, days
below it in red; outputs that were below the threshold on a day shown come first. Images are
embedded as base64 PNG (no external files or scripts); every text
from the data is HTML-escaped.
"""

from __future__ import annotations

import html
import os
from collections import defaultdict
from datetime import date, datetime, timezone
from pathlib import Path

from skew.consistency import DayConsistency, FeatureDay, worst
from skew.html_report import CSS, figure_png, img_tag

MAX_DAYS = 90  # the trend shows at most this many days, ending at the day computed
BAD = "#b00020"
TREND_CSS = ("section.trend{display:inline-block;width:49%;vertical-align:top;border:0}"
             "section.trend h3{font-size:14px;margin:.3em 0}")


def trend_png(feature: str, days: list[FeatureDay], threshold: float) -> bytes:
    """A PNG of ``feature``'s match rate per day (``days`` oldest first)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 1.9), dpi=80)
    ax = fig.subplots()
    x = [datetime(d.day.year, d.day.month, d.day.day) for d in days]
    y = [d.match_rate for d in days]
    ax.plot(x, y, marker="o", markersize=3, linewidth=1.2, color="#1f77b4")
    low = [(xi, yi) for xi, yi in zip(x, y) if yi < threshold]
    if low:
        ax.scatter(*zip(*low), color=BAD, s=16, zorder=3, label="below threshold")
    ax.axhline(threshold, color=BAD, linestyle="--", linewidth=0.8)
    ax.set_ylim(max(-0.02, min(*y, threshold) - 0.05), 1.02)
    if len(x) <= 7:  # a few days: one tick each (the automatic locator needs a range)
        ax.set_xticks(x, [d.day.isoformat() for d in days])
    else:
        locator = AutoDateLocator(maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(labelsize=7)
    ax.set_ylabel("match rate", fontsize=7)
    ax.set_title(feature, fontsize=8)
    fig.subplots_adjust(left=0.13, right=0.98, top=0.86, bottom=0.2)
    return figure_png(fig)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def render_page(result: DayConsistency, history: list[FeatureDay], threshold: float) -> str:
    """The page for ``result`` (the day computed) over ``history`` (the table's rows of the
    service, that day included)."""
    e = html.escape
    by_feature: dict[str, list[FeatureDay]] = defaultdict(list)
    first = date.fromordinal(result.day.toordinal() - MAX_DAYS + 1)
    for f in sorted(history, key=lambda f: f.day):
        if first <= f.day <= result.day:
            by_feature[f.feature].append(f)
    below = result.below(threshold)
    title = f"Consistency: {result.service}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{CSS}{TREND_CSS}</style></head><body><h1>{e(title)}</h1>"]
    summary = (f"{result.day}: {result.rows:,} logged rows replayed through the offline path, "
               f"{len(result.features)} outputs; ")
    if below:
        parts.append(f"<div class='box bad'><b>{e(summary)}{len(below)} below the match-rate "
                     f"threshold {threshold:g}</b>: "
                     + ", ".join(e(f.feature) for f in below[:20]) + "</div>")
    else:
        parts.append(f"<div class='box good'><b>{e(summary)}every output at or above the "
                     f"match-rate threshold {threshold:g}</b></div>")
    meta = [("state hash (training)", result.state_hash_offline),
            ("state hash (served)", result.state_hash_online),
            ("days in the trend", f"{len(next(iter(by_feature.values()), []))} "
                                  f"(at most {MAX_DAYS}, up to {result.day})"),
            *(("note", n) for n in result.notes),
            ("generated", datetime.now(timezone.utc).isoformat(timespec="seconds"))]
    parts.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>"
                                     for k, v in meta) + "</table>")
    parts.append(f"<h2>Worst features on {result.day}</h2>")
    top = worst(result.features)
    if top:
        head = ("output", "kind", "rows", "match rate", "mismatches", "both null",
                "online-only null", "offline-only null", "mean |d|", "p99 |d|", "causes")
        rows = [(f.feature, f.kind, f"{f.rows:,}", f"{f.match_rate:.4f}", f"{f.mismatches:,}",
                 f"{f.both_null:,}", f"{f.online_only_null:,}", f"{f.offline_only_null:,}",
                 _fmt(f.mean_abs_diff), _fmt(f.p99_abs_diff),
                 ", ".join(f"{c} {n}" for c, n in f.causes)) for f in top]
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
                     + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
                               for r in rows) + "</table>")
    else:
        parts.append("<p>No mismatch on this day.</p>")
    parts.append("<h2>Match rate per day</h2><p>Outputs that were below the threshold on a day "
                 "shown come first, lowest first; then schema order.</p>")

    def lowest(f: FeatureDay) -> float:
        return min((d.match_rate for d in by_feature.get(f.feature, [])), default=1.0)

    ranked = sorted(result.features, key=lambda f: lowest(f) if lowest(f) < threshold else 2.0)
    for f in ranked:
        days = by_feature.get(f.feature, [])
        cls = " class='over'" if f.match_rate < threshold else ""
        parts.append(f"<section class='trend'><h3{cls}>{e(f.feature)}</h3>"
                     + img_tag(trend_png(f.feature, days, threshold),
                               f"match rate of {f.feature} per day") + "</section>")
    parts.append("</body></html>")
    return "".join(parts)


def write_page(result: DayConsistency, history: list[FeatureDay], threshold: float,
               path: str | os.PathLike[str]) -> Path:
    """Write :func:`render_page` to ``path`` (parent folders created) and return it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_page(result, history, threshold), encoding="utf-8")
    return p
