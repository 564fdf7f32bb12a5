"""The compiled fleet kernel against its twin: the same doubles, bit for bit, for every array
and every return value, and the same errors.

``orbsched/_kernels/fleet.pyx`` (``FleetKernel``, ``HostSearch``) is compared with
:class:`orbsched.engine.fleet_twin.FleetTwin` (one PowerBus and one ThermalNode per satellite)
and :class:`orbsched._kernels.reference_fleet.HostSearch` on random operation sequences (seeded
numpy and hypothesis; ``tests/fleet_ops.py`` decodes them), over small fleets that reach the
thresholds, the thermal limit (small radiators), full and empty batteries, the payload floor,
discharge limits, zero-capacity batteries, no thermal model, failures and reboots, and mixed
hardware.  Skipped when the compiled kernels are not built.
"""
import math

import numpy as np
import pytest
from fleet_ops import Driver, canon, hardware_from, random_fleet_hardware
from hypothesis import given, settings
from hypothesis import strategies as st

from orbsched import _kernels
from orbsched._kernels import reference, reference_fleet
from orbsched.engine.fleet import FleetTwin, compiled_fleet_class
from orbsched.network.adjacency import SlotAdjacency
from orbsched.scenario.errors import SubsystemError
from orbsched.scenario.hardware import BatterySpec, SolarArraySpec, ThermalSpec
from orbsched.scenario.sections import Hardware

CompiledFleet = compiled_fleet_class()
compiled = _kernels.compiled_kernels()
pytestmark = pytest.mark.skipif(CompiledFleet is None, reason="compiled kernels not built")


def _pair(hw, n, **kw):
    fleets = [CompiledFleet(hw, n, **kw), FleetTwin(hw, n, **kw)]
    d = Driver(fleets)
    d.compare("init", (), [None, None])
    return d


def _initial(rng, n):
    dark = rng.random(n) < 0.3
    return dict(illumination=np.where(dark, 0.0, 1.0), state=np.where(dark, 2, 0),
                t_s=float(rng.choice([0.0, 1234.5])))


@pytest.mark.parametrize("seed", range(12))
def test_random_sequences_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    d = _pair(random_fleet_hardware(rng, n), n, **_initial(rng, n))
    for _ in range(700):
        d.compare(*d.step(int(rng.integers(0, 100)), int(rng.integers(0, 100)), rng.random(),
                          rng.random(), int(rng.integers(0, 1000))))


_unit = st.floats(0.0, 0.999999, allow_nan=False)
_op = st.tuples(st.integers(0, 99), st.integers(0, 99), _unit, _unit, st.integers(0, 999))


@settings(max_examples=200, deadline=None)
@given(kinds=st.lists(st.lists(_unit, min_size=16, max_size=16), min_size=1, max_size=3),
       which=st.lists(st.integers(0, 2), min_size=1, max_size=4),
       ops=st.lists(_op, min_size=1, max_size=80))
def test_hypothesis_sequences_bit_for_bit(kinds, which, ops):
    specs = [hardware_from(p) for p in kinds]
    hw = [specs[w % len(specs)] for w in which]
    d = _pair(hw, len(hw))
    for op in ops:
        d.compare(*d.step(*op))


def test_one_hardware_for_all_and_a_list_agree():
    hw = hardware_from([0.5] * 16)
    a = CompiledFleet(hw, 3)
    b = CompiledFleet([hw, hw, hw], 3)
    assert canon(a.state_arrays()) == canon(b.state_arrays())


def test_brent_fallback_hands_over_to_the_twin():
    """A node state where Newton's method does not settle (found by scanning the bus load
    near test_kernels_thermal's Brent case): the compiled fleet takes the pure-Python integral
    there, like thermal.pyx, and gets the twin's bits."""
    a, dt = 0.18049155497138264, 1.4408037552275832
    beta_target = 9.748701612514828e-12
    k = ThermalSpec(heat_capacity_j_k=1.0, radiator_area_m2=1.0, max_temperature_k=400.0,
                    sink_temperature_k=0.0).conductance_w_k4
    spec = ThermalSpec(heat_capacity_j_k=k / beta_target, radiator_area_m2=1.0,
                       max_temperature_k=400.0, sink_temperature_k=0.0)
    bus_w = 0.14764436657925498
    u = (bus_w / spec.conductance_w_k4 + spec.sink_temperature_k ** 4) ** 0.25
    beta = spec.conductance_w_k4 / spec.heat_capacity_j_k
    w_min = 4.0 * np.finfo(float).eps * u
    z_hi = math.log(abs(u - a))
    z_lo = max(z_hi - dt * beta * (u + u) * (u * u + u * u), math.log(w_min))
    assert reference._newton_z(a, u, beta, dt, 1.0, z_lo, z_hi) is None   # the Brent branch
    hw = Hardware(gpus=0, bus_w=bus_w, solar=SolarArraySpec(area_m2=1.0),
                  battery=BatterySpec(capacity_wh=1e6), payload_reserve_wh=0.0, thermal=spec,
                  initial_temperature_k=a)
    d = _pair(hw, 1, illumination=[0.0], state=[2])
    for name, args in (("temperature_at", (0, dt)), ("temperatures_at", (dt, 1e6)),
                       ("apply", (0, dt)), ("next_threshold", (0,))):
        results = [getattr(f, name)(*args) for f in d.fleets]
        d.compare(name, args, results)
    want = reference.temperature_after_k(a, dt, u, beta)
    assert d.fleets[0].temperature_k[0] == want


