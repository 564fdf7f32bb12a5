"""The flow manager's incremental fair shares against a brute-force global max-min.

:class:`orbsched.network.flows.FlowManager` re-shares bandwidth only over the connected
component (flows linked through shared link directions) of what changed at an instant; flows
that share no link with it keep their rates.  Water-filling is separable over components, so
after every instant each sending flow's rate must equal the max-min fair rate of *all* sending
flows computed from scratch.  The brute force below is written independently of
``flows.py`` (plain loops over dicts): every round raises all unfrozen flows to the smallest
equal share of any link direction and freezes the flows crossing the links that reach it.

Random scenarios: several disjoint clusters of satellites (disjoint components), links shared
by many flows, links that close or fail mid-transfer (re-routes), link rates that change, and
transfers that find no path.
"""
import numpy as np
import pandas as pd
import pytest
import simpy

from orbsched.network.flows import max_min_rates
from orbsched.network.laser import LaserNetwork
from orbsched.network.shares import max_min_small

#: Relative tolerance of the comparison: both sides do the same arithmetic on one component,
#: but the brute force sums the frozen load in another order.
REL = 1e-9


def brute_force_max_min(flows: dict, capacity: dict) -> dict:
    """Max-min fair rates of ``flows`` ({flow: [link, ...]}) over ``capacity``
    ({link: Gbps}), by progressive filling over every flow at once."""
    rate = {}
    left = dict(flows)
    while left:
        share = {}
        for link, cap in capacity.items():
            on = [f for f, links in left.items() if link in links]
            if on:
                used = sum(rate[f] for f, links in flows.items() if f in rate and link in links)
                share[link] = (cap - used) / len(on)
        level = min(share.values())
        tight = {link for link, s in share.items() if s <= level + 1e-12 * abs(level)}
        for f in [f for f, links in left.items() if tight.intersection(links)]:
            rate[f] = max(level, 0.0)
            del left[f]
    return rate


def test_brute_force_matches_the_library_on_a_hand_case():
    # 0-1 at 100, 1-2 at 60: flows 0->2, 0->1, 1->2 get 30, 70, 30
    got = brute_force_max_min({"a": [(0, 1), (1, 2)], "b": [(0, 1)], "c": [(1, 2)]},
                              {(0, 1): 100.0, (1, 2): 60.0})
    assert got == pytest.approx({"a": 30.0, "b": 70.0, "c": 30.0})
    assert max_min_rates([100.0, 60.0], [[0, 1], [0], [1]]) == pytest.approx([30, 70, 30])


@pytest.mark.parametrize("seed", range(3))
def test_small_component_solver_is_the_numpy_solver_bit_for_bit(seed):
    """max_min_small (plain Python, for the few flows of most re-shares) against
    max_min_rates (numpy): the same floats, with repeated capacities (equal shares, ties
    within 1e-12) and capacities that are sums of thirds (rounding in ``rem``)."""
    rng = np.random.default_rng(seed)
    for _ in range(400):
        n_r = int(rng.integers(1, 10))
        n_f = int(rng.integers(1, 25))
        cap = rng.choice([40.0, 60.0, 100.0, 100.0 / 3, 1e-3, 7.1], n_r)
        if rng.random() < 0.5:
            cap = cap + rng.uniform(0, 1, n_r)
        flows = [rng.choice(n_r, size=int(rng.integers(1, n_r + 1)), replace=False).tolist()
                 for _ in range(n_f)]
        want = max_min_rates(cap, flows).tolist()
        got = max_min_small(cap.tolist(), flows)
        assert [x.hex() for x in got] == [x.hex() for x in want], (cap, flows)


