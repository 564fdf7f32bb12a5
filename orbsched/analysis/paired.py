"""Honest comparisons of policies: per-seed paired differences against a baseline, with
steady-state metrics, confidence intervals and the seeds a narrower interval would take.

Why pairing.  A run's randomness is split from its seed into independent streams
(``orbsched.preflight.rng_streams``: ``workload``, ``policy``, ``faults``, ``inference``).
For a given seed, runs of different policies draw *the same* values from the streams the
policy cannot influence, so they face the same jobs and the same faults: these are common
random numbers (:data:`COMMON_STREAMS`).  Most of the spread between seeds (which jobs arrive,
how long they run) is then shared by both sides of a comparison and cancels in the per-seed
difference, so the interval of the mean *difference* is far narrower than the two unpaired
intervals suggest.  What is not common: the ``policy`` stream (each policy's own draws, by
design), and the inference service times, which are drawn in the order requests are served
(the engine draws them as requests start service; :data:`NOT_COMMON`).

For each metric, policy and combination of the other swept values (a *cell*), the runs of
the policy and of the baseline that share a seed form a pair; :func:`paired_table` gives:

* ``n_pairs``, the two means, ``diff_mean`` (policy - baseline) and ``rel_diff``
  (``diff_mean / baseline_mean``);
* the interval of the mean difference at ``level`` (default 95 %): ``method="t"``, Student's
  t on the n differences (``diff_mean +- t_{n-1} s / sqrt(n)``), or ``method="bootstrap"``,
  the percentile interval of 10,000 resamples of the differences (seeded: the same table
  every time);
* ``unpaired_halfwidth``: Welch's interval for the difference of the two means from the same
  runs treated as independent, and ``narrowing`` = unpaired / paired half-width;
* ``correlation``: Pearson's r between the policy's and the baseline's per-seed values.  It
  sets the narrowing: ``var(d) = var(x) + var(y) - 2 cov(x, y)``, so pairing removes the
  spread the two policies share (r near 1: far narrower) and none of what each adds alone (a
  policy whose outcome on a seed follows its own course, such as ``stay`` shedding jobs at
  brownouts against a migrating baseline, correlates less).  :func:`paired_text` says so on
  the line of a pair narrowed less than :data:`WEAK_NARROWING` times;
* ``seeds_to_halve``: the number of seeds whose t interval would be half as wide, assuming
  the spread of the differences stays as measured (about 4x the seeds, a little less for few
  seeds because the t quantile falls).

Steady state.  With ``warmup_h``, each metric is taken over ``[warm-up, end]`` of each run
from its tables (:func:`steady_summary`; the names are those of ``summary.json`` with the
window's meaning), so the jobs still running at the end of a short run and the empty fleet
of its first hour do not set the comparison.  Without it, the whole-run ``summary.json``
values are used.

Labels.  Runs are labelled by the policy's own name (``Policy.name``, the ``policy`` of
``summary.json``), not by the file path or ``module:Class`` that named it; two policy
sections that share a name are told apart by their swept values.
"""
from __future__ import annotations

import math
import re
import textwrap

import numpy as np
import pandas as pd

from ..scenario.errors import OrbschedError, RegistryError
from .figures_io import OKABE_ITO, RunFolder, new_figure, steady_start_s

__all__ = ["COMMON_STREAMS", "METHODS", "NOT_COMMON", "STEADY_METRICS", "fig_paired",
           "label_policies", "paired_table", "paired_text", "policy_free", "seeds_to_halve", "slug",
           "steady_frame", "steady_summary"]

#: Random streams of a run drawn identically by every policy for one seed (common random
#: numbers): ``orbsched.preflight.STREAMS`` minus the policy's own.
COMMON_STREAMS = {
    "workload": "the jobs (arrival times, sizes, work, checkpoints), drawn before the run",
    "faults": "radiation upsets, GPU, satellite and terminal failures, drawn before the run "
              "from dose and time (the peer of a failed laser terminal: in event order, the "
              "same for every policy)",
    "inference": "inference request arrivals per city, drawn before the run",
}
#: What pairing cannot cancel, and why.
NOT_COMMON = {
    "policy": "the policy's own stream (self.rng): each policy draws what it needs",
    "inference": "service times of inference requests: drawn as each request starts service, "
                 "so their order follows where the policy placed the replicas",
}
METHODS = ("t", "bootstrap")
BOOTSTRAP_RESAMPLES = 10_000
_DAY_S = 86400.0

