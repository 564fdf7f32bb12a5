"""The time-varying laser network: links from a contact plan, acquisition, routes.

Nodes are integers: satellites ``0 .. n_sats-1`` (the fleet order of the ephemeris) and ground
stations ``n_sats .. n_sats+K-1`` in the order of the ``stations`` list given to
:class:`LaserNetwork` (``net.station_node(name)`` maps a name to its node).  Plain integers keep
the scipy ``csgraph`` index equal to the node id and keep event tables (Parquet) single-typed.

The graph (``net.graph``, an undirected :class:`networkx.Graph`) is built once and then edited
in place at each link event; it is never rebuilt.  An edge exists while its contact window is
open (and neither the link nor an endpoint has been failed by :meth:`LaserNetwork.set_link_failed`
or :meth:`LaserNetwork.set_node_failed`).  A new edge is *acquiring* (``usable=False``) for
``acquisition_s`` after its window opened, then *usable*; only usable edges are routed over.

Edge attributes: ``rate_gbps``, ``range_km`` and ``light_s`` (= range_km / c; without
``ranges`` only, see below), ``usable``,
``up_s`` (when the edge appeared), ``usable_at_s``, ``kind`` (``"isl"`` or ``"ground"``).

Rates that follow distance: with ``network.isl_rate.model: near_far`` the contact plan carries
a rate-change table (``plan.isl_rate_changes``: ``t_s, sat_a, sat_b, rate_gbps, range_km``);
:meth:`LaserNetwork.replay` applies it with :meth:`LaserNetwork.set_link_rate`, which also
updates the link's range and light time and tells :attr:`LaserNetwork.rate_listeners`.

Lengths that follow the orbits: given ``ranges`` (a :class:`orbsched.network.linkranges.LinkRanges`,
as the engine does), light times (:meth:`LaserNetwork.path_light_s`, transfers' arrival,
:meth:`LaserNetwork.range_km`) are exact at the instant asked, and the routing weights are
refreshed every ``network.range_update_s`` (:meth:`LaserNetwork.sync_ranges`; see
:mod:`orbsched.network.linkranges` for both errors).  Edges then carry no ``range_km`` and
``light_s`` attributes (a length frozen in an attribute would be wrong a moment later): ask
:meth:`LaserNetwork.range_km` / :meth:`LaserNetwork.light_s`.  Without ``ranges`` a link
keeps the length its window opened with (a rate-table row or :meth:`update_ranges` changes
it).

Routing weight is ``light_s + HOP_COST_S`` per edge: the 1 ns per hop breaks ties between
equal light times (e.g. ranges unknown, all zero) in favour of fewer hops, and keeps csgraph
weights strictly positive; it shifts a path's reported distance by 1 ns per hop.

Ground stations (and any non-satellite node) are endpoints only by default
(``relay_via_ground=False``): a route never enters a station except as its destination, because
the terrestrial backbone between stations is not modelled and a station relaying sat-to-sat
would need two terminals pointing at two satellites.

Flow-level transfers over this network live in :mod:`orbsched.network.flows`; :meth:`transfer`
is the entry point.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse

from .._kernels import shortest_path
from ..scenario.constants import SPEED_OF_LIGHT_KM_S
from ..scenario.errors import NetworkError
from ..scenario.schema import NetworkOptions
from .adjacency import SlotAdjacency
from .flows import FlowManager
from .replay_events import GROUND_COLUMNS, ISL_COLUMNS, RATE_COLUMNS, link_events  # noqa: F401
from .routes import RouteTable, dijkstra_routes

#: Routing tie-breaker added to every edge's light time (1 ns ~ 0.3 m of range).
HOP_COST_S = 1e-9


def light_time_s(range_km):
    """One-way light time over ``range_km`` in vacuum (3.33564 us/km)."""
    return range_km / SPEED_OF_LIGHT_KM_S


def _pair(a, b):
    return (a, b) if a <= b else (b, a)


class LaserNetwork:
    """Time-varying laser network on one SimPy environment.

    Parameters
    ----------
    env : simpy.Environment
        Time 0 is the scenario start; window times ``start_s``/``end_s`` use the same origin.
    n_sats : int
        Satellites are nodes ``0 .. n_sats-1``.
    stations : sequence of str, or of GroundStation (their names are used)
        Ground-station names; station ``k`` is node ``n_sats + k``.
    options : orbsched.scenario.schema.NetworkOptions, optional
        Source of ``acquisition_s``, ``bandwidth_gbps`` and ``ground_bandwidth_gbps``; the
        keyword arguments of the same names override it.
    relay_via_ground : bool
        Let routes pass through ground stations (default False, see the module docstring).
    path_wait_s : float
        Default time a transfer waits for a usable path before failing (0: fail at once).
    log_links : bool
        Record link up/usable/down events in :attr:`log`.
    log_transfers : bool
        Record transfer start/wait/reroute/complete/fail events in :attr:`log` (the engine
        turns this off: nothing reads them there, and a busy run makes millions).
    ranges : orbsched.network.linkranges.LinkRanges, optional
        Links' lengths at any instant (see the module docstring); None: lengths frozen at
        each window's opening.
    """

    def __init__(self, env, n_sats: int, stations: Sequence[str] = (), *, options=None,
                 acquisition_s: float | None = None, bandwidth_gbps: float | None = None,
                 ground_bandwidth_gbps: float | None = None, relay_via_ground: bool = False,
                 path_wait_s: float = 0.0, log_links: bool = True,
                 log_transfers: bool = True, ranges=None):

        if options is None:
            options = NetworkOptions()
        self.env = env
        self.n_sats = int(n_sats)
        if self.n_sats < 0:
            raise NetworkError(f"n_sats must be >= 0, got {n_sats}")
        self.stations = [str(getattr(s, "name", s)) for s in stations]  # names or GroundStation
        dup = sorted({s for s in self.stations if self.stations.count(s) > 1})
        if dup:
            raise NetworkError(f"ground station names must be unique, repeated: {dup}")
        self._station_node = {s: self.n_sats + k for k, s in enumerate(self.stations)}
        self.n_nodes = self.n_sats + len(self.stations)
        self.acquisition_s = float(options.acquisition_s if acquisition_s is None
                                   else acquisition_s)
        self.bandwidth_gbps = float(options.bandwidth_gbps if bandwidth_gbps is None
                                    else bandwidth_gbps)
        self.ground_bandwidth_gbps = float(options.ground_bandwidth_gbps
                                           if ground_bandwidth_gbps is None
                                           else ground_bandwidth_gbps)
        for name in ("acquisition_s", "bandwidth_gbps", "ground_bandwidth_gbps"):
            v = getattr(self, name)
            bound = ">= 0" if name == "acquisition_s" else "> 0"
            if not math.isfinite(v) or v < 0 or (v == 0 and bound == "> 0"):
                raise NetworkError(f"{name} must be a finite number {bound}, got {v}")
        self.relay_via_ground = bool(relay_via_ground)
        self.path_wait_s = float(path_wait_s)
        self.log_links = bool(log_links)
        self.log_transfers = bool(log_transfers)

        self.graph = nx.Graph()
        self.graph.add_nodes_from(range(self.n_sats), kind="sat")
        for k, s in enumerate(self.stations):
            self.graph.add_node(self.n_sats + k, kind="gs", name=s)
        #: Append-only event log: dicts with t_s, kind, a, b, detail.
        self.log: list = []
        #: Counters; ``graph_builds`` stays 1 (the graph is only edited in place).
        self.stats = dict(graph_builds=1, edges_added=0, edges_removed=0, link_events=0,
                          csgraph_builds=0, range_updates=0)
        # pair -> [count, rate_gbps, range_km, kind, window_start_s]
        self._open: dict[tuple[int, int], list] = {}
        # pair -> the graph's edge-attribute dict (same object)
        self._edges: dict[tuple[int, int], dict] = {}
        self._gen = 0             # edge generation, so stale acquisition timers are ignored
        self._failed_links: set[tuple[int, int]] = set()
        self._failed_nodes: set[int] = set()
        self._version = 0         # bumped at every change that alters routes
        self._csr_cache: dict[tuple[int, bool], sparse.csr_matrix] = {}
        #: The links again as fixed-slot arrays (light time, usable), edited with the graph,
        #: for compiled searches (:meth:`orbsched.engine.view.View.nearest`).
        self.slots = SlotAdjacency(self.n_nodes)
        self._route_buf = (np.empty(self.n_nodes), np.empty(self.n_nodes, dtype=np.int64))
        if ranges is not None and ranges.n_nodes != self.n_nodes:
            raise NetworkError(f"ranges cover {ranges.n_nodes} nodes, the network has "
                               f"{self.n_nodes} ({self.n_sats} satellites + "
                               f"{len(self.stations)} stations)")
        #: Links' lengths at any instant (:class:`orbsched.network.linkranges.LinkRanges`), or None.
        self.ranges = ranges
        # the period whose start's lengths the slot weights hold (with ranges): [t, end)
        self._weights_t, self._weights_end = math.inf, -math.inf
        #: Callables ``fn(up, a, b)`` told when a link becomes usable (``up``) or goes down.
        self.listeners: list = []
        #: Callables ``fn(a, b, rate_gbps, range_km)`` (``a < b``) told after each change of a
        #: link's rate (:meth:`set_link_rate`, e.g. replayed from the contact plan's rate table);
        #: the flows on the link have been re-shared by then.
        self.rate_listeners: list = []
        self.flows = FlowManager(self)

    # ------------------------------------------------------------------------- nodes, links
    def station_node(self, name: str) -> int:
        try:
            return self._station_node[name]
        except KeyError:
            raise NetworkError(f"unknown ground station {name!r}; known: {self.stations}") \
                from None

    def node_label(self, node: int) -> str:
        self._check_node(node)
        return f"sat {node}" if node < self.n_sats else f"gs {self.stations[node - self.n_sats]}"

    def _check_node(self, node):
        if isinstance(node, (bool, np.bool_)) or not isinstance(node, (int, np.integer)) \
                or not 0 <= node < self.n_nodes:
            raise NetworkError(
                f"unknown node {node!r}: satellites are 0..{self.n_sats - 1}, ground stations "
                f"{self.n_sats}..{self.n_nodes - 1} ({', '.join(self.stations) or 'none'})")

    def has_link(self, a, b) -> bool:
        return _pair(a, b) in self._edges

    def is_usable(self, a, b) -> bool:
        d = self._edges.get(_pair(a, b))
        return bool(d is not None and d["usable"])

    def link(self, a, b) -> dict:
        """The live attribute dict of edge a-b (do not edit; use the methods)."""
        try:
            return self._edges[_pair(a, b)]
        except KeyError:
            raise NetworkError(f"no link between {a} and {b} at t={self.env.now:g} s") from None

    def usable_links(self):
        return [p for p, d in self._edges.items() if d["usable"]]

    def _log(self, kind, a, b, detail=""):
        self.log.append(dict(t_s=float(self.env.now), kind=kind, a=int(a), b=int(b),
                             detail=detail))

    def open_window(self, a, b, *, rate_gbps=None, range_km=None, start_s=None):
        """A contact window a-b opens (the replay calls this; scripts may too).

        ``start_s`` (default now) is when the window opened; acquisition ends at
        ``start_s + acquisition_s``, so a window that opened before the replay began is usable
        sooner.  Overlapping windows of one pair are counted: the link lasts until all closed.
        """
        self._check_node(a)
        self._check_node(b)
        if a == b:
            raise NetworkError(f"a link needs two distinct nodes, got {a}-{b}")
        if a >= self.n_sats and b >= self.n_sats:
            raise NetworkError(f"no link between two ground nodes ({a}, {b})")
        p = _pair(a, b)
        kind = "isl" if p[1] < self.n_sats else "ground"
        if rate_gbps is None or (isinstance(rate_gbps, float) and math.isnan(rate_gbps)):
            rate_gbps = self.bandwidth_gbps if kind == "isl" else self.ground_bandwidth_gbps
        rate_gbps = float(rate_gbps)
        if not (rate_gbps > 0 and math.isfinite(rate_gbps)):
            raise NetworkError(f"link {a}-{b}: rate_gbps must be finite and > 0, got {rate_gbps}")
        if range_km is None or (isinstance(range_km, float) and math.isnan(range_km)):
            range_km = 0.0
        start_s = self.env.now if start_s is None else min(float(start_s), self.env.now)
        self.stats["link_events"] += 1
        st = self._open.get(p)
        if st is not None:
            st[0] += 1
            return
        self._open[p] = [1, rate_gbps, float(range_km), kind, start_s]
        self._sync(p, start_s, "window opened")

    def close_window(self, a, b):
        """A contact window a-b closes; flows on the link re-route or fail (see flows)."""
        p = _pair(a, b)
        self.stats["link_events"] += 1
        st = self._open.get(p)
        if st is None:
            raise NetworkError(f"close_window({a}, {b}) at t={self.env.now:g} s: no open window")
        st[0] -= 1
        if st[0] == 0:
            del self._open[p]
            self._sync(p, None, "window closed")

    def set_link_failed(self, a, b, failed: bool = True):
        """Fail (or restore) link a-b regardless of its window; a restored link re-acquires."""
        p = _pair(a, b)
        self._check_node(p[0])
        self._check_node(p[1])
        (self._failed_links.add if failed else self._failed_links.discard)(p)
        self._sync(p, self.env.now, "link failed" if failed else "link restored")

    def set_node_failed(self, node, failed: bool = True):
        """Fail (or restore) every link of ``node``; its windows keep being tracked."""
        self._check_node(node)
        (self._failed_nodes.add if failed else self._failed_nodes.discard)(node)
        why = f"node {node} failed" if failed else f"node {node} restored"
        for p in [p for p in self._open if node in p]:
            self._sync(p, self.env.now, why)

    def set_link_rate(self, a, b, rate_gbps: float, range_km: float | None = None):
        """Change the rate (and, given ``range_km``, the range and light time) of an existing
        link, e.g. a range-dependent rate; flows re-share, then :attr:`rate_listeners` hear
        ``(a, b, rate_gbps, range_km)`` with ``a < b``."""
        p = _pair(a, b)
        d = self.link(a, b)
        rate_gbps = float(rate_gbps)
        if not (rate_gbps > 0 and math.isfinite(rate_gbps)):
            raise NetworkError(f"link {a}-{b}: rate_gbps must be finite and > 0, got {rate_gbps}")
        if range_km is not None:
            range_km = float(range_km)
            if not (range_km >= 0 and math.isfinite(range_km)):
                raise NetworkError(f"link {a}-{b}: range_km must be finite and >= 0, got "
                                   f"{range_km}")
            if self.ranges is None:   # with ranges, lengths come from the orbits
                d["range_km"] = range_km
                d["light_s"] = light_time_s(range_km)
                self.slots.set_light(p[0], p[1], d["light_s"])
                self._open[p][2] = range_km
        d["rate_gbps"] = rate_gbps
        self._open[p][1] = rate_gbps
        self._version += 1
        self.flows.on_link_rate_changed(p)
        for fn in self.rate_listeners:
            fn(p[0], p[1], rate_gbps, self.range_km(p[0], p[1]))

    def _replay_rate(self, a, b, rate_gbps, range_km):
        """A rate-change row of the contact plan: applied to the link if it is up; a window
        that is open but whose link is down (failed) keeps the new values for when it
        returns; rows of pairs without an open window are ignored."""
        p = _pair(a, b)
        st = self._open.get(p)
        if st is None:
            return
        if p in self._edges:
            self.set_link_rate(p[0], p[1], rate_gbps, range_km)
        else:
            st[1] = float(rate_gbps)
            if range_km is not None:
                st[2] = float(range_km)

    def _sync(self, p, since_s, why):
        should = (p in self._open and p not in self._failed_links
                  and p[0] not in self._failed_nodes and p[1] not in self._failed_nodes)
        has = p in self._edges
        if should and not has:
            self._add_edge(p, since_s, why)
        elif has and not should:
            self._remove_edge(p, why)

    def _add_edge(self, p, since_s, why):
        _, rate, rng, kind, _ = self._open[p]
        now = self.env.now
        usable_at = since_s + self.acquisition_s
        self._gen += 1
        usable = usable_at <= now
        if self.ranges is None:
            self.graph.add_edge(p[0], p[1], rate_gbps=rate, range_km=rng,
                                light_s=light_time_s(rng), usable=usable, up_s=now,
                                usable_at_s=usable_at, kind=kind, gen=self._gen)
            weight_s = light_time_s(rng)
        else:   # no static length: ask range_km(); the weight as the other links' period
            self.graph.add_edge(p[0], p[1], rate_gbps=rate, usable=usable, up_s=now,
                                usable_at_s=usable_at, kind=kind, gen=self._gen)
            weight_s = 0.0          # set by the period's refresh if it has not run yet
            if self._weights_t <= now < self._weights_end:
                weight_s = light_time_s(self.ranges.range_km(p[0], p[1], self._weights_t))
        self._edges[p] = self.graph.adj[p[0]][p[1]]
        self.slots.add(p[0], p[1], weight_s, usable)
        self._version += 1
        self.stats["edges_added"] += 1
        if self.log_links:
            self._log("link_up", p[0], p[1], why)
        if usable:
            if self.log_links:
                self._log("link_usable", p[0], p[1], "")
            self.flows.on_links_usable()
            self._notify(True, p)
        else:
            ev = self.env.timeout(usable_at - now)
            ev.callbacks.append(lambda _e, p=p, g=self._gen: self._acquired(p, g))

    def _acquired(self, p, gen):
        d = self._edges.get(p)
        if d is None or d["gen"] != gen:
            return  # the edge went down (and maybe came back) during acquisition
        d["usable"] = True
        self.slots.set_usable(p[0], p[1], True)
        self._version += 1
        if self.log_links:
            self._log("link_usable", p[0], p[1], "")
        self.flows.on_links_usable()
        self._notify(True, p)

    def _notify(self, up, p):
        for fn in self.listeners:
            fn(up, p[0], p[1])

    def _remove_edge(self, p, why):
        del self._edges[p]
        self.graph.remove_edge(p[0], p[1])
        self.slots.remove(p[0], p[1])
        self._version += 1
        self.stats["edges_removed"] += 1
        if self.log_links:
            self._log("link_down", p[0], p[1], why)
        self.flows.on_link_down(p, why)
        self._notify(False, p)

    def sync_ranges(self):
        """Bring the routing weights to the lengths of the current ``range_update_s`` period
        (with :attr:`ranges`; a no-op without, or when they are already there).  Route
        searches call it; a search over :attr:`slots` outside this class should too."""
        r = self.ranges
        if r is None or self._weights_t <= self.env.now < self._weights_end:
            return
        t = r.weight_time_s(self.env.now)
        r.refresh(self.slots, t)
        self._weights_t, self._weights_end = t, t + r.update_s
        self._version += 1
        self.stats["range_updates"] += 1

    def range_km(self, a, b) -> float:
        """Length of link a-b now (km): exact at this instant with :attr:`ranges`, else the
        length it was given."""
        d = self.link(a, b)
        if self.ranges is None:
            return float(d["range_km"])
        return self.ranges.range_km(a, b, self.env.now)   # exact now (checked: a link)

    def light_s(self, a, b) -> float:
        """One-way light time of link a-b now (s), see :meth:`range_km`."""
        return light_time_s(self.range_km(a, b))

    def update_ranges(self, positions_km, station_positions_km=None):
        """Refresh ``range_km`` and ``light_s`` of every existing link from positions (a
        network without :attr:`ranges`, whose lengths follow the orbits by themselves).

        ``positions_km`` is (n_sats, 3); ``station_positions_km`` (K, 3) in the same frame, or
        None to keep ground-link ranges.  Transfers keep their paths (they re-route only when a
        link breaks); a transfer's final light time is taken when its last byte leaves.
        """
        if self.ranges is not None:
            raise NetworkError("update_ranges: this network's lengths follow the orbits "
                               "(ranges); it needs no positions")
        pos = np.asarray(positions_km, dtype=float)
        if pos.shape != (self.n_sats, 3):
            raise NetworkError(f"positions_km must have shape ({self.n_sats}, 3), got {pos.shape}")
        allpos = pos
        if station_positions_km is not None:
            gpos = np.asarray(station_positions_km, dtype=float)
            if gpos.shape != (len(self.stations), 3):
                raise NetworkError(f"station_positions_km must have shape "
                                   f"({len(self.stations)}, 3), got {gpos.shape}")
            allpos = np.vstack([pos, gpos])
        if not self._edges:
            return
        pairs = np.array(list(self._edges.keys()), dtype=np.int64)
        keep = pairs[:, 1] < allpos.shape[0]
        rng = np.full(len(pairs), np.nan)
        rng[keep] = np.linalg.norm(allpos[pairs[keep, 0]] - allpos[pairs[keep, 1]], axis=1)
        for (p, d), r in zip(list(self._edges.items()), rng.tolist()):
            if r == r:  # not NaN
                d["range_km"] = r
                d["light_s"] = r / SPEED_OF_LIGHT_KM_S
                self.slots.set_light(p[0], p[1], d["light_s"])
                self._open[p][2] = r
        self._version += 1
        self.stats["range_updates"] += 1

    # ------------------------------------------------------------------------------ routing
    def route(self, src, dst, *, include_acquiring: bool = False) -> list | None:
        """Shortest light-time path ``[src, ..., dst]`` over usable links, or None.

        Dijkstra over the slot arrays (:func:`orbsched._kernels.shortest_path`, compiled when
        ``orbsched.accelerated``: tens of microseconds on a 1,584-satellite grid); for many
        routes at once use :meth:`routes_from`.

        ``include_acquiring=True`` also admits links still in acquisition (for estimates).
        """
        self._check_node(src)
        self._check_node(dst)
        self.sync_ranges()
        sl = self.slots
        return shortest_path(sl.nbr, sl.light, sl.usable, sl.deg, src, dst, self.n_sats,
                             include_acquiring, self.relay_via_ground, *self._route_buf)

    def path_light_s(self, path) -> float:
        """Light time along ``path`` with the links' lengths now (no hop cost): exact at this
        instant with :attr:`ranges`."""
        if self.ranges is not None:
            return self.ranges.path_light_s(path, self.env.now)
        adj = self.graph.adj
        return float(sum(adj[u][v]["light_s"] for u, v in zip(path[:-1], path[1:])))

    def path_rate_gbps(self, path) -> float:
        """Bottleneck link rate along ``path`` (inf for a single node)."""
        adj = self.graph.adj
        return float(min((adj[u][v]["rate_gbps"] for u, v in zip(path[:-1], path[1:])),
                         default=math.inf))

    def transfer_time_estimate(self, src, dst, size_gb: float, *,
                               load_aware: bool = False) -> float:
        """Seconds to move ``size_gb`` from src to dst if started now (inf when unreachable).

        size * 8 / bottleneck rate + path light time, plus the remaining acquisition when the
        best path still needs a link in acquisition.  ``load_aware`` divides each link's rate
        by (flows already on it in that direction + 1), a one-step guess at the fair share;
        without it the estimate ignores other transfers and is a lower bound.
        """
        path = self.route(src, dst)
        wait_s = 0.0
        if path is None:
            path = self.route(src, dst, include_acquiring=True)
            if path is None:
                return math.inf
            adj = self.graph.adj
            wait_s = max(0.0, max(adj[u][v]["usable_at_s"] for u, v in zip(path[:-1], path[1:]))
                         - self.env.now)
        if len(path) == 1:
            return 0.0
        if load_aware:
            adj = self.graph.adj
            rate = min(adj[u][v]["rate_gbps"] / (self.flows.n_flows_on(u, v) + 1)
                       for u, v in zip(path[:-1], path[1:]))
        else:
            rate = self.path_rate_gbps(path)
        return wait_s + float(size_gb) * 8.0 / rate + self.path_light_s(path)

    def _csr(self, include_acquiring):
        key = (self._version, include_acquiring)
        m = self._csr_cache.get(key)
        if m is not None:
            return m
        self.stats["csgraph_builds"] += 1
        sl = self.slots   # the links as slot rows, both directions (weights as route())
        keep = sl.nbr >= 0
        if not include_acquiring:
            keep &= sl.usable.astype(bool)
        r, j = np.nonzero(keep)
        m = sparse.csr_matrix((sl.light[r, j] + HOP_COST_S, (r, sl.nbr[r, j])),
                              shape=(self.n_nodes, self.n_nodes))
        self._csr_cache = {key: m}
        return m

    def routes_from(self, sources: Iterable[int] | None = None, *,
                    include_acquiring: bool = False) -> RouteTable:
        """Shortest light-time routes from ``sources`` (default: every node) to every node.

        One :func:`scipy.sparse.csgraph.dijkstra` call over a CSR matrix cached until the next
        link change; use it when many routes are needed at once (all-pairs on 1,584 nodes takes
        well under a second).  Same routes as :meth:`route` (ties aside).
        """
        if sources is None:
            src = np.arange(self.n_nodes, dtype=np.int64)
        else:
            src = np.array([int(s) for s in sources], dtype=np.int64)
            for s in src:
                self._check_node(int(s))
        self.sync_ranges()
        m = self._csr(include_acquiring)
        return dijkstra_routes(m, src, n_sats=self.n_sats, n_nodes=self.n_nodes,
                               relay_via_ground=self.relay_via_ground)

    # ----------------------------------------------------------------------------- replay
    def replay(self, isl_windows: pd.DataFrame | None = None,
               ground_windows: pd.DataFrame | None = None,
               rate_changes: pd.DataFrame | None = None):
        """SimPy process replaying contact windows as link events in time order.

        Use as ``env.process(net.replay(isl, ground, rates))`` (with a contact plan:
        ``plan.isl_windows, plan.ground_windows, plan.isl_rate_changes``).  Tables:
        :data:`ISL_COLUMNS` / :data:`GROUND_COLUMNS` (``station`` holds names, or integer
        indices into ``stations``), optional ``range_km`` (or ``range_start_km``; missing =
        0 km), ``rate_gbps`` (NaN = default) and ``start_clipped`` (True: the window was under
        way before the plan began, so the link is taken as already acquired).

        ``rate_changes`` (:data:`RATE_COLUMNS`, optional ``range_km``; None or empty: none)
        changes the rate, range and light time of open links at its ``t_s`` through
        :meth:`set_link_rate` (so :attr:`rate_listeners` hear each change); rows before the
        replay's start are applied, in order, when it starts.

        At one instant all openings are applied, then the rate changes, then all closings (so
        back-to-back windows of one pair keep the link up without re-acquisition).
        """
        ev = link_events(isl_windows, ground_windows, rate_changes, n_sats=self.n_sats,
                         stations=self.stations, station_node=self._station_node,
                         acquisition_s=self.acquisition_s, now=float(self.env.now))
        if ev is None:
            return
        starts, ends, t_l, kind_l, idx_l, (a_l, b_l, rate_l, rng_l, start_l), \
            (ra_l, rb_l, rr_l, rg_l) = ev
        env = self.env
        for i0, i1 in zip(starts, ends):
            dt = t_l[i0] - env.now
            if dt > 0:
                yield env.timeout(dt)
            for k in range(i0, i1):
                j = idx_l[k]
                kd = kind_l[k]
                if kd == 0:
                    r = rate_l[j]
                    g = rng_l[j]
                    self.open_window(a_l[j], b_l[j], rate_gbps=None if r != r else r,
                                     range_km=None if g != g else g, start_s=start_l[j])
                elif kd == 1:
                    g = rg_l[j]
                    self._replay_rate(ra_l[j], rb_l[j], rr_l[j], None if math.isnan(g) else g)
                else:
                    self.close_window(a_l[j], b_l[j])

    # ---------------------------------------------------------------------------- transfers
    def transfer(self, src, dst, size_gb: float, *, label=None, wait_s: float | None = None,
                 path_hint=None):
        """Start a flow-level transfer now; returns a :class:`orbsched.network.flows.Transfer`
        event.

        ``rec = yield net.transfer(...)`` gives a :class:`orbsched.network.flows.TransferRecord`
        (``rec.ok``, ``rec.reason``...).  See :mod:`orbsched.network.flows` for the model.
        """
        return self.flows.start(src, dst, size_gb, label=label,
                                wait_s=self.path_wait_s if wait_s is None else wait_s,
                                path_hint=path_hint)
