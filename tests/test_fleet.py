"""The fleet state (orbsched.engine.fleet) against the engine's per-satellite code before it
(``tests/reference_satellite.py``: ``Satellite`` objects, the recorder's utilisation accounting
and the view's power test on per-satellite arrays), in whichever kernel mode runs.

* random operation sequences drive :class:`Fleet` and a list of
  ``Satellite`` the way ``engine/core.py``, ``faults.py`` and
  ``recorder.py`` drive them; every result and every satellite's state must be the same
  doubles (the twin is ``Satellite``'s code on ``PowerBus`` / ``ThermalNode``; the compiled
  kernel equals the twin, ``test_fleet_kernel.py``);
* the energy ledger's identities per satellite to 1e-9 relative;
* ``powered`` / ``can_host`` / ``hosts`` equal ``View``'s on the engine's arrays;
* invalid inputs raise the models' own errors;
* hand-computed thresholds, throttle and utilisation; the host search against
  ``nearest_hosts`` with an explicit mask.
"""
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from fleet_ops import Driver, canon, hardware_from, random_fleet_hardware
from reference_satellite import SUNLIT, UMBRA, ArraysView, Satellite

from orbsched import _kernels
from orbsched._kernels import reference
from orbsched.engine.fleet import MUST_SHED, SPEED_CHANGED, Fleet, FleetTwin, HostSearch
from orbsched.models.power import PowerBus
from orbsched.models.thermal import ThermalNode, temperatures_at_k
from orbsched.network.adjacency import SlotAdjacency
from orbsched.scenario.errors import SubsystemError
from orbsched.scenario.hardware import BatterySpec, SolarArraySpec, ThermalSpec
from orbsched.scenario.sections import Hardware


class TodaysFleet:
    """Satellites as today's engine keeps them: one ``Satellite`` each, the recorder's
    running totals (``Recorder.touch``), GPU counts changed in place."""

    def __init__(self, hardware, n, *, t_s=0.0, illumination=None, state=None):
        hws = hardware if isinstance(hardware, list) else [hardware] * n
        f = [1.0] * n if illumination is None else [float(x) for x in illumination]
        s = [SUNLIT] * n if state is None else [int(x) for x in state]
        self.n = n
        self.t0 = t_s
        self.sats = [Satellite(i, f"s{i}", hws[i], t_s=t_s, illumination=f[i], state=s[i])
                     for i in range(n)]
        self.last = [t_s] * n
        self.busy = [[0.0] * n for _ in range(3)]
        self.dark = [0.0] * n

    def touch(self, i, t):
        sat = self.sats[i]
        dt = t - self.last[i]
        if dt > 0.0:
            if sat.held:
                self.busy[sat.state][i] += sat.held * dt
            if sat.state != SUNLIT:
                self.dark[i] += dt
            self.last[i] = t

    def touch_all(self, t):
        for i in range(self.n):
            self.touch(i, t)

    def add_gpus(self, i, held, drawing, replica):
        sat = self.sats[i]
        sat.held += held
        sat.drawing += drawing
        sat.replica_gpus += replica

    def fail_gpu(self, i):
        self.sats[i].gpus -= 1

    def fail_satellite(self, i):
        self.sats[i].failed = True

    def begin_reboot(self, i):
        self.sats[i].rebooting += 1

    def end_reboot(self, i):
        self.sats[i].rebooting -= 1

    def set_illumination(self, i, fraction, state):
        self.sats[i].illumination = float(fraction)
        self.sats[i].state = state

    def apply(self, i, t):
        sat = self.sats[i]
        changed = sat.apply(t)
        shed = sat.bus.deficit_w() > 1e-6 or sat.payload_short()
        return (SPEED_CHANGED if changed else 0) | (MUST_SHED if shed else 0)

    def must_shed(self, i):
        sat = self.sats[i]
        return sat.bus.deficit_w() > 1e-6 or sat.payload_short()

    def next_threshold(self, i):
        return self.sats[i].next_threshold_s()

    def advance(self, i, t):
        self.sats[i].bus.advance(t)
        if self.sats[i].thermal is not None:
            self.sats[i].thermal.advance(t)

    def advance_buses(self, t):
        for s in self.sats:
            s.bus.advance(t)

    def advance_nodes(self, t):
        for s in self.sats:
            if s.thermal is not None:
                s.thermal.advance(t)

    def temperatures_at(self, t, max_step_s=30.0):
        idx = [i for i, s in enumerate(self.sats) if s.thermal is not None]
        out = np.full(self.n, np.nan)
        if idx:
            out[idx] = temperatures_at_k([self.sats[i].thermal for i in idx], t, max_step_s)
        return out

    def state_of(self):
        s = self.sats
        def f8(xs):
            return np.array(xs, dtype=np.float64)

        def i8(xs):
            return np.array(xs, dtype=np.int64)

        return {
            "gpus": i8([x.gpus for x in s]), "held": i8([x.held for x in s]),
            "drawing": i8([x.drawing for x in s]), "replica": i8([x.replica_gpus for x in s]),
            "rebooting": i8([x.rebooting for x in s]), "free": i8([x.free for x in s]),
            "failed": np.array([x.failed for x in s], dtype=np.bool_),
            "state": np.array([x.state for x in s], dtype=np.int8),
            "illum": f8([x.illumination for x in s]), "speed": f8([x.speed for x in s]),
            "load_w": f8([x.bus.load_w for x in s]), "array_w": f8([x.bus.array_w for x in s]),
            "stored_wh": f8([x.bus.stored_wh for x in s]), "t_bus_s": f8([x.bus.t_s for x in s]),
            "rate_w": f8([x.bus.flows().battery_rate_w for x in s]),
            "temperature_k": f8([x.temperature_k() for x in s]),
            "t_node_s": f8([self.t0 if x.thermal is None else x.thermal.t_s for x in s]),
            "energy_ws": np.array([x.bus.totals_ws() for x in s], dtype=np.float64).T.copy()
            if s else np.zeros((8, 0)),
            "busy_gpu_s": f8(self.busy), "dark_s": f8(self.dark),
            "last_touch_s": f8(self.last),
        }