#: Metrics :func:`steady_summary` computes over the window, with what each is there.
STEADY_METRICS = {
    "utilisation": "fleet GPU utilisation, time-weighted over the samples in the window "
                   "(timeseries.parquet)",
    "completed_gpu_h_per_day": "GPU-hours of the jobs completed in the window, per day "
                               "(jobs.parquet: work_gpu_h of jobs whose end_s falls in it)",
    "jobs.completed": "jobs completed in the window (jobs.parquet)",
    "job_completion_s.mean": "mean completion time of the jobs completed in the window, s",
    "queueing_delay_s.mean": "mean queueing delay of the jobs that first started in the "
                             "window, s",
    "migrations.started": "migrations started in the window (events.parquet)",
    "work_lost_gpu_h.brownout": "GPU-hours lost to brownouts in the window (events.parquet)",
    "energy_kwh.harvested": "energy harvested in the window, kWh (timeseries.parquet)",
    "energy_kwh.used": "energy used in the window, kWh",
    "energy_kwh.curtailed": "energy curtailed in the window, kWh",
}


# --------------------------------------------------------------------------- steady state
def steady_summary(folder, warmup_h: float) -> dict:
    """The :data:`STEADY_METRICS` of one results folder over ``[warmup_h, end]``, with
    ``window_start_h`` and ``window_end_h``."""
    run = RunFolder(folder)
    t0 = steady_start_s(run, warmup_h)
    t1 = run.duration_s
    cols = ("t_s", "sat", "util", "harvested_w", "used_w", "curtailed_w")
    f = run.table("timeseries", cols, [("sat", "==", -1)]).sort_values("t_s", kind="stable")
    t = f["t_s"].to_numpy(float)
    prev = np.concatenate([[0.0], t[:-1]])
    inside = prev >= t0 - 1e-9               # sample intervals that start in the window
    w = (t - prev)[inside]
    span = float(w.sum())
    out = {"window_start_h": t0 / 3600.0, "window_end_h": t1 / 3600.0}
    if span <= 0:
        raise OrbschedError(f"{run.dir}: no time-series sample after the warm-up of "
                            f"{t0 / 3600.0:g} h (record.sample_s too long for the window?)")

    def mean(col):
        return float(np.sum(f[col].to_numpy(float)[inside] * w) / span)
    out["utilisation"] = mean("util")
    for key, col in (("harvested", "harvested_w"), ("used", "used_w"),
                     ("curtailed", "curtailed_w")):
        out[f"energy_kwh.{key}"] = mean(col) * span / 3.6e6
    jobs = run.table("jobs", ("status", "end_s", "first_start_s", "work_gpu_h",
                              "completion_s", "queue_delay_s"))
    done = jobs[(jobs["status"] == "completed") & (jobs["end_s"] >= t0)
                & (jobs["end_s"] <= t1 + 1e-9)]
    out["jobs.completed"] = float(len(done))
    out["completed_gpu_h_per_day"] = float(done["work_gpu_h"].sum()) * _DAY_S / (t1 - t0)
    out["job_completion_s.mean"] = float(done["completion_s"].mean()) if len(done) else math.nan
    started = jobs[(jobs["first_start_s"] >= t0) & (jobs["first_start_s"] <= t1 + 1e-9)]
    out["queueing_delay_s.mean"] = float(started["queue_delay_s"].mean()) if len(started) \
        else math.nan
    ev = run.events(("migration_start", "brownout"))
    ev = ev[(ev["t_s"] >= t0) & (ev["t_s"] <= t1 + 1e-9)]
    out["migrations.started"] = float((ev["kind"] == "migration_start").sum())
    out["work_lost_gpu_h.brownout"] = float(np.nansum(ev[ev["kind"] == "brownout"]["value"]))
    return out


