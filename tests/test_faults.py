"""Faults: SAA intervals, radiation upsets with protection modes, scripted failures, and a
property-based check that the invariants hold under random faults."""
import math

import numpy as np
import pytest
from engine_helpers import check_invariants, job, make_engine, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.regions import inside_region, region_intervals, subsatellite_latlon
from orbsched.models.faults import YEAR_S
from orbsched.policies import EnergyAware, FifoGround, GreedySunlit, Lookahead, RandomPolicy, Stay
from orbsched.scenario.schema import load_scenario

NEVER = 1e12    # rad per event: that kind never happens


def test_saa_intervals_match_fine_sampling(repo):
    sc = load_scenario(repo / "configs" / "demo.yaml", ["duration_h=3"])
    fleet, sc = build_constellation(sc)
    saa = sc.faults.radiation.saa
    iv = region_intervals(fleet, sc, saa)
    t = np.arange(0.0, sc.duration_s, 0.5)
    lat, lon = subsatellite_latlon(fleet, t)
    ins = inside_region(lat, lon, saa)
    # time inside agrees with a 0.5 s sampling to within 0.5 % of the span, fleet-wide
    frac_fine = ins.mean()
    frac_iv = iv.duration_s.sum() / (len(fleet) * sc.duration_s)
    assert abs(frac_iv - frac_fine) < 0.005
    # every edge found lies within 3 s of an edge of the fine track (chord + geocentric lat)
    worst = 0.0
    for s in range(0, len(fleet), 7):
        fine = t[1:][np.diff(ins[s].astype(int)) != 0]
        mine = np.concatenate([iv.start_s[(iv.sat == s) & ~iv.start_clipped],
                               iv.end_s[(iv.sat == s) & ~iv.end_clipped]])
        for e in mine:
            worst = max(worst, np.min(np.abs(fine - e)))
    assert worst < 3.0


def _rad(rad_per_sdc=NEVER, rad_per_hbm_ue=NEVER, rad_per_crash=NEVER,
         rad_per_host_reboot=NEVER):
    return {"enabled": True, "gpu_annual_failure_rate": 0.0,
            "radiation": {"dose_rad_per_year": 150.0, "rad_per_sdc": rad_per_sdc,
                          "rad_per_hbm_ue": rad_per_hbm_ue, "rad_per_crash": rad_per_crash,
                          "rad_per_host_reboot": rad_per_host_reboot, "saa": None}}


def _sdc_per_gpu_s(rad_per_sdc):
    return 150.0 / YEAR_S / rad_per_sdc


def _rounds(n_sats, jobs_per_round, rounds, protection, **kw):
    jobs = [job(i, gpus=1, work_gpu_h=1.0, protection=protection, **kw)
            for i in range(n_sats * jobs_per_round * rounds)]
    return jobs


def test_unprotected_jobs_carry_silent_corruptions_at_the_expected_rate():
    # 1-GPU jobs of exactly 1 h; an SDC per GPU every ~3 h: P(result corrupted) = 1 - e^-lam T
    rad_per_sdc = 0.048
    lam = _sdc_per_gpu_s(rad_per_sdc)
    p = 1.0 - math.exp(-lam * 3600.0)
    sc = scenario(10, 12.0, hardware={"thermal": None}, faults=_rad(rad_per_sdc))
    eng = make_engine(sc, Stay(), jobs=_rounds(10, 4, 10, "none"), seed=3)
    eng.run()
    check_invariants(eng)
    jobs = eng.rec.jobs_frame()
    done = jobs[jobs["status"] == "completed"]
    assert len(done) == 400
    n_bad = int(done["corrupted_result"].sum())
    sigma = math.sqrt(400 * p * (1 - p))
    assert abs(n_bad - 400 * p) < 3.5 * sigma, (n_bad, 400 * p, sigma)
    assert eng.faults.stats["sdc_silent"] >= n_bad


