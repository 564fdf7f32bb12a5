"""Geometry at scale: time and peak memory of each geometry stage from 1,584 to 100,000
satellites over 24 h, in one process and chunked by satellite on a Dask LocalCluster.

Run:  python benchmarks/bench_geometry_scale.py [--sizes 1584 10000 40000 100000] [--hours 24]
          [--stages fleet shadow contacts ephemeris] [--dask-workers 2] [--dask-sizes 100000]

Each size is ``configs/starlink-shell1.yaml`` (550 km, 53 deg, +grid lasers, three ground
stations, a 60 s grid) with the Walker shape of ``benchmarks/bench_scale.py``'s ``SHAPES``.
Every stage runs in a fresh process (its peak RSS is that process's ``ru_maxrss``, the
interpreter and imports included, about 0.2 GB; the baseline of a process that only imports
orbsched is printed as ``import``):

* ``fleet``: :func:`orbsched.geometry.constellation.build_constellation` (satellites built,
  every one checked by SGP4 over the span);
* ``shadow``: :func:`orbsched.geometry.stage.compute_geometry` (the four kinds of shadow
  intervals; the fleet included);
* ``contacts``: :func:`orbsched.geometry.contacts.compute_contact_plan` (+grid ISL windows and
  ground windows; the fleet excluded);
* ``ephemeris``: :func:`orbsched.geometry.ephemeris.compute_ephemeris` into a fresh cache
  folder (float32 positions and velocities on the grid, 24 B per satellite and instant).

With ``--dask-workers N`` (``--stages`` may then be empty: ``--stages``) the sizes of
``--dask-sizes`` are computed twice, each in a fresh process: the shadow intervals and the
contact plan in one process (:func:`~orbsched.geometry.stage.compute_geometry`,
:func:`~orbsched.geometry.contacts.compute_contact_plan`), then in satellite chunks on a
LocalCluster of N single-threaded worker processes
(:func:`orbsched.geometry.parallel.compute_geometry_parallel` and
:func:`~orbsched.geometry.parallel.compute_contact_plan_parallel`); both save their arrays,
the wall time and the peak RSS of each process (parent and every worker) are printed, and
the arrays are compared bit for bit (the four kinds of shadow intervals, ISL and ground
windows).  The grid ephemeris is not chunked (it is a per-satellite table the engine reads
whole).  Timings on a shared machine vary by 10-20 %; the machine and its load are printed.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_scale import SHAPES  # noqa: E402  (the Walker shapes of the scale benchmark)

STAGES = ("fleet", "shadow", "contacts", "ephemeris")

_CHILD = r"""
import json, resource, sys, time
args = json.loads(sys.argv[1])
import orbsched
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.stage import compute_geometry
from orbsched.geometry.contacts import compute_contact_plan
from orbsched.geometry.ephemeris import compute_ephemeris
sc = orbsched.load_scenario(args["config"], args["overrides"])
stage = args["stage"]
out = {}
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if stage == "fleet":
    fleet, sc = build_constellation(sc)
    out["n"] = len(fleet)
elif stage == "shadow":
    g = compute_geometry(sc)
    out["intervals"] = len(g.eclipse)
    out["timings_s"] = g.timings_s
elif stage != "import":
    fleet, sc = build_constellation(sc)
    t0 = time.perf_counter()
    if stage == "contacts":
        plan = compute_contact_plan(fleet, sc, cache_dir=args["cache"])
        out["isl"] = len(plan.isl_windows)
        out["ground"] = len(plan.ground_windows)
    else:
        eph = compute_ephemeris(fleet, sc, cache_dir=args["cache"])
        out["gb"] = eph.nbytes / 1e9
out["wall_s"] = time.perf_counter() - t0
out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 ** 2
out["rss_before_gb"] = rss0 / 1024.0 ** 2
print("RESULT " + json.dumps(out))
"""


_COMPARE = r"""
import json, resource, sys, time
import numpy as np
args = json.loads(sys.argv[1])
import orbsched
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.stage import compute_geometry
from orbsched.geometry.contacts import compute_contact_plan
from orbsched.geometry import parallel
sc = orbsched.load_scenario(args["config"], args["overrides"] + ["network.cache=false"])
out, t0 = {}, time.perf_counter()
fleet, sc = build_constellation(sc)
out["fleet_s"] = time.perf_counter() - t0
if args["mode"] == "one":
    t = time.perf_counter()
    geo = compute_geometry(sc, fleet=fleet)
    out["geometry_s"] = time.perf_counter() - t
    t = time.perf_counter()
    plan = compute_contact_plan(fleet, sc)
    out["contact_plan_s"] = time.perf_counter() - t
else:
    import dask
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=args["workers"], threads_per_worker=1, processes=True,
                      dashboard_address=":0", memory_limit=0) as cluster, \
            Client(cluster) as client:
        t = time.perf_counter()
        geo = parallel.compute_geometry_parallel(sc, client, fleet=fleet,
                                                 chunk_sats=args["chunk_sats"])
        out["geometry_s"] = time.perf_counter() - t
        t = time.perf_counter()
        plan = parallel.compute_contact_plan_parallel(fleet, sc, client,
                                                      chunk_sats=args["chunk_sats"])
        out["contact_plan_s"] = time.perf_counter() - t
        out["worker_peak_rss_gb"] = sorted(client.run(
            lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 ** 2).values())
np.savez(args["dir"] + "/geometry.npz", **{f"{k}_{f}": getattr(getattr(geo, k), f)
         for k in ("eclipse", "umbra", "penumbra", "point")
         for f in ("sat", "start_s", "end_s", "start_clipped", "end_clipped")})
