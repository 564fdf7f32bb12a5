"""Thermal node: Stefan-Boltzmann figures, closed form against a numerical ODE, limits.

References: the radiator figures of ../shared/CONTEXT.md (within 1 %, they are quoted to 3-4
significant digits); scipy's solve_ivp (DOP853, rtol 1e-12) as an independent integrator of
C dT/dt = Q - k (T^4 - T_sink^4), agreeing with the closed form to 1e-6 relative (the
integrator's own error is ~1e-10).
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from orbsched.models.thermal import (
    ThermalNode,
    ThermalSpec,
    absorbed_solar_heat_w,
    temperature_after_k,
    time_between_k,
)
from orbsched.scenario.constants import STEFAN_BOLTZMANN_W_M2_K4 as SIGMA
from orbsched.scenario.errors import SubsystemError


def spec(**kw):
    base = {"heat_capacity_j_k": 200e3, "radiator_area_m2": 2.0, "max_temperature_k": 330.0}
    base.update(kw)
    return ThermalSpec(**base)


def ode_time_to(sp, q_w, t0_k, target_k, t_end_s):
    """Time for the ODE to reach target_k, by solve_ivp with event location."""
    k, cap, ts4 = sp.conductance_w_k4, sp.heat_capacity_j_k, sp.sink_temperature_k ** 4

    def rhs(t, y):
        return [(q_w - k * (y[0] ** 4 - ts4)) / cap]

    def hit(t, y):
        return y[0] - target_k

    sol = solve_ivp(rhs, (0.0, t_end_s), [t0_k], method="DOP853", rtol=1e-12, atol=1e-12,
                    events=hit)
    assert sol.t_events[0].size == 1, "the ODE did not reach the target in the window"
    return sol.t_events[0][0]


def ode_temperature(sp, q_w, t0_k, t_s):
    k, cap, ts4 = sp.conductance_w_k4, sp.heat_capacity_j_k, sp.sink_temperature_k ** 4
    sol = solve_ivp(lambda t, y: [(q_w - k * (y[0] ** 4 - ts4)) / cap], (0.0, t_s), [t0_k],
                    method="DOP853", rtol=1e-12, atol=1e-12)
    return sol.y[0, -1]


# ---- Stefan-Boltzmann against CONTEXT.md --------------------------------------------------
@pytest.mark.parametrize("temperature_k, w_m2", [(293.15, 754.0), (325.0, 1140.0),
                                                 (350.0, 1530.0)])
def test_two_sided_radiator_emission_matches_context(temperature_k, w_m2):
    sp = spec(radiator_area_m2=1.0, sink_temperature_k=0.0, max_temperature_k=400.0)
    assert sp.net_radiated_w(temperature_k) == pytest.approx(w_m2, rel=0.01)
    # by hand: 2 faces * 0.9 * sigma * T^4
    assert sp.net_radiated_w(temperature_k) == pytest.approx(2 * 0.9 * SIGMA * temperature_k ** 4,
                                                             rel=1e-14)
    one = spec(radiator_area_m2=1.0, sink_temperature_k=0.0, max_temperature_k=400.0,
               two_sided=False)
    assert one.net_radiated_w(temperature_k) == pytest.approx(w_m2 / 2, rel=0.01)


def test_starcloud_net_figure_is_a_185_k_sink():
    # CONTEXT.md: Starcloud quotes 633 W/m^2 net at 20 C (754 emitted): absorbed 121 W/m^2,
    # i.e. a sink with 1.8 sigma Ts^4 = 121 -> Ts = 185.5 K.
    sp = spec(radiator_area_m2=1.0, sink_temperature_k=185.47)
    assert sp.net_radiated_w(293.15) == pytest.approx(633.0, rel=0.01)


def test_absorbed_heat_helper_and_penumbra():
    assert absorbed_solar_heat_w(0.2, 0.1) == pytest.approx(0.2 * 1361 * 0.1, rel=1e-15)
    sp = spec(absorbed_sun_w=300.0, absorbed_shadow_w=100.0)
    assert sp.absorbed_w(0.0) == 100.0 and sp.absorbed_w(1.0) == 300.0
    assert sp.absorbed_w(0.25) == pytest.approx(150.0, rel=1e-15)


# ---- equilibrium and throttled heat -------------------------------------------------------
def test_equilibrium_temperature_by_hand():
    # 1 m^2 two-sided, emissivity 0.9, sink 0: 753.78 W balances at exactly 293.15 K.
    sp = spec(radiator_area_m2=1.0, sink_temperature_k=0.0)
    q = 2 * 0.9 * SIGMA * 293.15 ** 4
    assert sp.equilibrium_temperature_k(q) == pytest.approx(293.15, rel=1e-14)
    node = ThermalNode(sp, temperature_k=250.0, dissipation_w=q, illumination_fraction=0.0)
    node.advance(1e7)  # ~100 thermal time constants (C / (4 k u^3) ~ 1.8e4 s)
    assert node.temperature_k == pytest.approx(293.15, rel=1e-12)
    # with a sink: u^4 = Q / k + Ts^4
    sp2 = spec(radiator_area_m2=1.0, sink_temperature_k=185.47)
    u = (q / (1.8 * SIGMA) + 185.47 ** 4) ** 0.25
    assert sp2.equilibrium_temperature_k(q) == pytest.approx(u, rel=1e-14)
    assert sp2.net_radiated_w(u) == pytest.approx(q, rel=1e-12)


def test_throttling_holds_temperature_at_max():
    # 2 m^2 two-sided (3.6 m^2 radiating), sink 3 K... allowed heat at 330 K by hand:
    sp = spec(sink_temperature_k=3.0, absorbed_sun_w=200.0, absorbed_shadow_w=50.0)
    allowed = 0.9 * SIGMA * 4.0 * (330.0 ** 4 - 3.0 ** 4)  # 2423.5 W
    node = ThermalNode(sp, temperature_k=290.0, illumination_fraction=1.0, dissipation_w=4000.0)
    assert node.allowed_heat_w() == pytest.approx(allowed, rel=1e-14)
    assert node.allowed_dissipation_w() == pytest.approx(allowed - 200.0, rel=1e-14)
    t_hit = node.next_threshold_s()
    assert 0.0 < t_hit < math.inf
    assert t_hit == pytest.approx(ode_time_to(sp, 4200.0, 290.0, 330.0, 1e5), rel=1e-6)
    node.advance(t_hit)
    assert node.temperature_k == pytest.approx(330.0, abs=1e-9)
    assert node.limit_binding and node.next_threshold_s() == node.t_s
    node.set_dissipation(t_hit, node.allowed_dissipation_w())  # throttle
    assert not node.limit_binding and node.next_threshold_s() == math.inf
    node.advance(t_hit + 86400.0)
    assert node.temperature_k == pytest.approx(330.0, abs=1e-9)
    # eclipse: absorbed heat drops by 150 W, so the GPUs may use 150 W more
    node.set_illumination(t_hit + 86400.0, 0.0)
    assert node.allowed_dissipation_w() == pytest.approx(allowed - 50.0, rel=1e-14)
    assert node.next_threshold_s() == math.inf  # it cools under the throttled load


def test_no_threshold_when_input_within_limit():
    sp = spec(sink_temperature_k=3.0)
    node = ThermalNode(sp, temperature_k=300.0, dissipation_w=0.5 * sp.allowed_heat_w)
    assert node.next_threshold_s() == math.inf
    assert node.time_to_reach_s(400.0) == math.inf  # above the equilibrium: never
    # cooling towards the equilibrium reaches any temperature in between
    u = node.equilibrium_temperature_k
    assert node.time_to_reach_s(0.5 * (300.0 + u)) < math.inf


# ---- closed form against numerical integration --------------------------------------------
CASES = [
    # (sink K, heat in W, T0 K, target K): heating, cooling, far cooling to deep space
    (3.0, 3000.0, 250.0, 310.0),
    (185.47, 1500.0, 340.0, 310.0),   # u = 303.9 K
    (2.72548, 0.0, 320.0, 150.0),
    (2.72548, 0.0, 320.0, 8.0),     # crosses the near/far split at 4 u
    (0.0, 0.0, 300.0, 100.0),       # u = 0: pure T^-3 law
    (3.0, 2000.0, 0.0, 100.0),      # heating from 0 K
    (3.0, 2423.0, 329.0, 329.9),    # close to equilibrium (u ~ 330 K)
]


@pytest.mark.parametrize("sink_k, q_w, t0_k, target_k", CASES)
def test_closed_form_time_matches_ode(sink_k, q_w, t0_k, target_k):
    sp = spec(sink_temperature_k=sink_k, max_temperature_k=400.0)
    node = ThermalNode(sp, temperature_k=t0_k, illumination_fraction=0.0, dissipation_w=q_w)
    t_closed = node.time_to_reach_s(target_k)
    assert 0 < t_closed < math.inf
    t_ode = ode_time_to(sp, q_w, t0_k, target_k, 10 * t_closed)
    assert t_closed == pytest.approx(t_ode, rel=1e-6)
    # and the inversion: T at that time is the target
    assert node.temperature_at_k(t_closed) == pytest.approx(target_k, rel=1e-10)


@pytest.mark.parametrize("sink_k, q_w, t0_k, target_k", CASES)
def test_temperature_at_times_matches_ode(sink_k, q_w, t0_k, target_k):
    sp = spec(sink_temperature_k=sink_k, max_temperature_k=400.0)
    node = ThermalNode(sp, temperature_k=t0_k, illumination_fraction=0.0, dissipation_w=q_w)
    for t in (10.0, 1000.0, 3e4, 3e5):
        assert node.temperature_at_k(t) == pytest.approx(ode_temperature(sp, q_w, t0_k, t),
                                                         rel=1e-6)


def test_pure_cooling_law_by_hand():
    # No input, sink 0 K: C dT/dt = -k T^4  ->  T(t) = (T0^-3 + 3 k t / C)^(-1/3).
    sp = spec(sink_temperature_k=0.0)
    beta = 0.9 * SIGMA * 4.0 / 200e3
    node = ThermalNode(sp, temperature_k=300.0, illumination_fraction=0.0)
    node.advance(5400.0)
    assert node.temperature_k == pytest.approx((300.0 ** -3 + 3 * beta * 5400.0) ** (-1 / 3),
                                               rel=1e-14)
    # a 2.7 K sink changes that by ~(2.7/T)^4 relative: invisible at 1e-7
    cmb = ThermalNode(spec(), temperature_k=300.0, illumination_fraction=0.0)
    cmb.advance(5400.0)
    assert cmb.temperature_k == pytest.approx(node.temperature_k, rel=1e-7)


def test_radiated_heat_matches_quadrature():
    # radiated_j is derived from the closed form (Q dt - C dT); integrate k (T^4 - Ts^4)
    # along the numerical solution instead.
    sp = spec(sink_temperature_k=185.47, absorbed_sun_w=400.0)
    node = ThermalNode(sp, temperature_k=260.0, illumination_fraction=1.0, dissipation_w=1500.0)
    node.advance(7200.0)
    k, ts4 = sp.conductance_w_k4, 185.47 ** 4
    sol = solve_ivp(lambda t, y: [(1900.0 - k * (y[0] ** 4 - ts4)) / sp.heat_capacity_j_k,
                                  k * (y[0] ** 4 - ts4)],
                    (0.0, 7200.0), [260.0, 0.0], method="DOP853", rtol=1e-12, atol=1e-9)
    assert node.radiated_j == pytest.approx(sol.y[1, -1], rel=1e-8)
    assert node.heat_in_j == pytest.approx(1900.0 * 7200.0, rel=1e-15)


def test_bad_specs_and_times():
    with pytest.raises(SubsystemError, match="max_temperature_k"):
        spec(sink_temperature_k=300.0, max_temperature_k=250.0)
    with pytest.raises(SubsystemError, match="emissivity"):
        spec(emissivity=0.0)
    with pytest.raises(SubsystemError, match="radiator_area_m2: .* underflows"):
        spec(radiator_area_m2=1e-320)   # > 0, but its conductance is 0.0
    node = ThermalNode(spec(), temperature_k=300.0, t_s=100.0)
    with pytest.raises(SubsystemError, match="backwards"):
        node.advance(50.0)
    with pytest.raises(SubsystemError, match="illumination_fraction"):
        node.set_illumination(200.0, 2.0)
    assert node.t_s == 100.0  # a rejected change does not advance the node


# ---- property-based -----------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(t0=st.floats(1.0, 500.0), u=st.floats(0.0, 500.0), dt=st.floats(0.0, 1e6),
       log_beta=st.floats(-14.0, -9.0))
def test_inversion_roundtrip_and_bounds(t0, u, dt, log_beta):
    beta = 10.0 ** log_beta
    t = temperature_after_k(t0, dt, u, beta)
    assert min(t0, u) - 1e-9 <= t <= max(t0, u) + 1e-9  # never overshoots the equilibrium
    if t in (t0, u):
        return
    back = time_between_k(t0, t, u, beta)
    # T -> t is well conditioned everywhere; t -> T only away from both ends (dt/dT blows up
    # near u, and a change of T of 1e-12 relative carries only ~4 digits of dt)
    assert temperature_after_k(t0, back, u, beta) == pytest.approx(t, rel=1e-12)
    if abs(t - u) > 1e-6 * u and abs(t - t0) > 1e-6 * t0:
        assert back == pytest.approx(dt, rel=1e-7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(1.0, 4000.0), st.floats(0.0, 1.0), st.floats(0.0, 5000.0)),
                min_size=1, max_size=20))
def test_intermediate_advances_change_nothing(seq):
    # Exact integration: stopping at extra instants (as the engine does for other satellites'
    # events) gives the same temperature as one jump.
    sp = spec(sink_temperature_k=3.0, absorbed_sun_w=300.0, absorbed_shadow_w=60.0)
    a = ThermalNode(sp, temperature_k=280.0)
    b = ThermalNode(sp, temperature_k=280.0)
    t = 0.0
    for dt, f, p in seq:
        for frac in (0.3, 0.5, 0.9):
            b.advance(t + frac * dt)
        t += dt
        a.set_inputs(t, illumination_fraction=f, dissipation_w=p)
        b.set_inputs(t, illumination_fraction=f, dissipation_w=p)
        assert a.temperature_k == pytest.approx(b.temperature_k, rel=1e-10)
    cap = sp.heat_capacity_j_k
    assert a.radiated_j == pytest.approx(a.heat_in_j - cap * (a.temperature_k - 280.0),
                                         rel=1e-9, abs=1e-6 * cap)
    assert np.isfinite(a.temperature_k)


def _node_state(n):
    return (n.t_s, n.temperature_k, n.illumination_fraction, n.dissipation_w, n.heat_in_w,
            n.equilibrium_temperature_k, n.heat_in_j, n.radiated_j, n.next_threshold_s(),
            n.allowed_dissipation_w())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 4000.0), st.one_of(st.none(), st.floats(0.0, 1.0)),
                          st.floats(0.0, 5000.0)), min_size=1, max_size=20), st.booleans())
def test_engine_path_equals_set_inputs(seq, numpy_clock):
    # ThermalNode._update (Satellite.apply's per-event call) checks less but must leave exactly
    # the same state as set_inputs, also when the engine's clock is a numpy float64.
    sp = spec(sink_temperature_k=3.0, absorbed_sun_w=300.0, absorbed_shadow_w=60.0)
    a = ThermalNode(sp, temperature_k=280.0)
    b = ThermalNode(sp, temperature_k=280.0)
    t = 0.0
    for dt, f, p in seq:
        t += dt
        a.set_inputs(t, illumination_fraction=f, dissipation_w=p)
        b._update(np.float64(t) if numpy_clock else t, f, p)
        assert _node_state(a) == _node_state(b)
        assert type(b.t_s) is float


def test_engine_path_rejects_what_set_inputs_rejects():
    for args, match in (((50.0, 0.5, 1.0), "backwards"), ((math.inf, 0.5, 1.0), "finite"),
                        ((200.0, 2.0, 1.0), "illumination_fraction"),
                        ((200.0, math.nan, 1.0), "illumination_fraction"),
                        ((200.0, 0.5, -1.0), "dissipation_w"),
                        ((200.0, 0.5, math.nan), "dissipation_w")):
        node = ThermalNode(spec(), temperature_k=300.0, t_s=100.0)
        with pytest.raises(SubsystemError, match=match):
            node._update(*args)
        assert node.t_s == 100.0 and node.dissipation_w == 0.0
    node = ThermalNode(spec(), temperature_k=300.0, t_s=100.0)
    node._update(200, 1, 10)  # not floats: through set_inputs, which takes them
    assert node.t_s == 200.0 and node.dissipation_w == 10.0
