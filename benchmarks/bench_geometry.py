"""Geometry benchmark: propagation + eclipse intervals for Starlink-size fleets over 24 h.

Prints, for 1,584 satellites (Starlink Gen1 shell 1: 72 x 22, 550 km, 53 deg) and 4,408
(the five Gen1 shells), the wall time and peak memory of `compute_geometry`, and the ratio
against a reference measured in the same run: skyfield's `EarthSatellite.at(t).is_sunlit(de421)`
per satellite on a 10 s grid (timed on a subset, scaled to the fleet).  The reference locates
each edge to +-5 s; orbsched refines edges to 0.01 s.

    python benchmarks/bench_geometry.py [--subset 24] [--hours 24] [--sizes 1584 4408]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

GEN1_SHELLS = [  # FCC SAT-MOD-20200417-00037: planes, sats per plane, altitude km, inclination
    (72, 22, 550, 53.0), (72, 22, 540, 53.2), (36, 20, 570, 70.0), (6, 58, 560, 97.6),
    (4, 43, 560, 97.6)]


def scenario(n, hours):
    from orbsched import scenario_from_dict

    shells = GEN1_SHELLS[:1] if n == 1584 else GEN1_SHELLS
    cons = [{"type": "walker", "name": f"s{i}", "planes": p, "sats_per_plane": s,
             "phasing": 1, "altitude_km": h, "inclination_deg": inc}
            for i, (p, s, h, inc) in enumerate(shells)]
    assert sum(p * s for p, s, _, _ in shells) == n
    return scenario_from_dict({"name": f"bench-{n}", "start_utc": "2024-06-21T00:00:00Z",
                               "duration_h": hours, "step_s": 60, "constellations": cons})


def run_case(n, hours, subset):
    import numpy as np

    import orbsched
    from orbsched import compute_geometry
    from orbsched.geometry import astro

    astro.ephemeris(), astro.timescale()
    sc = scenario(n, hours)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    g = compute_geometry(sc)
    wall = time.perf_counter() - t0
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    # reference: skyfield is_sunlit per satellite on a 10 s grid, on a subset
    from skyfield.api import EarthSatellite

    ts, eph = astro.timescale(), astro.ephemeris()
    times = g.constellation.timebase.times(np.arange(0, hours * 3600, 10.0))
    sats = g.constellation.sets[0].satrecs
    pick = np.linspace(0, len(sats) - 1, subset).astype(int)
    t1 = time.perf_counter()
    for i in pick:
        EarthSatellite.from_satrec(sats[i], ts).at(times).is_sunlit(eph)
    ref = (time.perf_counter() - t1) / subset * n
    return {"n": n, "hours": hours, "wall_s": wall, "peak_mb": peak_mb, "ref_s": ref,
            "eclipses": int(len(g.eclipse)), "accelerated": orbsched.accelerated,
            "timings": g.timings_s}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1584, 4408])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--subset", type=int, default=24)
    ap.add_argument("--case", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_case(a.case, a.hours, a.subset)))
        return
    print(f"{'sats':>6} {'hours':>5} {'orbsched s':>10} {'peak MB':>8} {'skyfield s':>10} "
          f"{'ratio':>6}  edges: orbsched 0.01 s, reference 10 s grid")
    for n in a.sizes:
        out = subprocess.run([sys.executable, __file__, "--case", str(n), "--hours",
                              str(a.hours), "--subset", str(a.subset)],
                             capture_output=True, text=True, env=os.environ)
        if out.returncode:
            print(out.stderr)
            sys.exit(1)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['n']:>6} {r['hours']:>5g} {r['wall_s']:>10.2f} {r['peak_mb']:>8.0f} "
              f"{r['ref_s']:>10.1f} {r['ref_s'] / r['wall_s']:>5.0f}x  "
              f"(accelerated={r['accelerated']}, {r['eclipses']} eclipses, "
              + ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items()) + ")")


if __name__ == "__main__":
    main()
