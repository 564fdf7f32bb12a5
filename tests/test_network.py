"""Tests of the time-varying laser network and flow-level transfers (hand-checkable cases).

Light time L(km) = km / 299792.458 s; a transfer of S GB at R Gbps takes S*8/R s plus the light
time of its path (plus what is left of a new link's acquisition).
"""
import math

import numpy as np
import pandas as pd
import pytest
import simpy

from orbsched.network.flows import max_min_rates
from orbsched.network.laser import HOP_COST_S, LaserNetwork
from orbsched.scenario.constants import SPEED_OF_LIGHT_KM_S
from orbsched.scenario.errors import NetworkError, OrbschedError

C = SPEED_OF_LIGHT_KM_S


def L(km):
    return km / C


def isl(rows):
    """rows: (a, b, start_s, end_s, range_km[, rate_gbps])"""
    cols = ["sat_a", "sat_b", "start_s", "end_s", "range_km", "rate_gbps"]
    return pd.DataFrame([r if len(r) == 6 else (*r, np.nan) for r in rows], columns=cols)


def make(n, rows, *, stations=(), ground=None, run_until=None, **kw):
    env = simpy.Environment()
    kw.setdefault("acquisition_s", 10.0)
    kw.setdefault("bandwidth_gbps", 100.0)
    net = LaserNetwork(env, n, stations, **kw)
    env.process(net.replay(isl(rows) if rows else None, ground))
    if run_until is not None:
        env.run(until=run_until)
    return env, net


def run_transfer(env, net, at_s, *args, **kw):
    """Start net.transfer(*args) at time at_s; returns a holder filled when it starts."""
    box = {}

    def proc():
        yield env.timeout(at_s - env.now)
        box["tr"] = net.transfer(*args, **kw)
        box["rec"] = yield box["tr"]
    env.process(proc())
    return box


# ------------------------------------------------------------------------------ one link
def test_light_time_constant():
    assert L(1.0) == pytest.approx(3.33564e-6, rel=1e-5)


def test_one_link_time_is_size_over_rate_plus_light_time():
    env, net = make(2, [(0, 1, -100.0, 1000.0, 3000.0)])  # opened before t=0: acquired
    box = run_transfer(env, net, 50.0, 0, 1, 100.0, label="ckpt")
    env.run(until=200)
    rec = box["rec"]
    assert rec.ok and rec.reason is None
    assert rec.end_s == pytest.approx(50.0 + 100 * 8 / 100 + L(3000), abs=1e-9)
    assert rec.start_s == 50.0 and rec.paths == [(0, 1)] and rec.reroutes == 0
    assert rec.delivered_gb == rec.size_gb == 100.0


def test_new_link_adds_acquisition_delay():
    env, net = make(2, [(0, 1, 0.0, 1000.0, 3000.0)])
    box = run_transfer(env, net, 0.0, 0, 1, 100.0, wait_s=60.0)
    env.run(until=200)
    rec = box["rec"]
    assert rec.ok
    assert rec.end_s == pytest.approx(10.0 + 8.0 + L(3000), abs=1e-9)
    assert rec.waited_s == pytest.approx(10.0) and rec.start_s == pytest.approx(10.0)


def test_acquiring_link_exists_but_is_not_routable():
    env, net = make(2, [(0, 1, 0.0, 1000.0, 3000.0)], acquisition_s=7.0, run_until=5.0)
    assert net.has_link(0, 1) and not net.is_usable(0, 1)
    assert net.route(0, 1) is None
    assert net.route(0, 1, include_acquiring=True) == [0, 1]
    # estimate = remaining acquisition + size / rate + light time
    assert net.transfer_time_estimate(0, 1, 50.0) == pytest.approx(2.0 + 4.0 + L(3000))
    box = run_transfer(env, net, 5.0, 0, 1, 1.0)  # wait_s = 0: fails at once
    env.run(until=7.0 - 1e-6)
    assert not net.is_usable(0, 1)
    env.run(until=7.0 + 1e-9)
    assert net.is_usable(0, 1) and net.route(0, 1) == [0, 1]
    rec = box["rec"]
    assert not rec.ok and rec.reason == "no_path" and rec.end_s == 5.0
    assert rec.delivered_gb == 0.0
    kinds = [(e["kind"], e["t_s"]) for e in net.log if e["kind"].startswith("link")]
    assert kinds == [("link_up", 0.0), ("link_usable", 7.0)]