_COMPARED = ("touch", "add_gpus", "fail_gpu", "fail_satellite", "begin_reboot", "end_reboot",
             "set_illumination", "apply", "must_shed", "next_threshold", "advance",
             "advance_buses", "advance_nodes", "touch_all", "temperatures_at")


@pytest.mark.parametrize("seed", range(10))
def test_fleet_is_todays_satellites(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 6))
    hw = random_fleet_hardware(rng, n)
    dark = rng.random(n) < 0.3
    kw = dict(illumination=np.where(dark, 0.0, 1.0), state=np.where(dark, UMBRA, SUNLIT))
    fleet = Fleet(hw, n, **kw)
    today = TodaysFleet(hw, n, **kw)
    d = Driver([fleet])
    for _ in range(600):
        op = int(rng.integers(0, 15))          # valid operations only (15: invalid ones)
        name, args, (got,) = d.step(op, int(rng.integers(0, 100)), rng.random(),
                                    rng.random(), int(rng.integers(0, 1000)))
        if isinstance(got, Exception):          # an invalid count (a GPU failing on none)
            assert isinstance(got, SubsystemError), got
            continue
        if name in _COMPARED:
            want = getattr(today, name)(*args)
            assert canon(got) == canon(want), (name, args, got, want)
        have = fleet.state_arrays()
        for key, want in today.state_of().items():
            assert canon(have[key]) == canon(want), (key, name, args, have[key], want)


@pytest.mark.parametrize("seed", range(6))
def test_energy_ledgers_balance(seed):
    rng = np.random.default_rng(200 + seed)
    n = 5
    fleet = Fleet(random_fleet_hardware(rng, n), n)
    d = Driver([fleet])
    for _ in range(500):
        d.step(int(rng.integers(0, 15)), int(rng.integers(0, 100)), rng.random(), rng.random(),
               int(rng.integers(0, 1000)))
    fleet.advance_buses(d.t)
    for i in range(n):
        led = fleet.ledger(i)
        scale = max(led.scale_wh(), 1e-300)
        for name, r in led.residuals_wh().items():
            assert abs(r) <= 1e-9 * scale, (i, name, r, scale)
        assert led.t_end_s == fleet.t_bus_s[i] == d.t
        assert led.stored_end_wh == fleet.stored_wh[i]
        assert led.harvested_wh * 3600.0 == pytest.approx(fleet.energy_ws[0, i], rel=1e-15)