plan.isl_windows.to_parquet(args["dir"] + "/isl.parquet")
plan.ground_windows.to_parquet(args["dir"] + "/ground.parquet")
out["rows"] = {"eclipse": len(geo.eclipse), "isl": len(plan.isl_windows),
               "ground": len(plan.ground_windows)}
out["wall_s"] = time.perf_counter() - t0
out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 ** 2
print("RESULT " + json.dumps(out))
"""


def compare_dask(n_sats: int, hours: float, workers: int, chunk_sats, work: Path) -> None:
    """One process against a LocalCluster of ``workers``: timings, peak RSS, equality."""
    import numpy as np
    import pandas as pd

    res = {}
    for mode in ("one", "dask"):
        d = work / f"{mode}-{n_sats}"
        d.mkdir(parents=True, exist_ok=True)
        args = {"config": config(), "overrides": overrides(n_sats, hours), "mode": mode,
                "dir": str(d), "workers": workers, "chunk_sats": chunk_sats}
        proc = subprocess.run([sys.executable, "-c", _COMPARE, json.dumps(args)], cwd=REPO,
                              capture_output=True, text=True)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            raise RuntimeError(f"{mode} of {n_sats} satellites failed:\n{proc.stderr[-3000:]}")
        res[mode] = json.loads(line[0][7:])
        r = res[mode]
        extra = (f", workers' peak RSS {', '.join(f'{x:.2f}' for x in r['worker_peak_rss_gb'])}"
                 f" GB" if mode == "dask" else "")
        print(f"  {n_sats:>10,} {mode:>5}: geometry {r['geometry_s']:.1f} s, contact plan "
              f"{r['contact_plan_s']:.1f} s (fleet {r['fleet_s']:.1f} s), peak RSS "
              f"{r['peak_rss_gb']:.2f} GB{extra}; rows {json.dumps(r['rows'])}", flush=True)
    a = np.load(work / f"one-{n_sats}" / "geometry.npz")
    b = np.load(work / f"dask-{n_sats}" / "geometry.npz")
    same_geo = sorted(a.files) == sorted(b.files) and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a.files)
    same = {"shadow intervals": same_geo}
    for name in ("isl", "ground"):
        x = pd.read_parquet(work / f"one-{n_sats}" / f"{name}.parquet")
        y = pd.read_parquet(work / f"dask-{n_sats}" / f"{name}.parquet")
        same[f"{name} windows"] = x.equals(y) and list(x.dtypes) == list(y.dtypes)
    one, par = res["one"], res["dask"]
    speed = (one["geometry_s"] + one["contact_plan_s"]) / (par["geometry_s"]
                                                           + par["contact_plan_s"])
    print(f"  {n_sats:>10,} identical: " + ", ".join(f"{k} {'yes' if v else 'NO'}"
                                                    for k, v in same.items())
          + f"; {workers} workers vs one process: x{speed:.2f} (geometry + contact plan)")


def overrides(n_sats: int, hours: float) -> list:
    planes, per, phasing = SHAPES[n_sats]
    return [f"duration_h={hours:g}", f"constellations[0].planes={planes}",
            f"constellations[0].sats_per_plane={per}", f"constellations[0].phasing={phasing}"]


def config() -> str:
    return str(REPO / "configs" / "starlink-shell1.yaml")


def run_stage(stage: str, n_sats: int, hours: float, cache: Path) -> dict:
    args = {"config": config(), "overrides": overrides(n_sats, hours), "stage": stage,
            "cache": str(cache)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], cwd=REPO,
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{stage} of {n_sats} satellites failed:\n{proc.stderr[-3000:]}")


def machine() -> str:
    load = os.getloadavg()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{mem:.0f} GB, python {platform.python_version()}, load average "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (shared machine)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=sorted(SHAPES),
                    choices=sorted(SHAPES))
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--stages", nargs="*", default=list(STAGES), choices=STAGES)
    ap.add_argument("--dask-workers", type=int, default=0)
    ap.add_argument("--dask-sizes", type=int, nargs="+", default=[100000],
                    choices=sorted(SHAPES))
    ap.add_argument("--chunk-sats", type=int, default=None,
                    help="satellites per Dask task (default: the fleet over 4 x workers)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="orbsched-bench-geo-"))
    print(f"orbsched geometry at scale: starlink-shell1 shapes, {args.hours:g} h, 60 s grid, "
          f"+grid, 3 stations; {machine()}")
    try:
        base = run_stage("import", 1584, args.hours, work)
        print(f"  import: {base['peak_rss_gb']:.2f} GB peak RSS (every figure below "
              f"includes it)")
        print(f"  {'satellites':>10} {'stage':>10} {'wall s':>8} {'peak RSS':>9}  detail")
        for n in args.sizes:
            for stage in args.stages:
                cache = work / f"cache-{n}"
                r = run_stage(stage, n, args.hours, cache)
                detail = {k: v for k, v in r.items()
                          if k not in ("wall_s", "peak_rss_gb", "rss_before_gb")}
                print(f"  {n:>10,} {stage:>10} {r['wall_s']:>8.1f} {r['peak_rss_gb']:>6.2f} GB"
                      f"  {json.dumps(detail)}", flush=True)
            shutil.rmtree(work / f"cache-{n}", ignore_errors=True)
        if args.dask_workers:
            print(f"  one process vs a LocalCluster of {args.dask_workers} worker processes, "
                  f"{args.hours:g} h:")
            for n in args.dask_sizes:
                compare_dask(n, args.hours, args.dask_workers, args.chunk_sats, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