def test_acquisition_restarts_when_a_link_comes_back():
    env, net = make(2, [(0, 1, 0.0, 20.0, 100.0), (0, 1, 30.0, 100.0, 100.0)])
    env.run(until=35.0)
    assert net.has_link(0, 1) and not net.is_usable(0, 1)
    env.run(until=40.0 + 1e-9)
    assert net.is_usable(0, 1)


def test_back_to_back_windows_keep_the_link_without_reacquisition():
    env, net = make(2, [(0, 1, 0.0, 20.0, 100.0), (0, 1, 20.0, 100.0, 100.0)])
    env.run(until=25.0)
    assert net.is_usable(0, 1)
    assert net.stats["edges_added"] == 1 and net.stats["edges_removed"] == 0
    env.run(until=150.0)
    assert not net.has_link(0, 1) and net.stats["edges_removed"] == 1


def test_contact_plan_column_names_and_clipped_starts():
    # the contact plan names the range range_start_km and flags windows under way at t=0
    w = pd.DataFrame({"sat_a": [0, 1], "sat_b": [1, 2], "start_s": [0.0, 0.0],
                      "end_s": [100.0, 100.0], "range_start_km": [1200.0, 800.0],
                      "start_clipped": [True, False]})
    env = simpy.Environment()
    net = LaserNetwork(env, 3, acquisition_s=10.0)
    env.process(net.replay(w))
    env.run(until=1.0)
    assert net.is_usable(0, 1) and not net.is_usable(1, 2)
    assert net.link(0, 1)["range_km"] == 1200.0 and net.link(1, 2)["light_s"] == L(800.0)


# --------------------------------------------------------------------------- sharing
def test_two_flows_share_a_link_and_the_survivor_speeds_up():
    env, net = make(2, [(0, 1, -100.0, 1000.0, 1500.0)])
    a = run_transfer(env, net, 0.0, 0, 1, 100.0, label="A")
    b = run_transfer(env, net, 0.0, 0, 1, 25.0, label="B")
    env.run(until=2.0)
    assert a["tr"].rate_gbps == pytest.approx(50.0) and b["tr"].rate_gbps == pytest.approx(50.0)
    assert a["tr"].delivered_gb == pytest.approx(12.5)
    env.run(until=5.0)
    assert a["tr"].rate_gbps == pytest.approx(100.0)
    env.run(until=100.0)
    # B: 25 GB at 50 Gbps = 4 s.  A: 25 GB by t=4, then 75 GB at 100 Gbps = 6 s -> t=10.
    assert b["rec"].end_s == pytest.approx(4.0 + L(1500), abs=1e-9)
    assert a["rec"].end_s == pytest.approx(10.0 + L(1500), abs=1e-9)
    assert a["rec"].delivered_gb == 100.0 and b["rec"].delivered_gb == 25.0


def test_opposite_directions_do_not_compete_full_duplex():
    env, net = make(2, [(0, 1, -100.0, 1000.0, 0.0)])
    a = run_transfer(env, net, 0.0, 0, 1, 100.0)
    b = run_transfer(env, net, 0.0, 1, 0, 100.0)
    env.run(until=100.0)
    assert a["rec"].end_s == pytest.approx(8.0) and b["rec"].end_s == pytest.approx(8.0)