def _engine_arrays(today, t, hw):
    """What today's engine holds for the view (``_sync_supply`` after each apply)."""
    sats = today.sats
    e = SimpleNamespace(n_sats=len(sats), hw=hw, sats=sats, hosts=sats, datacentres=(),
                        env=SimpleNamespace(now=t))
    e.free = np.array([s.free for s in sats], dtype=np.int64)
    e.state = np.array([s.state for s in sats], dtype=np.int8)
    e.next_entry = np.full(len(sats), math.inf)
    e.cur_exit = np.full(len(sats), math.inf)
    e.stored_wh = np.array([s.bus.stored_wh for s in sats])
    e.rate_wh_s = np.array([s.bus.flows().battery_rate_w / 3600.0 for s in sats])
    e.t_sync = np.array([s.bus.t_s for s in sats])
    e.array_w = np.array([s.bus.array_w for s in sats])
    e.load = np.array([s.bus.load_w for s in sats])
    e.speed = np.array([s.speed for s in sats])
    e.payload_floor_wh = np.array([s.payload_floor_wh for s in sats])
    e.floor_wh = np.array([s.bus.battery.floor_wh for s in sats])
    e.capacity_wh = np.array([s.bus.battery.capacity_wh for s in sats])
    md = hw.battery.max_discharge_w
    e.max_discharge_w = np.full(len(sats), np.inf if md is None else float(md))
    return e


@pytest.mark.parametrize("seed", range(8))
def test_power_queries_equal_the_views(seed):
    """Between a satellite's events the view extrapolates its battery; Fleet's queries give
    the view's answers on the engine's arrays, exactly (``soc`` / ``payload_energy_wh`` to
    1e-12: the view took those from ``PowerBus.stored_at_wh``, rounded differently)."""
    rng = np.random.default_rng(300 + seed)
    n = 6
    hw = hardware_from(rng.random(16))
    fleet, today = Fleet(hw, n), TodaysFleet(hw, n)
    d = Driver([today, fleet], ["today", "fleet"])
    checked = 0
    for _ in range(300):
        op = int(rng.choice([0, 2, 3, 4, 5, 6]))   # what changes state without a recorder
        name, args, (want, got) = d.step(op, int(rng.integers(0, 100)), rng.random(),
                                         rng.random(), int(rng.integers(0, 1000)))
        assert canon(got) == canon(want), (name, args)
        if rng.random() < 0.3:
            d.t += float(rng.choice([0.0, 5.0, 300.0]))
        t = d.t
        view = ArraysView(_engine_arrays(today, t, hw))
        for g in range(6):
            assert np.array_equal(fleet.powered(g, t), view.powered(g))
            for sun in (False, True):
                want = view.hosts(g, sunlit_only=sun)
                assert np.array_equal(fleet.hosts(g, t, sun), want)
                assert fleet.first_host(g, t, sun) == (int(want[0]) if len(want) else -1)
            for i in range(n):
                assert fleet.can_host(i, g, t) == view.can_host(i, g)
                assert fleet.can_host(i, g, t, False) == view.can_host(i, g, check_free=False)
                checked += 1
        for i in range(n):
            assert fleet.soc(i, t) == pytest.approx(view.soc(i), rel=1e-12, abs=1e-15)
            assert fleet.payload_energy_wh(i, t) == pytest.approx(view.payload_energy_wh(i),
                                                                  rel=1e-12, abs=1e-9)
            assert fleet.battery_usable_wh(i, t) == pytest.approx(view.battery_usable_wh(i),
                                                                  rel=1e-12, abs=1e-9)
            assert canon(fleet.temperature_at(i, t)) == canon(view.temperature_k(i))
        exact = fleet.temperatures_exact_at(t)         # the view's batch read: the same bits
        assert exact.shape == (n,) and all(
            canon(exact[i]) == canon(fleet.temperature_at(i, t)) for i in range(n))
    assert checked


# ---- errors --------------------------------------------------------------------------------
def _message(fn, *args):
    with pytest.raises(SubsystemError) as info:
        fn(*args)
    return str(info.value)


def test_invalid_times_raise_the_models_errors():
    bare = Hardware(thermal=None)
    warm = Hardware()
    for hw, owner in ((bare, "bus"), (warm, "node")):
        f = Fleet(hw, 2, t_s=10.0)
        f.apply(0, 10.0)
        model = PowerBus(hw.battery, t_s=10.0) if owner == "bus" else \
            ThermalNode(hw.thermal, temperature_k=300.0, t_s=10.0)
        for bad in (math.nan, math.inf, -math.inf, True, "5", None, 5.0, np.float64(9.5)):
            want = _message(model.advance, bad)
            assert _message(f.apply, 0, bad) == want
            assert _message(f.advance, 1, bad) == _message(PowerBus(hw.battery, t_s=10.0)
                                                            .advance, bad)
    f = Fleet(warm, 1, t_s=10.0)
    node = ThermalNode(warm.thermal, temperature_k=300.0, t_s=10.0)
    assert _message(f.temperature_at, 0, 3.0) == _message(node.temperature_at_k, 3.0)
    bus = PowerBus(warm.battery, t_s=10.0)
    assert _message(f.stored_at, 0, 3.0) == _message(bus.stored_at_wh, 3.0)
    assert _message(f.advance_buses, 3.0) == _message(bus.advance, 3.0)


