"""When satellites are inside a geographic region (the South Atlantic Anomaly): intervals.

The sub-satellite point (geocentric latitude, longitude in the Earth-fixed frame) is computed
on the scenario's time grid; between grid points the ground track is interpolated linearly in
latitude and (unwrapped) longitude, and each entry/exit is located by bisection on that
interpolation to 1e-3 s.  SIMPLIFICATIONS and their size: the chord of a 60 s step (3.8 deg of
arc) departs from the great-circle ground track by < 0.05 deg, i.e. < 1 s of timing at a
region edge; geocentric instead of geodetic latitude shifts a latitude edge by at most 0.19
deg (~3 s).  A region crossed between two grid points without a grid point inside (a corner
clipped in under one step) is missed.

The result is an :class:`orbsched.geometry.illumination.Intervals`, like the eclipses, so the engine
takes entries and exits as events.

Cache: :func:`cached_region_intervals` (what :func:`orbsched.run.simulate`, the sweep's
precompute tasks and the engine benchmark call) loads the intervals from, or saves them to,
``<cache root>/regions/<key[:32]>/`` (:mod:`orbsched.geometry.cache`; root ``cache_dir``,
``$ORBSCHED_CACHE`` or ``~/.cache/orbsched``) when ``network.cache`` is true (false: nothing
is read or written); loaded intervals are bit-identical to computed ones.  The key
(:func:`region_cache_inputs`) is what :func:`region_intervals` reads: the span inputs shared
with the contact plan (package versions, constellations with element-set files by SHA-256,
satellite names, start, span, grid step, ``frame_node_s``), the numpy version, a format number
and the region's shape (the box, or the polygon that replaces it); not the Earth shape or the
eclipse tolerance (not used here), ``chunk_mb`` (memory) or the SAA's upset ``multiplier``.
"""
from __future__ import annotations

import numpy as np

from . import cache as _cache
from .illumination import Intervals, chunk_steps_for, crossings_to_intervals
from .visibility import EarthRotation

__all__ = ["cached_region_intervals", "inside_region", "region_cache_inputs",
           "region_intervals", "region_shape", "saa_region", "subsatellite_latlon"]

REGIONS_FORMAT = 1     # bump when the cached intervals' meaning or arrays change


