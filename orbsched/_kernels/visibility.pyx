# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled visibility kernels; the numpy twins are in ``orbsched._kernels.reference``.
``isl_candidates`` is here; ``isl_nearest``, ``isl_pairs_visible`` and ``ground_elevation`` are
in ``visibility_near.pyx``; the pair tests both use are in ``visibility_core.pxd``.

``isl_candidates``, ``isl_nearest``, ``isl_pairs_visible`` and ``ground_elevation`` have the
twins' names, signatures and results (bit for bit: the same operations in the same order, built
with -ffp-contract=off).  Two layers as in ``shadow.pyx``: a ``def`` wrapper checks the
arguments (through the twins' checks), builds the cell grid and allocates; a ``cdef ... nogil``
loop fills the outputs.

Spatial pruning: a uniform grid of cubic cells (points sorted by cell, a dense table of cell
starts; the cell size grows if the fleet's extent would need too many cells).
``isl_candidates`` (cells of max_range / 4, its own grid built in C, padded so that a stencil
offset is a constant index step) visits each unordered pair of cells once: a cell with itself,
then the half stencil (offsets lexicographically > 0) as columns along z, whose points are
consecutive; all point pairs of the two ranges are tested in a tight branch-free loop (the
occlusion test only for pairs longer than the safe chord) and the hits (i, j) appended
unordered.  A counting sort by i then gives the rows, and a row bitset read back in order sorts
each row by j; the distances are computed there with the twin's operand order.  The cost
follows the number of pairs within about ``max_range + cell diagonal``, not N^2.
``isl_nearest`` searches cube rings of cells around each point outwards and stops as soon as the
k-th best squared distance is below the nearest possible distance of the next ring.
"""
import threading

import numpy as np
cimport numpy as cnp
from libc.math cimport sqrt, floor, isfinite, INFINITY
from libc.stdlib cimport realloc, free
from libc.string cimport memset, memcpy

from .reference import (_check_positions, _check_isl_params, _check_ground_args, _check_pairs,
                        _check_k, _safe_chord2)

cnp.import_array()

ctypedef cnp.int64_t i64

from .visibility_core cimport _clear


# ------------------------------------------------------------------------------ candidates
ctypedef cnp.int32_t i32

cdef struct Hit:
    i32 lo      # lower point index (i)
    i32 hi      # higher point index (j)


cdef struct CandState:
    # grid: points in cell order (finite points only) and the cell starts of a padded grid
    double* xs
    double* ys
    double* zs
    i32* ids
    Py_ssize_t* cellof
    Py_ssize_t* start
    Py_ssize_t* delta
    Py_ssize_t npts, ncell, ndelta
    # hits (i, j): unordered, then the j by row i (row starts ``rows``); a row bitset
    Hit* hits
    i32* byrow
    Py_ssize_t* rows
    cnp.uint64_t* bits
    Py_ssize_t m
    # capacities (elements) of the buffers above
    Py_ssize_t c_xs, c_ys, c_zs, c_ids, c_cellof, c_start, c_delta
    Py_ssize_t c_hits, c_byrow, c_rows, c_bits


cdef int _reserve(void** p, Py_ssize_t* have, Py_ssize_t need, size_t size) noexcept nogil:
    """Grow the buffer ``p[0]`` (contents kept) to hold at least ``need`` elements; -1 when out
    of memory (``p[0]`` is then unchanged)."""
    cdef void* nw
    if need <= have[0]:
        return 0
    if need < have[0] + have[0] // 2:
        need = have[0] + have[0] // 2
    nw = realloc(p[0], need * size)
    if nw == NULL:
        return -1
    p[0] = nw
    have[0] = need
    return 0


cdef void _cand_free(CandState* st) noexcept nogil:
    free(st.xs); free(st.ys); free(st.zs); free(st.ids); free(st.cellof); free(st.start)
    free(st.delta); free(st.hits); free(st.byrow); free(st.rows); free(st.bits)
    memset(st, 0, sizeof(CandState))


cdef class _CandScratch:
    """The buffers of ``isl_candidates``, kept between calls (no fresh pages to fault in at
    every step)."""
    cdef CandState st

    def __cinit__(self):
        memset(&self.st, 0, sizeof(CandState))

    def __dealloc__(self):
        _cand_free(&self.st)




cdef inline cnp.uint64_t _bits(double x) noexcept nogil:
    """The bit pattern of x (for x >= 0, ordered as the values)."""
    cdef cnp.uint64_t u
    memcpy(&u, &x, sizeof(double))
    return u


cdef inline Py_ssize_t _gap(Py_ssize_t o) noexcept nogil:
    """Whole cells between a cell and the cell ``o`` steps away along one axis."""
    if o < 0:
        o = -o
    return o - 1 if o > 1 else 0


cdef int _cand_grid(CandState* st, const double* r, Py_ssize_t n, double rmax,
                    double cells_per_range, double max_cells) noexcept nogil:
    """Sort the finite points into cubic cells of a grid padded by the stencil's reach (so a
    stencil offset is a constant index step, with no bounds test), and list the offsets of the
    half stencil (lexicographically > 0) whose cells can hold a point within ``rmax``.
    The cell size starts at ``rmax / cells_per_range`` and grows while the padded grid would
    exceed ``max_cells`` cells.  Returns -1 when out of memory."""
    cdef Py_ssize_t i, k, p, cnt = 0, nx, ny, nz, px, py, pz, mx, ox, oy, oz, cx, cy, cz
    cdef double lox = 0.0, loy = 0.0, loz = 0.0, hix = 0.0, hiy = 0.0, hiz = 0.0
    cdef double x, y, z, c, fx, fy, fz, fm, fmax, gx, gy, gz, lim
    cdef Py_ssize_t* cellof
    for i in range(n):
        x = r[3 * i]
        y = r[3 * i + 1]
        z = r[3 * i + 2]
        if not (isfinite(x) and isfinite(y) and isfinite(z)):
            continue  # never within range of anything (its d^2 is inf or nan)
        if cnt == 0:
            lox = hix = x
            loy = hiy = y
            loz = hiz = z
        else:
            lox = x if x < lox else lox
            hix = x if x > hix else hix
            loy = y if y < loy else loy
            hiy = y if y > hiy else hiy
            loz = z if z < loz else loz
            hiz = z if z > hiz else hiz
        cnt += 1
    st.npts = cnt
    c = rmax / cells_per_range
    while True:
        fx = floor((hix - lox) / c) + 1.0
        fy = floor((hiy - loy) / c) + 1.0
        fz = floor((hiz - loz) / c) + 1.0
        fmax = fx if fx > fy else fy
        fmax = fz if fz > fmax else fmax
        fm = floor(rmax / c) + 1.0  # stencil reach in cells; more than fmax - 1 is useless
        if not (fm <= fmax - 1.0):
            fm = fmax - 1.0
        if ((fx + 2.0 * fm) * (fy + 2.0 * fm)) * (fz + 2.0 * fm) <= max_cells:
            break
        if not (c * 1.5 < INFINITY):  # cannot happen for a sane extent; one cell then
            fx = fy = fz = 1.0
            fm = 0.0
            break
        c *= 1.5
    nx = <Py_ssize_t>fx
    ny = <Py_ssize_t>fy
    nz = <Py_ssize_t>fz
    mx = <Py_ssize_t>fm
    px = nx + 2 * mx
    py = ny + 2 * mx
    pz = nz + 2 * mx
    st.ncell = px * py * pz
    # half stencil, as columns along z: for each (ox, oy) the offsets oz that pass form an
    # interval (the gap grows with |oz|), i.e. consecutive cells, whose points are consecutive
    # too; a column is stored as (index step of its first cell, number of cells)
    if _reserve(<void**>&st.delta, &st.c_delta, 2 * (mx + 1) * (2 * mx + 1),
                sizeof(Py_ssize_t)) != 0:
        return -1
    lim = rmax * rmax * (1.0 + 1e-9)
    st.ndelta = 0
    for ox in range(0, mx + 1):
        for oy in range(-mx, mx + 1):
            if ox == 0 and oy < 0:
                continue
            gx = <double>_gap(ox) * c
            gy = <double>_gap(oy) * c
            k = -1  # largest |oz| that passes
            for oz in range(0, mx + 1):
                gz = <double>_gap(oz) * c
                if (gx * gx + gy * gy) + gz * gz <= lim:
                    k = oz
            if k < 0:
                continue
            oz = -k if (ox > 0 or oy > 0) else 1  # (0, 0, oz > 0): after the cell itself
            if oz > k:
                continue
            st.delta[2 * st.ndelta] = (ox * py + oy) * pz + oz
            st.delta[2 * st.ndelta + 1] = k - oz + 1
            st.ndelta += 1
    # counting sort of the points by cell (stable: a cell lists its points by index)
    if (_reserve(<void**>&st.start, &st.c_start, st.ncell + 1, sizeof(Py_ssize_t)) != 0
            or _reserve(<void**>&st.cellof, &st.c_cellof, n, sizeof(Py_ssize_t)) != 0
            or _reserve(<void**>&st.xs, &st.c_xs, cnt + 1, sizeof(double)) != 0
            or _reserve(<void**>&st.ys, &st.c_ys, cnt + 1, sizeof(double)) != 0
            or _reserve(<void**>&st.zs, &st.c_zs, cnt + 1, sizeof(double)) != 0
            or _reserve(<void**>&st.ids, &st.c_ids, cnt + 1, sizeof(i32)) != 0):
        return -1
    memset(st.start, 0, (st.ncell + 1) * sizeof(Py_ssize_t))
    cellof = st.cellof
    for i in range(n):
        x = r[3 * i]
        y = r[3 * i + 1]
        z = r[3 * i + 2]
        if not (isfinite(x) and isfinite(y) and isfinite(z)):
            cellof[i] = -1
            continue
        gx = floor((x - lox) / c)
        gy = floor((y - loy) / c)
        gz = floor((z - loz) / c)
        gx = gx if gx < fx - 1.0 else fx - 1.0
        gy = gy if gy < fy - 1.0 else fy - 1.0
        gz = gz if gz < fz - 1.0 else fz - 1.0
        cx = <Py_ssize_t>gx if gx > 0.0 else 0
        cy = <Py_ssize_t>gy if gy > 0.0 else 0
        cz = <Py_ssize_t>gz if gz > 0.0 else 0
        k = ((cx + mx) * py + (cy + mx)) * pz + (cz + mx)
        cellof[i] = k
        st.start[k + 1] += 1
    for k in range(st.ncell):
        st.start[k + 1] += st.start[k]
    for i in range(n):  # start[k] runs as the fill position of cell k, then is shifted back
        k = cellof[i]
        if k < 0:
            continue
        p = st.start[k]
        st.start[k] = p + 1
        st.xs[p] = r[3 * i]
        st.ys[p] = r[3 * i + 1]
        st.zs[p] = r[3 * i + 2]
        st.ids[p] = <i32>i
    for k in range(st.ncell, 0, -1):
        st.start[k] = st.start[k - 1]
    st.start[0] = 0
    return 0


cdef inline Py_ssize_t _block(const double* xs, const double* ys, const double* zs,
                              const i32* ids, Py_ssize_t a0, Py_ssize_t a1, Py_ssize_t b0,
                              Py_ssize_t b1, bint same, double r2max, double rg2, double safe2,
                              bint occl, cnp.uint64_t band_lo, cnp.uint64_t band_w, Hit* hits,
                              Py_ssize_t m) noexcept nogil:
    """Test the points a0:a1 against b0:b1 (against the later ones of the same cell when
    ``same``); append the hits (written unconditionally, kept by advancing the count); return
    the new count.  With ``occl`` false, no pair within range may need the occlusion test;
    with it, the pairs with bits(d2) in [band_lo, band_lo + band_w] (safe2 < d2 <= r2max)
    get it."""
    cdef Py_ssize_t p, q
    cdef double px, py, pz, dx, dy, dz, d2
    cdef i32 ip, iq
    cdef bint ok
    for p in range(a0, a1):
        px = xs[p]
        py = ys[p]
        pz = zs[p]
        ip = ids[p]
        if same:
            b0 = p + 1  # the cell with itself: q after p, so ids[q] > ip
        for q in range(b0, b1):
            # d^2 does not depend on the orientation: fl(b - a) = -fl(a - b)
            dx = xs[q] - px
            dy = ys[q] - py
            dz = zs[q] - pz
            d2 = (dx * dx + dy * dy) + dz * dz
            iq = ids[q]
            ok = d2 <= r2max
            # may be occluded, safe2 < d2 <= r2max: the full test (a = the lower index); one
            # unsigned comparison of the bit patterns (ordered as the values for d2 >= 0;
            # nan and -nan fall above inf), so the loop has no unpredictable branch
            if occl and _bits(d2) - band_lo <= band_w:
                if ip < iq:
                    ok = _clear(px, py, pz, xs[q], ys[q], zs[q], rg2)
                else:
                    ok = _clear(xs[q], ys[q], zs[q], px, py, pz, rg2)
            hits[m].lo = ip if ip < iq else iq
            hits[m].hi = iq if ip < iq else ip
            m += ok
    return m


cdef Py_ssize_t _nonfinite(const CandState* st, const double* r, Py_ssize_t n, double r2max,
                           double rg2, double safe2, Hit* hits, Py_ssize_t m) noexcept nogil:
    """The pairs with a non-finite point (left out of the grid), tested one by one as in the
    twin (a = the lower index); appended to ``hits``; returns the new count."""
    cdef Py_ssize_t i, j, a, b
    cdef double dx, dy, dz, d2
    for i in range(n):
        if st.cellof[i] >= 0:
            continue
        for j in range(n):
            if j == i or (st.cellof[j] < 0 and j < i):  # a pair of two such points: once
                continue
            a = i if i < j else j
            b = j if i < j else i
            dx = r[3 * b] - r[3 * a]
            dy = r[3 * b + 1] - r[3 * a + 1]
            dz = r[3 * b + 2] - r[3 * a + 2]
            d2 = (dx * dx + dy * dy) + dz * dz
            if d2 <= r2max and (d2 <= safe2 or _clear(r[3 * a], r[3 * a + 1], r[3 * a + 2],
                                                        r[3 * b], r[3 * b + 1], r[3 * b + 2],
                                                        rg2)):
                hits[m].lo = <i32>a
                hits[m].hi = <i32>b
                m += 1
    return m


cdef int _cand_loop(CandState* st, const double* r, Py_ssize_t n, double r2max, double rg2,
                    double safe2) noexcept nogil:
    """Find the visible pairs: each unordered pair of cells once (the cell with itself, then
    the half stencil), every point pair of the two cells in a tight loop; hits go to ``hits``
    unordered (written unconditionally, kept by advancing the count).  -1: out of memory."""
    cdef const double* xs = st.xs
    cdef const double* ys = st.ys
    cdef const double* zs = st.zs
    cdef const i32* ids = st.ids
    cdef const Py_ssize_t* start = st.start
    cdef const Py_ssize_t* delta = st.delta
    cdef Py_ssize_t ncell = st.ncell, nd = st.ndelta, ca, cb, k, p, q, a0, a1, b0, b1
    cdef Py_ssize_t m = 0, cap, need
    cdef Hit* hits
    # the occlusion test can be needed only if a pair within range can be longer than the
    # safe chord; otherwise a loop without it (and without its branch)
    cdef bint occl = not (r2max <= safe2)
    cdef cnp.uint64_t band_lo = 0, band_w = 0
    if occl:  # then r2max > safe2 and r2max > 0 (not nan): the band (max(safe2, -0), r2max]
        band_lo = _bits(safe2) + 1 if safe2 >= 0.0 else 0
        band_w = _bits(r2max) - band_lo
    if _reserve(<void**>&st.hits, &st.c_hits, 16 * st.npts + 1024, sizeof(Hit)) != 0:
        return -1
    cap = st.c_hits
    hits = st.hits
    for ca in range(ncell):
        a0 = start[ca]
        a1 = start[ca + 1]
        if a0 == a1:
            continue
        for k in range(-1, nd):
            if k < 0:
                b0 = a0  # the cell with itself
                b1 = a1
            else:
                cb = ca + delta[2 * k]
                b0 = start[cb]
                b1 = start[cb + delta[2 * k + 1]]
                if b0 == b1:
                    continue
            need = m + (a1 - a0) * (b1 - b0)
            if need > cap:
                if _reserve(<void**>&st.hits, &st.c_hits, need, sizeof(Hit)) != 0:
                    return -1
                cap = st.c_hits
                hits = st.hits
            if occl:
                m = _block(xs, ys, zs, ids, a0, a1, b0, b1, k < 0, r2max, rg2, safe2, 1,
                           band_lo, band_w, hits, m)
            else:
                m = _block(xs, ys, zs, ids, a0, a1, b0, b1, k < 0, r2max, rg2, safe2, 0,
                           0, 0, hits, m)
    if st.npts < n:  # non-finite points: d^2 is inf or nan, a hit only if r2max is inf
        if _reserve(<void**>&st.hits, &st.c_hits, m + (n - st.npts) * n, sizeof(Hit)) != 0:
            return -1
        m = _nonfinite(st, r, n, r2max, rg2, safe2, st.hits, m)
    st.m = m
    return 0


cdef int _by_row(CandState* st, Py_ssize_t n) noexcept nogil:
    """Counting sort of the hits by i: the j of row i at ``byrow[rows[i]:rows[i + 1]]``
    (unordered); also sizes the row bitset of :func:`_gather`.  -1: out of memory."""
    cdef Py_ssize_t m = st.m, k, t, i
    cdef const Hit* hits = st.hits
    cdef i32* byrow
    cdef Py_ssize_t* rows
    if (_reserve(<void**>&st.rows, &st.c_rows, n + 1, sizeof(Py_ssize_t)) != 0
            or _reserve(<void**>&st.byrow, &st.c_byrow, m + 1, sizeof(i32)) != 0
            or _reserve(<void**>&st.bits, &st.c_bits, (n >> 6) + 1, sizeof(cnp.uint64_t)) != 0):
        return -1
    memset(st.bits, 0, ((n >> 6) + 1) * sizeof(cnp.uint64_t))
    rows = st.rows
    byrow = st.byrow
    memset(rows, 0, (n + 1) * sizeof(Py_ssize_t))
    for k in range(m):
        rows[hits[k].lo + 1] += 1
    for i in range(n):
        rows[i + 1] += rows[i]
    for k in range(m):  # rows[i] runs as the fill position of row i, then is shifted back
        i = hits[k].lo
        t = rows[i]
        rows[i] = t + 1
        byrow[t] = hits[k].hi
    for i in range(n, 0, -1):
        rows[i] = rows[i - 1]
    rows[0] = 0
    return 0


cdef void _gather(CandState* st, const double* r, Py_ssize_t n, i64* oi, i64* oj,
                  double* od) noexcept nogil:
    """Write the rows in (i, j) order: a row's j set bits of a bitset; reading the touched words
    back in order writes the row sorted by j (cost: touched words + hits), with the distance
    computed as in the twin: d = b - a with a = point i, b = point j."""
    cdef const Py_ssize_t* rows = st.rows
    cdef const i32* byrow = st.byrow
    cdef cnp.uint64_t* bits = st.bits
    cdef Py_ssize_t i, j, t, u, w, w_lo, w_hi
    cdef cnp.uint64_t word
    cdef double ax, ay, az, dx, dy, dz
    u = 0
    for i in range(n):
        if rows[i] == rows[i + 1]:
            continue
        w_lo = n
        w_hi = -1
        for t in range(rows[i], rows[i + 1]):
            j = byrow[t]
            w = j >> 6
            bits[w] |= (<cnp.uint64_t>1) << (j & 63)
            w_lo = w if w < w_lo else w_lo
            w_hi = w if w > w_hi else w_hi
        ax = r[3 * i]
        ay = r[3 * i + 1]
        az = r[3 * i + 2]
        for w in range(w_lo, w_hi + 1):
            word = bits[w]
            if word == 0:
                continue
            bits[w] = 0
            while word != 0:
                j = (w << 6) + orb_ctz64(word)
                word &= word - 1
                dx = r[3 * j] - ax
                dy = r[3 * j + 1] - ay
                dz = r[3 * j + 2] - az
                oi[u] = i
                oj[u] = j
                od[u] = sqrt((dx * dx + dy * dy) + dz * dz)
                u += 1


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


#: cell size of the candidate search = max_range / CELLS_PER_RANGE (tuned on a 550 km shell
#: with a 5,000 km range: 3 is ~25% slower, 5 makes the padded grid outgrow its cell budget and
#: falls back to about 3.3; any value gives the same pairs)
CELLS_PER_RANGE = 4.0

_scratch = _CandScratch()
_scratch_lock = threading.Lock()


def isl_candidates(r, max_range_km, min_radius_km):
    """Compiled twin of :func:`orbsched._kernels.reference.isl_candidates` (same contract)."""
    r = _check_positions(r)
    cdef double rmax, r2max, rg2, safe2, cpr = CELLS_PER_RANGE, max_cells
    cdef Py_ssize_t n, m
    cdef int rc
    rmax, r2max, rg2 = _check_isl_params(max_range_km, min_radius_km)
    n = r.shape[0]
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    if n > 2147483647:
        raise ValueError(f"too many points: {n}")
    # the twin's rule, on the same numbers
    safe2 = _safe_chord2((r[:, 0] * r[:, 0] + r[:, 1] * r[:, 1]) + r[:, 2] * r[:, 2], rg2)
    max_cells = max(8 * n, 4096)
    cdef const double[:, ::1] rv = r
    cdef _CandScratch scratch
    cdef CandState* st
    cdef i64[::1] vi, vj
    cdef double[::1] vd
    cdef bint shared = _scratch_lock.acquire(False)
    scratch = _scratch if shared else _CandScratch()  # another thread holds the shared one
    st = &scratch.st
    try:
        with nogil:
            rc = _cand_grid(st, &rv[0, 0], n, rmax, cpr, max_cells)
            if rc == 0:
                rc = _cand_loop(st, &rv[0, 0], n, r2max, rg2, safe2)
            if rc == 0:
                rc = _by_row(st, n)
        if rc != 0:
            _cand_free(st)
            raise MemoryError("isl_candidates: out of memory")
        m = st.m
        # one block for the three outputs: one allocation to fault in, which the C library
        # then reuses from call to call (three separate ones got fresh pages at every call)
        block = np.empty(3 * m, np.int64)
        out_i = block[:m]
        out_j = block[m:2 * m]
        out_d = block[2 * m:].view(np.float64)
        if m:
            vi, vj, vd = out_i, out_j, out_d
            with nogil:
                _gather(st, &rv[0, 0], n, &vi[0], &vj[0], &vd[0])
    finally:
        if shared:
            _scratch_lock.release()
    return out_i, out_j, out_d
