"""One run end to end: geometry -> contact plan -> workload -> engine -> results.

``simulate(scenario)`` returns a :class:`RunResult`; ``result.write(out_dir)`` writes the
results folder (:mod:`orbsched.results.folder`).  Randomness: one :class:`numpy.random.SeedSequence`
from ``scenario.seed``, split into independent streams for the workload and the policy (and,
later, faults), so changing the policy does not change the jobs.

Links' lengths follow the orbits: the grid ephemeris (:mod:`orbsched.geometry.ephemeris`)
goes to the engine's network (:mod:`orbsched.network.linkranges`).

Cache: the shadow intervals, the contact plan, the grid ephemeris and the SAA intervals go
through the on-disk cache (``cache_dir``, ``$ORBSCHED_CACHE`` or ``~/.cache/orbsched``;
:mod:`orbsched.geometry.cache`,
each keyed by a SHA-256 of what determines it) when ``network.cache`` is true: a repeated
run, or every run of a sweep after the first, loads them, with bit-identical results.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .engine.core import Engine, World
from .geometry.astro import sun_positions_km
from .geometry.contacts import compute_contact_plan
from .geometry.ephemeris import compute_ephemeris
from .geometry.regions import cached_region_intervals, saa_region
from .geometry.stage import compute_geometry
from .geometry.visibility import EarthRotation

# STREAMS, build_workload and rng_streams live in preflight; re-exported from here
from .preflight import STREAMS, build_workload, named, prepare, rng_streams  # noqa: F401
from .results.folder import summarize, write_results
from .scenario.errors import ScenarioError

__all__ = ["RunResult", "build_workload", "rng_streams", "simulate", "STREAMS"]


@dataclass
class RunResult:
    scenario: object
    engine: object
    geometry: object
    plan: object
    workload: object
    timings_s: dict = field(default_factory=dict)
    snapshot: dict = field(default_factory=dict)
    _summary: dict | None = field(default=None, repr=False)
    #: The error that stopped the engine (a partial result, written marked incomplete).
    incomplete: str | None = None

    def write(self, out_dir: str | Path, **kwargs: Any) -> list[Path]:
        """Write the results folder (:func:`orbsched.results.folder.write_results`)."""
        return write_results(self, out_dir, **kwargs)

    def summary(self) -> dict:
        """The run's fleet metrics (computed once)."""
        if self._summary is None:
            self._summary = summarize(self)
        return self._summary


def _snapshot(result_geo, engine):
    """World-map snapshot: sub-satellite points (geocentric latitude, longitude and radius),
    subsolar point and Sun distance, states and links."""

    snap = engine.rec.snapshot
    if snap is None:
        return {}
    fleet = result_geo.constellation
    t = snap["t_s"]
    r, _ = fleet.propagate(np.array([t]), result_geo.scenario.geometry.frame_node_s)
    rot = EarthRotation(fleet.timebase, [t])._matrices([t])[..., 0]     # GCRS -> ITRS
    x = r[:, 0, :] @ rot.T
    sun = np.asarray(sun_positions_km(fleet.timebase, np.array([t]))).reshape(-1, 3)[0] @ rot.T
    lat = np.degrees(np.arctan2(x[:, 2], np.hypot(x[:, 0], x[:, 1])))
    lon = np.degrees(np.arctan2(x[:, 1], x[:, 0]))
    out = dict(snap)
    out.update(utc=fleet.timebase.iso_utc(np.array([t]))[0],
               subsolar_lat_deg=float(np.degrees(np.arctan2(sun[2], np.hypot(sun[0], sun[1])))),
               subsolar_lon_deg=float(np.degrees(np.arctan2(sun[1], sun[0]))),
               sun_distance_km=float(np.linalg.norm(sun)))
    # geocentric latitude and radius: the world map cuts the shadow cones at each shell
    out["sats"] = {"lat_deg": np.round(lat, 4).tolist(), "lon_deg": np.round(lon, 4).tolist(),
                   "radius_km": np.round(np.linalg.norm(x, axis=1), 3).tolist(),
                   "state": snap["state"], "busy_gpus": snap["busy_gpus"]}
    del out["state"], out["busy_gpus"]
    return out


def simulate(scenario, *, seed=None, policy=None, cache_dir=None, progress=False,
             base_dir=None, source="scenario") -> RunResult:
    """Run a validated scenario.  ``seed`` overrides ``scenario.seed``; ``policy`` (an
    instance) overrides ``scenario.policy``; ``base_dir`` resolves ``file.py:Class`` policies
    (default: the current folder); ``cache_dir`` holds the geometry cache (see the module
    docstring; ``network.cache: false`` bypasses it); ``source`` names the scenario in errors.

    Every check that needs no geometry runs first (:func:`orbsched.preflight.prepare`, the
    same function ``orbsched validate`` calls).  When the engine stops on an error, the
    exception carries ``partial_result``: a :class:`RunResult` with ``incomplete`` set, whose
    ``write`` saves what was computed, marked incomplete."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    prep = prepare(scenario, seed=seed, policy=policy, base_dir=base_dir, source=source)
    scenario = prep.scenario                      # 'epoch' start resolved, seed applied
    t1 = time.perf_counter()
    geo = compute_geometry(scenario, cache=True, cache_dir=cache_dir, fleet=prep.fleet)
    t2 = time.perf_counter()
    plan = compute_contact_plan(geo.constellation, scenario, cache_dir=cache_dir)
    eph = compute_ephemeris(geo.constellation, scenario, cache_dir=cache_dir)
    t3 = time.perf_counter()
    bar = None
    tick: Callable[[float], None] | None = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(scenario.duration_h, 3), unit="h", desc="simulating",
                   leave=False, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} sim-h "
                                           "[{elapsed}<{remaining}]")

        def _tick(t_s: float) -> None:
            bar.n = round(t_s / 3600.0, 3)
            bar.refresh()
        tick = _tick
    saa = None
    region = saa_region(scenario)
    if region is not None:
        saa, _ = cached_region_intervals(geo.constellation, scenario, region, cache_dir)
    rngs = prep.rngs
    try:
        world = World(geo.constellation.names, geo.eclipse, geo.umbra,
                      isl_windows=plan.isl_windows, ground_windows=plan.ground_windows,
                      isl_rate_changes=getattr(plan, "isl_rate_changes", None), saa=saa,
                      ephemeris=eph)
        engine = Engine(scenario, world, prep.workload, prep.policy, rngs=rngs, progress=tick)
    except ScenarioError as exc:                  # as validate reports it (preflight)
        raise ScenarioError(named(exc, source)) from None
    t4 = time.perf_counter()
    try:
        engine.run()
    except BaseException as exc:
        timings.update(prepare=t1 - t0, geometry=t2 - t1, contact_plan=t3 - t2,
                       engine=time.perf_counter() - t4)
        with contextlib.suppress(AttributeError):  # an exception type without a __dict__
            # an attribute added to whatever was raised, for the caller (documented above)
            exc.partial_result = RunResult(  # type: ignore[attr-defined]
                scenario, engine, geo, plan, prep.workload, timings,
                incomplete=str(exc) or type(exc).__name__)
        raise
    finally:
        if bar is not None:
            bar.close()
    t5 = time.perf_counter()
    timings.update(prepare=t1 - t0, geometry=t2 - t1, contact_plan=t3 - t2,
                   engine=t5 - t3)
    res = RunResult(scenario, engine, geo, plan, prep.workload, timings)
    res.snapshot = _snapshot(geo, engine)
    return res