def test_three_flows_max_min_over_two_links():
    # 0 -(100 Gbps, 1000 km)- 1 -(60 Gbps, 2000 km)- 2
    env, net = make(3, [(0, 1, -100.0, 1000.0, 1000.0, 100.0),
                        (1, 2, -100.0, 1000.0, 2000.0, 60.0)])
    f1 = run_transfer(env, net, 0.0, 0, 2, 30.0)
    f2 = run_transfer(env, net, 0.0, 0, 1, 70.0)
    f3 = run_transfer(env, net, 0.0, 1, 2, 15.0)
    env.run(until=1.0)
    # link 1-2 splits 60 between f1 and f3; f2 takes what f1 leaves of link 0-1
    assert [f["tr"].rate_gbps for f in (f1, f2, f3)] == pytest.approx([30.0, 70.0, 30.0])
    env.run(until=100.0)
    # f3: 120 Gb / 30 = 4 s.  Then f1, f2 at 50 each: f1 has 120 Gb left -> t = 6.4;
    # f2 has 560 - 280 - 120 = 160 Gb left at 6.4, alone at 100 Gbps -> t = 8.0.
    assert f3["rec"].end_s == pytest.approx(4.0 + L(2000), abs=1e-9)
    assert f1["rec"].end_s == pytest.approx(6.4 + L(3000), abs=1e-9)
    assert f2["rec"].end_s == pytest.approx(8.0 + L(1000), abs=1e-9)


def test_max_min_rates_direct():
    assert max_min_rates([100.0, 60.0], [[0, 1], [0], [1]]) == pytest.approx([30, 70, 30])
    # Bertsekas & Gallager style: 3 links of capacity 1; flow 0 crosses all, flows 1-3 one each,
    # plus a flow 4 on link 2 alone -> link 2 (3 flows) is the tightest.
    r = max_min_rates([1.0, 1.0, 1.0], [[0, 1, 2], [0], [1], [2], [2]])
    assert r == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1 / 3, 1 / 3])


def test_max_min_rates_are_feasible_and_every_flow_has_a_bottleneck():
    rng = np.random.default_rng(7)
    for _ in range(50):
        n_r = int(rng.integers(1, 12))
        n_f = int(rng.integers(1, 25))
        cap = rng.uniform(1, 100, n_r)
        flows = [rng.choice(n_r, size=int(rng.integers(1, n_r + 1)), replace=False).tolist()
                 for _ in range(n_f)]
        rate = max_min_rates(cap, flows)
        load = np.zeros(n_r)
        for f, links in enumerate(flows):
            load[links] += rate[f]
        assert (load <= cap * (1 + 1e-9)).all()
        for f, links in enumerate(flows):
            # max-min: some link of f is saturated and f's rate is the largest on it
            assert any(load[r] >= cap[r] * (1 - 1e-9) and
                       all(rate[g] <= rate[f] * (1 + 1e-9) for g, lk in enumerate(flows)
                           if r in lk)
                       for r in links), (cap, flows, rate)


# ---------------------------------------------------------------------- breaks, re-routes
def square(break_s=3.0):
    # two paths 0->3: via 1 (2000 km) and via 2 (3000 km); link 1-3 ends at break_s
    return [(0, 1, -100.0, 1000.0, 1000.0), (1, 3, -100.0, break_s, 1000.0),
            (0, 2, -100.0, 1000.0, 1500.0), (2, 3, -100.0, 1000.0, 1500.0)]


def test_transfer_survives_a_link_break_by_rerouting():
    env, net = make(4, square(3.0))
    box = run_transfer(env, net, 0.0, 0, 3, 100.0, label="mig")
    env.run(until=100.0)
    rec = box["rec"]
    # 37.5 GB by t=3 over 0-1-3; 62.5 GB more over 0-2-3 at 100 Gbps = 5 s; + new light time
    assert rec.ok and rec.reroutes == 1
    assert rec.paths == [(0, 1, 3), (0, 2, 3)]
    assert rec.end_s == pytest.approx(8.0 + L(3000), abs=1e-9)
    assert rec.delivered_gb == 100.0
    kinds = [e["kind"] for e in net.log if e["kind"].startswith("transfer")]
    assert kinds == ["transfer_start", "transfer_reroute", "transfer_complete"]
    assert net.flows.stats["reroutes"] == 1


