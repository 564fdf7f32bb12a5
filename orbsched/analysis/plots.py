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

import json
import math
from pathlib import Path

import numpy as np

from ..files import atomic_write, atomic_write_csv
from ..scenario.errors import DataFileError, OrbschedError, RegistryError
from .figures_io import OKABE_ITO, series_style
from .figures_io import STATE_COLOURS as _PALETTE_STATES

FORMATS = ("png", "pdf", "svg")
PNG_DPI = 150
MAX_TIMELINE_JOBS = 20
STATES = ("sunlit", "penumbra", "umbra")
STATE_COLOURS = dict(_PALETTE_STATES)
TOTAL_COLOUR = "#444444"
ECLIPSE_COLOUR = OKABE_ITO["blue"]
ECLIPSE_LINE_COLOUR = OKABE_ITO["purple"]
MIN_BAR_FRACTION = 0.004  # migrating bars drawn at least this share of the time axis
MIGRATING_COLOUR = OKABE_ITO["vermillion"]
QUEUED_COLOUR = "#d9d9d9"

_TS_COLUMNS = ("t_s", "sat", "util", "util_sunlit", "util_penumbra", "util_umbra",
               "eclipse_frac", "soc")
_EVENT_COLUMNS = ("t_s", "kind", "sat", "job_id", "peer", "value", "detail")
_JOB_COLUMNS = ("job_id", "name", "gpus", "arrival_s", "first_start_s", "end_s", "status",
                "migrations", "migration_failures", "sat")
_STR_COLUMNS = {"kind", "detail", "name", "status"}


# ----------------------------------------------------------------------------- geometry
def terminator_latlon(subsolar_lat_deg, subsolar_lon_deg, n=361):
    """Points of the day/night terminator: the great circle 90 deg from the subsolar point.

    Computed exactly on a sphere (no refraction, no solar radius): with ``s`` the unit vector of
    the subsolar point, ``u`` the local north at ``s`` and ``v`` the local east, the terminator is
    ``cos(a) u + sin(a) v`` for ``a`` in [0, 360] deg.  Returns ``(lat_deg, lon_deg)``, arrays of
    ``n`` points (first == last, a closed curve), longitudes in [-180, 180].  The first point is
    the terminator's northernmost point.  At a pole the longitude is arbitrary.
    """
    if int(n) < 2:
        raise OrbschedError(f"terminator_latlon: n must be >= 2, got {n!r}")
    d, l = math.radians(subsolar_lat_deg), math.radians(subsolar_lon_deg)
    north = np.array([-math.sin(d) * math.cos(l), -math.sin(d) * math.sin(l), math.cos(d)])
    east = np.array([-math.sin(l), math.cos(l), 0.0])
    a = np.linspace(0.0, 2.0 * math.pi, int(n))
    p = np.cos(a)[:, None] * north + np.sin(a)[:, None] * east
    lat = np.degrees(np.arctan2(p[:, 2], np.hypot(p[:, 0], p[:, 1])))
    lon = np.degrees(np.arctan2(p[:, 1], p[:, 0]))
    return lat, lon


def split_at_antimeridian(lon_deg, lat_deg):
    """Split a lon/lat polyline where it crosses the +/-180 deg meridian.

    A step of more than 180 deg in longitude is taken as a crossing by the short way round; the
    crossing latitude is interpolated and both pieces are extended to the map edge.  Returns a
    list of ``(lon, lat)`` array pairs.
    """
    lon = (np.asarray(lon_deg, float) + 180.0) % 360.0 - 180.0
    lat = np.asarray(lat_deg, float)
    pieces, start = [], 0
    cur_lon, cur_lat = [], []
    for i in range(len(lon)):
        if i > start and abs(lon[i] - lon[i - 1]) > 180.0:
            edge = 180.0 if lon[i - 1] > 0 else -180.0
            nxt = lon[i] + (360.0 if edge > 0 else -360.0)
            f = (edge - lon[i - 1]) / (nxt - lon[i - 1])
            lat_x = lat[i - 1] + f * (lat[i] - lat[i - 1])
            cur_lon.append(edge)
            cur_lat.append(lat_x)
            pieces.append((np.array(cur_lon), np.array(cur_lat)))
            cur_lon, cur_lat = [-edge], [lat_x]
        cur_lon.append(lon[i])
        cur_lat.append(lat[i])
    if len(cur_lon) > 1:
        pieces.append((np.array(cur_lon), np.array(cur_lat)))
    return pieces