@pytest.mark.parametrize("call, match", [
    (lambda f: f.apply(True, 1.0), "satellite index must be an integer"),
    (lambda f: f.apply(5, 1.0), "out of range 0..2"),
    (lambda f: f.set_illumination(0, math.nan, 0), "Fleet.set_illumination.fraction"),
    (lambda f: f.set_illumination(0, 0.5, 7), "state must be 0"),
    (lambda f: f.add_gpus(0, -1, 0, 0), "held would become -1"),
    (lambda f: f.add_gpus(0, 1, 2, 0) or f.add_gpus(0, 0, -3, 0), "drawing would become -1"),
    (lambda f: f.end_reboot(0), "rebooting would become -1"),
    (lambda f: f.fail_satellite(0) or f.fail_satellite(0), "failed already"),
    (lambda f: f.touch(0, 5.0) or f.touch(0, 4.0), "Fleet.touch: time cannot go backwards"),
    (lambda f: f.powered(True, 1.0), "gpus must be an integer"),
    (lambda f: f.can_host(0, -2, 1.0), "gpus must be >= 0"),
    (lambda f: f.temperatures_at(1.0, math.nan), "max_step_s"),
])
def test_invalid_arguments_are_refused(call, match):
    with pytest.raises(SubsystemError, match=match):
        call(Fleet(Hardware(), 3))


# ---- hand-computed physics -----------------------------------------------------------------
def test_eclipse_discharge_thresholds_by_hand():
    """4 busy GPUs in umbra: the battery falls at (300 + 4 x 700) W / 0.95 from 4000 Wh to the
    payload floor 3000 + 400 Wh (GPU work shed there), then with idle GPUs (700 W) to its
    3000 Wh floor."""
    hw = Hardware(thermal=None, gpus=4, gpu_active_w=700.0, gpu_idle_w=100.0, bus_w=300.0,
                  battery=BatterySpec(capacity_wh=4000.0), payload_reserve_wh=400.0)
    f = Fleet(hw, 1, illumination=[0.0], state=[UMBRA])
    f.add_gpus(0, 4, 4, 0)
    assert f.apply(0, 0.0) == 0
    rate_w = 3100.0 / 0.95
    t_pf = 600.0 * 3600.0 / rate_w
    assert f.threshold_s[0] == pytest.approx(t_pf, rel=1e-12)
    assert f.stored_at(0, 100.0) == pytest.approx(4000.0 - rate_w * 100.0 / 3600.0, rel=1e-12)
    assert f.soc(0, 100.0) == pytest.approx(f.stored_at(0, 100.0) / 4000.0, rel=1e-15)
    assert f.payload_energy_wh(0, 100.0) == pytest.approx(
        (f.stored_at(0, 100.0) - 3400.0) * 0.95, rel=1e-12)
    assert f.apply(0, f.threshold_s[0]) & MUST_SHED          # at the payload floor, drawing
    f.add_gpus(0, -4, -4, 0)
    assert f.apply(0, f.t_bus_s[0]) == 0
    assert f.next_threshold(0) == pytest.approx(t_pf + 400.0 * 3600.0 / (700.0 / 0.95),
                                                rel=1e-12)
    f.advance(0, 1e6)
    assert f.at_floor(0) and f.stored_wh[0] == 3000.0 and f.deficit_w(0) == 700.0
    assert f.apply(0, 1e6) & MUST_SHED


def test_throttle_holds_the_node_at_its_limit():
    spec = ThermalSpec(heat_capacity_j_k=2e5, radiator_area_m2=1.0, max_temperature_k=330.0,
                       absorbed_sun_w=600.0, absorbed_shadow_w=150.0)
    hw = Hardware(gpus=4, thermal=spec, initial_temperature_k=330.0,
                  solar=SolarArraySpec(area_m2=40.0))
    f = Fleet(hw, 1)
    f.add_gpus(0, 4, 4, 0)
    flags = f.apply(0, 0.0)
    k_act = hw.gpu_active_w - hw.gpu_idle_w
    base = hw.bus_w + 4 * hw.gpu_idle_w
    want = (spec.allowed_heat_w - 600.0 - base) / (k_act * 4)
    assert 0.0 < want < 1.0 and flags & SPEED_CHANGED
    assert f.speed[0] == pytest.approx(want, rel=1e-12)
    assert f.load_w[0] == pytest.approx(spec.allowed_heat_w - 600.0, rel=1e-12)
    f.advance(0, 3600.0)
    assert f.temperature_k[0] == pytest.approx(330.0, abs=1e-9)
    assert f.temperatures_at(7200.0)[0] == pytest.approx(330.0, abs=1e-6)


