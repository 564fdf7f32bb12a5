"""Figures drawn from a finished run's results folder.

:func:`plot_run` draws six figures for one run, :func:`plot_compare` two figures across runs
(typically one per policy).  Both read only the files the engine writes (``summary.json``,
``timeseries.parquet``, ``events.parquet``, ``jobs.parquet``); any of the tables may be empty
or absent, in which case the panel says so instead of failing.  Each figure is written with
the data it draws as a CSV beside it, in the colour-blind-safe Okabe-Ito palette
(:mod:`orbsched.analysis.figures_io`).  The paper figures (phase-folded utilisation, the world map,
eclipse seasons, policies side by side) are in the ``figures_*`` modules, and
:mod:`orbsched.analysis.figures` draws everything.

matplotlib is imported inside the functions and used through :class:`matplotlib.figure.Figure`
with the Agg canvas, so no pyplot state or interactive backend is touched.  PDFs are written
without a creation date, so the same results give the same bytes.

:func:`terminator_latlon` is a small pure function (the day/night boundary on a spherical
Earth) used by the world map (:mod:`orbsched.analysis.figures_map`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..scenario.errors import OrbschedError
from .figures_io import OKABE_ITO, check_formats, series_style
from .plot_base import (
    ECLIPSE_COLOUR,
    ECLIPSE_LINE_COLOUR,
    MAX_TIMELINE_JOBS,
    MIGRATING_COLOUR,
    MIN_BAR_FRACTION,
    QUEUED_COLOUR,
    STATE_COLOURS,
    STATES,
    RunFiles,
    draw_state_bars,
    floor_soc_of,
    integer_y,
    new_figure,
    num_or_none,
    panel_note,
    run_labels,
    run_title,
    write_figure,
)


# ----------------------------------------------------------------------------- the six figures
def _fig_utilisation_vs_eclipse(run):
    fig, ax = new_figure(10, 4)
    edges = run.edges_h()
    if edges.size < 2:
        panel_note(ax, "no fleet timeseries")
    else:
        f = run.fleet
        parts = {k: np.nan_to_num(f[f"util_{k}"].to_numpy(float)) for k in STATES}
        if sum(p.sum() for p in parts.values()) > 0:
            base = np.zeros(len(f))
            for k in STATES:
                ax.stairs(base + parts[k], edges, baseline=base.copy(), fill=True,
                          color=STATE_COLOURS[k], alpha=0.75, label=f"busy while {k}")
                base = base + parts[k]
        ax.stairs(np.nan_to_num(f["util"].to_numpy(float)), edges, baseline=None, color="k",
                  linewidth=1.0, label="GPU utilisation")
        ax.stairs(np.nan_to_num(f["eclipse_frac"].to_numpy(float)), edges, baseline=None,
                  color=ECLIPSE_LINE_COLOUR, linewidth=1.4, linestyle="--",
                  label="fraction of fleet in eclipse")
        u = num_or_none(run.summary.get("utilisation"))
        if math.isfinite(u):
            ax.axhline(u, color="k", linestyle=":", linewidth=0.8,
                       label=f"mean utilisation {u:.2f}")
        ax.set_xlim(edges[0], edges[-1])
        ax.legend(fontsize=8, loc="upper right", ncols=3)
    if edges.size < 2 and run.t_end_s > 0:
        ax.set_xlim(0, run.t_end_s / 3600.0)
    ax.set_ylim(0, 1.15)
    ax.set_xlabel("time since start (h)")
    ax.set_ylabel("fraction")
    ax.set_title(f"Fleet GPU utilisation and eclipse - {run_title(run)}", fontsize=10)
    cols = ["t_s", "util", "util_sunlit", "util_penumbra", "util_umbra", "eclipse_frac"]
    return fig, run.fleet[cols].assign(t_start_h=edges[:-1] if edges.size >= 2 else [],
                                       t_end_h=edges[1:] if edges.size >= 2 else [])


def _fig_utilisation_by_state(runs, title):
    fig, ax = new_figure(max(6.5, 1.6 + 1.6 * len(runs)), 4.2)
    data = draw_state_bars(ax, runs)
    ax.set_title(title, fontsize=10)
    return fig, data


def _hist_rows(panel, values, bins):
    counts, edges = np.histogram(values, bins)
    return [{"panel": panel, "bin_lo": a, "bin_hi": b, "count": int(c)}
            for a, b, c in zip(edges[:-1], edges[1:], counts)]


def _fig_battery(run):
    import pandas as pd

    fig, (ax_soc, ax_dod) = new_figure(10, 4, ncols=2)
    soc, which = run.soc_samples()
    floor = floor_soc_of(run.summary)
    rows = []
    if soc.size:
        rows += _hist_rows("state_of_charge", soc, np.linspace(0, 1, 41))
        ax_soc.hist(soc, bins=np.linspace(0, 1, 41), color=OKABE_ITO["green"], alpha=0.8)
        ax_soc.set_ylabel("samples")
    else:
        panel_note(ax_soc, "no state-of-charge samples")
    if floor is not None:
        ax_soc.axvline(floor, color=MIGRATING_COLOUR, linestyle="--",
                       label=f"floor {floor:.2f}")
        ax_soc.legend(fontsize=8, loc="upper left")
    ax_soc.set_xlim(0, 1)
    ax_soc.set_xlabel("battery state of charge")
    ax_soc.set_title(f"State of charge ({which})", fontsize=10)

    ev = run.events
    exits = ev.loc[ev["kind"] == "eclipse_exit", "value"].to_numpy(float)
    dod = 1.0 - exits[np.isfinite(exits)]
    if dod.size:
        top = max(0.05, float(dod.max()) * 1.1)
        if floor is not None:
            top = max(top, (1.0 - floor) * 1.1)
        rows += _hist_rows("depth_of_discharge", dod, np.linspace(0, top, 31))
        ax_dod.hist(dod, bins=np.linspace(0, top, 31), color=ECLIPSE_COLOUR, alpha=0.8)
        ax_dod.set_ylabel("eclipses")
        integer_y(ax_dod)
        ax_dod.set_xlim(0, top)
        if floor is not None:
            ax_dod.axvline(1.0 - floor, color=MIGRATING_COLOUR, linestyle="--",
                           label=f"max DoD at floor {1.0 - floor:.2f}")
            ax_dod.legend(fontsize=8)
        ax_dod.set_title(f"Depth of discharge per eclipse ({dod.size} eclipses, "
                         f"mean {dod.mean():.3f})", fontsize=10)
    else:
        panel_note(ax_dod, "no eclipses")
        ax_dod.set_title("Depth of discharge per eclipse", fontsize=10)
    ax_dod.set_xlabel("1 - SoC at eclipse exit")
    fig.suptitle(run_title(run), fontsize=9)
    return fig, pd.DataFrame(rows, columns=["panel", "bin_lo", "bin_hi", "count"])


def select_timeline_jobs(jobs, k=MAX_TIMELINE_JOBS):
    """Job ids to show on the timeline: up to ``k`` jobs, those that migrated (or tried to)
    first, then those that started, then the rest; ties broken by job id (deterministic)."""
    if len(jobs) == 0:
        return []
    moved = (jobs["migrations"].fillna(0) + jobs["migration_failures"].fillna(0)) > 0
    started = jobs["first_start_s"].notna()
    rank = np.where(moved, 0, np.where(started, 1, 2))
    order = jobs.assign(_rank=rank).sort_values(["_rank", "job_id"], kind="stable")
    return [int(j) for j in order["job_id"].head(k)]


def job_segments(job, job_events, t_end_s):
    """Segments ``(state, t0_s, t1_s, sat)`` of one job, state in queued | running | migrating.

    Replays the job's events (``job_start``, ``job_pause``, ``migration_start/_end/_failed``,
    ``job_end``) from its arrival; a paused job is drawn as queued; after ``migration_end`` the
    job runs on the destination (``peer``); after ``migration_failed`` it is queued again (a
    queued job placed elsewhere migrates: ``migration_start`` without ``job_start``).  A job
    with none of these events is drawn from ``jobs.parquet`` alone (queued until
    ``first_start_s``, then running until ``end_s``).  Open segments end at ``t_end_s``.
    """
    segs = []
    arrival = float(job["arrival_s"]) if np.isfinite(job["arrival_s"]) else 0.0
    kinds = {"job_start", "job_pause", "migration_start", "migration_end", "migration_failed",
             "job_end"}
    evs = job_events[job_events["kind"].isin(kinds)]
    if len(evs) == 0:
        start, end = float(job["first_start_s"]), float(job["end_s"])
        end = end if np.isfinite(end) else t_end_s
        if np.isfinite(start):
            segs.append(("queued", arrival, start, -1))
            segs.append(("running", start, end, int(job["sat"]) if np.isfinite(job["sat"])
                         else -1))
        else:
            segs.append(("queued", arrival, end, -1))
        return [s for s in segs if s[2] > s[1]]
    state, sat, t0 = "queued", -1, arrival
    for ev in evs.itertuples(index=False):
        t = float(ev.t_s)
        if t > t0:
            segs.append((state, t0, t, sat))
        t0 = max(t0, t)
        if ev.kind == "job_start":
            state, sat = "running", int(ev.sat)
        elif ev.kind == "job_pause":
            state, sat = "queued", -1
        elif ev.kind == "migration_start":
            state, sat = "migrating", int(ev.sat)
        elif ev.kind == "migration_end":
            state, sat = "running", int(ev.peer)
        elif ev.kind == "migration_failed":  # the engine re-queues the job
            state, sat = "queued", -1
        else:  # job_end
            state = None
            break
    if state is not None and t_end_s > t0:
        segs.append((state, t0, t_end_s, sat))
    return segs


def _fig_job_timeline(run):
    import pandas as pd
    from matplotlib.patches import Patch

    ids = select_timeline_jobs(run.jobs)
    rows = []
    fig, ax = new_figure(10, 1.8 + 0.32 * max(len(ids), 4))
    if not ids:
        panel_note(ax, "no jobs")
        ax.set_yticks([])
        if run.t_end_s > 0:
            ax.set_xlim(0, run.t_end_s / 3600.0)
    else:
        from matplotlib.colors import ListedColormap

        cmap = ListedColormap([OKABE_ITO[k] for k in ("blue", "orange", "green", "purple",
                                                      "sky_blue", "yellow", "black")])
        jobs = run.jobs.set_index("job_id", drop=False)
        ev = run.events[run.events["job_id"].isin(ids)]
        by_job = dict(tuple(ev.groupby("job_id", sort=False)))
        empty = ev.iloc[:0]
        t_end = run.t_end_s
        bars = {"queued": ([], [], []), "running": ([], [], []), "migrating": ([], [], [])}
        run_colours = []
        brown_t, brown_y, fail_t, fail_y = [], [], [], []
        labels = []
        for y, jid in enumerate(ids):
            job = jobs.loc[jid]
            job = job.iloc[0] if job.ndim > 1 else job
            jev = by_job.get(jid, empty)
            for state, t0, t1, sat in job_segments(job, jev, t_end):
                rows.append((jid, state, t0, t1, sat))
                ys, lefts, widths = bars[state]
                ys.append(y)
                lefts.append(t0 / 3600.0)
                widths.append((t1 - t0) / 3600.0)
                if state == "running":
                    run_colours.append(cmap(sat % cmap.N) if sat >= 0 else "0.3")
            b = jev.loc[jev["kind"] == "brownout", "t_s"].to_numpy(float) / 3600.0
            brown_t.extend(b)
            brown_y.extend([y] * len(b))
            rows += [(jid, "brownout", tb * 3600.0, tb * 3600.0, -1) for tb in b]
            if str(job["status"]) == "failed" and np.isfinite(job["end_s"]):
                rows.append((jid, "failed", float(job["end_s"]), float(job["end_s"]), -1))
                fail_t.append(float(job["end_s"]) / 3600.0)
                fail_y.append(y)
            name = str(job["name"])[:16]
            gpus = "" if not np.isfinite(job["gpus"]) else f" ({int(job['gpus'])} GPU)"
            labels.append(f"{jid} {name}{gpus}".strip())
        ys, lefts, widths = bars["queued"]
        ax.barh(ys, widths, left=lefts, height=0.6, color=QUEUED_COLOUR)
        ys, lefts, widths = bars["running"]
        ax.barh(ys, widths, left=lefts, height=0.6, color=run_colours)
        ys, lefts, widths = bars["migrating"]
        widths = np.maximum(widths, MIN_BAR_FRACTION * t_end / 3600.0)  # seconds-long: keep visible
        ax.barh(ys, widths, left=lefts, height=0.6, color=MIGRATING_COLOUR, alpha=0.6,
                hatch="////", edgecolor=MIGRATING_COLOUR, linewidth=0.5)
        handles = [Patch(color=QUEUED_COLOUR, label="queued / paused"),
                   Patch(color=cmap(0), label="running (colour = satellite)"),
                   Patch(facecolor=MIGRATING_COLOUR, alpha=0.6, hatch="////",
                         edgecolor=MIGRATING_COLOUR, label="migrating")]
        if brown_t:
            handles.append(ax.scatter(brown_t, brown_y, marker="v", color="k", s=30, zorder=3,
                                      label="brownout"))
        if fail_t:
            handles.append(ax.scatter(fail_t, fail_y, marker="x", color=MIGRATING_COLOUR, s=40,
                                      zorder=3, label="failed"))
        ax.set_yticks(range(len(ids)), labels, fontsize=7)
        ax.set_ylim(len(ids) - 0.5, -0.5)
        ax.set_xlim(0, t_end / 3600.0)
        fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncols=len(handles),
                   frameon=False)
    ax.set_xlabel("time since start (h)")
    n = len(run.jobs)
    ax.set_title(f"Job timeline ({len(ids)} of {n} jobs; migrated jobs first) - {run_title(run)}",
                 fontsize=10)
    return fig, pd.DataFrame(rows, columns=["job_id", "state", "t_start_s", "t_end_s", "sat"])


def _fig_migrations(run):
    import pandas as pd

    fig, (ax, ax_dt) = new_figure(11, 4, ncols=2, width_ratios=[3, 1])
    rows = []
    ev = run.events
    started = ev.loc[ev["kind"] == "migration_start", "t_s"].to_numpy(float)
    failed = ev.loc[ev["kind"] == "migration_failed", "t_s"].to_numpy(float)
    t_end_h = run.t_end_s / 3600.0
    edges = run.edges_h()
    if edges.size < 2 or edges.size > 2001:  # keep bins readable: at most 2000
        edges = np.linspace(0.0, max(t_end_h, 1e-3), 101)
    if started.size or failed.size:
        bin_min = float(np.median(np.diff(edges))) * 60.0
        rows += _hist_rows("started_per_bin_h", started / 3600.0, edges)
        rows += _hist_rows("failed_per_bin_h", failed / 3600.0, edges)
        ax.stairs(np.histogram(started / 3600.0, edges)[0], edges, fill=True,
                  color=OKABE_ITO["blue"],
                  alpha=0.7, label=f"started ({started.size})")
        ax.stairs(np.histogram(failed / 3600.0, edges)[0], edges, color=MIGRATING_COLOUR,
                  linewidth=1.2, label=f"failed ({failed.size})")
        ax.set_ylabel(f"migrations per {bin_min:.3g} min bin")
        integer_y(ax)
        ax.legend(fontsize=8)
    else:
        panel_note(ax, "no migrations")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("time since start (h)")
    ax.set_title(f"Migrations - {run_title(run)}", fontsize=10)
    down = ev.loc[ev["kind"] == "migration_end", "value"].to_numpy(float)
    down = down[np.isfinite(down)]
    if down.size:
        rows += _hist_rows("downtime_s", down, 30)
        ax_dt.hist(down, bins=30, color=OKABE_ITO["blue"], alpha=0.7)
        ax_dt.set_ylabel("migrations")
        integer_y(ax_dt)
        ax_dt.set_title(f"Downtime (mean {down.mean():.3g} s)", fontsize=10)
    else:
        panel_note(ax_dt, "no completed migrations")
        ax_dt.set_title("Downtime", fontsize=10)
    ax_dt.set_xlabel("downtime per migration (s)")
    return fig, pd.DataFrame(rows, columns=["panel", "bin_lo", "bin_hi", "count"])


# ----------------------------------------------------------------------------- public API
def plot_run(results_dir, out_dir=None, formats=("png", "pdf")):
    """Draw the figures of one run and return the paths written.

    Reads ``results_dir`` (``summary.json`` is required; the other files may be empty or
    absent) and writes into ``out_dir`` (default ``results_dir/plots``), each figure once per
    format (PNG at 150 dpi) with the data it draws as ``<name>.csv`` beside it.
    (:func:`orbsched.analysis.figures.draw_run` adds the phase-folded figure, the world map and the
    eclipse seasons.)

    * ``utilisation_vs_eclipse``: fleet GPU utilisation over time (stacked by the illumination
      state the busy GPUs were in) with the fraction of the fleet in eclipse, on one 0-1 axis.
    * ``utilisation_by_state``: bars of total, sunlit, penumbra and umbra utilisation (from the
      summary, else time-weighted from the fleet series), labelled by policy.
    * ``battery``: histogram of battery state of charge (per-satellite samples, or fleet means
      when there are none) with the floor marked, and histogram of depth of discharge per
      eclipse (1 - SoC at each ``eclipse_exit``).
    * ``job_timeline``: up to 20 jobs (those that migrated first, by job id) as bars: queued or
      paused (light grey), running (coloured by satellite), migrating (red, hatched), with
      brownouts and failures marked.
    * ``migrations``: migrations started and failed per sample interval over time, and the
      distribution of downtime per completed migration.
    * ``gpu_hours``: where the GPU-hours went (``summary.json`` ``gpu_hours``): useful, lost by
      cause (brownout, radiation, failure), redundancy, overhead and idle, with the eclipse
      waits and migration downtime beside them.
    """
    formats = check_formats(formats)
    run = RunFiles(results_dir)
    out_dir = Path(out_dir) if out_dir is not None else run.dir / "plots"
    figures = [
        ("utilisation_vs_eclipse", lambda: _fig_utilisation_vs_eclipse(run)),
        ("utilisation_by_state", lambda: _fig_utilisation_by_state(
            [run], f"Utilisation by illumination state - {run_title(run)}")),
        ("battery", lambda: _fig_battery(run)),
        ("job_timeline", lambda: _fig_job_timeline(run)),
        ("migrations", lambda: _fig_migrations(run)),
        ("gpu_hours", lambda: _fig_gpu_hours(run)),
    ]
    paths = []
    for name, draw in figures:
        paths += write_figure(draw(), out_dir, name, formats)
    return paths


def _fig_gpu_hours(run):
    import pandas as pd

    g = run.summary.get("gpu_hours") or {}
    fig, ax = new_figure(8.0, 4.2)
    rows = []
    if not g:
        panel_note(ax, "no GPU-hour accounting in this summary")
        return fig, pd.DataFrame(rows, columns=["bar", "part", "gpu_h"])
    lost = g.get("lost") or {}
    parts = [("useful", g.get("useful"), OKABE_ITO["green"]),
             ("lost: brownout", lost.get("brownout"), OKABE_ITO["vermillion"]),
             ("lost: radiation", lost.get("radiation"), OKABE_ITO["purple"]),
             ("lost: failure", lost.get("failure"), OKABE_ITO["black"]),
             ("redundant copies", g.get("redundant"), OKABE_ITO["sky_blue"]),
             ("overhead", g.get("overhead"), OKABE_ITO["yellow"]),
             ("replicas", g.get("replicas"), OKABE_ITO["blue"]),
             ("idle", g.get("idle"), "#d9d9d9")]
    left = 0.0
    for name, v, colour in parts:
        v = max(num_or_none(v) or 0.0, 0.0)
        rows.append(("capacity", name, v))
        ax.barh([0], [v], left=left, color=colour, label=f"{name} {v:,.1f}")
        left += v
    side = [("eclipse waits", g.get("eclipse_wait")),
            ("migration downtime", g.get("migration_downtime"))]
    ax.barh([1, 2], [max(num_or_none(v) or 0.0, 0.0) for _, v in side],
            color=[OKABE_ITO["blue"], OKABE_ITO["orange"]])
    ax.set_yticks([0, 1, 2], ["capacity", side[0][0], side[1][0]])
    ax.set_xlabel("GPU-hours")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, fontsize=8,
              frameon=False)
    ax.set_title(f"Where the GPU-hours went - {run_title(run)}", fontsize=10)
    rows += [(name, name, max(num_or_none(v) or 0.0, 0.0)) for name, v in side]
    return fig, pd.DataFrame(rows, columns=["bar", "part", "gpu_h"])


def plot_compare(results_dirs, out_dir, formats=("png", "pdf")):
    """Draw figures comparing several runs (e.g. one per policy) and return the paths written.

    Each figure is written with its data as ``<name>.csv`` beside it.

    * ``compare_utilisation_by_state``: one bar group per run (total, sunlit, penumbra, umbra
      utilisation), labelled by ``summary["policy"]`` (with the seed where policies repeat).
    * ``compare_utilisation_over_time``: fleet GPU utilisation over time of every run on one
      axis, with the first run's fleet eclipse fraction as a dashed reference.
    """
    formats = check_formats(formats)
    runs = [RunFiles(d) for d in results_dirs]
    if not runs:
        raise OrbschedError("plot_compare needs at least one results folder")
    paths = write_figure(_fig_utilisation_by_state(runs, "Utilisation by illumination state"),
                  out_dir, "compare_utilisation_by_state", formats)

    import pandas as pd

    fig, ax = new_figure(10, 4)
    drawn, t_max = False, 0.0
    rows = []
    for i, (run, label) in enumerate(zip(runs, run_labels(runs))):
        edges = run.edges_h()
        if edges.size >= 2:
            util = run.fleet["util"].to_numpy(float)
            ax.stairs(np.nan_to_num(util), edges, baseline=None, linewidth=1.0,
                      label=label.replace("\n", " "), **series_style(i))
            rows.append(pd.DataFrame({"run": run.dir.name, "label": label.replace("\n", " "),
                                      "t_start_h": edges[:-1], "t_end_h": edges[1:],
                                      "util": util,
                                      "eclipse_frac": run.fleet["eclipse_frac"].to_numpy(float)}))
            drawn = True
            t_max = max(t_max, edges[-1])
    ref = next((r for r in runs if r.edges_h().size >= 2), None)
    if ref is not None:
        ax.stairs(np.nan_to_num(ref.fleet["eclipse_frac"].to_numpy(float)), ref.edges_h(),
                  baseline=None, color=ECLIPSE_LINE_COLOUR, linestyle="--", linewidth=0.8,
                  alpha=0.7, label=f"fleet eclipse fraction ({ref.label})")
    if drawn:
        ax.legend(fontsize=8, loc="upper right", ncols=3)
        ax.set_xlim(0, t_max)
    else:
        panel_note(ax, "no fleet timeseries")
    ax.set_ylim(0, 1.15)
    ax.set_xlabel("time since start (h)")
    ax.set_ylabel("fleet GPU utilisation")
    ax.set_title("Utilisation over time", fontsize=10)
    data = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["run", "label", "t_start_h", "t_end_h", "util", "eclipse_frac"])
    return paths + write_figure(fig, out_dir, "compare_utilisation_over_time", formats, data)
