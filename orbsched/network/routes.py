"""Route tables: every shortest light-time route from a set of sources, from one scipy
csgraph Dijkstra call over the network's link matrix (see
:meth:`orbsched.network.laser.LaserNetwork.routes_from`)."""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..scenario.errors import NetworkError

__all__ = ["NO_PRED", "RouteTable", "dijkstra_routes"]

#: csgraph's "no predecessor" marker.
NO_PRED = -9999


class RouteTable:
    """Shortest light-time routes from a set of sources, from one scipy csgraph Dijkstra call.

    ``dist_s[i, node]`` is the route weight from ``sources[i]`` (light time plus
    :data:`HOP_COST_S` per hop; ``inf`` when unreachable).  ``predecessors[i, node]`` is the node
    before ``node`` on that route (-9999 at the source and when unreachable).
    """

    def __init__(self, sources, dist_s, predecessors):
        self.sources = np.asarray(sources, dtype=np.int64)
        self.dist_s = dist_s
        self.predecessors = predecessors
        self._row = {int(s): i for i, s in enumerate(self.sources)}

    def _r(self, src):
        try:
            return self._row[int(src)]
        except KeyError:
            raise NetworkError(f"node {src} is not a source of this route table; sources are "
                               f"{self.sources.tolist()[:20]}") from None

    def distance_s(self, src, dst):
        return float(self.dist_s[self._r(src), dst])

    def path(self, src, dst) -> list | None:
        """Node list from ``src`` to ``dst``, or None when unreachable."""
        i = self._r(src)
        if src == dst:
            return [int(src)]
        if not np.isfinite(self.dist_s[i, dst]):
            return None
        out = [int(dst)]
        pred = self.predecessors[i]
        node = int(dst)
        while node != src:
            node = int(pred[node])
            if node == NO_PRED:  # pragma: no cover - finite distance implies a chain
                return None
            out.append(node)
        out.reverse()
        return out


def dijkstra_routes(m: sparse.csr_matrix, src: np.ndarray, *, n_sats: int, n_nodes: int,
                    relay_via_ground: bool) -> RouteTable:
    """Shortest routes from ``src`` over the weighted link matrix ``m`` (one
    :func:`scipy.sparse.csgraph.dijkstra` call).  Nodes from ``n_sats`` on are ground stations:
    unless ``relay_via_ground``, they are endpoints only (edges into them are dropped for the
    search, and each is then reached through its best satellite neighbour)."""
    first_ground = n_sats
    if relay_via_ground or first_ground == n_nodes:
        dist, pred = csgraph.dijkstra(m, directed=True, indices=src,
                                      return_predecessors=True)
        return RouteTable(src, dist, pred)
    # Ground nodes are endpoints only: drop edges into them, run Dijkstra, then reach each
    # ground node through its best satellite neighbour.
    coo = m.tocoo()
    into_g = coo.col >= first_ground
    n = n_nodes
    mc = sparse.csr_matrix((coo.data[~into_g], (coo.row[~into_g], coo.col[~into_g])),
                           shape=(n, n))
    mg = sparse.csc_matrix(  # edges into ground nodes, one column per ground node
        (coo.data[into_g], (coo.row[into_g], coo.col[into_g] - first_ground)),
        shape=(n, n - first_ground))
    dist, pred = csgraph.dijkstra(mc, directed=True, indices=src, return_predecessors=True)
    for k in range(n_nodes - first_ground):
        g = first_ground + k
        lo, hi = mg.indptr[k], mg.indptr[k + 1]
        nbrs = mg.indices[lo:hi]
        nbrs_w = mg.data[lo:hi]
        nbrs_keep = nbrs < first_ground
        nbrs, nbrs_w = nbrs[nbrs_keep], nbrs_w[nbrs_keep]
        is_src = src == g
        if len(nbrs) == 0:
            dist[~is_src, g] = np.inf
            pred[~is_src, g] = NO_PRED
            continue
        cand = dist[:, nbrs] + nbrs_w[None, :]
        best = np.argmin(cand, axis=1)
        bd = cand[np.arange(len(src)), best]
        rows = ~is_src
        dist[rows, g] = bd[rows]
        pred[rows, g] = np.where(np.isfinite(bd[rows]), nbrs[best[rows]], NO_PRED)
    return RouteTable(src, dist, pred)
