"""configs/filing-1m.yaml (1,000,000 satellites) partitioned over a Dask LocalCluster: the
cost of each partition measured here, the whole run's wall time projected for 64 workers.

Run:  python benchmarks/bench_partitioned.py [--hours 1] [--max-sats 15625] [--workers 2]
          [--sample per-shell|all] [--project-workers 64]

1. :func:`orbsched.sweep.partition.plan_partitions` cuts the fleet by shell and groups of
   planes of at most ``--max-sats`` satellites (the default makes 68 partitions of
   14,000-15,500 satellites); the table of partitions is printed.
2. A sample of the partitions (``per-shell``: the first plane group of every shell, eight
   partitions; ``all``: every one) runs for ``--hours`` simulated hours (the reduced span) on a
   LocalCluster of ``--workers`` single-threaded worker processes, each an ordinary
   :func:`orbsched.run.simulate` of its sub-scenario (geometry and contact plan computed, into
   a temporary cache that is removed afterwards).  For each: wall time, the run's own timings
   (geometry, contact plan, engine), and the peak RSS of that partition alone (the worker's
   high-water mark is reset before it starts: Linux ``/proc/self/clear_refs``).
3. Projection to the full span and to ``--project-workers`` workers: a partition's wall time
   at 24 h is its measured time with the geometry, contact-plan and engine parts each scaled
   by 24 h / ``--hours`` (all three are linear in the span: grid points and events; the
   engine's warm-up makes a short span's engine rate optimistic, see the note printed); a
   partition not measured takes the measured time of its shell's sample scaled by its
   satellites.  The partitions are then scheduled longest-first on the workers (LPT: within
   4/3 of the optimal makespan) and the makespan printed, with the memory each worker needs
   (the largest partition's peak RSS, its time-dependent part scaled the same way).

The machine is shared with other jobs (its load average is printed): wall times vary by
10-20 %, more when another heavy job runs.
"""
from __future__ import annotations

import argparse
import heapq
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_geometry_scale import machine  # noqa: E402  (the same machine line)

import orbsched  # noqa: E402
from orbsched.sweep.partition import merge_summaries, plan_partitions, run_partition  # noqa: E402


def measured_partition(part, cache_dir: str) -> dict:
    """Run one partition on a worker, with that partition's own peak RSS."""
    clear = Path("/proc/self/clear_refs")
    try:
        clear.write_text("5")            # reset the process's peak RSS (VmHWM)
        fresh = True
    except OSError:
        fresh = False
    rec = run_partition(part, None, cache_dir)
    if fresh:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rec["peak_rss_gb"] = int(line.split()[1]) / 1024.0 ** 2
    rec["peak_rss_fresh"] = fresh
    return rec


