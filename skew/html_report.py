"""The distribution-skew report as one self-contained HTML file.

Outputs over threshold are listed first, in a red box linking to their sections; then a table
of every output; then one histogram per output, training and serving overlaid (matplotlib,
Agg canvas, embedded as base64 PNG — no external files, scripts or fonts). Numeric outputs
with equal-width bins are drawn on their value axis; quantile bins, constants and categorical
outputs as one bar per bin or category. The ``missing`` bin is drawn only when a side has
missing values. Every text from the data is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from skew.distribution import FeatureDistribution
from skew.distribution_report import STAT_LABELS, DistributionReport, FeatureSkew

TRAIN_COLOUR, SERVE_COLOUR = "#1f77b4", "#ff7f0e"
MAX_TICK_LABELS = 30
MAX_BARS = 64

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3} .over{color:#b00020;font-weight:600}
.box{padding:.8em 1.2em;border-radius:6px;margin:1em 0}
.bad{background:#fde7ea;border:1px solid #b00020} .good{background:#e6f4ea;border:1px solid #1e7e34}
.warn{background:#fff4d6;border:1px solid #a66a00} .unjudged{color:#a66a00;font-weight:600}
section{border-top:1px solid #ddd;padding:.6em 0} img{max-width:100%}
code{background:#f6f6f6;padding:0 3px}
"""


