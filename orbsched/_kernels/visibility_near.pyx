# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled visibility kernels, part two: ``isl_nearest``, ``isl_pairs_visible`` and
``ground_elevation`` (``isl_candidates`` is in ``visibility.pyx``, whose docstring states the
exactness rules and the cell grid these share); the numpy twins are in
``orbsched._kernels.reference``.
"""
import threading

import numpy as np
cimport numpy as cnp
from libc.math cimport sqrt, floor, isfinite, INFINITY
from libc.stdlib cimport realloc, free
from libc.string cimport memset, memcpy

from .reference import (_check_positions, _check_isl_params, _check_ground_args, _check_pairs,
                        _check_k, _safe_chord2)

from .visibility_core cimport _pair

cnp.import_array()

ctypedef cnp.int64_t i64


# ------------------------------------------------------------------------------ cell grid
def _grid(r, cell_km, max_cells):
    """Cell coordinates, points sorted by cell and the start of each cell in that order."""
    lo = r.min(axis=0)
    ext = r.max(axis=0) - lo
    c = float(cell_km)
    while True:
        dims = np.floor(ext / c).astype(np.int64) + 1
        if int(dims[0]) * int(dims[1]) * int(dims[2]) <= max_cells:
            break
        c *= 1.5
    cc = np.minimum(np.floor((r - lo) / c).astype(np.int64), dims - 1)
    cell = (cc[:, 0] * dims[1] + cc[:, 1]) * dims[2] + cc[:, 2]
    order = np.argsort(cell, kind="stable").astype(np.int64)
    ncell = int(dims[0] * dims[1] * dims[2])
    start = np.searchsorted(cell[order], np.arange(ncell + 1)).astype(np.int64)
    return c, dims, np.ascontiguousarray(cc), order, start


# ------------------------------------------------------------------------------ nearest k
cdef inline void _insert(i64[:, ::1] nbr, double[:, ::1] best, Py_ssize_t i, Py_ssize_t k,
                         Py_ssize_t* cnt, i64 j, double d2) noexcept nogil:
    cdef Py_ssize_t p = cnt[0]
    if p == k:
        if d2 > best[i, k - 1] or (d2 == best[i, k - 1] and j > nbr[i, k - 1]):
            return
        p = k - 1
    else:
        cnt[0] += 1
    while p > 0 and (best[i, p - 1] > d2 or (best[i, p - 1] == d2 and nbr[i, p - 1] > j)):
        best[i, p] = best[i, p - 1]
        nbr[i, p] = nbr[i, p - 1]
        p -= 1
    best[i, p] = d2
    nbr[i, p] = j


cdef void _nearest_loop(const double[:, ::1] r, const i64[::1] order, const i64[::1] start,
                        const i64[::1] dims, const i64[:, ::1] cc, double c, double rmax,
                        double r2max, double rg2, i64[:, ::1] nbr,
                        double[:, ::1] best) noexcept nogil:
    cdef Py_ssize_t n = r.shape[0], k = nbr.shape[1], i, j, q, cnt, rho, rho_max
    cdef Py_ssize_t nx = dims[0], ny = dims[1], nz = dims[2], dx, dy, dz, x, y, z, cb, zstep
    cdef double d2, lim
    rho_max = nx
    if ny > rho_max:
        rho_max = ny
    if nz > rho_max:
        rho_max = nz
    for i in range(n):
        cnt = 0
        for rho in range(rho_max + 1):
            for dx in range(-rho, rho + 1):
                x = cc[i, 0] + dx
                if x < 0 or x >= nx:
                    continue
                for dy in range(-rho, rho + 1):
                    y = cc[i, 1] + dy
                    if y < 0 or y >= ny:
                        continue
                    if dx == -rho or dx == rho or dy == -rho or dy == rho:
                        zstep = 1
                    else:
                        zstep = 2 * rho if rho > 0 else 1
                    dz = -rho
                    while dz <= rho:
                        z = cc[i, 2] + dz
                        if z >= 0 and z < nz:
                            cb = (x * ny + y) * nz + z
                            for q in range(start[cb], start[cb + 1]):
                                j = order[q]
                                if j != i and _pair(r[i, 0], r[i, 1], r[i, 2], r[j, 0], r[j, 1],
                                                    r[j, 2], r2max, rg2, &d2):
                                    _insert(nbr, best, i, k, &cnt, j, d2)
                        dz += zstep
            # points in rings beyond rho are at least rho * c away (per axis)
            lim = rho * c * (1.0 - 1e-9)
            if lim > rmax:
                break
            if cnt == k and best[i, k - 1] < lim * lim:
                break
        for q in range(k):
            if q < cnt:
                best[i, q] = sqrt(best[i, q])


def isl_nearest(r, max_range_km, min_radius_km, k):
    """Compiled twin of :func:`orbsched._kernels.reference.isl_nearest` (same contract)."""
    r = _check_positions(r)
    cdef double rmax, r2max, rg2
    rmax, r2max, rg2 = _check_isl_params(max_range_km, min_radius_km)
    k = _check_k(k)
    n = r.shape[0]
    nbr = np.full((n, k), -1, dtype=np.int64)
    best = np.full((n, k), np.inf)
    if n < 2:
        return nbr, best
    # cells holding a few points each on a shell of the fleet's mean radius
    mean_r = float(np.sqrt((r * r).sum(axis=1)).mean())
    cell = max(np.sqrt(3.0 * 4.0 * np.pi * mean_r * mean_r / n), rmax / 64.0, 1e-3)
    c, dims, cc, order, start = _grid(r, cell, max(8 * n, 4096))
    cdef const double[:, ::1] rv = r
    cdef const i64[::1] ov = order, sv = start, dv = dims.astype(np.int64)
    cdef const i64[:, ::1] ccv = cc
    cdef i64[:, ::1] nv = nbr
    cdef double[:, ::1] bv = best
    cdef double cv = c
    with nogil:
        _nearest_loop(rv, ov, sv, dv, ccv, cv, rmax, r2max, rg2, nv, bv)
    return nbr, best


# ------------------------------------------------------------------------------ pairs
cdef void _pairs_loop(const double[:, ::1] r, const i64[::1] pi, const i64[::1] pj,
                      double r2max, double rg2, cnp.uint8_t[::1] ok,
                      double[::1] d) noexcept nogil:
    cdef Py_ssize_t p, i, j
    cdef double d2
    for p in range(pi.shape[0]):
        i = pi[p]
        j = pj[p]
        ok[p] = _pair(r[i, 0], r[i, 1], r[i, 2], r[j, 0], r[j, 1], r[j, 2], r2max, rg2, &d2)
        d[p] = sqrt(d2)


def isl_pairs_visible(r, i, j, max_range_km, min_radius_km):
    """Compiled twin of :func:`orbsched._kernels.reference.isl_pairs_visible` (same contract)."""
    r = _check_positions(r)
    cdef double r2max, rg2
    _, r2max, rg2 = _check_isl_params(max_range_km, min_radius_km)
    i, j = _check_pairs(r, i, j)
    ok = np.empty(len(i), np.uint8)
    d = np.empty(len(i), np.float64)
    cdef const double[:, ::1] rv = r
    cdef const i64[::1] iv = i, jv = j
    cdef cnp.uint8_t[::1] okv = ok
    cdef double[::1] dv = d
    with nogil:
        _pairs_loop(rv, iv, jv, r2max, rg2, okv, dv)
    return ok.view(bool), d


# ------------------------------------------------------------------------------ ground
cdef void _ground_loop(const double[:, :, ::1] rs, const double[:, :, ::1] site,
                       const double[:, :, ::1] up, const double[::1] sin_min,
                       double[:, :, ::1] g) noexcept nogil:
    cdef Py_ssize_t ns = site.shape[0], n = rs.shape[0], nt = rs.shape[1], s, i, k
    cdef double rx, ry, rz, dot, nn
    for s in range(ns):
        for i in range(n):
            for k in range(nt):
                rx = rs[i, k, 0] - site[s, k, 0]
                ry = rs[i, k, 1] - site[s, k, 1]
                rz = rs[i, k, 2] - site[s, k, 2]
                dot = (rx * up[s, k, 0] + ry * up[s, k, 1]) + rz * up[s, k, 2]
                nn = sqrt((rx * rx + ry * ry) + rz * rz)
                g[s, i, k] = dot / nn - sin_min[s]


def ground_elevation(r_sat, site, up, sin_min):
    """Compiled twin of :func:`orbsched._kernels.reference.ground_elevation` (same contract)."""
    r_sat, site, up, sin_min = _check_ground_args(r_sat, site, up, sin_min)
    g = np.empty((site.shape[0], r_sat.shape[0], r_sat.shape[1]), np.float64)
    cdef const double[:, :, ::1] rv = r_sat, sv = site, uv = up
    cdef const double[::1] mv = sin_min
    cdef double[:, :, ::1] gv = g
    with nogil:
        _ground_loop(rv, sv, uv, mv, gv)
    return g
