"""``orbsched compare DIR``: each metric against each swept parameter, and a comparison table.

From ``DIR/sweep.parquet`` (rebuilt from the run folders when it is missing), failed runs left
out:

* one figure per (metric, swept parameter) in ``DIR/compare/`` (PNG and PDF):
  ``<metric>__vs__<parameter>``.  One line per policy when a ``policy`` field is swept
  (otherwise one line); each point is the mean over the runs that share its values, with a
  95 % confidence interval from the t distribution (no interval when n = 1).  When other
  parameters are swept too, there is one panel per combination of their values (up to
  :data:`MAX_PANELS`; beyond that the runs of all combinations are pooled and the title says
  so).  Non-numeric parameters are drawn as categories in sweep order.
* ``table.csv``: one row per combination of the swept values: ``n`` runs done, ``n_failed``,
  and for each metric ``<metric> mean`` and ``<metric> ci95`` (the half-width), printed as
  ``mean +- ci``.
"""
from __future__ import annotations

import difflib
import math
import re
from pathlib import Path

import numpy as np

from .errors import OrbschedError, RegistryError
from .results_io import atomic_write_csv

__all__ = ["DEFAULT_METRICS", "compare", "mean_ci", "table_text"]

DEFAULT_METRICS = ("utilisation", "completed_gpu_h_per_day", "migrations.started",
                   "work_lost_gpu_h.brownout", "energy_kwh.curtailed")
MAX_PANELS = 6
LEVEL = 0.95


