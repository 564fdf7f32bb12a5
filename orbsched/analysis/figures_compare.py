"""Policies side by side, in the steady state, with intervals over seeds.

:func:`steady_metrics` reduces one run to numbers over its steady-state window (from the
warm-up, :func:`orbsched.analysis.figures_io.steady_start_s`, to the end):

* ``util``: fleet GPU utilisation (fleet rows of ``timeseries.parquet``, time-weighted over
  the sample intervals that start in the window);
* ``util_while_sunlit`` / ``_penumbra`` / ``_umbra``: utilisation of the GPUs *while* their
  satellite is in that state: the GPU-time held in the state (``util_<state>``) divided by
  the satellite-time spent in it (eclipse time from the fleet's ``eclipse_frac``, umbra time
  from the ``umbra_entry`` / ``umbra_exit`` events; penumbra = eclipse - umbra);
* ``share_sunlit`` / ``_penumbra`` / ``_umbra``: the same GPU-time as a share of the fleet's
  capacity (they add up to ``util``);
* ``lost_brownout_gpu_h_per_day``: work lost to brownouts in the window (the ``value`` of the
  ``brownout`` events), per simulated day; ``lost_radiation_gpu_h_per_day`` and
  ``lost_failure_gpu_h_per_day``: over the *whole run* from ``summary.json`` (losses at host
  reboots and GPU failures carry no amount in ``events.parquet``, so they cannot be cut to
  the window; the figure says so).

:func:`fig_side_by_side` draws, per run group (a policy; :func:`group_runs`), the mean over
its seeds with a 95 % Student-t interval (none with one seed): utilisation by illumination,
lost work by cause, and fleet utilisation over time with the warm-up shaded.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .figures_io import (
    OKABE_ITO,
    STATE_COLOURS,
    RunFolder,
    new_figure,
    series_style,
    steady_start_s,
    t_interval,
)

__all__ = ["LOST_CAUSES", "fig_side_by_side", "state_times_s", "steady_metrics"]

STATES = ("sunlit", "penumbra", "umbra")
LOST_CAUSES = ("brownout", "radiation", "failure")
_DAY_S = 86400.0


def state_times_s(run: RunFolder, t0_s: float, t1_s: float, kind=("umbra_entry", "umbra_exit")):
    """Satellite-seconds inside ``[t0_s, t1_s]`` between each satellite's ``kind[0]`` and
    ``kind[1]`` events (an exit with no entry before it: in the state since the start; an
    entry with no exit: until the end)."""
    ev = run.events(kind)
    total = 0.0
    for _, e in ev.groupby("sat"):
        t = e["t_s"].to_numpy(float)
        entering = (e["kind"] == kind[0]).to_numpy()
        if len(t) and not entering[0]:
            t, entering = np.concatenate([[0.0], t]), np.concatenate([[True], entering])
        if len(t) and entering[-1]:
            t, entering = np.concatenate([t, [np.inf]]), np.concatenate([entering, [False]])
        starts, ends = t[entering], t[~entering]
        k = min(len(starts), len(ends))
        total += float(np.clip(np.minimum(ends[:k], t1_s) - np.maximum(starts[:k], t0_s),
                               0.0, None).sum())
    return total


def steady_metrics(run: RunFolder, warmup_h=None) -> dict:
    """The steady-state numbers of one run (module docstring); ``window_start_h`` and
    ``window_h`` say which window."""
    t0 = steady_start_s(run, warmup_h)
    f = run.fleet()
    t = f["t_s"].to_numpy(float)
    prev = np.concatenate([[0.0], t[:-1]])
    m = prev >= t0 - 1e-9
    out = {"window_start_h": t0 / 3600.0}
    if not m.any():
        return out
    w = (t - prev)[m]
    span = float(w.sum())
    a, b = float(prev[m][0]), float(t[m][-1])
    out["window_h"] = span / 3600.0

    def mean(col):
        return float(np.sum(f[col].to_numpy(float)[m] * w) / span)
    out["util"] = mean("util")
    time_share = {"eclipse": mean("eclipse_frac")}
    n = max(run.n_sats, 1)
    time_share["umbra"] = state_times_s(run, a, b) / (n * (b - a)) if b > a else np.nan
    time_share["penumbra"] = max(time_share["eclipse"] - time_share["umbra"], 0.0)
    time_share["sunlit"] = 1.0 - time_share["eclipse"]
    for s in STATES:
        share = mean(f"util_{s}")
        out[f"share_{s}"] = share
        out[f"time_{s}"] = time_share[s]
        out[f"util_while_{s}"] = share / time_share[s] if time_share[s] > 1e-12 else np.nan
    brown = run.events(("brownout",))
    brown = brown[(brown["t_s"] >= a) & (brown["t_s"] <= b)]
    out["lost_brownout_gpu_h_per_day"] = float(np.nansum(brown["value"])) * _DAY_S / span
    lost = run.summary.get("work_lost_gpu_h") or {}
    days = run.duration_s / _DAY_S
    for cause in ("radiation", "failure"):
        v = lost.get(cause)
        out[f"lost_{cause}_gpu_h_per_day"] = float(v) / days if v is not None and days > 0 \
            else np.nan
    return out


def _fleet_series(runs):
    """Fleet utilisation of several runs on their common sample times: ``(t_s, (n_runs, n))``."""
    series = [r.fleet()[["t_s", "util"]] for r in runs]
    series = [s for s in series if len(s)]
    if not series:
        return np.zeros(0), np.zeros((0, 0))
    common = series[0]["t_s"].to_numpy(float)
    for s in series[1:]:
        common = np.intersect1d(common, s["t_s"].to_numpy(float))
    vals = np.array([s.set_index("t_s")["util"].reindex(common).to_numpy(float)
                     for s in series])
    return common, vals


def side_by_side_table(groups: dict, warmup_h=None) -> pd.DataFrame:
    """The data of :func:`fig_side_by_side`: ``label, metric, t_h, mean, ci95_half, n_runs,
    window_start_h, scope`` (``scope``: steady | whole run | time series)."""
    rows = []
    for label, runs in groups.items():
        mets = [steady_metrics(r, warmup_h) for r in runs]
        start = float(np.mean([m["window_start_h"] for m in mets]))
        keys = [k for k in mets[0] if k not in ("window_start_h", "window_h")]
        for k in keys:
            vals = np.array([m.get(k, np.nan) for m in mets], float)
            mean, half = t_interval(vals[:, None], axis=0)
            scope = "whole run" if k in ("lost_radiation_gpu_h_per_day",
                                         "lost_failure_gpu_h_per_day") else "steady"
            rows.append((label, k, np.nan, float(mean[0]), float(half[0]),
                         int(np.isfinite(vals).sum()), start, scope))
        t, vals = _fleet_series(runs)
        if len(t):
            mean, half = t_interval(vals, axis=0)
            rows += [(label, "util_over_time", t[i] / 3600.0, float(mean[i]), float(half[i]),
                      len(vals), start, "time series") for i in range(len(t))]
    return pd.DataFrame(rows, columns=["label", "metric", "t_h", "mean", "ci95_half", "n_runs",
                                       "window_start_h", "scope"])


def _bars(ax, table, labels, metrics, colours, names):
    width = 0.8 / len(metrics)
    x = np.arange(len(labels))
    for j, (metric, colour, name) in enumerate(zip(metrics, colours, names)):
        d = table[table["metric"] == metric].set_index("label").reindex(labels)
        y = d["mean"].to_numpy(float)
        err = d["ci95_half"].to_numpy(float)
        pos = x + (j - (len(metrics) - 1) / 2) * width
        ax.bar(pos, np.nan_to_num(y), width, color=colour, label=name,
               edgecolor="k" if colour == STATE_COLOURS["penumbra"] else None, linewidth=0.3)
        ok = np.isfinite(err)
        if ok.any():
            ax.errorbar(pos[ok], y[ok], yerr=err[ok], fmt="none", ecolor="k", elinewidth=0.9,
                        capsize=2.5)
    ax.set_xticks(x, [lab.replace(", ", "\n") for lab in labels], fontsize=8)


def fig_side_by_side(groups: dict, warmup_h=None):
    """Utilisation by illumination, lost work by cause and utilisation over time, per run
    group; returns ``(fig, table)`` (:func:`side_by_side_table`)."""
    table = side_by_side_table(groups, warmup_h)
    labels = list(groups)
    fig, axes = new_figure(max(11.0, 4.0 + 2.2 * len(labels)), 8.0, nrows=2, ncols=2)
    gs = axes[1, 0].get_gridspec()
    for ax in axes[1, :]:
        ax.remove()
    ax_t = fig.add_subplot(gs[1, :])
    ax_u, ax_l = axes[0, 0], axes[0, 1]
    _bars(ax_u, table, labels, ["util"] + [f"util_while_{s}" for s in STATES],
          ["0.3"] + [STATE_COLOURS[s] for s in STATES],
          ["all GPUs"] + [f"while {s}" for s in STATES])
    ax_u.set_ylabel("GPU utilisation (steady state)")
    ax_u.set_ylim(0, 1.1)
    ax_u.legend(fontsize=7.5, ncols=4, loc="upper center")
    ax_u.set_title("Utilisation by illumination", fontsize=10)
    _bars(ax_l, table, labels, [f"lost_{c}_gpu_h_per_day" for c in LOST_CAUSES],
          [OKABE_ITO["vermillion"], OKABE_ITO["purple"], OKABE_ITO["sky_blue"]],
          ["brownout (steady state)", "radiation (whole run)", "failure (whole run)"])
    ax_l.set_ylabel("work lost (GPU-h per day)")
    ax_l.legend(fontsize=7.5, loc="upper right")
    ax_l.set_title("Lost work by cause", fontsize=10)
    series = table[table["metric"] == "util_over_time"]
    for i, label in enumerate(labels):
        d = series[series["label"] == label]
        if d.empty:
            continue
        style = series_style(i)
        y, h = d["mean"].to_numpy(float), np.nan_to_num(d["ci95_half"].to_numpy(float))
        ax_t.plot(d["t_h"], y, lw=1.3, label=f"{label} ({int(d['n_runs'].iloc[0])} runs)",
                  **style)
        ax_t.fill_between(d["t_h"], y - h, y + h, color=style["color"], alpha=0.18, lw=0)
    starts = table.groupby("label")["window_start_h"].first()
    if len(starts):
        ax_t.axvspan(0, float(starts.max()), color="0.85", alpha=0.6, lw=0,
                     label="warm-up (left out of the bars)")
    ax_t.set_xlabel("time since start (h)")
    ax_t.set_ylabel("fleet GPU utilisation")
    ax_t.set_ylim(0, 1.05)
    ax_t.set_xlim(left=0)
    ax_t.legend(fontsize=7.5, loc="upper left", ncols=3)
    n_seeds = sorted({len(r) for r in groups.values()})
    fig.suptitle(f"Policies side by side - steady state from {float(starts.max()):g} h; mean "
                 f"over {'/'.join(map(str, n_seeds))} seed(s), 95 % t intervals", fontsize=10)
    return fig, table