def test_tmr_masks_every_corruption():
    sc = scenario(10, 6.0, hardware={"thermal": None}, faults=_rad(0.048))
    eng = make_engine(sc, Stay(), jobs=_rounds(10, 1, 5, "tmr"), seed=3)
    eng.run()
    check_invariants(eng)
    jobs = eng.rec.jobs_frame()
    assert (jobs["slots"] == 3).all()
    assert jobs["corrupted_result"].sum() == 0
    assert jobs["corruptions_masked"].sum() == eng.faults.stats["sdc_masked"] > 10
    assert eng.faults.stats["sdc_silent"] == 0
    # two of every three GPU-hours of a TMR job are redundancy
    assert jobs["redundant_gpu_h"].sum() == pytest.approx(jobs["held_gpu_h"].sum() * 2 / 3)


def test_duplex_rolls_back_at_every_corruption():
    sc = scenario(10, 6.0, hardware={"thermal": None}, faults=_rad(0.048))
    eng = make_engine(sc, Stay(), jobs=_rounds(10, 2, 5, "duplex", interval_s=600.0,
                                              checkpoint_s=10.0, restore_s=5.0), seed=3)
    eng.run()
    check_invariants(eng)
    jobs = eng.rec.jobs_frame()
    ev = eng.rec.events_frame()
    rollbacks = ev[(ev["kind"] == "rollback") & (ev["detail"] == "sdc detected (duplex)")]
    assert len(rollbacks) == jobs["corruptions_detected"].sum() == \
        eng.faults.stats["sdc_detected"] > 10
    assert jobs["corrupted_result"].sum() == 0
    assert jobs["lost_radiation_gpu_h"].sum() > 0


def test_crashes_restart_from_the_last_checkpoint():
    sc = scenario(4, 6.0, hardware={"thermal": None}, faults=_rad(rad_per_crash=0.05))
    eng = make_engine(sc, Stay(), jobs=[job(i, gpus=4, work_gpu_h=40.0, interval_s=900.0,
                                            checkpoint_s=30.0, restore_s=20.0)
                                        for i in range(4)], seed=5)
    eng.run()
    check_invariants(eng)
    ev = eng.rec.events_frame()
    rb = ev[ev["kind"] == "rollback"]
    assert len(rb) == eng.faults.stats["crash"] - (ev["detail"] == "idle GPU").sum() > 0
    # each rollback lost at most one checkpoint interval of 4 GPUs' work
    assert (rb["value"] <= 4 * 900.0 / 3600.0 + 1e-9).all()


def test_host_reboot_stops_jobs_and_takes_the_gpus_down():
    faults = {"enabled": True, "gpu_annual_failure_rate": 0.0,
              "radiation": {"enabled": False, "host_reboot_s": 600.0},
              "script": [{"kind": "host_reboot", "sat": 0, "at_s": 1000.0}]}
    sc = scenario(1, 1.0, hardware={"thermal": None}, faults=faults)
    eng = make_engine(sc, Stay(), jobs=[job(0, work_gpu_h=100.0, interval_s=300.0)])
    eng.run()
    check_invariants(eng)
    ev = eng.rec.events_frame()
    starts = ev[ev["kind"] == "job_start"]["t_s"].tolist()
    assert starts == pytest.approx([0.0, 1600.0])     # back after the 600 s reboot
    j = eng.jobs[0]
    assert j.lost_by["radiation"] == pytest.approx(4 * 100.0 / 3600.0)   # 1,000 - 900 s