def _scenario(seed: int, n_clusters: int = 5, size: int = 6, n_transfers: int = 120):
    """A network of ``n_clusters`` disjoint clusters (a ring with chords each), and a script
    of transfers, rate changes and link failures over 30 s."""
    rng = np.random.default_rng(seed)
    rows, links = [], []
    for c in range(n_clusters):
        nodes = list(range(c * size, (c + 1) * size))
        pairs = {(nodes[i], nodes[(i + 1) % size]) for i in range(size)}
        for _ in range(size // 2):                     # chords: alternative paths
            a, b = sorted(rng.choice(nodes, 2, replace=False).tolist())
            pairs.add((a, b))
        for a, b in sorted(pairs):
            end_s = float(rng.uniform(5.0, 25.0)) if rng.random() < 0.25 else 1000.0
            rate = float(rng.choice([40.0, 60.0, 100.0]))   # repeated values: equal shares
            rows.append((a, b, -100.0, end_s, float(rng.uniform(500.0, 3000.0)), rate))
            links.append((a, b))
    starts = []
    for _ in range(n_transfers):
        t = float(np.round(rng.uniform(0.0, 20.0), 1))      # coinciding instants too
        if rng.random() < 0.9:
            c = int(rng.integers(n_clusters))
            src, dst = rng.choice(range(c * size, (c + 1) * size), 2, replace=False).tolist()
        else:                                            # across clusters: no path
            src, dst = 0, size * n_clusters - 1
        starts.append((t, int(src), int(dst), float(rng.uniform(5.0, 80.0)),
                       float(rng.choice([0.0, 3.0]))))
    changes = [(float(rng.uniform(0.0, 25.0)), links[int(rng.integers(len(links)))],
                "rate" if rng.random() < 0.6 else "fail", float(rng.choice([30.0, 50.0, 120.0])))
               for _ in range(25)]
    return size * n_clusters, rows, sorted(starts), sorted(changes)


def _run(seed: int, recompute=None):
    """Run a random scenario; after every instant the flow manager settled, compare every
    sending flow's rate with the brute force.  Returns (mismatches, checks, partial), where
    ``partial`` counts the re-shares that covered only part of the sending flows."""
    n, rows, starts, changes = _scenario(seed)
    env = simpy.Environment()
    net = LaserNetwork(env, n, (), acquisition_s=0.5, bandwidth_gbps=100.0, path_wait_s=3.0)
    isl = pd.DataFrame(rows, columns=["sat_a", "sat_b", "start_s", "end_s", "range_km",
                                      "rate_gbps"])
    env.process(net.replay(isl, None))
    fm = net.flows
    if recompute is not None:
        fm._recompute = recompute.__get__(fm)
    out = {"mismatch": 0, "checks": 0, "partial": 0}
    settle = fm._settle

    def checked_settle(ev=None):
        before = fm.stats["flows_recomputed"]
        settle(ev)
        sending = [tr for tr in fm._sending if tr.state == "sending"]
        if not sending:
            return
        if 0 < fm.stats["flows_recomputed"] - before < len(sending):
            out["partial"] += 1
        adj = net.graph.adj
        flows = {tr: list(zip(tr.path[:-1], tr.path[1:])) for tr in sending}
        cap = {link: adj[link[0]][link[1]]["rate_gbps"] for links in flows.values()
               for link in links}
        want = brute_force_max_min(flows, cap)
        for tr in sending:
            out["checks"] += 1
            if abs(tr.rate_gbps - want[tr]) > REL * want[tr]:
                out["mismatch"] += 1

    fm._settle = checked_settle
    transfers = []

    def script():
        for t, src, dst, size_gb, wait_s in starts:
            yield env.timeout(t - env.now)
            transfers.append(net.transfer(src, dst, size_gb, wait_s=wait_s))

    def disturb():
        for t, (a, b), kind, rate in changes:
            yield env.timeout(t - env.now)
            if not net.has_link(a, b):
                continue
            if kind == "rate":
                net.set_link_rate(a, b, rate)
            else:
                net.set_link_failed(a, b)

    env.process(script())
    env.process(disturb())
    env.run(until=200.0)
    assert all(tr.triggered for tr in transfers)
    reasons = {tr.record.reason for tr in transfers}
    return out, reasons, fm.stats


@pytest.mark.parametrize("seed", range(6))
def test_incremental_shares_equal_a_global_max_min_after_every_instant(seed):
    out, reasons, stats = _run(seed)
    assert out["checks"] > 200
    assert out["mismatch"] == 0, out
    # the scenario exercised what it is meant to: re-shares over part of the flows only,
    # components of several flows, re-routes around links that went down, and transfers that
    # fail for want of a path
    assert out["partial"] > 10, out
    assert stats["max_component"] >= 3
    assert stats["reroutes"] > 0
    assert {"no_path", "path_lost"} <= reasons


def test_the_check_catches_shares_computed_without_the_component():
    """Negative control: re-sharing only the flows on the changed links (not the flows they
    share other links with) over-books links, and the comparison sees it."""

    def flows_on_dirty_links_only(self):
        flows = sorted({tr for r in self._dirty_res for tr in self._on_res.get(r, ())},
                       key=lambda tr: tr.id)
        self._dirty_res.clear()
        for tr in flows:
            self._advance(tr)
        if not flows:
            return
        uniq = sorted({r for tr in flows for r in tr.rids.tolist()})
        index = {r: i for i, r in enumerate(uniq)}
        rates = max_min_rates(self._cap[uniq], [[index[r] for r in tr.rids.tolist()]
                                                for tr in flows])
        now = self.env.now
        for tr, rate in zip(flows, rates.tolist()):
            tr.rate_gbps = rate
            tr.version += 1
            self._heap.append((now + tr.remaining_gb * 8.0 / rate, next(self._seq),
                               tr.version, tr))
        self._heap.sort(key=lambda e: e[:2])
        self.stats["flows_recomputed"] += len(flows)

    out, _, _ = _run(0, recompute=flows_on_dirty_links_only)
    assert out["mismatch"] > 0
