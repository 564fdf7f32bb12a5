"""A sweep's results: ``sweep.parquet`` (:func:`collect`), and ``orbsched compare DIR``: each
metric against each swept parameter, and a comparison table.

:func:`collect` builds the one-row-per-run table from the run folders alone (``sweep.yaml``
says which runs belong to the sweep).  :func:`compare` reads ``DIR/sweep.parquet`` (rebuilt
with :func:`collect` when it is missing), leaves failed runs out and draws:

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

Policies are labelled by their own name (``Policy.name``, as ``summary.json`` has it), not by
the file path or ``module:Class`` that named them (:func:`orbsched.analysis.paired.label_policies`).
With ``warmup_h`` the metrics are steady-state values over ``[warm-up, end]`` of each run
(:func:`orbsched.analysis.paired.steady_summary`).  With ``baseline``, :func:`compare` also
writes the per-seed paired differences against that policy (:mod:`orbsched.analysis.paired`):
the figure ``paired__<baseline>`` (PNG, PDF) with the tidy table beside it as CSV.
"""
from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path

import numpy as np
import yaml

from ..files import atomic_write_csv
from ..results.folder import RUN_FILE, run_status
from ..scenario.errors import OrbschedError, RegistryError
from ..scenario.schema import yaml_value
from .figures_io import check_formats, save_figure
from .paired import fig_paired, label_policies, paired_table, policy_free, slug, steady_frame
from .plot_base import write_figure

__all__ = ["DEFAULT_METRICS", "collect", "compare", "mean_ci", "sweep_parameters",
           "table_text"]

DEFAULT_METRICS = ("utilisation", "completed_gpu_h_per_day", "migrations.started",
                   "work_lost_gpu_h.brownout", "energy_kwh.curtailed")
#: With a warm-up: the same, over the steady-state window.
DEFAULT_STEADY_METRICS = DEFAULT_METRICS
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


# ---------------------------------------------------------------------- the sweep's table
def _flatten(d, prefix=""):
    for k, v in d.items():
        if not prefix and k == "versions":
            continue
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", (json.dumps(v) if isinstance(v, list) else v)


def _param_column(values):
    """Keep numbers, strings and booleans as they are; anything mixed as YAML text."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} or kinds <= {str} or kinds <= {bool}:
        return values
    return [None if v is None else yaml_value(v) for v in values]


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OrbschedError(f"{path}: cannot read ({exc})") from None


def collect(out_dir):
    """``sweep.parquet``'s frame, rebuilt from the run folders of ``out_dir``.

    The runs are those listed in ``out_dir/sweep.yaml`` (or, without it, every
    ``runs/*/run.json``), one row each in sweep order: ``run_id``, ``index``, ``status``
    (done | failed | pending), one column per swept field path, ``seed``, the flattened
    summary metrics (``jobs.completed``, ``energy_kwh.curtailed``...; a metric whose name is
    also a swept path is renamed ``summary.<name>``), ``error`` (the last line of
    ``error.txt``) and ``wall_s`` (the run's own timings; the only column that differs
    between two executions of the same sweep).
    """
    import pandas as pd

    out = Path(out_dir)
    listing = out / "sweep.yaml"
    if listing.is_file():
        meta = yaml.safe_load(listing.read_text(encoding="utf-8")) or {}
        runs, params = meta.get("runs") or [], meta.get("parameters") or []
    else:
        runs = sorted((_read_json(p) for p in (out / "runs").glob(f"*/{RUN_FILE}")),
                      key=lambda r: r["index"])
        params = list(dict.fromkeys(p for r in runs for p in r["params"]))
        meta = {}
    rows = []
    for r in runs:
        folder = out / "runs" / r["id"]
        status = run_status(folder)
        row = {"run_id": r["id"], "index": r["index"], "status": status}
        row.update({p: r["params"].get(p) for p in params})
        row["seed"] = r["seed"]
        if status == "done":
            for k, v in _flatten(_read_json(folder / "summary.json")):
                if k == "seed":
                    continue
                row[f"summary.{k}" if k in row else k] = v
        err = None
        if status == "failed":
            text = (folder / "error.txt").read_text(encoding="utf-8").strip().splitlines()
            err = text[-1] if text else "failed"
        row["error"] = err
        manifest = folder / "manifest.json"
        row["wall_s"] = round(sum(_read_json(manifest).get("timings_s", {}).values()), 3) \
            if status == "done" and manifest.is_file() else None
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not rows:
        frame = pd.DataFrame(columns=["run_id", "index", "status", *params, "seed", "error",
                                      "wall_s"])
    tail = [c for c in ("error", "wall_s") if c in frame]
    frame = frame[[c for c in frame.columns if c not in tail] + tail]
    for p in params:
        frame[p] = pd.Series(_param_column(list(frame[p])), dtype=object
                             if frame[p].dtype == object else None)
    frame.attrs["orbsched_sweep"] = json.dumps({"name": meta.get("name"), "parameters": params})
    return frame


def sweep_parameters(frame, out_dir=None):
    """The swept field paths of a ``sweep.parquet`` frame."""
    meta = frame.attrs.get("orbsched_sweep")
    if meta:
        return json.loads(meta)["parameters"]
    listing = Path(out_dir or ".") / "sweep.yaml"
    if listing.is_file():
        return (yaml.safe_load(listing.read_text(encoding="utf-8")) or {}).get("parameters", [])
    return []


# ------------------------------------------------------------------------ figures and table
def _slug(s):
    return re.sub(r"[^A-Za-z0-9]+", "_", str(s)).strip("_")


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _fmt(v):
    return f"{v:g}" if _is_number(v) else str(v)