def test_satellite_failure_restarts_jobs_elsewhere_never_lost_or_twice():
    for remote, kept in ((False, 0.0), (True, 4 * 1800.0 / 3600.0)):
        faults = {"enabled": True, "gpu_annual_failure_rate": 0.0, "remote_checkpoints": remote,
                  "radiation": {"enabled": False},
                  "script": [{"kind": "satellite_fail", "sat": 0, "at_s": 2000.0}]}
        sc = scenario(2, 2.0, hardware={"thermal": None}, faults=faults)
        eng = make_engine(sc, Stay(), jobs=[job(0, work_gpu_h=100.0, interval_s=900.0)])
        eng.run()
        check_invariants(eng)
        j = eng.jobs[0]
        assert eng.fleet.failed[0] and j.sat == 1 and j.status == "running"
        ev = eng.rec.events_frame()
        assert ev[ev["kind"] == "job_start"]["sat"].tolist() == [0, 1]
        lost = 4 * 2000.0 / 3600.0 - kept
        assert j.lost_by["failure"] == pytest.approx(lost)
        assert j.run.progress_at(eng.duration_s) == pytest.approx(
            kept + 4 * (eng.duration_s - 2000.0) / 3600.0)


def test_gpu_failure_shrinks_the_satellite():
    faults = {"enabled": True, "gpu_annual_failure_rate": 0.0, "radiation": {"enabled": False},
              "script": [{"kind": "gpu_fail", "sat": 0, "at_s": 100.0}]}
    sc = scenario(2, 1.0, hardware={"thermal": None}, faults=faults)
    eng = make_engine(sc, Stay(), jobs=[job(0, work_gpu_h=100.0)])
    eng.run()
    check_invariants(eng)
    assert eng.fleet.gpus[0] == 3
    assert eng.jobs[0].sat == 1          # it needs 4 GPUs: it moved to satellite 1
    g = eng.rec.totals["capacity_gpu_s"]
    assert g == pytest.approx(8 * 3600.0 - 1 * (3600.0 - 100.0))


def test_scripted_link_down_and_up():
    faults = {"enabled": True, "gpu_annual_failure_rate": 0.0, "radiation": {"enabled": False},
              "script": [{"kind": "link_down", "a": 0, "b": 1, "at_s": 100.0,
                          "until_s": 200.0}]}
    sc = scenario(2, 0.2, hardware={"thermal": None}, faults=faults,
                  network={"topology": "none", "acquisition_s": 0})
    eng = make_engine(sc, Stay(), isl=[(0, 1, 0.0, 720.0, 1000.0)])
    seen = {}
    eng.env.process(_probe(eng, seen))
    eng.run()
    assert seen == {50.0: True, 150.0: False, 250.0: True}


def _probe(eng, seen):
    for t in (50.0, 150.0, 250.0):
        yield eng.env.timeout(t - eng.env.now)
        seen[t] = eng.net.is_usable(0, 1)


def test_script_naming_a_missing_satellite_is_an_error():
    from orbsched.scenario.errors import ScenarioError
    faults = {"script": [{"kind": "satellite_fail", "sat": 7, "at_s": 1.0}]}
    sc = scenario(2, 0.5, faults=faults)
    with pytest.raises(ScenarioError, match=r"faults.script\[0\].sat: no satellite 7"):
        make_engine(sc, Stay())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_sats=st.integers(1, 4), n_jobs=st.integers(0, 12), seed=st.integers(0, 10_000),
       policy=st.sampled_from([Stay, GreedySunlit, Lookahead, EnergyAware, FifoGround,
                               RandomPolicy]),
       protection=st.sampled_from(["none", "duplex", "tmr"]),
       script=st.lists(st.tuples(st.sampled_from(["satellite_fail", "gpu_fail", "host_reboot",
                                                  "link_down"]),
                                 st.floats(0.0, 7000.0), st.integers(0, 3), st.integers(0, 3)),
                       max_size=4),
       eclipse_start=st.floats(0.0, 5000.0), eclipse_len=st.floats(0.0, 3000.0),
       battery_wh=st.sampled_from([500.0, 4000.0]))
