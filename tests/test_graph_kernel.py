"""The laser graph's slot arrays and the nearest-host search: compiled against its twin
(exact), the twin against networkx's Dijkstra, the slots against the network's graph."""
import networkx as nx
import numpy as np
import pytest
import simpy
from engine_helpers import check_invariants, make_engine, scenario

from orbsched import _kernels
from orbsched._kernels import reference
from orbsched.network.adjacency import SlotAdjacency
from orbsched.network.laser import LaserNetwork
from orbsched.policies import Stay
from orbsched.scenario.constants import SPEED_OF_LIGHT_KM_S
from orbsched.scenario.errors import PolicyError

NO_THERMAL = {"thermal": None, "payload_reserve_wh": 0.0}

compiled = _kernels.compiled_kernels()
needs_compiled = pytest.mark.skipif(compiled is None, reason="compiled kernels not built")


def _random_slots(rng, n, p_edge, n_sats=None, ties=False):
    """A random undirected graph as SlotAdjacency plus the same as networkx."""
    sl = SlotAdjacency(n, slots=2)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for a in range(n):
        for b in range(a + 1, n):
            if rng.random() < p_edge:
                light = float(rng.integers(1, 4)) * 1e-3 if ties else float(rng.uniform(1e-4, 2e-2))
                ok = bool(rng.random() < 0.85)
                sl.add(a, b, light, ok)
                g.add_edge(a, b, light_s=light, usable=ok)
    return sl, g


def _assert_same(a, b):
    """Two searches' (result, dist, pred): identical, bit for bit."""
    assert a[0] == b[0]
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])


def _search(fn, sl, mask, src, k, max_hops, n_sats):
    dist = np.empty(sl.n_nodes)
    pred = np.empty(sl.n_nodes, dtype=np.int64)
    found = fn(sl.nbr, sl.light, sl.usable, sl.deg, mask, src, k, max_hops, n_sats, dist, pred)
    return found, dist, pred


@needs_compiled
@pytest.mark.parametrize("ties", [False, True])
def test_nearest_hosts_compiled_equals_twin(ties):
    rng = np.random.default_rng(11 + ties)
    for _ in range(60):
        n = int(rng.integers(2, 120))
        n_sats = int(rng.integers(1, n + 1))
        sl, _ = _random_slots(rng, n, float(rng.uniform(0.02, 0.3)), ties=ties)
        mask = rng.random(n_sats) < rng.uniform(0.05, 0.8)
        src = int(rng.integers(n))                  # a ground node may start a search
        k = int(rng.integers(1, 6))
        hops = None if rng.random() < 0.5 else int(rng.integers(0, 5))
        a = _search(compiled["nearest_hosts"], sl, mask, src, k, hops, n_sats)
        b = _search(reference.nearest_hosts, sl, mask, src, k, hops, n_sats)
        _assert_same(a, b)


def test_nearest_hosts_twin_matches_networkx_dijkstra():
    rng = np.random.default_rng(5)
    for _ in range(40):
        n = int(rng.integers(5, 80))
        n_sats = n - int(rng.integers(0, 3))          # the last nodes may be ground stations
        sl, g = _random_slots(rng, n, 0.1)
        mask = rng.random(n_sats) < 0.3
        src = int(rng.integers(n_sats))
        k = int(rng.integers(1, 4))
        found, dist, pred = _search(reference.nearest_hosts, sl, mask, src, k, None, n_sats)
        sat_g = nx.Graph([(a, b, d) for a, b, d in g.edges(data=True)
                          if d["usable"] and a < n_sats and b < n_sats])
        sat_g.add_node(src)
        ref = nx.single_source_dijkstra_path_length(
            sat_g, src, weight=lambda u, v, d: d["light_s"] + 1e-9)
        want = sorted((d, v) for v, d in ref.items() if v != src and mask[v])[:k]
        assert [v for v, _, _ in found] == [v for _, v in want]
        for (v, d, h), (dref, _) in zip(found, want):
            assert d == pytest.approx(dref, rel=1e-12, abs=1e-15)       # addition order only
            path = [v]
            while path[-1] != src:
                path.append(int(pred[path[-1]]))
            assert len(path) - 1 == h and all(sat_g.has_edge(a, b) for a, b in
                                              zip(path, path[1:]))
        reached = {int(v) for v in np.flatnonzero(np.isfinite(dist))}
        assert reached <= set(ref)


