"""Everything a run checks before its first event, in one place for ``validate`` and ``run``.

``orbsched validate`` is ``orbsched run`` up to the first event, without the geometry:
:func:`prepare` does every check that needs no geometry and :func:`orbsched.run.simulate`
calls it first, so the two cannot drift; :func:`validate` adds the engine's own construction
over an empty geometry.  What each check needs, and so where it runs:

========================================  =====================================  ==============
check                                     needs                                  validate / run
========================================  =====================================  ==============
scenario: YAML bounds, schema, numbers,   the file (``config.load_scenario``)    both
names, dates of the Sun's ephemeris
work bounds (:mod:`orbsched.scenario.bounds`)      the scenario; then the fleet's size    both
element files, OMM, ephemerides: every    the files; SGP4 on a 10-minute grid    both
field, SGP4 over the span (failures       over the span (n_sats x span / 600
excluded and reported), stale epochs,     propagations, ~1 % of the geometry's)
``start_utc: epoch``
ephemeris tables cover the span           the tables' first and last rows        both
traces: every row (numbers, times)        reading the trace once                 both
policy: import, class, options            the policy file or module              both
engine construction: power and thermal    the fleet's size, the workload; an     both (validate:
specs, fault script against the fleet,    empty geometry                         empty geometry)
data centres, inference services
shadow intervals, contact plan, SAA       the geometry (the expensive part)      run
intervals; SGP4 between the 10-minute
check points (a failure there is an
error naming the satellites)
the policy's hooks and decisions,         events                                 run
``place_replicas``
========================================  =====================================  ==============
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from .engine.core import Engine, World
from .geometry import orbits
from .geometry.constellation import build_constellation
from .geometry.illumination import Intervals
from .policies import load_policy
from .scenario.bounds import check_work, work_estimate
from .scenario.errors import ScenarioError
from .scenario.schema import check_span_dates
from .workload import traces
from .workload.jobs import Workload, synthetic_training
from .workload.presets import preset_job

__all__ = ["Prepared", "STREAMS", "build_workload", "named", "prepare", "rng_streams",
           "validate"]

#: Names of the random streams split from the scenario seed, in spawn order.
STREAMS = ("workload", "policy", "faults", "inference")


def rng_streams(seed: int) -> dict:
    """One :class:`numpy.random.Generator` per name of :data:`STREAMS` from ``seed``."""
    children = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, children)}


def build_workload(scenario, rng):
    """The scenario's jobs as a :class:`orbsched.workload.jobs.Workload`."""
    w = scenario.workload
    if w.type == "none":
        return Workload.empty()
    if w.type == "preset":
        return Workload.from_jobs(
            preset_job(w.name, job_id=k, arrival_s=k * w.interval_h * 3600.0,
                       work_scale=w.work_scale, gpus=w.gpus,
                       min_gpus_fraction=w.min_gpus_fraction,
                       checkpoint_interval_s=w.checkpoint_interval_s)
            for k in range(w.count))
    if w.type == "synthetic":
        if w.n_jobs is not None:
            return synthetic_training(w.n_jobs, rate_per_h=w.rate_per_h, rng=rng,
                                      params=w.params)
        return synthetic_training(rate_per_h=w.rate_per_h, duration_h=scenario.duration_h,
                                  rng=rng, params=w.params)
    readers = {"philly-csv": traces.read_philly_csv, "philly-json": traces.read_philly_json,
               "alibaba-openb": traces.read_alibaba_openb, "helios": traces.read_helios}
    if not Path(w.path).is_file():
        raise ScenarioError(f"workload.path: trace file not found: {w.path}")
    if w.format in readers:
        return readers[w.format](w.path, w.options, rng=rng)
    if w.format == "alibaba-pai":
        return traces.read_alibaba_pai(w.path, w.task_path, w.options, rng=rng)
    return traces.read_csv_mapped(w.path, w.columns, w.options, rng=rng)


@dataclass
class Prepared:
    """What :func:`prepare` checked and built: the resolved scenario (``start_utc: epoch``
    resolved, the seed applied), the fleet, the workload, the policy instance and the run's
    random streams (the workload's already drawn from)."""

    scenario: object
    fleet: object
    workload: object
    policy: object
    rngs: dict
    work: dict = field(default_factory=dict)


def named(exc, source):
    """``exc``'s message prefixed by ``source`` unless it already names it."""
    text = str(exc)
    return text if not source or text.startswith(str(source)) else f"{source}: {text}"


def check_coverage(fleet, scenario, source="scenario"):
    """Raise unless every external ephemeris covers the run's span (a cheap look at each
    table's first and last instants; the propagation would fail mid-geometry otherwise)."""
    start = scenario.start_utc
    end = start + timedelta(seconds=scenario.duration_s)
    for s in fleet.sets:
        if not isinstance(s, orbits.InterpolatedSet):
            continue
        for name, first, last in s.coverage_utc():
            if first > start + timedelta(microseconds=1) or last < end - \
                    timedelta(microseconds=1):
                raise ScenarioError(
                    f"{source}: ephemeris {s.source}: {name} covers {first:%Y-%m-%dT%H:%M:%SZ}"
                    f" .. {last:%Y-%m-%dT%H:%M:%SZ}, but the run spans "
                    f"{start:%Y-%m-%dT%H:%M:%SZ} .. {end:%Y-%m-%dT%H:%M:%SZ} (start_utc, "
                    f"duration_h)")


def prepare(scenario, *, seed=None, policy=None, base_dir=None, source="scenario") -> Prepared:
    """Every check of a run that needs no geometry (the module docstring's table), and what
    they build.  ``seed`` overrides ``scenario.seed``; ``policy`` (an instance) overrides
    ``scenario.policy``; ``base_dir`` resolves ``file.py:Class`` policies; ``source`` (the
    scenario file) prefixes errors that would not name a file otherwise."""
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    try:
        check_work(scenario, source=source)
        fleet, scenario = build_constellation(scenario)
        try:
            check_span_dates(scenario.start_utc, scenario.duration_s, "start_utc")
        except ValueError as exc:
            raise ScenarioError(f"start_utc: {exc} (epoch resolved to "
                                f"{scenario.start_utc:%Y-%m-%dT%H:%M:%SZ})") from None
        check_coverage(fleet, scenario, source)
        check_work(scenario, len(fleet), source)
        rngs = rng_streams(scenario.seed)
        workload = build_workload(scenario, rngs["workload"])
        pol = policy if policy is not None else load_policy(scenario.policy, base_dir)
    except ScenarioError as exc:
        raise ScenarioError(named(exc, source)) from None
    return Prepared(scenario, fleet, workload, pol, rngs, work_estimate(scenario, len(fleet)))


def engine_over_no_geometry(prep):
    """The run's engine built over an empty geometry (no shadow, no links): its constructor
    checks the subsystem specs, the fault script against the fleet, the data centres and the
    inference services exactly as ``run`` does, at the cost of the fleet's size only."""
    world = World(prep.fleet.names, Intervals.empty(), Intervals.empty())
    return Engine(prep.scenario, world, prep.workload, prep.policy, rngs=prep.rngs)


def validate(scenario, *, base_dir=None, source="scenario") -> Prepared:
    """``orbsched validate``: :func:`prepare` plus the engine's construction over an empty
    geometry.  Raises the error ``run`` would raise before its first event."""
    prep = prepare(scenario, base_dir=base_dir, source=source)
    try:
        engine_over_no_geometry(prep)
    except ScenarioError as exc:
        raise ScenarioError(named(exc, source)) from None
    return prep
