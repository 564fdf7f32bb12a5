"""Eclipse seasons: how much shadow the fleet sees, day by day over a year.

From geometry alone (:func:`eclipse_season`): for each sampled day, every sampled satellite is
propagated over one of its orbits starting at 00:00 UTC that day (SGP4, as the runs; the Sun
from DE421), and the engine's own shadow function (the conical penumbra-or-umbra test of
:func:`orbsched._kernels.shadow_functions`, WGS84 or sphere as the scenario says) is evaluated
every ``step_s`` seconds.  The time in shadow is integrated with the shadow function linear
between samples, so an edge is placed to well under a second with 20 s samples.  Per day:
the eclipse per orbit (mean and max over satellites), the fraction of the fleet in shadow (the
time average), the share of satellites that have an eclipse at all, the beta angle, and the
closed-form eclipse of :func:`closed_form_eclipse_fraction` for comparison.

APPROXIMATIONS: one orbit stands for the day (the beta angle moves by ~1 deg a day at most, so
the per-orbit eclipse changes by at most seconds within a day, except within a day of a
season's edge, where it changes from zero); large fleets are represented by ``max_sats``
satellites evenly spread over the fleet's indices (planes and phases alike).  Element sets
read from files are propagated up to half a year from their epoch: SGP4 errors grow by
kilometres per day there, which moves eclipse edges by about a second per km of along-track
error, but barely the per-orbit durations the figure shows.

From runs (:func:`run_daily`): per simulated day, the fleet's eclipse fraction and utilisation
(``timeseries.parquet`` fleet rows, time-weighted) and the mean eclipse per orbit (the
``eclipse_entry`` / ``eclipse_exit`` pairs of ``events.parquet``).  For runs of weeks they
trace the season against the geometry; a run of hours gives one point.
"""
from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

from .._kernels import shadow_functions
from ..geometry import astro
from ..geometry.constellation import Constellation, build_constellation
from ..geometry.illumination import earth_radii
from ..scenario.constants import EARTH_EQUATORIAL_RADIUS_KM, MU_EARTH_KM3_S2, SUN_RADIUS_KM
from ..scenario.errors import OrbschedError
from .figures_io import OKABE_ITO, RunFolder, new_figure, note, series_style

__all__ = ["closed_form_eclipse_fraction", "eclipse_season", "fig_seasons", "run_daily"]

DAY_S = 86400.0


def closed_form_eclipse_fraction(altitude_km, beta_deg, radius_km=EARTH_EQUATORIAL_RADIUS_KM):
    """Eclipse fraction of a circular orbit in a cylindrical shadow (``../shared/CONTEXT.md``):
    ``acos(sqrt(h^2 + 2 R h) / ((R + h) cos b)) / pi`` for ``|b| < asin(R / (R + h))``, else 0.
    A spherical Earth of radius ``radius_km``, the Sun at infinity, no penumbra."""
    h = np.asarray(altitude_km, float)
    b = np.radians(np.abs(np.asarray(beta_deg, float)))
    r = radius_km + h
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.sqrt(h * h + 2.0 * radius_km * h) / (r * np.cos(b))
        f = np.arccos(np.clip(x, -1.0, 1.0)) / math.pi
    return np.where(b < np.arcsin(radius_km / r), f, 0.0)


