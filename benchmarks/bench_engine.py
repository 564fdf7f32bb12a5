"""Engine benchmark: events per second against a bare SimPy loop, and a Starlink-scale day.

Run:  python benchmarks/bench_engine.py [--hours H] [--policy NAME] [--repeat N] [--scale]

1. ``configs/starlink-shell1.yaml`` (72 x 22 at 550 km, 4 GPUs per satellite, 10,000 training
   jobs over 24 h), each stage timed in this process: geometry (shadow intervals), contact
   plan, grid ephemeris and SAA intervals (each computed into a fresh cache folder, then
   loaded from it, as a repeated run or every run of a sweep after the first does),
   workload, engine.  The engine's SimPy events are counted exactly (the environment's
   event ids).  The engine runs twice in the same process: links' lengths frozen at each
   window's opening (the engine before issue 15, no ephemeris) and following the orbits (the
   engine as ``simulate`` runs it); the ratio of their times is the cost of moving ranges.
2. A bare SimPy loop processing the same number of timeout events (one process yielding
   ``env.timeout(1)``, best of three), measured in the same run: the ratio engine time /
   bare-loop time is the engine's cost per event relative to SimPy's own.  For scale, the
   same timeouts each followed by one pure-Python power-bus update (the least physics an
   event can do).
3. With ``--scale``: a 100 x 100 (10,000-satellite) Walker shell for a few hours with the same
   per-satellite workload, in a fresh process, for peak memory; extrapolated to 7 days.
Ratios, not absolute times, are the point: the machine may be shared.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import simpy

REPO = Path(__file__).resolve().parents[1]


def bare_simpy(n_events):
    env = simpy.Environment()

    def proc(env):
        for _ in range(n_events):
            yield env.timeout(1.0)

    env.process(proc(env))
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def simpy_with_one_bus_update(n_events):
    """The same timeouts, each with one callback that integrates one pure-Python power bus
    (``PowerBus.set_powers``, alternating sun and shadow): the smallest piece of physics an
    engine event can do, for scale against the target."""
    from orbsched.models.power import BatterySpec, PowerBus

    env = simpy.Environment()
    bus = PowerBus(BatterySpec(capacity_wh=1e9), array_w=500.0, load_w=400.0)
    left = [n_events]

    def step(_ev):
        bus.set_powers(env.now, array_w=500.0 if left[0] % 2 else 0.0, load_w=400.0)
        left[0] -= 1
        if left[0] > 0:
            env.timeout(1.0).callbacks.append(step)

    env.timeout(1.0).callbacks.append(step)
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _how(from_cache):
    return "from the cache" if from_cache else "computed"


def _stages(overrides, cache_dir, policy, repeat=1):
    from orbsched.engine.core import Engine, World
    from orbsched.geometry.contacts import compute_contact_plan
    from orbsched.geometry.ephemeris import compute_ephemeris
    from orbsched.geometry.regions import cached_region_intervals
    from orbsched.geometry.stage import compute_geometry
    from orbsched.policies import load_policy
    from orbsched.run import build_workload, rng_streams
    from orbsched.scenario.schema import load_scenario

    sc = load_scenario(REPO / "configs" / "starlink-shell1.yaml",
                       overrides + ([f"policy={policy}"] if policy else []))
    out = {}
    t = time.perf_counter()
    geo = compute_geometry(sc, cache=True, cache_dir=cache_dir)
    out["geometry_s"] = time.perf_counter() - t
    out["geometry_hit"] = geo.from_cache
    t = time.perf_counter()
    geo = compute_geometry(sc, cache=True, cache_dir=cache_dir)
    out["geometry_cached_s"] = time.perf_counter() - t
    out["geometry_hit_2"] = geo.from_cache
    sc = geo.scenario
    t = time.perf_counter()
    plan = compute_contact_plan(geo.constellation, sc, cache_dir=cache_dir)
    out["contact_plan_s"] = time.perf_counter() - t
    out["contact_plan_hit"] = plan.from_cache
    t = time.perf_counter()
    plan = compute_contact_plan(geo.constellation, sc, cache_dir=cache_dir)
    out["contact_plan_cached_s"] = time.perf_counter() - t
    out["contact_plan_hit_2"] = plan.from_cache
    t = time.perf_counter()
    eph = compute_ephemeris(geo.constellation, sc, cache_dir)
    out["ephemeris_s"] = time.perf_counter() - t
    out["ephemeris_hit"] = eph.from_cache
    t = time.perf_counter()
    eph = compute_ephemeris(geo.constellation, sc, cache_dir)
    out["ephemeris_cached_s"] = time.perf_counter() - t
    out["ephemeris_hit_2"] = eph.from_cache
    out["ephemeris_mb"] = eph.nbytes / 1e6
    rngs = rng_streams(sc.seed)
    t = time.perf_counter()
    wl = build_workload(sc, rngs["workload"])
    out["workload_s"] = time.perf_counter() - t
    t = time.perf_counter()
    saa, out["saa_hit"] = cached_region_intervals(geo.constellation, sc,
                                                  sc.faults.radiation.saa, cache_dir)
    out["saa_s"] = time.perf_counter() - t
    t = time.perf_counter()
    saa, out["saa_hit_2"] = cached_region_intervals(geo.constellation, sc,
                                                    sc.faults.radiation.saa, cache_dir)
    out["saa_cached_s"] = time.perf_counter() - t

    def engine(ephemeris):
        r = rng_streams(sc.seed)
        world = World(geo.constellation.names, geo.eclipse, geo.umbra,
                      isl_windows=plan.isl_windows, ground_windows=plan.ground_windows,
                      isl_rate_changes=plan.isl_rate_changes, saa=saa, ephemeris=ephemeris)
        return Engine(sc, world, wl, load_policy(sc.policy), rngs=r)

    frozen_s, moving_s, frozen_cpu, moving_cpu = [], [], [], []
    for _ in range(repeat):                    # alternated, best of each: a shared machine
        frozen = engine(None)                  # lengths frozen at each window's opening
        t, c = time.perf_counter(), time.process_time()
        frozen.run()
        frozen_s.append(time.perf_counter() - t)
        frozen_cpu.append(time.process_time() - c)
        del frozen
        eng = engine(eph)                      # lengths that follow the orbits
        eid0 = next(eng.env._eid)
        t, c = time.perf_counter(), time.process_time()
        eng.run()
        moving_s.append(time.perf_counter() - t)
        moving_cpu.append(time.process_time() - c)
    out["engine_frozen_s"], out["engine_s"] = min(frozen_s), min(moving_s)
    out["engine_frozen_all_s"], out["engine_all_s"] = frozen_s, moving_s
    out["engine_frozen_cpu_s"], out["engine_cpu_s"] = min(frozen_cpu), min(moving_cpu)
    out["range_updates"] = eng.net.stats["range_updates"]
    out["simpy_events"] = next(eng.env._eid) - eid0 - 1
    out["engine_events"] = eng.stats["events"]
    out["sats"] = eng.n_sats
    out["jobs"] = len(wl)
    from orbsched.results.folder import summarize
    from orbsched.run import RunResult
    t = time.perf_counter()
    s = summarize(RunResult(sc, eng, geo, plan, wl))
    out["summary_s"] = time.perf_counter() - t
    out["utilisation"] = s["utilisation"]
    out["completed_gpu_h_per_day"] = s["completed_gpu_h_per_day"]
    out["migrations"] = s["migrations"]["started"]
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _child(q, overrides, cache_dir, policy, repeat):
    q.put(_stages(overrides, cache_dir, policy, repeat))


def in_fresh_process(overrides, cache_dir, policy=None, repeat=1):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, overrides, cache_dir, policy, repeat))
    p.start()
    out = q.get()
    p.join()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--policy", default=None, help="default: the config's (greedy-sunlit)")
    ap.add_argument("--scale", action="store_true", help="also the 10,000-satellite run")
    ap.add_argument("--repeat", type=int, default=1, help="engine runs of each kind "
                    "(frozen and moving lengths, alternated; the best of each is kept)")
    args = ap.parse_args(argv)
    cache = tempfile.mkdtemp(prefix="orbsched-bench-cache-")
    try:
        _report(args, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _report(args, cache):
    over = [f"duration_h={args.hours:g}"]
    print(f"orbsched engine benchmark: starlink-shell1, {args.hours:g} h, "
          f"policy {args.policy or 'greedy-sunlit'}  (python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores)")
    r = in_fresh_process(over, cache, args.policy, args.repeat)
    bare = min(bare_simpy(r["simpy_events"]) for _ in range(3))
    one_bus = simpy_with_one_bus_update(r["simpy_events"])
    total_uncached = (r["geometry_s"] + r["contact_plan_s"] + r["ephemeris_s"] + r["workload_s"]
                      + r["saa_s"] + r["engine_s"])
    total_cached = (r["geometry_cached_s"] + r["contact_plan_cached_s"]
                    + r["ephemeris_cached_s"] + r["workload_s"] + r["saa_cached_s"]
                    + r["engine_s"])
    print(f"  fleet            {r['sats']} satellites x 4 GPUs, {r['jobs']} jobs, "
          f"utilisation {r['utilisation']:.3f}, {r['migrations']} migrations")
    for label, k in (("geometry", "geometry"), ("contact plan", "contact_plan"),
                     ("grid ephemeris", "ephemeris"), ("SAA intervals", "saa")):
        # each computed, then loaded
        print(f"  {label:<16} {r[k + '_s']:7.2f} s {_how(r[k + '_hit'])}, "
              f"{r[k + '_cached_s']:.2f} s {_how(r[k + '_hit_2'])}")
    print(f"  ephemeris table  {r['ephemeris_mb']:.1f} MB (float32 positions and velocities)")
    print(f"  workload         {r['workload_s']:7.2f} s")
    print(f"  frozen lengths   {r['engine_frozen_s']:7.2f} s: the engine with each link's length "
          f"frozen at its window's opening (before issue 15), same run")
    print(f"  moving lengths   {r['engine_s']:7.2f} s: {r['engine_s'] / r['engine_frozen_s']:.3f}x "
          f"the frozen engine (target <= 1.2x), {r['range_updates']:,} weight refreshes; "
          f"CPU time {r['engine_cpu_s']:.2f} s vs {r['engine_frozen_cpu_s']:.2f} s: "
          f"{r['engine_cpu_s'] / r['engine_frozen_cpu_s']:.3f}x")
    if args.repeat > 1:
        print("  all runs         frozen " + ", ".join(f"{x:.2f}" for x in r["engine_frozen_all_s"])
              + " s; moving " + ", ".join(f"{x:.2f}" for x in r["engine_all_s"]) + " s")
    print(f"  engine           {r['engine_s']:7.2f} s, {r['simpy_events']:,} SimPy events "
          f"({r['engine_events']:,} engine events), "
          f"{r['simpy_events'] / r['engine_s']:,.0f} events/s")
    print(f"  bare SimPy loop  {bare:7.3f} s for the same {r['simpy_events']:,} timeouts, "
          f"{r['simpy_events'] / bare:,.0f} events/s")
    print(f"  ratio            engine / bare SimPy = {r['engine_s'] / bare:.1f}x (target <= 5x)")
    print(f"  for scale        the same timeouts with one pure-Python PowerBus update each: "
          f"{one_bus / bare:.1f}x bare")
    print(f"  wall time        {total_uncached:.1f} s with the geometry, contact plan and SAA "
          f"intervals computed, {total_cached:.1f} s with them cached (target < 60 s); summary "
          f"{r['summary_s']:.2f} s; peak RSS {r['peak_rss_mb']:.0f} MB")
    if args.scale:
        runs = {}
        for hours in (2.0, 6.0):
            rate = 433.0 * 10000 / 1584          # the same offered load per GPU
            over10 = [f"duration_h={hours:g}", "constellations[0].planes=100",
                      "constellations[0].sats_per_plane=100", "constellations[0].phasing=1",
                      f"workload.rate_per_h={rate:.1f}", f"workload.n_jobs={int(rate * hours)}"]
            s = runs[hours] = in_fresh_process(over10, cache)
            print(f"  10,000 sats {hours:g} h geometry {s['geometry_s']:.1f} s, contact plan "
                  f"{s['contact_plan_s']:.1f} s, engine {s['engine_s']:.1f} s "
                  f"({s['simpy_events']:,} events), peak RSS {s['peak_rss_mb']:.0f} MB")
        slope = (runs[6.0]["peak_rss_mb"] - runs[2.0]["peak_rss_mb"]) / 4.0   # MB per hour
        base = runs[2.0]["peak_rss_mb"] - 2.0 * slope
        week = base + slope * 168.0
        print(f"  memory           {slope:.0f} MB per simulated hour at 10,000 satellites "
              f"(+{base:.0f} MB fixed): 7 days ~ {week / 1024:.1f} GB (budget 8 GB); engine "
              f"time for 7 days ~ {runs[6.0]['engine_s'] * 28:.0f} s")

if __name__ == "__main__":
    main()