def test_failed_link_reroutes_and_restored_link_reacquires():
    env, net = make(4, square(1000.0))
    box = run_transfer(env, net, 0.0, 0, 3, 100.0)

    def script():
        yield env.timeout(2.0)
        net.set_link_failed(1, 3)
        yield env.timeout(1.0)
        net.set_link_failed(1, 3, failed=False)
    env.process(script())
    env.run(until=3.5)
    assert net.has_link(1, 3) and not net.is_usable(1, 3)  # re-acquiring until t=13
    env.run(until=13.0 - 1e-6)
    assert net.route(0, 3) == [0, 2, 3]
    env.run(until=13.0 + 1e-9)
    assert net.route(0, 3) == [0, 1, 3]
    rec = box["rec"]   # finished at t=8, before 1-3 was usable again
    assert rec.ok and rec.paths == [(0, 1, 3), (0, 2, 3)]
    assert rec.end_s == pytest.approx(8.0 + L(3000), abs=1e-9)


def test_node_failure_reroutes_around_the_node():
    env, net = make(4, square(1000.0))
    box = run_transfer(env, net, 0.0, 0, 3, 100.0)

    def script():
        yield env.timeout(4.0)
        net.set_node_failed(1)
    env.process(script())
    env.run(until=100.0)
    rec = box["rec"]
    assert rec.ok and rec.paths == [(0, 1, 3), (0, 2, 3)]
    assert rec.end_s == pytest.approx(8.0 + L(3000), abs=1e-9)
    assert not net.has_link(0, 1) and not net.has_link(1, 3)


def test_transfer_fails_with_reason_when_the_graph_splits():
    env, net = make(3, [(0, 1, -100.0, 1000.0, 500.0), (1, 2, -100.0, 2.0, 500.0)])
    box = run_transfer(env, net, 0.0, 0, 2, 100.0, label="doomed")
    env.run(until=100.0)
    rec = box["rec"]
    assert not rec.ok and rec.reason == "path_lost"
    assert "1-2" in rec.detail and "window closed" in rec.detail
    assert rec.end_s == 2.0 and rec.delivered_gb == pytest.approx(25.0)
    assert net.flows.active() == []
    fail = [e for e in net.log if e["kind"] == "transfer_fail"]
    assert len(fail) == 1 and fail[0]["a"] == 0 and fail[0]["b"] == 2


def test_transfer_waits_for_a_path_then_resumes():
    rows = [(0, 1, -100.0, 1000.0, 500.0), (1, 2, -100.0, 2.0, 500.0),
            (1, 2, 3.0, 1000.0, 500.0)]
    env, net = make(3, rows, acquisition_s=1.0)
    box = run_transfer(env, net, 0.0, 0, 2, 100.0, wait_s=10.0)
    env.run(until=100.0)
    rec = box["rec"]
    # 25 GB by t=2; link back and usable at 4; 75 GB at 100 Gbps = 6 s -> t = 10
    assert rec.ok and rec.waited_s == pytest.approx(2.0) and rec.reroutes == 1
    assert rec.end_s == pytest.approx(10.0 + L(1000), abs=1e-9)


def test_transfer_waits_then_fails_when_no_path_appears():
    rows = [(0, 1, -100.0, 1000.0, 500.0), (1, 2, -100.0, 2.0, 500.0),
            (1, 2, 3.0, 1000.0, 500.0)]
    env, net = make(3, rows, acquisition_s=10.0)   # usable again only at 13
    box = run_transfer(env, net, 0.0, 0, 2, 100.0, wait_s=5.0)
    env.run(until=100.0)
    rec = box["rec"]
    assert not rec.ok and rec.reason == "path_lost" and rec.end_s == pytest.approx(7.0)
    assert "within 5 s" in rec.detail and rec.delivered_gb == pytest.approx(25.0)


def test_cancel_frees_bandwidth():
    env, net = make(2, [(0, 1, -100.0, 1000.0, 0.0)])
    a = run_transfer(env, net, 0.0, 0, 1, 100.0)
    b = run_transfer(env, net, 0.0, 0, 1, 100.0)
    env.run(until=2.0)
    assert b["tr"].cancel("policy changed its mind")
    assert not b["tr"].cancel()
    env.run(until=100.0)
    assert b["rec"].reason == "cancelled" and b["rec"].delivered_gb == pytest.approx(12.5)
    # A: 12.5 GB by t=2 at 50 Gbps, then 87.5 GB at 100 Gbps = 7 s
    assert a["rec"].end_s == pytest.approx(9.0)


