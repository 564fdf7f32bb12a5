"""What the paper figures share: reading results folders, grouping runs, the steady-state
window, the colour-blind-safe palette, and writing each figure with the data behind it.

Every figure of :mod:`orbsched.analysis.figures_phase`, :mod:`orbsched.analysis.figures_map`,
:mod:`orbsched.analysis.figures_seasons` and :mod:`orbsched.analysis.figures_compare` is written by
:func:`save_figure` once per format (PNG at 150 dpi, PDF without a creation date so that the
same results give the same bytes) with ``<name>.csv`` beside it: the numbers the figure draws,
one tidy table.

matplotlib is imported inside the drawing functions only (it is heavy and optional at run
time), through :class:`matplotlib.figure.Figure` and the Agg canvas: no pyplot state.

Colours: the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), distinguishable
under the common colour-vision deficiencies; runs are also told apart by line style.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import yaml

from ..files import atomic_write, atomic_write_csv
from ..scenario.errors import DataFileError, OrbschedError, RegistryError

__all__ = ["FORMATS", "OKABE_ITO", "STATE_COLOURS", "RunFolder", "find_runs", "group_runs",
           "new_figure", "read_summary", "save_figure", "series_style", "steady_start_s",
           "t_interval"]

FORMATS = ("png", "pdf", "svg")
PNG_DPI = 150
#: Okabe-Ito colours by name.
OKABE_ITO = {"orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
             "purple": "#CC79A7", "black": "#000000", "grey": "#999999"}
STATE_COLOURS = {"sunlit": OKABE_ITO["orange"], "penumbra": OKABE_ITO["grey"],
                 "umbra": OKABE_ITO["blue"]}
# runs: the colours the illumination states do not use first (orange = sunlit, blue = umbra)
_SERIES = ("vermillion", "green", "purple", "black", "sky_blue", "blue", "orange", "yellow")
_LINESTYLES = ("-", "--", "-.", ":")
#: Default warm-up: this share of the run, at most MAX_WARMUP_H.
WARMUP_SHARE = 1.0 / 3.0
MAX_WARMUP_H = 24.0


def series_style(i: int) -> dict:
    """Colour and line style of the i-th run group (Okabe-Ito colours, then line styles)."""
    return {"color": OKABE_ITO[_SERIES[i % len(_SERIES)]],
            "linestyle": _LINESTYLES[(i // len(_SERIES)) % len(_LINESTYLES)]}


def t_interval(values, axis=0, level=0.95):
    """Mean, and half-width of the Student-t interval, of ``values`` along ``axis`` (NaNs left
    out); the half-width is NaN where fewer than two values are finite."""
    from scipy.special import stdtrit  # the t quantile; scipy.stats takes seconds to import

    x = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(x, axis=axis) / n
        dev = np.where(np.isfinite(x), x - np.expand_dims(mean, axis), 0.0)
        sd = np.sqrt(np.sum(dev * dev, axis=axis) / (n - 1))
        half = stdtrit(np.maximum(n - 1, 1), 0.5 + level / 2.0) * sd / np.sqrt(n)
    return np.where(n > 0, mean, np.nan), np.where(n > 1, half, np.nan)


# ----------------------------------------------------------------------------- a results folder
class RunFolder:
    """One results folder, read lazily: ``summary`` (required), ``scenario`` (the resolved
    ``scenario.yaml``, ``{}`` when absent), ``params`` (a sweep's ``run.json`` values),
    the fleet rows, per-satellite rows, events, jobs and snapshot."""

    def __init__(self, folder):
        self.dir = Path(folder)
        path = self.dir / "summary.json"
        if not path.is_file():
            raise DataFileError(path, None, "not found: a results folder holds summary.json "
                                "(written last by 'orbsched run')")
        self.summary = read_json(path)
        scen = self.dir / "scenario.yaml"
        try:
            self.scenario = (yaml.safe_load(scen.read_text(encoding="utf-8")) or {}) \
                if scen.is_file() else {}
        except yaml.YAMLError as exc:
            raise DataFileError(scen, None, f"not valid YAML: {exc}") from None
        meta = self.dir / "run.json"
        self.params = dict(read_json(meta).get("params") or {}) if meta.is_file() else {}
        self._cache = {}

    @property
    def policy(self) -> str:
        pol = self.scenario.get("policy")
        name = pol.get("name") if isinstance(pol, dict) else pol
        return str(self.summary.get("policy") or name or self.dir.name)

    @property
    def seed(self):
        return self.summary.get("seed", self.scenario.get("seed"))

    @property
    def n_sats(self) -> int:
        return int(self.summary.get("n_sats") or 0)

    @property
    def duration_s(self) -> float:
        h = num_or_none(self.summary.get("duration_h", self.scenario.get("duration_h")))
        if math.isfinite(h):
            return h * 3600.0
        t = self.fleet()["t_s"].to_numpy(float)
        return float(t.max()) if t.size else 0.0

    @property
    def sample_s(self) -> float:
        rec = self.scenario.get("record") or {}
        if "sample_s" in rec:
            return float(rec["sample_s"])
        t = self.fleet()["t_s"].to_numpy(float)
        return float(np.median(np.diff(t))) if t.size > 1 else float("nan")

    def table(self, name, columns, filters=None):
        """Columns of ``<name>.parquet`` (missing file: empty; missing column: NaN/"")."""
        key = (name, tuple(columns), repr(filters))
        if key not in self._cache:
            self._cache[key] = read_parquet(self.dir / f"{name}.parquet", columns, filters)
        return self._cache[key]

    def fleet(self):
        """The fleet rows (``sat == -1``) of the time series, sorted by time."""
        cols = ("t_s", "sat", "util", "util_sunlit", "util_penumbra", "util_umbra",
                "eclipse_frac", "used_w", "soc", "temperature_k")
        f = self.table("timeseries", cols, [("sat", "==", -1)])
        return f.sort_values("t_s", kind="stable").reset_index(drop=True)

    def per_satellite(self, columns, t_min_s=None):
        """Per-satellite rows (``sat >= 0``) with ``t_s`` >= ``t_min_s``."""
        filters = [("sat", ">=", 0)]
        if t_min_s is not None:
            filters.append(("t_s", ">=", float(t_min_s)))
        return self.table("timeseries", ("t_s", "sat") + tuple(columns), filters)

    def events(self, kinds):
        ev = self.table("events", ("t_s", "kind", "sat", "job_id", "peer", "value", "detail"))
        return ev[ev["kind"].isin(kinds)].sort_values("t_s", kind="stable")

    def snapshot(self):
        path = self.dir / "snapshot.json"
        return read_json(path) if path.is_file() else {}


def num_or_none(x):
    """A summary value as a float (``None``, written for NaN, becomes NaN)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def read_json(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataFileError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None


def read_summary(folder: str | Path) -> dict:
    """The ``summary.json`` of a results folder; a :class:`DataFileError` naming the folder
    when there is none (the run writes it last: without it the folder is not complete)."""
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise DataFileError(folder, None, "not a complete orbsched results folder (no "
                                          "summary.json)")
    return read_json(path)


STR_COLUMNS = {"kind", "detail", "name", "status"}


def read_parquet(path, columns, filters=None):
    """``columns`` of a Parquet file as a DataFrame; a missing file gives an empty frame and a
    missing column NaN (or "" for text columns), so old or partial folders still draw."""
    import pandas as pd
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        return pd.DataFrame({c: pd.Series([], dtype=object if c in STR_COLUMNS else float)
                             for c in columns})
    present = set(pq.read_schema(path).names)
    use = [c for c in columns if c in present]
    if filters and any(f[0] not in present for f in filters):
        filters = None
    frame = pd.read_parquet(path, columns=use, filters=filters) if use else pd.DataFrame()
    for c in columns:
        if c not in frame:
            frame[c] = "" if c in STR_COLUMNS else np.nan
        elif c in STR_COLUMNS:
            frame[c] = frame[c].astype(object).fillna("").astype(str)
        else:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return frame.reset_index(drop=True)


def steady_start_s(run: RunFolder, warmup_h=None) -> float:
    """Start of the steady-state window: ``warmup_h`` hours, or by default a third of the run
    (at most 24 h).  Raises OrbschedError when the window would be empty."""
    if warmup_h is None:
        warm = min(run.duration_s * WARMUP_SHARE, MAX_WARMUP_H * 3600.0)
    else:
        if isinstance(warmup_h, bool) or not math.isfinite(float(warmup_h)) or warmup_h < 0:
            raise OrbschedError(f"warmup_h: expected a finite number of hours >= 0, "
                                f"got {warmup_h!r}")
        warm = float(warmup_h) * 3600.0
    if warm >= run.duration_s > 0:
        raise OrbschedError(f"warmup_h: {warm / 3600.0:g} h leaves nothing of the "
                            f"{run.duration_s / 3600.0:g} h run {run.dir}")
    return warm


# ----------------------------------------------------------------------------- several folders
def find_runs(paths) -> list:
    """Results folders named by ``paths``: a results folder (``summary.json``) is itself; a
    sweep folder gives its finished runs (``runs/*/summary.json``) in sweep order."""
    out = []
    for p in paths:
        p = Path(p)
        if (p / "summary.json").is_file():
            out.append(p)
            continue
        runs = [q.parent for q in (p / "runs").glob("*/summary.json")]
        if not runs:
            raise DataFileError(p, None, "neither a results folder (summary.json) nor a sweep "
                                         "folder with finished runs (runs/*/summary.json)")

        def order(q):
            meta = q / "run.json"
            return (read_json(meta).get("index", 0) if meta.is_file() else 0, q.name)
        out += sorted(runs, key=order)
    return out


def group_runs(runs) -> dict:
    """``{label: [runs]}``: runs that differ only by seed share a group (their spread gives the
    intervals).  The label is the policy name, followed by the other swept values of a sweep
    (``run.json``) or the scenario name where policies repeat across scenarios; runs that
    would repeat a seed within a group are told apart by folder name."""
    keys = []
    for r in runs:
        extra = [f"{k.rsplit('.', 1)[-1]}={v}" for k, v in r.params.items() if k != "policy"]
        keys.append(", ".join([r.policy] + extra))
    scen: dict[str, set] = {}
    for r, k in zip(runs, keys):
        scen.setdefault(k, set()).add(r.summary.get("scenario"))
    keys = [f"{k} ({r.summary.get('scenario')})" if len(scen[k]) > 1 else k
            for r, k in zip(runs, keys)]
    groups: dict[str, list] = {}
    for r, k in zip(runs, keys):
        groups.setdefault(k, []).append(r)
    out = {}
    for k, members in groups.items():
        seeds = [m.seed for m in members]
        if len(set(map(str, seeds))) == len(seeds):
            out[k] = members
            continue
        for m in members:
            label = f"{k} [{m.dir.name}]"
            n = 2
            while label in out:                      # folders of the same name elsewhere
                label, n = f"{k} [{m.dir.name} #{n}]", n + 1
            out[label] = [m]
    return out


# ----------------------------------------------------------------------------- drawing
def check_formats(formats):
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    for f in formats:
        if f not in FORMATS:
            raise RegistryError(f"unknown figure format {f!r}; valid formats: {', '.join(FORMATS)}")
    return formats


def new_figure(w, h, nrows=1, ncols=1, **kw):
    """A constrained-layout Figure on the Agg canvas and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def note(ax, text):
    """A grey message in the middle of an empty panel."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=10,
            color="0.4", wrap=True)


def save_figure(fig, table, out_dir, name, formats=("png", "pdf")) -> list:
    """Write ``fig`` as ``out_dir/name.<format>`` for each format and ``table`` (a DataFrame:
    the data behind the figure) as ``out_dir/name.csv``; returns the paths written."""
    paths = write_formats(fig, out_dir, name, check_formats(formats))
    paths.append(atomic_write_csv(Path(out_dir) / f"{name}.csv", table))
    return paths


def write_formats(fig, out_dir, name, formats) -> list:
    """Write ``fig`` as ``out_dir/name.<format>`` for each of ``formats`` (PNG at
    :data:`PNG_DPI`, PDF without a creation date so the same figure gives the same bytes);
    laid out once, the other formats reuse the positions.  Returns the paths written."""
    paths = []
    for fmt in formats:
        path = Path(out_dir) / f"{name}.{fmt}"
        opts = {"format": fmt}
        if fmt == "png":
            opts["dpi"] = PNG_DPI
        if fmt == "pdf":
            opts["metadata"] = {"CreationDate": None}
        atomic_write(path, lambda tmp, opts=opts: fig.savefig(tmp, **opts))
        fig.set_layout_engine("none")      # laid out once: the other formats reuse it
        paths.append(path)
    return paths
