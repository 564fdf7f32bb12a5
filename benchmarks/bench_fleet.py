"""Fleet-state benchmark: operations per second of the compiled Fleet, its twin, and the
per-satellite engine code it replaced, measured in the same run.

Run:  python benchmarks/bench_fleet.py [--sizes 1584,10000,100000] [--events 20000]

Three implementations of the same work, each on its own fleet of default hardware
(``Hardware()``: 4 GPUs, 4 kWh battery, 3 m^2 radiator):

* ``compiled``: :class:`orbsched.engine.fleet.Fleet` with the Cython kernel;
* ``twin``: :class:`orbsched.engine.fleet_twin.FleetTwin` (PowerBus + ThermalNode per satellite);
* ``today``: the engine's per-satellite code before issue 19 (the fleet as arrays), called
  as that engine called it - ``Satellite`` objects and the view's power queries on the
  engine's per-satellite arrays (``tests/reference_satellite.py``: ``Satellite``,
  ``ArraysView``), and the recorder's ``touch`` / ``_totals`` and the engine's
  ``_sync_supply`` (:class:`Today`, their lines repeated here).  The whole engine against
  its pre-rebuild revision is ``benchmarks/bench_scale.py``.

Per-event work (the satellite changes, then is re-applied, as the engine's handlers do):

* ``illumination``: touch, new illumination, apply, must-shed test, sync / next threshold;
* ``hold+release``: touch, GPUs held (drawing), apply ..., then released, apply ...;
* ``can_host``: one satellite's power test; ``first sunlit host``: the lowest-indexed sunlit
  satellite with free GPUs and power (today: ``View.hosts(g, sunlit_only=True)[0]``);
* ``nearest host``: nearest sunlit host over a +grid laser network (today: the view's mask
  then the compiled ``nearest_hosts``; compiled: ``HostSearch``, which tests settled nodes);
* batch ``powered`` and a recorder ``sample`` (touch all, advance every bus, socs,
  temperatures).

Each figure is the best of three repetitions; ratios are against ``today`` and the twin
measured in the same process.  The machine may be shared: quote ratios, and absolute rates
with the machine.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
import tracemalloc
from array import array
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import orbsched
from orbsched._kernels import compiled_kernels, nearest_hosts
from orbsched._kernels.reference_fleet import HostSearch as TwinSearch
from orbsched.engine.fleet import Fleet, FleetTwin, compiled_fleet_class
from orbsched.models.thermal import temperatures_at_k
from orbsched.network.adjacency import SlotAdjacency
from orbsched.scenario.sections import Hardware

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_satellite import SUNLIT, UMBRA, ArraysView, Satellite  # noqa: E402


def best_of(fn, repeat=3):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


class OldRecorder:
    """The recorder's utilisation totals before issue 19 (``Recorder.touch`` /
    ``Recorder._totals``, line for line)."""

    def __init__(self, sats):
        n = len(sats)
        self.sats = sats
        self.last_t = array("d", [0.0]) * n
        self.busy = [array("d", [0.0]) * n for _ in range(3)]
        self.dark = array("d", [0.0]) * n

    def touch(self, i, held, state, t):
        dt = t - self.last_t[i]
        if dt > 0.0:
            if held:
                self.busy[state][i] += held * dt
            if state != SUNLIT:
                self.dark[i] += dt
            self.last_t[i] = t

    def _totals(self, t):
        sats = self.sats
        held = np.array([s.held for s in sats], dtype=np.float64)
        state = np.array([s.state for s in sats], dtype=np.intp)
        last = np.frombuffer(self.last_t, dtype=np.float64)
        dark = np.frombuffer(self.dark, dtype=np.float64)
        dt = t - last
        go = dt > 0.0
        take = go & (held != 0.0)
        for k, acc in enumerate(self.busy):
            m = take & (state == k)
            np.frombuffer(acc, dtype=np.float64)[m] += held[m] * dt[m]
        m = go & (state != SUNLIT)
        dark[m] += dt[m]
        last[go] = t
        busy = np.array([np.frombuffer(acc, dtype=np.float64) for acc in self.busy])
        buses = [s.bus for s in sats]
        for b in buses:
            b.advance(t)
        acc = [b.totals_ws() for b in buses]
        energy = np.array([[a[0] for a in acc], [a[2] for a in acc], [a[7] for a in acc]],
                          dtype=np.float64)
        return busy, dark.copy(), energy


def sync_supply(e, sat):
    """The engine's ``_sync_supply`` before issue 19: a satellite's bus into the arrays."""
    i = sat.idx
    b = sat.bus
    e.stored_wh[i] = b.stored_wh
    e.rate_wh_s[i] = b.flows().battery_rate_w / 3600.0
    e.t_sync[i] = b.t_s
    e.array_w[i] = b.array_w
    e.load[i] = sat.load_w()
    e.speed[i] = sat.speed
    e.free[i] = sat.free


class Today:
    """The per-satellite engine code before issue 19 on a stand-in engine (the attributes
    those functions read)."""

    def __init__(self, hw, n):
        self.sats = [Satellite(i, f"s{i}", hw) for i in range(n)]
        e = SimpleNamespace(n_sats=n, hw=hw, sats=self.sats, hosts=self.sats, datacentres=(),
                            env=SimpleNamespace(now=0.0),
                            scenario=SimpleNamespace(record=SimpleNamespace(
                                sample_s=60.0, per_satellite=False, snapshot_s=None)))
        e.free = np.full(n, hw.gpus, np.int64)
        e.state = np.zeros(n, np.int8)
        e.stored_wh, e.rate_wh_s, e.t_sync = np.zeros(n), np.zeros(n), np.zeros(n)
        e.payload_floor_wh = np.array([s.payload_floor_wh for s in self.sats])
        e.floor_wh = np.array([s.bus.battery.floor_wh for s in self.sats])
        e.capacity_wh = np.array([s.bus.battery.capacity_wh for s in self.sats])
        e.array_w, e.load, e.speed = np.zeros(n), np.zeros(n), np.ones(n)
        md = hw.battery.max_discharge_w
        e.max_discharge_w = np.full(n, np.inf if md is None else float(md))
        e.next_entry, e.cur_exit = np.full(n, np.inf), np.full(n, np.inf)
        self.e = e
        self.sync = lambda sat: sync_supply(e, sat)
        for s in self.sats:
            self.sync(s)
        self.rec = OldRecorder(self.sats)
        self.view = ArraysView(e)

    def event(self, sat, t):
        """Engine._apply's satellite work: apply, brownout test, sync, next threshold."""
        sat.apply(t)
        _ = sat.bus.deficit_w() > 1e-6 or sat.payload_short()
        self.sync(sat)
        return sat.next_threshold_s()


