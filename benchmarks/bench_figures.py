"""Figures benchmark (issue 22): every figure of ``orbsched plot`` from a sweep folder of the
demo, 2 policies x 3 seeds, against the 30 s the issue allows.

Run:  python benchmarks/bench_figures.py [--repeat 3] [--hours 6] [--starlink]

1. Runs the sweep (``configs/demo.yaml``, 6 simulated hours, ``stay`` and ``greedy-sunlit``,
   seeds 1-3) with one worker into a temporary folder.
2. Times :func:`orbsched.analysis.figures.draw_paths` on the sweep folder (what ``orbsched plot
   SWEEP`` does): phase-folded, policies side by side, the two compare_* figures, eclipse
   seasons (a year of geometry) and the world map, each in PNG and PDF with its CSV.  In a
   fresh process per measurement (``python -c``), so the time includes importing
   matplotlib, pandas and skyfield, as a user's command pays it; the best of ``--repeat``.
3. The reference, measured in the same run: the sweep itself (its six simulations, summed
   from their manifests), so the ratio says what drawing costs next to simulating.
With ``--starlink``, also the two figures that scale with the fleet (phase-folded and world
map) on starlink-shell1 (1,584 satellites, 6 h, per-satellite samples every 60 s), one
policy, in process.

The machine may be shared with other jobs: each measurement prints the cores that other
processes used meanwhile (from /proc/stat), and the peak memory of the drawing process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _busy_s():
    own = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF,
                                                              resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
        total = (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        total = float("nan")
    return total, own


def draw_in_fresh_process(sweep, out):
    code = ("import resource, sys, time\n"
            "t0 = time.perf_counter()\n"
            "from orbsched.analysis.figures import draw_paths\n"
            f"w = draw_paths([{str(sweep)!r}], {str(out)!r})\n"
            "n = sum(len(v) for v in w.values())\n"
            "print(time.perf_counter() - t0, n, "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)\n")
    b0 = _busy_s()
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    wall = time.perf_counter() - t0
    b1 = _busy_s()
    inner, n, rss = res.stdout.split()
    others = max(0.0, (b1[0] - b0[0]) - (b1[1] - b0[1])) / wall
    return wall, float(inner), int(n), float(rss), others


def main(argv=None):
    import yaml

    from orbsched.sweep.execute import run_sweep

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--starlink", action="store_true")
    args = ap.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as tmp:
        tmp = Path(tmp)
        spec = tmp / "sweep.yaml"
        spec.write_text(yaml.safe_dump({
            "name": "bench-figures", "base": str(REPO / "configs" / "demo.yaml"),
            "set": {"duration_h": args.hours}, "grid": {"policy": ["stay", "greedy-sunlit"]},
            "replications": 3}, sort_keys=False))
        t0 = time.perf_counter()
        outcome = run_sweep(spec, tmp / "sweep", workers=1)
        sweep_wall = time.perf_counter() - t0
        runs_s = sum(sum(json.loads(p.read_text())["timings_s"].values())
                     for p in (tmp / "sweep").glob("runs/*/manifest.json"))
        print(f"sweep: {outcome['done']} runs of the demo ({args.hours:g} h, stay and "
              f"greedy-sunlit x 3 seeds): {sweep_wall:.1f} s wall, the simulations "
              f"{runs_s:.1f} s")
        best = None
        for i in range(args.repeat):
            r = draw_in_fresh_process(tmp / "sweep", tmp / f"figures-{i}")
            print(f"  orbsched plot SWEEP ({i + 1}): {r[0]:.1f} s wall in a fresh process "
                  f"({r[1]:.1f} s inside it, imports included), {r[2]} files, peak memory "
                  f"{r[3]:.0f} MB; other processes used {r[4]:.2f} cores")
            best = r if best is None or r[0] < best[0] else best
        print(f"figures from the sweep folder: best {best[0]:.1f} s (limit 30 s): "
              f"{best[0] / runs_s:.2f} x the time of its six simulations")
        if args.starlink:
            starlink(tmp)


def starlink(tmp):
    from orbsched.analysis.figures_io import RunFolder, group_runs, save_figure
    from orbsched.analysis.figures_map import fig_world_map
    from orbsched.analysis.figures_phase import fig_phase
    from orbsched.run import simulate
    from orbsched.scenario.schema import load_scenario

    sc = load_scenario(REPO / "configs" / "starlink-shell1.yaml",
                       ["duration_h=6", "record.sample_s=60", "policy=stay"])
    t0 = time.perf_counter()
    simulate(sc).write(tmp / "shell1")
    sim = time.perf_counter() - t0
    run = RunFolder(tmp / "shell1")
    t0 = time.perf_counter()
    save_figure(*fig_phase(group_runs([run]), warmup_h=2.0), tmp / "f", "phase_folded")
    t1 = time.perf_counter()
    save_figure(*fig_world_map(run), tmp / "f", "world_map")
    t2 = time.perf_counter()
    print(f"starlink-shell1, 6 h, 60 s samples: simulation {sim:.1f} s; phase-folded "
          f"{t1 - t0:.1f} s, world map {t2 - t1:.1f} s (PNG, PDF and CSV each)")


if __name__ == "__main__":
    main()