def _terminator_pieces(subsolar_lat_deg, subsolar_lon_deg, n=721):
    """The terminator as drawable lon/lat pieces: split at the antimeridian, and at a pole
    (where the longitude is undefined: each side is extended straight to the pole instead)."""
    lat, lon = terminator_latlon(subsolar_lat_deg, subsolar_lon_deg, n)
    at_pole = np.abs(lat) > 90.0 - 1e-7
    keep = np.flatnonzero(~at_pole)
    out = []
    for run in np.split(keep, np.flatnonzero(np.diff(keep) > 1) + 1):
        if run.size == 0:
            continue
        lo, la = list(lon[run]), list(lat[run])
        if run[0] > 0 and at_pole[run[0] - 1]:
            lo.insert(0, lo[0])
            la.insert(0, lat[run[0] - 1])
        if run[-1] < n - 1 and at_pole[run[-1] + 1]:
            lo.append(lo[-1])
            la.append(lat[run[-1] + 1])
        out += split_at_antimeridian(lo, la)
    return out


# ----------------------------------------------------------------------------- loading
class _Run:
    """The parts of one results folder the figures need (tables may be empty)."""

    def __init__(self, results_dir):
        self.dir = Path(results_dir)
        summary = self.dir / "summary.json"
        if not summary.is_file():
            raise DataFileError(summary, None, "not found: a results folder holds summary.json, "
                                "timeseries.parquet, events.parquet, jobs.parquet, snapshot.json")
        self.summary = _read_json(summary)
        self.fleet = _read_parquet(self.dir / "timeseries.parquet", _TS_COLUMNS,
                                   filters=[("sat", "==", -1)])
        self.fleet = self.fleet.sort_values("t_s", kind="stable").reset_index(drop=True)
        self.events = _read_parquet(self.dir / "events.parquet", _EVENT_COLUMNS)
        self.events = self.events.sort_values("t_s", kind="stable").reset_index(drop=True)
        self.jobs = _read_parquet(self.dir / "jobs.parquet", _JOB_COLUMNS)
        snap = self.dir / "snapshot.json"
        self.snapshot = _read_json(snap) if snap.is_file() else None
        n = self.summary.get("n_sats")
        eclipse = self.fleet["eclipse_frac"].to_numpy(float)
        # the fleet eclipse fraction should be in 0..1; if it is in satellite-intervals, scale
        if n and eclipse.size and np.nanmax(eclipse) > 1.0 + 1e-6:
            self.fleet["eclipse_frac"] = eclipse / float(n)

    @property
    def label(self):
        return str(self.summary.get("policy") or self.dir.name)

    @property
    def t_end_s(self):
        duration_h = _num(self.summary.get("duration_h"))
        cands = [duration_h * 3600.0 if math.isfinite(duration_h) else 0.0]
        for frame in (self.fleet, self.events):
            if len(frame):
                cands.append(float(np.nanmax(frame["t_s"].to_numpy(float))))
        return max(cands)

    def soc_samples(self):
        """Per-satellite SoC samples, or fleet-mean samples when none; and which it is."""
        per_sat = _read_parquet(self.dir / "timeseries.parquet", ("sat", "soc"),
                                filters=[("sat", ">=", 0)])["soc"].to_numpy(float)
        per_sat = per_sat[np.isfinite(per_sat)]
        if per_sat.size:
            return per_sat, "per-satellite samples"
        fleet = self.fleet["soc"].to_numpy(float)
        return fleet[np.isfinite(fleet)], "fleet mean (no per-satellite rows)"

    def edges_h(self):
        """Fleet sample intervals in hours: (edges, n+1) with t_s the end of each interval."""
        t = self.fleet["t_s"].to_numpy(float)
        if t.size == 0:
            return t
        dt = float(np.median(np.diff(t))) if t.size > 1 else t[0]
        return np.concatenate([[max(t[0] - dt, 0.0) if t[0] > 0 else t[0] - 1.0], t]) / 3600.0

    def utilisation_by_state(self):
        """{"total", "sunlit", "penumbra", "umbra"} from the summary, else the fleet series."""
        s = self.summary
        if all(f"utilisation_{k}" in s for k in STATES):
            out = {k: _num(s[f"utilisation_{k}"]) for k in STATES}
            out["total"] = _num(s.get("utilisation", sum(out.values())))
            return out
        edges = self.edges_h()
        if edges.size < 2:
            return {k: float("nan") for k in ("total",) + STATES}
        w = np.diff(edges)

        def mean(column):  # time-weighted over the sample intervals
            return float(np.nansum(self.fleet[column].to_numpy(float) * w) / w.sum())

        out = {k: mean(f"util_{k}") for k in STATES}
        out["total"] = mean("util")
        return out


