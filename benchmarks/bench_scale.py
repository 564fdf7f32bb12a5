"""Scale benchmark: simulated satellite-days per second and peak memory from 1,584 to 100,000
satellites, against a reference engine measured in the same run.

Run:  python benchmarks/bench_scale.py [--sizes 1584 10000 40000 100000] [--hours 24]
                                       [--reference REV | --reference none] [--ref-max-sats N]

Each size is starlink-shell1 (``configs/starlink-shell1.yaml``: 550 km, 53 deg, 4 GPUs per
satellite, greedy-sunlit) with the Walker shape of the table below and the same offered load
per GPU (433 jobs/h per 1,584 satellites, arriving over the first 23.1 h of a day, scaled with
the span), ``record.per_satellite: false``.  For every size, in fresh processes:

1. *precompute*: the shadow intervals and the contact plan computed into a fresh cache folder
   (stated separately: geometry is parallel per satellite chunk on a cluster);
2. *run*: ``orbsched.run.simulate`` with that cache: the wall time from loading the scenario
   to the finished run (geometry and plan loaded from the cache, workload, engine), and the
   process's peak RSS.  Throughput = satellites x simulated days / wall seconds.

The reference engine is the package at ``--reference`` (default: the commit this benchmark
calls "today's engine", the engine before issue 19), checked out into a temporary git worktree
and compiled there; it runs the same scenarios up to ``--ref-max-sats`` satellites (above that
it would take hours) and the ratio of the two wall times is printed where both ran.  Ratios are
the point; absolute numbers depend on the machine (printed).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The engine before issue 19's rebuild: main with every other issue merged (same features,
#: same layout), the engine still one object over mixins with a Python object per satellite.
REFERENCE_REV = "eac89c1"
#: Walker shapes (planes, satellites per plane, phasing) by fleet size.
SHAPES = {1584: (72, 22, 39), 10000: (100, 100, 1), 40000: (200, 200, 1),
          100000: (250, 400, 1)}
RATE_PER_SAT_H = 433.0 / 1584          # starlink-shell1's offered load per satellite
ARRIVAL_SPAN_H = 10000 / 433.0         # its 10,000 jobs arrive over 23.1 h

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import orbsched
from orbsched.run import simulate
args = json.loads(sys.argv[1])
sc = orbsched.load_scenario(args["config"], args["overrides"])
out = {}
if args["stage"] == "precompute":
    from orbsched.geometry.stage import compute_geometry
    from orbsched.geometry.contacts import compute_contact_plan
    t = time.perf_counter()
    geo = compute_geometry(sc, cache=True, cache_dir=args["cache"])
    out["geometry_s"] = time.perf_counter() - t
    t = time.perf_counter()
    compute_contact_plan(geo.constellation, geo.scenario, cache_dir=args["cache"])
    out["contact_plan_s"] = time.perf_counter() - t
else:
    res = simulate(sc, cache_dir=args["cache"])
    out["timings_s"] = res.timings_s
    s = res.summary()
    out["utilisation"] = s["utilisation"]
    out["completed_gpu_h_per_day"] = s["completed_gpu_h_per_day"]
    out["migrations"] = s["migrations"]["started"]
    out["jobs"] = s["jobs"]
out["wall_s"] = time.perf_counter() - t0
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print("RESULT " + json.dumps(out))
"""
_PRE_IMPORTS = {  # old layout (flat modules) -> the same functions
    "orbsched.geometry.stage": "orbsched.geometry", "orbsched.geometry.contacts":
    "orbsched.geometry.contacts"}


def overrides(n_sats: int, hours: float) -> list:
    planes, per, phasing = SHAPES[n_sats]
    rate = RATE_PER_SAT_H * n_sats
    n_jobs = int(round(rate * min(hours, ARRIVAL_SPAN_H)))
    return [f"duration_h={hours:g}", f"constellations[0].planes={planes}",
            f"constellations[0].sats_per_plane={per}", f"constellations[0].phasing={phasing}",
            f"workload.rate_per_h={rate:.4f}", f"workload.n_jobs={n_jobs}",
            "record.per_satellite=false", "policy=greedy-sunlit"]