def test_abort_all_leaves_nothing_open():
    env, net = make(2, [(0, 1, -100.0, 1000.0, 0.0)])
    a = run_transfer(env, net, 0.0, 0, 1, 1000.0)
    env.run(until=1.0)
    net.flows.abort_all()
    env.run(until=2.0)
    assert a["rec"].reason == "aborted" and a["rec"].delivered_gb == pytest.approx(12.5)
    assert net.flows.active() == []


def test_same_node_and_empty_transfers():
    env, net = make(2, [(0, 1, -100.0, 1000.0, 3000.0)])
    same = run_transfer(env, net, 0.0, 1, 1, 5.0)
    empty = run_transfer(env, net, 0.0, 0, 1, 0.0)
    env.run(until=10.0)
    assert same["rec"].ok and same["rec"].end_s == 0.0
    assert empty["rec"].ok and empty["rec"].end_s == pytest.approx(L(3000))


# --------------------------------------------------------------------- ground stations
def test_ground_links_default_rate_and_stations_are_not_relays():
    ground = pd.DataFrame({"station": ["Svalbard", "Svalbard", "Perth"], "sat": [0, 1, 1],
                           "start_s": [-100.0] * 3, "end_s": [1000.0] * 3,
                           "range_km": [1000.0] * 3})
    env, net = make(2, [], stations=["Svalbard", "Perth"], ground=ground,
                    ground_bandwidth_gbps=20.0, run_until=1.0)
    sv, pe = net.station_node("Svalbard"), net.station_node("Perth")
    assert (sv, pe) == (2, 3) and net.node_label(3) == "gs Perth"
    assert net.link(0, sv)["rate_gbps"] == 20.0 and net.link(0, sv)["kind"] == "ground"
    assert net.route(0, 1) is None               # no ISL, and Svalbard does not relay
    assert net.route(0, pe) is None
    assert net.route(sv, pe) == [sv, 1, pe]
    box = run_transfer(env, net, 1.0, sv, pe, 10.0)
    env.run(until=100.0)
    assert box["rec"].end_s == pytest.approx(1.0 + 10 * 8 / 20 + L(2000), abs=1e-9)


def test_relay_via_ground_when_allowed():
    ground = pd.DataFrame({"station": [0, 0], "sat": [0, 1], "start_s": [-100.0] * 2,
                           "end_s": [1000.0] * 2})
    env, net = make(2, [], stations=["gs"], ground=ground, relay_via_ground=True,
                    run_until=1.0)
    assert net.route(0, 1) == [0, 2, 1]


# ------------------------------------------------------------------ graph maintenance
def random_windows(rng, n, m, span_s=1000.0):
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    start = np.round(rng.uniform(-50, span_s, m), 1)
    end = start + np.round(rng.uniform(0.0, 200.0, m), 1)
    return pd.DataFrame({"sat_a": a, "sat_b": b, "start_s": start, "end_s": end,
                         "range_km": rng.uniform(100, 5000, m)})


