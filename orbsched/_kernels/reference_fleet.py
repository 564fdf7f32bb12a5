"""Pure-Python parts of the fleet kernels: the batch temperature step both implementations
share, and the twin of the compiled host search (``fleet.pyx``'s ``HostSearch``).

* :func:`relax_rk4_k` is the numpy half of :func:`orbsched.models.thermal.temperatures_at_k`
  (the recorder's sampled temperatures).  It is not switched: the compiled fleet calls it too,
  so the batch temperatures are the same bits in both modes by construction (numpy's ``**``
  on arrays uses SIMD ``pow`` routines whose results differ from C's ``pow`` in the last bit,
  so a C loop could not reproduce them).
* :class:`HostSearch` is Dijkstra from a node over the laser network's slot arrays to the
  ``k`` nearest satellites that can host ``gpus`` GPUs now: the search of
  :func:`orbsched._kernels.reference.nearest_hosts` (both run
  :func:`orbsched._kernels.reference_search.nearest_search`) with the mask replaced by a test of
  each node it settles (``fleet.is_host``), and with its ``dist`` / ``pred`` arrays reset only
  where the previous search wrote them, so a search costs what it visits, not the fleet's size.
"""
from __future__ import annotations

import math

import numpy as np

from .fleet_support import check_count, query_time
from .reference import _check_graph_arrays
from .reference_search import nearest_search

__all__ = ["HostSearch", "relax_rk4_k"]


def relax_rk4_k(temp, t_node, u, beta, t_s, max_step_s: float = 30.0) -> np.ndarray:
    """Temperatures at ``t_s`` of nodes at ``temp`` (K) at their times ``t_node`` (s) relaxing
    as ``dT/dt = beta (u^4 - T^4)``: classical Runge-Kutta with a common number of steps
    (at most ``max_step_s`` each), :func:`orbsched.models.thermal.temperatures_at_k`'s
    integration.  ``temp`` is updated in place and returned (nodes already at ``t_s`` are left
    as they are)."""
    dt = t_s - t_node
    steps = max(1, int(math.ceil(float(dt.max(initial=0.0)) / max_step_s)))
    # Only the nodes behind t_s are stepped: with h = 0 a step leaves T as it is (T + 0 * k).
    # Each operation below is the one of the plain loop over all nodes (0.5 * h * k is
    # (0.5 * h) * k, h / 6 * s is (h / 6) * s), element by element: the same bits.
    moving = np.flatnonzero(dt)
    if not len(moving):
        return temp
    x = temp[moving]
    u4 = u[moving] ** 4
    beta = beta[moving]
    h = dt[moving] / steps
    half_h = 0.5 * h
    sixth_h = h / 6.0

    def f(x):
        return beta * (u4 - x ** 4)

    for _ in range(steps):
        k1 = f(x)
        k2 = f(x + half_h * k1)
        k3 = f(x + half_h * k2)
        k4 = f(x + h * k3)
        x = x + sixth_h * (k1 + 2 * k2 + 2 * k3 + k4)
    temp[moving] = x
    return temp


def check_search_args(n_nodes, nbr, light, usable, deg, fleet, src, gpus, k, max_hops, dist,
                      pred) -> tuple:
    """The arguments of :meth:`HostSearch.nearest`: the graph arrays of ``n_nodes`` nodes
    (:func:`orbsched._kernels.reference._check_graph_arrays`), whose first ``fleet.n`` are the
    fleet's satellites; ``src`` a node, ``gpus >= 0``, ``k >= 1``, ``max_hops`` None or an
    integer (None, -1: no limit).  Returns ``(src, gpus, k, max_hops)`` as ints."""
    n_sats = fleet.n
    got = _check_graph_arrays(nbr, light, usable, deg, n_sats, dist, pred)
    if got != n_nodes:
        raise ValueError(f"the graph has {got} nodes, the search was made for {n_nodes}")
    src = check_count("HostSearch.nearest", "src", src)
    if src >= n_nodes:
        raise ValueError(f"src must be a node 0..{n_nodes - 1}, got {src}")
    gpus = check_count("HostSearch.nearest", "gpus", gpus)
    k = check_count("HostSearch.nearest", "k", k, 1)
    max_hops = -1 if max_hops is None else check_count("HostSearch.nearest", "max_hops",
                                                       max_hops, -1)
    return src, gpus, k, max_hops


class HostSearch:
    """Repeated nearest-host searches over one laser network of ``n_nodes`` nodes.

    :meth:`nearest` fills :attr:`dist` (light time of every node the search reached, ``inf``
    elsewhere, 0 at ``src``) and :attr:`pred` (its predecessor on that path, -1 elsewhere and
    at ``src``), like ``nearest_hosts`` does its ``dist`` / ``pred`` arguments; they stay
    valid until the next search, which first resets only the entries this one wrote."""

    def __init__(self, n_nodes: int):
        n_nodes = check_count("HostSearch", "n_nodes", n_nodes)
        self.n_nodes = n_nodes
        self._dist = np.full(n_nodes, np.inf)
        self._pred = np.full(n_nodes, -1, dtype=np.int64)
        self.dist = self._dist.view()
        self.dist.flags.writeable = False
        self.pred = self._pred.view()
        self.pred.flags.writeable = False
        self._touched: list[int] = []

    def nearest(self, nbr, light, usable, deg, fleet, src, gpus, t_s, sunlit_only, k,
                max_hops=None) -> list:
        """The ``k`` satellites nearest to node ``src`` in light time (plus 1 ns per hop) over
        usable satellite-to-satellite links that can take ``gpus`` more GPUs at ``t_s``
        (``fleet.is_host``: free GPUs, power, and sunlit if ``sunlit_only``), ``src``
        excluded: a list of ``(sat, light_time_s, hops)``, nearest first.  Dijkstra on
        ``(distance, hops, node)`` in lexicographic order that stops once ``k`` are found or,
        with ``max_hops``, does not expand nodes that many hops out."""
        dist, pred = self._dist, self._pred
        src, gpus, k, max_hops = check_search_args(self.n_nodes, nbr, light, usable, deg,
                                                   fleet, src, gpus, k, max_hops, dist, pred)
        query_time("PowerBus", t_s)
        sunlit_only = bool(sunlit_only)
        return nearest_search(nbr, light, usable, deg, fleet.n, src, k, max_hops, dist, pred,
                              lambda u: fleet.is_host(u, gpus, t_s, sunlit_only),
                              self._touched)
