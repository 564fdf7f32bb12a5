"""Positions on the geometry grid, kept for the engine and the path tool: links' lengths at
any instant without propagating an orbit.

:func:`compute_ephemeris` runs in the geometry stage: every satellite's GCRS position and
velocity at the scenario's grid instants (``step_s``, the grid of the contact plan), and every
ground station's (its WGS84 site rotated into GCRS by skyfield's ITRS frame, velocity
``omega x r``).  :class:`GridEphemeris` then gives any node's position at any instant of the
span by the cubic Hermite interpolation the geometry stage refines its edges with
(:func:`orbsched.geometry.search.hermite_coefficients`), so a link's length is
``|r_a(t) - r_b(t)|``.

Storage and accuracy
    Float32, time-major: ``r`` and ``v`` of shape ``(n_times, n_nodes, 3)``, 24 bytes per node
    and grid instant: **34.6 KB per satellite-day at a 60 s grid** (100,000 satellites x 24 h:
    3.5 GB, computed straight into the cache's files and memory-mapped from them: a run
    touches two grid instants at a time; with ``network.cache: false`` it is in memory).  Float32
    rounds a LEO position to 0.25 m and a velocity to 0.24 mm/s.  The interpolation error of a
    60 s grid for LEO is below 1 m (``tests/test_ranges.py`` measures the maximum against
    SGP4 over a day at 550 km: 0.64 m in position, 0.53 m in a +grid link's length, float32
    rounding included), i.e. under 2 ns of light time.

Cache
    ``<cache root>/ephemeris/<key[:32]>/`` (``r.npy``, ``v.npy``; :mod:`orbsched.geometry.cache`),
    keyed by the span inputs of every geometry product and the stations' sites; like every
    cache entry it verifies itself on load against its ``SHA256SUMS`` (a bad entry is reported
    once, removed and computed again).  ``network.cache: false``: computed in memory, nothing
    written.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..scenario.constants import EARTH_ROTATION_RAD_S
from ..scenario.errors import PropagationError
from . import cache as _cache
from . import visibility
from .astro import pole_gcrs
from .illumination import _grid
from .search import hermite_coefficients

__all__ = ["GridEphemeris", "compute_ephemeris", "ephemeris_inputs", "EPHEMERIS_FORMAT"]

EPHEMERIS_FORMAT = 1     # bump when the arrays' meaning, layout or dtype change
_DTYPE = np.float32


class GridEphemeris:
    """Node positions on a time grid, interpolated between grid instants (module docstring).

    Nodes are the satellites ``0 .. n_sats-1`` (fleet order) then the ground stations
    ``n_sats ..`` (scenario order), the numbering of :class:`orbsched.network.laser.LaserNetwork`.
    """

    def __init__(self, t_s, r_km, v_km_s, n_sats, station_names=()):
        self.t_s = np.ascontiguousarray(t_s, dtype=np.float64)
        self.r = r_km
        self.v = v_km_s
        self.n_sats = int(n_sats)
        self.station_names = list(station_names)
        self.n_nodes = self.n_sats + len(self.station_names)
        if self.r.shape != (len(self.t_s), self.n_nodes, 3) or self.v.shape != self.r.shape:
            raise PropagationError(f"ephemeris arrays must have shape ({len(self.t_s)}, "
                                   f"{self.n_nodes}, 3), got {self.r.shape} and {self.v.shape}")
        if len(self.t_s) < 2:
            raise PropagationError("an ephemeris needs at least two grid instants")
        self._k = -1              # the grid interval whose coefficients are cached
        self._lo = self._hi = math.nan
        self._c = None
        self._cs = None           # the same, stacked (n_nodes, 4, 3), for few nodes at once
        #: True when the tables were loaded from the cache.
        self.from_cache = False

    @property
    def nbytes(self) -> int:
        """Bytes of the position and velocity tables."""
        return int(self.r.nbytes + self.v.nbytes)

    @property
    def span_s(self) -> tuple:
        return float(self.t_s[0]), float(self.t_s[-1])

    def _interval(self, t_s):
        t = float(t_s)
        if self._lo <= t <= self._hi:      # the cached interval (time moves forward)
            return self._k
        lo, hi = self.t_s[0], self.t_s[-1]
        if not (lo - 1e-6 <= t <= hi + 1e-6):
            raise PropagationError(f"ephemeris: t = {t:g} s is outside the grid's "
                                   f"{lo:g} .. {hi:g} s")
        return min(max(int(np.searchsorted(self.t_s, t, side="right")) - 1, 0),
                   len(self.t_s) - 2)

    def _coefficients(self, k):
        """Hermite coefficients of every node over grid interval ``k`` (cached: time moves
        forward, so one interval serves many queries)."""
        if k != self._k:
            h = self.t_s[k + 1] - self.t_s[k]
            r0 = np.asarray(self.r[k], dtype=np.float64)
            r1 = np.asarray(self.r[k + 1], dtype=np.float64)
            v0 = np.asarray(self.v[k], dtype=np.float64)
            v1 = np.asarray(self.v[k + 1], dtype=np.float64)
            self._c = hermite_coefficients(r0, v0, r1, v1, h)
            self._cs = np.stack(self._c, axis=1)
            self._k = k
            self._lo, self._hi = float(self.t_s[k]), float(self.t_s[k + 1])
        return self._c

    def positions(self, t_s, nodes=None) -> np.ndarray:
        """GCRS positions (km, float64) of ``nodes`` (default all) at one instant ``t_s``,
        shape ``(len(nodes), 3)``."""
        k = self._interval(t_s)
        c0, c1, c2, c3 = self._coefficients(k)
        s = (float(t_s) - self.t_s[k]) / (self.t_s[k + 1] - self.t_s[k])
        if nodes is not None:
            nodes = np.asarray(nodes, dtype=np.int64)
            c0, c1, c2, c3 = c0[nodes], c1[nodes], c2[nodes], c3[nodes]
        return c0 + s * (c1 + s * (c2 + s * c3))

    def pair_range_km(self, a: int, b: int, t_s: float) -> float:
        """Distance (km) between two nodes at ``t_s`` (:meth:`range_km` for one pair, faster)."""
        k = self._interval(t_s)
        self._coefficients(k)
        s = (float(t_s) - self._lo) / (self._hi - self._lo)
        (a0, a1, a2, a3), (b0, b1, b2, b3) = self._cs[a].tolist(), self._cs[b].tolist()
        d2 = 0.0
        for i in range(3):   # a few floats: plain Python beats numpy's per-call overhead
            x = (a0[i] - b0[i]) + s * ((a1[i] - b1[i]) + s * ((a2[i] - b2[i])
                                                             + s * (a3[i] - b3[i])))
            d2 += x * x
        return math.sqrt(d2)

    def path_length_km(self, path, t_s: float) -> float:
        """Length (km) of the polyline through the nodes ``path`` at ``t_s`` (plain Python
        over a few nodes: cheaper than numpy's per-call overhead)."""
        if len(path) < 2:
            return 0.0
        k = self._interval(t_s)
        self._coefficients(k)
        s = (float(t_s) - self._lo) / (self._hi - self._lo)
        cs = self._cs
        total = 0.0
        prev = None
        for node in path:
            (a0, a1, a2), (b0, b1, b2), (c0, c1, c2), (d0, d1, d2) = cs[node].tolist()
            x = a0 + s * (b0 + s * (c0 + s * d0))
            y = a1 + s * (b1 + s * (c1 + s * d1))
            z = a2 + s * (b2 + s * (c2 + s * d2))
            if prev is not None:
                total += math.sqrt((x - prev[0]) ** 2 + (y - prev[1]) ** 2 + (z - prev[2]) ** 2)
            prev = (x, y, z)
        return total

    def range_km(self, a, b, t_s) -> np.ndarray:
        """Distances (km) between nodes ``a[i]`` and ``b[i]`` at one instant ``t_s``."""
        a = np.atleast_1d(np.asarray(a, dtype=np.int64))
        b = np.atleast_1d(np.asarray(b, dtype=np.int64))
        p = self.positions(t_s, np.concatenate([a, b]))
        d = p[:len(a)] - p[len(a):]
        return np.sqrt((d * d).sum(axis=1))


# ------------------------------------------------------------------------------ computing
def ephemeris_inputs(fleet, scenario) -> dict:
    """Everything the grid ephemeris depends on, as a JSON-able dict (the cache key's input)."""
    return {"kind": "ephemeris", "format": EPHEMERIS_FORMAT, "dtype": np.dtype(_DTYPE).name,
            **_cache.span_inputs(fleet, scenario, "ephemeris"),
            "stations": [[s.name, float(s.lat_deg), float(s.lon_deg), float(s.elevation_m)]
                         for s in scenario.ground_stations]}


def _shape(fleet, scenario):
    t = _grid(float(scenario.duration_s), float(scenario.step_s))
    return t, (len(t), len(fleet) + len(scenario.ground_stations), 3)


def _fill(fleet, scenario, r, v):
    """Fill ``r`` and ``v`` (arrays or memory maps of :func:`_shape`) chunk by chunk."""
    t, _ = _shape(fleet, scenario)
    n = len(fleet)
    stations = list(scenario.ground_stations)
    node = scenario.geometry.frame_node_s
    per_step = max(n, 1) * 8 * 3 * 8          # TEME and GCRS r, v in float64, and copies
    chunk = max(8, int(scenario.geometry.chunk_mb * 1e6 / per_step))
    for a in range(0, len(t), chunk):
        b = min(a + chunk, len(t))
        ra, va = fleet.propagate(t[a:b], node)            # (n, T, 3)
        r[a:b, :n] = np.swapaxes(ra, 0, 1)
        v[a:b, :n] = np.swapaxes(va, 0, 1)
    if stations:
        site_itrs, _ = visibility.station_itrs(stations)
        earth = visibility.EarthRotation(fleet.timebase, t)
        site = earth.to_gcrs(t, site_itrs)                # (K, T, 3)
        omega = EARTH_ROTATION_RAD_S * pole_gcrs(fleet.timebase, t, node)   # (T, 3)
        r[:, n:] = np.swapaxes(site, 0, 1)
        v[:, n:] = np.cross(omega[:, None, :], np.swapaxes(site, 0, 1))


def _compute(fleet, scenario):
    """The tables in memory (no cache)."""
    t, shape = _shape(fleet, scenario)
    r = np.empty(shape, dtype=_DTYPE)
    v = np.empty(shape, dtype=_DTYPE)
    _fill(fleet, scenario, r, v)
    return t, r, v


def _load(folder, key, shape):
    """The cached tables, memory-mapped, or None on a miss.  The entry verifies itself first
    (:func:`orbsched.geometry.cache.open_entry`: every file against its ``SHA256SUMS``; a bad
    entry is reported once and removed); tables of the wrong type or shape are discarded."""
    if _cache.open_entry(folder, key, "ephemeris") is None:
        return None
    try:
        r = np.load(Path(folder) / "r.npy", mmap_mode="r", allow_pickle=False)
        v = np.load(Path(folder) / "v.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        _cache.discard_entry(folder, "ephemeris", f"verified, but a table is unreadable: {exc}")
        return None
    if r.dtype != _DTYPE or v.dtype != _DTYPE or r.shape != shape or v.shape != shape:
        _cache.discard_entry(folder, "ephemeris", f"tables of {r.dtype} {r.shape}, expected "
                                                  f"{np.dtype(_DTYPE)} {shape}")
        return None
    return r, v


def compute_ephemeris(fleet, scenario, cache_dir=None) -> GridEphemeris:
    """The grid ephemeris of ``fleet`` and the scenario's ground stations (module docstring),
    from the cache when ``scenario.network.cache`` is true and it holds it (else computed
    into it, straight into memory-mapped files, and mapped from there); ``scenario`` is the
    resolved one returned with the fleet by
    :func:`~orbsched.geometry.constellation.build_constellation`."""
    names = [s.name for s in scenario.ground_stations]
    n = len(fleet)
    t, shape = _shape(fleet, scenario)
    if scenario.network.cache:
        inputs = ephemeris_inputs(fleet, scenario)
        key = _cache.inputs_key(inputs)
        folder = _cache.entry_folder(_cache.cache_root(cache_dir), "ephemeris", key)
        hit = _load(folder, key, shape)
        if hit is not None:
            out = GridEphemeris(t, hit[0], hit[1], n, names)
            out.from_cache = True
            return out

        def write(tmp):
            r = np.lib.format.open_memmap(tmp / "r.npy", mode="w+", dtype=_DTYPE, shape=shape)
            v = np.lib.format.open_memmap(tmp / "v.npy", mode="w+", dtype=_DTYPE, shape=shape)
            _fill(fleet, scenario, r, v)
            r.flush()
            v.flush()
            del r, v

        _cache.save_entry(folder, key, inputs, write, "ephemeris",
                          bytes=int(2 * np.prod(shape) * np.dtype(_DTYPE).itemsize))
        hit = _load(folder, key, shape)
        if hit is not None:
            return GridEphemeris(t, hit[0], hit[1], n, names)
    t, r, v = _compute(fleet, scenario)
    return GridEphemeris(t, r, v, n, names)


def kb_per_satellite_day(step_s: float) -> float:
    """Bytes of the table per satellite and simulated day, in KB (24 B per grid instant)."""
    return 24.0 * (math.floor(86400.0 / step_s) + 1) / 1000.0
