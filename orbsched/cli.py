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
    orbsched partition SCENARIO --out DIR [--max-sats N] [--dask ADDR|local] [--workers N]
    orbsched economics RESULTS [--set orbit.X=V ...]
    orbsched report RESULTS_OR_SWEEP_DIR [--out FILE] [--no-replay]
    orbsched view RESULTS [--out FILE.html] [--frame-s S]
    orbsched paths SCENARIO --pair A B [--pair C D ...] --step-s S [--duration-s D] --out FILE

Errors orbsched knows about (bad scenario, bad data file) print one clear line and exit 2;
``--debug`` anywhere on the line adds the traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from pathlib import Path

from . import __version__, preflight
from .analysis.economics import main_economics
from .analysis.figures import draw_paths, draw_run
from .analysis.figures_io import save_figure
from .analysis.figures_seasons import eclipse_season, fig_seasons
from .analysis.report import main_report
from .analysis.viewer import main_view
from .geometry.contacts import compute_contact_plan
from .geometry.stage import compute_geometry
from .network.paths import paths, write_paths
from .policies import _REGISTRY
from .results.folder import fleet_notes, summary_text
from .results.writing import check_target
from .run import simulate
from .scenario import schema as config
from .scenario.bounds import check_work
from .scenario.errors import OrbschedError, OrbschedWarning, ScenarioError, describe
from .sweep.commands import add_commands
from .sweep.partition_cli import add_partition_command


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
    add_partition_command(sub)
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
    """The ``orbsched`` command.  Every failure is one line on stderr, ``orbsched: error:``
    naming what and where (an error orbsched knows: exit 2; anything else, an internal error:
    exit 1), followed at most by indented detail lines the message itself carries (a TLE
    template, the list of a scenario's problems); ``--debug`` (anywhere on the line, or
    ``ORBSCHED_DEBUG=1``) adds the traceback.  An interrupt exits 130."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("ORBSCHED_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    if argv and argv[0] in ("economics", "report", "view"):
        # these parse their own arguments (argparse's REMAINDER would take '--help' itself)
        args = argparse.Namespace(command=argv[0], rest=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default", OrbschedWarning)
        _show = warnings.showwarning
        warnings.showwarning = _one_line_warning(_show)
        try:
            return _dispatch(args)
        except KeyboardInterrupt as exc:
            print(f"orbsched: interrupted{getattr(exc, 'orbsched_note', '')}", file=sys.stderr)
            return 130
        except BaseException as exc:          # SystemExit from argparse passes through
            if isinstance(exc, SystemExit):
                raise
            print(error_line(exc), file=sys.stderr)
            if debug:
                traceback.print_exception(exc)
            return 2 if isinstance(exc, (OrbschedError, OSError, MemoryError)) else 1
        finally:
            warnings.showwarning = _show


def _one_line_warning(show):
    def emit(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, OrbschedWarning):
            print(f"orbsched: warning: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)
    return emit


def error_line(exc) -> str:
    """The one-line report of ``exc`` (with the detail lines its message carries)."""
    return f"orbsched: error: {describe(exc)}{getattr(exc, 'orbsched_note', '')}"


def _dispatch(args):
    if args.command in ("sweep", "compare", "partition"):
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
        return _validate(scenario, args)
    if args.command == "geometry":
        return _geometry(scenario, args)
    if args.command == "run":
        return _run(scenario, args)
    if args.command == "paths":
        return _paths(scenario, args)
    return 1  # pragma: no cover


def _validate(scenario, args):
    """``orbsched validate``: every check ``run`` makes before its first event
    (:func:`orbsched.preflight.validate`), then the resolved scenario."""
    prep = preflight.validate(scenario, base_dir=Path(args.scenario).resolve().parent,
                              source=args.scenario)
    fleet, work = prep.fleet, prep.work
    print(f"# {args.scenario}: valid ({len(fleet)} satellites, {len(prep.workload)} jobs, "
          f"{work['grid_points']:,.0f} grid points, {work['samples']:,.0f} samples; policy "
          f"{getattr(prep.policy, 'name', type(prep.policy).__name__)})")
    for line in fleet_notes(fleet, prep.scenario.geometry.max_epoch_age_days):
        print("#" + line[1:])
    print(prep.scenario.to_yaml(), end="")
    return 0


def _geometry(scenario, args):
    check_work(scenario, source=args.scenario)     # refuse a run-away grid before any work
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
    out = Path(args.out) if args.out else Path("results") / scenario.name
    check_target(out)                    # a foreign folder is refused before simulating
    show = not args.quiet and sys.stderr.isatty()
    try:
        result = simulate(scenario, seed=args.seed, cache_dir=args.cache_dir, progress=show,
                          base_dir=Path(args.scenario).resolve().parent, source=args.scenario)
    except BaseException as exc:
        _save_partial(exc, out)
        raise
    figs = []
    written = result.write(out, after=(lambda d: figs.extend(draw_run(d)))
                           if args.plot else None)
    print(summary_text(result.summary()))
    for line in fleet_notes(result.geometry.constellation,
                            result.scenario.geometry.max_epoch_age_days):
        print(line)
    print(f"  wrote        {', '.join(p.name for p in written)} in {out}")
    if args.plot:
        print(f"  plots        {len(figs)} files in {out / 'plots'}")
    return 0


def _save_partial(exc, out):
    """Write what a failed run computed (``exc.partial_result``), marked incomplete, and say
    so at the end of the error's line."""
    partial = getattr(exc, "partial_result", None)
    if partial is None:
        return
    t = float(partial.engine.env.now)
    try:
        partial.write(out)
    except BaseException as werr:      # the error that stopped the run stays the one reported
        exc.orbsched_note = (f" (stopped at t = {t:.3f} s; partial results could not be "
                             f"written: {type(werr).__name__}: {werr})")
    else:
        exc.orbsched_note = (f" (stopped at t = {t:.3f} s; partial results in {out}, "
                             f"marked incomplete: incomplete.json)")


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
