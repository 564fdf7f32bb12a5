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
    p = sub.add_parser("geometry", help="eclipse intervals and sunlight statistics")
    _common(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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
            from .geometry import compute_geometry

            result = compute_geometry(scenario, progress=not args.quiet and sys.stderr.isatty())
            written = result.write(args.out)
            print(result.summary_text())
            print(f"  wrote        {', '.join(p.name for p in written)} in {args.out}")
            return 0
    except OrbschedError as exc:
        print(f"orbsched: error: {exc}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