def test_invariants_hold_under_random_faults(n_sats, n_jobs, seed, policy, protection, script,
                                             eclipse_start, eclipse_len, battery_wh):
    rng = np.random.default_rng(seed)
    items = []
    for kind, at, a, b in script:
        a, b = a % n_sats, b % n_sats
        if kind == "link_down":
            if a == b:
                continue
            items.append({"kind": kind, "a": a, "b": b, "at_s": at, "until_s": at + 500.0})
        else:
            items.append({"kind": kind, "sat": a, "at_s": at})
    faults = {"enabled": True, "gpu_annual_failure_rate": 50.0, "script": items,
              "radiation": {"dose_rad_per_year": 150.0, "rad_per_sdc": 0.05,
                            "rad_per_crash": 0.5, "rad_per_host_reboot": 1.0,
                            "host_reboot_s": 300.0, "saa": None}}
    sc = scenario(n_sats, 2.0, hardware={"battery": {"capacity_wh": battery_wh},
                                         "payload_reserve_wh": battery_wh * 0.25 * 0.4},
                  faults=faults, network={"topology": "none", "acquisition_s": 5})
    links = [(a, b, 0.0, 7200.0, 1000.0) for a in range(n_sats) for b in range(a + 1, n_sats)]
    ecl = [(s, eclipse_start + 300 * s, eclipse_start + 300 * s + eclipse_len)
           for s in range(n_sats) if eclipse_len > 1.0]
    jobs = [job(i, arrival_s=float(rng.uniform(0, 5000)), gpus=int(rng.integers(1, 3)),
                work_gpu_h=float(rng.uniform(0.05, 3.0)), checkpoint_gb=float(rng.uniform(0, 50)),
                interval_s=float(rng.uniform(120, 1200)), checkpoint_s=float(rng.uniform(0, 30)),
                restore_s=float(rng.uniform(0, 30)),
                protection=protection)
            for i in range(n_jobs)]
    eng = make_engine(sc, policy(), eclipse=ecl, jobs=jobs, isl=links or None, seed=seed)
    eng.run()
    check_invariants(eng)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planes=st.integers(1, 3), per_plane=st.integers(2, 4), seed=st.integers(0, 1000),
       policy=st.sampled_from(["stay", "greedy-sunlit", "lookahead", "energy-aware",
                               "fifo-ground", "random"]),
       protection=st.sampled_from(["none", "duplex", "tmr"]),
       fail_at=st.lists(st.floats(0.0, 3600.0), max_size=2),
       topology=st.sampled_from(["nearest-k", "all-visible"]))
def test_invariants_hold_on_random_walker_shells(planes, per_plane, seed, policy,
                                                 protection, fail_at, topology):
    """The same invariants on real geometry: tiny Walker shells, propagated, with eclipses,
    contact plans, SAA crossings, random upsets at high rates and scripted failures."""
    from orbsched.run import simulate
    from orbsched.scenario.schema import scenario_from_dict

    n = planes * per_plane
    data = {
        "name": "prop", "start_utc": "2024-06-21T00:00:00Z", "duration_h": 1.5, "seed": seed,
        "constellations": [{"type": "walker", "name": "w", "planes": planes,
                            "sats_per_plane": per_plane, "phasing": 0, "altitude_km": 550,
                            "inclination_deg": 53}],
        "network": {"topology": topology, "max_range_km": 6000, "acquisition_s": 5},
        "ground_stations": [{"name": "Awarua", "lat_deg": -46.53, "lon_deg": 168.38}],
        "hardware": {"battery": {"capacity_wh": 2000.0}},
        "workload": {"type": "synthetic", "n_jobs": 3 * n, "rate_per_h": 6 * n,
                     "params": {"gpu_sizes": [1], "runtime_median_s": 1200,
                                "runtime_mean_s": 2400,
                                "job": {"protection": protection,
                                        "checkpoint_interval_s": 600}}},
        "policy": policy,
        "faults": {"gpu_annual_failure_rate": 20.0,
                   "radiation": {"rad_per_sdc": 0.05, "rad_per_crash": 0.5,
                                 "rad_per_host_reboot": 2.0, "host_reboot_s": 120.0},
                   "script": [{"kind": "satellite_fail", "sat": i % n, "at_s": t}
                              for i, t in enumerate(fail_at)]},
        "record": {"sample_s": 600},
    }
    res = simulate(scenario_from_dict(data))
    check_invariants(res.engine)