def inside_region(lat_deg, lon_deg, region) -> np.ndarray:
    """Boolean mask: points inside the box (or the polygon when ``region.polygon`` is set)."""
    lat = np.asarray(lat_deg, float)
    lon = np.asarray(lon_deg, float)
    if region.polygon is None:
        return ((lat >= region.lat_min_deg) & (lat <= region.lat_max_deg)
                & (lon >= region.lon_min_deg) & (lon <= region.lon_max_deg))
    poly = np.asarray(region.polygon, float)      # (V, 2) lat, lon
    inside = np.zeros(lat.shape, bool)
    y0, x0 = poly[:, 0], poly[:, 1]
    y1, x1 = np.roll(y0, -1), np.roll(x0, -1)
    for a_y, a_x, b_y, b_x in zip(y0, x0, y1, x1):   # ray casting along +longitude
        crosses = (a_y > lat) != (b_y > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = a_x + (lat - a_y) * (b_x - a_x) / (b_y - a_y)
        inside ^= crosses & (lon < x_at)
    return inside


def subsatellite_latlon(fleet, t_s, frame_node_s=3600.0):
    """Geocentric latitude and longitude (deg), each (n_sats, len(t_s))."""
    t_s = np.atleast_1d(np.asarray(t_s, float))
    r, _ = fleet.propagate(t_s, frame_node_s)
    rot = EarthRotation(fleet.timebase, t_s)._matrices(t_s)          # (3, 3, m) GCRS->ITRS
    x = np.einsum("ijm,nmj->nmi", rot, r)
    lat = np.degrees(np.arctan2(x[..., 2], np.hypot(x[..., 0], x[..., 1])))
    lon = np.degrees(np.arctan2(x[..., 1], x[..., 0]))
    return lat, lon


def region_intervals(fleet, scenario, region, per_chunk=None) -> Intervals:
    """Intervals during which each satellite's sub-satellite point is inside ``region``.
    ``per_chunk``: grid points per time chunk (default from ``geometry.chunk_mb`` and this
    fleet's size; a satellite chunk of a bigger fleet passes the whole fleet's, which makes
    its intervals those of the whole computation bit for bit)."""
    n = len(fleet)
    span = scenario.duration_s
    step = scenario.step_s
    grid = np.arange(0.0, span, step)
    grid = np.append(grid, span)
    opts = scenario.geometry
    per_chunk = per_chunk or chunk_steps_for(n, opts.chunk_mb)
    sats, times, entering = [], [], []
    initial = final = None
    prev = None                                   # (lat, lon, inside, t) of the last column
    for i0 in range(0, len(grid), per_chunk):
        t = grid[i0:i0 + per_chunk]
        lat, lon = subsatellite_latlon(fleet, t, opts.frame_node_s)
        ins = inside_region(lat, lon, region)
        if prev is not None:                      # stitch the chunk boundary
            lat = np.concatenate([prev[0], lat], axis=1)
            lon = np.concatenate([prev[1], lon], axis=1)
            ins = np.concatenate([prev[2], ins], axis=1)
            t = np.concatenate([[prev[3]], t])
        if initial is None:
            initial = ins[:, 0].copy()
        s_idx, k_idx = np.nonzero(ins[:, 1:] != ins[:, :-1])
        if len(s_idx):
            la0, la1 = lat[s_idx, k_idx], lat[s_idx, k_idx + 1]
            lo0, lo1 = lon[s_idx, k_idx], lon[s_idx, k_idx + 1]
            lo1 = lo0 + ((lo1 - lo0 + 180.0) % 360.0 - 180.0)          # unwrap
            was = ins[s_idx, k_idx]
            lo, hi = np.zeros(len(s_idx)), np.ones(len(s_idx))
            for _ in range(40):                   # bisection on the interpolated track
                mid = 0.5 * (lo + hi)
                lon_m = (lo0 + mid * (lo1 - lo0) + 180.0) % 360.0 - 180.0
                same = inside_region(la0 + mid * (la1 - la0), lon_m, region) == was
                lo = np.where(same, mid, lo)
                hi = np.where(same, hi, mid)
            tc = t[k_idx] + hi * (t[k_idx + 1] - t[k_idx])
            sats.append(s_idx)
            times.append(tc)
            entering.append(~was)
        prev = (lat[:, -1:], lon[:, -1:], ins[:, -1:], t[-1])
        final = ins[:, -1].copy()
    if initial is None:
        return Intervals.empty()

    def cat(xs, dt):
        return np.concatenate(xs) if xs else np.zeros(0, dt)

    return crossings_to_intervals(cat(sats, np.int64), cat(times, float),
                                  cat(entering, bool), initial, final, span)


def saa_region(scenario):
    """The scenario's SAA region when its radiation upsets use one (faults and radiation
    enabled, ``faults.radiation.saa`` set), else None."""
    faults = scenario.faults
    if faults.enabled and faults.radiation.enabled:
        return faults.radiation.saa
    return None


def region_shape(region):
    """The fields of ``region`` that :func:`inside_region` reads: the polygon when it is set
    (it replaces the box), else the box."""
    if region.polygon is not None:
        return {"polygon": [[float(a), float(b)] for a, b in region.polygon]}
    return {k: float(getattr(region, k))
            for k in ("lat_min_deg", "lat_max_deg", "lon_min_deg", "lon_max_deg")}


def region_cache_inputs(fleet, scenario, region):
    """Everything that determines :func:`region_intervals`, as a JSON-able dict (the cache
    key's input; ``scenario`` is the resolved one returned with ``fleet`` by
    :func:`~orbsched.geometry.constellation.build_constellation`)."""
    from importlib.metadata import version

    return {"kind": "regions", "format": REGIONS_FORMAT,
            **_cache.span_inputs(fleet, scenario, "SAA-interval"), "numpy": version("numpy"),
            "region": region_shape(region)}


def cached_region_intervals(fleet, scenario, region, cache_dir=None):
    """:func:`region_intervals`, through the on-disk cache when ``scenario.network.cache``
    is true (see the module docstring); returns ``(intervals, from_cache)``."""
    if not scenario.network.cache:
        return region_intervals(fleet, scenario, region), False
    inputs = region_cache_inputs(fleet, scenario, region)
    key = _cache.inputs_key(inputs)
    folder = _cache.entry_folder(_cache.cache_root(cache_dir), "regions", key)
    hit = _cache.load_intervals(folder, key, ("inside",), len(fleet), "SAA-interval")
    if hit is not None:
        return hit["inside"], True
    iv = region_intervals(fleet, scenario, region)
    _cache.save_intervals(folder, key, inputs, {"inside": iv}, "SAA-interval")
    return iv, False