def test_graph_is_edited_in_place_and_matches_the_windows():
    rng = np.random.default_rng(3)
    n, acq = 30, 10.0
    w = random_windows(rng, n, 400)
    env = simpy.Environment()
    net = LaserNetwork(env, n, acquisition_s=acq)
    g = net.graph
    calls = {"add": 0, "remove": 0}
    add, remove = g.add_edge, g.remove_edge

    def counted(name, f):
        def wrapper(*a, **k):
            calls[name] += 1
            return f(*a, **k)
        return wrapper
    g.add_edge, g.remove_edge = counted("add", add), counted("remove", remove)
    env.process(net.replay(w))
    # oracle: merge each pair's windows into runs (overlapping or touching windows form one
    # link); a link exists inside a run and is usable from run start + acquisition
    runs = {}
    for a, b, s, e in sorted(zip(w.sat_a, w.sat_b, w.start_s, w.end_s), key=lambda r: r[2]):
        if e <= s:
            continue
        lst = runs.setdefault((min(a, b), max(a, b)), [])
        if lst and s <= lst[-1][1]:
            lst[-1][1] = max(lst[-1][1], e)
        else:
            lst.append([s, e])
    for t in np.arange(0.05, 1300.0, 7.3):
        env.run(until=t)
        expect = {p: s for p, lst in runs.items() for s, e in lst if s <= t < e}
        assert set(net._edges) == set(expect) == {tuple(sorted(e)) for e in net.graph.edges}
        for p, run_start in expect.items():
            assert net.is_usable(*p) == (run_start + acq <= t), (p, t)
    assert net.graph is g and net.stats["graph_builds"] == 1
    assert calls["add"] == net.stats["edges_added"] > 100
    assert calls["remove"] == net.stats["edges_removed"] == calls["add"]


def test_update_ranges_changes_light_times_and_routes():
    env, net = make(3, [(0, 1, -100.0, 1000.0, 1.0), (1, 2, -100.0, 1000.0, 1.0),
                        (0, 2, -100.0, 1000.0, 10.0)], run_until=1.0)
    assert net.route(0, 2) == [0, 1, 2]
    pos = np.array([[0.0, 0, 0], [3000.0, 0, 0], [0.0, 4000.0, 0]])
    net.update_ranges(pos)
    assert net.link(1, 2)["range_km"] == pytest.approx(5000.0)
    assert net.link(0, 2)["light_s"] == pytest.approx(L(4000.0))
    assert net.route(0, 2) == [0, 2]
    assert net.routes_from([0]).path(0, 2) == [0, 2]
    with pytest.raises(NetworkError, match=r"shape \(3, 3\)"):
        net.update_ranges(pos[:2])


def random_network(seed, n_sats=60, n_gs=4, relay=False):
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(n_sats, 3))
    pos *= 7000.0 / np.linalg.norm(pos, axis=1)[:, None]
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    a, b = np.nonzero(np.triu(d < 6000.0, 1))
    pick = rng.random(len(a)) < 0.6
    w = pd.DataFrame({"sat_a": a[pick], "sat_b": b[pick], "start_s": -100.0, "end_s": 1e6,
                      "range_km": d[a[pick], b[pick]]})
    gs = pd.DataFrame({"station": rng.integers(0, n_gs, 3 * n_gs),
                       "sat": rng.integers(0, n_sats, 3 * n_gs), "start_s": -100.0,
                       "end_s": 1e6, "range_km": rng.uniform(500, 2000, 3 * n_gs)})
    gs = gs.drop_duplicates(["station", "sat"])
    env = simpy.Environment()
    net = LaserNetwork(env, n_sats, [f"g{k}" for k in range(n_gs)], relay_via_ground=relay)
    env.process(net.replay(w, gs))
    env.run(until=1.0)
    return net


@pytest.mark.parametrize("relay", [False, True])
def test_csgraph_routes_equal_networkx_routes(relay):
    net = random_network(11, relay=relay)
    table = net.routes_from()
    n_checked = 0
    for s in range(net.n_nodes):
        for t in range(net.n_nodes):
            p = net.route(s, t)
            assert table.path(s, t) == p, (s, t)
            if p is None:
                assert table.distance_s(s, t) == math.inf
            else:
                n_checked += 1
                assert table.distance_s(s, t) == pytest.approx(
                    net.path_light_s(p) + HOP_COST_S * (len(p) - 1), rel=1e-12, abs=1e-15)
    assert n_checked > 0.5 * net.n_nodes ** 2
    sub = net.routes_from([3, net.n_sats + 1])
    assert sub.path(3, 7) == table.path(3, 7)
    assert net.stats["csgraph_builds"] == 1   # cached until the next link change


