"""The world map at the snapshot instant, with the shadow where the satellites are.

The night side at the ground is not where a satellite is dark: at 550 km the Earth's shadow
is some 23 deg of arc narrower than the night side, so a satellite above the terminator is in
sunlight.  This map cuts the Earth's shadow at the satellites' own shell:

* :func:`shadow_edge_theta` finds, for each direction around the antisolar point, the angular
  distance from it at which a point at radius ``radius_km`` leaves the shadow.  It evaluates
  the engine's own shadow functions (:func:`orbsched._kernels.shadow_functions`: the Sun a
  disk at its distance, the Earth the WGS84 ellipsoid or a sphere, as the scenario says) in
  the Earth-fixed frame of the snapshot, and bisects to 1e-9 deg.  ``penumbra`` is where the
  Sun's disk starts to be covered (the engine's ``eclipse_entry``), ``umbra`` where it is
  fully covered.
* Satellites are grouped into shells (radii within :data:`SHELL_GAP_KM` of each other).  Of a
  shell, the penumbra edge is drawn for its *highest* satellite and the umbra edge for its
  *lowest*: the shadow shrinks with height, so every satellite that is sunlit lies outside
  the drawn penumbra edge and every one in umbra inside the drawn umbra edge.  The band
  between them is the penumbra widened by the shell's spread in radius (about 0.02 deg of arc
  per km), which the legend states.
* Laser links are great-circle arcs between the sub-satellite points (:func:`great_circle`),
  sampled every 0.5 deg and split where they cross the antimeridian.
* Busy satellites are drawn larger, edged in black, above small translucent idle ones, so they
  stand out among thousands; beyond :data:`MAX_LINKS` links, an evenly spaced subset is drawn
  (the legend says how many).

:func:`map_layers` returns the data behind the figure as one long table (``layer`` =
satellite | penumbra_edge | umbra_edge | link | ground_terminator | subsolar).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._kernels import shadow_functions
from ..geometry.illumination import earth_radii
from ..scenario.constants import AU_KM, SUN_RADIUS_KM
from .figures_io import OKABE_ITO, STATE_COLOURS, RunFolder, new_figure, note
from .plot_base import split_at_antimeridian, terminator_pieces

__all__ = ["MAX_LINKS", "SHELL_GAP_KM", "fig_world_map", "great_circle", "link_arcs",
           "map_layers", "polylines", "shadow_edge_theta", "shells", "theta_psi",
           "unit_vectors"]

SHELL_GAP_KM = 50.0
MAX_LINKS = 6000
ARC_STEP_DEG = 0.5
_EDGES = {"penumbra": 1, "umbra": 2}           # index into shadow_functions' (point, pen, umb)
LINK_COLOUR = OKABE_ITO["green"]


def unit_vectors(lat_deg, lon_deg):
    """Unit vectors (n, 3) of geocentric latitudes and longitudes (degrees)."""
    la, lo = np.radians(np.asarray(lat_deg, float)), np.radians(np.asarray(lon_deg, float))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _latlon(v):
    v = np.asarray(v, float)
    return (np.degrees(np.arctan2(v[..., 2], np.hypot(v[..., 0], v[..., 1]))),
            np.degrees(np.arctan2(v[..., 1], v[..., 0])))


def antisolar_frame(subsolar_lat_deg, subsolar_lon_deg):
    """``(a, e1, e2)``: the antisolar unit vector and two unit vectors perpendicular to it
    (``e1`` towards the north where defined).  A direction at angle ``theta`` from ``a`` and
    azimuth ``psi`` is ``cos(theta) a + sin(theta) (cos(psi) e1 + sin(psi) e2)``."""
    a = -unit_vectors(subsolar_lat_deg, subsolar_lon_deg)
    ref = np.array([0.0, 0.0, 1.0]) if abs(a[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = ref - np.dot(ref, a) * a
    e1 /= np.linalg.norm(e1)
    return a, e1, np.cross(a, e1)


def theta_psi(lat_deg, lon_deg, subsolar_lat_deg, subsolar_lon_deg):
    """Angular distance from the antisolar point and azimuth around it (degrees) of points."""
    a, e1, e2 = antisolar_frame(subsolar_lat_deg, subsolar_lon_deg)
    u = unit_vectors(lat_deg, lon_deg)
    theta = np.degrees(np.arccos(np.clip(u @ a, -1.0, 1.0)))
    psi = np.degrees(np.arctan2(u @ e2, u @ e1)) % 360.0
    return theta, psi


def shadow_edge_theta(psi_deg, radius_km, subsolar_lat_deg, subsolar_lon_deg, edge="penumbra",
                      sun_distance_km=AU_KM, earth_shape="wgs84", tol_deg=1e-9):
    """Angular distance (deg) from the antisolar point of the shadow's ``edge`` (penumbra:
    where the Sun starts to be covered; umbra: fully covered) for points at ``radius_km``
    (geocentric; one value or one per direction) in the directions ``psi_deg``; NaN where
    that shell has no such shadow."""
    if edge not in _EDGES:
        raise ValueError(f"edge must be one of {sorted(_EDGES)}, got {edge!r}")
    psi = np.radians(np.atleast_1d(np.asarray(psi_deg, float)))
    radius = np.broadcast_to(np.asarray(radius_km, float), psi.shape)[:, None]
    a, e1, e2 = antisolar_frame(subsolar_lat_deg, subsolar_lon_deg)
    side = np.cos(psi)[:, None] * e1 + np.sin(psi)[:, None] * e2
    sun = (-a * float(sun_distance_km))[None, :]
    pole = np.array([[0.0, 0.0, 1.0]])              # Earth-fixed frame: the pole is z
    eq, pol = earth_radii(earth_shape)

    def g(theta):
        th = theta[:, None]
        r = radius * (np.cos(th) * a + np.sin(th) * side)
        return shadow_functions(r[:, None, :], sun, pole, eq, pol, SUN_RADIUS_KM)[
            _EDGES[edge]][:, 0]
    lo, hi = np.zeros(len(psi)), np.full(len(psi), 0.5 * math.pi)
    has = (g(lo) > 0) & (g(hi) <= 0)
    for _ in range(int(math.ceil(math.log2(0.5 * math.pi / math.radians(tol_deg))))):
        mid = 0.5 * (lo + hi)
        inside = g(mid) > 0
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    return np.where(has, np.degrees(0.5 * (lo + hi)), np.nan)


def edge_latlon(radius_km, subsolar_lat_deg, subsolar_lon_deg, edge="penumbra",
                sun_distance_km=AU_KM, earth_shape="wgs84", n=721):
    """The shadow edge at ``radius_km`` as a closed curve: ``(lat_deg, lon_deg, psi_deg,
    theta_deg)`` of ``n`` points (first == last); empty arrays when there is none."""
    psi = np.linspace(0.0, 360.0, int(n))
    theta = shadow_edge_theta(psi, radius_km, subsolar_lat_deg, subsolar_lon_deg, edge,
                              sun_distance_km, earth_shape)
    if not np.isfinite(theta).all():
        z = np.zeros(0)
        return z, z, z, z
    a, e1, e2 = antisolar_frame(subsolar_lat_deg, subsolar_lon_deg)
    th, ps = np.radians(theta)[:, None], np.radians(psi)[:, None]
    v = np.cos(th) * a + np.sin(th) * (np.cos(ps) * e1 + np.sin(ps) * e2)
    lat, lon = _latlon(v)
    return lat, lon, psi, theta


def great_circle(lat1, lon1, lat2, lon2, step_deg=ARC_STEP_DEG):
    """Points ``(lat, lon)`` along the shorter great-circle arc between two points, at most
    ``step_deg`` apart (both ends included)."""
    p, q = unit_vectors(lat1, lon1), unit_vectors(lat2, lon2)
    ang = math.acos(max(-1.0, min(1.0, float(np.dot(p, q)))))
    k = max(1, int(math.ceil(math.degrees(ang) / step_deg)))
    f = np.linspace(0.0, 1.0, k + 1)[:, None]
    if ang < 1e-12:
        v = np.repeat(p[None], k + 1, axis=0)
    else:
        v = (np.sin((1.0 - f) * ang) * p + np.sin(f * ang) * q) / math.sin(ang)
    return _latlon(v)


def shells(radius_km, gap_km=SHELL_GAP_KM):
    """Shell index of each satellite: radii sorted and cut where they jump by > ``gap_km``."""
    r = np.asarray(radius_km, float)
    if r.size == 0:
        return np.zeros(0, int)
    order = np.argsort(r, kind="stable")
    cut = np.concatenate([[0], np.cumsum(np.diff(r[order]) > gap_km)])
    out = np.empty(r.size, int)
    out[order] = cut
    return out


# ----------------------------------------------------------------------------- the data
def link_arcs(lat, lon, links, step_deg=ARC_STEP_DEG):
    """Great-circle arcs of ``links`` (pairs of indices into ``lat``/``lon``), all sampled
    with the same number of points (at most ``step_deg`` apart on the longest arc) and split
    at the antimeridian: a list of ``(link index, lat, lon)`` pieces."""
    links = np.asarray(links, dtype=np.int64).reshape(-1, 2)
    if not len(links):
        return []
    p, q = unit_vectors(lat[links[:, 0]], lon[links[:, 0]]), unit_vectors(lat[links[:, 1]],
                                                                          lon[links[:, 1]])
    ang = np.arccos(np.clip(np.sum(p * q, axis=1), -1.0, 1.0))[:, None, None]
    k = max(1, int(math.ceil(math.degrees(float(ang.max())) / step_deg)))
    f = np.linspace(0.0, 1.0, k + 1)[None, :, None]
    small = ang < 1e-12
    sin_a = np.where(small, 1.0, np.sin(ang))
    v = np.where(small, p[:, None, :] + 0.0 * f,
                 (np.sin((1.0 - f) * ang) * p[:, None, :] + np.sin(f * ang) * q[:, None, :])
                 / sin_a)
    la, lo = _latlon(v)                                      # (n_links, k + 1)
    crosses = (np.abs(np.diff(lo, axis=1)) > 180.0).any(axis=1)
    out = []
    for i in range(len(links)):
        if not crosses[i]:
            out.append((i, la[i], lo[i]))
        else:
            out += [(i, pla, plo) for pla, plo in _split_arc(v[i], la[i], lo[i])]
    return out


def _split_arc(v, lat, lon):
    """Split a polyline of points on one great circle where it crosses the antimeridian.  The
    crossing point is the normalised chord point with y = 0, which lies on the same great
    circle (exactly, not interpolated in latitude); it ends one piece at +-180 deg and starts
    the next at -+180 deg."""
    pieces, start = [], 0
    cut_lat, cut_lon = [], []
    for j in np.flatnonzero(np.abs(np.diff(lon)) > 180.0):
        s = v[j, 1] / (v[j, 1] - v[j + 1, 1])
        lat_x = float(_latlon((1.0 - s) * v[j] + s * v[j + 1])[0])
        edge = 180.0 if lon[j] > 0 else -180.0
        pieces.append((np.concatenate([cut_lat, lat[start:j + 1], [lat_x]]),
                       np.concatenate([cut_lon, lon[start:j + 1], [edge]])))
        cut_lat, cut_lon, start = [lat_x], [-edge], j + 1
    pieces.append((np.concatenate([cut_lat, lat[start:]]),
                   np.concatenate([cut_lon, lon[start:]])))
    return pieces


def map_layers(snapshot: dict, earth_shape="wgs84", fallback_radius_km=None):
    """The data behind the world map (module docstring) as a long table.

    Columns: ``layer, shell, piece, lat_deg, lon_deg, radius_km, sat, peer, state,
    busy_gpus``; ``piece`` numbers each drawn polyline (its rows are consecutive).  Satellite
    radii come from the snapshot (``radius_km``); an older snapshot without them uses
    ``fallback_radius_km`` (e.g. the scenario's shell altitude), or draws no shadow edges
    when that is None."""
    cols = ["layer", "shell", "piece", "lat_deg", "lon_deg", "radius_km", "sat", "peer",
            "state", "busy_gpus"]
    parts: dict[str, list] = {c: [] for c in cols}

    def add(layer, lat, lon, shell=-1, piece=-1, radius=np.nan, sat=-1, peer=-1, state="",
            busy=0):
        n = len(lat)
        for c, v in (("layer", layer), ("shell", shell), ("piece", piece), ("lat_deg", lat),
                     ("lon_deg", lon), ("radius_km", radius), ("sat", sat), ("peer", peer),
                     ("state", state), ("busy_gpus", busy)):
            parts[c].append(np.asarray(v) if np.ndim(v) else np.full(n, v, dtype=object
                                                                      if isinstance(v, str)
                                                                      else None))
    counter = iter(range(1 << 62))
    if not snapshot or "subsolar_lat_deg" not in snapshot:
        return pd.DataFrame(columns=cols)
    slat, slon = float(snapshot["subsolar_lat_deg"]), float(snapshot["subsolar_lon_deg"])
    sun_km = float(snapshot.get("sun_distance_km") or AU_KM)
    sats = snapshot.get("sats") or {}
    lat = np.asarray(sats.get("lat_deg", []), float)
    lon = (np.asarray(sats.get("lon_deg", []), float) + 180.0) % 360.0 - 180.0
    n = lat.size
    radius = np.asarray(sats.get("radius_km", [fallback_radius_km or np.nan] * n), float)
    state = np.asarray(sats.get("state", ["sunlit"] * n), dtype=object).astype(str)
    busy = np.asarray(sats.get("busy_gpus", [0] * n), int)
    shell = shells(radius) if np.isfinite(radius).all() else np.full(n, -1)
    if n:
        add("satellite", lat, lon, shell, -1, radius, np.arange(n), -1, state, busy)
    add("subsolar", [slat], [(slon + 180.0) % 360.0 - 180.0])
    for plo, pla in terminator_pieces(slat, slon):      # split at the antimeridian and poles
        add("ground_terminator", pla, plo, piece=next(counter), radius=0.0)
    for s in sorted(set(shell[shell >= 0].tolist())):
        r = radius[shell == s]
        for edge, rad in (("penumbra", r.max()), ("umbra", r.min())):
            la, lo, _, _ = edge_latlon(rad, slat, slon, edge, sun_km, earth_shape)
            for plo, pla in split_at_antimeridian(lo, la):
                add(f"{edge}_edge", pla, plo, int(s), next(counter), float(rad))
    links = [(int(a), int(b)) for a, b in (snapshot.get("links") or []) if 0 <= a < n
             and 0 <= b < n]
    stride = max(1, int(math.ceil(len(links) / MAX_LINKS)))
    drawn = links[::stride]
    for i, pla, plo in link_arcs(lat, lon, drawn):
        add("link", pla, plo, piece=next(counter), sat=drawn[i][0], peer=drawn[i][1])
    out = pd.DataFrame({c: np.concatenate(parts[c]) for c in cols})
    out = out.astype({"shell": np.int64, "piece": np.int64, "sat": np.int64, "peer": np.int64,
                      "busy_gpus": np.int64, "lat_deg": float, "lon_deg": float,
                      "radius_km": float}).round({"lat_deg": 6, "lon_deg": 6})
    out.attrs.update(links_total=len(links), links_stride=stride)
    return out


def polylines(rows):
    """The drawn polylines of some rows of :func:`map_layers`: ``[(n, 2) lon/lat arrays]``."""
    piece = rows["piece"].to_numpy()
    xy = np.column_stack([rows["lon_deg"].to_numpy(float), rows["lat_deg"].to_numpy(float)])
    return np.split(xy, np.flatnonzero(np.diff(piece)) + 1) if len(rows) else []


# ----------------------------------------------------------------------------- the figure
def fig_world_map(run: RunFolder):
    """The corrected world map of a run and its table (:func:`map_layers`)."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    snap = run.snapshot()
    geom = run.scenario.get("geometry") or {}
    shape = geom.get("earth_shape", "wgs84")
    consts = run.scenario.get("constellations") or []
    alts = [a for c in consts if isinstance(c, dict) and (a := c.get("altitude_km"))]
    fallback = (earth_radii(shape)[0] + float(alts[0])) if len(alts) == 1 else None
    data = map_layers(snap, shape, fallback)
    fig, axes = new_figure(11, 6.4)
    ax = axes[0, 0]
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_aspect("equal")
    ax.set_xticks(range(-180, 181, 30))
    ax.set_yticks(range(-90, 91, 30))
    ax.grid(color="0.88", linewidth=0.5)
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("geocentric latitude (deg)")
    title = f"{run.summary.get('scenario', run.dir.name)}, policy {run.policy}"
    if data.empty:
        note(ax, "no snapshot")
        ax.set_title(f"Constellation snapshot - {title}", fontsize=10)
        return fig, data
    handles = []
    sat = data[data["layer"] == "satellite"]
    slat, slon = float(snap["subsolar_lat_deg"]), float(snap["subsolar_lon_deg"])
    sun_km = float(snap.get("sun_distance_km") or AU_KM)
    # the shadow filled at each shell (penumbra region at its top, umbra at its bottom)
    glon, glat = np.meshgrid(np.linspace(-180, 180, 361), np.linspace(-90, 90, 181))
    g_theta, g_psi = theta_psi(glat, glon, slat, slon)
    psi_nodes = np.linspace(0, 360, 721)
    for edge, alpha in (("penumbra", 0.10), ("umbra", 0.14)):
        for _shell, part in data[data["layer"] == f"{edge}_edge"].groupby("shell"):
            rad = float(part["radius_km"].iloc[0])
            th = shadow_edge_theta(psi_nodes, rad, slat, slon, edge, sun_km, shape)
            inside = g_theta - np.interp(g_psi, psi_nodes, th)
            ax.contourf(glon, glat, inside, levels=[-1e9, 0.0], colors=[STATE_COLOURS["umbra"]],
                        alpha=alpha)
            ax.add_collection(LineCollection(polylines(part), colors=STATE_COLOURS["umbra"],
                                             linewidths=1.0 if edge == "penumbra" else 0.8,
                                             linestyles="-" if edge == "penumbra" else "--",
                                             zorder=2))
    edges = data[data["layer"].str.endswith("_edge")]
    if len(edges):
        top = edges[edges["layer"] == "penumbra_edge"]["radius_km"]
        low = edges[edges["layer"] == "umbra_edge"]["radius_km"]
        eq = earth_radii(shape)[0]

        def km(radii):
            return ", ".join(f"{r - eq:.0f}" for r in sorted(set(radii)))
        handles += [Line2D([], [], color=STATE_COLOURS["umbra"], lw=1.0,
                           label=f"shadow edge at {km(top)} km (highest sat.)"),
                    Line2D([], [], color=STATE_COLOURS["umbra"], lw=0.8, ls="--",
                           label=f"umbra edge at {km(low)} km (lowest sat.)")]
    ground = data[data["layer"] == "ground_terminator"]
    ax.add_collection(LineCollection(polylines(ground), colors="0.45", linewidths=0.7,
                                     linestyles=":", zorder=1))
    handles.append(Line2D([], [], color="0.45", lw=0.7, ls=":", label="terminator at the ground"))
    links = data[data["layer"] == "link"]
    if len(links):
        dense = len(sat) > 500          # at Starlink scale the links would hide the satellites
        ax.add_collection(LineCollection(polylines(links), colors=LINK_COLOUR,
                                         linewidths=0.3 if dense else 0.5,
                                         alpha=0.3 if dense else 0.6, zorder=1.5))
    total, stride = data.attrs.get("links_total", 0), data.attrs.get("links_stride", 1)
    shown = f"{math.ceil(total / stride)} of {total}" if stride > 1 else f"{total}"
    handles.append(Line2D([], [], color=LINK_COLOUR, lw=0.8, label=f"laser links ({shown})"))
    n = len(sat)
    is_busy = sat["busy_gpus"].to_numpy() > 0
    size = float(np.clip(2500.0 / max(n, 1), 4.0, 40.0))
    for k in ("sunlit", "penumbra", "umbra"):
        m = (sat["state"] == k).to_numpy()
        idle, busy = m & ~is_busy, m & is_busy
        # idle: hollow rings in the state's colour; busy: filled, black-edged, drawn on top
        ax.scatter(sat["lon_deg"][idle], sat["lat_deg"][idle], s=size, facecolors="none",
                   edgecolors=STATE_COLOURS[k], linewidths=0.7, alpha=0.8, zorder=3)
        ax.scatter(sat["lon_deg"][busy], sat["lat_deg"][busy], s=1.6 * size + 4,
                   c=STATE_COLOURS[k], edgecolors="k", linewidths=0.5, zorder=4)
        handles.append(Line2D([], [], marker="o", ls="", color=STATE_COLOURS[k],
                              markeredgecolor="k", label=f"{k}: {int(busy.sum())} busy"))
        handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="none",
                              markeredgecolor=STATE_COLOURS[k],
                              label=f"{k}: {int(idle.sum())} idle"))
    sub = data[data["layer"] == "subsolar"]
    ax.plot(sub["lon_deg"], sub["lat_deg"], marker="*", markersize=15, ls="",
            color=OKABE_ITO["yellow"], markeredgecolor=OKABE_ITO["orange"], zorder=5)
    handles.append(Line2D([], [], marker="*", ls="", color=OKABE_ITO["yellow"],
                          markeredgecolor=OKABE_ITO["orange"], markersize=10,
                          label="subsolar point"))
    fig.legend(handles=handles, fontsize=7.5, loc="outside lower center", ncols=5,
               frameon=False)
    when = snap.get("utc") or f"t = {float(snap.get('t_s', 0.0)) / 3600.0:.2f} h"
    ax.set_title(f"Constellation at {when} ({n} satellites, {int(is_busy.sum())} busy: filled; "
                 f"idle: rings) - {title}", fontsize=9.5)
    if n == 0:
        note(ax, "no satellites in snapshot")
    return fig, data
