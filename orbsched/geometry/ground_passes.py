"""Ground-station windows of the contact plan: elevation mask and slant-range limit.

A satellite and a station can link while both rules hold (each station's own values, else the
network's defaults ``network.ground_min_elevation_deg`` and ``network.ground_max_range_km``):

* elevation above the station's mask: ``g_el = sin(elevation) - sin(mask) >= 0`` (geometric
  elevation, :func:`orbsched._kernels.ground_elevation`; a mask of -90 deg is no mask);
* slant range at most ``max_range_km``: ``g_rng = (max_range_km - d) / RANGE_SCALE_KM >= 0``.

The window function is ``g = min(g_el, g_rng)`` (``g_el`` alone without a range limit).  Its
sign changes between grid points are refined on cubic Hermite positions to the plan's
tolerance, as the elevation-only windows always were; grid maxima of ``g`` above
:func:`ground_search_margin` are searched (golden section) for passes that begin and end
between two grid points.  ``max_elevation_deg`` of a window is the highest elevation inside
it: refined elevation maxima inside the window, and the elevation at its ends (which a range
limit can cut above the mask).
"""
from __future__ import annotations

import numpy as np

from .. import _kernels
from .illumination import crossings_to_intervals
from .search import find_roots, golden_max, hermite

__all__ = ["GroundSearch", "GROUND_COLUMNS", "RANGE_SCALE_KM", "ground_search_margin"]

#: Columns of the contact plan's ground-window table.
GROUND_COLUMNS = ["station", "station_id", "sat", "start_s", "end_s", "max_elevation_deg",
                  "start_clipped", "end_clipped"]

#: Normalisation of the slant-range margin, so that it changes about as fast as
#: sin(elevation) (a LEO satellite's range changes by up to ~7.5 km/s, i.e. ~0.06 per minute).
RANGE_SCALE_KM = 8000.0


def ground_search_margin(step_s):
    """Grid maxima of sin(elevation) - sin(mask) above -margin are searched for a pass between
    grid points.  A LEO satellite's sin(elevation) changes by less than ~0.5 per minute near a
    station, so 0.1 + 0.005 per second of grid step is conservative (at 300 s every maximum
    is searched)."""
    return 0.1 + 0.005 * float(step_s)


def _sin_el_minus(r, site, up, sin_min):
    """Elementwise twin of the ground kernel's formula, rows (m, 3)."""
    rx = r[:, 0] - site[:, 0]
    ry = r[:, 1] - site[:, 1]
    rz = r[:, 2] - site[:, 2]
    dot = (rx * up[:, 0] + ry * up[:, 1]) + rz * up[:, 2]
    return dot / np.sqrt((rx * rx + ry * ry) + rz * rz) - sin_min


def _range_margin(r, site, max_range_km):
    """``(max_range - d) / RANGE_SCALE_KM`` of rows (m, 3); +inf where there is no limit."""
    d = np.sqrt(((r - site) ** 2).sum(axis=-1))
    with np.errstate(invalid="ignore"):
        g = (max_range_km - d) / RANGE_SCALE_KM
    return np.where(np.isfinite(max_range_km), g, np.inf)