def _num(x):
    """A summary value as a float (``None``, written for NaN, becomes NaN)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _floor_soc(summary):
    """The battery floor (state of charge), from ``battery_floor_soc`` or ``battery.floor_soc``;
    ``None`` when absent."""
    value = summary.get("battery_floor_soc")
    if value is None and isinstance(summary.get("battery"), dict):
        value = summary["battery"].get("floor_soc")
    return None if value is None or not math.isfinite(_num(value)) else _num(value)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataFileError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None


def _read_parquet(path, columns, filters=None):
    """Read ``columns`` of a Parquet file; missing file or columns give an empty/NaN column."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        return pd.DataFrame({c: pd.Series([], dtype=object if c in _STR_COLUMNS else float)
                             for c in columns})
    import pyarrow.parquet as pq

    present = set(pq.read_schema(path).names)
    use = [c for c in columns if c in present]
    if filters and any(f[0] not in present for f in filters):
        filters = None
    frame = pd.read_parquet(path, columns=use, filters=filters) if use else pd.DataFrame()
    for c in columns:
        if c not in frame:
            frame[c] = "" if c in _STR_COLUMNS else np.nan
        elif c not in _STR_COLUMNS:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
        else:
            frame[c] = frame[c].astype(object).fillna("").astype(str)  # also categoricals
    return frame.reset_index(drop=True)


# ----------------------------------------------------------------------------- drawing helpers
def _check_formats(formats):
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    for f in formats:
        if f not in FORMATS:
            raise RegistryError(f"unknown figure format {f!r}; valid formats: {', '.join(FORMATS)}")
    return formats


def _new_figure(w, h, ncols=1, **kw):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, **kw)
    return fig, axes


def _save(fig, out_dir, name, formats, data=None):
    """Write ``fig`` once per format and, when given, ``data`` (the numbers it draws, a
    DataFrame) as ``name.csv`` beside it."""
    if isinstance(fig, tuple):
        fig, data = fig
    paths = []
    for fmt in formats:
        path = Path(out_dir) / f"{name}.{fmt}"
        opts = {"format": fmt}
        if fmt == "png":
            opts["dpi"] = PNG_DPI
        if fmt == "pdf":
            opts["metadata"] = {"CreationDate": None}
        atomic_write(path, lambda tmp: fig.savefig(tmp, **opts))
        fig.set_layout_engine("none")  # laid out once; the other formats reuse the positions
        paths.append(path)
    if data is not None:
        paths.append(atomic_write_csv(Path(out_dir) / f"{name}.csv", data))
    return paths


def _note(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11,
            color="0.4")


def _integer_y(ax):
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _title(run):
    s = run.summary
    bits = [str(s.get("scenario", run.dir.name)), f"policy {run.label}"]
    if "seed" in s:
        bits.append(f"seed {s['seed']}")
    if "n_sats" in s:
        bits.append(f"{s['n_sats']} sats")
    return ", ".join(bits)


def _run_labels(runs):
    """Policy names; where a policy repeats, a second line tells the runs apart by scenario,
    seed or folder name (the first of these that differs within the group)."""
    policies = [r.label for r in runs]
    labels = list(policies)
    for policy in set(policies):
        group = [i for i, p in enumerate(policies) if p == policy]
        if len(group) < 2:
            continue
        for key in ("scenario", "seed", None):
            tags = [str(runs[i].summary.get(key, "?")) if key else runs[i].dir.name
                    for i in group]
            if len(set(tags)) == len(tags) or key is None:
                break
        for i, tag in zip(group, tags):
            labels[i] = f"{policy}\n{'seed ' if key == 'seed' else ''}{tag}"
    return labels