def histogram_png(dist: FeatureDistribution, binning: str, title: str) -> bytes:
    """A PNG of ``dist``'s training and serving proportions, overlaid."""
    from matplotlib.figure import Figure

    t, s = dist.proportions()
    fig = Figure(figsize=(7.5, 2.8), dpi=80)
    ax = fig.subplots()
    value_axis = (dist.kind == "numeric" and binning == "equal_width"
                  and len(dist.edges) > 2)
    if value_axis:
        edges = np.asarray(dist.edges)
        ax.stairs(t[:-1], edges, fill=True, alpha=0.45, color=TRAIN_COLOUR, label="training")
        ax.stairs(s[:-1], edges, fill=True, alpha=0.45, color=SERVE_COLOUR, label="serving")
        ax.set_xlabel("encoded value")
        if t[-1] or s[-1]:
            ax.text(0.99, 0.95, f"missing: training {t[-1]:.1%}, serving {s[-1]:.1%}",
                    transform=ax.transAxes, ha="right", va="top", fontsize=8)
    else:
        keep = np.arange(len(dist.labels))
        if not (t[-1] or s[-1]):
            keep = keep[:-1]  # no missing value on either side: leave the bin out
        x = np.arange(keep.size)
        if keep.size > MAX_BARS:  # one filled outline per side instead of thousands of bars
            steps = np.arange(keep.size + 1) - 0.5
            ax.stairs(t[keep], steps, fill=True, alpha=0.45, color=TRAIN_COLOUR,
                      label="training")
            ax.stairs(s[keep], steps, fill=True, alpha=0.45, color=SERVE_COLOUR,
                      label="serving")
        else:
            ax.bar(x, t[keep], width=0.9, alpha=0.45, color=TRAIN_COLOUR, label="training")
            ax.bar(x, s[keep], width=0.9, alpha=0.45, color=SERVE_COLOUR, label="serving")
        step = max(1, -(-keep.size // MAX_TICK_LABELS))
        ax.set_xticks(x[::step], [dist.labels[i] for i in keep[::step]],
                      rotation=45 if keep.size > 8 else 0, ha="right" if keep.size > 8 else
                      "center", fontsize=7)
        ax.set_xlabel("category" if dist.kind == "categorical" else "bin")
    ax.set_ylabel("share of rows")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.28)  # tight_layout: +40% time
    return figure_png(fig)


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def img_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` embedding ``png`` as a data URI (``alt`` is escaped)."""
    return (f"<img alt='{html.escape(alt)}' "
            f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")


def _stats_text(f: FeatureSkew) -> str:
    return ", ".join(f"{STAT_LABELS[k]} {v:.4f} (threshold {f.thresholds[k]:g})"
                     for k, v in f.distribution.statistics.items())


def _anchor(name: str) -> str:
    return "f-" + "".join(c if c.isalnum() or c in "_-" else "-" for c in name)


def render_html(report: DistributionReport) -> str:
    """The report as an HTML document (a string)."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Distribution skew: "
             f"{e(report.training_set)}</title><style>{CSS}</style></head><body>",
             "<h1>Distribution skew: training set vs served vectors</h1>"]
    if report.not_judged:
        items = "".join(f"<li>{e(r)}</li>" for r in report.not_judged)
        parts.append("<div class='box warn'><b>Not judged: the served sample does not represent "
                     "the traffic.</b> The statistics below are shown but not compared with the "
                     f"thresholds.<ul>{items}</ul>Log more varied traffic (many entities and "
                     "request times), or lower the <code>[sample]</code> minimums of the "
                     "thresholds file.</div>")
    elif report.flagged:
        items = "".join(f"<li><a href='#{_anchor(f.name)}'>{e(f.name)}</a> "
                        f"({e(f.output.encoder_kind)}): {e(_stats_text(f))}</li>"
                        for f in report.flagged)
        parts.append(f"<div class='box bad'><b>{e(report.summary())}</b><ul>{items}</ul></div>")
    else:
        parts.append(f"<div class='box good'><b>{e(report.summary())}</b></div>")
    meta = [("training set", report.training_set), ("training rows", report.training_rows),
            ("training time range", " .. ".join(report.training_time_range)),
            ("feature service", report.feature_service), ("state hash", report.state_hash),
            ("served-vector log", report.log), ("served rows", report.serving_rows),
            ("method", report.method()), *(("note", n) for n in report.notes),
            ("generated", datetime.now(timezone.utc).isoformat(timespec="seconds"))]
    parts.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>"
                                     for k, v in meta) + "</table>")
    head = ("output", "kind", "encoder", "missing (train / serve)", "JS", "PSI", "L-inf",
            "largest gap", "status")
    rows = []
    for f in report.ordered:
        d = f.distribution
        cells = [f"<a href='#{_anchor(f.name)}'>{e(f.name)}</a>", e(d.kind),
                 e(f.output.encoder_kind),
                 f"{d.train_missing_rate:.2%} / {d.serve_missing_rate:.2%}"]
        for s in ("js", "psi", "linf"):
            v = d.statistics.get(s)
            cells.append("-" if v is None else
                         f"<span class='over'>{v:.4f}</span>" if f.flagged and s in f.over
                         else f"{v:.4f}")
        status = ("<span class='over'>OVER</span>" if f.flagged else "ok" if f.judged else
                  "<span class='unjudged'>not judged</span>")
        cells += [e(d.largest_gap), status]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("<h2>All outputs</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in head)
                 + "</tr>" + "".join(rows) + "</table><h2>Histograms</h2>")
    for f in report.ordered:
        title = f"{f.name}: {_stats_text(f)}" + ("  — OVER THRESHOLD" if f.flagged else "")
        png = histogram_png(f.distribution, report.binning, title)
        parts.append(
            f"<section id='{_anchor(f.name)}'><h3 class='{'over' if f.flagged else ''}'>"
            f"{e(f.name)}</h3><p>{e(f.distribution.kind)} output of encoder "
            f"<code>{e(f.output.encoder)}</code> ({e(f.output.encoder_kind)}); "
            f"{e(_stats_text(f))}; largest gap at <code>{e(f.distribution.largest_gap)}</code>"
            f"</p>{img_tag(png, f'histogram of {f.name}')}"
            "</section>")
    parts.append("</body></html>")
    return "".join(parts)


def write_html(report: DistributionReport, path: str | os.PathLike[str]) -> Path:
    """Write :func:`render_html` to ``path`` (parent folders created) and return it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_html(report), encoding="utf-8")
    return p
