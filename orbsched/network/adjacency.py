"""The laser network's links as fixed-slot arrays, for compiled graph searches.

:class:`orbsched.network.laser.LaserNetwork` keeps its links in a networkx graph (attributes,
routes, flows) and mirrors them here, edited in place at each link event: row ``u`` of ``nbr`` lists
``u``'s neighbours in its first ``deg[u]`` slots, with their light times (``light``, s) and
whether the link is usable (``usable``).  A removed link's slot is filled by the row's last
one.  Rows widen (doubling) when a node gets more links than slots.  Searches over these
arrays (``orbsched._kernels.nearest_hosts``) need no per-call conversion of the graph.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SlotAdjacency"]


class SlotAdjacency:
    """Undirected links of ``n_nodes`` nodes as per-node slot rows (see the module docstring)."""

    __slots__ = ("_slot", "deg", "light", "n_nodes", "nbr", "usable")

    def __init__(self, n_nodes: int, slots: int = 4):
        self.n_nodes = int(n_nodes)
        slots = max(1, int(slots))
        self.nbr = np.full((self.n_nodes, slots), -1, dtype=np.int64)
        self.light = np.zeros((self.n_nodes, slots), dtype=np.float64)
        self.usable = np.zeros((self.n_nodes, slots), dtype=np.uint8)
        self.deg = np.zeros(self.n_nodes, dtype=np.int64)
        self._slot: dict[tuple[int, int], int] = {}   # (u, v) -> slot of v in u's row (both ways)

    def _widen(self):
        s = self.nbr.shape[1]
        self.nbr = np.hstack([self.nbr, np.full((self.n_nodes, s), -1, dtype=np.int64)])
        self.light = np.hstack([self.light, np.zeros((self.n_nodes, s))])
        self.usable = np.hstack([self.usable, np.zeros((self.n_nodes, s), dtype=np.uint8)])

    def _put(self, u, v, light_s, usable):
        j = int(self.deg[u])
        if j == self.nbr.shape[1]:
            self._widen()
        self.nbr[u, j] = v
        self.light[u, j] = light_s
        self.usable[u, j] = usable
        self.deg[u] = j + 1
        self._slot[(u, v)] = j

    def _drop(self, u, v):
        j = self._slot.pop((u, v))
        last = int(self.deg[u]) - 1
        if j != last:
            w = int(self.nbr[u, last])
            self.nbr[u, j] = w
            self.light[u, j] = self.light[u, last]
            self.usable[u, j] = self.usable[u, last]
            self._slot[(u, w)] = j
        self.nbr[u, last] = -1
        self.deg[u] = last

    def add(self, a: int, b: int, light_s: float, usable: bool):
        if (a, b) in self._slot:
            raise ValueError(f"link {a}-{b} is already in the slot table")
        self._put(a, b, light_s, usable)
        self._put(b, a, light_s, usable)

    def remove(self, a: int, b: int):
        self._drop(a, b)
        self._drop(b, a)

    def set_usable(self, a: int, b: int, usable: bool = True):
        self.usable[a, self._slot[(a, b)]] = usable
        self.usable[b, self._slot[(b, a)]] = usable

    def set_light(self, a: int, b: int, light_s: float):
        self.light[a, self._slot[(a, b)]] = light_s
        self.light[b, self._slot[(b, a)]] = light_s

    def neighbours(self, u: int) -> dict:
        """``{v: (light_s, usable)}`` of node ``u`` (for tests and debugging)."""
        d = int(self.deg[u])
        return {int(v): (float(x), bool(ok)) for v, x, ok in
                zip(self.nbr[u, :d], self.light[u, :d], self.usable[u, :d])}