def test_relay_flag_changes_reachability_through_ground():
    off, on = random_network(5, n_sats=8, n_gs=3), random_network(5, n_sats=8, n_gs=3,
                                                                     relay=True)
    t_off, t_on = off.routes_from(), on.routes_from()
    for s in range(off.n_nodes):
        for t in range(off.n_nodes):
            p = t_off.path(s, t)
            if p is not None:
                assert all(x < off.n_sats for x in p[1:-1])
            assert t_on.distance_s(s, t) <= t_off.distance_s(s, t)


# ------------------------------------------------------------------- stress invariants
def test_random_traffic_invariants():
    """Rates never exceed a link direction's capacity; every transfer ends with a record."""
    rng = np.random.default_rng(42)
    n = 25
    w = random_windows(rng, n, 150, span_s=400.0)
    w["end_s"] += 50.0
    env = simpy.Environment()
    net = LaserNetwork(env, n, acquisition_s=2.0, path_wait_s=20.0)
    env.process(net.replay(w))
    boxes = []
    for k in range(300):
        s, d = rng.choice(n, 2, replace=False)
        boxes.append(run_transfer(env, net, float(rng.uniform(0, 400)), int(s), int(d),
                                  float(rng.uniform(0.1, 200.0)), label=k))
    violations = []

    def checker():
        while True:
            yield env.timeout(0.37)
            load = {}
            for tr in net.flows.active():
                if tr.state == "sending":
                    for r in tr.res:
                        assert net.is_usable(*r)
                        load[r] = load.get(r, 0.0) + tr.rate_gbps
            for (u, v), x in load.items():
                if x > net.link(u, v)["rate_gbps"] * (1 + 1e-9):
                    violations.append((env.now, u, v, x))
            # max-min: each sending flow crosses a saturated link where no flow gets more
            top = {}
            for tr in net.flows.active():
                if tr.state == "sending":
                    for r in tr.res:
                        top[r] = max(top.get(r, 0.0), tr.rate_gbps)
            for tr in net.flows.active():
                if tr.state == "sending" and not any(
                        load[r] >= net.link(*r)["rate_gbps"] * (1 - 1e-9)
                        and tr.rate_gbps >= top[r] * (1 - 1e-9) for r in tr.res):
                    violations.append((env.now, "no bottleneck", tr))
    env.process(checker())
    env.run(until=700.0)
    assert violations == []
    net.flows.abort_all()
    recs = [b["rec"] for b in boxes]
    assert all(r.status in ("completed", "failed") for r in recs)
    done = [r for r in recs if r.ok]
    failed = [r for r in recs if not r.ok]
    assert len(done) > 50 and len(failed) > 0 and sum(r.reroutes for r in done) > 0
    for r in done:
        assert r.delivered_gb == r.size_gb
        assert r.end_s - r.start_s >= r.size_gb * 8 / 100.0 - 1e-9
    for r in failed:
        assert r.reason in ("no_path", "path_lost", "aborted") and r.detail
        assert 0.0 <= r.delivered_gb <= r.size_gb
    ends = sum(e["kind"] in ("transfer_complete", "transfer_fail") for e in net.log)
    assert ends == len(recs)
    assert set(net.log[0]) == {"t_s", "kind", "a", "b", "detail"}
    assert all(x["t_s"] <= y["t_s"] for x, y in zip(net.log, net.log[1:]))


# ------------------------------------------------------------------------------ errors
def test_errors_name_what_is_wrong():
    env = simpy.Environment()
    net = LaserNetwork(env, 3, ["Kiruna"])
    with pytest.raises(NetworkError, match=r"unknown node 7: satellites are 0..2, ground "
                                           r"stations 3..3 \(Kiruna\)"):
        net.route(0, 7)
    with pytest.raises(OrbschedError, match=r"lacks column\(s\) \['end_s'\]"):
        list(net.replay(pd.DataFrame({"sat_a": [0], "sat_b": [1], "start_s": [0.0]})))
    bad = pd.DataFrame({"sat_a": [0], "sat_b": [3], "start_s": [0.0], "end_s": [1.0]})
    with pytest.raises(NetworkError, match=r"sat_b must hold satellite indices 0..2"):
        list(net.replay(bad))
    with pytest.raises(NetworkError, match=r"unknown station\(s\) \['Nowhere'\]"):
        list(net.replay(None, pd.DataFrame({"station": ["Nowhere"], "sat": [0],
                                            "start_s": [0.0], "end_s": [1.0]})))
    with pytest.raises(NetworkError, match=r"start_s <= end_s"):
        list(net.replay(isl([(0, 1, 5.0, 1.0, 10.0)])))
    with pytest.raises(NetworkError, match=r"size_gb must be finite and >= 0"):
        net.transfer(0, 1, -1.0)
    with pytest.raises(NetworkError, match=r"unknown ground station 'x'"):
        net.station_node("x")


