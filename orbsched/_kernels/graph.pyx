# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled graph searches on the laser network; the twins are ``reference.nearest_hosts`` and
``reference.shortest_path`` (and ``reference.slot_lengths``, the links' lengths of the slot
arrays, the same arithmetic in the same order).

Both have the twins' names, signatures and results (bit for bit: the same additions in the
same order, and the same pop order, since the heap orders ``(distance, hops, node)`` - hops 0
for ``shortest_path`` - lexicographically like Python's tuples, a total order on distinct
entries).  Two layers: the
``def`` wrapper checks the arguments through the twin's checks and builds the result list; a
``cdef ... nogil`` loop runs Dijkstra on a binary heap over the fixed-slot arrays (for
``nearest_hosts``, ``search_core.pxd``'s ``_nearest_search``, which ``fleet_search.pyx``'s
``HostSearch`` runs too, with the mask's flag as its host test).
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport INFINITY, sqrt
from libc.stdlib cimport malloc, calloc, free

from .reference import _check_graph_args, _check_path_args, _check_slot_args

from .heap cimport Entry, _pop, _push, i64
from .search_core cimport Scratch, _nearest_search

cnp.import_array()


cdef inline void _start(double[::1] dist, i64[::1] pred, Entry* heap, i64* size,
                        i64 src) noexcept nogil:
    """No node reached yet but src (distance 0, on the heap)."""
    cdef i64 j
    for j in range(dist.shape[0]):
        dist[j] = INFINITY
        pred[j] = -1
    dist[src] = 0.0
    _push(heap, size, 0.0, 0, src)


cdef inline int _in_mask(void* mask, i64 u) noexcept nogil:
    """search_core's host test for nearest_hosts: the mask's flag."""
    return (<const unsigned char*> mask)[u]


def nearest_hosts(nbr, light, usable, deg, mask, src, k, max_hops, n_sats, dist, pred):
    """Compiled twin of ``reference.nearest_hosts`` (see there)."""
    mask, src, k, max_hops = _check_graph_args(nbr, light, usable, deg, mask, src, k,
                                               max_hops, n_sats, dist, pred)
    dist.fill(np.inf)
    pred.fill(-1)
    cdef const unsigned char[::1] m = mask
    cdef i64 n_nodes = nbr.shape[0]
    cdef i64 kk = min(k, n_nodes), err = -1
    cdef Scratch w
    w.cap = int(np.asarray(deg).sum()) + 1   # one push per relaxed slot, plus src: no growth
    w.heap = <Entry*> malloc(w.cap * sizeof(Entry))
    w.done = <unsigned char*> calloc(n_nodes, 1)
    w.touched = <i64*> malloc(n_nodes * sizeof(i64))
    w.ntouched = 0
    cdef i64* out_u = <i64*> malloc(kk * sizeof(i64))
    cdef double* out_d = <double*> malloc(kk * sizeof(double))
    cdef i64* out_h = <i64*> malloc(kk * sizeof(i64))
    cdef i64 nf, i
    try:
        if w.heap == NULL or w.done == NULL or w.touched == NULL or out_u == NULL \
                or out_d == NULL or out_h == NULL:
            raise MemoryError("nearest_hosts: out of memory")
        nf = _nearest_search(&w, nbr, light, usable, deg, n_sats, src, kk, max_hops, dist,
                             pred, _in_mask, <void*> &m[0] if m.shape[0] else NULL, &err,
                             out_u, out_d, out_h)
        return [(int(out_u[i]), float(out_d[i]), int(out_h[i])) for i in range(nf)]
    finally:
        free(w.heap); free(w.done); free(w.touched); free(out_u); free(out_d); free(out_h)


cdef i64 _path(const i64[:, ::1] nbr, const double[:, ::1] light,
               const unsigned char[:, ::1] usable, const i64[::1] deg, i64 src, i64 dst,
               i64 n_sats, bint include_acquiring, bint relay, double[::1] dist,
               i64[::1] pred, Entry* heap, unsigned char* done) noexcept nogil:
    """Dijkstra from src until dst is settled: 1 if reached (the path is in pred), else 0."""
    cdef i64 size = 0, j, v, u
    cdef double d, nd
    cdef Entry e
    _start(dist, pred, heap, &size, src)
    while size > 0:
        e = _pop(heap, &size)
        d = e.d
        u = e.u
        if done[u]:
            continue
        done[u] = 1
        if u == dst:
            return 1
        for j in range(deg[u]):
            v = nbr[u, j]
            if done[v] or not (usable[u, j] or include_acquiring):
                continue
            if v >= n_sats and v != dst and not relay:
                continue
            nd = d + (light[u, j] + 1e-9)
            if nd < dist[v]:
                dist[v] = nd
                pred[v] = u
                _push(heap, &size, nd, 0, v)
    return 0


def shortest_path(nbr, light, usable, deg, src, dst, n_sats, include_acquiring, relay, dist,
                  pred):
    """Compiled twin of ``reference.shortest_path`` (see there)."""
    src, dst = _check_path_args(nbr, light, usable, deg, src, dst, n_sats, dist, pred)
    cdef i64 n_nodes = nbr.shape[0]
    cdef i64[::1] pv = pred
    cdef i64 cap, ok, u
    cdef Entry* heap
    cdef unsigned char* done
    if src == dst:
        dist.fill(np.inf)
        pred.fill(-1)
        dist[src] = 0.0
        return [src]
    cap = int(np.asarray(deg).sum()) + 1
    heap = <Entry*> malloc(cap * sizeof(Entry))
    done = <unsigned char*> calloc(n_nodes, 1)
    if heap == NULL or done == NULL:
        free(heap); free(done)
        raise MemoryError("shortest_path: out of memory")
    try:
        ok = _path(nbr, light, usable, deg, src, dst, n_sats, bool(include_acquiring),
                   bool(relay), dist, pv, heap, done)
    finally:
        free(heap); free(done)
    if not ok:
        return None
    path = [dst]
    u = dst
    while u != src:
        u = pv[u]
        path.append(int(u))
    return path[::-1]


cdef void _slot_lengths(const i64[:, ::1] nbr, const i64[::1] deg, const double[:, ::1] pos,
                        double[:, ::1] light, double speed) noexcept nogil:
    cdef i64 u, j, v
    cdef double dx, dy, dz
    for u in range(nbr.shape[0]):
        for j in range(deg[u]):
            v = nbr[u, j]
            dx = pos[u, 0] - pos[v, 0]
            dy = pos[u, 1] - pos[v, 1]
            dz = pos[u, 2] - pos[v, 2]
            light[u, j] = sqrt((dx * dx + dy * dy) + dz * dz) / speed


def slot_lengths(nbr, deg, pos, light, speed_km_s):
    """Compiled twin of ``reference.slot_lengths`` (see there)."""
    pos, speed_km_s = _check_slot_args(nbr, deg, pos, light, speed_km_s)
    _slot_lengths(nbr, deg, pos, light, speed_km_s)
