"""Memory benchmark: peak RSS of a 10,000-satellite run per simulated hour, against 8 GB for 7 days.

Run:  python benchmarks/bench_memory.py [--hours 1 3] [--side 100] [--recorder-file FILE]
                                        [--week-setup] [--skip-week-write] [--trace N]

1. Runs.  A 100 x 100 Walker shell (``configs/starlink-shell1.yaml`` with 10,000 satellites, 4
   GPUs each, the same offered load per GPU as its 1,584-satellite day, as ``bench_engine.py
   --scale``; ``record.per_satellite: true``) for each of ``--hours``, in a fresh process:
   geometry and contact plan, engine, then the results folder written into a temporary folder
   (time series, jobs, events, summary) as ``orbsched run`` does.  ``ru_maxrss`` is read per
   phase, the kernel's peak being reset between phases (``/proc/self/clear_refs``):
   ``plan`` (geometry + contact plan: chunked, it levels off after a few hours), ``run`` (the
   engine: what a run keeps grows here) and ``write``.
2. The write of a 7-day results folder, synthetic (``--skip-week-write`` to skip it; ~1 min,
   ~1.5 GB of temporary disk): a fresh process fills a recorder with 7 days of samples of the
   fleet (random values) and as many events as the longest run's rate gives, spilling as a run
   does, then streams ``timeseries.parquet`` and builds and writes ``events.parquet``.
3. The 7-day estimate: the state at the end of the longest run, grown to 168 h at the rates
   measured between the shortest and the longest run (RSS at the end of each run: the jobs,
   eclipse tables and contact plan built before it and what it keeps; the time series only up
   to ``Recorder.spill_bytes``, the rest goes to disk), plus the write measured in 2, plus the
   job table (per job as measured); the geometry + plan phase's peak is compared on its own.
   ``--week-setup`` measures the state of a 168 h run at its first event instead (~5 min) and
   adds only the growth during the runs (conservative: that includes their small replay
   tables, which the setup already holds).  The default 1 and 3 h (~2 min) are quick but in
   the warm-up (jobs still filling the fleet): ``--hours 3 12`` (~10 min) gives the steady
   growth (measured: 4.3 GB for 7 days from 1 and 3 h, 6.3 GB from 3 and 12 h).

``--recorder-file FILE`` also measures another ``orbsched/recorder.py`` (e.g. the one before the
columnar storage: ``git show 3183d52:orbsched/recorder.py > /tmp/rec_old.py``), extrapolated
linearly from its peaks as before.  ``--trace N`` (slow) prints the N files holding the most
Python allocations (tracemalloc) at the end of the engine run.  Absolute figures depend on the
machine and the builds of Python, numpy and pyarrow; the growth per hour is the point.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_MB = 8 * 1024
WEEK_H = 168.0
MB = 2.0**20


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def _reset_peak():
    """Reset the kernel's peak RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _use_recorder(path):
    """Load ``path`` as orbsched.engine.recorder (before the engine imports it), adding the two
    methods the current results writer calls, done the old way, if the file lacks them."""
    spec = importlib.util.spec_from_file_location("orbsched.engine.recorder", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["orbsched.engine.recorder"] = mod
    spec.loader.exec_module(mod)
    rec = mod.Recorder
    if not hasattr(rec, "fleet_frame"):
        def fleet_frame(self):
            ts = self.timeseries_frame()
            return ts[ts["sat"] == -1]
        rec.fleet_frame = fleet_frame
    if not hasattr(rec, "write_timeseries"):
        def write_timeseries(self, path):
            self.timeseries_frame().to_parquet(path, index=False)
            return path
        rec.write_timeseries = write_timeseries


def _series_bytes(rec):
    """(bytes of time series held in memory, bytes recorded in all) by a recorder."""
    if hasattr(rec, "_blocks"):
        held = sum(b.nbytes for b in rec._blocks) + 14 * 8 * len(rec._fleet)
        block = 8 * 10 * rec.n if rec.per_satellite else 0       # bytes per sample block
        return held, held + rec._n_spilled * block
    held = sum(a.nbytes for col in rec._cols.values() for a in col)      # the old recorder
    return held, held


def run_child(hours, side, recorder_file, trace, setup_only=False):
    if recorder_file:
        _use_recorder(recorder_file)
    from orbsched.engine.core import Engine, World
    from orbsched.geometry.contacts import compute_contact_plan
    from orbsched.geometry.regions import region_intervals
    from orbsched.geometry.stage import compute_geometry
    from orbsched.policies import load_policy
    from orbsched.results.folder import write_results
    from orbsched.run import RunResult, build_workload, rng_streams
    from orbsched.scenario.schema import load_scenario

    n = side * side
    rate = 433.0 * n / 1584          # starlink-shell1's offered load per GPU (bench_engine.py)
    over = [f"duration_h={hours:g}", f"constellations[0].planes={side}",
            f"constellations[0].sats_per_plane={side}", "constellations[0].phasing=1",
            f"workload.rate_per_h={rate:.1f}", f"workload.n_jobs={int(rate * hours)}",
            "record.per_satellite=true"]
    out = {"hours": hours, "sats": n}
    phases = _reset_peak()
    t0 = time.perf_counter()
    sc = load_scenario(REPO / "configs" / "starlink-shell1.yaml", over)
    geo = compute_geometry(sc)
    sc = geo.scenario
    with tempfile.TemporaryDirectory(prefix="orbsched-bench-cache-") as cache:
        plan = compute_contact_plan(geo.constellation, sc, cache_dir=cache)   # computed
    rngs = rng_streams(sc.seed)
    wl = build_workload(sc, rngs["workload"])
    saa = region_intervals(geo.constellation, sc, sc.faults.radiation.saa)
    world = World(geo.constellation.names, geo.eclipse, geo.umbra,
                  isl_windows=plan.isl_windows, ground_windows=plan.ground_windows, saa=saa)
    eng = Engine(sc, world, wl, load_policy(sc.policy), rngs=rngs)
    out["plan_s"] = time.perf_counter() - t0
    out["plan_peak_mb"] = _peak_mb()
    out["before_run_mb"] = _rss_mb()
    if setup_only:       # and what the network's replay builds for the whole run at its start
        eng.env.process(eng.net.replay(*eng._windows))
        eng.env.run(until=1e-6)
        out["replay_started_mb"] = _rss_mb()
        out["setup_peak_mb"] = _peak_mb()
        out["il_rows"] = len(eng.timeline.t)
        out["jobs"] = len(eng.jobs)
        print(json.dumps(out))
        return
    if phases:
        _reset_peak()
    if trace:
        import tracemalloc
        tracemalloc.start()
    t0 = time.perf_counter()
    eng.run()
    out["run_s"] = time.perf_counter() - t0
    out["run_peak_mb"] = _peak_mb()
    out["after_run_mb"] = _rss_mb()
    out["engine_events"] = eng.stats["events"]
    out["jobs"] = len(eng.jobs)
    out["net_log"] = len(eng.net.log)
    rec = eng.rec
    out["sample_s"] = rec.sample_s
    out["recorded_events"] = len(rec._ev_t) if hasattr(rec, "_ev_t") else len(rec.events)
    held, recorded = _series_bytes(rec)
    out["series_held_mb"], out["series_mb"] = held / MB, recorded / MB
    if trace:
        snap = tracemalloc.take_snapshot()
        tracemalloc.stop()
        stats = snap.statistics("filename")
        out["trace"] = [(str(s.traceback[0].filename).replace(str(REPO) + "/", ""),
                         s.size / MB, s.count) for s in stats[:trace]]
        out["trace_total_mb"] = sum(s.size for s in stats) / MB
        del snap, stats
    if phases:
        _reset_peak()
    t0 = time.perf_counter()
    res = RunResult(sc, eng, geo, plan, wl, timings_s={})
    with tempfile.TemporaryDirectory(prefix="orbsched-bench-mem-") as d:
        write_results(res, d)
        out["timeseries_file_mb"] = os.path.getsize(Path(d) / "timeseries.parquet") / MB
    out["write_s"] = time.perf_counter() - t0
    out["write_peak_mb"] = _peak_mb()
    out["event_rows"] = len(rec.events_frame())
    out["jobs_frame_mb"] = rec.jobs_frame().memory_usage(deep=True).sum() / MB
    out["phases"] = phases
    out["peak_mb"] = max(out["plan_peak_mb"], out["run_peak_mb"], out["write_peak_mb"])
    print(json.dumps(out))


def week_write_child(side, sample_s, recorded, other):
    """Fill a recorder with 7 days of samples of ``side``**2 satellites and ``recorded`` +
    ``other`` events, then write the time series and the events as the results folder does."""
    import types

    import numpy as np

    from orbsched.engine.recorder import SAMPLE_COLUMNS, Recorder

    n = side * side
    rng = np.random.default_rng(0)
    il_t = np.sort(rng.random(other) * WEEK_H * 3600.0)
    eng = types.SimpleNamespace(
        n_sats=n, saa=None, net=types.SimpleNamespace(log=[]),
        scenario=types.SimpleNamespace(record=types.SimpleNamespace(
            sample_s=sample_s, per_satellite=True, snapshot_s=None)),
        il_t=il_t, il_kind=rng.choice(np.array([0, 2, 3, 4], np.int8), other),
        il_sat=rng.integers(0, n, other).astype(np.int32), il_soc=rng.random(other),
        _il_k=other)
    rec = Recorder(eng)
    start = _rss_mb()
    t0 = time.perf_counter()
    n_samples = int(WEEK_H * 3600.0 / sample_s)
    for _k in range(n_samples):                     # what Recorder.sample stores
        rec._fleet.append(tuple(float(x) for x in rng.random(len(SAMPLE_COLUMNS))))
        block = rng.random((10, n))
        block[:4] = np.round(block[:4] * 4) / 4      # GPU fractions, as a run has them
        rec._blocks.append(block)
        if len(rec._blocks) * block.nbytes > rec.spill_bytes:
            rec._spill()
    kinds = ("job_arrival", "job_start", "migration_start", "migration_end", "job_end",
             "battery_full", "sdc")
    ev_t = np.sort(rng.random(recorded) * WEEK_H * 3600.0).tolist()
    ev_sat = rng.integers(0, n, recorded).tolist()
    for i in range(recorded):
        k = kinds[i % 7]
        rec.event(ev_t[i], k, sat=ev_sat[i], job=i, detail="completed" if k == "job_end" else "")
    del ev_t, ev_sat
    rec.totals = {"done": True}                      # a finished run: frames are cached
    out = {"samples": n_samples, "rows": n_samples * (n + 1), "fill_s": time.perf_counter() - t0,
           "state_mb": _rss_mb() - start, "series_held_mb": _series_bytes(rec)[0] / MB}
    base = _rss_mb()
    _reset_peak()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orbsched-bench-mem-") as d:
        rec.write_timeseries(Path(d) / "timeseries.parquet")
        out["timeseries_file_mb"] = os.path.getsize(Path(d) / "timeseries.parquet") / MB
        out["timeseries_s"] = time.perf_counter() - t0
        out["timeseries_peak_mb"] = _peak_mb() - base
        base2 = _rss_mb()
        _reset_peak()
        t0 = time.perf_counter()
        ev = rec.events_frame()
        ev.to_parquet(Path(d) / "events.parquet", index=False)
        out["events_s"] = time.perf_counter() - t0
        out["event_rows"] = len(ev)
        out["events_peak_mb"] = _peak_mb() - base2
        out["events_kept_mb"] = _rss_mb() - base2
    out["write_over_state_mb"] = max(out["timeseries_peak_mb"], base2 - base
                                     + out["events_peak_mb"])
    print(json.dumps(out))


def _child(args_list):
    done = subprocess.run([sys.executable, __file__] + args_list, capture_output=True,
                          text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"child {args_list} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_runs(label, runs):
    for r in runs:
        kept = r["after_run_mb"] - r["before_run_mb"]
        print(f"  {label} {r['hours']:g} h: peak RSS {r['peak_mb']:.0f} MB (plan "
              f"{r['plan_peak_mb']:.0f}, run {r['run_peak_mb']:.0f}, write "
              f"{r['write_peak_mb']:.0f}); the run kept {kept:.0f} MB "
              f"({r['before_run_mb']:.0f} -> {r['after_run_mb']:.0f}), time series "
              f"{r['series_mb']:.0f} MB ({r['series_held_mb']:.0f} in memory); "
              f"{r['engine_events']:,} engine events, {r['event_rows']:,} event rows "
              f"({r['recorded_events']:,} recorded), {r['jobs']:,} jobs, {r['net_log']:,} "
              f"network log rows; engine {r['run_s']:.0f} s, write {r['write_s']:.1f} s")
        for name, mb, count in r.get("trace", []):
            print(f"      {mb:8.1f} MB {count:>10,} blocks  {name}")
        if "trace_total_mb" in r:
            print(f"      {r['trace_total_mb']:8.1f} MB Python allocations alive after the run")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, nargs="+", default=[1.0, 3.0],
                    help="simulated hours, one fresh process each (default 1 3)")
    ap.add_argument("--side", type=int, default=100, help="planes = satellites per plane")
    ap.add_argument("--recorder-file", default=None,
                    help="also measure with this recorder.py (e.g. the one before the change)")
    ap.add_argument("--skip-week-write", action="store_true",
                    help="no synthetic 7-day write (then no 7-day estimate for the current "
                         "recorder)")
    ap.add_argument("--week-setup", action="store_true",
                    help="also build a 168 h run up to its first event (geometry, contact plan, "
                         "jobs, engine, the network's replay tables: ~5 min) and base the 7-day "
                         "estimate on that state instead of on the runs' growth before them")
    ap.add_argument("--trace", type=int, default=0, metavar="N",
                    help="tracemalloc: the N files holding most after the run (slow)")
    ap.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--week-child", nargs=3, type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        return run_child(args.child, args.side, args.recorder_file, args.trace,
                         args.setup_only)
    if args.week_child is not None:
        s, rec, other = args.week_child
        return week_write_child(args.side, s, int(rec), int(other))
    hours = sorted(args.hours)
    if len(hours) < 2:
        ap.error("--hours needs two durations or more (the growth is a slope)")
    print(f"orbsched memory benchmark: {args.side} x {args.side} Walker shell, 4 GPUs per "
          f"satellite, per-satellite time series, {', '.join(f'{h:g}' for h in hours)} "
          f"simulated hours (python {sys.version.split()[0]}, {os.cpu_count()} cores)")

    def run(h, rf=None):
        extra = ["--recorder-file", str(rf)] if rf else []
        return _child(["--child", f"{h:g}", "--side", str(args.side), "--trace",
                       str(args.trace)] + extra)

    runs = [run(h) for h in hours]
    report_runs("current", runs)
    a, b = runs[0], runs[-1]
    span = b["hours"] - a["hours"]
    total = (b["after_run_mb"] - a["after_run_mb"]) / span            # MB/h, setup + run
    setup = (b["before_run_mb"] - a["before_run_mb"]) / span
    series = (b["series_held_mb"] - a["series_held_mb"]) / span
    ev_rate = (b["recorded_events"] - a["recorded_events"]) / span
    other_rate = (b["event_rows"] - b["recorded_events"] - a["event_rows"]
                  + a["recorded_events"]) / span
    jobs_rate = (b["jobs"] - a["jobs"]) / span
    print(f"  current growth {total:.1f} MB per simulated hour at the end of a run: "
          f"{setup:.1f} MB/h before it starts (jobs, eclipse tables, contact plan), "
          f"{total - setup:.1f} MB/h during it, of which the time series {series:.1f} MB/h (in "
          f"memory up to Recorder.spill_bytes, then on disk); peak growth "
          f"{(b['peak_mb'] - a['peak_mb']) / span:.1f} MB/h (the write of a short run grows "
          f"with it until its row groups are full); {ev_rate:,.0f} recorded events/h, "
          f"{other_rate:,.0f} other event rows/h, {jobs_rate:,.0f} jobs/h")
    from orbsched.engine.recorder import Recorder
    cap = Recorder.spill_bytes / MB
    # the state at the end of 168 h: the longest run's, grown at the measured rates (the time
    # series only up to the spill budget)
    state = (b["after_run_mb"] - b["series_held_mb"] + (total - series) * (WEEK_H - b["hours"])
             + min(cap, series * WEEK_H))
    basis = f"the runs' growth extended from {b['hours']:g} h"
    if args.week_setup:
        su = _child(["--child", f"{WEEK_H:g}", "--setup-only", "--side", str(args.side)])
        print(f"  168 h setup (measured): {su['jobs']:,} jobs, {su['il_rows']:,} eclipse rows; "
              f"RSS {su['before_run_mb']:.0f} MB with the engine built, "
              f"{su['replay_started_mb']:.0f} MB with the replay tables (peak "
              f"{su['setup_peak_mb']:.0f} MB)")
        # conservative: the runs' growth during them includes their (small) replay tables
        state = (su["replay_started_mb"] + (total - setup - series) * WEEK_H
                 + min(cap, series * WEEK_H))
        basis = "the measured 168 h setup + the runs' growth during them"
    if not args.skip_week_write:
        w = _child(["--week-child", str(b["sample_s"]), str(int(ev_rate * WEEK_H)),
                    str(int(other_rate * WEEK_H)), "--side", str(args.side)])
        print(f"  7-day write (synthetic): {w['rows']:,} time-series rows ({w['samples']:,} "
              f"samples, {w['series_held_mb']:.0f} MB held, the rest spilled) streamed in "
              f"{w['timeseries_s']:.0f} s, peak +{w['timeseries_peak_mb']:.0f} MB "
              f"(timeseries.parquet {w['timeseries_file_mb']:.0f} MB); {w['event_rows']:,} event "
              f"rows built and written in {w['events_s']:.0f} s, peak +{w['events_peak_mb']:.0f} "
              f"MB")
        jobs_week = jobs_rate * WEEK_H
        jobs_mb = b["jobs_frame_mb"] / max(b["jobs"], 1) * jobs_week
        week = max(b["plan_peak_mb"], state + w["write_over_state_mb"] + jobs_mb)
        print(f"  current 7 days ~ {week / 1024:.2f} GB = {100 * week / BUDGET_MB:.0f} % of the "
              f"8 GB budget ({(BUDGET_MB - week) / 1024:.2f} GB to spare): state at the end "
              f"{state:.0f} MB ({basis}) + write {w['write_over_state_mb']:.0f} MB + job table "
              f"{jobs_mb:.0f} MB ({jobs_week:,.0f} jobs)")
    if args.recorder_file:
        old = [run(h, args.recorder_file) for h in hours]
        report_runs("given  ", old)
        oa, ob = old[0], old[-1]
        slope = (ob["peak_mb"] - oa["peak_mb"]) / span
        week = ob["peak_mb"] + slope * (WEEK_H - ob["hours"])
        okept = (ob["after_run_mb"] - ob["before_run_mb"] - oa["after_run_mb"]
                 + oa["before_run_mb"]) / span
        print(f"  given   growth {okept:.1f} MB per simulated hour kept by the run, "
              f"{slope:.1f} MB/h at the peak; 7 days ~ {week / 1024:.2f} GB (linear in the "
              f"peak) = {100 * week / BUDGET_MB:.0f} % of the 8 GB budget")
        print(f"  ratio   growth kept per hour, given / current: "
              f"{okept / max(total - setup, 1e-9):.2f}x; peak growth per hour: "
              f"{slope / max((b['peak_mb'] - a['peak_mb']) / span, 1e-9):.2f}x")


if __name__ == "__main__":
    main()
