"""Visibility benchmark: ISL kernels against a broadcast N x N numpy version, and the contact plan.

Run:  python benchmarks/bench_visibility.py [--quick]

1. Kernel time per step for Walker shells of 1,584 (72 x 22), 4,408 (76 x 58) and 10,000
   (100 x 100) satellites at 550 km, 53 deg, 5,000 km range, 80 km grazing height, positions
   propagated at three instants.  Compared with a straightforward broadcast N x N numpy
   implementation measured in the same run (rows in blocks of 512 above 2,000 satellites so that
   it fits in memory; the arithmetic per pair is the same).  Reported: the compiled candidate
   search (``isl_candidates``), its numpy twin, the compiled 8-nearest search (``isl_nearest``,
   what nearest-k uses) and the speed-up ratios.
2. Contact plan over 24 h (60 s grid) with nearest-4 and three ground stations for 1,584 and
   4,408 satellites: wall time and peak resident memory, each in a fresh process.
Ratios, not absolute times, are the point: the machine may be shared.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

import numpy as np

from orbsched._kernels import compiled_kernels, reference
from orbsched.scenario.constants import EARTH_EQUATORIAL_RADIUS_KM

RANGE_KM = 5000.0
RMIN_KM = EARTH_EQUATORIAL_RADIUS_KM + 80.0
SHELLS = {1584: (72, 22), 4408: (76, 58), 10000: (100, 100)}


def scenario_dict(n, hours, topology="nearest-k"):
    p, s = SHELLS[n]
    return {"name": f"bench-{n}", "start_utc": "2024-06-21T00:00:00Z", "duration_h": hours,
            "step_s": 60, "constellations": [{"type": "walker", "name": f"w{n}", "planes": p,
                                              "sats_per_plane": s, "phasing": 1,
                                              "altitude_km": 550, "inclination_deg": 53}],
            "ground_stations": [
                {"name": "Bluffton", "lat_deg": 40.8939, "lon_deg": -83.8917},
                {"name": "Svalbard", "lat_deg": 78.23, "lon_deg": 15.39},
                {"name": "Hartebeesthoek", "lat_deg": -25.89, "lon_deg": 27.69}],
            "network": {"topology": topology, "terminals": 4, "cache": False}}


def broadcast_isl(r, max_range_km, min_radius_km, block=None):
    """The straightforward version: every pair, N x N arrays (optionally in row blocks)."""
    n = len(r)
    block = block or n
    out_i, out_j, out_d = [], [], []
    for a in range(0, n, block):
        ra = r[a:a + block]
        d = r[None, :, :] - ra[:, None, :]
        d2 = (d * d).sum(-1)
        t = np.clip(-(ra[:, None, :] * d).sum(-1) / np.where(d2 > 0, d2, 1.0), 0.0, 1.0)
        p = ra[:, None, :] + t[..., None] * d
        ok = (d2 <= max_range_km ** 2) & ((p * p).sum(-1) >= min_radius_km ** 2)
        ok &= np.arange(n)[None, :] > np.arange(a, a + len(ra))[:, None]
        i, j = np.nonzero(ok)
        out_i.append(i + a)
        out_j.append(j)
        out_d.append(np.sqrt(d2[i, j]))
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


def best_time(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def kernel_rows(sizes):
    from orbsched.geometry.constellation import build_constellation
    from orbsched.scenario.schema import scenario_from_dict

    comp = compiled_kernels()
    rows = []
    for n in sizes:
        fleet, _ = build_constellation(scenario_from_dict(scenario_dict(n, 1.0)))
        r_all, _ = fleet.propagate(np.array([0.0, 1000.0, 2000.0]))
        pos = [np.ascontiguousarray(r_all[:, k]) for k in range(3)]
        rep = 5 if n <= 4408 else 3
        tk = np.mean([best_time(lambda r=r: comp["isl_candidates"](r, RANGE_KM, RMIN_KM), rep)
                      for r in pos]) if comp else np.nan
        tn = np.mean([best_time(lambda r=r: comp["isl_nearest"](r, RANGE_KM, RMIN_KM, 8), rep)
                      for r in pos]) if comp else np.nan
        block = None if n <= 2000 else 512
        tb = np.mean([best_time(
            lambda r=r, block=block: broadcast_isl(r, RANGE_KM, RMIN_KM, block), 1)
                      for r in pos[:2]])
        tt = best_time(lambda pos=pos: reference.isl_candidates(pos[0], RANGE_KM, RMIN_KM), 1)
        n_pairs = len(reference.isl_candidates(pos[0], RANGE_KM, RMIN_KM)[0]) if n < 5000 \
            else len(comp["isl_candidates"](pos[0], RANGE_KM, RMIN_KM)[0])
        if comp:  # the benchmark also checks that the three agree
            a = comp["isl_candidates"](pos[0], RANGE_KM, RMIN_KM)
            b = broadcast_isl(pos[0], RANGE_KM, RMIN_KM, 512)
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        rows.append((n, n_pairs, tk, tn, tt, tb))
    return rows


def peak_rss_mb():
    """Peak resident memory of this process: VmHWM (reset by exec, unlike ru_maxrss, which a
    spawned child inherits from its parent on Linux), else ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _plan_child(n, hours, queue):
    from orbsched.geometry.constellation import build_constellation
    from orbsched.geometry.contacts import compute_contact_plan
    from orbsched.scenario.schema import scenario_from_dict

    t0 = time.perf_counter()
    fleet, sc = build_constellation(scenario_from_dict(scenario_dict(n, hours)))
    t1 = time.perf_counter()
    plan = compute_contact_plan(fleet, sc)
    t2 = time.perf_counter()
    rss_mb = peak_rss_mb()
    queue.put((n, hours, t1 - t0, t2 - t1, rss_mb, len(plan.isl_windows),
               len(plan.ground_windows)))


