"""The ``orbsched`` command line.

    orbsched validate SCENARIO [--set path=value ...]
    orbsched geometry SCENARIO --out DIR [--set path=value ...] [--quiet]
    orbsched run SCENARIO [--out DIR] [--set path=value ...] [--seed N] [--plot] [--quiet]
    orbsched plot RESULTS_DIR [RESULTS_DIR ...] [--out DIR]
    orbsched policies
    orbsched sweep SWEEP.yaml --out DIR [--workers N] [--dask ADDR|local]
    orbsched compare SWEEP_DIR [--metric M ...]
    orbsched economics RESULTS [--set orbit.X=V ...]
    orbsched report RESULTS_OR_SWEEP_DIR [--out FILE]
    orbsched paths SCENARIO --pair A B [--pair C D ...] --step-s S [--duration-s D] --out FILE

Errors orbsched knows about (bad scenario, bad data file) print one clear message and exit 2.
"""
from __future__ import annotations

import argparse
import sys

from .errors import OrbschedError, ScenarioError
from .pathseries import paths, write_paths


def _common(p):
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="PATH=VALUE",
                   help="override a field, e.g. --set constellations[0].planes=12 (repeatable)")


def build_parser():
    from . import __version__

    parser = argparse.ArgumentParser(prog="orbsched", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"orbsched {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a scenario and print it resolved")
    _common(p)
    p = sub.add_parser("geometry", help="eclipses, sunlight, and the contact plan (link windows)")
    _common(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--cache-dir", help="contact-plan cache (default $ORBSCHED_CACHE or "
                                       "~/.cache/orbsched)")
    p = sub.add_parser("run", help="simulate a scenario and write its results folder")
    _common(p)
    p.add_argument("--out", help="results folder (default results/<scenario name>)")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--plot", action="store_true", help="also draw the figures (plots/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--cache-dir", help="contact-plan cache (default $ORBSCHED_CACHE or "
                                       "~/.cache/orbsched)")
    p = sub.add_parser("paths", help="routes and round-trip times between node pairs over "
                                     "time (.parquet or .csv)")
    _common(p)
    p.add_argument("--pair", nargs=2, action="append", required=True, metavar=("A", "B"),
                   help="two nodes: ground-station names, satellite names or node numbers "
                        "(satellites 0..N-1, stations N..); repeatable")
    p.add_argument("--step-s", type=float, required=True, help="time between instants, s")
    p.add_argument("--duration-s", type=float, help="instants before this (default the span)")
    p.add_argument("--out", required=True, help="output file, .parquet or .csv")
    p.add_argument("--relay-via-ground", action="store_true",
                   help="let routes pass through ground stations (default: endpoints only)")
    p.add_argument("--cache-dir", help="geometry cache (default $ORBSCHED_CACHE or "
                                       "~/.cache/orbsched)")
    p = sub.add_parser("plot", help="draw the figures of one or more results folders")
    p.add_argument("results", nargs="+", help="results folder(s) written by 'orbsched run'")
    p.add_argument("--out", help="figure folder (default RESULTS/plots; with several folders, "
                                 "comparison figures go to --out or ./compare)")
    sub.add_parser("policies", help="list the registered scheduling policies")
    from .sweep import add_commands
    add_commands(sub)
    for name, text in (("economics", "cost per useful GPU-hour in orbit against the ground "
                                     "for a run (orbsched economics --help)"),
                       ("report", "one self-contained HTML page for a run or a sweep "
                                  "(orbsched report --help)")):
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from . import config

    try:
        if args.command in ("sweep", "compare"):
            return args.handler(args)
        if args.command == "plot":
            return _plot(args)
        if args.command == "economics":
            from .economics import main_economics
            return main_economics(args.rest)
        if args.command == "report":
            from .report import main_report
            return main_report(args.rest)
        if args.command == "policies":
            from .policies import _REGISTRY
            for name in sorted(_REGISTRY):
                doc = (_REGISTRY[name].__module__ and
                       (__import__(_REGISTRY[name].__module__, fromlist=["x"]).__doc__ or ""))
                print(f"{name:15s} {doc.strip().splitlines()[0] if doc.strip() else ''}")
            return 0
        scenario = config.load_scenario(args.scenario, args.overrides)
        if args.command == "validate":
            print(f"# {args.scenario}: valid\n" + scenario.to_yaml(), end="")
            return 0
        if args.command == "geometry":
            return _geometry(scenario, args)
        if args.command == "run":
            return _run(scenario, args)
        if args.command == "paths":
            return _paths(scenario, args)
    except OrbschedError as exc:
        print(f"orbsched: error: {exc}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover


def _geometry(scenario, args):
    from .contacts import compute_contact_plan
    from .geometry import compute_geometry

    show = not args.quiet and sys.stderr.isatty()
    result = compute_geometry(scenario, progress=show)
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(result.scenario.duration_s // result.scenario.step_s) + 1,
                   unit="step", desc="contact plan", leave=False)
    try:
        plan = compute_contact_plan(result.constellation, result.scenario,
                                    progress=bar.update if bar else None,
                                    cache_dir=args.cache_dir)
    finally:
        if bar:
            bar.close()
    written = result.write(args.out) + plan.write_tables(args.out)
    print(result.summary_text())
    net = result.scenario.network
    how = "loaded from cache" if plan.from_cache else \
        f"computed in {sum(plan.timings_s.values()):.2f} s"
    print(f"  links        {len(plan.isl_windows)} ISL windows ({net.topology}), "
          f"{len(plan.ground_windows)} ground windows ({len(result.scenario.ground_stations)} "
          f"stations), {how}")
    if plan.grid_misfits:
        print(f"  +grid        {len(plan.grid_misfits)} satellites fit no plane and have no grid "
              f"links (grid_misfits.csv)")
    print(f"  wrote        {', '.join(p.name for p in written)} in {args.out}")
    return 0


def _run(scenario, args):
    from pathlib import Path

    from .results import summary_text
    from .run import simulate

    out = Path(args.out) if args.out else Path("results") / scenario.name
    show = not args.quiet and sys.stderr.isatty()
    result = simulate(scenario, seed=args.seed, cache_dir=args.cache_dir, progress=show,
                      base_dir=Path(args.scenario).resolve().parent)
    written = result.write(out)
    print(summary_text(result.summary()))
    print(f"  wrote        {', '.join(p.name for p in written)} in {out}")
    if args.plot:
        from .plots import plot_run

        figs = plot_run(out)
        print(f"  plots        {len(figs)} files in {out / 'plots'}")
    return 0


def _paths(scenario, args):
    if not str(args.out).lower().endswith((".parquet", ".csv")):
        raise ScenarioError(f"--out {args.out}: expected a .parquet or .csv file name")
    table = paths(scenario, args.pair, args.step_s, args.duration_s, cache_dir=args.cache_dir,
                  relay_via_ground=args.relay_via_ground)
    out = write_paths(table, args.out)
    ok = table["reachable"]
    print(f"orbsched paths: {scenario.name}: {table['t_s'].nunique()} instants x "
          f"{len(args.pair)} pairs, {int(ok.sum())} of {len(table)} reachable")
    for (a, b), g in table.groupby(["src", "dst"], sort=False):
        r = g["rtt_ms"][g["reachable"]]
        span = (f"RTT {r.min():.3f} .. {r.max():.3f} ms, {g['path_ids'][g['reachable']].nunique()}"
                f" distinct paths") if len(r) else "never reachable"
        print(f"  {a} - {b}: {span}")
    print(f"  wrote        {out}")
    return 0


def _plot(args):
    from pathlib import Path

    from .plots import plot_compare, plot_run

    for d in args.results:
        figs = plot_run(d, args.out if len(args.results) == 1 else None)
        print(f"{d}: {len(figs)} files in {Path(figs[0]).parent if figs else d}")
    if len(args.results) > 1:
        out = Path(args.out or "compare")
        figs = plot_compare(args.results, out)
        print(f"comparison: {len(figs)} files in {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
