"""Every figure of one run, of several runs, or of a sweep folder (``orbsched plot``).

:func:`draw_run` writes a run's figures into ``RUN/plots`` (or ``out_dir``): those of
:func:`orbsched.analysis.plots.plot_run` (utilisation over time, by state, battery, job timeline,
migrations, GPU-hours) and the paper figures:

* ``phase_folded``: utilisation, work kept running, power, state of charge and temperature
  against the time since each satellite's shadow entry (:mod:`orbsched.analysis.figures_phase`);
* ``world_map``: the snapshot with the shadow cut at the satellites' shell, great-circle
  links and busy satellites distinct (:mod:`orbsched.analysis.figures_map`);
* ``eclipse_seasons``: a year of daily shadow statistics from geometry alone, with the run's
  own days on it (:mod:`orbsched.analysis.figures_seasons`).

:func:`draw_comparison` writes, for several runs (a sweep's runs, or folders named together),
``compare_utilisation_by_state`` and ``compare_utilisation_over_time``
(:func:`orbsched.analysis.plots.plot_compare`), ``phase_folded`` with one curve per run group,
``policies_side_by_side`` (:mod:`orbsched.analysis.figures_compare`), ``eclipse_seasons`` with every
run's days, and the ``world_map`` of the first run.  Runs that differ only by seed form a group
(:func:`orbsched.analysis.figures_io.group_runs`); the intervals are over its seeds.

Every figure is written once per format (PNG and PDF by default) with ``<name>.csv``, the data
it draws, beside it.  ``warmup_h`` (default: a third of the run, at most 24 h) is left out of
the steady-state figures.  The seasons figure loads the run's resolved ``scenario.yaml``; when
that fails (an element-set file that has moved, say) the figure is drawn from the runs alone
and says why.
"""
from __future__ import annotations

from pathlib import Path

from ..scenario.errors import OrbschedError
from ..scenario.schema import load_scenario
from . import plots
from .figures_compare import fig_side_by_side
from .figures_io import RunFolder, check_formats, find_runs, group_runs, save_figure
from .figures_map import fig_world_map
from .figures_phase import fig_phase
from .figures_seasons import eclipse_season, fig_seasons

__all__ = ["PAPER_FIGURES", "draw_comparison", "draw_paths", "draw_run", "season_of"]

#: The paper figures of a run, in the order a report shows them.
PAPER_FIGURES = ("phase_folded", "world_map", "eclipse_seasons")
#: Geometry sampling of the seasons figure: satellites, and one orbit every N days.
SEASON_SATS = 24
SEASON_DAY_STEP = 2


def season_of(run: RunFolder, days=365, day_step=SEASON_DAY_STEP, max_sats=SEASON_SATS):
    """The eclipse season of a run's fleet (:func:`eclipse_season` of its ``scenario.yaml``),
    and ``None`` with the reason when the scenario cannot be loaded."""
    path = run.dir / "scenario.yaml"
    if not path.is_file():
        return None, f"{path}: not found"
    try:
        scenario = load_scenario(path)
        return eclipse_season(scenario, days=days, day_step=day_step, max_sats=max_sats), ""
    except OrbschedError as exc:
        return None, str(exc)


def _seasons(groups, season_cache, title):
    first = next(r for rs in groups.values() for r in rs)
    key = str(first.dir / "scenario.yaml")
    if key not in season_cache:
        season_cache[key] = season_of(first)
    season, why = season_cache[key]
    import pandas as pd

    fig, table = fig_seasons(season if season is not None else pd.DataFrame(
        columns=["date", "n_sats"]), groups, title)
    if season is None:
        fig.axes[0].set_title(f"geometry unavailable: {why}"[:160], fontsize=8, color="0.35")
    return fig, table


def draw_run(folder, out_dir=None, formats=("png", "pdf"), warmup_h=None, seasons=True,
             _season_cache=None) -> list:
    """Every figure of one results folder (module docstring); returns the paths written."""
    formats = check_formats(formats)
    run = RunFolder(folder)
    out = Path(out_dir) if out_dir is not None else run.dir / "plots"
    paths = plots.plot_run(run.dir, out, formats)
    groups = group_runs([run])
    fig, table = fig_phase(groups, warmup_h)
    paths += save_figure(fig, table, out, "phase_folded", formats)
    fig, table = fig_world_map(run)
    paths += save_figure(fig, table, out, "world_map", formats)
    if seasons:
        cache = {} if _season_cache is None else _season_cache
        fig, table = _seasons(groups, cache, str(run.summary.get("scenario", "")))
        paths += save_figure(fig, table, out, "eclipse_seasons", formats)
    return paths


def draw_comparison(folders, out_dir, formats=("png", "pdf"), warmup_h=None, seasons=True,
                    _season_cache=None) -> list:
    """The comparison figures of several results folders (module docstring)."""
    formats = check_formats(formats)
    folders = [Path(f) for f in folders]
    if not folders:
        raise OrbschedError("draw_comparison: no results folders")
    runs = [RunFolder(f) for f in folders]
    groups = group_runs(runs)
    out = Path(out_dir)
    paths = plots.plot_compare(folders, out, formats)
    fig, table = fig_phase(groups, warmup_h)
    paths += save_figure(fig, table, out, "phase_folded", formats)
    fig, table = fig_side_by_side(groups, warmup_h)
    paths += save_figure(fig, table, out, "policies_side_by_side", formats)
    fig, table = fig_world_map(runs[0])
    paths += save_figure(fig, table, out, "world_map", formats)
    if seasons:
        cache = {} if _season_cache is None else _season_cache
        scen = sorted({str(r.summary.get("scenario", "")) for r in runs})
        fig, table = _seasons(groups, cache, ", ".join(scen))
        paths += save_figure(fig, table, out, "eclipse_seasons", formats)
    return paths


def draw_paths(paths, out_dir=None, formats=("png", "pdf"), warmup_h=None,
               seasons=True) -> dict:
    """``orbsched plot``: one results folder gets its run figures (in ``RUN/plots``, or
    ``out_dir``); a sweep folder, or several paths, get only the comparison figures of all
    their runs (in ``out_dir``, else ``SWEEP/figures`` for one sweep folder, else
    ``./compare``): each run's own figures are ``orbsched plot RUN`` alone.  Returns
    ``{folder: paths}`` (the comparison under its output folder)."""
    paths = [Path(p) for p in paths]      # a folder named twice is a comparison of two
    cache: dict[str, tuple] = {}         # scenario.yaml -> season_of's (season, why)
    written = {}
    if len(paths) == 1 and (paths[0] / "summary.json").is_file():
        written[paths[0]] = draw_run(paths[0], out_dir, formats, warmup_h, seasons, cache)
        return written
    runs = find_runs(paths)
    if runs:
        if out_dir is not None:
            out = Path(out_dir)
        elif len(paths) == 1:
            out = paths[0] / "figures"
        else:
            out = Path("compare")
        written[out] = draw_comparison(runs, out, formats, warmup_h, seasons, cache)
    return written
