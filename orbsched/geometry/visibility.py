"""Who can see whom: laser-link topologies and ground-station geometry.

Inter-satellite links
    A pair can link when the straight segment between the two stays at least
    ``grazing_altitude_km`` above a sphere of the Earth's equatorial radius and their distance is
    at most ``max_range_km`` (kernels in :mod:`orbsched._kernels`).  Simplification: the grazing
    surface is a sphere, not the ellipsoid; near the poles the real atmosphere is up to 21 km
    lower, so a polar line of sight is cut a little early (a few seconds of link time).

    Which visible pairs become links is the topology (``network.topology``), applied at each
    grid instant by a :class:`LinkSelector`:

    * ``+grid`` (Walker shells): each satellite links to its two in-plane neighbours and to the
      satellites of the same index (``+ grid_shift``) in the two adjacent planes, while the pair
      is visible.  Across the seam of a delta shell (last plane to plane 0) the index also moves
      by the phasing factor F, which keeps the neighbour the geometrically matching one; star
      shells have no links across their seam (the planes there counter-rotate).  Other fleets
      (TLE, OMM, ...) get planes and slots inferred from their orbits
      (:mod:`orbsched.geometry.topology`).
    * ``file``: the links listed in ``network.isl_file`` (:mod:`orbsched.geometry.topology`), each
      up while its pair is visible.
    * ``nearest-k``: at most ``terminals`` links per satellite, sticky: a link is kept while its
      pair stays visible; free terminals are then filled greedily, nearest pair first, among
      each satellite's ``2 * terminals`` nearest visible satellites whose terminals are free.
      Simplification: a satellite whose nearest candidates are all busy stays short of links even
      if a farther free satellite is visible (it usually finds one a few steps later).
    * ``all-visible``: every visible pair; ``none``: no laser links.

Ground stations
    Sites are WGS84 geodetic positions rotated into GCRS with skyfield's ITRS frame (Earth
    rotation, precession, nutation; no polar motion with the built-in timescale, < 15 m).  The
    local vertical is the ellipsoid normal (``ground_horizon: geodetic``, skyfield's altaz) or the
    radial direction (``spherical``); they differ by up to 0.19 deg at 45 deg latitude.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _kernels
from ..scenario.constants import EARTH_EQUATORIAL_RADIUS_KM
from ..scenario.errors import ScenarioError

TOPOLOGIES = ("nearest-k", "+grid", "all-visible", "file", "none")


def min_radius_km(network):
    """Radius of the sphere a line of sight must clear: R_eq + grazing altitude."""
    return EARTH_EQUATORIAL_RADIUS_KM + network.grazing_altitude_km


# ---------------------------------------------------------------------------------- +grid
def walker_layout(scenario, n_sats):
    """(shell, plane, index) of every satellite of a fleet made of Walker shells only.

    The fleet lists shells in scenario order, each plane-major (the first flown plane's
    satellites first; ``plane_range`` leaves planes out).
    """
    shells, planes, index = [], [], []
    for s, c in enumerate(scenario.constellations):
        if c.type != "walker":
            raise ScenarioError(f"constellations[{s}] ({getattr(c, 'name', None) or c.type}): "
                                f"+grid needs Walker shells only; use nearest-k")
        q, j = np.divmod(np.arange(c.n_sats), c.sats_per_plane)
        shells.append(np.full(len(q), s))
        planes.append(q + c.flown_planes.start)
        index.append(j)
    shell = np.concatenate(shells)
    if len(shell) != n_sats:
        raise ScenarioError(f"+grid: the fleet has {n_sats} satellites but the Walker shells "
                            f"define {len(shell)} (were some excluded?)")
    return shell, np.concatenate(planes), np.concatenate(index)


def walker_grid_pairs(planes, sats_per_plane, phasing, pattern="delta", grid_shift=0,
                      plane_range=None):
    """+grid pairs ``(a, b)`` (``a < b``, sorted, int64) of one Walker shell, indices from 0
    in the shell's plane-major order (see the module docstring).  ``plane_range`` ``(start,
    stop)``: only those planes fly (indices from 0 at the first flown plane's first
    satellite); links join consecutive flown planes, and the seam of a delta shell (last
    plane to plane 0) only when every plane flies."""
    P, S = int(planes), int(sats_per_plane)
    start, stop = (0, P) if plane_range is None else (int(plane_range[0]), int(plane_range[1]))
    p = np.repeat(np.arange(start, stop, dtype=np.int64), S)
    j = np.tile(np.arange(S, dtype=np.int64), stop - start)

    def sid(pp, jj):
        return (pp - start) * S + jj % S

    ends = []
    if S > 1:
        ends.append((sid(p, j), sid(p, j + 1)))
    if P > 1:
        inner = p + 1 < stop
        ends.append((sid(p[inner], j[inner]), sid(p[inner] + 1, j[inner] + grid_shift)))
        if pattern == "delta" and start == 0 and stop == P:
            seam = p == P - 1
            ends.append((sid(p[seam], j[seam]),
                         sid(np.zeros(int(seam.sum()), np.int64), j[seam] + grid_shift + phasing)))
    if not ends:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    x = np.concatenate([e[0] for e in ends])
    y = np.concatenate([e[1] for e in ends])
    a, b = np.minimum(x, y), np.maximum(x, y)
    keep = a != b
    n = (stop - start) * S
    key = np.unique(a[keep] * n + b[keep])          # sorted by (a, b), each pair once
    return key // n, key % n


def grid_pairs(scenario, n_sats, grid_shift=0):
    """The +grid neighbour pairs ``(a, b)`` with ``a < b``, sorted, as int64 arrays, of a
    fleet of Walker shells only (any fleet: :func:`orbsched.geometry.topology.grid_links`)."""
    parts_a, parts_b = [], []
    base = 0
    for c in scenario.constellations:
        if c.type != "walker":
            walker_layout(scenario, n_sats)  # raises the explanatory error
        a, b = walker_grid_pairs(c.planes, c.sats_per_plane, c.phasing, c.pattern, grid_shift,
                                 c.plane_range)
        parts_a.append(a + base)
        parts_b.append(b + base)
        base += c.n_sats
    if base != n_sats:
        walker_layout(scenario, n_sats)
    a, b = np.concatenate(parts_a), np.concatenate(parts_b)
    order = np.lexsort((b, a))
    return a[order], b[order]


# ---------------------------------------------------------------------------------- links
class LinkSelector:
    """Applies a topology at successive grid instants; keeps the state of sticky links.

    ``step(r)`` takes the positions (n_sats, 3) km at the next grid instant and returns the
    links there as ``(a, b, d_km)`` with ``a < b``, sorted by ``(a, b)``.
    ``decides_starts`` is True when a link's start is a decision taken at a grid instant
    (nearest-k) rather than the moment its pair became visible.
    """

    def __init__(self, network, n_sats, scenario=None, pairs=None):
        if network.topology not in TOPOLOGIES:
            raise ScenarioError(f"network.topology must be one of {', '.join(TOPOLOGIES)}, got "
                                f"{network.topology!r}")
        self.topology = network.topology
        self.n_sats = int(n_sats)
        self.range_km = float(network.max_range_km)
        self.min_radius_km = min_radius_km(network)
        self.terminals = int(network.terminals)
        self.n_candidates = 2 * self.terminals
        self.decides_starts = self.topology == "nearest-k"
        self._a = np.zeros(0, np.int64)
        self._b = np.zeros(0, np.int64)
        if pairs is not None:
            if self.topology not in ("+grid", "file"):
                raise ScenarioError(f"fixed link pairs are for +grid or file topologies, not "
                                    f"{self.topology}")
            self._ga = np.ascontiguousarray(pairs[0], dtype=np.int64)
            self._gb = np.ascontiguousarray(pairs[1], dtype=np.int64)
        elif self.topology == "+grid":
            if scenario is None:
                raise ScenarioError("+grid needs the scenario (its Walker shells)")
            self._ga, self._gb = grid_pairs(scenario, n_sats, network.grid_shift)
        elif self.topology == "file":
            raise ScenarioError("topology file needs its link pairs "
                                "(orbsched.geometry.topology.read_isl_file)")

    def visible(self, r, a, b):
        """Visibility and distance of given pairs at positions ``r`` (same test as the links)."""
        return _kernels.isl_pairs_visible(r, a, b, self.range_km, self.min_radius_km)

    def step(self, r):
        t = self.topology
        if t == "none":
            z = np.zeros(0, np.int64)
            return z, z.copy(), np.zeros(0)
        if t == "all-visible":
            return _kernels.isl_candidates(r, self.range_km, self.min_radius_km)
        if t in ("+grid", "file"):
            ok, d = self.visible(r, self._ga, self._gb)
            return self._ga[ok], self._gb[ok], d[ok]
        return self._nearest_k(r)

    def _nearest_k(self, r):
        n, cap = self.n_sats, self.terminals
        a, b = self._a, self._b
        ok, d = self.visible(r, a, b)
        a, b, d = a[ok], b[ok], d[ok]
        deg = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
        free = deg < cap
        if free.any():
            nbr, dist = _kernels.isl_nearest(r, self.range_km, self.min_radius_km,
                                             self.n_candidates)
            rows = np.nonzero(free)[0]
            ci = np.repeat(rows, nbr.shape[1])
            cj = nbr[rows].ravel()
            cd = dist[rows].ravel()
            m = cj >= 0
            ci, cj, cd = ci[m], cj[m], cd[m]
            m = free[cj]
            ci, cj, cd = ci[m], cj[m], cd[m]
            if len(ci):
                lo, hi = np.minimum(ci, cj), np.maximum(ci, cj)
                key = lo * n + hi
                key, first = np.unique(key, return_index=True)
                cd = cd[first]
                if len(a):
                    new = ~np.isin(key, a * n + b, assume_unique=True)
                    key, cd = key[new], cd[new]
                order = np.lexsort((key, cd))  # nearest first, ties by (a, b)
                key = key[order]
                add_a, add_b, add_d = [], [], []
                dg = deg.tolist()
                for kk, dd in zip(key.tolist(), cd[order].tolist()):
                    i, j = divmod(kk, n)
                    if dg[i] < cap and dg[j] < cap:
                        dg[i] += 1
                        dg[j] += 1
                        add_a.append(i)
                        add_b.append(j)
                        add_d.append(dd)
                if add_a:
                    a = np.concatenate([a, np.array(add_a, np.int64)])
                    b = np.concatenate([b, np.array(add_b, np.int64)])
                    d = np.concatenate([d, np.array(add_d)])
                    order = np.lexsort((b, a))
                    a, b, d = a[order], b[order], d[order]
        self._a, self._b = a, b
        return a, b, d


# ---------------------------------------------------------------------------------- ground
def station_itrs(stations, horizon="geodetic"):
    """ITRS positions (n_stations, 3) km and unit local verticals of WGS84 ground stations."""
    from skyfield.api import wgs84

    if horizon not in ("geodetic", "spherical"):
        raise ScenarioError(f"network.ground_horizon must be 'geodetic' or 'spherical', got "
                            f"{horizon!r}")
    pos, up = [], []
    for s in stations:
        g = wgs84.latlon(s.lat_deg, s.lon_deg, elevation_m=s.elevation_m)
        p = np.asarray(g.itrs_xyz.km, dtype=float)
        if horizon == "geodetic":
            lat, lon = math.radians(s.lat_deg), math.radians(s.lon_deg)
            u = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon),
                          math.sin(lat)])
        else:
            u = p / math.sqrt(float(p @ p))
        pos.append(p)
        up.append(u)
    return np.array(pos).reshape(-1, 3), np.array(up).reshape(-1, 3)


def itrs_to_gcrs(timebase, t_s, vectors):
    """Rotate ITRS vectors (n, 3) to GCRS at times t_s: (n, len(t_s), 3) (skyfield's frame)."""
    from skyfield.framelib import itrs

    t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
    rot = itrs.rotation_at(timebase.times(t_s))  # GCRS -> ITRS, (3, 3, T)
    if rot.ndim == 2:
        rot = rot[..., None]
    return np.einsum("jit,sj->sti", rot, vectors)


def itrs_to_gcrs_each(timebase, t_s, *vectors):
    """Rotate one ITRS vector per time: each of ``vectors`` (m, 3) at t_s (m,) -> (m, 3) GCRS.

    Returns one array per argument (the rotation is evaluated once for all of them)."""
    from skyfield.framelib import itrs

    t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
    rot = itrs.rotation_at(timebase.times(t_s))
    if rot.ndim == 2:
        rot = rot[..., None]
    return tuple(np.einsum("jim,mj->mi", rot, v) for v in vectors)


class EarthRotation:
    """GCRS <-> ITRS rotation on a set of node times, interpolated in between.

    skyfield's ``itrs.rotation_at(t) = R_z(-GAST) M(t)`` (M: precession-nutation) is evaluated
    exactly at the nodes (full IAU 2000A nutation, which costs ~0.4 ms per instant); between
    nodes GAST (unwrapped) and the elements of M are interpolated linearly.  GAST is linear in
    time to 1e-12 rad over a minute and M changes by ~1e-9 rad per minute, so for nodes a grid
    step apart the rotation error is below 1e-11 rad (well under a millimetre on the ground).
    No polar motion (skyfield's built-in timescale has none either).
    """

    def __init__(self, timebase, t_nodes_s):
        t = timebase.times(np.atleast_1d(np.asarray(t_nodes_s, dtype=float)))
        self.nodes = np.atleast_1d(np.asarray(t_nodes_s, dtype=float))
        self.theta = np.unwrap(np.atleast_1d(t.gast) * (2.0 * np.pi / 24.0))
        m = t.M
        self.m = m[..., None] if m.ndim == 2 else m  # (3, 3, n)

    def _matrices(self, t_s):
        t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
        n = len(self.nodes)
        if n == 1:
            k, w = np.zeros(len(t_s), int), np.zeros(len(t_s))
        else:
            k = np.clip(np.searchsorted(self.nodes, t_s, side="right") - 1, 0, n - 2)
            w = (t_s - self.nodes[k]) / (self.nodes[k + 1] - self.nodes[k])
        k1 = np.minimum(k + 1, n - 1)
        th = self.theta[k] * (1.0 - w) + self.theta[k1] * w
        m = self.m[..., k] * (1.0 - w) + self.m[..., k1] * w  # (3, 3, m)
        c, s = np.cos(th), np.sin(th)
        # skyfield's rot_z(-theta): rows (c, s, 0), (-s, c, 0), (0, 0, 1), applied to M
        r = np.empty_like(m)
        r[0] = c * m[0] + s * m[1]
        r[1] = -s * m[0] + c * m[1]
        r[2] = m[2]
        return r  # GCRS -> ITRS, (3, 3, m)

    def to_gcrs_each(self, t_s, *vectors):
        """One ITRS vector per time (m, 3) -> GCRS (m, 3), for each of ``vectors``."""
        rot = self._matrices(t_s)
        return tuple(np.einsum("jim,mj->mi", rot, v) for v in vectors)

    def to_gcrs(self, t_s, vectors):
        """ITRS vectors (n, 3) -> GCRS at every t_s: (n, len(t_s), 3)."""
        rot = self._matrices(t_s)
        return np.einsum("jit,sj->sti", rot, vectors)


def station_frames(timebase, stations, t_s, horizon="geodetic"):
    """Station positions and local verticals in GCRS at t_s, each (n_stations, len(t_s), 3)."""
    pos, up = station_itrs(stations, horizon)
    if len(pos) == 0:
        t = len(np.atleast_1d(t_s))
        return np.zeros((0, t, 3)), np.zeros((0, t, 3))
    return itrs_to_gcrs(timebase, t_s, pos), itrs_to_gcrs(timebase, t_s, up)


def min_elevation_deg(stations, default_deg=10.0):
    """Each station's mask angle (deg): its ``min_elevation_deg``, else ``default_deg``
    (``network.ground_min_elevation_deg``), (n_stations,)."""
    return np.array([default_deg if getattr(s, "min_elevation_deg", None) is None
                     else s.min_elevation_deg for s in stations], dtype=float)


def sin_min_elevation(stations, default_deg=10.0):
    """Sine of each station's mask angle (:func:`min_elevation_deg`), (n_stations,)."""
    return np.sin(np.radians(min_elevation_deg(stations, default_deg)))


def max_range_km(stations, default_km=None):
    """Each station's slant-range limit (km; inf: none): its ``max_range_km``, else
    ``default_km`` (``network.ground_max_range_km``), (n_stations,)."""
    out = [getattr(s, "max_range_km", None) for s in stations]
    out = [default_km if v is None else v for v in out]
    return np.array([math.inf if v is None else float(v) for v in out], dtype=float)


def ground_elevation_deg(r_sat, timebase, t_s, stations, horizon="geodetic"):
    """Elevation (deg) of each satellite above each station, (n_stations, n_sats, len(t_s))."""
    site, up = station_frames(timebase, stations, t_s, horizon)
    g = _kernels.ground_elevation(r_sat, site, up, np.zeros(len(stations)))
    return np.degrees(np.arcsin(np.clip(g, -1.0, 1.0)))
