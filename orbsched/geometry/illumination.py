"""Sunlight and shadow: illumination fraction and eclipse intervals.

Model
    The Sun is a disk (DE421 position, IAU radius); the Earth is the WGS84 ellipsoid by default
    or a sphere of the equatorial radius on request.  Seen from a satellite, the Sun's disk of
    angular radius ``a`` and the Earth's of ``b`` lie ``c`` apart; the illuminated fraction is
    one minus their overlap divided by the Sun's disk (Montenbruck & Gill, Satellite Orbits,
    sec. 3.4.2).  Umbra: the Sun fully covered; penumbra: partly.  Not modelled: atmospheric
    refraction and absorption (a real limb dims the Sun some 20-30 km higher, i.e. roughly 2-4 s
    earlier per edge in LEO), limb darkening of the Sun, and the Moon's shadow.

    The point-Sun test of skyfield's ``is_sunlit`` (the Sun's centre behind the Earth) is also
    computed (``eclipse_model: point``) so results can be compared with skyfield directly.

    Options that match other tools: the sphere's radius (``geometry.earth_radius_km``, sphere
    only; Orekit's eclipse tests use 6,400 km; only the shadow uses it: station sites stay
    WGS84 and lines of sight clear the equatorial radius) and the Sun's *apparent* direction
    (``geometry.sun_direction: apparent``: light time and annual aberration, 20 arcsec, as
    GMAT applies them; edges move by 0.002-0.24 s depending on how the orbit crosses the
    terminator, ``tests/test_eclipse_references.py``).  The default is the geometric
    direction, as skyfield's ``is_sunlit``.

Eclipse intervals
    The three signed shadow functions of :func:`orbsched._kernels.shadow_functions` are evaluated
    on the scenario's grid (``step_s``), chunk by chunk.  Each sign change is bracketed and then
    refined by bisection to ``refine_tol_s`` (default 0.01 s) on a cubic Hermite interpolation of
    the satellite's position and velocity between the two grid points (the Sun and the pole are
    interpolated linearly).  For LEO and a 60 s grid the Hermite position error is below 1 m,
    i.e. well under 1 ms on an edge.  Short "grazing" eclipses that begin and end between two
    grid points are found too: every local maximum of a shadow function that stays negative on
    the grid is searched (golden section) for a positive excursion.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._kernels import shadow_functions
from ..scenario.constants import (
    EARTH_EQUATORIAL_RADIUS_KM,
    EARTH_POLAR_RADIUS_KM,
    SUN_RADIUS_KM,
)
from . import astro, search

FUNCTIONS = ("point", "eclipse", "umbra")  # g_point, g_pen (penumbra or umbra), g_umb
_GRAZING_MARGIN = 0.05  # cos-units; a shadow function changes by < 0.04 per minute in LEO


def earth_radii(shape, radius_km=None):
    """(equatorial, polar) radii in km for ``wgs84`` or ``sphere`` (of ``radius_km``, default
    the WGS84 equatorial radius; ``geometry.earth_radius_km``)."""
    if radius_km is not None and shape != "sphere":
        raise ValueError(f"a radius applies to the sphere only, not to {shape!r}")
    if shape == "sphere":
        r = EARTH_EQUATORIAL_RADIUS_KM if radius_km is None else float(radius_km)
        return r, r
    if shape == "wgs84":
        return EARTH_EQUATORIAL_RADIUS_KM, EARTH_POLAR_RADIUS_KM
    raise ValueError(f"earth shape must be 'wgs84' or 'sphere', got {shape!r}")


def shadow_angles(r_sat, r_sun, pole, earth_shape="wgs84"):
    """Apparent radii of the Sun (a) and Earth (b) and their separation (c), radians.

    Shapes as :func:`orbsched._kernels.shadow_functions`; returns three (n_sats, n_times) arrays.
    """
    eq, pol = earth_radii(earth_shape)
    r_sat = np.asarray(r_sat, dtype=float)
    r_sun = np.asarray(r_sun, dtype=float)
    pole = np.asarray(pole, dtype=float)
    q = eq / pol - 1.0
    s = r_sun + (q * np.einsum("ti,ti->t", r_sun, pole))[:, None] * pole
    r = r_sat + (q * np.einsum("nti,ti->nt", r_sat, pole))[..., None] * pole
    u = s - r
    un = np.linalg.norm(u, axis=-1)
    en = np.linalg.norm(r, axis=-1)
    cosc = -np.einsum("nti,nti->nt", r, u) / (un * en)
    a = np.arcsin(np.clip(SUN_RADIUS_KM / un, -1, 1))
    b = np.arcsin(np.clip(eq / en, -1, 1))
    return a, b, np.arccos(np.clip(cosc, -1, 1))


def disk_overlap_fraction(a, b, c):
    """Fraction of a disk of radius ``a`` left visible by a disk of radius ``b`` at distance c.

    Small-angle (planar) geometry of two circles; 1 = full sun, 0 = umbra.
    """
    a, b, c = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float),
                                  np.asarray(c, float))
    out = np.ones(a.shape)
    full = c <= b - a
    out[full] = 0.0
    part = (c < a + b) & ~full
    annular = part & (c <= a - b)
    out[annular] = 1.0 - (b[annular] / a[annular]) ** 2
    p = part & ~annular
    ap, bp, cp = a[p], b[p], c[p]
    x = (cp * cp + ap * ap - bp * bp) / (2.0 * cp)
    y = np.sqrt(np.maximum(ap * ap - x * x, 0.0))
    area = (ap * ap * np.arccos(np.clip(x / ap, -1, 1))
            + bp * bp * np.arccos(np.clip((cp - x) / bp, -1, 1)) - cp * y)
    out[p] = 1.0 - area / (math.pi * ap * ap)
    return np.clip(out, 0.0, 1.0)


def illumination_fraction(r_sat, r_sun, pole, earth_shape="wgs84"):
    """Fraction of the Sun's disk visible from each satellite, in [0, 1], (n_sats, n_times)."""
    return disk_overlap_fraction(*shadow_angles(r_sat, r_sun, pole, earth_shape))


