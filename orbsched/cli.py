"""The ``orbsched`` command line.

    orbsched validate SCENARIO [--set path=value ...]
    orbsched geometry SCENARIO --out DIR [--set path=value ...] [--quiet]

Errors orbsched knows about (bad scenario, bad data file) print one clear message and exit 2.
"""
from __future__ import annotations

import argparse
import sys

from .errors import OrbschedError


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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from . import config

    try:
        scenario = config.load_scenario(args.scenario, args.overrides)
        if args.command == "validate":
            print(f"# {args.scenario}: valid\n" + scenario.to_yaml(), end="")
            return 0
        if args.command == "geometry":
            return _geometry(scenario, args)
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
    print(f"  wrote        {', '.join(p.name for p in written)} in {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