def events_illumination(fleet_or_today, order, times, fracs, states):
    if isinstance(fleet_or_today, Today):
        today = fleet_or_today
        sats, rec = today.sats, today.rec
        for i, t, f, s in zip(order, times, fracs, states):
            sat = sats[i]
            rec.touch(i, sat.held, sat.state, t)
            sat.illumination = f
            sat.state = s
            today.e.state[i] = s
            today.event(sat, t)
        return
    fleet = fleet_or_today
    for i, t, f, s in zip(order, times, fracs, states):
        fleet.touch(i, t)
        fleet.set_illumination(i, f, s)
        fleet.apply(i, t)


def events_hold(fleet_or_today, order, times):
    if isinstance(fleet_or_today, Today):
        today = fleet_or_today
        sats, rec, free = today.sats, today.rec, today.e.free
        for i, t in zip(order, times):
            sat = sats[i]
            rec.touch(i, sat.held, sat.state, t)
            sat.held += 2
            sat.drawing += 2
            free[i] = sat.free
            today.event(sat, t)
            rec.touch(i, sat.held, sat.state, t)
            sat.held -= 2
            sat.drawing -= 2
            free[i] = sat.free
            today.event(sat, t)
        return
    fleet = fleet_or_today
    for i, t in zip(order, times):
        fleet.touch(i, t)
        fleet.add_gpus(i, 2, 2, 0)
        fleet.apply(i, t)
        fleet.touch(i, t)
        fleet.add_gpus(i, -2, -2, 0)
        fleet.apply(i, t)