def plan_rows(sizes, hours):
    ctx = mp.get_context("spawn")
    rows = []
    for n in sizes:
        q = ctx.Queue()
        p = ctx.Process(target=_plan_child, args=(n, hours, q))
        p.start()
        rows.append(q.get())
        p.join()
    return rows


def kernel_table(sizes):
    print(f"\nISL kernel per step (550 km shell, {RANGE_KM:.0f} km range, 80 km grazing)")
    print(f"{'sats':>6} {'pairs':>9} {'compiled':>10} {'nearest-8':>10} {'twin':>10} "
          f"{'broadcast':>10} {'bcast/comp':>10} {'twin/comp':>10}")
    for n, pairs, tk, tn, tt, tb in kernel_rows(sizes):
        print(f"{n:>6} {pairs:>9} {tk * 1e3:>8.2f}ms {tn * 1e3:>8.2f}ms {tt * 1e3:>8.1f}ms "
              f"{tb * 1e3:>8.1f}ms {tb / tk:>9.0f}x {tt / tk:>9.0f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,584 only; 2 h contact plan")
    ap.add_argument("--plan-only", action="store_true", help="skip the kernel table")
    args = ap.parse_args(argv)
    import orbsched

    print(f"orbsched {orbsched.__version__}, accelerated={orbsched.accelerated}, "
          f"python {sys.version.split()[0]}, numpy {np.__version__}")
    sizes = [1584] if args.quick else [1584, 4408, 10000]
    if not args.plan_only:
        kernel_table(sizes)
    hours = 2.0 if args.quick else 24.0
    print(f"\ncontact plan, nearest-4, 3 ground stations, {hours:g} h on a 60 s grid")
    print(f"{'sats':>6} {'fleet':>8} {'plan':>9} {'peak RSS':>9} {'ISL windows':>12} "
          f"{'ground windows':>15}")
    for n, _h, tf, tp, rss, ni, ng in plan_rows([1584] if args.quick else [1584, 4408], hours):
        print(f"{n:>6} {tf:>7.1f}s {tp:>8.1f}s {rss:>7.0f}MB {ni:>12} {ng:>15}")


if __name__ == "__main__":
    main()