def point_sun_sunlit(r_sat, r_sun, pole, earth_shape="sphere"):
    """skyfield's ``is_sunlit`` test (Sun's centre not behind the Earth), (n_sats, n_times)."""
    eq, pol = earth_radii(earth_shape)
    g_point, _, _ = shadow_functions(r_sat, r_sun, pole, eq, pol, SUN_RADIUS_KM)
    return g_point <= 0.0


# ----------------------------------------------------------------------------------------------
@dataclass
class Intervals:
    """Shadow intervals of one kind: arrays of equal length, times in s since the start."""

    sat: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    start_clipped: np.ndarray  # True when the interval was already under way at the start
    end_clipped: np.ndarray    # True when it still goes on at the end of the span

    @property
    def duration_s(self):
        return self.end_s - self.start_s

    def __len__(self):
        return len(self.sat)

    @classmethod
    def empty(cls):
        z = np.zeros(0)
        return cls(z.astype(np.int64), z, z.copy(), z.astype(bool), z.astype(bool))


class _Segments:
    """Per-item local trajectories on 2 or 3 grid points: cubic Hermite positions (coefficients
    precomputed once), linear Sun and pole.  ``state(tau)`` evaluates them at one time per item."""

    def __init__(self, t, r, v, sun, pole):
        self.t, self.r, self.v, self.sun, self.pole = t, r, v, sun, pole  # (M,P[,3])
        h = (t[:, 1:] - t[:, :-1])[..., None]                               # (M,P-1,1)
        self._c = search.hermite_coefficients(r[:, :-1], v[:, :-1], r[:, 1:], v[:, 1:], h)

    def state(self, tau):
        m, p = self.t.shape
        seg = (tau[:, None] >= self.t[:, 1:-1]).sum(axis=1) if p > 2 else np.zeros(m, int)
        rows = np.arange(m)
        t0, t1 = self.t[rows, seg], self.t[rows, seg + 1]
        s = ((tau - t0) / (t1 - t0))[:, None]
        c0, c1, c2, c3 = (c[rows, seg] for c in self._c)
        r = c0 + s * (c1 + s * (c2 + s * c3))
        sun = self.sun[rows, seg] * (1 - s) + self.sun[rows, seg + 1] * s
        pole = self.pole[rows, seg] * (1 - s) + self.pole[rows, seg + 1] * s
        pole /= np.sqrt((pole * pole).sum(axis=1))[:, None]
        return r, sun, pole

    def take(self, mask):
        out = object.__new__(_Segments)
        out.t, out.r, out.v, out.sun, out.pole = (x[mask] for x in (self.t, self.r, self.v,
                                                                     self.sun, self.pole))
        out._c = tuple(c[mask] for c in self._c)
        return out


def _eval(seg, tau, which, radii):
    r, sun, pole = seg.state(tau)
    g = shadow_functions(r[None], sun, pole, radii[0], radii[1], SUN_RADIUS_KM)[which]
    return g[0]