def mean_ci(values, level=LEVEL):
    """``(mean, half-width of the t confidence interval, n)`` of the finite values."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(x[0]), math.nan, 1
    half = stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return float(x.mean()), float(half), n


def _slug(s):
    return re.sub(r"[^A-Za-z0-9]+", "_", str(s)).strip("_")


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _fmt(v):
    return f"{v:g}" if _is_number(v) else str(v)


def _load(out):
    import pandas as pd

    from .sweep import collect, sweep_parameters

    path = out / "sweep.parquet"
    if path.is_file():
        frame = pd.read_parquet(path)
    elif (out / "sweep.yaml").is_file() or (out / "runs").is_dir():
        frame = collect(out)
    else:
        raise OrbschedError(f"{out}: not a sweep folder (no sweep.parquet, sweep.yaml or runs/)")
    return frame, sweep_parameters(frame, out)


def _check_metrics(frame, metrics):
    numeric = [c for c in frame.columns if c not in ("index", "seed", "wall_s")
               and frame[c].dtype.kind in "biuf"]
    for m in metrics:
        if m not in numeric:
            near = difflib.get_close_matches(m, numeric, n=1)
            raise RegistryError(f"unknown metric {m!r}" + (f"; did you mean {near[0]!r}?"
                                                           if near else "")
                                + f" Numeric metrics of this sweep: {', '.join(numeric)}")
    return list(metrics)


def _groups(frame, cols):
    """``[(values tuple, sub-frame)]`` in order of first appearance."""
    if not cols:
        return [((), frame)]
    return [(k if isinstance(k, tuple) else (k,), g)
            for k, g in frame.groupby(cols, sort=False, dropna=False)]


def _figure(n_panels):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(max(4.6 * ncols, 6.4), 3.4 * nrows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _plot(done, metric, x, lines, others, order):
    """One figure: ``metric`` against parameter ``x``; ``lines`` are the policy fields."""
    combos = _groups(done, others)
    pooled = len(combos) > MAX_PANELS
    if pooled:
        combos = [((), done)]
    fig, axes = _figure(len(combos))
    xs_all = order[x]
    numeric = all(_is_number(v) for v in xs_all)
    line_groups = _groups(done, lines)
    width = 0.6 / max(len(line_groups), 1)
    for ax, (okey, sub) in zip(axes, combos):
        for i, (lkey, _) in enumerate(line_groups):
            rows = sub
            for col, val in zip(lines, lkey):
                rows = rows[rows[col] == val]
            pts = [(v, *mean_ci(rows[rows[x] == v][metric].tolist())) for v in xs_all]
            pts = [p for p in pts if p[3] > 0]
            if not pts:
                continue
            dodge = (i - (len(line_groups) - 1) / 2) * width   # side by side, not on top
            if numeric:
                span = (max(xs_all) - min(xs_all)) or 1.0
                pos = np.array([p[0] for p in pts], float) + dodge * 0.05 * span
            else:
                pos = np.array([xs_all.index(p[0]) for p in pts], float) + dodge
            label = " / ".join(_fmt(v) for v in lkey) if lines else None
            ax.errorbar(pos, [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o",
                        markersize=4, capsize=3, linewidth=1.2,
                        linestyle="-" if numeric else "none", label=label)
        if numeric and len(xs_all) <= 8:
            ax.set_xticks(xs_all, [_fmt(v) for v in xs_all])
        elif not numeric:
            ax.set_xticks(range(len(xs_all)), [_fmt(v) for v in xs_all],
                          rotation=30 if len(xs_all) > 3 else 0)
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if others and not pooled:
            ax.set_title(", ".join(f"{p} = {_fmt(v)}" for p, v in zip(others, okey)),
                         fontsize=9)
        if lines and len(line_groups) > 1:
            ax.legend(fontsize=8, title=" / ".join(lines), title_fontsize=8)
    n = done.groupby(lines + [x] + others, dropna=False).size() if len(done) else []
    n_txt = f"n = {int(min(n))}" + (f"-{int(max(n))}" if len(n) and max(n) != min(n) else "") \
        if len(n) else "no runs"
    title = f"{metric} vs {x}\nmean and {LEVEL:.0%} confidence interval, {n_txt} runs per point"
    if pooled:
        title += f", pooled over {', '.join(others)}"
    fig.suptitle(title, fontsize=10)
    return fig


def compare(sweep_dir, metrics=None, out_dir=None, formats=("png", "pdf")):
    """Draw the figures and write the table of a sweep folder (module docstring) into
    ``out_dir`` (default ``sweep_dir/compare``).

    Returns ``{"figures": [paths], "table": DataFrame, "metrics", "parameters", "out",
    "runs_done", "runs_failed"}``.
    """
    import pandas as pd

    from .plots import _check_formats, _save

    out = Path(sweep_dir)
    fig_dir = Path(out_dir) if out_dir else out / "compare"
    formats = _check_formats(formats)
    frame, params = _load(out)
    done = frame[frame["status"] == "done"].reset_index(drop=True)
    metrics = _check_metrics(frame, metrics or DEFAULT_METRICS)
    policy = [p for p in params if p == "policy" or p.startswith("policy.")]
    xs = [p for p in params if p not in policy] or policy
    lines = policy if xs != policy else []
    order = {p: list(dict.fromkeys(frame[p].tolist())) for p in params}
    for p in params:
        if all(_is_number(v) for v in order[p]):
            order[p] = sorted(order[p])
    figures = []
    for m in metrics:
        for x in xs:
            others = [p for p in xs if p != x]
            fig = _plot(done, m, x, lines, others, order)
            figures += _save(fig, fig_dir, f"{_slug(m)}__vs__{_slug(x)}", formats)
    rows = []
    for key, g in _groups(frame, params):
        ok = g[g["status"] == "done"]
        row = dict(zip(params, key))
        row.update(n=len(ok), n_failed=int((g["status"] == "failed").sum()))
        for m in metrics:
            mean, half, _ = mean_ci(ok[m].tolist()) if len(ok) else (math.nan, math.nan, 0)
            row[f"{m} mean"], row[f"{m} ci95"] = mean, half
        rows.append(row)
    table = pd.DataFrame(rows)
    atomic_write_csv(fig_dir / "table.csv", table)
    return {"figures": figures, "table": table, "metrics": metrics, "parameters": params,
            "out": fig_dir, "runs_done": len(done),
            "runs_failed": int((frame["status"] == "failed").sum())}


def table_text(table, metrics, parameters):
    """The table as text: one column per parameter, one ``mean +- ci`` column per metric."""
    if table.empty:
        return "(no runs)"
    show = table[list(parameters) + ["n"]].copy()
    for m in metrics:
        show[m] = [("n/a" if not np.isfinite(a) else f"{a:.4g}")
                   + ("" if not np.isfinite(b) else f" ± {b:.2g}")
                   for a, b in zip(table[f"{m} mean"], table[f"{m} ci95"])]
    return show.to_string(index=False)