def _shadow_time(g, step_s):
    """Time (s) with ``g > 0`` along each row, ``g`` linear between samples ``step_s`` apart."""
    g0, g1 = g[..., :-1], g[..., 1:]
    both = (g0 > 0) & (g1 > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        part = np.where(g0 > 0, g0 / (g0 - g1), g1 / (g1 - g0))
    part = np.where(both, 1.0, np.where((g0 > 0) != (g1 > 0), part, 0.0))
    return part.sum(axis=-1) * step_s


def _sampled(fleet, pick):
    """The fleet cut to the ``pick`` satellites where its orbit sets allow it (SGP4 and
    formation sets; other sets are kept whole), and the rows of ``pick`` in that fleet."""
    sets, keep, base, new_base = [], [], 0, 0
    for s in fleet.sets:
        local = [int(i) - base for i in pick if base <= i < base + len(s)]
        base += len(s)
        if not local:
            continue
        part, rows = (s.subset(local), range(len(local))) if hasattr(s, "subset") \
            else (s, local)
        sets.append(part)
        keep.extend(new_base + i for i in rows)
        new_base += len(part)
    return Constellation(sets, fleet.timebase, fleet.duration_s), np.asarray(keep, int)


def eclipse_season(scenario, days=365, day_step=1, max_sats=48, step_s=20.0):
    """Daily shadow statistics of ``scenario``'s fleet from geometry alone (module docstring),
    over ``days`` days centred on the scenario's start, every ``day_step`` days.

    Returns a DataFrame, one row per sampled day: ``date``, ``day_of_year``,
    ``eclipse_min_per_orbit_mean`` (over the satellites that have an eclipse; 0 when none
    does) and ``_max``, ``shadow_fraction`` (mean time share in shadow),
    ``sats_with_eclipse`` (share of satellites with one), ``beta_deg`` (mean |beta|),
    ``altitude_km`` (mean radius minus the equatorial radius),
    ``closed_form_min_per_orbit_mean`` and ``closed_form_shadow_fraction``
    (:func:`closed_form_eclipse_fraction` at each satellite's beta and mean altitude, averaged
    as the measured ones), ``n_sats`` sampled."""
    for name, v, lo in (("days", days, 1), ("day_step", day_step, 1), ("max_sats", max_sats, 1)):
        if isinstance(v, bool) or int(v) != v or v < lo:
            raise OrbschedError(f"eclipse_season: {name} must be an integer >= {lo}, got {v!r}")
    if not (math.isfinite(step_s) and 0 < step_s <= 120):
        raise OrbschedError(f"eclipse_season: step_s must be in (0, 120] s, got {step_s!r}")
    fleet, scenario = build_constellation(scenario)
    n = len(fleet)
    pick = np.unique(np.linspace(0, n - 1, min(n, int(max_sats))).round().astype(int))
    fleet, pick = _sampled(fleet, pick)
    eq, pol = earth_radii(scenario.geometry.earth_shape)
    node_s = scenario.geometry.frame_node_s
    r0, v0 = fleet.propagate(np.array([0.0]), node_s)
    rn, vn = np.linalg.norm(r0[pick, 0], axis=1), np.linalg.norm(v0[pick, 0], axis=1)
    sma = 1.0 / (2.0 / rn - vn * vn / MU_EARTH_KM3_S2)        # vis-viva
    period = 2.0 * math.pi * np.sqrt(sma ** 3 / MU_EARTH_KM3_S2)
    tt = np.arange(0.0, float(period.max()) + step_s, step_s)
    own = tt[None, :] <= period[:, None] + step_s               # each satellite's own orbit
    start = scenario.start_utc
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    first = (midnight - start).total_seconds() - (int(days) // 2) * DAY_S
    rows = []
    for d in range(0, int(days), int(day_step)):
        t = first + d * DAY_S + tt
        r, v = fleet.propagate(t, node_s)
        r, v = r[pick], v[pick]
        sun = astro.sun_positions_km(fleet.timebase, t)
        pole = astro.pole_gcrs(fleet.timebase, t, node_s)
        g = shadow_functions(r, sun, pole, eq, pol, SUN_RADIUS_KM)[1]
        g = np.where(own, g, -1.0)
        frac = np.minimum(_shadow_time(g, step_s) / period, 1.0)
        normal = np.cross(r[:, 0], v[:, 0])
        normal /= np.linalg.norm(normal, axis=1)[:, None]
        s_hat = sun[0] / np.linalg.norm(sun[0])
        beta = np.degrees(np.arcsin(np.clip(normal @ s_hat, -1.0, 1.0)))
        alt = np.linalg.norm(r, axis=2).mean(axis=1) - EARTH_EQUATORIAL_RADIUS_KM
        cf = closed_form_eclipse_fraction(alt, beta)
        day = midnight + timedelta(seconds=first + d * DAY_S - (midnight - start).total_seconds())
        dark = frac > 0
        rows.append({"date": day.date().isoformat(), "day_of_year": day.timetuple().tm_yday,
                     "eclipse_min_per_orbit_mean": float((frac * period)[dark].mean() / 60.0)
                     if dark.any() else 0.0,
                     "eclipse_min_per_orbit_max": float((frac * period).max() / 60.0),
                     "shadow_fraction": float(frac.mean()),
                     "sats_with_eclipse": float((frac > 0).mean()),
                     "beta_deg": float(np.abs(beta).mean()),
                     "altitude_km": float(alt.mean()),
                     "closed_form_min_per_orbit_mean": float((cf * period)[cf > 0].mean() / 60.0)
                     if (cf > 0).any() else 0.0,
                     "closed_form_shadow_fraction": float(cf.mean()),
                     "n_sats": int(len(pick))})
    return pd.DataFrame(rows)


def run_daily(run: RunFolder) -> pd.DataFrame:
    """Per simulated day of a run: ``date``, ``hours`` covered, ``shadow_fraction`` and
    ``utilisation`` (fleet rows, time-weighted) and ``eclipse_min_per_orbit_mean`` (completed
    eclipses that start that day)."""
    f = run.fleet()
    if f.empty:
        return pd.DataFrame(columns=["date", "day_of_year", "hours", "shadow_fraction",
                                     "utilisation", "eclipse_min_per_orbit_mean"])
    t = f["t_s"].to_numpy(float)
    prev = np.concatenate([[0.0], t[:-1]])
    w = t - prev
    day = np.floor((0.5 * (t + prev)) / DAY_S).astype(int)
    start = pd.Timestamp(str(run.summary.get("start_utc") or "2000-01-01T00:00:00Z"))
    ev = run.events(("eclipse_entry", "eclipse_exit"))
    out = []
    for d in np.unique(day):
        m = day == d
        e = ev[(ev["t_s"] >= d * DAY_S) & (ev["t_s"] < (d + 1) * DAY_S)]
        dur = _eclipse_durations(ev, e)
        date = start + pd.Timedelta(seconds=d * DAY_S)
        out.append({"date": date.date().isoformat(), "day_of_year": date.day_of_year,
                    "hours": float(w[m].sum() / 3600.0),
                    "shadow_fraction": float(np.sum(f["eclipse_frac"].to_numpy(float)[m] * w[m])
                                             / w[m].sum()),
                    "utilisation": float(np.sum(f["util"].to_numpy(float)[m] * w[m])
                                         / w[m].sum()),
                    "eclipse_min_per_orbit_mean": float(np.mean(dur) / 60.0) if dur.size
                    else float("nan")})
    return pd.DataFrame(out)


def _eclipse_durations(ev, day_events):
    """Durations of the eclipses whose entry is among ``day_events`` and whose exit is known."""
    ent = day_events[day_events["kind"] == "eclipse_entry"][["sat", "t_s"]]
    ext = ev[ev["kind"] == "eclipse_exit"][["sat", "t_s"]].rename(columns={"t_s": "t_x"})
    if ent.empty or ext.empty:
        return np.zeros(0)
    m = pd.merge_asof(ent.astype({"sat": np.int64}).sort_values("t_s"),
                      ext.astype({"sat": np.int64}).sort_values("t_x"), left_on="t_s",
                      right_on="t_x", by="sat", direction="forward")
    d = (m["t_x"] - m["t_s"]).to_numpy(float)
    return d[np.isfinite(d)]


def season_text(season: pd.DataFrame) -> str:
    """``"; eclipses on N of M sampled days (first - last), up to X min per orbit"`` when
    some sampled days have no eclipse at all (a seasonal orbit), else ``""``."""
    if not len(season):
        return ""
    dark = season[season["sats_with_eclipse"] > 0]
    if len(dark) in (0, len(season)):
        return ""
    return (f"; eclipses on {len(dark)} of {len(season)} sampled days ({dark['date'].iloc[0]} "
            f"to {dark['date'].iloc[-1]}), up to "
            f"{season['eclipse_min_per_orbit_max'].max():.1f} min per orbit")


def fig_seasons(season: pd.DataFrame, groups: dict | None = None, title=""):
    """The eclipse-season figure: eclipse per orbit, fleet in shadow and (with runs) daily
    utilisation against the date; returns ``(fig, table)``: the geometry rows
    (``source == "geometry"``) and, per run group and day, the mean over its runs."""
    groups = groups or {}
    daily = []
    for i, (label, runs) in enumerate(groups.items()):
        d = [run_daily(r) for r in runs]
        d = [x for x in d if len(x)]
        if d:
            mean = pd.concat(d).groupby(["date", "day_of_year"], as_index=False).mean()
            daily.append((i, mean.assign(source=label, n_runs=len(d))))
    table = pd.concat([season.assign(source="geometry")] + [d for _, d in daily],
                      ignore_index=True)
    nrows = 3 if daily else 2
    fig, axes = new_figure(12, 2.0 + 2.0 * nrows, nrows=nrows, sharex=True)
    axes = axes[:, 0]
    ax = axes[0]
    if len(season):
        x = pd.to_datetime(season["date"])
        ax.fill_between(x, 0, season["eclipse_min_per_orbit_max"], color="0.82", lw=0,
                        label="geometry: up to the longest (over satellites)")
        ax.plot(x, season["eclipse_min_per_orbit_mean"], color=OKABE_ITO["black"], lw=1.4,
                label="geometry: mean (conical shadow, satellites in eclipse)")
        ax.plot(x, season["closed_form_min_per_orbit_mean"], color="0.45", lw=1.0, ls="--",
                label="closed form (cylindrical shadow, CONTEXT.md)")
        axes[1].plot(x, season["shadow_fraction"], color=OKABE_ITO["black"], lw=1.4,
                     label="geometry: fleet in shadow (time average)")
        axes[1].plot(x, season["sats_with_eclipse"], color="0.45", lw=1.0, ls="-.",
                     label="geometry: share of satellites with eclipses")
    else:
        note(ax, "no geometry")
    for i, d in daily:
        style = series_style(i)
        dx = pd.to_datetime(d["date"])
        lab = f"runs: {d['source'].iloc[0]} ({int(d['n_runs'].iloc[0])})"
        ax.plot(dx, d["eclipse_min_per_orbit_mean"], marker="o", ms=5, ls="",
                color=style["color"], label=lab)
        axes[1].plot(dx, d["shadow_fraction"], marker="o", ms=5, ls="", color=style["color"],
                     label=lab)
        axes[2].plot(dx, d["utilisation"], marker="o", ms=5, color=style["color"], label=lab,
                     lw=0.8, ls=style["linestyle"])
    ax.set_ylabel("eclipse per orbit (min)")
    axes[1].set_ylabel("fraction")
    axes[1].set_ylim(-0.02, 1.02)
    for a in axes:
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        a.grid(color="0.9", lw=0.5)
    if daily:
        axes[2].set_ylabel("daily GPU utilisation")
        axes[2].set_ylim(-0.02, 1.02)
    axes[-1].set_xlabel("date (UTC)")
    n = int(season["n_sats"].iloc[0]) if len(season) else 0
    fig.suptitle(f"Eclipse seasons{' - ' + title if title else ''} ({n} satellites sampled, "
                 f"one orbit a day){season_text(season)}", fontsize=10)
    return fig, table