def test_brent_fallback_in_the_batch_advance():
    """advance_nodes stops its nogil loop at the node that needs the twin's integral, takes
    it with the GIL, and goes on with the others."""
    a, dt = 0.18049155497138264, 1.4408037552275832
    k = ThermalSpec(heat_capacity_j_k=1.0, radiator_area_m2=1.0, max_temperature_k=400.0,
                    sink_temperature_k=0.0).conductance_w_k4
    spec = ThermalSpec(heat_capacity_j_k=k / 9.748701612514828e-12, radiator_area_m2=1.0,
                       max_temperature_k=400.0, sink_temperature_k=0.0)
    brent = Hardware(gpus=0, bus_w=0.14764436657925498, solar=SolarArraySpec(area_m2=1.0),
                     battery=BatterySpec(capacity_wh=1e6), payload_reserve_wh=0.0,
                     thermal=spec, initial_temperature_k=a)
    plain = hardware_from([0.5] * 16)
    hw = [plain, brent, plain, brent, plain]
    d = _pair(hw, 5, illumination=[0.0] * 5, state=[2] * 5)
    d.compare("advance_nodes", (dt,), [f.advance_nodes(dt) for f in d.fleets])


def _random_graph(rng, n_sats, n_ground, degree=4):
    adj = SlotAdjacency(n_sats + n_ground)
    for u in range(n_sats):
        for v in rng.choice(n_sats, size=degree, replace=False).tolist():
            if u != v and (u, v) not in adj._slot:
                adj.add(u, v, float(rng.uniform(1e-3, 2e-2)), bool(rng.random() < 0.9))
    for g in range(n_sats, n_sats + n_ground):
        for v in rng.choice(n_sats, size=2, replace=False).tolist():
            adj.add(g, v, float(rng.uniform(2e-3, 5e-3)), True)
    return adj


@pytest.mark.parametrize("seed", range(4))
def test_host_search_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n, n_ground = 60, 3
    d = _pair(random_fleet_hardware(rng, n), n, **_initial(rng, n))
    for _ in range(400):   # a state with GPUs held, batteries drained, nodes warm
        d.step(int(rng.integers(0, 14)), int(rng.integers(0, 100)), rng.random(), rng.random(),
               int(rng.integers(0, 1000)))
    adj = _random_graph(rng, n, n_ground)
    searches = [compiled["HostSearch"](n + n_ground), reference_fleet.HostSearch(n + n_ground)]
    for _ in range(40):
        src = int(rng.integers(0, n + n_ground))
        args = (int(rng.integers(0, 5)), d.t, bool(rng.random() < 0.5), int(rng.integers(1, 8)),
                None if rng.random() < 0.5 else int(rng.integers(0, 6)))
        got = [s.nearest(adj.nbr, adj.light, adj.usable, adj.deg, f, src, *args)
               for s, f in zip(searches, d.fleets)]
        assert canon(got[0]) == canon(got[1])
        for s in searches[:1]:
            assert canon(s.dist) == canon(searches[1].dist)
            assert canon(s.pred) == canon(searches[1].pred)


def test_host_search_errors_match():
    hw = hardware_from([0.5] * 16)
    fleets = [CompiledFleet(hw, 4), FleetTwin(hw, 4)]
    for f in fleets:
        f.apply(1, 100.0)
    adj = _random_graph(np.random.default_rng(0), 4, 1, degree=3)
    searches = [compiled["HostSearch"](5), reference_fleet.HostSearch(5)]
    bad = [(0, 0, 50.0, False, 4), (0, 0, math.nan, False, 1), (7, 0, 100.0, False, 1),
           (0, -1, 100.0, False, 1), (0, 0, 100.0, False, 0), (0, True, 100.0, False, 1)]
    for args in bad:
        got = []
        for s, f in zip(searches, fleets):
            try:
                got.append(s.nearest(adj.nbr, adj.light, adj.usable, adj.deg, f, *args))
            except Exception as exc:
                got.append(exc)
        assert canon(got[0]) == canon(got[1]), (args, got)
        assert isinstance(got[1], Exception), args
    with pytest.raises(TypeError, match="compiled fleet"):
        searches[0].nearest(adj.nbr, adj.light, adj.usable, adj.deg, fleets[1], 0, 0, 100.0,
                            False, 1)


@pytest.mark.parametrize("bad", [
    dict(n=-1), dict(n=True), dict(n=2.0), dict(t_s=math.nan), dict(t_s=True),
    dict(illumination=[0.5, 2.0]), dict(state=[0, 5]), dict(illumination=[1.0]),
    dict(hardware="list3"),
])
def test_constructor_errors_match(bad):
    hw = hardware_from([0.5] * 16)
    kw = dict(bad)
    n = kw.pop("n", 2)
    if kw.pop("hardware", None):
        hw = [hw] * 3
    got = []
    for cls in (CompiledFleet, FleetTwin):
        try:
            cls(hw, n, **kw)
            got.append(None)
        except Exception as exc:
            got.append(exc)
    assert isinstance(got[1], SubsystemError), got
    assert canon(got[0]) == canon(got[1])


def test_arrays_are_read_only():
    f = CompiledFleet(hardware_from([0.5] * 16), 3)
    for name in ("free", "stored_wh", "energy_ws", "state"):
        with pytest.raises(ValueError):
            getattr(f, name)[0] = 0
    with pytest.raises(AttributeError):
        f.free = np.zeros(3)
