"""Replay benchmark: size and generation time of ``orbsched view`` for the demo and Starlink
shell 1.

Run:  python benchmarks/bench_viewer.py [--configs demo starlink-shell1] [--hours H]

For each config (default: ``configs/demo.yaml``, 6 h, and ``configs/starlink-shell1.yaml``,
1,584 satellites x 24 h), in fresh processes:

1. ``orbsched run`` with ``record.link_events=true`` and ``record.positions_s=60`` (the
   reference, measured in the same benchmark run: the simulation and the writing of its
   results folder);
2. ``orbsched view`` of that folder at 60 s frames: wall time, peak RSS, file size;
3. the same on a copy without ``positions.parquet`` and with ``record.link_events`` set false
   in its ``scenario.yaml``, so that positions and links are recomputed from the scenario
   (contact plan from the on-disk cache the run filled).

It prints one line per step and the ratio of each view's time to its run's.  Absolute times
depend on the machine (say which, and whether it was shared); the sizes do not.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# the CLI in a fresh interpreter that prints its own peak RSS (KiB on Linux) last
_CHILD = ("import resource, sys; from orbsched.cli import main; rc = main(sys.argv[1:]); "
          "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")


def _timed(args, label):
    """Run the orbsched CLI with ``args`` in a fresh process; return (wall s, its peak RSS
    MiB, its stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD] + args, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{label} failed:\n{proc.stderr[-2000:]}")
    rss = re.search(r"MAXRSS (\d+)", proc.stdout)
    return wall, int(rss.group(1)) / 1024.0 if rss else float("nan"), proc.stdout


def _inner(stdout):
    """The generation time ``orbsched view`` prints (after Python and the imports started)."""
    m = re.search(r" in ([0-9.]+) s$", stdout, re.M)
    return m.group(1) if m else "?"


def main(argv=None):
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--configs", nargs="+", default=["demo", "starlink-shell1"])
    p.add_argument("--hours", type=float, help="override duration_h (default: the config's)")
    args = p.parse_args(argv)
    cli = []
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="orbsched-bench-viewer-") as tmp:
        for name in args.configs:
            out = Path(tmp) / name
            sets = ["--set", "record.link_events=true", "--set", "record.positions_s=60"]
            if args.hours:
                sets += ["--set", f"duration_h={args.hours}"]
            run_s, run_mb, _ = _timed(cli + ["run", str(REPO / "configs" / f"{name}.yaml"),
                                          "--out", str(out), "--quiet"] + sets, "run")
            summary = json.loads((out / "summary.json").read_text())
            pos_mb = (out / "positions.parquet").stat().st_size / 2**20
            print(f"{name}: {summary['n_sats']} satellites x {summary['duration_h']:g} h; run "
                  f"{run_s:.1f} s, peak RSS {run_mb:.0f} MiB (positions.parquet {pos_mb:.1f} MiB)")
            html = Path(tmp) / f"{name}.html"
            view_s, view_mb, said = _timed(cli + ["view", str(out), "--out", str(html)], "view")
            size = html.stat().st_size / 2**20
            print(f"  view, positions.parquet + link events: {view_s:.1f} s wall, "
                  f"{_inner(said)} s in write_viewer "
                  f"({view_s / run_s:.2f} x the run), {size:.1f} MiB, peak RSS "
                  f"{view_mb:.0f} MiB")
            bare = Path(tmp) / f"{name}-bare"
            shutil.copytree(out, bare, ignore=shutil.ignore_patterns("positions.parquet"))
            scen = bare / "scenario.yaml"
            scen.write_text(scen.read_text().replace("link_events: true", "link_events: false"))
            html2 = Path(tmp) / f"{name}-bare.html"
            bare_s, bare_mb, said = _timed(cli + ["view", str(bare), "--out", str(html2)], "view")
            print(f"  view, recomputed positions + contact plan: {bare_s:.1f} s wall, "
                  f"{_inner(said)} s in write_viewer "
                  f"({bare_s / run_s:.2f} x the run), {html2.stat().st_size / 2**20:.1f} MiB, "
                  f"peak RSS {bare_mb:.0f} MiB")


if __name__ == "__main__":
    main()
