"""``orbsched partition``: run a multi-shell scenario partitioned by shell and groups of planes
(:mod:`orbsched.sweep.partition`), in this process or on a Dask cluster.

    orbsched partition SCENARIO --out DIR [--max-sats N] [--dask ADDR|local] [--workers N]
                       [--set path=value ...] [--dry-run]

Writes ``DIR/partitions/<scenario>.pNNN/`` (each partition's results folder),
``DIR/summary.json`` (the merged summary) and ``DIR/partitions.json`` (each partition's
satellites, planes, seed, wall time and peak RSS).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..files import write_json
from ..scenario import schema as config
from ..scenario.errors import OrbschedError
from .partition import plan_partitions, run_partitioned

__all__ = ["add_partition_command", "main_partition"]


def add_partition_command(subparsers) -> None:
    """Add ``partition`` to an argparse subparsers object."""
    p = subparsers.add_parser("partition", help="run a multi-shell scenario partitioned by "
                                                "shell and plane groups (independent runs, "
                                                "merged summary)")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="PATH=VALUE", help="override a field (repeatable)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--max-sats", type=int, help="cut Walker shells into plane groups of at "
                                                "most this many satellites")
    p.add_argument("--dask", metavar="ADDR|local", help="run the partitions on a Dask "
                   "cluster: tcp://HOST:8786, or 'local' for a LocalCluster")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster workers (--dask local)")
    p.add_argument("--cache-dir", help="geometry cache (on a cluster: a folder every worker "
                                       "sees)")
    p.add_argument("--dry-run", action="store_true", help="print the partitions, run nothing")
    p.set_defaults(handler=main_partition)


def _table(parts) -> str:
    lines = [f"{'partition':>20} {'entry':>5} {'planes':>11} {'first sat':>9} {'sats':>8} "
             f"{'GPU share':>9} {'seed':>10}"]
    for p in parts:
        planes = f"{p.plane_range[0]}-{p.plane_range[1] - 1}" if p.plane_range else "all"
        lines.append(f"{p.name:>20} {p.entry:>5} {planes:>11} {p.first_sat:>9,} "
                     f"{p.n_sats:>8,} {p.gpu_share:>9.5f} {p.scenario.seed:>10}")
    return "\n".join(lines)


def main_partition(args) -> int:
    """``orbsched partition``; exit code 0, or 2 on an error orbsched knows about."""
    try:
        sc = config.load_scenario(args.scenario, args.overrides)
        parts = plan_partitions(sc, args.max_sats)
        print(_table(parts))
        if args.dry_run:
            return 0
        out = Path(args.out)
        client = cluster = None
        if args.dask:
            try:
                from dask.distributed import Client, LocalCluster  # the optional dask extra
            except ImportError:
                raise OrbschedError("--dask needs the dask and distributed packages "
                                    "(pip install 'orbsched[dask]')") from None
            if args.dask == "local":
                cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                       dashboard_address=":0")
                client = Client(cluster)
            else:
                client = Client(args.dask, timeout="20s")
        try:
            res = run_partitioned(sc, client, out_dir=out / "partitions",
                                  max_sats=args.max_sats, cache_dir=args.cache_dir)
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
    except OrbschedError as exc:
        print(f"orbsched: error: {exc}", file=sys.stderr)
        return 2
    write_json(out / "summary.json", res["summary"])
    write_json(out / "partitions.json", [
        {k: r[k] for k in ("index", "name", "n_sats", "wall_s", "peak_rss_gb", "folder")}
        for r in res["partitions"]])
    s = res["summary"]
    print(json.dumps({k: s[k] for k in ("n_sats", "partitions", "utilisation",
                                        "completed_gpu_h")}))
    print(f"wrote {out / 'summary.json'} and {len(parts)} partition folders")
    return 0