class GroundSearch:
    """Crossings and maxima of the ground window functions, chunk by chunk (items are
    ``station * n_sats + sat``); :meth:`windows` pairs them into the window table."""

    def __init__(self, stations, n_sats, site_itrs, up_itrs, sin_min, max_range_km, tol_s):
        self.stations = list(stations)
        self.n = int(n_sats)
        self.site_itrs, self.up_itrs = site_itrs, up_itrs
        self.sin_min = np.asarray(sin_min, dtype=float)
        self.max_range = np.asarray(max_range_km, dtype=float)
        self.limited = np.isfinite(self.max_range)
        self.tol_s = tol_s
        self.cross = ([], [], [], [])   # item, t, entering, sin(el) - sin(mask) there
        self.peaks = ([], [], [])       # item, t, sin(el) - sin(mask) (elevation maxima)
        self.initial = self.final = None
        self.el0 = self.el_end = None

    # ---------------------------------------------------------------------------- per chunk
    def functions(self, r, site, up):
        """``(g, g_el)`` on a chunk's grid, each (n_stations * n_sats, n_times); ``g_el`` is
        ``g`` itself when no station has a range limit."""
        g_el = _kernels.ground_elevation(r, site, up, self.sin_min)
        if not self.limited.any():
            g_el = g_el.reshape(len(self.stations) * self.n, -1)
            return g_el, g_el
        g = g_el.copy()
        for st in np.flatnonzero(self.limited):
            d = np.sqrt(((r - site[st][None]) ** 2).sum(axis=-1))
            np.minimum(g[st], (self.max_range[st] - d) / RANGE_SCALE_KM, out=g[st])
        k = len(self.stations) * self.n
        return g.reshape(k, -1), g_el.reshape(k, -1)

    def chunk(self, a, b, lo, n_pts, tt, r, v, earth):
        """Search grid points ``a .. b-1`` of a chunk whose local points start at ``lo``."""
        site = earth.to_gcrs(tt, self.site_itrs)
        up = earth.to_gcrs(tt, self.up_itrs)
        g, g_el = self.functions(r, site, up)
        if a == 0:
            self.initial = g[:, 0] > 0
            self.el0 = g_el[:, 0].copy()
        if b == n_pts:
            self.final = g[:, -1] > 0
            self.el_end = g_el[:, -1].copy()
        self._chunk(g, g_el, a, b, lo, tt, r, v, earth)

    def _fn(self, item, kl, tt, r, v, earth, el_only=False):
        n_loc = len(tt)
        st, sat = np.divmod(item, self.n)
        s_pos, s_up, smin = self.site_itrs[st], self.up_itrs[st], self.sin_min[st]
        rmax = self.max_range[st]
        limited = self.limited[st].any() and not el_only

        def fn(tau, k0=kl):
            # the segment containing tau: k0 or k0 + 1 (3-point segments for maxima)
            k = k0 + (tau > tt[np.minimum(k0 + 1, n_loc - 1)]).astype(int) * (k0 + 2 < n_loc)
            k = np.minimum(k, n_loc - 2)
            rr = hermite(tt[k], tt[k + 1], r[sat, k], v[sat, k], r[sat, k + 1],
                         v[sat, k + 1], tau)
            site, up = earth.to_gcrs_each(tau, s_pos, s_up)
            g = _sin_el_minus(rr, site, up, smin)
            if limited:
                g = np.minimum(g, _range_margin(rr, site, rmax))
            return g
        return fn

    def _chunk(self, g, g_el, a, b, lo, tt, r, v, earth):
        n_loc = g.shape[1]
        pos = g > 0
        tol_s = self.tol_s
        any_limit = self.limited.any()
        # owned intervals: left points a-1 .. b-2 (global), i.e. intervals ending at a .. b-1
        j = np.arange(max(a - 1, 0) - lo, b - 1 - lo)
        j = j[j + 1 < n_loc]
        if len(j):
            item, jj = np.nonzero(pos[:, j] != pos[:, j + 1])
            if len(item):
                kl = j[jj]
                fn = self._fn(item, kl, tt, r, v, earth)
                root = find_roots(fn, tt[kl], tt[kl + 1], tol_s, pos[item, kl])
                self._add_cross(item, root, ~pos[item, kl], kl, tt, r, v, earth, any_limit)
        # grid maxima owned by this chunk: interior points a .. b-1 with both neighbours present
        jm = np.arange(a - lo, b - lo)
        jm = jm[(jm >= 1) & (jm + 1 < n_loc)]
        if not len(jm):
            return
        margin = -ground_search_margin(tt[1] - tt[0])
        gm, gl, gr = g[:, jm], g[:, jm - 1], g[:, jm + 1]
        item, jj = np.nonzero((gm > gl) & (gm >= gr) & (gm > margin))
        if len(item):
            kc = jm[jj]
            fn = self._fn(item, kc - 1, tt, r, v, earth)
            xm, gx = golden_max(fn, tt[kc - 1], tt[kc + 1], tol_s * 0.1)
            above = gx > 0
            if not any_limit:   # g is the elevation function: its maxima are the peaks
                self.peaks[0].append(item[above])
                self.peaks[1].append(xm[above])
                self.peaks[2].append(gx[above])
            # grazing passes: the grid saw nothing above the rules around this maximum
            graze = above & (g[item, kc] <= 0) & (g[item, kc - 1] <= 0) & (g[item, kc + 1] <= 0)
            if graze.any():
                it, k0, x = item[graze], kc[graze] - 1, xm[graze]
                f2 = self._fn(it, k0, tt, r, v, earth)
                enter = find_roots(f2, tt[k0], x, tol_s, np.zeros(len(it), bool))
                leave = find_roots(f2, x, tt[k0 + 2], tol_s, np.ones(len(it), bool))
                self._add_cross(it, enter, np.ones(len(it), bool), k0, tt, r, v, earth,
                                any_limit)
                self._add_cross(it, leave, np.zeros(len(it), bool), k0, tt, r, v, earth,
                                any_limit)
        if any_limit:
            # elevation maxima for max_elevation_deg, near passes of the window function
            gm, gl, gr = g_el[:, jm], g_el[:, jm - 1], g_el[:, jm + 1]
            near = (g[:, jm] > margin) | (g[:, jm - 1] > margin) | (g[:, jm + 1] > margin)
            item, jj = np.nonzero((gm > gl) & (gm >= gr) & near)
            if len(item):
                kc = jm[jj]
                fn = self._fn(item, kc - 1, tt, r, v, earth, el_only=True)
                xm, gx = golden_max(fn, tt[kc - 1], tt[kc + 1], tol_s * 0.1)
                self.peaks[0].append(item)
                self.peaks[1].append(xm)
                self.peaks[2].append(gx)

    def _add_cross(self, item, t, entering, kl, tt, r, v, earth, any_limit):
        self.cross[0].append(item)
        self.cross[1].append(t)
        self.cross[2].append(entering)
        if any_limit:   # the elevation where a range limit may have cut the window
            el = self._fn(item, kl, tt, r, v, earth, el_only=True)(t)
        else:
            el = np.zeros(len(item))   # at the mask (the window function is the elevation)
        self.cross[3].append(el)

    # ------------------------------------------------------------------------------ result
    def windows(self, duration):
        """The ground window table (:data:`orbsched.geometry.contacts.GROUND_COLUMNS`)."""
        import pandas as pd

        stations, n = self.stations, self.n
        if not stations:
            return pd.DataFrame({c: pd.Series(dtype=d) for c, d in zip(
                GROUND_COLUMNS, [object, np.int64, np.int64, float, float, float, bool, bool])})
        def cat(xs, dt):
            return np.concatenate(xs) if xs else np.zeros(0, dt)

        c_item, c_t = cat(self.cross[0], np.int64), cat(self.cross[1], float)
        c_ent, c_el = cat(self.cross[2], bool), cat(self.cross[3], float)
        iv = crossings_to_intervals(c_item, c_t, c_ent, self.initial, self.final, duration)
        # the highest point of each window: elevation maxima inside it, its clipped ends, and
        # (with a range limit) the elevation at its refined ends
        best = np.zeros(len(iv))
        best = np.where(iv.start_clipped, np.maximum(best, self.el0[iv.sat]), best)
        best = np.where(iv.end_clipped, np.maximum(best, self.el_end[iv.sat]), best)
        if self.limited.any() and len(c_item):
            # the same pairing as crossings_to_intervals: by item, time, closing first
            s0, s1 = np.flatnonzero(self.initial), np.flatnonzero(self.final)
            it = np.concatenate([c_item, s0, s1])
            tt = np.concatenate([c_t, np.zeros(len(s0)), np.full(len(s1), float(duration))])
            en = np.concatenate([c_ent, np.ones(len(s0), bool), np.zeros(len(s1), bool)])
            el = np.concatenate([c_el, self.el0[s0], self.el_end[s1]])
            order = np.lexsort((en, tt, it))
            best = np.maximum(best, np.maximum(el[order][0::2], el[order][1::2]))
        p_item, p_t, p_g = (cat(self.peaks[0], np.int64), cat(self.peaks[1], float),
                            cat(self.peaks[2], float))
        if len(iv) and len(p_item):
            span = duration + 1.0
            wkey = iv.sat * span + iv.start_s
            order = np.argsort(wkey, kind="stable")
            w = np.searchsorted(wkey[order], p_item * span + p_t, side="right") - 1
            ok = w >= 0
            w = order[np.maximum(w, 0)]
            ok &= (iv.sat[w] == p_item) & (p_t <= iv.end_s[w])
            np.maximum.at(best, w[ok], p_g[ok])
        st, sat = np.divmod(iv.sat, n)
        el = np.degrees(np.arcsin(np.clip(best + self.sin_min[st], -1.0, 1.0)))
        names = np.array([s.name for s in stations], dtype=object)
        return pd.DataFrame({"station": names[st], "station_id": st.astype(np.int64),
                             "sat": sat.astype(np.int64), "start_s": iv.start_s,
                             "end_s": iv.end_s, "max_elevation_deg": np.round(el, 4),
                             "start_clipped": iv.start_clipped, "end_clipped": iv.end_clipped})