def test_nearest_hosts_max_hops_and_bad_arguments():
    sl = SlotAdjacency(4)
    for a, b in ((0, 1), (1, 2), (2, 3)):
        sl.add(a, b, 1e-3, True)
    mask = np.array([False, False, False, True])
    assert _search(reference.nearest_hosts, sl, mask, 0, 1, 2, 4)[0] == []
    found = _search(reference.nearest_hosts, sl, mask, 0, 1, 3, 4)[0]
    assert [(v, h) for v, _, h in found] == [(3, 3)]
    with pytest.raises(ValueError, match="at least 4 entries"):
        _search(reference.nearest_hosts, sl, mask[:2], 0, 1, None, 4)
    with pytest.raises(ValueError, match="src must be a node"):
        _search(reference.nearest_hosts, sl, mask, 7, 1, None, 4)
    with pytest.raises(ValueError, match="k must be >= 1"):
        _search(reference.nearest_hosts, sl, mask, 0, 0, None, 4)


def test_slot_adjacency_follows_edits_and_widens():
    rng = np.random.default_rng(3)
    n = 12
    sl = SlotAdjacency(n, slots=1)
    ref = {u: {} for u in range(n)}
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    for _ in range(400):
        a, b = pairs[int(rng.integers(len(pairs)))]
        op = rng.random()
        if b in ref[a] and op < 0.4:
            sl.remove(a, b)
            del ref[a][b], ref[b][a]
        elif b in ref[a] and op < 0.7:
            x = float(rng.uniform(0, 1))
            sl.set_light(a, b, x)
            ref[a][b] = ref[b][a] = (x, ref[a][b][1])
        elif b in ref[a]:
            sl.set_usable(a, b, True)
            ref[a][b] = ref[b][a] = (ref[a][b][0], True)
        else:
            x = float(rng.uniform(0, 1))
            sl.add(a, b, x, False)
            ref[a][b] = ref[b][a] = (x, False)
        for u in (a, b):
            assert sl.neighbours(u) == ref[u]
    assert sl.nbr.shape[1] > 1                       # it had to widen
    assert all(sl.neighbours(u) == ref[u] for u in range(n))
    assert np.all(sl.nbr[np.arange(sl.nbr.shape[1]) >= sl.deg[:, None]] == -1)


def test_network_slots_mirror_its_graph_through_link_events():
    env = simpy.Environment()
    net = LaserNetwork(env, 6, ["gs"], acquisition_s=5.0)

    def check():
        for u in range(net.n_nodes):
            want = {v: (d["light_s"], d["usable"]) for v, d in net.graph.adj[u].items()}
            assert net.slots.neighbours(u) == want

    net.open_window(0, 1, range_km=1000.0)
    net.open_window(1, 2, range_km=2000.0)
    net.open_window(2, 6, range_km=800.0)         # a ground link
    check()
    env.run(until=6.0)                            # acquisition over: usable
    check()
    net.set_link_rate(0, 1, 50.0, range_km=1500.0)
    net.set_link_failed(1, 2)
    check()
    net.set_link_failed(1, 2, False)
    net.set_node_failed(0)
    check()
    net.set_node_failed(0, False)
    net.close_window(2, 6)
    pos = np.random.default_rng(1).normal(size=(6, 3)) * 3000.0
    net.update_ranges(pos)
    check()
    env.run(until=20.0)
    check()


