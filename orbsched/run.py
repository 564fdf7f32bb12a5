"""One run end to end: geometry -> contact plan -> workload -> engine -> results.

``simulate(scenario)`` returns a :class:`RunResult`; ``result.write(out_dir)`` writes the
results folder (:mod:`orbsched.results`).  Randomness: one :class:`numpy.random.SeedSequence`
from ``scenario.seed``, split into independent streams for the workload and the policy (and,
later, faults), so changing the policy does not change the jobs.

Links' lengths follow the orbits: the grid ephemeris (:mod:`orbsched.ephemeris`) goes to the
engine's network (:mod:`orbsched.linkranges`).

Cache: the shadow intervals, the contact plan, the grid ephemeris and the SAA intervals go
through the on-disk
cache (``cache_dir``, ``$ORBSCHED_CACHE`` or ``~/.cache/orbsched``; :mod:`orbsched.cache`,
each keyed by a SHA-256 of what determines it) when ``network.cache`` is true: a repeated
run, or every run of a sweep after the first, loads them, with bit-identical results.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .ephemeris import compute_ephemeris
from .errors import ScenarioError

__all__ = ["RunResult", "build_workload", "simulate", "STREAMS"]

#: Names of the random streams split from the scenario seed, in spawn order.
STREAMS = ("workload", "policy", "faults", "inference")


def rng_streams(seed: int) -> dict:
    children = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, children)}


def build_workload(scenario, rng):
    """The scenario's jobs as a :class:`orbsched.workload.Workload`."""
    from . import traces
    from .workload import Workload, synthetic_training

    w = scenario.workload
    if w.type == "none":
        return Workload.empty()
    if w.type == "preset":
        from .presets import preset_job
        return Workload.from_jobs(
            preset_job(w.name, job_id=k, arrival_s=k * w.interval_h * 3600.0,
                       work_scale=w.work_scale, gpus=w.gpus,
                       min_gpus_fraction=w.min_gpus_fraction,
                       checkpoint_interval_s=w.checkpoint_interval_s)
            for k in range(w.count))
    if w.type == "synthetic":
        if w.n_jobs is not None:
            return synthetic_training(w.n_jobs, rate_per_h=w.rate_per_h, rng=rng,
                                      params=w.params)
        return synthetic_training(rate_per_h=w.rate_per_h, duration_h=scenario.duration_h,
                                  rng=rng, params=w.params)
    readers = {"philly-csv": traces.read_philly_csv, "philly-json": traces.read_philly_json,
               "alibaba-openb": traces.read_alibaba_openb, "helios": traces.read_helios}
    if not Path(w.path).is_file():
        raise ScenarioError(f"workload.path: trace file not found: {w.path}")
    if w.format in readers:
        return readers[w.format](w.path, w.options, rng=rng)
    if w.format == "alibaba-pai":
        return traces.read_alibaba_pai(w.path, w.task_path, w.options, rng=rng)
    return traces.read_csv_mapped(w.path, w.columns, w.options, rng=rng)


@dataclass
class RunResult:
    scenario: object
    engine: object
    geometry: object
    plan: object
    workload: object
    timings_s: dict = field(default_factory=dict)
    snapshot: dict = field(default_factory=dict)
    _summary: dict = field(default=None, repr=False)

    def write(self, out_dir):
        from .results import write_results
        return write_results(self, out_dir)

    def summary(self):
        """The run's fleet metrics (computed once)."""
        if self._summary is None:
            from .results import summarize
            self._summary = summarize(self)
        return self._summary


def _snapshot(result_geo, engine):
    """World-map snapshot: sub-satellite points, subsolar point, states and links."""
    from .astro import sun_positions_km
    from .visibility import EarthRotation

    snap = engine.rec.snapshot
    if snap is None:
        return {}
    fleet = result_geo.constellation
    t = snap["t_s"]
    r, _ = fleet.propagate(np.array([t]), result_geo.scenario.geometry.frame_node_s)
    rot = EarthRotation(fleet.timebase, [t])._matrices([t])[..., 0]     # GCRS -> ITRS
    x = r[:, 0, :] @ rot.T
    sun = np.asarray(sun_positions_km(fleet.timebase, np.array([t]))).reshape(-1, 3)[0] @ rot.T
    lat = np.degrees(np.arctan2(x[:, 2], np.hypot(x[:, 0], x[:, 1])))
    lon = np.degrees(np.arctan2(x[:, 1], x[:, 0]))
    out = dict(snap)
    out.update(utc=fleet.timebase.iso_utc(np.array([t]))[0],
               subsolar_lat_deg=float(np.degrees(np.arctan2(sun[2], np.hypot(sun[0], sun[1])))),
               subsolar_lon_deg=float(np.degrees(np.arctan2(sun[1], sun[0]))))
    out["sats"] = {"lat_deg": np.round(lat, 4).tolist(), "lon_deg": np.round(lon, 4).tolist(),
                   "state": snap["state"], "busy_gpus": snap["busy_gpus"]}
    del out["state"], out["busy_gpus"]
    return out


def simulate(scenario, *, seed=None, policy=None, cache_dir=None, progress=False,
             base_dir=None) -> RunResult:
    """Run a validated scenario.  ``seed`` overrides ``scenario.seed``; ``policy`` (an
    instance) overrides ``scenario.policy``; ``base_dir`` resolves ``file.py:Class`` policies
    (default: the current folder); ``cache_dir`` holds the geometry cache (see the module
    docstring; ``network.cache: false`` bypasses it)."""
    from .contacts import compute_contact_plan
    from .engine import Engine
    from .geometry import compute_geometry
    from .policies import load_policy
    from .regions import cached_region_intervals, saa_region

    if seed is not None:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    timings = {}
    t0 = time.perf_counter()
    geo = compute_geometry(scenario, cache=True, cache_dir=cache_dir)
    scenario = geo.scenario                       # 'epoch' start resolved
    t1 = time.perf_counter()
    plan = compute_contact_plan(geo.constellation, scenario, cache_dir=cache_dir)
    eph = compute_ephemeris(geo.constellation, scenario, cache_dir=cache_dir)
    t2 = time.perf_counter()
    rngs = rng_streams(scenario.seed)
    workload = build_workload(scenario, rngs["workload"])
    pol = policy if policy is not None else load_policy(scenario.policy, base_dir)
    t3 = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(scenario.duration_h, 3), unit="h", desc="simulating",
                   leave=False, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} sim-h "
                                           "[{elapsed}<{remaining}]")

        def tick(t_s):
            bar.n = round(t_s / 3600.0, 3)
            bar.refresh()
    else:
        tick = None
    saa = None
    region = saa_region(scenario)
    if region is not None:
        saa, _ = cached_region_intervals(geo.constellation, scenario, region, cache_dir)
    engine = Engine(scenario, geo.constellation.names, geo.eclipse, geo.umbra, plan.isl_windows,
                    plan.ground_windows, workload, pol, policy_rng=rngs["policy"],
                    isl_rate_changes=getattr(plan, "isl_rate_changes", None),
                    progress=tick, inference_rng=rngs["inference"], saa=saa,
                    fault_rng=rngs["faults"], ephemeris=eph)
    try:
        engine.run()
    finally:
        if bar is not None:
            bar.close()
    t4 = time.perf_counter()
    timings.update(geometry=t1 - t0, contact_plan=t2 - t1, workload=t3 - t2, engine=t4 - t3)
    res = RunResult(scenario, engine, geo, plan, workload, timings)
    res.snapshot = _snapshot(geo, engine)
    return res
