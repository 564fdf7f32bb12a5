# A binary heap of Dijkstra entries ordered by (distance, hops, node) lexicographically, like
# Python's tuples in heapq: a total order on distinct entries, so the pop order (and hence every
# result) is the twin's.  graph.pyx (shortest_path) and search_core.pxd (the nearest-host search
# of graph.pyx and fleet_search.pyx) cimport it.
cimport numpy as cnp

ctypedef cnp.int64_t i64

cdef struct Entry:
    double d
    i64 h
    i64 u


cdef inline bint _less(Entry* a, Entry* b) noexcept nogil:
    if a.d != b.d:
        return a.d < b.d
    if a.h != b.h:
        return a.h < b.h
    return a.u < b.u


cdef inline void _push(Entry* heap, i64* size, double d, i64 h, i64 u) noexcept nogil:
    cdef i64 i = size[0], parent
    cdef Entry e
    e.d = d
    e.h = h
    e.u = u
    size[0] += 1
    while i > 0:
        parent = (i - 1) >> 1
        if _less(&e, &heap[parent]):
            heap[i] = heap[parent]
            i = parent
        else:
            break
    heap[i] = e


cdef inline Entry _pop(Entry* heap, i64* size) noexcept nogil:
    cdef Entry top = heap[0]
    cdef Entry last
    cdef i64 n, i, c
    size[0] -= 1
    n = size[0]
    if n > 0:
        last = heap[n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and _less(&heap[c + 1], &heap[c]):
                c += 1
            if _less(&heap[c], &last):
                heap[i] = heap[c]
                i = c
            else:
                break
        heap[i] = last
    return top