# ------------------------------------------------------------------------ rate changes
def rates(rows):
    """rows: (t_s, a, b, rate_gbps, range_km)"""
    return pd.DataFrame(rows, columns=["t_s", "sat_a", "sat_b", "rate_gbps", "range_km"])


def test_replayed_rate_change_reshares_a_transfer_and_tells_listeners():
    """10 GB over one link at 8 Gbps (1 GB/s), doubled to 16 Gbps at t = 5 s and the range
    from 300 to 600 km: 5 GB by 5 s, the other 5 GB in 2.5 s, light time of the new range."""
    env = simpy.Environment()
    net = LaserNetwork(env, 3, acquisition_s=10.0, bandwidth_gbps=100.0)
    heard = []
    net.rate_listeners.append(lambda *args: heard.append((env.now, *args)))
    env.process(net.replay(isl([(1, 0, -100.0, 1000.0, 300.0, 8.0)]), None,
                           rates([(5.0, 0, 1, 16.0, 600.0), (7.0, 1, 2, 50.0, 1.0)])))
    box = run_transfer(env, net, 0.0, 0, 1, 10.0)
    env.run(until=100)
    rec = box["rec"]
    assert rec.ok and rec.end_s == pytest.approx(7.5 + L(600.0), abs=1e-9)
    assert heard == [(5.0, 0, 1, 16.0, 600.0)]  # the 1-2 row has no open window: ignored
    d = net.link(0, 1)
    assert (d["rate_gbps"], d["range_km"]) == (16.0, 600.0) and d["light_s"] == L(600.0)


def test_rate_change_of_a_failed_link_applies_when_it_returns():
    env, net = make(2, [(0, 1, -100.0, 1000.0, 10.0, 8.0)], acquisition_s=0.0)
    env.process(net.replay(None, None, rates([(5.0, 0, 1, 4.0, 20.0)])))
    env.run(until=1)
    net.set_link_failed(0, 1)
    env.run(until=6)
    assert not net.has_link(0, 1)
    net.set_link_failed(0, 1, False)
    assert (net.link(0, 1)["rate_gbps"], net.link(0, 1)["range_km"]) == (4.0, 20.0)


def test_set_link_rate_and_rate_table_errors():
    _, net = make(2, [(0, 1, -100.0, 1000.0, 10.0)], run_until=1)
    heard = []
    net.rate_listeners.append(lambda *a: heard.append(a))
    net.set_link_rate(1, 0, 50.0)           # range kept
    assert heard == [(0, 1, 50.0, 10.0)]
    with pytest.raises(NetworkError, match=r"range_km must be finite and >= 0"):
        net.set_link_rate(0, 1, 50.0, -1.0)
    with pytest.raises(NetworkError, match=r"rate_changes lacks column\(s\) \['rate_gbps'\]"):
        list(net.replay(None, None, pd.DataFrame({"t_s": [1.0], "sat_a": [0], "sat_b": [1]})))
    with pytest.raises(NetworkError, match=r"rate_changes row 0: need a finite t_s and a "
                                           r"finite rate_gbps > 0"):
        list(net.replay(None, None, rates([(1.0, 0, 1, 0.0, 1.0)])))
    with pytest.raises(NetworkError, match=r"rate_changes.sat_b must hold satellite indices"):
        list(net.replay(None, None, rates([(1.0, 0, 5, 1.0, 1.0)])))