def steady_frame(frame: pd.DataFrame, out_dir, warmup_h: float, metrics) -> pd.DataFrame:
    """``frame`` (a sweep's table) with each of ``metrics`` replaced, for the runs done, by
    its steady-state value (:func:`steady_summary` of ``out_dir/runs/<run_id>``); an
    unknown steady metric is an error listing those there are."""
    from pathlib import Path

    unknown = [m for m in metrics if m not in STEADY_METRICS]
    if unknown:
        raise RegistryError(f"metric(s) {', '.join(unknown)} have no steady-state version "
                            f"(--warmup-h); steady-state metrics: {', '.join(STEADY_METRICS)}")
    frame = frame.copy()
    for m in metrics:
        frame[m] = np.nan
    frame["window_start_h"] = np.nan
    frame["window_end_h"] = np.nan
    for i in frame.index[frame["status"] == "done"]:
        values = steady_summary(Path(out_dir) / "runs" / str(frame.at[i, "run_id"]), warmup_h)
        for k in list(metrics) + ["window_start_h", "window_end_h"]:
            frame.at[i, k] = values[k]
    return frame


# --------------------------------------------------------------------------------- labels
def _short(path):
    return path.rsplit(".", 1)[-1]


def policy_free(params) -> list:
    """The swept parameters that are not the policy's (a comparison's cells)."""
    return [p for p in params if not (p == "policy" or p.startswith("policy."))]


def label_policies(frame: pd.DataFrame, params) -> tuple[pd.Series, list]:
    """``(label per row, policy parameters)``: each run's ``Policy.name`` (``summary.policy``,
    or ``policy`` when the policy is not swept), followed by the swept policy values that
    tell two sections of one name apart."""
    pol = [p for p in params if p == "policy" or p.startswith("policy.")]
    name_col = "summary.policy" if "summary.policy" in frame else "policy"
    names = frame[name_col].astype(str) if name_col in frame else \
        pd.Series(["policy"] * len(frame), index=frame.index)
    labels = names.copy()
    if pol:
        keys = frame[pol].astype(str).agg(" / ".join, axis=1)
        for name in names.unique():
            rows = names == name
            if keys[rows].nunique() > 1:
                varying = [p for p in pol if frame.loc[rows, p].astype(str).nunique() > 1
                           and p not in ("policy", "policy.name")]
                varying = varying or pol
                labels[rows] = [
                    f"{name} ({', '.join(f'{_short(p)}={frame.at[i, p]}' for p in varying)})"
                    for i in frame.index[rows]]
    return labels, pol


# ------------------------------------------------------------------------------ intervals
def _t_quantile(level, dof):
    from scipy.special import stdtrit

    return float(stdtrit(dof, 0.5 + level / 2.0))


def seeds_to_halve(n: int, level: float = 0.95) -> int:
    """Seeds whose t interval is half as wide as with ``n`` seeds, the spread unchanged: the
    least m with ``t_{m-1} / sqrt(m) <= t_{n-1} / sqrt(n) / 2`` (0 when n < 2)."""
    if n < 2:
        return 0
    target = _t_quantile(level, n - 1) / math.sqrt(n) / 2.0
    m = n + 1
    while _t_quantile(level, m - 1) / math.sqrt(m) > target:
        m += 1
    return m


def _interval(d, level, method, seed=0):
    """``(low, high)`` of the mean of ``d``."""
    n = len(d)
    if n < 2:
        return math.nan, math.nan
    mean = float(d.mean())
    if method == "t":
        half = _t_quantile(level, n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
        return mean - half, mean + half
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))].mean(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2.0, 0.5 + level / 2.0])
    return float(lo), float(hi)


