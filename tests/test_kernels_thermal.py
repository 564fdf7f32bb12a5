"""The compiled thermal kernel against its pure-Python twin: exact agreement on every branch.

``orbsched/_kernels/thermal.pyx`` must return the very same doubles as
``orbsched._kernels.reference.time_between_k`` / ``temperature_after_k`` (compared with ``==``,
never a tolerance) and raise the same errors; these tests skip when the compiled kernels are not
built.  The physics of the two functions is tested in test_thermal.py (in both modes).
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbsched import _kernels
from orbsched._kernels import reference
from orbsched.models import thermal
from orbsched.models.thermal import ThermalNode, ThermalSpec
from orbsched.scenario.errors import SubsystemError

compiled = _kernels.compiled_kernels()
needs_compiled = pytest.mark.skipif(compiled is None, reason="compiled kernels not built")

X_FAR, X_PURE = reference._X_FAR, reference._X_PURE
EPS = np.finfo(float).eps


def _both(name, *args):
    """(compiled result, twin result) of kernel ``name``; an exception counts as its type and
    message."""
    out = []
    for fn in (compiled[name], getattr(reference, name)):
        try:
            out.append(fn(*args))
        except Exception as exc:  # noqa: BLE001 - compared between the two
            out.append((type(exc), str(exc)))
    return out


def assert_same(name, *args):
    got, want = _both(name, *args)
    assert type(got) is type(want), (name, args, got, want)
    assert got == want, (name, args, got, want)
    return want


# ---- fixed cases, one per branch ----------------------------------------------------------
BETA = 1e-11
BRANCH_CASES_TIME = {
    "equal temperatures": (300.0, 300.0, 250.0, BETA),
    "target beyond the equilibrium": (300.0, 200.0, 250.0, BETA),
    "target on the wrong side": (300.0, 320.0, 250.0, BETA),
    "target is the equilibrium": (300.0, 250.0, 250.0, BETA),
    "heating, near form": (200.0, 240.0, 250.0, BETA),
    "cooling, near form": (600.0, 300.0, 250.0, BETA),
    "cooling, far series": (5000.0, 1100.0, 250.0, BETA),
    "cooling, far to near split": (5000.0, 600.0, 250.0, BETA),
    "pure cooling law, u == 0": (300.0, 200.0, 0.0, BETA),
    "pure cooling law, T >= 1e4 u": (300.0, 200.0, 1e-3, BETA),
    "from a == 4 u (near form)": (1000.0, 600.0, 250.0, BETA),
    "to b == 4 u (far series)": (5000.0, 1000.0, 250.0, BETA),
}
BRANCH_CASES_TEMP = {
    "dt == 0": (300.0, 0.0, 250.0, BETA),
    "a == u": (250.0, 100.0, 250.0, BETA),
    "heating, Newton": (200.0, 3600.0, 250.0, BETA),
    "cooling, Newton": (600.0, 3600.0, 250.0, BETA),
    "cooling from far away": (5000.0, 60.0, 250.0, BETA),
    "pure cooling law, u == 0": (300.0, 3600.0, 0.0, BETA),
    "pure cooling law, T >= 1e4 u": (300.0, 3600.0, 1e-3, BETA),
    "equilibrium reached": (200.0, 1e9, 250.0, BETA),
    "within rounding of the equilibrium": (250.0 * (1 - EPS), 10.0, 250.0, BETA),
    "dt below one rounding step of T": (200.0, 1e-15, 250.0, BETA),
    "Newton does not settle: Brent": (0.18049155497138264, 1.4408037552275832,
                                      34.680342330951, 9.748701612514828e-12),
}


@needs_compiled
@pytest.mark.parametrize("case", sorted(BRANCH_CASES_TIME))
def test_time_between_each_branch(case):
    assert_same("time_between_k", *BRANCH_CASES_TIME[case])


@needs_compiled
@pytest.mark.parametrize("case", sorted(BRANCH_CASES_TEMP))
def test_temperature_after_each_branch(case):
    assert_same("temperature_after_k", *BRANCH_CASES_TEMP[case])


def test_branch_cases_take_their_branches():
    """The fixed cases above hit what their names say (checked on the twin)."""
    tb, ta = reference.time_between_k, reference.temperature_after_k
    assert tb(*BRANCH_CASES_TIME["equal temperatures"]) == 0.0
    for k in ("target beyond the equilibrium", "target on the wrong side",
              "target is the equilibrium"):
        assert tb(*BRANCH_CASES_TIME[k]) == math.inf
    assert ta(*BRANCH_CASES_TEMP["equilibrium reached"]) == 250.0
    assert ta(*BRANCH_CASES_TEMP["within rounding of the equilibrium"]) == 250.0
    assert ta(*BRANCH_CASES_TEMP["dt below one rounding step of T"]) == 200.0
    a, dt, u, beta = BRANCH_CASES_TEMP["Newton does not settle: Brent"]
    s = 1.0
    w_min = 4.0 * EPS * u
    z_hi = math.log(abs(u - a))
    m = max(u, a)
    z_lo = max(z_hi - dt * beta * (u + m) * (u * u + m * m), math.log(w_min))
    assert reference._newton_z(a, u, beta, dt, s, z_lo, z_hi) is None


# ---- errors and argument types ------------------------------------------------------------
@needs_compiled
@pytest.mark.parametrize("dt", [-1.0, -1e-300, math.inf, -math.inf, math.nan, np.float64(-2.0),
                                -3])
def test_bad_dt_raises_the_same_error(dt):
    got, want = _both("temperature_after_k", 300.0, dt, 250.0, BETA)
    assert want[0] is SubsystemError
    assert got == want


@needs_compiled
@pytest.mark.parametrize("args", [
    (300, 3600, 250, BETA),                         # ints, converted as float(x) does
    (300.0, 3600.0, 250.0, 1),
    (np.float64(300.0), 3600.0, 250.0, BETA),       # numpy scalars: the twin decides
    (300.0, 3600.0, 250.0, np.float64(BETA)),
    (300.0, np.float32(3600.0), 250.0, BETA),
    (True, 3600.0, 250.0, BETA),
    (300.0, 3600.0, 250.0, 10 ** 400),              # an int too large for a double
    (300.0, 3600.0, None, BETA),                    # TypeError in both
    (300.0, 3600.0, 250.0, 0.0),                    # beta 0: ZeroDivisionError in both
    (0.0, 3600.0, -1.0, BETA),                      # 0.0 ** -3: ZeroDivisionError in both
    (1e-200, 3600.0, 0.0, BETA),                    # overflow of ** in both
    (300.0, 3600.0, 250.0, -BETA),                  # negative beta: complex ** in the twin
    (300.0, 3600.0, math.nan, BETA),
    (math.inf, 3600.0, 250.0, BETA),
])
def test_unusual_arguments_agree(args):
    assert_same("temperature_after_k", *args)
    a, dt, u, beta = args
    assert_same("time_between_k", a, dt, u, beta)
    assert_same("time_between_k", a, 280, u, beta)


# ---- random inputs over every branch ------------------------------------------------------
def _random_time_cases(rng, n):
    """(a, b, u, beta) spread over all branches of time_between_k."""
    u = rng.choice([0.0, 1e-3, 1.0], size=n).astype(float)
    u = np.where(rng.random(n) < 0.8, 10 ** rng.uniform(0, 3, n), u)
    kind = rng.integers(0, 6, n)
    ra, rb = rng.uniform(size=n), rng.uniform(size=n)
    a = np.select([kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
                  [u * ra,                                     # heating
                   u * (1 + 3 * ra),                           # cooling, near
                   u * 10 ** rng.uniform(np.log10(X_FAR), 5, n),  # cooling from far
                   u * X_FAR,                                  # exactly at the split
                   np.abs(rng.normal(300, 200, n))],           # anything
                  u * (1 - 1e-15 * rng.integers(1, 100, n)))   # within a few ulps of u
    b = np.select([kind == 0, kind == 5],
                  [a + (u - a) * rb, a + (u - a) * rb],
                  u + (a - u) * rb)
    b = np.where(rng.random(n) < 0.05, a, b)                   # a == b
    b = np.where(rng.random(n) < 0.05, u * rng.uniform(0, 2, n), b)  # maybe unreachable
    b = np.where(rng.random(n) < 0.05, u * X_FAR, b)           # exactly at the split
    beta = 10 ** rng.uniform(-15, -7, n)
    return [tuple(float(x) for x in row) for row in zip(a, b, u, beta)]


@needs_compiled
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_time_between_random_cases(seed):
    for args in _random_time_cases(np.random.default_rng(seed), 20_000):
        assert_same("time_between_k", *args)


@needs_compiled
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_temperature_after_random_cases(seed):
    rng = np.random.default_rng(100 + seed)
    n = 20_000
    cases = _random_time_cases(rng, n)
    dt = 10 ** rng.uniform(-9, 9, n)
    dt[rng.random(n) < 0.03] = 0.0
    for (a, _, u, beta), d in zip(cases, dt):
        assert_same("temperature_after_k", a, float(d), u, beta)


@needs_compiled
def test_temperature_after_extreme_ratios_and_brent_fallback():
    # a far below or above u, long and short steps: Newton fails on ~2 % of these, and the
    # compiled kernel hands them to the twin's Brent fallback
    rng = np.random.default_rng(3)
    for _ in range(20_000):
        u = float(10 ** rng.uniform(-3, 4))
        a = float(u * 10 ** rng.uniform(-3, 3))
        beta = float(10 ** rng.uniform(-16, -6))
        dt = float(10 ** rng.uniform(-3, 9))
        assert_same("temperature_after_k", a, dt, u, beta)
        assert_same("time_between_k", a, float(u * 10 ** rng.uniform(-3, 3)), u, beta)


temps = st.floats(0.0, 2e4, allow_nan=False, allow_infinity=False)
betas = st.floats(1e-16, 1e-6)


@needs_compiled
@settings(max_examples=500, deadline=None)
@given(a=temps, b=temps, u=st.one_of(st.just(0.0), temps), beta=betas)
def test_time_between_hypothesis(a, b, u, beta):
    assert_same("time_between_k", a, b, u, beta)


@needs_compiled
@settings(max_examples=500, deadline=None)
@given(u=st.floats(1e-3, 1e3), ratio=st.floats(1e-3, 1e5), fb=st.floats(0.0, 1.0),
       beta=betas)
def test_time_between_hypothesis_relative(u, ratio, fb, beta):
    a = u * ratio
    assert_same("time_between_k", a, a + (u - a) * fb, u, beta)       # towards u
    assert_same("time_between_k", a, u * X_FAR, u, beta)               # to the split point
    assert_same("time_between_k", a, u * X_PURE * (1 + fb), u, beta)  # pure cooling law


@needs_compiled
@settings(max_examples=500, deadline=None)
@given(a=st.one_of(st.just(0.0), temps), dt=st.one_of(st.just(0.0), st.floats(0.0, 1e9)),
       u=st.one_of(st.just(0.0), temps), beta=betas)
def test_temperature_after_hypothesis(a, dt, u, beta):
    assert_same("temperature_after_k", a, dt, u, beta)


@needs_compiled
@settings(max_examples=500, deadline=None)
@given(u=st.floats(1e-3, 1e3), ratio=st.floats(1e-3, 1e5), log_dt=st.floats(-12.0, 9.0),
       beta=betas)
def test_temperature_after_hypothesis_relative(u, ratio, log_dt, beta):
    assert_same("temperature_after_k", u * ratio, 10.0 ** log_dt, u, beta)


# ---- real inputs: a node's trajectory with either kernel ----------------------------------
@needs_compiled
def test_node_trajectory_is_identical_with_either_kernel(monkeypatch):
    """A thermal node driven through illumination and load changes (eclipses, GPU jobs,
    throttling at the limit) ends in the same state bit for bit with either kernel."""
    sp = ThermalSpec(heat_capacity_j_k=150e3, radiator_area_m2=1.5, max_temperature_k=320.0,
                     sink_temperature_k=185.0, absorbed_sun_w=350.0, absorbed_shadow_w=60.0)
    rng = np.random.default_rng(11)
    steps = [(float(rng.uniform(0.1, 900.0)), float(rng.choice([0.0, 1.0, rng.uniform()])),
              float(rng.choice([300.0, 1500.0, 3000.0]))) for _ in range(400)]

    def run():
        node = ThermalNode(sp, temperature_k=290.0, illumination_fraction=1.0,
                           dissipation_w=300.0)
        t, log = 0.0, []
        for dt, f, p in steps:
            t += dt
            node._update(t, f, p)
            thr = node.next_threshold_s()
            if thr <= t + dt:          # reaches the limit before the next change: stop there
                node.advance(thr)
                t = node.t_s
            log.append((node.temperature_k, node.heat_in_j, node.radiated_j, thr,
                        node.time_to_reach_s(300.0), node.temperature_at_k(node.t_s + 60.0)))
        return log

    fast = run()
    monkeypatch.setattr(thermal, "temperature_after_k", reference.temperature_after_k)
    monkeypatch.setattr(thermal, "time_between_k", reference.time_between_k)
    assert run() == fast


def test_thermal_takes_the_selected_kernels():
    assert thermal.time_between_k is _kernels.time_between_k
    assert thermal.temperature_after_k is _kernels.temperature_after_k
    if _kernels.ACCELERATED:
        assert thermal.temperature_after_k is compiled["temperature_after_k"]
    else:
        assert thermal.temperature_after_k is reference.temperature_after_k