def grid_graph(n):
    """A +grid laser network over ``n`` satellites in sqrt(n) planes (light 2-5 ms)."""
    planes = max(1, int(round(n ** 0.5)))
    per = -(-n // planes)
    adj = SlotAdjacency(n)
    for u in range(n):
        p, k = divmod(u, per)
        nxt = p * per + (k + 1) % per
        if nxt < n and nxt != u and (u, nxt) not in adj._slot:
            adj.add(u, nxt, 2e-3 + 1e-9 * u, True)
        cross = ((p + 1) % planes) * per + k
        if cross < n and cross != u and (u, cross) not in adj._slot:
            adj.add(u, cross, 4e-3 + 1e-9 * u, True)
    return adj


def prepare(impls, n, rng):
    """A common state: 60 % sunlit, a third of the fleet busy (2 GPUs each), at t = 100 s."""
    sunlit = rng.random(n) < 0.6
    busy = np.flatnonzero(rng.random(n) < 0.33).tolist()
    for impl in impls.values():
        if isinstance(impl, Today):
            for i in range(n):
                s = impl.sats[i]
                s.illumination, s.state = (1.0, SUNLIT) if sunlit[i] else (0.0, UMBRA)
                impl.e.state[i] = s.state
            for i in busy:
                s = impl.sats[i]
                s.held += 2
                s.drawing += 2
                impl.e.free[i] = s.free
            for s in impl.sats:
                impl.event(s, 100.0)
        else:
            for i in range(n):
                impl.set_illumination(i, 1.0 if sunlit[i] else 0.0,
                                      SUNLIT if sunlit[i] else UMBRA)
            for i in busy:
                impl.add_gpus(i, 2, 2, 0)
            for i in range(n):
                impl.apply(i, 100.0)


def run_size(n, n_events, with_twin):
    hw = Hardware()
    rng = np.random.default_rng(n)
    compiled = compiled_fleet_class()
    makers = {"compiled": lambda: compiled(hw, n)}
    if with_twin:
        makers["twin"] = lambda: FleetTwin(hw, n)
    makers["today"] = lambda: Today(hw, n)
    impls, bytes_per_sat = {}, {}
    for name, make in makers.items():      # memory held per satellite (tracemalloc)
        tracemalloc.start()
        impls[name] = make()
        bytes_per_sat[name] = tracemalloc.get_traced_memory()[0] / n
        tracemalloc.stop()
    prepare(impls, n, rng)
    res = {name: {"bytes / satellite": bytes_per_sat[name]} for name in impls}
    t0 = 100.0
    order = rng.integers(0, n, n_events).tolist()

    def times(start):
        return (start + np.cumsum(rng.uniform(0.0, 0.05, n_events))).tolist()

    # illumination edges (each impl gets its own, later, times: time never goes back)
    fr = rng.random(n_events) < 0.5
    fracs = np.where(fr, 1.0, 0.0).tolist()
    states = np.where(fr, SUNLIT, UMBRA).tolist()
    for name, impl in impls.items():
        ts = times(t0)
        res[name]["illumination"] = n_events / best_of(
            lambda impl=impl, ts=ts: events_illumination(impl, order, ts, fracs, states), 1)
    t0 += 3e3
    for name, impl in impls.items():
        ts = times(t0)
        res[name]["hold+release"] = n_events / best_of(
            lambda impl=impl, ts=ts: events_hold(impl, order, ts), 1)
    t_q = t0 + 3e3 + 0.05 * n_events
    for name, impl in impls.items():
        if isinstance(impl, Today):
            impl.e.env.now = t_q
            v = impl.view
            res[name]["can_host"] = n_events / best_of(
                lambda v=v: [v.can_host(i, 1) for i in order])
            k = max(1, n_events // 50)
            res[name]["first sunlit host"] = k / best_of(
                lambda v=v, k=k: [v.hosts(1, sunlit_only=True)[:1] for _ in range(k)])
            res[name]["powered"] = k / best_of(
                lambda v=v, k=k: [v.powered(1) for _ in range(k)])
        else:
            res[name]["can_host"] = n_events / best_of(
                lambda impl=impl: [impl.can_host(i, 1, t_q) for i in order])
            k = max(1, n_events // 50)
            res[name]["first sunlit host"] = k / best_of(
                lambda impl=impl, k=k: [impl.first_host(1, t_q, True) for _ in range(k)])
            res[name]["powered"] = k / best_of(
                lambda impl=impl, k=k: [impl.powered(1, t_q) for _ in range(k)])
    # nearest sunlit host over the laser grid
    adj = grid_graph(n)
    srcs = rng.integers(0, n, 200).tolist()
    for name, impl in impls.items():
        if isinstance(impl, Today):
            e = impl.e
            dist, pred = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)

            def today_search(e=e, impl=impl, dist=dist, pred=pred):
                for s in srcs:
                    mask = (e.free >= 1) & impl.view.powered(1) & (e.state == SUNLIT)
                    nearest_hosts(adj.nbr, adj.light, adj.usable, adj.deg, mask, s, 1, None,
                                  n, dist, pred)
            res[name]["nearest host"] = len(srcs) / best_of(today_search)
        else:
            search = (compiled_kernels()["HostSearch"] if name == "compiled"
                      else TwinSearch)(n)

            def fleet_search(search=search, impl=impl):
                for s in srcs:
                    search.nearest(adj.nbr, adj.light, adj.usable, adj.deg, impl, s, 1, t_q,
                                   True, 1)
            res[name]["nearest host"] = len(srcs) / best_of(fleet_search)
    # a recorder sample
    t_s = t_q + 60.0
    for name, impl in impls.items():
        if isinstance(impl, Today):
            rec, sats = impl.rec, impl.sats

            def today_sample(rec=rec, sats=sats):
                nonlocal t_s
                t_s += 60.0
                rec._totals(t_s)
                np.array([s.bus.state_of_charge for s in sats])
                temperatures_at_k([s.thermal for s in sats], t_s)
        else:
            def today_sample(impl=impl):  # the fleet's sample
                nonlocal t_s
                t_s += 60.0
                impl.touch_all(t_s)
                impl.advance_buses(t_s)
                impl.socs()
                impl.temperatures_at(t_s)
        res[name]["sample"] = 1.0 / best_of(today_sample)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1584,10000,100000")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--twin-max", type=int, default=100000,
                    help="largest fleet on which the twin is measured too")
    args = ap.parse_args(argv)
    if compiled_fleet_class() is None:
        sys.exit("the compiled kernels are not built: nothing to compare")
    print(f"orbsched {orbsched.__version__}, accelerated={orbsched.accelerated}, "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}; Fleet is {Fleet.__mro__[1].__name__}")
    print("rates in operations per second (events for the per-event rows), best of 3 "
          "(1 for the stateful event rows); 'vs' columns: how many times faster (for memory: "
          "smaller) the compiled fleet is; the machine may be shared\n")
    for n in [int(x) for x in args.sizes.split(",")]:
        res = run_size(n, args.events, n <= args.twin_max)
        names = list(res)
        print(f"n = {n}")
        print(f"  {'operation':<20}" + "".join(f"{x:>14}" for x in names)
              + f"{'vs today':>10}" + (f"{'vs twin':>10}" if "twin" in res else ""))
        for op in res["today"]:
            row = f"  {op:<20}" + "".join(f"{res[x][op]:>14,.0f}" for x in names)
            inv = op.startswith("bytes")          # smaller is better: today / compiled
            r = (lambda a, b: b / a) if inv else (lambda a, b: a / b)
            row += f"{r(res['compiled'][op], res['today'][op]):>9.1f}x"
            if "twin" in res:
                row += f"{r(res['compiled'][op], res['twin'][op]):>9.1f}x"
            print(row)
        print()


if __name__ == "__main__":
    main()
