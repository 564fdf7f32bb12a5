# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled nearest-host search over the laser network, testing each settled node against a
compiled fleet (``fleet.pyx``); the twin is
:class:`orbsched._kernels.reference_fleet.HostSearch`.

Dijkstra on ``(distance, hops, node)`` in lexicographic order (``search_core.pxd``'s
``_nearest_search``, which ``graph.pyx``'s ``nearest_hosts`` runs too: the pop order and every
result are the twin's, bit for bit), stopping at the ``k``-th satellite that has the free
GPUs, the power (``fleet_core._host``: ``View.can_host``'s test) and, if asked, sunlight.  No
n-long mask is built, and the ``dist`` / ``pred`` arrays are reset only where the previous
search wrote them: a search costs what it visits.  The ``def`` wrapper checks the arguments
through the twin's checks; the search itself runs without the GIL.
"""
import numpy as np
cimport numpy as cnp
from libc.stdlib cimport calloc, malloc
from libc.stdlib cimport free as c_free

from .fleet cimport FleetKernel
from .fleet_core cimport State, _host
from .heap cimport Entry, i64
from .search_core cimport Scratch, _nearest_search
from .fleet import FleetKernel
from .fleet_support import backwards_error, check_count, query_time, readonly
from .reference_fleet import check_search_args

cnp.import_array()


cdef struct HostQuery:
    State* S
    i64 g
    double t
    bint sunlit_only


cdef inline int _fleet_host(void* q, i64 u) noexcept nogil:
    """search_core's host test for HostSearch: ``fleet_core._host`` (-1: t before u's bus)."""
    cdef HostQuery* c = <HostQuery*> q
    return _host(c.S, u, c.g, c.t, c.sunlit_only)


cdef class HostSearch:
    """Compiled twin of :class:`orbsched._kernels.reference_fleet.HostSearch` (same
    contract); it searches a compiled :class:`FleetKernel`."""

    cdef readonly Py_ssize_t n_nodes
    cdef readonly object dist, pred
    cdef object _dist, _pred
    cdef Scratch _w

    def __cinit__(self):
        self._w.touched = NULL
        self._w.done = NULL
        self._w.heap = NULL

    def __dealloc__(self):
        c_free(self._w.touched)
        c_free(self._w.done)
        c_free(self._w.heap)

    def __init__(self, n_nodes):
        n_nodes = check_count("HostSearch", "n_nodes", n_nodes)
        self.n_nodes = n_nodes
        self._dist = np.full(n_nodes, np.inf)
        self._pred = np.full(n_nodes, -1, dtype=np.int64)
        self.dist = readonly(self._dist)
        self.pred = readonly(self._pred)
        self._w.touched = <i64*> malloc(max(1, n_nodes) * sizeof(i64))
        self._w.done = <unsigned char*> calloc(max(1, n_nodes), 1)
        self._w.cap = 1024
        self._w.heap = <Entry*> malloc(self._w.cap * sizeof(Entry))
        if self._w.touched == NULL or self._w.done == NULL or self._w.heap == NULL:
            raise MemoryError("HostSearch: out of memory")
        self._w.ntouched = 0

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
        cdef i64 kk = min(k, self.n_nodes), nf = 0, err = -1
        cdef i64* out_u = <i64*> malloc(max(1, kk) * sizeof(i64))
        cdef double* out_d = <double*> malloc(max(1, kk) * sizeof(double))
        cdef i64* out_h = <i64*> malloc(max(1, kk) * sizeof(i64))
        cdef HostQuery q
        q.S = &fk.S
        q.g = g
        q.t = v
        q.sunlit_only = sunlit_only
        cdef i64 c_src = src, c_hops = max_hops
        if out_u == NULL or out_d == NULL or out_h == NULL:
            c_free(out_u); c_free(out_d); c_free(out_h)
            raise MemoryError("HostSearch: out of memory")
        try:
            with nogil:
                nf = _nearest_search(&self._w, nb, li, us, dg, fk.S.n, c_src, kk, c_hops, dist,
                                     pred, _fleet_host, <void*> &q, &err, out_u, out_d, out_h)
            if nf == -2:
                raise MemoryError("HostSearch: out of memory")
            if err >= 0:
                raise backwards_error("PowerBus", t_s, fk.S.t_bus[err])
            return [(int(out_u[i]), float(out_d[i]), int(out_h[i])) for i in range(nf)]
        finally:
            c_free(out_u); c_free(out_d); c_free(out_h)