def _draw_state_bars(ax, runs):
    """One bar group per run: total, sunlit, penumbra, umbra utilisation."""
    keys = ("total",) + STATES
    colours = [TOTAL_COLOUR] + [STATE_COLOURS[k] for k in STATES]
    width = 0.8 / len(keys)
    x = np.arange(len(runs))
    values = [r.utilisation_by_state() for r in runs]
    top = max([v[k] for v in values for k in keys if math.isfinite(v[k])], default=0.0)
    fmt = "%.2f" if top >= 0.1 else "%.3f"
    for j, (k, c) in enumerate(zip(keys, colours)):
        ys = [v[k] for v in values]
        bars = ax.bar(x + (j - 1.5) * width, ys, width, color=c, label=k,
                      edgecolor="k" if k == "penumbra" else None, linewidth=0.3)
        ax.bar_label(bars, fmt=fmt, fontsize=7, padding=1)
    labels = []
    for label, r in zip(_run_labels(runs), runs):
        ecl = _num(r.summary.get("eclipse_fraction"))
        labels.append(f"{label}\n(eclipse {100 * ecl:.0f}% of time)" if math.isfinite(ecl)
                      else label)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, min(1.12, max(0.05, 1.3 * top)))  # low utilisation stays readable
    ax.set_ylabel("fraction of total GPU capacity busy")
    ax.legend(ncols=4, fontsize=8, loc="upper right")
    import pandas as pd

    return pd.DataFrame([{"run": r.dir.name, "label": lab.replace("\n", " "),
                          **{f"utilisation_{k}": v[k] for k in keys},
                          "eclipse_fraction": _num(r.summary.get("eclipse_fraction"))}
                         for r, lab, v in zip(runs, _run_labels(runs), values)])


# ----------------------------------------------------------------------------- the six figures
def _fig_utilisation_vs_eclipse(run):
    fig, ax = _new_figure(10, 4)
    edges = run.edges_h()
    if edges.size < 2:
        _note(ax, "no fleet timeseries")
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
        u = _num(run.summary.get("utilisation"))
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
    ax.set_title(f"Fleet GPU utilisation and eclipse - {_title(run)}", fontsize=10)
    cols = ["t_s", "util", "util_sunlit", "util_penumbra", "util_umbra", "eclipse_frac"]
    return fig, run.fleet[cols].assign(t_start_h=edges[:-1] if edges.size >= 2 else [],
                                       t_end_h=edges[1:] if edges.size >= 2 else [])


def _fig_utilisation_by_state(runs, title):
    fig, ax = _new_figure(max(6.5, 1.6 + 1.6 * len(runs)), 4.2)
    data = _draw_state_bars(ax, runs)
    ax.set_title(title, fontsize=10)
    return fig, data


def _hist_rows(panel, values, bins):
    counts, edges = np.histogram(values, bins)
    return [{"panel": panel, "bin_lo": a, "bin_hi": b, "count": int(c)}
            for a, b, c in zip(edges[:-1], edges[1:], counts)]


def _fig_battery(run):
    import pandas as pd

    fig, (ax_soc, ax_dod) = _new_figure(10, 4, ncols=2)
    soc, which = run.soc_samples()
    floor = _floor_soc(run.summary)
    rows = []
    if soc.size:
        rows += _hist_rows("state_of_charge", soc, np.linspace(0, 1, 41))
        ax_soc.hist(soc, bins=np.linspace(0, 1, 41), color=OKABE_ITO["green"], alpha=0.8)
        ax_soc.set_ylabel("samples")
    else:
        _note(ax_soc, "no state-of-charge samples")
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
        _integer_y(ax_dod)
        ax_dod.set_xlim(0, top)
        if floor is not None:
            ax_dod.axvline(1.0 - floor, color=MIGRATING_COLOUR, linestyle="--",
                           label=f"max DoD at floor {1.0 - floor:.2f}")
            ax_dod.legend(fontsize=8)
        ax_dod.set_title(f"Depth of discharge per eclipse ({dod.size} eclipses, "
                         f"mean {dod.mean():.3f})", fontsize=10)
    else:
        _note(ax_dod, "no eclipses")
        ax_dod.set_title("Depth of discharge per eclipse", fontsize=10)
    ax_dod.set_xlabel("1 - SoC at eclipse exit")
    fig.suptitle(_title(run), fontsize=9)
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
    fig, ax = _new_figure(10, 1.8 + 0.32 * max(len(ids), 4))
    if not ids:
        _note(ax, "no jobs")
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
    ax.set_title(f"Job timeline ({len(ids)} of {n} jobs; migrated jobs first) - {_title(run)}",
                 fontsize=10)
    return fig, pd.DataFrame(rows, columns=["job_id", "state", "t_start_s", "t_end_s", "sat"])