class _AskNearest(Stay):
    """At satellite 0's eclipse entry, ask the view for the nearest hosts (recorded)."""

    def __init__(self, mask_len=None):
        super().__init__()
        self.asked = []
        self.mask_len = mask_len

    def on_shadow(self, sats, view):
        if 0 in sats:
            mask = np.ones(self.mask_len or len(view.free), bool)
            self.asked.append((view.nearest(0, mask, k=3), view.nearest(0, mask, max_hops=1)))


def test_view_nearest_in_the_engine_walks_usable_links_by_light_time():
    # chain 0 -1000 km- 1 -500 km- 2, and 0 -3000 km- 3 (still acquiring at the entry)
    sc = scenario(4, 0.5, hardware=NO_THERMAL,
                  network={"topology": "none", "acquisition_s": 10})
    pol = _AskNearest()
    eng = make_engine(sc, pol, eclipse=[(0, 100.0, 1000.0)],
                      isl=[(0, 1, 0.0, 1800.0, 1000.0), (1, 2, 0.0, 1800.0, 500.0),
                           (0, 3, 95.0, 1800.0, 3000.0)])
    eng.run()
    (k3, hop1), = pol.asked
    c = SPEED_OF_LIGHT_KM_S
    assert [(v, h) for v, _, h in k3] == [(1, 1), (2, 2)]
    # + 1 ns a hop
    assert [d for _, d, _ in k3] == pytest.approx([1000 / c + 1e-9, 1500 / c + 2e-9], rel=1e-12)
    assert [v for v, _, _ in hop1] == [1]
    check_invariants(eng)


def test_view_nearest_rejects_a_short_mask_naming_the_policy():
    sc = scenario(4, 0.5, hardware=NO_THERMAL, network={"topology": "none"})
    eng = make_engine(sc, _AskNearest(mask_len=2), eclipse=[(0, 100.0, 1000.0)],
                      isl=[(0, 1, 0.0, 1800.0, 1000.0)])
    with pytest.raises(PolicyError, match=r"policy 'stay'.*view.nearest\(0.*at least 4"):
        eng.run()


def _route(fn, sl, src, dst, n_sats, acq, relay):
    dist = np.empty(sl.n_nodes)
    pred = np.empty(sl.n_nodes, dtype=np.int64)
    return fn(sl.nbr, sl.light, sl.usable, sl.deg, src, dst, n_sats, acq, relay, dist,
              pred), dist, pred


@needs_compiled
@pytest.mark.parametrize("ties", [False, True])
def test_shortest_path_compiled_equals_twin(ties):
    rng = np.random.default_rng(21 + ties)
    for _ in range(80):
        n = int(rng.integers(2, 100))
        n_sats = int(rng.integers(1, n + 1))
        sl, _ = _random_slots(rng, n, float(rng.uniform(0.02, 0.3)), ties=ties)
        src, dst = (int(x) for x in rng.integers(n, size=2))
        acq, relay = bool(rng.random() < 0.3), bool(rng.random() < 0.3)
        a = _route(compiled["shortest_path"], sl, src, dst, n_sats, acq, relay)
        b = _route(reference.shortest_path, sl, src, dst, n_sats, acq, relay)
        _assert_same(a, b)


