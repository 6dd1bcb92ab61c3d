"""A parity or replay report as a terminal table (``rich`` when installed, else plain text).

One line per feature that differs (all features with ``all_features=True``): rows compared,
differing, tolerated, match rate, the classes seen, the largest absolute difference and ulps,
and PASS/FAIL; then the state hashes, counts per class, a few example differences and the
verdict. Plain text is also what ``rich`` falls back to when the output is not a terminal.
"""

from __future__ import annotations

from typing import TextIO

from skew.report import FeatureSummary, ParityReport

HEADER = ("feature", "rows", "differ", "tolerated", "match", "classes", "max |d|", "max ulps",
          "verdict")


def _row(f: FeatureSummary) -> tuple[str, ...]:
    classes = ", ".join(f"{k} {n}" for k, n in f.by_class) or "-"
    return (f.name, str(f.compared), str(f.differing), str(f.tolerated),
            f"{f.match_rate:.4%}", classes,
            "-" if f.max_abs_diff is None else f"{f.max_abs_diff:.3g}",
            "-" if f.max_ulps is None else str(f.max_ulps),
            "FAIL" if f.failing else "ok")


def table_rows(report: ParityReport, all_features: bool = False) -> list[tuple[str, ...]]:
    """The table's body rows (features that differ, or all)."""
    return [_row(f) for f in report.features if all_features or f.differing]


def footer_lines(report: ParityReport, examples: int = 5) -> list[str]:
    """State hashes, counts per class, example differences and the verdict."""
    lines = [f"{report.kind}: {report.compared_rows} rows compared, {len(report.features)} "
             f"features, {report.steps} materialization steps" if report.kind == "parity" else
             f"{report.kind}: {report.compared_rows} logged rows compared, "
             f"{len(report.features)} features",
             f"state hash offline {report.state_hash_offline}",
             f"state hash online  {report.state_hash_online}"
             + ("" if report.state_match else "   <- DIFFERENT")]
    lines.append("differences by class: " + ", ".join(f"{k} {n}"
                                                      for k, n in report.by_class.items()))
    shown = [d for d in report.differences if not d.tolerated][:examples]
    for d in shown:
        keys = ", ".join(f"{k}={v}" for k, v in d.keys)
        lines.append(f"  {d.feature} [{keys} @ {d.as_of}]: {d.klass}/{d.cause}: offline "
                     f"{d.offline!r}, online {d.online!r} — {d.detail}")
    lines += list(report.notes)
    lines.append("PASS: no difference above tolerance" if report.ok else
                 f"FAIL: {len(report.failing_features())} feature(s) above tolerance"
                 + ("" if report.state_match else ", state hashes differ"))
    return lines


def render(report: ParityReport, out: TextIO, all_features: bool = False,
           use_rich: bool | None = None) -> None:
    """Write the table and footer to ``out``; ``use_rich=None`` uses rich when importable."""
    rows = table_rows(report, all_features)
    if use_rich is None:
        try:
            import rich  # noqa: F401

            use_rich = True
        except ImportError:
            use_rich = False
    if use_rich:
        from rich.console import Console
        from rich.table import Table

        table = Table(*HEADER, title=f"skewless {report.kind}")
        for r in rows:
            table.add_row(*r)
        console = Console(file=out, width=160)
        if rows:
            console.print(table)
        for line in footer_lines(report):
            console.print(line, markup=False, highlight=False)
        return
    if rows:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
        fmt = "  ".join(f"{{:{'<' if i in (0, 5) else '>'}{w}}}" for i, w in enumerate(widths))
        out.write(fmt.format(*HEADER) + "\n")
        out.write("  ".join("-" * w for w in widths) + "\n")
        for r in rows:
            out.write(fmt.format(*r) + "\n")
    for line in footer_lines(report):
        out.write(line + "\n")