def _fig_migrations(run):
    import pandas as pd

    fig, (ax, ax_dt) = _new_figure(11, 4, ncols=2, width_ratios=[3, 1])
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
        _integer_y(ax)
        ax.legend(fontsize=8)
    else:
        _note(ax, "no migrations")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("time since start (h)")
    ax.set_title(f"Migrations - {_title(run)}", fontsize=10)
    down = ev.loc[ev["kind"] == "migration_end", "value"].to_numpy(float)
    down = down[np.isfinite(down)]
    if down.size:
        rows += _hist_rows("downtime_s", down, 30)
        ax_dt.hist(down, bins=30, color=OKABE_ITO["blue"], alpha=0.7)
        ax_dt.set_ylabel("migrations")
        _integer_y(ax_dt)
        ax_dt.set_title(f"Downtime (mean {down.mean():.3g} s)", fontsize=10)
    else:
        _note(ax_dt, "no completed migrations")
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
    formats = _check_formats(formats)
    run = _Run(results_dir)
    out_dir = Path(out_dir) if out_dir is not None else run.dir / "plots"
    figures = [
        ("utilisation_vs_eclipse", lambda: _fig_utilisation_vs_eclipse(run)),
        ("utilisation_by_state", lambda: _fig_utilisation_by_state(
            [run], f"Utilisation by illumination state - {_title(run)}")),
        ("battery", lambda: _fig_battery(run)),
        ("job_timeline", lambda: _fig_job_timeline(run)),
        ("migrations", lambda: _fig_migrations(run)),
        ("gpu_hours", lambda: _fig_gpu_hours(run)),
    ]
    paths = []
    for name, draw in figures:
        paths += _save(draw(), out_dir, name, formats)
    return paths


def _fig_gpu_hours(run):
    import pandas as pd

    g = run.summary.get("gpu_hours") or {}
    fig, ax = _new_figure(8.0, 4.2)
    rows = []
    if not g:
        _note(ax, "no GPU-hour accounting in this summary")
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
        v = max(_num(v) or 0.0, 0.0)
        rows.append(("capacity", name, v))
        ax.barh([0], [v], left=left, color=colour, label=f"{name} {v:,.1f}")
        left += v
    side = [("eclipse waits", g.get("eclipse_wait")),
            ("migration downtime", g.get("migration_downtime"))]
    ax.barh([1, 2], [max(_num(v) or 0.0, 0.0) for _, v in side],
            color=[OKABE_ITO["blue"], OKABE_ITO["orange"]])
    ax.set_yticks([0, 1, 2], ["capacity", side[0][0], side[1][0]])
    ax.set_xlabel("GPU-hours")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, fontsize=8,
              frameon=False)
    ax.set_title(f"Where the GPU-hours went - {_title(run)}", fontsize=10)
    rows += [(name, name, max(_num(v) or 0.0, 0.0)) for name, v in side]
    return fig, pd.DataFrame(rows, columns=["bar", "part", "gpu_h"])


def plot_compare(results_dirs, out_dir, formats=("png", "pdf")):
    """Draw figures comparing several runs (e.g. one per policy) and return the paths written.

    Each figure is written with its data as ``<name>.csv`` beside it.

    * ``compare_utilisation_by_state``: one bar group per run (total, sunlit, penumbra, umbra
      utilisation), labelled by ``summary["policy"]`` (with the seed where policies repeat).
    * ``compare_utilisation_over_time``: fleet GPU utilisation over time of every run on one
      axis, with the first run's fleet eclipse fraction as a dashed reference.
    """
    formats = _check_formats(formats)
    runs = [_Run(d) for d in results_dirs]
    if not runs:
        raise OrbschedError("plot_compare needs at least one results folder")
    paths = _save(_fig_utilisation_by_state(runs, "Utilisation by illumination state"),
                  out_dir, "compare_utilisation_by_state", formats)

    import pandas as pd

    fig, ax = _new_figure(10, 4)
    drawn, t_max = False, 0.0
    rows = []
    for i, (run, label) in enumerate(zip(runs, _run_labels(runs))):
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
        _note(ax, "no fleet timeseries")
    ax.set_ylim(0, 1.15)
    ax.set_xlabel("time since start (h)")
    ax.set_ylabel("fleet GPU utilisation")
    ax.set_title("Utilisation over time", fontsize=10)
    data = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["run", "label", "t_start_h", "t_end_h", "util", "eclipse_frac"])
    return paths + _save(fig, out_dir, "compare_utilisation_over_time", formats, data)