def _bisect(seg, lo, hi, g_lo, which, radii, tol):
    """Refine the sign change of shadow function ``which`` inside each segment to ``tol`` s."""
    def fn(tau, idx):
        return _eval(seg if len(idx) == len(lo) else seg.take(idx), tau, which, radii)

    return search.find_roots(fn, lo, hi, tol, pos_lo=np.asarray(g_lo) > 0, subset=True)


def _golden_max(seg, lo, hi, which, radii, tol):
    """Maximum of shadow function ``which`` on [lo, hi] (golden section), per item."""
    return search.golden_max(lambda tau: _eval(seg, tau, which, radii), lo, hi, tol)


def _grid(duration_s, step_s):
    t = np.arange(0.0, duration_s, step_s)
    if duration_s - t[-1] > 1e-9:
        t = np.append(t, duration_s)
    return t


def chunk_steps_for(n_sats, chunk_mb):
    """Time steps per chunk so that one chunk's arrays stay within ``chunk_mb``."""
    per_step = n_sats * 8 * (3 * 4 + 3 * 3)  # r, v (TEME and GCRS) + three g's + temporaries
    return max(8, int(chunk_mb * 1e6 / per_step))


def find_shadow_crossings(propagate, n_sats, timebase, duration_s, step_s, earth_shape="wgs84",
                          tol_s=0.01, chunk_steps=256, frame_node_s=3600.0, progress=None,
                          earth_radius_km=None, sun_direction="geometric"):
    """Find every sign change of the three shadow functions, refined to ``tol_s``.

    ``propagate(t_s) -> (r, v)`` gives GCRS states (n_sats, len(t_s), 3).  Returns, for each of
    :data:`FUNCTIONS`, a tuple ``(sat, t_s, entering, initial_in, final_in)``.
    ``earth_radius_km``: the sphere's radius (``earth_shape`` sphere only); ``sun_direction``
    ``geometric`` or ``apparent`` (:func:`orbsched.geometry.astro.sun_positions_km`).
    """
    radii = earth_radii(earth_shape, earth_radius_km)
    t = _grid(duration_s, step_s)
    n_pts = len(t)
    out = {f: ([], [], []) for f in range(3)}
    initial = final = None
    for a in range(0, n_pts - 1, chunk_steps):
        b = min(a + chunk_steps, n_pts - 1)  # owned intervals k in [a, b)
        lo, hi = max(a - 1, 0), min(b + 1, n_pts - 1)  # points lo..hi inclusive
        idx = np.arange(lo, hi + 1)
        tt = t[idx]
        r, v = propagate(tt)
        sun = astro.sun_positions_km(timebase, tt, node_s=step_s,
                                     apparent=sun_direction == "apparent")
        pole = astro.pole_gcrs(timebase, tt, node_s=frame_node_s)
        gs = shadow_functions(r, sun, pole, radii[0], radii[1], SUN_RADIUS_KM)
        if a == 0:
            initial = [g[:, 0] > 0 for g in gs]
        if b == n_pts - 1:
            final = [g[:, -1] > 0 for g in gs]
        for f, g in enumerate(gs):
            pos = g > 0
            j = np.arange(a - lo, b - lo)  # local index of the left point of owned intervals
            sat_i, jj = np.nonzero(pos[:, j] != pos[:, j + 1])
            jl = j[jj]
            if len(sat_i):
                seg = _Segments(np.stack([tt[jl], tt[jl + 1]], 1),
                                np.stack([r[sat_i, jl], r[sat_i, jl + 1]], 1),
                                np.stack([v[sat_i, jl], v[sat_i, jl + 1]], 1),
                                np.stack([sun[jl], sun[jl + 1]], 1),
                                np.stack([pole[jl], pole[jl + 1]], 1))
                root = _bisect(seg, tt[jl].copy(), tt[jl + 1].copy(), g[sat_i, jl], f, radii, tol_s)
                out[f][0].append(sat_i)
                out[f][1].append(root)
                out[f][2].append(~pos[sat_i, jl])
            # grazing: local maxima that stay negative on the grid
            jm = j[(j >= 1) & (j + 1 < len(tt))]
            if len(jm):
                cand = ((g[:, jm] > g[:, jm - 1]) & (g[:, jm] >= g[:, jm + 1]) & (g[:, jm] <= 0)
                        & (g[:, jm] > -_GRAZING_MARGIN) & (g[:, jm - 1] <= 0) & (g[:, jm + 1] <= 0))
                sat_i, jj = np.nonzero(cand)
                if len(sat_i):
                    jc = jm[jj]
                    tri = np.stack([jc - 1, jc, jc + 1], 1)
                    seg = _Segments(tt[tri], r[sat_i[:, None], tri], v[sat_i[:, None], tri],
                                    sun[tri], pole[tri])
                    xm, gm = _golden_max(seg, tt[jc - 1].copy(), tt[jc + 1].copy(), f, radii,
                                         tol_s * 0.1)
                    hit = gm > 0
                    if hit.any():
                        s2 = seg.take(hit)
                        lo_t, hi_t, x = tt[jc - 1][hit], tt[jc + 1][hit], xm[hit]
                        g_lo = np.full(hit.sum(), -1.0)
                        enter = _bisect(s2, lo_t.copy(), x.copy(), g_lo, f, radii, tol_s)
                        leave = _bisect(s2, x.copy(), hi_t.copy(), -g_lo, f, radii, tol_s)
                        out[f][0].extend([sat_i[hit], sat_i[hit]])
                        out[f][1].extend([enter, leave])
                        out[f][2].extend([np.ones(hit.sum(), bool), np.zeros(hit.sum(), bool)])
        if progress is not None:
            progress(b - a)
    def cat(xs, dt):
        return np.concatenate(xs) if xs else np.zeros(0, dt)

    result = {}
    for f, name in enumerate(FUNCTIONS):
        sats, times, enters = out[f]
        result[name] = (cat(sats, np.int64), cat(times, float), cat(enters, bool),
                        initial[f], final[f])
    return result


