"""The ``sweep`` and ``compare`` commands of the command line (:mod:`orbsched.cli`)."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from ..analysis.compare import compare, table_text
from ..results.folder import run_status
from ..scenario.errors import OrbschedError
from .execute import run_sweep

__all__ = ["add_commands", "main_compare", "main_sweep"]


def add_commands(subparsers):
    """Add ``sweep`` and ``compare`` to an argparse subparsers object."""
    p = subparsers.add_parser("sweep", help="run a batch of scenarios (grid, zip, random, "
                                            "seeds) on local processes or a Dask cluster")
    p.add_argument("sweep", help="sweep YAML file")
    p.add_argument("--out", required=True, help="sweep folder (runs/, sweep.parquet, cache/)")
    p.add_argument("--workers", type=int, help="local worker processes, or LocalCluster "
                                               "workers with --dask local (default: CPU count)")
    p.add_argument("--dask", metavar="ADDR|local",
                   help="run on a Dask cluster: tcp://HOST:8786, or 'local' for a LocalCluster")
    p.add_argument("--retries", type=int, default=2,
                   help="re-runs of a run whose worker process died (default 2)")
    p.add_argument("--cache-dir", help="contact-plan cache (default OUT/cache; on a Dask "
                                       "cluster it must be on a filesystem every worker sees)")
    p.add_argument("--dry-run", action="store_true", help="expand and check, run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=main_sweep)
    p = subparsers.add_parser("compare", help="plot each metric against each swept parameter "
                                              "and tabulate mean +- 95 %% CI over seeds")
    p.add_argument("dir", help="sweep folder written by 'orbsched sweep'")
    p.add_argument("--metric", dest="metrics", action="extend", nargs="+", metavar="M",
                   help="summary metric(s), e.g. utilisation jobs.completed (default: "
                        "utilisation, completed_gpu_h_per_day, migrations.started, "
                        "work_lost_gpu_h.brownout, energy_kwh.curtailed)")
    p.add_argument("--out", help="figure folder (default DIR/compare)")
    p.add_argument("--format", dest="formats", action="extend", nargs="+",
                   help="figure formats (default png pdf)")
    p.set_defaults(handler=main_compare)
    return subparsers


def _error(exc):
    print(f"orbsched: error: {exc}", file=sys.stderr)
    return 2


def main_sweep(args):
    """``orbsched sweep``; exit code 0 when every run is done, 1 when some failed."""
    try:
        outcome = run_sweep(args.sweep, args.out, workers=args.workers, dask=args.dask,
                       retries=args.retries, cache_dir=args.cache_dir, dry_run=args.dry_run,
                       progress=not args.quiet and sys.stderr.isatty(), log=print)
    except OrbschedError as exc:
        return _error(exc)
    except KeyboardInterrupt:
        listing = Path(args.out) / "sweep.yaml"
        n = (yaml.safe_load(listing.read_text(encoding="utf-8")) or {}).get("runs", []) \
            if listing.is_file() else []
        done = sum(run_status(Path(args.out) / "runs" / r["id"]) == "done" for r in n)
        print(f"orbsched: interrupted with {done} of {len(n)} runs complete; the same command "
              f"resumes the sweep", file=sys.stderr)
        return 130
    return 1 if outcome["failed"] else 0


def main_compare(args):
    try:
        res = compare(args.dir, metrics=args.metrics, out_dir=args.out,
                      formats=tuple(args.formats or ("png", "pdf")))
    except OrbschedError as exc:
        return _error(exc)
    print(table_text(res["table"], res["metrics"], res["parameters"]))
    print(f"{res['runs_done']} runs done" + (f", {res['runs_failed']} failed (left out)"
                                             if res["runs_failed"] else "")
          + f"; wrote {len(res['figures'])} figures and table.csv in {res['out']}")
    return 0
