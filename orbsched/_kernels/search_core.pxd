# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# The nearest-host search that graph.pyx (nearest_hosts: a mask says which nodes host) and
# fleet_search.pyx (HostSearch: the fleet's host test on each settled node) both run; its twin is
# reference_search.nearest_search.  Dijkstra over the fixed-slot arrays on heap.pxd's heap, so
# the pop order (and every result) is the twins', bit for bit.  The host test is a function
# pointer with its context: an indirect call per settled node, not per relaxed slot.
from libc.math cimport INFINITY
from libc.stdlib cimport realloc

from .heap cimport Entry, _pop, _push, i64

# 1 if node u hosts, 0 if not, -1 if the test cannot be made (the search stops there).
ctypedef int (*HostTest)(void* ctx, i64 u) noexcept nogil


# What a search keeps between searches: the heap (grown when full), which nodes are settled,
# and which nodes it wrote in dist / pred (the next search resets only those).  Before the
# first search: done all 0, ntouched 0, touched room for every node, heap room for cap entries.
cdef struct Scratch:
    Entry* heap
    i64 cap
    unsigned char* done
    i64* touched
    i64 ntouched


cdef inline i64 _nearest_search(Scratch* w, const i64[:, ::1] nbr, const double[:, ::1] light,
                                const unsigned char[:, ::1] usable, const i64[::1] deg,
                                i64 n_sats, i64 src, i64 k, i64 max_hops, double[::1] dist,
                                i64[::1] pred, HostTest is_host, void* ctx, i64* err,
                                i64* out_u, double* out_d, i64* out_h) noexcept nogil:
    """The k nodes nearest to src that is_host accepts (src excluded) into out_u / out_d /
    out_h, nearest first: their number; -2 when the heap cannot grow (out of memory).  Nodes
    >= n_sats are never entered; with max_hops >= 0 a node that many hops out is not expanded.
    When is_host answers -1 for node u, err[0] = u and the search stops with what it found."""
    cdef i64 j, u, v, h, size = 0, nfound = 0
    cdef double d, nd
    cdef Entry e
    cdef Entry* grown
    cdef int r
    for j in range(w.ntouched):              # what the last search wrote
        u = w.touched[j]
        dist[u] = INFINITY
        pred[u] = -1
        w.done[u] = 0
    dist[src] = 0.0
    w.touched[0] = src
    w.ntouched = 1
    _push(w.heap, &size, 0.0, 0, src)
    while size > 0:
        e = _pop(w.heap, &size)
        d = e.d
        h = e.h
        u = e.u
        if w.done[u]:
            continue
        w.done[u] = 1
        if u != src:
            r = is_host(ctx, u)
            if r < 0:
                err[0] = u
                return nfound
            if r:
                out_u[nfound] = u
                out_d[nfound] = d
                out_h[nfound] = h
                nfound += 1
                if nfound >= k:
                    break
        if max_hops >= 0 and h >= max_hops:
            continue
        for j in range(deg[u]):
            v = nbr[u, j]
            if v >= n_sats or w.done[v] or not usable[u, j]:
                continue
            nd = d + light[u, j] + 1e-9
            if nd < dist[v]:   # dist is inf where the twin's dict has no entry
                if dist[v] == INFINITY:
                    w.touched[w.ntouched] = v
                    w.ntouched += 1
                dist[v] = nd
                pred[v] = u
                if size == w.cap:
                    grown = <Entry*> realloc(w.heap, 2 * w.cap * sizeof(Entry))
                    if grown == NULL:
                        return -2
                    w.heap = grown
                    w.cap *= 2
                _push(w.heap, &size, nd, h + 1, v)
    return nfound
