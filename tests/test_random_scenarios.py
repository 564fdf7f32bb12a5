"""Random valid scenarios with random faults, through the whole run (issue 16): the scenario
validates, the run never raises, and the invariants hold (every satellite's energy ledger
balances, every job ends completed, failed with a reason, or still queued/running/migrating,
GPU time held by jobs equals the satellites' busy time, the summary's energy balance closes).

The examples are small (up to 12 satellites, up to 3 simulated hours); the geometry cache is
shared between examples, so the cost is mostly the engine.  ``slow`` runs many more."""
import math

import pytest
from engine_helpers import check_invariants
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from orbsched.policies import _REGISTRY, available
from orbsched.run import simulate
from orbsched.scenario.errors import ScenarioError
from orbsched.scenario.schema import scenario_from_dict

FAST = 20
SLOW = 300


@st.composite
def scenarios(draw):
    walker = draw(st.booleans())
    if walker:
        planes, per = draw(st.integers(1, 3)), draw(st.integers(1, 4))
        cons = {"type": "walker", "name": "w", "planes": planes, "sats_per_plane": per,
                "phasing": draw(st.integers(0, planes - 1)),
                "altitude_km": draw(st.sampled_from([400.0, 550.0, 630.0, 1200.0])),
                "inclination_deg": draw(st.sampled_from([0.0, 53.0, 97.6])),
                "raan_offset_deg": draw(st.sampled_from([0.0, 45.0]))}
        n = planes * per
    else:
        n = draw(st.integers(1, 4))
        cons = {"type": "sso", "name": "s", "altitude_km": 650.0,
                "ltan_h": draw(st.sampled_from([6.0, 10.5, 18.0])), "sats": n}
    topology = draw(st.sampled_from(["none", "nearest-k"] + (["+grid"] if walker else [])))
    stations = draw(st.lists(st.tuples(st.floats(-60, 60), st.floats(-180, 180)),
                             max_size=2))
    gpus = draw(st.integers(0, 8))
    active = draw(st.sampled_from([300.0, 700.0, 1000.0]))
    capacity = draw(st.sampled_from([500.0, 2000.0, 4000.0, 8000.0]))
    dod = draw(st.sampled_from([0.2, 0.25, 0.5]))
    hardware = {
        "gpus": gpus, "gpu_active_w": active, "gpu_idle_w": active * 0.1,
        "bus_w": draw(st.sampled_from([50.0, 300.0])),
        "solar": {"area_m2": draw(st.sampled_from([3.0, 8.0, 17.0, 30.0]))},
        "battery": {"capacity_wh": capacity, "max_depth_of_discharge": dod},
        "initial_soc": 1.0 - dod * draw(st.sampled_from([0.0, 0.5, 1.0])),
        "payload_reserve_wh": capacity * dod * draw(st.sampled_from([0.0, 0.3])),
    }
    if draw(st.booleans()):
        hardware["thermal"] = None
    duration_h = draw(st.sampled_from([0.5, 1.5, 3.0]))
    span = duration_h * 3600.0
    script = []
    for kind, at, a, b in draw(st.lists(st.tuples(
            st.sampled_from(["satellite_fail", "gpu_fail", "host_reboot", "link_down"]),
            st.floats(0.0, span), st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4)):
        if kind == "link_down":
            if a == b:
                continue
            script.append({"kind": kind, "a": a, "b": b, "at_s": at})
        else:
            script.append({"kind": kind, "sat": a, "at_s": at})
    faults = {"enabled": draw(st.booleans()) or bool(script),
              "radiation": {"dose_rad_per_year": draw(st.sampled_from([0.0, 150.0, 30000.0]))},
              "gpu_annual_failure_rate": draw(st.sampled_from([0.0, 0.091, 50.0])),
              "satellite_annual_failure_rate": draw(st.sampled_from([0.0, 20.0])),
              "terminal_annual_failure_rate": draw(st.sampled_from([0.0, 30.0])),
              "remote_checkpoints": draw(st.booleans()), "script": script}
    data = {
        "name": "random", "start_utc": "2024-03-20T00:00:00Z", "duration_h": duration_h,
        "step_s": draw(st.sampled_from([30.0, 60.0, 120.0])), "constellations": [cons],
        "network": {"topology": topology, "terminals": draw(st.integers(1, 4)),
                    "max_range_km": 6000.0},
        "ground_stations": [{"name": f"g{k}", "lat_deg": la, "lon_deg": lo}
                            for k, (la, lo) in enumerate(stations)],
        "seed": draw(st.integers(0, 2 ** 16)), "hardware": hardware,
        "workload": {"type": "synthetic", "n_jobs": draw(st.integers(0, 25)),
                     "rate_per_h": draw(st.sampled_from([5.0, 30.0, 200.0])),
                     "params": {"gpu_sizes": [1, 2, 4, 8, 16]}},
        # the shipped policies: a session may have registered others (the notebooks do), and
        # a user's policy may rightly be refused (notebook 03's places jobs out of reach)
        "policy": {"name": draw(st.sampled_from([n for n in available() if
                                                 _REGISTRY[n].__module__.startswith(
                                                     "orbsched.policies.")])),
                   "options": {"group_on_eclipse": draw(st.sampled_from(
                                   ["continue", "pause", "shrink", "replace"])),
                               "group_on_loss": draw(st.sampled_from(
                                   ["wait", "shrink", "replace"]))},
                   "tick_s": draw(st.sampled_from([None, 600.0]))},
        "engine": {"penumbra_steps": draw(st.integers(1, 4))},
        "faults": faults,
        "record": {"sample_s": draw(st.sampled_from([120.0, 600.0]))},
    }
    if stations and draw(st.booleans()):
        data["datacentres"] = [{"name": "dc", "station": "g0", "gpus": draw(st.integers(1, 16))}]
    return data


def _check(data, cache):
    try:
        sc = scenario_from_dict(data)
    except ScenarioError as exc:               # the generator aims at valid scenarios only
        assume(False)
        raise AssertionError(exc) from exc     # pragma: no cover
    res = simulate(sc, cache_dir=cache)        # must not raise
    check_invariants(res.engine)
    s = res.summary()
    e = s["energy_kwh"]
    scale = max(1.0, e["harvested"] or 0.0)
    assert abs(e["balance_residual"]) <= 1e-9 * scale, e
    j = s["jobs"]
    assert j["arrived"] == sum(j[k] for k in ("completed", "failed", "running", "queued",
                                              "migrating"))
    assert j["arrived"] + j["not_arrived"] == len(res.workload)
    assert j["arrived"] == len(res.engine.jobs)        # jobs are created as they arrive
    u = s["utilisation"]
    assert u is None or (0.0 <= u <= 1.0 + 1e-12)
    assert math.isfinite(s["gpu_hours"]["capacity"])


@settings(max_examples=FAST, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(data=scenarios())
def test_random_valid_scenarios_keep_the_invariants(data, tmp_path_factory):
    _check(data, tmp_path_factory.getbasetemp() / "random-cache")


@pytest.mark.slow
@settings(max_examples=SLOW, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(data=scenarios())
def test_many_random_valid_scenarios_keep_the_invariants(data, tmp_path_factory):
    _check(data, tmp_path_factory.getbasetemp() / "random-cache")