def crossings_to_intervals(sat, t_s, entering, initial_in, final_in, duration_s):
    """Pair entering/leaving crossings into intervals, closing those open at either end."""
    n_sats = len(initial_in)
    s0 = np.nonzero(initial_in)[0]
    s1 = np.nonzero(final_in)[0]
    sat = np.concatenate([sat, s0, s1])
    t = np.concatenate([t_s, np.zeros(len(s0)), np.full(len(s1), float(duration_s))])
    ent = np.concatenate([entering, np.ones(len(s0), bool), np.zeros(len(s1), bool)])
    # order: by satellite, then time; at equal time a closing crossing goes first
    order = np.lexsort((ent, t, sat))
    sat, t, ent = sat[order], t[order], ent[order]
    if len(sat) % 2 or not (ent[0::2].all() and not ent[1::2].any()) \
            or np.any(sat[0::2] != sat[1::2]):
        raise RuntimeError("shadow crossings do not alternate; lower step_s "
                           f"(satellites: {n_sats}, crossings: {len(sat)})")
    start, end, s = t[0::2], t[1::2], sat[0::2]
    return Intervals(s, start, end, (start == 0) & initial_in[s], (end == duration_s) & final_in[s])


def subtract_intervals(outer, inner):
    """Parts of ``outer`` intervals not covered by ``inner`` ones (same satellite).

    Used to cut penumbra out of an eclipse: eclipse minus umbra.  Intervals of one kind must not
    overlap each other (true of shadow intervals of one satellite).  Vectorised sweep over the
    sorted boundaries of both kinds.
    """
    n_o, n_i = len(outer), len(inner)
    sat = np.concatenate([outer.sat, outer.sat, inner.sat, inner.sat])
    t = np.concatenate([outer.start_s, outer.end_s, inner.start_s, inner.end_s])
    d_out = np.concatenate([np.ones(n_o, int), -np.ones(n_o, int), np.zeros(2 * n_i, int)])
    d_in = np.concatenate([np.zeros(2 * n_o, int), np.ones(n_i, int), -np.ones(n_i, int)])
    # boundary flags of the outer interval each event belongs to (for clipping flags)
    sc = np.concatenate([outer.start_clipped, np.zeros(n_o + 2 * n_i, bool)])
    ec = np.concatenate([np.zeros(n_o, bool), outer.end_clipped, np.zeros(2 * n_i, bool)])
    order = np.lexsort((d_out + d_in, t, sat))  # at equal times closings come first
    sat, t, d_out, d_in, sc, ec = (x[order] for x in (sat, t, d_out, d_in, sc, ec))
    in_out = np.cumsum(d_out) > 0   # state just after each event
    in_in = np.cumsum(d_in) > 0
    piece = in_out[:-1] & ~in_in[:-1] & (sat[:-1] == sat[1:]) & (t[1:] > t[:-1])
    k = np.nonzero(piece)[0]
    return Intervals(sat[k], t[k], t[k + 1], sc[k], ec[k + 1])