def test_utilisation_by_hand():
    f = Fleet(Hardware(), 2)
    f.add_gpus(0, 3, 3, 0)
    f.touch(0, 100.0)                        # 3 GPUs x 100 s sunlit
    f.set_illumination(0, 0.0, UMBRA)
    f.touch_all(250.0)                       # 3 x 150 s in umbra; satellite 1 idle
    assert f.busy_gpu_s[:, 0].tolist() == [300.0, 0.0, 450.0]
    assert f.dark_s.tolist() == [150.0, 0.0]
    assert f.last_touch_s.tolist() == [250.0, 250.0]
    assert f.busy_gpu_s[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_free_gpus_follow_failures_and_reboots():
    f = Fleet(Hardware(gpus=4), 2)
    f.add_gpus(0, 3, 0, 0)
    assert f.free.tolist() == [1, 4]
    f.fail_gpu(0)
    assert f.free.tolist() == [0, 4] and f.gpus.tolist() == [3, 4]
    f.begin_reboot(1)
    assert f.free[1] == 0
    f.end_reboot(1)
    assert f.free[1] == 4
    f.fail_satellite(1)
    assert f.free[1] == 0 and bool(f.failed[1])
    f.add_gpus(0, -3, 0, 0)
    assert f.free[0] == 3


# ---- host search ---------------------------------------------------------------------------
def test_host_search_equals_nearest_hosts_with_a_mask():
    """The search that tests each settled node finds what nearest_hosts finds with the mask
    of the same test, with the same dist / pred, search after search (it resets only what the
    previous one wrote)."""
    rng = np.random.default_rng(5)
    n, n_ground = 80, 2
    hw = hardware_from(rng.random(16))
    fleet = Fleet(hw, n)
    d = Driver([fleet])
    for _ in range(500):
        d.step(int(rng.integers(0, 14)), int(rng.integers(0, 100)), rng.random(), rng.random(),
               int(rng.integers(0, 1000)))
    adj = SlotAdjacency(n + n_ground)
    for u in range(n):
        for v in rng.choice(n, size=3, replace=False).tolist():
            if u != v and (u, v) not in adj._slot:
                adj.add(u, v, float(rng.uniform(1e-3, 2e-2)), bool(rng.random() < 0.9))
    for g in range(n, n + n_ground):
        adj.add(g, int(rng.integers(n)), 3e-3, True)
    search = HostSearch(n + n_ground)
    dist = np.full(n + n_ground, np.inf)
    pred = np.full(n + n_ground, -1, dtype=np.int64)
    found_any = 0
    for _ in range(30):
        src = int(rng.integers(0, n + n_ground))
        g, sun = int(rng.integers(0, 4)), bool(rng.random() < 0.5)
        k, hops = int(rng.integers(1, 6)), (None, 2, 5)[int(rng.integers(0, 3))]
        mask = np.zeros(n, dtype=bool)
        mask[fleet.hosts(g, d.t, sun)] = True
        want = reference.nearest_hosts(adj.nbr, adj.light, adj.usable, adj.deg, mask, src, k,
                                       hops, n, dist, pred)
        got = search.nearest(adj.nbr, adj.light, adj.usable, adj.deg, fleet, src, g, d.t, sun,
                             k, hops)
        assert canon(got) == canon(want)
        assert canon(search.dist) == canon(dist) and canon(search.pred) == canon(pred)
        found_any += len(got)
    assert found_any


def test_host_search_heap_grows():
    """A search that settles thousands of nodes (more entries than the heap starts with)."""
    n = 3000
    fleet = Fleet(Hardware(thermal=None), n)
    adj = SlotAdjacency(n)
    for u in range(n):
        adj.add(u, (u + 1) % n, 1e-3 + 1e-6 * u, True)
        adj.add(u, (u + 37) % n, 5e-3 + 1e-6 * u, True)
    search = HostSearch(n)
    got = search.nearest(adj.nbr, adj.light, adj.usable, adj.deg, fleet, 0, 1, 0.0, False,
                         n)
    assert len(got) == n - 1 and len({u for u, _, _ in got}) == n - 1
    assert np.isfinite(search.dist).all()


def test_the_pure_switch_selects_the_twin():
    code = ("from orbsched.engine.fleet import Fleet, FleetTwin; "
            "print(issubclass(Fleet, FleetTwin))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ORBSCHED_PURE": "1"},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "True"
    assert issubclass(Fleet, FleetTwin) == (not _kernels.ACCELERATED)
