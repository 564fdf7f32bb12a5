# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled visibility kernels; the numpy twins are in ``orbsched._kernels.reference``.

``isl_candidates``, ``isl_nearest``, ``isl_pairs_visible`` and ``ground_elevation`` have the
twins' names, signatures and results (bit for bit: the same operations in the same order, built
with -ffp-contract=off).  Two layers as in ``shadow.pyx``: a ``def`` wrapper checks the
arguments (through the twins' checks), builds the cell grid and allocates; a ``cdef ... nogil``
loop fills the outputs.

Spatial pruning: a uniform grid of cubic cells (points sorted by cell, a dense table of cell
starts; the cell size grows if the fleet's extent would need too many cells).
``isl_candidates`` (cells of max_range / 4) lists, for each occupied cell, the non-empty cells of
the stencil that can hold points within range, and tests each point i against the points j > i
of those cells (a cell lists its points by index, so that is a suffix); the cost follows the
number of pairs within about ``max_range + cell diagonal``, not N^2.  Hits of row i go to a
bitset and are read back in order, so the output is sorted by (i, j) without a sort.
``isl_nearest`` searches cube rings of cells around each point outwards and stops as soon as the
k-th best squared distance is below the nearest possible distance of the next ring.
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport sqrt

from .reference import (_check_positions, _check_isl_params, _check_ground_args,
                        _safe_chord2)

cnp.import_array()

ctypedef cnp.int64_t i64


cdef inline bint _pair(double ax, double ay, double az, double bx, double by, double bz,
                       double r2max, double rg2, double* d2out) noexcept nogil:
    """Same test and the same arithmetic as ``reference._pair_test``."""
    cdef double dx = bx - ax, dy = by - ay, dz = bz - az
    cdef double d2 = (dx * dx + dy * dy) + dz * dz
    cdef double s, u, cx, cy, cz, c2
    d2out[0] = d2
    if not (d2 <= r2max):
        return 0
    s = -((ax * dx + ay * dy) + az * dz)
    if s <= 0.0:
        return ((ax * ax + ay * ay) + az * az) >= rg2
    u = (bx * dx + by * dy) + bz * dz
    if u <= 0.0:
        return ((bx * bx + by * by) + bz * bz) >= rg2
    cx = ay * bz - az * by
    cy = az * bx - ax * bz
    cz = ax * by - ay * bx
    c2 = (cx * cx + cy * cy) + cz * cz
    return c2 >= rg2 * d2


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


cdef extern from *:
    """
    #if defined(_MSC_VER)
    #include <intrin.h>
    static __inline int orb_ctz64(unsigned long long x) {
        unsigned long i; _BitScanForward64(&i, x); return (int)i; }
    #else
    static inline int orb_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
    #endif
    """
    int orb_ctz64(unsigned long long x) nogil


cdef Py_ssize_t _cand_loop(const double[:, ::1] rs, const i64[::1] order, const i64[::1] start,
                           const i64[::1] dims, const i64[:, ::1] offs, double r2max,
                           double rg2, double safe2, cnp.uint64_t[::1] bits, double[::1] row, i64[::1] nb,
                           i64[::1] row_start, i64[::1] row_len, i64[::1] oj,
                           double[::1] od) noexcept nogil:
    """Find the visible pairs (i < j), row by row; return their count (which may exceed the
    capacity of ``oj``/``od``: then only the count is meaningful).

    Cells are visited one by one (``rs`` holds the positions in cell order); the non-empty
    cells of the stencil around a cell are listed once for all its points.  For a point i, the
    points j > i of those cells are tested; hits set bit j of a row bitset and store d^2 in
    ``row[j]``; the touched words of the bitset are then read in order, which writes row i
    sorted by j (at ``row_start[i]``, ``row_len[i]`` entries) at a cost of touched words + hits.
    """
    cdef Py_ssize_t n = rs.shape[0], nx = dims[0], ny = dims[1], nz = dims[2]
    cdef Py_ssize_t cap = oj.shape[0], i, j, k, p, q, x, y, z, ca, cb, nnb, t
    cdef Py_ssize_t ax, ay, az, w, w_lo, w_hi, qe, m = 0
    cdef double d2, px, py, pz, a2, bx, by, bz, dx, dy, dz, sv, uv, cx, cy, cz, c2
    cdef cnp.uint64_t word
    cdef bint ok
    for ax in range(nx):
        for ay in range(ny):
            for az in range(nz):
                ca = (ax * ny + ay) * nz + az
                if start[ca] == start[ca + 1]:
                    continue
                nnb = 0
                for k in range(offs.shape[0]):
                    x = ax + offs[k, 0]
                    y = ay + offs[k, 1]
                    z = az + offs[k, 2]
                    if x < 0 or x >= nx or y < 0 or y >= ny or z < 0 or z >= nz:
                        continue
                    cb = (x * ny + y) * nz + z
                    if start[cb] < start[cb + 1]:
                        nb[nnb] = cb
                        nnb += 1
                for p in range(start[ca], start[ca + 1]):
                    i = order[p]
                    px = rs[p, 0]
                    py = rs[p, 1]
                    pz = rs[p, 2]
                    a2 = rs[p, 3]
                    w_lo = n
                    w_hi = -1
                    for t in range(nnb):
                        cb = nb[t]
                        q = start[cb]
                        qe = start[cb + 1]
                        while q < qe and order[q] <= i:  # a cell lists its points by index
                            q += 1
                        for q in range(q, qe):
                            bx = rs[q, 0]
                            by = rs[q, 1]
                            bz = rs[q, 2]
                            dx = bx - px
                            dy = by - py
                            dz = bz - pz
                            d2 = (dx * dx + dy * dy) + dz * dz
                            if not (d2 <= r2max):
                                continue
                            if not (d2 <= safe2):  # may be occluded: the full test of _pair
                                sv = -((px * dx + py * dy) + pz * dz)
                                if sv <= 0.0:
                                    ok = a2 >= rg2
                                else:
                                    uv = (bx * dx + by * dy) + bz * dz
                                    if uv <= 0.0:
                                        ok = rs[q, 3] >= rg2
                                    else:
                                        cx = py * bz - pz * by
                                        cy = pz * bx - px * bz
                                        cz = px * by - py * bx
                                        c2 = (cx * cx + cy * cy) + cz * cz
                                        ok = c2 >= rg2 * d2
                                if not ok:
                                    continue
                            j = order[q]
                            w = j >> 6
                            bits[w] |= (<cnp.uint64_t>1) << (j & 63)
                            row[j] = d2
                            if w < w_lo:
                                w_lo = w
                            if w > w_hi:
                                w_hi = w
                    row_start[i] = m
                    for w in range(w_lo, w_hi + 1):
                        word = bits[w]
                        if word == 0:
                            continue
                        bits[w] = 0
                        while word != 0:
                            j = (w << 6) + orb_ctz64(word)
                            word &= word - 1
                            if m < cap:
                                oj[m] = j
                                od[m] = sqrt(row[j])
                            m += 1
                    row_len[i] = m - row_start[i]
    return m


cdef void _gather(const i64[::1] row_start, const i64[::1] row_len, const i64[::1] sj,
                  const double[::1] sd, i64[::1] oi, i64[::1] oj, double[::1] od) noexcept nogil:
    """Copy the rows into (i, j) order."""
    cdef Py_ssize_t i, q, a, m = 0
    for i in range(row_start.shape[0]):
        a = row_start[i]
        for q in range(row_len[i]):
            oi[m] = i
            oj[m] = sj[a + q]
            od[m] = sd[a + q]
            m += 1


#: cell size of the candidate search = max_range / CELLS_PER_RANGE (tuned on a 550 km shell
#: with a 5,000 km range; any value gives the same pairs)
CELLS_PER_RANGE = 4.0

_scratch = {}


def _buffers(cap):
    """Output scratch reused between calls (no fresh pages to fault in at every step)."""
    if _scratch.get("cap", 0) < cap:
        _scratch.update(cap=cap, j=np.empty(cap, np.int64), d=np.empty(cap, np.float64))
    return _scratch


def _stencil(c, rmax):
    """Cell offsets whose cells can hold a point within ``rmax`` of a point of cell (0,0,0)."""
    m_ax = int(np.floor(rmax / c)) + 1
    rng = np.arange(-m_ax, m_ax + 1)
    o = np.stack(np.meshgrid(rng, rng, rng, indexing="ij"), -1).reshape(-1, 3)
    gap = np.maximum(np.abs(o) - 1, 0) * c
    near = (gap * gap).sum(axis=1) <= rmax * rmax * (1.0 + 1e-9)
    return np.ascontiguousarray(o[near], dtype=np.int64)


def isl_candidates(r, max_range_km, min_radius_km):
    """Compiled twin of :func:`orbsched._kernels.reference.isl_candidates` (same contract)."""
    r = _check_positions(r)
    cdef double rmax, r2max, rg2
    cdef Py_ssize_t n
    rmax, r2max, rg2 = _check_isl_params(max_range_km, min_radius_km)
    n = r.shape[0]
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    c, dims, _, order, start = _grid(r, rmax / CELLS_PER_RANGE, max(8 * n, 4096))
    offs = _stencil(c, rmax)
    rs = np.empty((n, 4))
    rs[:, :3] = r[order]
    rs[:, 3] = (rs[:, 0] * rs[:, 0] + rs[:, 1] * rs[:, 1]) + rs[:, 2] * rs[:, 2]
    cdef double safe2 = _safe_chord2(rs[:, 3], rg2)
    bits = np.zeros((n >> 6) + 1, np.uint64)
    row = np.empty(n, np.float64)
    nb = np.empty(len(offs), np.int64)
    row_start = np.zeros(n, np.int64)
    row_len = np.zeros(n, np.int64)
    cdef const double[:, ::1] rsv = rs
    cdef const i64[::1] ov = order, sv = start, dv = dims.astype(np.int64)
    cdef const i64[:, ::1] offv = offs
    cdef cnp.uint64_t[::1] bv = bits
    cdef double[::1] rowv = row
    cdef i64[::1] nbv = nb, rsv_ = row_start, rlv = row_len
    cdef Py_ssize_t m
    cdef i64[::1] wj, vi, vj
    cdef double[::1] wd, vd
    buf = _buffers(max(1024, int(_scratch.get("last", 0) * 1.25) + 1024))
    while True:
        wj, wd = buf["j"], buf["d"]
        with nogil:
            m = _cand_loop(rsv, ov, sv, dv, offv, r2max, rg2, safe2, bv, rowv, nbv, rsv_, rlv, wj, wd)
        if m <= buf["cap"]:
            break
        buf = _buffers(m)
    _scratch["last"] = m
    out_i = np.empty(m, np.int64)
    out_j = np.empty(m, np.int64)
    out_d = np.empty(m, np.float64)
    vi, vj, vd = out_i, out_j, out_d
    wj, wd = buf["j"], buf["d"]
    with nogil:
        _gather(rsv_, rlv, wj, wd, vi, vj, vd)
    return out_i, out_j, out_d


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
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
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
    i = np.ascontiguousarray(i, dtype=np.int64)
    j = np.ascontiguousarray(j, dtype=np.int64)
    if i.shape != j.shape or i.ndim != 1:
        raise ValueError(f"i and j must be 1-d arrays of equal length, got {i.shape}, {j.shape}")
    n = r.shape[0]
    if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
        raise ValueError(f"pair indices must lie in [0, {n})")
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
