"""Phase-folded figures: what happens on a satellite as it goes round its orbit into shadow.

The phase of a satellite at time t is the time since its last shadow entry (``eclipse_entry``
in ``events.parquet``: the start of the penumbra).  Every per-satellite sample of the
steady-state window is put in a phase bin and averaged over satellites and orbits
(:func:`fold_samples`), one curve per run group (a policy; its seeds give the interval):

* ``util``: the satellite's GPU utilisation (``timeseries.parquet``);
* ``kept``: *work kept running* (:func:`fold_kept`): of the GPUs of the jobs that were running
  on the satellite just before its shadow entry, the share whose job is running (on any
  satellite) at that phase, among those whose job has not ended.  A policy that moves work to
  sunlit satellites empties the shadowed satellite (``util`` falls) but keeps its work running
  (``kept`` stays near 1); one that leaves work in place keeps ``util`` up until the battery
  reaches its floor, then both fall;
* ``used_kw``, ``soc``, ``temperature_k``: power drawn by the bus, battery state of charge,
  radiator temperature.

Sampling, and what it does to the curve: ``util`` and ``used_w`` are means over each sample
interval (``record.sample_s``); a sample is placed at its interval's midpoint, so the folded
curve is the true phase profile smoothed by a ``sample_s``-wide box (an edge is spread over
+-sample_s/2).  ``soc`` and ``temperature_k`` are values at the sample instant and are placed
there.  ``kept`` is exact: it replays the job events and is evaluated at each bin's centre.
Use ``record.sample_s`` well under the umbra (~35 min in LEO) for sharp edges; the default
bin width is the sample period (at least 60 s).

The bands: the median offsets, after the shadow entry, of ``umbra_entry``, ``umbra_exit`` and
``eclipse_exit`` over the eclipses of the window (penumbra: entry to umbra entry and umbra exit
to eclipse exit).  Eclipses of different satellites differ in length (beta angle): the CSV
gives the 10th and 90th percentiles of the umbra exit too.

Intervals (95 %, Student t): over the seeds of a group when it has two or more runs; with one
run, over the satellites' own bin means (satellites share one workload and one power budget,
so this understates the run-to-run spread).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..scenario.errors import OrbschedError
from .figures_io import (
    STATE_COLOURS,
    RunFolder,
    new_figure,
    note,
    series_style,
    steady_start_s,
    t_interval,
)

__all__ = ["QUANTITIES", "fold_kept", "fold_samples", "fig_phase", "phase_table",
           "sample_phases", "shadow_bands"]

#: (name, column, how it is sampled, axis label); ``kept`` comes from the job events.
QUANTITIES = (("util", "util", "interval", "GPU utilisation\nof the satellite"),
              ("kept", None, "events", "work kept running\n(jobs on it at entry)"),
              ("used_kw", "used_w", "interval", "power drawn (kW)"),
              ("soc", "soc", "instant", "battery state\nof charge"),
              ("temperature_k", "temperature_k", "instant", "temperature (K)"))
_JOB_KINDS = ("job_start", "job_pause", "migration_start", "migration_end", "migration_failed",
              "job_end")
_STOPPED, _RUNNING, _ENDED = 0, 1, 2


# ----------------------------------------------------------------------------- phases
def _last_at_or_before(q_key, q_t, e_key, e_t, strict=False):
    """For each query (key, t): index into the events of the last one with the same key and
    time <= t (< t when ``strict``), or -1.  Events need not be sorted."""
    n_e = len(e_t)
    key = np.concatenate([e_key, q_key])
    t = np.concatenate([e_t, q_t])
    is_q = np.concatenate([np.zeros(n_e, bool), np.ones(len(q_t), bool)])
    # at equal times events go first (<=) or queries go first (<)
    tie = is_q if not strict else ~is_q
    order = np.lexsort((tie, t, key))
    pos = np.maximum.accumulate(np.where(~is_q[order], np.arange(len(order)), -1))
    last = order[np.maximum(pos, 0)]          # the last event at or before each position
    ok = (pos >= 0) & (key[last] == key[order])
    found = np.where(ok, last, -1)
    out = np.empty(len(q_t), dtype=np.int64)
    out[order[is_q[order]] - n_e] = found[is_q[order]]
    return out


def sample_phases(sat, t_s, entries_sat, entries_t):
    """Time since each sample's satellite last entered shadow at or before ``t_s`` (NaN when
    it has not yet entered shadow in the run)."""
    i = _last_at_or_before(np.asarray(sat, np.int64), np.asarray(t_s, float),
                           np.asarray(entries_sat, np.int64), np.asarray(entries_t, float))
    out = np.full(len(i), np.nan)
    ok = i >= 0
    out[ok] = np.asarray(t_s, float)[ok] - np.asarray(entries_t, float)[i[ok]]
    return out


def orbit_period_s(entries) -> float:
    """Median time between consecutive shadow entries of one satellite (NaN without two)."""
    e = entries.sort_values(["sat", "t_s"], kind="stable")
    d = np.diff(e["t_s"].to_numpy(float))
    same = np.diff(e["sat"].to_numpy()) == 0
    d = d[same]
    return float(np.median(d)) if d.size else float("nan")


def shadow_bands(run: RunFolder, t0_s: float) -> dict:
    """Median offsets (s) after the shadow entry of umbra entry, umbra exit and eclipse exit,
    over the eclipses that start in the window (and the 10th / 90th percentile of umbra exit);
    ``n`` eclipses.  Empty when there are none."""
    ev = run.events(("eclipse_entry", "umbra_entry", "umbra_exit", "eclipse_exit"))
    ent = ev[(ev["kind"] == "eclipse_entry") & (ev["t_s"] >= t0_s)]
    if ent.empty:
        return {}
    out: dict[str, float] = {"n": int(len(ent))}
    base = ent[["sat", "t_s"]].astype({"sat": np.int64}).sort_values("t_s")
    for kind in ("umbra_entry", "umbra_exit", "eclipse_exit"):
        other = ev[ev["kind"] == kind][["sat", "t_s"]].astype({"sat": np.int64})
        m = pd.merge_asof(base, other.rename(columns={"t_s": "t_x"}).sort_values("t_x"),
                          left_on="t_s", right_on="t_x", by="sat", direction="forward")
        d = (m["t_x"] - m["t_s"]).to_numpy(float)
        d = d[np.isfinite(d)]
        out[kind] = float(np.median(d)) if d.size else float("nan")
        if kind == "umbra_exit" and d.size:
            out["umbra_exit_p10"], out["umbra_exit_p90"] = (float(np.quantile(d, q))
                                                            for q in (0.1, 0.9))
    return out


# ----------------------------------------------------------------------------- folding
def fold_samples(run: RunFolder, t0_s: float, bin_s: float, n_bins: int) -> dict:
    """Per-satellite samples of the window folded by phase.

    Returns ``{quantity: (sums, counts)}``, each an (n_sats, n_bins) array, for the
    timeseries quantities of :data:`QUANTITIES` that have data.  An interval quantity's sample
    counts when its interval starts at or after ``t0_s`` and is placed at the interval's
    midpoint; an instant quantity's when ``t_s >= t0_s``, at ``t_s``.  Phases beyond
    ``n_bins * bin_s`` (no shadow entry within an orbit, e.g. outside an eclipse season) are
    left out."""
    cols = [c for _, c, how, _ in QUANTITIES if c]
    ts = run.per_satellite(cols, t_min_s=t0_s - 2.0 * max(run.sample_s, 0.0))
    n = run.n_sats
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if ts.empty or n <= 0:
        return out
    ent = run.events(("eclipse_entry",))
    fleet_t = np.unique(run.fleet()["t_s"].to_numpy(float))
    t = ts["t_s"].to_numpy(float)
    sat = ts["sat"].to_numpy(np.int64)
    prev = np.concatenate([[0.0], fleet_t[:-1]])[np.searchsorted(fleet_t, t)]
    for name, col, how, _ in QUANTITIES:
        if col is None:
            continue
        v = ts[col].to_numpy(float) * (1e-3 if name == "used_kw" else 1.0)
        at = 0.5 * (prev + t) if how == "interval" else t
        start = prev if how == "interval" else t
        ph = sample_phases(sat, at, ent["sat"].to_numpy(), ent["t_s"].to_numpy(float))
        b = np.floor(ph / bin_s)
        keep = (start >= t0_s) & np.isfinite(v) & np.isfinite(b) & (b >= 0) & (b < n_bins) \
            & (sat < n)
        if not keep.any():
            continue
        flat = sat[keep] * n_bins + b[keep].astype(np.int64)
        sums = np.bincount(flat, v[keep], minlength=n * n_bins).reshape(n, n_bins)
        counts = np.bincount(flat, minlength=n * n_bins).reshape(n, n_bins)
        out[name] = (sums, counts)
    return out


def _job_changes(run: RunFolder):
    """The job events as state changes: ``job, t_s, state, host`` sorted by job then time
    (file order kept at equal times)."""
    ev = run.events(_JOB_KINDS)
    ev = ev[ev["job_id"] >= 0]
    kind = ev["kind"].to_numpy(str)
    state = np.full(len(ev), _STOPPED)
    state[np.isin(kind, ("job_start", "migration_end"))] = _RUNNING
    state[kind == "job_end"] = _ENDED
    host = np.where(kind == "migration_end", ev["peer"].to_numpy(), ev["sat"].to_numpy())
    ch = pd.DataFrame({"job": ev["job_id"].to_numpy(np.int64), "t_s": ev["t_s"].to_numpy(float),
                       "state": state, "host": host.astype(np.int64)})
    return ch.sort_values(["job", "t_s"], kind="stable").reset_index(drop=True)


def fold_kept(run: RunFolder, t0_s: float, bin_s: float, n_bins: int):
    """Work kept running (module docstring) by phase bin: ``(running, alive)`` GPU counts,
    each (n_sats, n_bins), summed over the shadow entries at or after ``t0_s`` whose bin
    centre falls inside the run; ``None`` when the run has no job events.

    A job's host is the satellite its ``job_start`` (or the destination of its
    ``migration_end``) names; a job spanning several satellites is counted, with all its
    GPUs, on that one (its first member) only."""
    ch = _job_changes(run)
    n = run.n_sats
    if ch.empty or n <= 0:
        return None
    gpus = run.table("jobs", ("job_id", "gpus")).drop_duplicates("job_id")
    gpus = dict(zip(gpus["job_id"].astype(np.int64), gpus["gpus"].fillna(1.0)))
    # running segments: from a change to running, to the job's next change
    nxt = ch["t_s"].shift(-1).where(ch["job"].shift(-1) == ch["job"], np.inf)
    seg = ch[ch["state"] == _RUNNING].assign(t_to=nxt[ch["state"] == _RUNNING])
    ent = run.events(("eclipse_entry",))
    ent = ent[(ent["t_s"] >= t0_s) & (ent["sat"] >= 0) & (ent["sat"] < n)]
    pairs = ent[["sat", "t_s"]].astype({"sat": np.int64}).rename(columns={"t_s": "t_e"}) \
        .reset_index(drop=True).reset_index(names="entry") \
        .merge(seg.rename(columns={"host": "sat", "t_s": "t_from"}), on="sat")
    # running on the satellite just before its entry: started before, not stopped before
    pairs = pairs[(pairs["t_from"] < pairs["t_e"]) & (pairs["t_to"] >= pairs["t_e"])]
    if pairs.empty:
        return np.zeros((n, n_bins)), np.zeros((n, n_bins))
    centres = (np.arange(n_bins) + 0.5) * bin_s
    q_job = np.repeat(pairs["job"].to_numpy(np.int64), n_bins)
    q_t = (pairs["t_e"].to_numpy(float)[:, None] + centres[None, :]).ravel()
    q_sat = np.repeat(pairs["sat"].to_numpy(np.int64), n_bins)
    q_bin = np.tile(np.arange(n_bins), len(pairs))
    w = np.repeat([float(gpus.get(j, 1.0)) for j in pairs["job"]], n_bins)
    i = _last_at_or_before(q_job, q_t, ch["job"].to_numpy(np.int64), ch["t_s"].to_numpy(float))
    st = np.where(i >= 0, ch["state"].to_numpy()[np.maximum(i, 0)], _STOPPED)
    inside = q_t <= run.duration_s
    alive = inside & (st != _ENDED)
    running = alive & (st == _RUNNING)
    flat = q_sat * n_bins + q_bin
    size = n * n_bins
    return (np.bincount(flat[running], w[running], minlength=size).reshape(n, n_bins),
            np.bincount(flat[alive], w[alive], minlength=size).reshape(n, n_bins))


def _run_bins(run, t0_s, bin_s, n_bins):
    """``{quantity: (pooled mean per bin, per-satellite means (n_sats, n_bins), n samples)}``."""
    folded = fold_samples(run, t0_s, bin_s, n_bins)
    kept = fold_kept(run, t0_s, bin_s, n_bins)
    if kept is not None:
        folded["kept"] = kept
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, (num, den) in folded.items():
            tot = den.sum(axis=0)
            out[name] = (np.where(tot > 0, num.sum(axis=0) / tot, np.nan),
                         np.where(den > 0, num / den, np.nan), tot)
    return out


def phase_table(groups: dict, warmup_h=None, bin_s=None):
    """The data of the phase-folded figure as a long table (module docstring).

    ``groups`` maps a label to its runs (:func:`orbsched.analysis.figures_io.group_runs`).  Columns:
    ``label, quantity, phase_lo_s, phase_hi_s, mean, ci95_half, n_samples, n_runs, ci_over``;
    rows with ``quantity == "band"`` give the shadow bands (``band`` = penumbra_in, umbra,
    penumbra_out, umbra_exit_p10_p90) of each group in ``phase_lo_s``/``phase_hi_s``.
    Returns ``(table, info)``; ``info`` has ``bin_s``, ``period_s``, ``t0_s`` per label."""
    runs = [r for rs in groups.values() for r in rs]
    if not runs:
        raise OrbschedError("phase-folded figure: no runs")
    if bin_s is None:
        bin_s = max(60.0, max(r.sample_s for r in runs if math.isfinite(r.sample_s)))
    if not (math.isfinite(bin_s) and bin_s > 0):
        raise OrbschedError(f"bin_s: expected a positive number of seconds, got {bin_s!r}")
    periods = [orbit_period_s(r.events(("eclipse_entry",))) for r in runs]
    periods = [p for p in periods if math.isfinite(p)]
    period = float(np.median(periods)) if periods else float("nan")
    info = {"bin_s": bin_s, "period_s": period, "bands": {},
            "t0_s": {label: [steady_start_s(r, warmup_h) for r in members]
                     for label, members in groups.items()}}
    rows: list[tuple] = []
    if not periods:
        return pd.DataFrame(rows, columns=_COLUMNS), info
    n_bins = int(math.ceil(period / bin_s))
    lo = np.arange(n_bins) * bin_s
    for label, members in groups.items():
        per_run = [(_run_bins(r, t0, bin_s, n_bins), shadow_bands(r, t0))
                   for r, t0 in zip(members, info["t0_s"][label])]
        names = [q for q, *_ in QUANTITIES if any(q in b for b, _ in per_run)]
        for q in names:
            runs_q = [b[q] for b, _ in per_run if q in b]
            if len(runs_q) >= 2:
                mean, half = t_interval(np.array([x[0] for x in runs_q]), axis=0)
                over = "seeds"
            else:
                mean = runs_q[0][0]
                _, half = t_interval(runs_q[0][1], axis=0)
                over = "satellites"
            n_s = np.sum([x[2] for x in runs_q], axis=0)
            for k in range(n_bins):
                rows.append((label, q, lo[k], lo[k] + bin_s, mean[k], half[k], int(n_s[k]),
                             len(runs_q), over, ""))
        bands = [b for _, b in per_run if b]
        if bands:
            med = {k: float(np.nanmedian([b.get(k, np.nan) for b in bands]))
                   for k in ("umbra_entry", "umbra_exit", "eclipse_exit", "umbra_exit_p10",
                             "umbra_exit_p90")}
            info["bands"][label] = med
            for band, a, b in (("penumbra_in", 0.0, med["umbra_entry"]),
                               ("umbra", med["umbra_entry"], med["umbra_exit"]),
                               ("penumbra_out", med["umbra_exit"], med["eclipse_exit"]),
                               ("umbra_exit_p10_p90", med["umbra_exit_p10"],
                                med["umbra_exit_p90"])):
                rows.append((label, "band", a, b, np.nan, np.nan,
                             sum(x.get("n", 0) for x in bands), len(bands), "", band))
    return pd.DataFrame(rows, columns=_COLUMNS), info


_COLUMNS = ["label", "quantity", "phase_lo_s", "phase_hi_s", "mean", "ci95_half", "n_samples",
            "n_runs", "ci_over", "band"]


# ----------------------------------------------------------------------------- drawing
def fig_phase(groups: dict, warmup_h=None, bin_s=None):
    """The phase-folded figure and its table (:func:`phase_table`)."""
    table, info = phase_table(groups, warmup_h, bin_s)
    data = table[table["quantity"] != "band"]
    present = [q for q in QUANTITIES if q[0] in set(data["quantity"])]
    panels = present or [QUANTITIES[0]]
    fig, axes = new_figure(9.5, 1.2 + 1.75 * len(panels), nrows=len(panels), sharex=True)
    axes = axes[:, 0]
    first_bands = next(iter(info["bands"].values()), None)
    for ax, (q, _, _, ylabel) in zip(axes, panels):
        if first_bands:
            b = first_bands
            ax.axvspan(0.0, b["umbra_entry"] / 60.0, color=STATE_COLOURS["penumbra"],
                       alpha=0.35, lw=0)
            ax.axvspan(b["umbra_entry"] / 60.0, b["umbra_exit"] / 60.0,
                       color=STATE_COLOURS["umbra"], alpha=0.15, lw=0)
            ax.axvspan(b["umbra_exit"] / 60.0, b["eclipse_exit"] / 60.0,
                       color=STATE_COLOURS["penumbra"], alpha=0.35, lw=0)
            if math.isfinite(b["umbra_exit_p10"]):
                ax.axvline(b["umbra_exit_p10"] / 60.0, color=STATE_COLOURS["umbra"], lw=0.6,
                           ls=":")
                ax.axvline(b["umbra_exit_p90"] / 60.0, color=STATE_COLOURS["umbra"], lw=0.6,
                           ls=":")
        for i, label in enumerate(groups):
            d = data[(data["label"] == label) & (data["quantity"] == q)]
            if d.empty:
                continue
            x = np.append(d["phase_lo_s"].to_numpy(), d["phase_hi_s"].to_numpy()[-1]) / 60.0
            y = d["mean"].to_numpy(float)
            h = np.nan_to_num(d["ci95_half"].to_numpy(float))
            style = series_style(i)
            n_runs = int(d["n_runs"].max())
            ax.stairs(y, x, baseline=None, lw=1.4, label=f"{label} ({n_runs} "
                      f"run{'s' if n_runs > 1 else ''})", **style)
            ax.stairs(y + h, x, baseline=y - h, fill=True, alpha=0.18, color=style["color"],
                      lw=0)
        ax.set_ylabel(ylabel, fontsize=8)
        if q in ("util", "kept", "soc"):
            ax.set_ylim(-0.02, 1.05)
        if not math.isfinite(info["period_s"]):
            note(ax, "no satellite entered shadow twice in these runs: nothing to fold\n(an "
                     "orbit out of its eclipse season, or a run shorter than two orbits)")
        elif not len(data):
            note(ax, "no samples in the steady window")
    axes[-1].set_xlabel("time since the satellite's last shadow entry (min)")
    if math.isfinite(info["period_s"]):
        axes[-1].set_xlim(0, math.ceil(info["period_s"] / info["bin_s"]) * info["bin_s"] / 60)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        from matplotlib.patches import Patch

        handles += [Patch(color=STATE_COLOURS["penumbra"], alpha=0.35, label="penumbra"),
                    Patch(color=STATE_COLOURS["umbra"], alpha=0.15,
                          label="umbra (median; dotted: 10-90 % of exits)")]
        fig.legend(handles=handles, fontsize=8, loc="outside lower center",
                   ncols=min(len(handles), 4), frameon=False)
    warm = sorted({round(t / 3600.0, 2) for ts in info["t0_s"].values() for t in ts})
    over = "seeds" if any(len(v) > 1 for v in groups.values()) else "satellites"
    runs = [r for rs in groups.values() for r in rs]
    scen = sorted({str(r.summary.get("scenario")) for r in runs})
    fig.suptitle(f"Phase-folded over satellites and orbits - {', '.join(scen)}\nsteady state "
                 f"from {', '.join(f'{w:g}' for w in warm)} h; {info['bin_s']:g} s bins "
                 f"(samples every {', '.join(sorted({f'{r.sample_s:g}' for r in runs}))} s); "
                 f"95 % intervals over {over}", fontsize=9)
    return fig, table
