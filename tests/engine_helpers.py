"""Helpers for engine tests: hand-made geometry, and the invariants every run must satisfy."""
import math

import numpy as np
import pandas as pd
import pytest

from orbsched.engine.core import Engine, World
from orbsched.geometry.illumination import Intervals
from orbsched.scenario.schema import scenario_from_dict
from orbsched.workload.jobs import TrainingJob, Workload

ALLOWED_STATUS = {"completed", "failed", "queued", "running", "migrating"}


def intervals(rows):
    """Intervals from (sat, start_s, end_s) rows."""
    if not rows:
        return Intervals.empty()
    a = np.array(rows, float)
    n = len(a)
    return Intervals(a[:, 0].astype(np.int64), a[:, 1], a[:, 2], np.zeros(n, bool),
                     np.zeros(n, bool))


def scenario(n_sats=1, duration_h=2.0, **sections):
    data = {"name": "hand", "start_utc": "2024-06-21T00:00:00Z", "duration_h": duration_h,
            "constellations": [{"type": "walker", "name": "w", "planes": 1,
                                "sats_per_plane": n_sats, "altitude_km": 550,
                                "inclination_deg": 53}],
            "network": {"topology": "none"}, "faults": {"enabled": False}}
    data.update(sections)
    return scenario_from_dict(data)


def job(job_id=0, *, arrival_s=0.0, gpus=4, work_gpu_h=100.0, checkpoint_gb=0.0,
        interval_s=math.inf, checkpoint_s=0.0, restore_s=0.0, protection="none", **extra):
    return TrainingJob(job_id=job_id, name=f"j{job_id}", arrival_s=arrival_s, gpus=gpus,
                       work_gpu_h=work_gpu_h, checkpoint_gb=checkpoint_gb,
                       checkpoint_interval_s=interval_s, checkpoint_s=checkpoint_s,
                       restore_s=restore_s, protection=protection, **extra)


def make_engine(sc, policy, *, eclipse=(), umbra=None, jobs=(), isl=None, ground=None,
                n_sats=None, seed=0, saa=None, rates=None, ephemeris=None):
    """An engine on hand-made eclipse intervals ((sat, start, end) rows; umbra defaults to
    the same intervals, i.e. no penumbra)."""
    n = n_sats or sc.constellations[0].sats_per_plane
    ecl = intervals(list(eclipse))
    umb = ecl if umbra is None else intervals(list(umbra))
    wl = Workload.from_jobs(jobs) if jobs else Workload.empty()
    isl_df = None
    if isl is not None:
        cols = ["sat_a", "sat_b", "start_s", "end_s", "range_km", "rate_gbps"]
        isl_df = pd.DataFrame(isl, columns=cols[:len(isl[0])])
    g_df = None
    if ground is not None:
        g_df = pd.DataFrame(ground, columns=["station", "sat", "start_s", "end_s", "range_km"])
    rate_df = None
    if rates is not None:     # (t_s, sat_a, sat_b, rate_gbps, range_km) rows
        rate_df = pd.DataFrame(rates, columns=["t_s", "sat_a", "sat_b", "rate_gbps", "range_km"])
    world = World([f"s{i}" for i in range(n)], ecl, umb, isl_windows=isl_df,
                  ground_windows=g_df, isl_rate_changes=rate_df, saa=saa, ephemeris=ephemeris)
    return Engine(sc, world, wl, policy,
                  rngs={"inference": np.random.default_rng(seed),
                        "faults": np.random.default_rng(seed + 1000)})


def check_invariants(engine):
    """Energy ledgers balance on every satellite, every job is in an allowed state (failed
    ones with a reason), GPU accounting matches the jobs, and no job is on two satellites."""
    fl = engine.fleet
    for i in range(engine.n_sats):
        led = fl.ledger(i)
        res = led.residuals_wh()
        scale = max(led.scale_wh(), 1e-9)
        for name, r in res.items():
            assert abs(r) <= 1e-9 * scale, (i, name, r, scale)
    seen = {}
    for j in engine.jobs.values():
        assert j.status != "pending", j        # the table holds arrived jobs only
        assert j.spec.arrival_s <= engine.duration_s, j
        assert j.status in ALLOWED_STATUS, j
        if j.status == "failed":
            assert j.reason, j
        if j.status == "completed":
            assert j.run.saved_gpu_h == j.spec.work_gpu_h
    for i in range(engine.n_sats):
        held = 0
        for jid, j in engine.on_host[i].items():
            held += j.hold_slots[i]
            seen.setdefault(jid, []).append(i)
        assert held + fl.replica[i] == fl.held[i], (i, held, fl.replica[i], fl.held[i])
        assert 0 <= fl.drawing[i] <= fl.held[i] <= fl.gpus[i]
    for jid, sats in seen.items():
        j = engine.jobs[jid]
        assert sorted(sats) == sorted(j.holds), (jid, sats, j.holds)
        if j.gs.group is not None:
            # a group holds its members (and, while reshaping, the new ones it reserved)
            assert set(j.gs.group.sats) <= set(sats), (jid, sats, j.gs.group.sats)
            assert j.status in ("running", "migrating"), j
            continue
        # a migrating job holds its source (while checkpointing) and its reserved destination
        assert len(sats) == 1 or (j.status == "migrating" and len(sats) == 2), (jid, sats)
    frame = engine.rec.jobs_frame()
    assert frame["job_id"].is_unique
    assert set(frame["status"]) <= ALLOWED_STATUS
    if len(frame):
        # every bit of progress ever made is either kept or counted lost
        made = frame["produced_gpu_h"].to_numpy()
        kept_lost = (frame["work_done_gpu_h"] + frame["work_lost_gpu_h"]).to_numpy()
        assert np.allclose(made, kept_lost, rtol=1e-9, atol=1e-9), \
            frame.loc[~np.isclose(made, kept_lost), ["job_id", "status", "produced_gpu_h",
                                                      "work_done_gpu_h", "work_lost_gpu_h"]]
    if engine.inference is None:
        # GPU time held, summed job by job, equals the recorder's satellite-by-satellite total
        held_jobs = frame["held_gpu_h"].sum() if len(frame) else 0.0
        held_sats = (engine.rec.totals["busy_gpu_s"].sum()
                     + sum(g.busy_gpu_s for g in engine.grounds)) / 3600.0
        assert held_jobs == pytest.approx(held_sats, rel=1e-9, abs=1e-9)
        from orbsched.results.folder import gpu_hours
        g = gpu_hours(engine, frame)
        assert g["overhead"] >= -1e-6 * max(1.0, g["held"]), g
        assert g["capacity"] == pytest.approx(g["idle"] + g["held"], abs=3e-6)  # 6 places