def _load(out):
    import pandas as pd

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
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _ticks(ax, xs, numeric):
    """Categories in sweep order; a few well-spaced numbers (a grid) as they are."""
    if not numeric:
        ax.set_xticks(range(len(xs)), [_fmt(v) for v in xs], rotation=30 if len(xs) > 3 else 0)
    elif 1 < len(xs) <= 8 and min(np.diff(xs)) >= 0.08 * (xs[-1] - xs[0]):
        ax.set_xticks(xs, [_fmt(v) for v in xs])


def _plot(done, metric, x, lines, others, order):
    """One figure: ``metric`` against parameter ``x``; ``lines`` are the policy fields."""
    import textwrap

    combos = _groups(done, others)
    pooled = len(combos) > MAX_PANELS
    if pooled:
        combos = [((), done)]
    fig, axes = _figure(len(combos))
    xs_all = order[x]
    numeric = all(_is_number(v) for v in xs_all)
    line_groups = _groups(done, lines)
    width = 0.6 / max(len(line_groups), 1)
    counts = []
    for ax, (okey, sub) in zip(axes, combos):
        for i, (lkey, _) in enumerate(line_groups):
            rows = sub
            for col, val in zip(lines, lkey):
                rows = rows[rows[col] == val]
            pts = [(v, *mean_ci(rows[rows[x] == v][metric].tolist())) for v in xs_all]
            pts = [p for p in pts if p[3] > 0]
            if not pts:
                continue
            counts += [p[3] for p in pts]
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
        _ticks(ax, xs_all, numeric)
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if others and not pooled:
            ax.set_title(", ".join(f"{p} = {_fmt(v)}" for p, v in zip(others, okey)),
                         fontsize=9)
        if lines and len(line_groups) > 1:
            ax.legend(fontsize=8, title=" / ".join(lines), title_fontsize=8)
    lo, hi = (min(counts), max(counts)) if counts else (0, 0)
    n_txt = f"n = {lo}" + (f"-{hi}" if hi != lo else "") + f" run{'s' if hi > 1 else ''}"
    note = f"mean and {LEVEL:.0%} confidence interval, {n_txt} per point" + (
        f", pooled over {', '.join(others)}" if pooled else "")
    chars = int(fig.get_figwidth() * 72 / 6.5)              # about 6.5 pt per character
    fig.suptitle(f"{metric} vs {x}\n" + "\n".join(textwrap.wrap(note, chars)), fontsize=10)
    return fig


def _labelled(frame, params):
    """``frame`` with the policy column that names the class (``policy`` or ``policy.name``)
    showing each run's ``Policy.name`` (plus what tells two sections of one name apart)."""
    col = next((p for p in params if p in ("policy", "policy.name")), None)
    if col is None or "summary.policy" not in frame:
        return frame
    frame = frame.copy()
    done = frame["status"] == "done"
    labels, _ = label_policies(frame[done], params)
    by_value = dict(zip(frame.loc[done, col].astype(str), labels))
    frame[col] = [by_value.get(str(v), v) for v in frame[col]]
    return frame


def compare(sweep_dir, metrics=None, out_dir=None, formats=("png", "pdf"), *, baseline=None,
            warmup_h=None, level=0.95, method="t"):
    """Draw the figures and write the table of a sweep folder (module docstring) into
    ``out_dir`` (default ``sweep_dir/compare``); with ``baseline``, the paired differences
    too; with ``warmup_h``, steady-state metrics.

    Returns ``{"figures": [paths], "table": DataFrame, "metrics", "parameters", "out",
    "runs_done", "runs_failed", "paired": DataFrame or None}``.
    """
    import pandas as pd

    out = Path(sweep_dir)
    fig_dir = Path(out_dir) if out_dir else out / "compare"
    formats = check_formats(formats)
    frame, params = _load(out)
    if warmup_h is not None:
        metrics = list(metrics or DEFAULT_STEADY_METRICS)
        frame = steady_frame(frame, out, warmup_h, metrics)
    paired = None
    if baseline is not None:
        metrics = _check_metrics(frame, metrics or DEFAULT_METRICS)
        paired = paired_table(frame, params, baseline, metrics, level=level, method=method)
    frame = _labelled(frame, params)
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
            figures += write_figure(fig, fig_dir, f"{_slug(m)}__vs__{_slug(x)}", formats)
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
    if paired is not None and len(paired):
        cells = policy_free(params)
        figures += save_figure(*fig_paired(paired, cells), fig_dir,
                               f"paired__{slug(paired['baseline'].iloc[0])}", formats)
    return {"figures": figures, "table": table, "metrics": metrics, "parameters": params,
            "out": fig_dir, "runs_done": len(done),
            "runs_failed": int((frame["status"] == "failed").sum()), "paired": paired}


def table_text(table, metrics, parameters):
    """The table as text: one column per parameter, one ``mean +- ci`` column per metric."""
    if table.empty:
        return "(no runs)"
    show = table[list(parameters) + ["n"]].copy()
    for m in metrics:
        show[m] = [_pm(a, b) for a, b in zip(table[f"{m} mean"], table[f"{m} ci95"])]
    return show.to_string(index=False)


def _pm(mean, half):
    """``mean ± half`` with 4 significant digits of the mean (or of the interval)."""
    if not np.isfinite(mean):
        return "n/a"
    ref = abs(mean) or (abs(half) if np.isfinite(half) else 0.0)
    nd = int(min(max(3 - math.floor(math.log10(ref)), 0), 6)) if ref else 0
    return f"{mean:.{nd}f}" + (f" ± {half:.{nd}f}" if np.isfinite(half) else "")
