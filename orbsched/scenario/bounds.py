"""Work bounds: refuse, before any work, a scenario whose size would make a run explode.

A schema range check cannot see that ``record.sample_s: 1e-6`` over one hour means 3.6e9
samples, or that ``planes: 100000`` with ``sats_per_plane: 100000`` means 1e10 satellites: each
field is fine alone.  :func:`work_estimate` counts what a run would do (grid points, exact frame
rotations, samples, policy ticks, jobs, inference requests, radiation upsets, satellites) from
the scenario alone, or with the fleet's size once it is known; :func:`check_work` refuses the
first count above its limit with an error naming the field, the count and the limit.

The limits (:data:`LIMITS`) sit one to two orders of magnitude above the largest runs the
project has in view (a year of a 4,408-satellite Starlink fleet on a 60 s grid; the 1,000,000
satellites of SpaceX's orbital data-centre filing for a day), so they refuse mistakes, not
studies; a count is an estimate (expected values for random draws).
"""
from __future__ import annotations

import math

from .constants import YEAR_S
from .errors import ScenarioError

__all__ = ["LIMITS", "check_work", "synthetic_fleet_size", "work_estimate"]

#: Largest count of each kind of work (see the module docstring).
LIMITS = {
    "satellites": 5_000_000,
    "grid_points": 20_000_000,
    "frame_nodes": 2_000_000,
    "samples": 5_000_000,
    "sample_rows": 2_000_000_000,
    "ticks": 50_000_000,
    "jobs": 20_000_000,
    "requests": 500_000_000,
    "radiation_upsets": 50_000_000,
}
#: The scenario field that sets each count (named in the refusal).
FIELDS = {
    "satellites": "constellations", "grid_points": "step_s",
    "frame_nodes": "geometry.frame_node_s", "samples": "record.sample_s",
    "sample_rows": "record.per_satellite", "ticks": "policy.tick_s",
    "jobs": "workload", "requests": "inference.services[].rate_per_s",
    "radiation_upsets": "faults.radiation",
}


def synthetic_fleet_size(scenario):
    """Satellites of the Walker, SSO and formation constellations (element-set files are
    counted when they are read)."""
    n = 0
    for c in scenario.constellations:
        if c.type == "walker":
            n += c.n_sats
        elif c.type in ("sso", "formation"):
            n += c.sats
    return n


def work_estimate(scenario, n_sats=None) -> dict:
    """Counts of the work a run of ``scenario`` would do (keys of :data:`LIMITS`);
    ``n_sats`` is the fleet's size when known (else the synthetic constellations')."""
    span = scenario.duration_s
    n = synthetic_fleet_size(scenario) if n_sats is None else n_sats
    out = {"satellites": n,
           "grid_points": span / scenario.step_s,
           "frame_nodes": span / scenario.geometry.frame_node_s,
           "samples": span / scenario.record.sample_s}
    out["sample_rows"] = out["samples"] * (n + 1 if scenario.record.per_satellite else 1)
    tick = scenario.policy.tick_s
    out["ticks"] = span / tick if tick else 0.0
    w = scenario.workload
    if w.type == "synthetic":
        rate = w.rate_per_h if w.rate_per_h is not None else w.params.rate_per_h
        out["jobs"] = w.n_jobs if w.n_jobs is not None else rate * scenario.duration_h
    elif w.type == "preset":
        out["jobs"] = w.count
    else:
        out["jobs"] = 0.0            # a trace holds what its file holds
    out["requests"] = sum(s.rate_per_s for s in scenario.inference.services) * span
    f = scenario.faults
    rad = f.radiation
    upsets = 0.0
    if f.enabled and rad.enabled and scenario.hardware.gpus > 0:
        dose = rad.dose_rad_per_year * span / YEAR_S
        upsets = n * scenario.hardware.gpus * dose * sum(
            1.0 / r for r in (rad.rad_per_sdc, rad.rad_per_hbm_ue, rad.rad_per_crash,
                              rad.rad_per_host_reboot))
    out["radiation_upsets"] = upsets
    return out


def check_work(scenario, n_sats=None, source="scenario"):
    """Raise :class:`ScenarioError` naming the field when a count of :func:`work_estimate`
    exceeds its limit (``source`` names the scenario file in the message)."""
    for kind, count in work_estimate(scenario, n_sats).items():
        if not count <= LIMITS[kind]:          # also catches an infinite or NaN count
            raise ScenarioError(
                f"{source}, {FIELDS[kind]}: the run would need {_count(count)} "
                f"{kind.replace('_', ' ')}, more than the limit of {LIMITS[kind]:,} "
                f"(orbsched.scenario.bounds.LIMITS); check the value, or split the run")


def _count(x):
    return f"{x:,.0f}" if math.isfinite(x) and x < 1e15 else f"{x:.3g}"
