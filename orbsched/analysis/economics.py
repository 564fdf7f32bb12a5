"""What a useful GPU-hour costs in orbit and on the ground.

A first-order cost model with every number a parameter.  The defaults are published figures
(sources beside each constant below, most collected in ``../shared/CONTEXT.md``) or, where no
published figure exists, an ASSUMPTION that says so; change them per study.

Orbit (:class:`OrbitEconomics`, :func:`orbit_costs`)
    Satellite mass from its parts: solar array (kg per kW of full-Sun array power), battery
    (kg per kWh), radiator (kg per m^2 of panel), compute (kg per GPU), and a structure + bus
    overhead that is a fraction of the total mass::

        mass_kg = (array + battery + radiator + compute) / (1 - overhead_fraction)

    Capital per satellite = launch (``mass_kg x launch_usd_per_kg``) + manufacturing
    (``non-GPU mass x bus_usd_per_kg``) + GPUs (``gpus x gpu_price_usd``), divided by
    ``1 - launch_failure_probability`` (a lost satellite has to be built and launched again),
    spread evenly over ``lifetime_years`` (no discounting, no salvage).  Solar energy costs
    nothing once launched.  A useful GPU-hour is a GPU-hour held by a job (the run's
    utilisation) divided by ``redundancy`` (1 = none, 2 = duplex detection, 3 = triple
    modular redundancy against radiation upsets)::

        usd_per_gpu_h = capital / (1 - p_fail) / (gpus x lifetime_h x utilisation / redundancy)

    :func:`launch_cost_per_kw_year` is the launched-power price in the Suncatcher paper's sense:
    launch cost per kW of satellite power per year of life.

Ground (:class:`GroundEconomics`, :func:`ground_costs`)
    Per GPU: IT power = ``gpu_power_w x server_power_factor`` (host CPUs, memory, network);
    electricity = IT power x PUE x price, paid for the hours the GPU is busy (idle power is
    neglected, which favours the ground); construction = ``construction_usd_per_mw`` x IT MW,
    amortised over ``lifetime_years``; the GPU price is added only when the construction figure
    excludes the IT hardware (``construction_includes_hardware=False``; the published all-in
    figures include it)::

        usd_per_gpu_h = capex_per_gpu / (lifetime_h x utilisation) + it_kw x PUE x usd_per_kwh

What is left out, on purpose: financing and discounting, operations staff and ground segment,
insurance, spectrum and regulation, de-orbiting, on-orbit failures other than at launch, array
and battery degradation, network backhaul to the ground.  Each can be folded into the
parameters (e.g. raise ``bus_usd_per_kg`` or shorten ``lifetime_years``).

:func:`compare_run` turns a results folder into an orbit-vs-ground table; ``orbsched economics
RESULTS`` (:func:`main_economics`) prints it and draws :func:`plot_launch_price_sweep`.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..scenario.constants import (  # noqa: F401  (exported with the model)
    GROUND_ELECTRICITY_USD_PER_KWH,
    GROUND_PUE,
    HOURS_PER_YEAR,
)
from ..scenario.errors import (
    DataFileError,
    OrbschedError,
    ScenarioError,
)
from ..scenario.sections import Hardware
from ..scenario.strict_yaml import parse_value
from .economics_model import (  # noqa: F401  (the model, exported from here)
    BATTERY_KG_PER_KWH,
    FALCON9_USD_PER_KG,
    GROUND_USD_PER_MW_1GW,
    GROUND_USD_PER_MW_200MW,
    SEED_200MW_KG_PER_KW,
    SERVER_POWER_FACTOR,
    STARCLOUD_USD_PER_KG,
    STARLINK_V2_MINI_KG_PER_KW,
    STARSHIP_HOPED_USD_PER_KG,
    SUNCATCHER_810_USD_PER_KW_YEAR,
    SUNCATCHER_2035_USD_PER_KG,
    SUNCATCHER_14700_USD_PER_KW_YEAR,
    GroundEconomics,
    OrbitEconomics,
    SatelliteSpec,
    _check_utilisation,
    ground_costs,
    launch_cost_per_kw_year,
    launch_cost_usd,
    orbit_costs,
    satellite_from_hardware,
    satellite_mass_kg,
)
from .figures_io import check_formats, read_summary
from .plot_base import new_figure, write_figure

if TYPE_CHECKING:                   # pandas is imported where a table is built
    import pandas as pd

__all__ = [
    "GroundEconomics",
    "OrbitEconomics",
    "SatelliteSpec",
    "compare_run",
    "comparison_text",
    "ground_costs",
    "launch_cost_per_kw_year",
    "launch_cost_usd",
    "main_economics",
    "orbit_costs",
    "plot_launch_price_sweep",
    "satellite_from_hardware",
    "satellite_mass_kg",
    "utilisation_from_summary",
]


# ----------------------------------------------------------------------------- a run
UTILISATION_SOURCES = ("utilisation", "completed")


def utilisation_from_summary(summary: dict, source="utilisation") -> float:
    """The utilisation a run achieved: ``"utilisation"`` (fraction of GPU time held by jobs)
    or ``"completed"`` (GPU-hours of completed jobs per day / (24 x GPUs); low for runs
    shorter than the jobs), or a number."""
    if not isinstance(source, str):
        return float(source)
    if source == "utilisation":
        u = summary.get("utilisation")
    elif source == "completed":
        per_day, gpus = summary.get("completed_gpu_h_per_day"), summary.get("gpus_total")
        u = None if per_day is None or not gpus else per_day / (24.0 * gpus)
    else:
        raise OrbschedError(f"unknown utilisation source {source!r}; valid: "
                            f"{', '.join(UTILISATION_SOURCES)} or a number in (0, 1]")
    if u is None or not math.isfinite(u) or u <= 0:
        raise OrbschedError(f"the run's {source} is {u!r}: no useful GPU-hours to price; give "
                            "a utilisation explicitly")
    return float(u)


def _run_inputs(results_dir):
    import yaml

    folder = Path(results_dir)
    summary = read_summary(folder)
    hw = {}
    sc = folder / "scenario.yaml"
    if sc.is_file():
        try:
            hw = (yaml.safe_load(sc.read_text()) or {}).get("hardware") or {}
        except yaml.YAMLError as exc:
            raise DataFileError(sc, getattr(getattr(exc, "problem_mark", None), "line", None),
                                f"invalid YAML: {exc}") from None
    return summary, satellite_from_hardware(hw)


_ROWS = (
    # key, label, unit
    ("utilisation", "utilisation (GPU time held by jobs)", "fraction"),
    ("mass_kg", "satellite mass", "kg"),
    ("kg_per_kw", "specific mass", "kg/kW"),
    ("launch_usd_per_kw_year", "launch cost per kW-year of array power", "USD/kW-yr"),
    ("electricity_usd_per_kw_year", "electricity per kW-year (with PUE)", "USD/kW-yr"),
    ("capex_per_gpu", "capital per GPU", "USD"),
    ("launch_usd_per_gpu_h", "launch", "USD/GPU-h"),
    ("manufacturing_usd_per_gpu_h", "satellite manufacturing", "USD/GPU-h"),
    ("construction_usd_per_gpu_h", "data-centre construction", "USD/GPU-h"),
    ("gpu_usd_per_gpu_h", "GPUs", "USD/GPU-h"),
    ("energy_usd_per_gpu_h", "electricity", "USD/GPU-h"),
    ("usd_per_gpu_h", "total per useful GPU-hour", "USD/GPU-h"),
    ("usd_per_gpu_h_full", "total at full use (utilisation 1)", "USD/GPU-h"),
)


def compare_run(results_dir, orbit: OrbitEconomics | None = None,
                ground: GroundEconomics | None = None, *,
                utilisation="utilisation", ground_utilisation=None):
    """Orbit vs ground cost of the useful GPU-hours of a run, as a DataFrame.

    The satellite comes from the run's ``scenario.yaml`` (hardware section), the utilisation
    from its ``summary.json`` (see :func:`utilisation_from_summary`).  The ground data centre is
    priced at ``ground_utilisation`` (default: the same utilisation, i.e. the same demand
    served on the ground).  Index: cost items; columns ``orbit``, ``ground``, ``unit``,
    ``label``; ``NaN`` where an item does not apply.  ``frame.attrs`` holds the inputs.
    """
    import pandas as pd

    orbit = orbit or OrbitEconomics()
    ground = ground or GroundEconomics()
    summary, sat = _run_inputs(results_dir)
    u = utilisation_from_summary(summary, utilisation)
    ug = u if ground_utilisation is None else _check_utilisation(ground_utilisation,
                                                                 "compare_run")
    o = orbit_costs(orbit, sat, utilisation=u)
    g = ground_costs(ground, sat.gpu_active_w, ug)
    o["capex_per_gpu"] = o["capital"] / o["gpus"]
    o["usd_per_gpu_h_full"] = orbit_costs(orbit, sat, utilisation=1.0)["usd_per_gpu_h"]
    g["usd_per_gpu_h_full"] = ground_costs(ground, sat.gpu_active_w, 1.0)["usd_per_gpu_h"]
    rows = []
    for key, label, unit in _ROWS:
        rows.append({"item": key, "orbit": float(o.get(key, math.nan)),
                     "ground": float(g.get(key, math.nan)), "unit": unit, "label": label})
    frame = pd.DataFrame(rows).set_index("item")
    frame.attrs.update({"results_dir": str(results_dir), "scenario": summary.get("scenario"),
                        "policy": summary.get("policy"), "utilisation_source": str(utilisation),
                        "satellite": dataclasses.asdict(sat),
                        "orbit": dataclasses.asdict(orbit), "ground": dataclasses.asdict(ground)})
    return frame


def comparison_text(frame: pd.DataFrame) -> str:
    """The table of :func:`compare_run` as aligned text."""
    def fmt(x, unit):
        if x is None or not math.isfinite(x):
            return "-"
        if unit == "fraction":
            return f"{x:.3f}"
        if unit == "USD/GPU-h":
            return f"{x:,.3f}"
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"
    a = frame.attrs
    lines = [(f"orbsched economics: {a.get('scenario')}  policy {a.get('policy')}  "
              f"({a.get('results_dir')})"),
             f"  {'':44s} {'orbit':>12s} {'ground':>12s}  unit"]
    for _item, row in frame.iterrows():
        lines.append(f"  {row['label']:44s} {fmt(row['orbit'], row['unit']):>12s} "
                     f"{fmt(row['ground'], row['unit']):>12s}  {row['unit']}")
    o = a.get("orbit", {})
    lines.append(f"  assumptions  launch ${o.get('launch_usd_per_kg', 0):,.0f}/kg, life "
                 f"{o.get('lifetime_years', 0):g} yr, launch failure "
                 f"{o.get('launch_failure_probability', 0):g}, redundancy "
                 f"{o.get('redundancy', 1):g}x; every figure is a parameter (--set)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plot
def plot_launch_price_sweep(orbit: OrbitEconomics | None = None,
                            ground: GroundEconomics | None = None,
                            hardware=None, *, utilisation=1.0, ground_utilisation=None,
                            prices_usd_per_kg=None, out_dir=None,
                            name="economics_launch_price", formats=("png", "pdf"), title=None):
    """Cost per useful GPU-hour against the launch price (log scale), orbit vs ground.

    ``hardware`` as for :func:`orbit_costs` (default: the scenario defaults); ``utilisation``
    a number or a sequence of numbers: one orbit line each (solid) and a ground line at the
    same utilisation (dashed, same colour), or one ground line at ``ground_utilisation`` when
    it is given.  Reference launch prices
    ($3,600/kg Falcon 9, $200/kg Suncatcher 2035, $30/kg Starcloud) are marked.  Returns
    ``(figure, paths)``: a :class:`matplotlib.figure.Figure` on the Agg canvas and the files
    written into ``out_dir`` (none when ``out_dir`` is None).
    """

    formats = check_formats(formats)
    orbit = orbit or OrbitEconomics()
    ground = ground or GroundEconomics()
    if hardware is None:

        hardware = Hardware()
    sat = hardware if isinstance(hardware, SatelliteSpec) else satellite_from_hardware(hardware)
    utils = [float(utilisation)] if np.ndim(utilisation) == 0 else [float(x) for x in
                                                                      utilisation]
    prices = (np.geomspace(STARCLOUD_USD_PER_KG, FALCON9_USD_PER_KG, 60)
              if prices_usd_per_kg is None else np.asarray(prices_usd_per_kg, float))
    ug = None if ground_utilisation is None else float(ground_utilisation)

    fig, ax = new_figure(8, 4.5)
    colours = ["#f2a900", "#1f3a93", "#2ca02c", "#d62728", "#7b2cbf", "#8c564b"]
    for i, u in enumerate(utils):
        colour = colours[i % len(colours)]
        cost = [orbit_costs(dataclasses.replace(orbit, launch_usd_per_kg=p), sat,
                            utilisation=u)["usd_per_gpu_h"] for p in prices]
        ax.plot(prices, cost, color=colour, linewidth=1.8, label=f"orbit, utilisation {u:.2f}")
        if ground_utilisation is None:
            g = ground_costs(ground, sat.gpu_active_w, u)["usd_per_gpu_h"]
            ax.axhline(g, color=colour, linestyle="--", linewidth=1.3,
                       label=f"ground, utilisation {u:.2f}")
    if ground_utilisation is not None:
        g = ground_costs(ground, sat.gpu_active_w, ug)["usd_per_gpu_h"]
        ax.axhline(g, color="#444444", linestyle="--", linewidth=1.3,
                   label=f"ground, utilisation {ug:.2f}")
    for p, text in ((FALCON9_USD_PER_KG, "Falcon 9"), (SUNCATCHER_2035_USD_PER_KG,
                                                       "Suncatcher 2035"),
                    (STARCLOUD_USD_PER_KG, "Starcloud")):
        if prices.min() <= p <= prices.max():
            right = p > math.sqrt(prices.min() * prices.max()) * 3
            ax.axvline(p, color="0.7", linewidth=0.8, zorder=0)
            ax.annotate(f"{text}\n${p:,.0f}/kg", (p, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(-3 if right else 3, -3), textcoords="offset points", va="top",
                        ha="right" if right else "left", fontsize=8, color="0.35")
    ax.set_xscale("log")
    ax.set_xlabel("launch price (USD per kg to LEO)")
    ax.set_ylabel("cost per useful GPU-hour (USD)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or f"Orbit vs ground: {sat.gpus} GPUs, {sat.array_kw:.1f} kW array, "
                          f"{satellite_mass_kg(orbit, sat)['total']:.0f} kg per satellite "
                          f"(at ${orbit.launch_usd_per_kg:,.0f}/kg: "
                          f"{orbit_costs(orbit, sat)['kg_per_kw']:.0f} kg/kW)", fontsize=9)
    ax.legend(fontsize=8, loc="center right")
    ax.grid(True, which="both", alpha=0.25)
    paths = write_figure(fig, out_dir, name, formats) if out_dir is not None else []
    return fig, paths


# ----------------------------------------------------------------------------- command line
def _apply_sets(orbit, ground, sets):
    """``orbit.FIELD=VALUE`` / ``ground.FIELD=VALUE`` overrides of the economics parameters."""
    objs = {"orbit": orbit, "ground": ground}
    for item in sets:
        path, eq, value = item.partition("=")
        side, dot, field = path.strip().partition(".")
        if not eq or not dot or side not in objs:
            raise ScenarioError(f"--set {item!r}: expected orbit.FIELD=VALUE or "
                                "ground.FIELD=VALUE")
        names = [f.name for f in dataclasses.fields(objs[side])]
        if field not in names:
            raise ScenarioError(f"--set {item!r}: {side} has no field {field!r}; valid: "
                                f"{', '.join(names)}")
        try:
            objs[side] = dataclasses.replace(objs[side], **{field: parse_value(value)})
        except OrbschedError as exc:
            raise ScenarioError(f"--set {item!r}: {exc}") from None
    return objs["orbit"], objs["ground"]


def build_parser():
    p = argparse.ArgumentParser(
        prog="orbsched economics",
        description="Cost per useful GPU-hour of a run in orbit vs on the ground.")
    p.add_argument("results", help="results folder written by 'orbsched run'")
    p.add_argument("--utilisation", default="utilisation",
                   help="'utilisation' (default: GPU time held by jobs), 'completed' (completed "
                        "GPU-h per GPU-day), or a number in (0, 1]")
    p.add_argument("--ground-utilisation", type=float,
                   help="utilisation of the ground data centre (default: the same)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="SIDE.FIELD=VALUE",
                   help="override a parameter, e.g. --set orbit.launch_usd_per_kg=100 or "
                        "--set ground.pue=1.2 (repeatable)")
    p.add_argument("--no-plot", action="store_true",
                   help="do not draw RESULTS/plots/economics_launch_price.png/.pdf")
    return p


def main_economics(argv: list[str] | None = None) -> int:
    """``orbsched economics RESULTS [--utilisation U] [--set orbit.X=V ...] [--no-plot]``:
    print the orbit-vs-ground table and draw the launch-price sweep into RESULTS/plots/."""
    args = build_parser().parse_args(argv)
    try:
        orbit, ground = _apply_sets(OrbitEconomics(), GroundEconomics(), args.sets)
        util = args.utilisation
        with contextlib.suppress(ValueError):
            util = float(util)
        frame = compare_run(args.results, orbit, ground, utilisation=util,
                            ground_utilisation=args.ground_utilisation)
        print(comparison_text(frame))
        if not args.no_plot:
            summary, sat = _run_inputs(args.results)
            u = frame.loc["utilisation", "orbit"]
            us = sorted({round(u, 3), 1.0})
            _, paths = plot_launch_price_sweep(
                orbit, ground, sat, utilisation=us,
                ground_utilisation=args.ground_utilisation,
                out_dir=Path(args.results) / "plots",
                title=f"{summary.get('scenario')} ({summary.get('policy')}): cost per useful "
                      f"GPU-hour vs launch price")
            print(f"  plot         {', '.join(p.name for p in paths)} in "
                  f"{Path(args.results) / 'plots'}")
    except OrbschedError as exc:
        print(f"orbsched: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_economics())
