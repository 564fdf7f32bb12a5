"""Inference: M/M/c on one satellite against Erlang C, request paths, replica moves."""
import math

import numpy as np
import pytest
from engine_helpers import check_invariants, make_engine, scenario

from orbsched.engine.inference import erlang_c, mmc_mean_wait_s
from orbsched.policies import MoveReplica, Policy, ReplicaStrategy
from orbsched.scenario.constants import SPEED_OF_LIGHT_KM_S


def test_erlang_c_closed_form():
    # textbook values: c = 2, a = 1 Erlang -> C = 1/3; c = 1 -> C = rho (M/M/1)
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0, rel=1e-12)
    assert erlang_c(1, 0.7) == pytest.approx(0.7, rel=1e-12)
    assert mmc_mean_wait_s(0.7, 1.0, 1) == pytest.approx(0.7 / 0.3, rel=1e-12)   # rho/(mu-lam)


class _OnZero(ReplicaStrategy):
    def place(self, service, count, gpus, view):
        return [0] * count


class _AllOnZero(Policy):
    name = "all-on-zero"

    def __init__(self):
        super().__init__()
        self.replicas = _OnZero()


def _mmc(seed, lam, mu, c, span_s):
    inf = {"services": [{"name": "svc", "replicas": c, "service_time_s": 1.0 / mu,
                         "latency_objective_s": 10.0, "rate_per_s": lam, "regions": 1,
                         "diurnal_amplitude": 0.0}]}
    sc = scenario(1, span_s / 3600.0, hardware={"thermal": None, "gpus": c},
                  ground_stations=[{"name": "Tokyo", "lat_deg": 35.68, "lon_deg": 139.69}],
                  inference=inf)
    eng = make_engine(sc, _AllOnZero(), ground=[(0, 0, 0.0, span_s, 600.0)], seed=seed)
    eng.run()
    check_invariants(eng)
    return eng


def test_mmc_on_one_satellite_matches_erlang_c_within_3_percent():
    # Ciw-style: seeded replications, warm-up cut, compare the mean wait with the closed form.
    # M/M/2 at rho = 0.5: 20 replications x 25,000 s (~500,000 requests, ~10 s)
    lam, mu, c, span, warm = 1.0, 1.0, 2, 25000.0, 500.0
    theory = mmc_mean_wait_s(lam, mu, c)          # C(2, 1) / (2 - 1) = 1/3 s
    means = []
    for seed in range(20):
        df = _mmc(seed, lam, mu, c, span).inference.requests_frame()
        served = df[(df["status"] == "served") & (df["t_s"] > warm)]
        means.append(served["wait_s"].mean())
    est = float(np.mean(means))
    half_width = 2.093 * np.std(means, ddof=1) / math.sqrt(len(means))   # t(0.975, 19)
    assert abs(est - theory) / theory < 0.03, (est, theory, half_width)
    assert half_width / theory < 0.03   # the 95 % interval is tighter than the tolerance


def test_request_latency_is_propagation_plus_wait_plus_service():
    eng = _mmc(1, 0.5, 2.0, 2, 600.0)
    df = eng.inference.requests_frame()
    served = df[df["status"] == "served"]
    assert len(served) > 100
    # Tokyo's own station: no fibre; 600 km up and back at c
    assert np.allclose(served["propagation_s"], 2 * 600.0 / SPEED_OF_LIGHT_KM_S, rtol=1e-12)
    assert np.allclose(served["latency_s"],
                       served["propagation_s"] + served["wait_s"] + served["service_s"])
    s = eng.inference.summary()["svc"]
    assert s["requests"] == len(df) and s["regions"]["Tokyo"]["requests"] == len(df)
    assert 0.9 < s["attainment"] <= 1.0


def test_no_coverage_when_the_station_sees_nothing():
    inf = {"services": [{"name": "svc", "replicas": 1, "service_time_s": 0.1,
                         "latency_objective_s": 1.0, "rate_per_s": 1.0, "regions": 1,
                         "diurnal_amplitude": 0.0}]}
    sc = scenario(1, 0.5, hardware={"thermal": None},
                  ground_stations=[{"name": "Tokyo", "lat_deg": 35.68, "lon_deg": 139.69}],
                  inference=inf)
    eng = make_engine(sc, _AllOnZero(), ground=[(0, 0, 0.0, 900.0, 600.0)])
    eng.run()
    df = eng.inference.requests_frame()
    late = df[df["t_s"] > 900.0]
    assert len(late) and (late["status"] == "no_coverage").all()
    # the ground link needs its 10 s acquisition first
    assert (df[df["t_s"] < 10.0]["status"] == "no_coverage").all()
    assert (df[(df["t_s"] > 10.0) & (df["t_s"] < 890.0)]["status"] == "served").all()


class _MoveAt(Policy):
    name = "move-at"

    def __init__(self):
        super().__init__()
        self.replicas = _OnZero()

    def on_shadow(self, sats, view):
        if 0 in sats:
            return [MoveReplica("svc", 0, 1)]
        return None


def test_replica_moves_over_the_link_and_requests_follow():
    inf = {"services": [{"name": "svc", "replicas": 1, "service_time_s": 0.05,
                         "replica_gb": 100.0, "latency_objective_s": 1.0, "rate_per_s": 2.0,
                         "regions": 1, "diurnal_amplitude": 0.0}]}
    sc = scenario(2, 0.5, hardware={"thermal": None},
                  ground_stations=[{"name": "Tokyo", "lat_deg": 35.68, "lon_deg": 139.69}],
                  network={"topology": "none", "bandwidth_gbps": 100, "acquisition_s": 0},
                  inference=inf)
    eng = make_engine(sc, _MoveAt(), eclipse=[(0, 600.0, 1500.0)],
                      isl=[(0, 1, 0.0, 1800.0, 1000.0)],
                      ground=[(0, 0, 0.0, 1800.0, 600.0)])
    eng.run()
    check_invariants(eng)
    ev = eng.rec.events_frame()
    end = ev[ev["kind"] == "replica_move_end"]
    arrive = 600.0 + 100 * 8 / 100 + 1000.0 / SPEED_OF_LIGHT_KM_S
    assert end["t_s"].tolist() == pytest.approx([arrive], abs=1e-6)
    assert eng.inference.replicas[0] == {1: 1}
    df = eng.inference.requests_frame()
    served = df[df["status"] == "served"]
    assert set(served[served["t_s"] < 600.0]["sat"]) == {0}
    assert set(served[served["t_s"] > arrive + 1.0]["sat"]) == {1}
    # after the move, the path is uplink to 0 then one ISL hop to 1, both ways
    later = served[served["t_s"] > arrive + 1.0]
    assert np.allclose(later["propagation_s"], 2 * 1600.0 / SPEED_OF_LIGHT_KM_S, rtol=1e-9)
