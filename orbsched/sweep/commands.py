"""The ``sweep`` and ``compare`` commands of the command line (:mod:`orbsched.cli`)."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from ..analysis.compare import compare, table_text
from ..analysis.paired import COMMON_STREAMS, paired_text, policy_free
from ..results.folder import run_status
from ..scenario.errors import OrbschedError
from .adaptive import MAX_SEEDS, run_until_ci
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
    p.add_argument("--until-ci", metavar="METRIC=HALFWIDTH",
                   help="add seeds until the paired interval of METRIC against the baseline "
                        "is at most HALFWIDTH for every policy (see --baseline, --max-seeds)")
    p.add_argument("--baseline", metavar="POLICY",
                   help="with --until-ci: the policy the others are paired with (default: "
                        "the sweep's first)")
    p.add_argument("--max-seeds", type=int, default=MAX_SEEDS,
                   help=f"with --until-ci: at most this many seeds (default {MAX_SEEDS})")
    p.add_argument("--warmup-h", type=float, metavar="H",
                   help="with --until-ci: the metric over [H, end] of each run")
    p.set_defaults(handler=main_sweep)
    p = subparsers.add_parser("compare", help="paired differences from a baseline policy "
                                              "(--baseline), each metric against each swept "
                                              "parameter, mean +- 95 %% CI over seeds")
    p.add_argument("dir", help="sweep folder written by 'orbsched sweep'")
    p.add_argument("--baseline", metavar="POLICY",
                   help="compare each policy with this one seed by seed (its Policy.name, or "
                        "the swept value): paired differences, their intervals, the unpaired "
                        "ones, the seeds that would halve them; paired.csv and a figure")
    p.add_argument("--warmup-h", type=float, metavar="H",
                   help="steady-state metrics over [H, end] of each run from its tables "
                        "(default: the whole-run summary.json values)")
    p.add_argument("--ci", dest="method", choices=("t", "bootstrap"), default="t",
                   help="interval of the paired mean difference: Student t (default) or a "
                        "percentile bootstrap")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (0.95)")
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
    options = dict(workers=args.workers, dask=args.dask, retries=args.retries,
                   cache_dir=args.cache_dir, dry_run=args.dry_run,
                   progress=not args.quiet and sys.stderr.isatty(), log=print)
    try:
        if getattr(args, "until_ci", None):
            outcome = run_until_ci(args.sweep, args.out, args.until_ci, baseline=args.baseline,
                                   warmup_h=args.warmup_h, max_seeds=args.max_seeds, **options)
        else:
            outcome = run_sweep(args.sweep, args.out, **options)
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
    """``orbsched compare``: the table (and with ``--baseline`` the paired differences)."""
    try:
        res = compare(args.dir, metrics=args.metrics, out_dir=args.out,
                      formats=tuple(args.formats or ("png", "pdf")),
                      baseline=getattr(args, "baseline", None),
                      warmup_h=getattr(args, "warmup_h", None),
                      level=getattr(args, "level", 0.95), method=getattr(args, "method", "t"))
    except OrbschedError as exc:
        return _error(exc)
    print(table_text(res["table"], res["metrics"], res["parameters"]))
    if res["paired"] is not None:
        cells = policy_free(res["parameters"])
        print()
        print(paired_text(res["paired"], cells))
        print("pairs share the seed's common random numbers: "
              + ", ".join(COMMON_STREAMS) + " (orbsched.analysis.paired)")
    print(f"{res['runs_done']} runs done" + (f", {res['runs_failed']} failed (left out)"
                                             if res["runs_failed"] else "")
          + f"; wrote {len(res['figures'])} figures and table.csv in {res['out']}")
    return 0