def run_child(tree: Path, stage: str, n_sats: int, hours: float, cache: Path,
              timeout_s: float) -> dict:
    """One stage in a fresh Python whose ``orbsched`` is the package in ``tree``."""
    code = _CHILD
    if not (tree / "orbsched" / "geometry" / "stage.py").is_file():     # the flat layout
        for new, old in _PRE_IMPORTS.items():
            code = code.replace(new, old)
    args = {"config": str(tree / "configs" / "starlink-shell1.yaml"), "stage": stage,
            "overrides": overrides(n_sats, hours), "cache": str(cache)}
    env = {**os.environ, "PYTHONPATH": str(tree), "ORBSCHED_PURE": ""}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{stage} of {n_sats} satellites in {tree} failed:\n"
                       f"{proc.stderr[-3000:]}")


def reference_tree(rev: str, where: Path) -> Path:
    """A worktree of ``rev`` with its kernels compiled."""
    tree = where / f"reference-{rev}"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force",
                    str(tree), rev], check=True, capture_output=True)
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree,
                   env={**os.environ, "ORBSCHED_COMPILE": "always"}, check=True,
                   capture_output=True)
    return tree


def measure(tree: Path, n_sats: int, hours: float, work: Path, timeout_s: float) -> dict:
    cache = work / f"cache-{tree.name}-{n_sats}"
    pre = run_child(tree, "precompute", n_sats, hours, cache, timeout_s)
    run = run_child(tree, "run", n_sats, hours, cache, timeout_s)
    shutil.rmtree(cache, ignore_errors=True)
    run["precompute"] = pre
    run["sat_days_per_s"] = n_sats * hours / 24.0 / run["wall_s"]
    return run


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=sorted(SHAPES),
                    choices=sorted(SHAPES))
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--reference", default=REFERENCE_REV,
                    help="git revision of the reference engine, or 'none'")
    ap.add_argument("--ref-max-sats", type=int, default=10000,
                    help="largest fleet the reference runs (default 10,000)")
    ap.add_argument("--timeout-s", type=float, default=4 * 3600.0)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="orbsched-bench-scale-"))
    print(f"orbsched scale benchmark: {args.hours:g} h, greedy-sunlit, starlink-shell1 load per "
          f"GPU; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    ref = None
    try:
        if args.reference != "none":
            t = time.perf_counter()
            ref = reference_tree(args.reference, work)
            print(f"  reference engine: {args.reference}, compiled in "
                  f"{time.perf_counter() - t:.0f} s")
        print(f"  {'satellites':>10} {'sat-days/s':>10} {'wall s':>8} {'engine s':>8} "
              f"{'peak RSS':>9} {'geometry s':>10} {'plan s':>7}  reference (same run)")
        for n in args.sizes:
            new = measure(REPO, n, args.hours, work, args.timeout_s)
            line = (f"  {n:>10,} {new['sat_days_per_s']:>10.0f} {new['wall_s']:>8.1f} "
                    f"{new['timings_s']['engine']:>8.1f} {new['peak_rss_mb'] / 1024:>7.2f} GB "
                    f"{new['precompute']['geometry_s']:>10.1f} "
                    f"{new['precompute']['contact_plan_s']:>7.1f}")
            if ref is not None and n <= args.ref_max_sats:
                old = measure(ref, n, args.hours, work, args.timeout_s)
                line += (f"  {old['sat_days_per_s']:.0f} sat-days/s, wall {old['wall_s']:.1f} s, "
                         f"{old['peak_rss_mb'] / 1024:.2f} GB: "
                         f"{old['wall_s'] / new['wall_s']:.2f}x faster")
            print(line, flush=True)
    finally:
        if ref is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(ref)],
                           capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