def _welch_half(a, b, level):
    """Half-width of Welch's interval for mean(a) - mean(b) (independent samples)."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se2 = va + vb
    if se2 == 0:
        return 0.0
    dof = se2 ** 2 / ((va ** 2 / (na - 1) if va else 0.0) + (vb ** 2 / (nb - 1) if vb else 0.0))
    return _t_quantile(level, dof) * math.sqrt(se2)


WEAK_NARROWING = 3.0     # below this narrowing, paired_text explains it by the correlation


def _correlation(x, y) -> float:
    """Pearson's r of the per-seed values (nan with fewer than 3 pairs or no spread)."""
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def paired_table(frame: pd.DataFrame, params, baseline: str, metrics, *, level=0.95,
                 method="t") -> pd.DataFrame:
    """The tidy table of paired differences (module docstring): one row per metric, policy
    and cell.  ``frame`` holds one row per run (a sweep's table: ``status``, ``seed``, the
    swept ``params`` and the ``metrics``); ``baseline`` is a label, a policy name or a swept
    policy value."""
    if method not in METHODS:
        raise RegistryError(f"unknown interval method {method!r}; valid: {', '.join(METHODS)}")
    if not (isinstance(level, float) and 0.5 <= level < 1.0):
        raise OrbschedError(f"level: expected a confidence level in [0.5, 1), got {level!r}")
    done = frame[frame["status"] == "done"].copy()
    labels, pol = label_policies(done, params)
    done["label"] = labels
    base_rows = done["label"] == baseline
    if not base_rows.any():
        for col in pol + [c for c in ("summary.policy",) if c in done]:
            hit = done[col].astype(str) == baseline
            if hit.any():
                base_rows = done["label"].isin(done.loc[hit, "label"].unique())
                break
    base_labels = list(done.loc[base_rows, "label"].unique())
    if len(base_labels) != 1:
        listing = ", ".join(map(str, dict.fromkeys(done["label"])))
        raise RegistryError(f"baseline {baseline!r} " + ("matches several policies: " +
                            ", ".join(base_labels) if base_labels else "is not a policy of "
                            "these runs") + f"; policies: {listing}")
    base = base_labels[0]
    cells = policy_free(params)
    rows = []
    groups = done.groupby(cells, sort=False, dropna=False) if cells else [((), done)]
    for key, cell in groups:
        key = key if isinstance(key, tuple) else (key,)
        b = cell[cell["label"] == base].drop_duplicates("seed").set_index("seed")
        for label in dict.fromkeys(cell["label"]):
            if label == base:
                continue
            p = cell[cell["label"] == label].drop_duplicates("seed").set_index("seed")
            seeds = p.index.intersection(b.index)
            for m in metrics:
                x = p.loc[seeds, m].to_numpy(float)
                y = b.loc[seeds, m].to_numpy(float)
                ok = np.isfinite(x) & np.isfinite(y)
                x, y = x[ok], y[ok]
                d = x - y
                n = len(d)
                lo, hi = _interval(d, level, method)
                mean = float(d.mean()) if n else math.nan
                half = (hi - lo) / 2.0
                unpaired = _welch_half(x, y, level)
                row = dict(zip(cells, key))
                row.update(metric=m, policy=label, baseline=base, n_pairs=n,
                           baseline_mean=float(y.mean()) if n else math.nan,
                           policy_mean=float(x.mean()) if n else math.nan,
                           diff_mean=mean, diff_low=lo, diff_high=hi, diff_halfwidth=half,
                           rel_diff=mean / float(y.mean()) if n and y.mean() else math.nan,
                           unpaired_halfwidth=unpaired, correlation=_correlation(x, y),
                           narrowing=(unpaired / half if half > 0 else
                                      math.inf if unpaired > 0 else math.nan),
                           seeds_to_halve=seeds_to_halve(n, level), method=method,
                           level=level)
                for w in ("window_start_h", "window_end_h"):
                    if w in cell:
                        row[w] = float(p.loc[seeds, w].mean()) if n else math.nan
                rows.append(row)
    cols = ["metric", "policy", "baseline", *cells, "n_pairs", "baseline_mean", "policy_mean",
            "diff_mean", "diff_low", "diff_high", "diff_halfwidth", "rel_diff",
            "unpaired_halfwidth", "correlation", "narrowing", "seeds_to_halve", "method",
            "level"]
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=cols)
    return table[cols + [c for c in ("window_start_h", "window_end_h") if c in table]]