def test_shortest_path_twin_matches_networkx_and_keeps_out_of_ground_nodes():
    rng = np.random.default_rng(8)
    for _ in range(60):
        n = int(rng.integers(4, 70))
        n_sats = n - int(rng.integers(0, 4))
        sl, g = _random_slots(rng, n, 0.12)
        src, dst = (int(x) for x in rng.integers(n, size=2))
        acq, relay = bool(rng.random() < 0.3), bool(rng.random() < 0.3)
        path = _route(reference.shortest_path, sl, src, dst, n_sats, acq, relay)[0]

        def w(u, v, d, acq=acq, relay=relay, n_sats=n_sats, dst=dst):
            if not (d["usable"] or acq) or (not relay and v >= n_sats and v != dst):
                return None
            return d["light_s"] + 1e-9
        try:
            want = nx.dijkstra_path_length(g, src, dst, weight=w)
        except nx.NetworkXNoPath:
            assert path is None
            continue
        assert path[0] == src and path[-1] == dst
        assert all(w(a, b, g.edges[a, b]) is not None for a, b in zip(path, path[1:]))
        got = sum(g.edges[a, b]["light_s"] + 1e-9 for a, b in zip(path, path[1:]))
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_route_passes_ground_stations_only_when_relaying():
    env = simpy.Environment()
    for relay in (False, True):
        net = LaserNetwork(env, 3, ["gs"], acquisition_s=0.0, relay_via_ground=relay)
        net.open_window(0, 3, range_km=800.0)      # 0 - gs - 2 is short ...
        net.open_window(2, 3, range_km=800.0)
        net.open_window(0, 1, range_km=4000.0)     # ... 0 - 1 - 2 is long
        net.open_window(1, 2, range_km=4000.0)
        assert net.route(0, 2) == ([0, 3, 2] if relay else [0, 1, 2])
        assert net.route(0, 3) == [0, 3] and net.route(3, 3) == [3]


def test_nearest_hosts_from_a_ground_node_reaches_the_satellites_it_links():
    # node 3 is a ground station linked to satellites 0 (near) and 2 (far); 1 hangs off 0
    sl = SlotAdjacency(4)
    sl.add(3, 0, 2e-3, True)
    sl.add(3, 2, 5e-3, True)
    sl.add(0, 1, 1e-3, True)
    mask = np.array([False, True, True])
    for fn in [reference.nearest_hosts] + ([compiled["nearest_hosts"]] if compiled else []):
        found = _search(fn, sl, mask, 3, 2, None, 3)[0]
        assert [(v, h) for v, _, h in found] == [(1, 2), (2, 1)]


# ------------------------------------------------------------------------------ lengths
def test_slot_lengths_compiled_equals_twin_and_the_distances():
    """Every used slot gets |pos[u] - pos[v]| / c (the refresh of the routing weights,
    orbsched.network.linkranges); unused slots are left alone; compiled and twin bit for bit."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(2, 80))
        sl, _ = _random_slots(rng, n, float(rng.uniform(0.02, 0.4)))
        for a, b in list(sl._slot)[: len(sl._slot) // 6]:      # holes filled by the last slot
            if (a, b) in sl._slot and a < b:
                sl.remove(a, b)
        pos = rng.normal(size=(n, 3)) * 7000.0
        sentinel = -1.0
        outs = []
        kernels = [reference.slot_lengths] + ([compiled["slot_lengths"]] if compiled else [])
        for fn in kernels:
            light = np.full(sl.light.shape, sentinel)
            fn(sl.nbr, sl.deg, pos, light, SPEED_OF_LIGHT_KM_S)
            outs.append(light)
        for light in outs[1:]:
            assert np.array_equal(light, outs[0])
        light = outs[0]
        for u in range(n):
            d = int(sl.deg[u])
            want = np.linalg.norm(pos[u] - pos[sl.nbr[u, :d]], axis=1) / SPEED_OF_LIGHT_KM_S
            np.testing.assert_allclose(light[u, :d], want, rtol=1e-15, atol=0)
            assert (light[u, d:] == sentinel).all()
    with pytest.raises(ValueError, match="pos must have shape"):
        reference.slot_lengths(sl.nbr, sl.deg, pos[:-1], sl.light, 1.0)
    with pytest.raises(ValueError, match="speed_km_s must be > 0"):
        reference.slot_lengths(sl.nbr, sl.deg, pos, sl.light, 0.0)
    assert _kernels.slot_lengths is (compiled["slot_lengths"] if _kernels.ACCELERATED
                                     else reference.slot_lengths)