def lpt_makespan(costs: list[float], workers: int) -> float:
    """Longest-processing-time-first schedule of ``costs`` on ``workers``: its makespan."""
    heap = [0.0] * workers
    for c in sorted(costs, reverse=True):
        heapq.heappush(heap, heapq.heappop(heap) + c)
    return max(heap)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "configs" / "filing-1m.yaml"))
    ap.add_argument("--hours", type=float, default=1.0, help="reduced span of each partition")
    ap.add_argument("--max-sats", type=int, default=15625)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample", choices=("per-shell", "all"), default="per-shell")
    ap.add_argument("--project-workers", type=int, default=64)
    ap.add_argument("--full-hours", type=float, default=24.0)
    args = ap.parse_args(argv)
    from dask.distributed import Client, LocalCluster  # the dask extra

    sc = orbsched.load_scenario(args.config, [f"duration_h={args.hours:g}"])
    parts = plan_partitions(sc, args.max_sats)
    print(f"orbsched partitioned run: {sc.name}, {sum(p.n_sats for p in parts):,} satellites "
          f"in {len(parts)} partitions of at most {args.max_sats:,}; {machine()}")
    shells = {}
    for p in parts:
        shells.setdefault(p.entry, []).append(p)
    for i, ps in shells.items():
        c = sc.constellations[i]
        print(f"  shell {c.name:>10}: {c.n_sats:>7,} satellites, {c.altitude_km:g} km, "
              f"{c.inclination_deg:.2f} deg -> {len(ps)} partitions of "
              f"{min(p.n_sats for p in ps):,}-{max(p.n_sats for p in ps):,} "
              f"(planes {ps[0].plane_range or 'all'} ...)")
    sample = parts if args.sample == "all" else [ps[0] for ps in shells.values()]
    cache = tempfile.mkdtemp(prefix="orbsched-bench-part-")
    t0 = time.perf_counter()
    try:
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0", memory_limit=0) as cluster, \
                Client(cluster) as client:
            futures = [client.submit(measured_partition, p, cache, pure=False) for p in sample]
            recs = client.gather(futures)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    wall = time.perf_counter() - t0
    print(f"  {len(sample)} partitions x {args.hours:g} h on a LocalCluster of {args.workers} "
          f"workers: {wall:.1f} s wall")
    print(f"  {'partition':>16} {'sats':>7} {'wall s':>7} {'geometry':>8} {'contacts':>8} "
          f"{'engine':>7} {'peak RSS':>8}  jobs arrived / completed")
    for r in recs:
        t = r["timings_s"]
        s = r["summary"]
        print(f"  {r['name']:>16} {r['n_sats']:>7,} {r['wall_s']:>7.1f} "
              f"{t.get('geometry', 0):>8.1f} {t.get('contact_plan', 0):>8.1f} "
              f"{t.get('engine', 0):>7.1f} {r['peak_rss_gb']:>5.2f} GB  "
              f"{s['jobs']['arrived']:,} / {s['jobs']['completed']:,}")
    merged = merge_summaries([r["summary"] for r in recs], name=f"{sc.name} (sample)",
                             seed=sc.seed)
    print(f"  merged sample: {merged['n_sats']:,} satellites, utilisation "
          f"{merged['utilisation']:.4f}, completed {merged['completed_gpu_h']:.1f} GPU-h, "
          f"{merged['jobs']['arrived']:,} jobs arrived, {merged['migrations']['started']:,} "
          f"migrations (percentiles approximate: summaries only)")
    # ---- projection
    scale = args.full_hours / args.hours
    by_entry = {p.entry: r for p, r in zip(sample, recs)}
    measured = {p.index: r for p, r in zip(sample, recs)}
    costs = []
    for p in parts:
        r = measured.get(p.index) or by_entry[p.entry]
        t = r["timings_s"]
        timed = t.get("geometry", 0) + t.get("contact_plan", 0) + t.get("engine", 0)
        full = (r["wall_s"] - timed) + timed * scale      # prepare etc. not scaled
        costs.append(full * p.n_sats / r["n_sats"])
    span = lpt_makespan(costs, args.project_workers)
    serial = sum(costs)
    peak = max(r["peak_rss_gb"] for r in recs)
    print(f"  projection to {args.full_hours:g} h: one partition {min(costs) / 60:.1f}-"
          f"{max(costs) / 60:.1f} min on one core; all {len(parts)} in series "
          f"{serial / 3600:.2f} h; on {args.project_workers} workers (LPT schedule, one "
          f"partition per worker at a time) {span / 3600:.2f} h wall, plus the merge")
    print(f"  memory per worker: measured peak {peak:.2f} GB at {args.hours:g} h (the "
          f"largest sampled partition; the engine's job and event tables grow with the span, "
          f"so 24 h needs more: see bench_scale.py for the engine's memory per satellite-day)")
    print("  note: a short span's engine rate includes less than one orbit of warm-up and no "
          "steady-state queue; the 24 h projection is linear in the span and so a lower bound "
          "when per-event cost grows with the running jobs")


if __name__ == "__main__":
    main()