def paired_text(table: pd.DataFrame, cells=()) -> str:
    """The table as text: per metric, one line per policy (and cell)."""
    if table.empty:
        return "(no pairs: the baseline and the policies share no seed)"
    lines = []
    first = table.iloc[0]
    how = ("Student t" if first["method"] == "t" else
           f"bootstrap percentile, {BOOTSTRAP_RESAMPLES:,} resamples")
    for metric, g in table.groupby("metric", sort=False):
        lines.append(f"{metric}: policy - {first['baseline']} (per-seed pairs, "
                     f"{first['level']:.0%} {how})")
        for _, r in g.iterrows():
            cell = ", ".join(f"{_short(c)}={r[c]}" for c in cells)
            lines.append(
                f"  {r['policy']}{' [' + cell + ']' if cell else ''}: "
                f"{_num(r['diff_mean'])} [{_num(r['diff_low'])}, {_num(r['diff_high'])}]"
                f" ({_pct(r['rel_diff'])}), n = {r['n_pairs']}; unpaired +/- "
                f"{_num(r['unpaired_halfwidth'])}, paired +/- {_num(r['diff_halfwidth'])} "
                f"({_x(r['narrowing'])} narrower); {r['seeds_to_halve']} seeds would halve it")
            if r["narrowing"] < WEAK_NARROWING and np.isfinite(r["correlation"]):
                lines.append(
                    f"    (narrowed less than {WEAK_NARROWING:g}x: the two policies' per-seed "
                    f"values correlate at r = {r['correlation']:.2f}, and pairing removes only "
                    f"the spread they share)")
    return "\n".join(lines)


def _num(v):
    if not np.isfinite(v):
        return "n/a"
    a = abs(v)
    return f"{v:,.0f}" if a >= 1000 else f"{v:.4g}"


def _pct(v):
    return f"{v:+.1%}" if np.isfinite(v) else "n/a"


def _x(v):
    return f"{v:.1f}x" if np.isfinite(v) else "n/a"


# --------------------------------------------------------------------------------- figure
def fig_paired(table: pd.DataFrame, cells=()):
    """One panel per metric: each policy's mean difference from the baseline with its paired
    interval (thick) and the unpaired interval of the same runs (thin, grey), a line at 0.
    Returns ``(fig, table)``."""
    metrics = list(dict.fromkeys(table["metric"]))
    n_rows = max(len(table) // max(len(metrics), 1), 1)
    labels = []
    for _, r in table[table["metric"] == metrics[0]].iterrows() if metrics else []:
        cell = ", ".join(f"{_short(c)}={r[c]}" for c in cells)
        labels.append(r["policy"] + (f"\n{cell}" if cell else ""))
    width = max(2.0 + max((len(s) for s in "\n".join(labels).splitlines()), default=8) * 0.07,
                3.0)
    ncols = min(max(len(metrics), 1), 3)
    nrows = max(math.ceil(len(metrics) / ncols), 1)
    fig, axes = new_figure(width + 3.6 * ncols, 0.4 + nrows * (1.3 + 0.45 * n_rows),
                           nrows=nrows, ncols=ncols, sharey=True)
    axes = axes.ravel()
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes, metrics):
        g = table[table["metric"] == metric].reset_index(drop=True)
        y = np.arange(len(g))[::-1]
        ax.axvline(0.0, color="0.3", lw=0.8)
        ax.errorbar(g["diff_mean"], y, xerr=g["unpaired_halfwidth"], fmt="none",
                    ecolor="0.65", elinewidth=1.0, capsize=3, label="unpaired interval")
        ax.errorbar(g["diff_mean"], y, xerr=[g["diff_mean"] - g["diff_low"],
                                             g["diff_high"] - g["diff_mean"]],
                    fmt="o", color=OKABE_ITO["vermillion"], elinewidth=2.4, capsize=0,
                    markersize=5, label="paired interval")
        ax.set_title("\n".join(textwrap.wrap(metric, 30)), fontsize=9)
        ax.set_xlabel(f"difference from {g['baseline'].iloc[0]}", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.set_yticks(y, labels[:len(g)])
        ax.set_ylim(-0.7, len(g) - 0.3)
    if len(axes):
        axes[0].legend(fontsize=7, loc="best")
        first = table.iloc[0]
        window = ""
        if "window_start_h" in table and np.isfinite(first.get("window_start_h", np.nan)):
            window = (f"; steady state {first['window_start_h']:g}-"
                      f"{first['window_end_h']:g} h")
        fig.suptitle(f"Paired differences from {first['baseline']} over "
                     f"{int(table['n_pairs'].max())} seeds, {first['level']:.0%} "
                     f"{'t' if first['method'] == 't' else 'bootstrap'} intervals{window}",
                     fontsize=9)
    return fig, table


def slug(text: str) -> str:
    """A file-name-safe form of a label."""
    return re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_")
