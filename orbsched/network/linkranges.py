"""Links whose lengths follow the orbits: the laser network's view of the grid ephemeris.

:class:`LinkRanges` wraps a :class:`orbsched.geometry.ephemeris.GridEphemeris` (positions
computed by the geometry stage; the engine never propagates an orbit) and gives
:class:`orbsched.network.laser.LaserNetwork` the length of any link at any instant.  Two uses, two
accuracies:

* **Light times are exact per query.**  A transfer's light time (taken when its last byte
  leaves), an inference request's propagation (ground link and laser route, at its arrival),
  a ring hop's light time and ``net.path_light_s`` / ``net.range_km`` evaluate every link of
  the path at the instant asked, from the grid positions by cubic Hermite interpolation: the
  error is the interpolation's (below 1 m at a 60 s grid, 3 ns of light time; see
  :mod:`orbsched.geometry.ephemeris`).  Simplification: a signal's flight (at most tens of ms) is
  timed with the lengths at its departure; a link's length moves by up to 7.5 km/s x 20 ms
  = 150 m meanwhile (0.5 us).
* **Routing weights are refreshed every** ``network.range_update_s`` (default 10 s): the
  slot arrays' light times (what every route search reads: compiled Dijkstra, csgraph) hold
  the lengths at the start of the current period, ``floor(t / range_update_s) x
  range_update_s``, recomputed for all links at once (vectorised) by the first route search
  of a period, so route choices do not depend on which queries came before.  Error of a
  weight: at most the length's rate of change times the period, ~0.95 km/s x 10 s = 10 km
  (32 us) for a cross-plane laser link at 550 km, ~7.5 km/s x 10 s = 75 km (250 us) for a
  ground link; it can only pick a route whose light time is within twice that of the
  shortest, and the light time then charged is exact for the route taken.

Rates that follow distance (``network.isl_rate: near_far``) keep the contact plan's rate
table, which the geometry stage computed from the true distance at every grid instant (each
rate within ``rate_tol`` of the model there).  Without a :class:`LinkRanges` the network keeps
each link's length from its window's opening (``range_start_km``, 0 km for a ground link), as
scripts driving :class:`~orbsched.network.laser.LaserNetwork` by hand may want.
"""
from __future__ import annotations

import math

from .._kernels import slot_lengths
from ..scenario.constants import SPEED_OF_LIGHT_KM_S
from ..scenario.errors import NetworkError

__all__ = ["LinkRanges"]


class LinkRanges:
    """Links' lengths at any instant from a grid ephemeris (see the module docstring).

    ``ephemeris`` numbers its nodes as the network does (satellites, then ground stations);
    ``update_s`` is the period of the routing weights (``network.range_update_s``).
    """

    def __init__(self, ephemeris, update_s: float = 10.0):
        update_s = float(update_s)
        if not (math.isfinite(update_s) and update_s > 0):
            raise NetworkError(f"range_update_s must be a finite number > 0, got {update_s}")
        self.ephemeris = ephemeris
        self.update_s = update_s
        self._span = ephemeris.span_s

    @property
    def n_nodes(self) -> int:
        return self.ephemeris.n_nodes

    def weight_time_s(self, t_s: float) -> float:
        """The instant whose lengths the routing weights hold at ``t_s``: the start of its
        ``update_s`` period (clipped to the ephemeris's span)."""
        t = math.floor(float(t_s) / self.update_s) * self.update_s
        lo, hi = self._span
        return min(max(t, lo), hi)

    def range_km(self, a, b, t_s: float) -> float:
        """Length of one link a-b (km) at ``t_s``."""
        return self.ephemeris.pair_range_km(int(a), int(b), t_s)

    def path_light_s(self, path, t_s: float) -> float:
        """Light time (s) along ``path`` (a node list) with every link's length at ``t_s``."""
        return self.ephemeris.path_length_km(path, t_s) / SPEED_OF_LIGHT_KM_S

    def refresh(self, slots, t_s: float):
        """Set the light time of every link in ``slots`` (a
        :class:`orbsched.network.adjacency.SlotAdjacency`) to its length at ``t_s``: all
        positions at once (numpy), then :func:`orbsched._kernels.slot_lengths` (compiled, or its
        twin)."""
        slot_lengths(slots.nbr, slots.deg, self.ephemeris.positions(t_s), slots.light,
                     SPEED_OF_LIGHT_KM_S)
