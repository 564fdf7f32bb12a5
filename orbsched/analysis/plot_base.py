"""What the run figures of :mod:`orbsched.analysis.plots` (and the comparison and economics
figures) share: the day/night boundary on a spherical Earth, a results folder read as tables
(:class:`RunFiles`; any table may be empty or absent), and the drawing helpers (a figure on
the Agg canvas, saved in each format with its data as CSV, titles, labels, state bars)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..files import atomic_write_csv
from ..scenario.errors import DataFileError, OrbschedError
from .figures_io import OKABE_ITO, num_or_none, read_json, read_parquet, write_formats
from .figures_io import STATE_COLOURS as _PALETTE_STATES

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


# ----------------------------------------------------------------------------- geometry
def terminator_latlon(subsolar_lat_deg: float, subsolar_lon_deg: float,
                      n: int = 361) -> tuple[np.ndarray, np.ndarray]:
    """Points of the day/night terminator: the great circle 90 deg from the subsolar point.

    Computed exactly on a sphere (no refraction, no solar radius): with ``s`` the unit vector of
    the subsolar point, ``u`` the local north at ``s`` and ``v`` the local east, the terminator is
    ``cos(a) u + sin(a) v`` for ``a`` in [0, 360] deg.  Returns ``(lat_deg, lon_deg)``, arrays of
    ``n`` points (first == last, a closed curve), longitudes in [-180, 180].  The first point is
    the terminator's northernmost point.  At a pole the longitude is arbitrary.
    """
    if int(n) < 2:
        raise OrbschedError(f"terminator_latlon: n must be >= 2, got {n!r}")
    d, lam = math.radians(subsolar_lat_deg), math.radians(subsolar_lon_deg)
    north = np.array([-math.sin(d) * math.cos(lam), -math.sin(d) * math.sin(lam), math.cos(d)])
    east = np.array([-math.sin(lam), math.cos(lam), 0.0])
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


def terminator_pieces(subsolar_lat_deg, subsolar_lon_deg, n=721):
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
class RunFiles:
    """The parts of one results folder the figures need (tables may be empty)."""

    def __init__(self, results_dir):
        self.dir = Path(results_dir)
        summary = self.dir / "summary.json"
        if not summary.is_file():
            raise DataFileError(summary, None, "not found: a results folder holds summary.json, "
                                "timeseries.parquet, events.parquet, jobs.parquet, snapshot.json")
        self.summary = read_json(summary)
        self.fleet = read_parquet(self.dir / "timeseries.parquet", _TS_COLUMNS,
                                   filters=[("sat", "==", -1)])
        self.fleet = self.fleet.sort_values("t_s", kind="stable").reset_index(drop=True)
        self.events = read_parquet(self.dir / "events.parquet", _EVENT_COLUMNS)
        self.events = self.events.sort_values("t_s", kind="stable").reset_index(drop=True)
        self.jobs = read_parquet(self.dir / "jobs.parquet", _JOB_COLUMNS)
        snap = self.dir / "snapshot.json"
        self.snapshot = read_json(snap) if snap.is_file() else None
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
        duration_h = num_or_none(self.summary.get("duration_h"))
        cands = [duration_h * 3600.0 if math.isfinite(duration_h) else 0.0]
        for frame in (self.fleet, self.events):
            if len(frame):
                cands.append(float(np.nanmax(frame["t_s"].to_numpy(float))))
        return max(cands)

    def soc_samples(self):
        """Per-satellite SoC samples, or fleet-mean samples when none; and which it is."""
        per_sat = read_parquet(self.dir / "timeseries.parquet", ("sat", "soc"),
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
            out = {k: num_or_none(s[f"utilisation_{k}"]) for k in STATES}
            out["total"] = num_or_none(s.get("utilisation", sum(out.values())))
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


def floor_soc_of(summary):
    """The battery floor (state of charge), from ``battery_floor_soc`` or ``battery.floor_soc``;
    ``None`` when absent."""
    value = summary.get("battery_floor_soc")
    if value is None and isinstance(summary.get("battery"), dict):
        value = summary["battery"].get("floor_soc")
    return None if value is None or not math.isfinite(num_or_none(value)) else num_or_none(value)


def new_figure(w, h, ncols=1, **kw):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, **kw)
    return fig, axes


def write_figure(fig, out_dir, name, formats, data=None):
    """Write ``fig`` once per format and, when given, ``data`` (the numbers it draws, a
    DataFrame) as ``name.csv`` beside it."""
    if isinstance(fig, tuple):
        fig, data = fig
    paths = write_formats(fig, out_dir, name, formats)
    if data is not None:
        paths.append(atomic_write_csv(Path(out_dir) / f"{name}.csv", data))
    return paths


def panel_note(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11,
            color="0.4")


def integer_y(ax):
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def run_title(run):
    s = run.summary
    bits = [str(s.get("scenario", run.dir.name)), f"policy {run.label}"]
    if "seed" in s:
        bits.append(f"seed {s['seed']}")
    if "n_sats" in s:
        bits.append(f"{s['n_sats']} sats")
    return ", ".join(bits)


def run_labels(runs):
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


def draw_state_bars(ax, runs):
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
    for label, r in zip(run_labels(runs), runs):
        ecl = num_or_none(r.summary.get("eclipse_fraction"))
        labels.append(f"{label}\n(eclipse {100 * ecl:.0f}% of time)" if math.isfinite(ecl)
                      else label)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, min(1.12, max(0.05, 1.3 * top)))  # low utilisation stays readable
    ax.set_ylabel("fraction of total GPU capacity busy")
    ax.legend(ncols=4, fontsize=8, loc="upper right")
    import pandas as pd

    return pd.DataFrame([{"run": r.dir.name, "label": lab.replace("\n", " "),
                          **{f"utilisation_{k}": v[k] for k in keys},
                          "eclipse_fraction": num_or_none(r.summary.get("eclipse_fraction"))}
                         for r, lab, v in zip(runs, run_labels(runs), values)])
