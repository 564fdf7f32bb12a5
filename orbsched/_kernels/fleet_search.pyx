# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled nearest-host search over the laser network, testing each settled node against a
compiled fleet (``fleet.pyx``); the twin is
:class:`orbsched._kernels.reference_fleet.HostSearch`.

Dijkstra on ``(distance, hops, node)`` in lexicographic order (``heap.pxd``: the pop order and
every result are the twin's, bit for bit), stopping at the ``k``-th satellite that has the free
GPUs, the power (``fleet_core._host``: ``View.can_host``'s test) and, if asked, sunlight.  No
n-long mask is built, and the ``dist`` / ``pred`` arrays are reset only where the previous
search wrote them: a search costs what it visits.  The ``def`` wrapper checks the arguments
through the twin's checks; the search itself runs without the GIL.
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport INFINITY
from libc.stdlib cimport calloc, malloc, realloc
from libc.stdlib cimport free as c_free

from .fleet cimport FleetKernel
from .fleet_core cimport State, _host
from .heap cimport Entry, _pop, _push, i64
from .fleet import FleetKernel
from .fleet_support import backwards_error, check_count, query_time, readonly
from .reference_fleet import check_search_args

cnp.import_array()


cdef class HostSearch:
    """Compiled twin of :class:`orbsched._kernels.reference_fleet.HostSearch` (same
    contract); it searches a compiled :class:`FleetKernel`."""

    cdef readonly Py_ssize_t n_nodes
    cdef readonly object dist, pred
    cdef object _dist, _pred
    cdef i64* _touched
    cdef Py_ssize_t _ntouched
    cdef unsigned char* _done
    cdef Entry* _heap
    cdef Py_ssize_t _cap

    def __cinit__(self):
        self._touched = NULL
        self._done = NULL
        self._heap = NULL

    def __dealloc__(self):
        c_free(self._touched)
        c_free(self._done)
        c_free(self._heap)

    def __init__(self, n_nodes):
        n_nodes = check_count("HostSearch", "n_nodes", n_nodes)
        self.n_nodes = n_nodes
        self._dist = np.full(n_nodes, np.inf)
        self._pred = np.full(n_nodes, -1, dtype=np.int64)
        self.dist = readonly(self._dist)
        self.pred = readonly(self._pred)
        self._touched = <i64*> malloc(max(1, n_nodes) * sizeof(i64))
        self._done = <unsigned char*> calloc(max(1, n_nodes), 1)
        self._cap = 1024
        self._heap = <Entry*> malloc(self._cap * sizeof(Entry))
        if self._touched == NULL or self._done == NULL or self._heap == NULL:
            raise MemoryError("HostSearch: out of memory")
        self._ntouched = 0

    def nearest(self, nbr, light, usable, deg, fleet, src, gpus, t_s, sunlit_only, k,
                max_hops=None):
        """See :meth:`orbsched._kernels.reference_fleet.HostSearch.nearest`."""
        src, g, k, max_hops = check_search_args(self.n_nodes, nbr, light, usable, deg, fleet,
                                                src, gpus, k, max_hops, self._dist,
                                                self._pred)
        cdef double v = query_time("PowerBus", t_s)
        if not isinstance(fleet, FleetKernel):
            raise TypeError("HostSearch (compiled) searches a compiled fleet; got "
                            f"{type(fleet).__name__}")
        cdef FleetKernel fk = fleet
        cdef const i64[:, ::1] nb = nbr
        cdef const double[:, ::1] li = light
        cdef const unsigned char[:, ::1] us = usable
        cdef const i64[::1] dg = deg
        cdef double[::1] dist = self._dist
        cdef i64[::1] pred = self._pred
        cdef Py_ssize_t kk = min(k, self.n_nodes), nf = 0, err = -1
        cdef i64* out_u = <i64*> malloc(max(1, kk) * sizeof(i64))
        cdef double* out_d = <double*> malloc(max(1, kk) * sizeof(double))
        cdef i64* out_h = <i64*> malloc(max(1, kk) * sizeof(i64))
        cdef bint sun = sunlit_only
        cdef i64 c_src = src, c_g = g, c_hops = max_hops
        if out_u == NULL or out_d == NULL or out_h == NULL:
            c_free(out_u); c_free(out_d); c_free(out_h)
            raise MemoryError("HostSearch: out of memory")
        try:
            with nogil:
                nf = self._search(&fk.S, nb, li, us, dg, dist, pred, c_src, c_g, v, sun, kk,
                                  c_hops, &err, out_u, out_d, out_h)
            if nf == -2:
                raise MemoryError("HostSearch: out of memory")
            if err >= 0:
                raise backwards_error("PowerBus", t_s, fk.S.t_bus[err])
            return [(int(out_u[i]), float(out_d[i]), int(out_h[i])) for i in range(nf)]
        finally:
            c_free(out_u); c_free(out_d); c_free(out_h)

    cdef Py_ssize_t _search(self, State* S, const i64[:, ::1] nbr, const double[:, ::1] light,
                            const unsigned char[:, ::1] usable, const i64[::1] deg,
                            double[::1] dist, i64[::1] pred, i64 src, i64 g, double t,
                            bint sunlit_only, Py_ssize_t k, i64 max_hops, Py_ssize_t* err,
                            i64* out_u, double* out_d, i64* out_h) noexcept nogil:
        cdef Py_ssize_t j, nfound = 0, n_sats = S.n
        cdef i64 u, v, h, size = 0
        cdef double d, nd
        cdef Entry e
        cdef Entry* grown
        cdef int r
        for j in range(self._ntouched):          # what the last search wrote
            u = self._touched[j]
            dist[u] = INFINITY
            pred[u] = -1
            self._done[u] = 0
        self._ntouched = 0
        dist[src] = 0.0
        self._touched[self._ntouched] = src
        self._ntouched += 1
        _push(self._heap, &size, 0.0, 0, src)
        while size > 0:
            e = _pop(self._heap, &size)
            d = e.d
            h = e.h
            u = e.u
            if self._done[u]:
                continue
            self._done[u] = 1
            if u != src:
                r = _host(S, u, g, t, sunlit_only)
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
                if v >= n_sats or self._done[v] or not usable[u, j]:
                    continue
                nd = d + light[u, j] + 1e-9
                if nd < dist[v]:
                    if dist[v] == INFINITY:
                        self._touched[self._ntouched] = v
                        self._ntouched += 1
                    dist[v] = nd
                    pred[v] = u
                    if size == self._cap:
                        grown = <Entry*> realloc(self._heap, 2 * self._cap * sizeof(Entry))
                        if grown == NULL:
                            return -2
                        self._heap = grown
                        self._cap *= 2
                    _push(self._heap, &size, nd, h + 1, v)
        return nfound
