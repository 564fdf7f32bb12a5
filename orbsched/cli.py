"""The ``orbsched`` command line.

    orbsched validate SCENARIO [--set path=value ...]
    orbsched geometry SCENARIO --out DIR [--set path=value ...] [--quiet]
    orbsched run SCENARIO [--out DIR] [--set path=value ...] [--seed N] [--plot] [--quiet]
    orbsched plot RESULTS_OR_SWEEP_DIR [...] [--out DIR] [--warmup-h H] [--formats png,pdf]
                  [--no-seasons]
    orbsched seasons SCENARIO [--out DIR] [--days N] [--day-step N] [--sats N] [--set ...]
    orbsched policies
    orbsched sweep SWEEP.yaml --out DIR [--workers N] [--dask ADDR|local]
    orbsched compare SWEEP_DIR [--metric M ...]
    orbsched economics RESULTS [--set orbit.X=V ...]
    orbsched report RESULTS_OR_SWEEP_DIR [--out FILE] [--no-replay]
    orbsched view RESULTS [--out FILE.html] [--frame-s S]

Errors orbsched knows about (bad scenario, bad data file) print one clear message and exit 2.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .analysis.economics import main_economics
from .analysis.figures import draw_paths, draw_run
from .analysis.figures_io import save_figure
from .analysis.figures_seasons import eclipse_season, fig_seasons
from .analysis.report import main_report
from .analysis.viewer import main_view
from .geometry.contacts import compute_contact_plan
from .geometry.stage import compute_geometry
from .policies import _REGISTRY
from .results.folder import summary_text
from .run import simulate
from .scenario import schema as config
from .scenario.errors import OrbschedError
from .sweep.commands import add_commands


def _common(p):
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="PATH=VALUE",
                   help="override a field, e.g. --set constellations[0].planes=12 (repeatable)")


def build_parser():
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
    p = sub.add_parser("plot", help="draw the figures of results folders or a sweep folder "
                                    "(PNG, PDF and the data as CSV)")
    p.add_argument("results", nargs="+", help="results folder(s) written by 'orbsched run', or "
                                              "a sweep folder (its runs/*)")
    p.add_argument("--out", help="figure folder (default RESULTS/plots for one run; for a "
                                 "sweep folder SWEEP/figures; for several folders ./compare)")
    p.add_argument("--warmup-h", type=float, default=None,
                   help="hours left out of the steady-state figures (default: a third of the "
                        "run, at most 24 h)")
    p.add_argument("--formats", default="png,pdf", help="comma-separated: png, pdf, svg")
    p.add_argument("--no-seasons", action="store_true",
                   help="skip the eclipse-seasons figure (a year of geometry, ~1-4 s)")
    p = sub.add_parser("seasons", help="eclipse seasons of a scenario's fleet over a year, "
                                       "from geometry alone (figure and CSV)")
    _common(p)
    p.add_argument("--out", default="seasons", help="figure folder (default ./seasons)")
    p.add_argument("--days", type=int, default=365, help="days, centred on the start")
    p.add_argument("--day-step", type=int, default=1, help="one orbit every N days")
    p.add_argument("--sats", type=int, default=48, help="satellites sampled at most")
    sub.add_parser("policies", help="list the registered scheduling policies")
    add_commands(sub)
    for name, text in (("economics", "cost per useful GPU-hour in orbit against the ground "
                                     "for a run (orbsched economics --help)"),
                       ("report", "one self-contained HTML page for a run or a sweep "
                                  "(orbsched report --help)"),
                       ("view", "an interactive replay of a run in one self-contained HTML "
                                "file (orbsched view --help)")):
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("economics", "report", "view"):
        # these parse their own arguments (argparse's REMAINDER would take '--help' itself)
        args = argparse.Namespace(command=argv[0], rest=argv[1:])
    else:
        args = build_parser().parse_args(argv)

    try:
        if args.command in ("sweep", "compare"):
            return args.handler(args)
        if args.command == "plot":
            return _plot(args)
        if args.command == "economics":
            return main_economics(args.rest)
        if args.command == "report":
            return main_report(args.rest)
        if args.command == "view":
            return main_view(args.rest)
        if args.command == "policies":
            for name in sorted(_REGISTRY):
                doc = (_REGISTRY[name].__module__ and
                       (__import__(_REGISTRY[name].__module__, fromlist=["x"]).__doc__ or ""))
                print(f"{name:15s} {doc.strip().splitlines()[0] if doc.strip() else ''}")
            return 0
        scenario = config.load_scenario(args.scenario, args.overrides)
        if args.command == "seasons":
            return _seasons(scenario, args)
        if args.command == "validate":
            print(f"# {args.scenario}: valid\n" + scenario.to_yaml(), end="")
            return 0
        if args.command == "geometry":
            return _geometry(scenario, args)
        if args.command == "run":
            return _run(scenario, args)
    except OrbschedError as exc:
        print(f"orbsched: error: {exc}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover


def _geometry(scenario, args):
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
    print(f"  wrote        {', '.join(p.name for p in written)} in {args.out}")
    return 0


def _run(scenario, args):
    from pathlib import Path

    out = Path(args.out) if args.out else Path("results") / scenario.name
    show = not args.quiet and sys.stderr.isatty()
    result = simulate(scenario, seed=args.seed, cache_dir=args.cache_dir, progress=show,
                      base_dir=Path(args.scenario).resolve().parent)
    written = result.write(out)
    print(summary_text(result.summary()))
    print(f"  wrote        {', '.join(p.name for p in written)} in {out}")
    if args.plot:

        figs = draw_run(out)
        print(f"  plots        {len(figs)} files in {out / 'plots'}")
    return 0


def _plot(args):
    from pathlib import Path

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    written = draw_paths(args.results, args.out, formats, args.warmup_h,
                         seasons=not args.no_seasons)
    for where, figs in written.items():
        print(f"{where}: {len(figs)} files in {Path(figs[0]).parent if figs else where}")
    return 0


def _seasons(scenario, args):
    season = eclipse_season(scenario, days=args.days, day_step=args.day_step,
                            max_sats=args.sats)
    figs = save_figure(*fig_seasons(season, title=scenario.name), args.out, "eclipse_seasons")
    dark = season[season["sats_with_eclipse"] > 0]
    print(f"orbsched seasons: {scenario.name}, {len(season)} days sampled: eclipses on "
          f"{len(dark)} of them, up to {season['eclipse_min_per_orbit_max'].max():.1f} min per "
          f"orbit; wrote {', '.join(p.name for p in figs)} in {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
