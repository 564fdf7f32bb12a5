"""The nearest-host search both twins run: :func:`orbsched._kernels.reference.nearest_hosts`
(a mask says which satellites host) and
:meth:`orbsched._kernels.reference_fleet.HostSearch.nearest` (the fleet's host test on each
node it settles).  The twin of ``search_core.pxd``'s ``_nearest_search``, which their compiled
kernels share: the same pops in the same order and the same additions, so the same bits."""
from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np

__all__ = ["nearest_search"]


def nearest_search(nbr: np.ndarray, light: np.ndarray, usable: np.ndarray, deg: np.ndarray,
                   n_sats: int, src: int, k: int, max_hops: int, dist: np.ndarray,
                   pred: np.ndarray, is_host: Callable[[int], bool],
                   touched: list[int]) -> list[tuple[int, float, int]]:
    """The ``k`` nodes nearest to ``src`` that ``is_host`` accepts (``src`` excluded), by
    light time plus 1 ns per hop over usable links between satellites (nodes ``< n_sats``): a
    list of ``(node, light_time_s, hops)``, nearest first.  Dijkstra on ``(distance, hops,
    node)`` in lexicographic order that stops once ``k`` are found or, with ``max_hops >= 0``,
    does not expand nodes that many hops out; ``is_host`` is asked once per settled node.

    The arguments are checked by the caller.  ``dist`` / ``pred`` must be ``inf`` / -1 but
    where ``touched`` lists: those entries (the previous search's) are reset first, then
    ``touched`` lists the nodes this search writes, and ``dist`` / ``pred`` hold each reached
    node's distance and predecessor (0 and -1 at ``src``)."""
    for v in touched:                 # what the last search wrote
        dist[v] = math.inf
        pred[v] = -1
    touched[:] = [src]
    dg = deg.tolist()
    dist[src] = 0.0
    best = {src: 0.0}
    done = set()
    heap = [(0.0, 0, src)]
    found = []
    while heap:
        d, h, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        if u != src and is_host(u):
            found.append((u, d, h))
            if len(found) >= k:
                break
        if max_hops >= 0 and h >= max_hops:
            continue
        row_n, row_l, row_ok = nbr[u].tolist(), light[u].tolist(), usable[u].tolist()
        for j in range(dg[u]):
            v = row_n[j]
            if v >= n_sats or v in done or not row_ok[j]:
                continue
            nd = d + row_l[j] + 1e-9
            bv = best.get(v)
            if bv is None or nd < bv:
                if bv is None:
                    touched.append(v)
                best[v] = nd
                dist[v] = nd
                pred[v] = u
                heapq.heappush(heap, (nd, h + 1, v))
    return found
