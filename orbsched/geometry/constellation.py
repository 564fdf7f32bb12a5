"""The fleet of a scenario: its orbit sets in order, satellite ids, names and checks.

``sat_id`` is a satellite's index in scenario order (constellation by constellation).  Building a
:class:`Constellation` from a :class:`~orbsched.scenario.schema.Scenario`:

* reads the element-set files and builds the synthetic shells and formation clusters;
* resolves ``start_utc: epoch`` to the median element-set epoch (to the second);
* checks every SGP4 satellite on a coarse grid (every 10 min and the end of the span) and
  *excludes* those whose elements fail SGP4 there, reporting each by name and SGP4 message
  (``excluded``) - nothing is dropped silently;
* flags element sets whose epoch lies more than ``geometry.max_epoch_age_days`` from the span
  (``stale``), since SGP4 errors grow by kilometres per day away from the epoch.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import median_low

import numpy as np

from ..scenario.errors import ScenarioError
from . import formation, orbits
from .astro import TimeBase

CHECK_STEP_S = 600.0


@dataclass
class Constellation:
    sets: list
    timebase: TimeBase
    duration_s: float
    excluded: list = field(default_factory=list)  # (name, source, reason)
    stale: list = field(default_factory=list)     # (name, source, epoch age in days)

    @property
    def names(self):
        return [n for s in self.sets for n in s.names]

    @property
    def sources(self):
        return [s.source for s in self.sets for _ in s.names]

    def __len__(self):
        return sum(len(s) for s in self.sets)

    def propagate(self, t_s, frame_node_s=3600.0):
        """GCRS positions and velocities of every satellite, each (n_sats, len(t_s), 3)."""
        parts = [s.propagate(self.timebase, t_s, frame_node_s) for s in self.sets]
        if len(parts) == 1:
            return parts[0]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def _file_set(c):
    reader = {"tle": orbits.read_tle, "omm": orbits.read_omm,
              "ephemeris": orbits.read_ephemeris_csv}[c.type]
    s = reader(c.path)
    keep = list(range(len(s)))
    if c.select:
        rx = re.compile(c.select)
        keep = [i for i in keep if rx.search(s.names[i])]
    if c.limit:
        keep = keep[:c.limit]
    if not keep:
        raise ScenarioError(f"constellation {c.name or c.path}: no satellite left after "
                            f"select={c.select!r} limit={c.limit}")
    if len(keep) < len(s):
        if isinstance(s, orbits.Sgp4Set):
            s = s.subset(keep)
        else:
            s = orbits.InterpolatedSet([s.names[i] for i in keep],
                                       [s._tables[i] for i in keep], s.source)
    return s


def _formation(i, c, epoch, satnum):
    """The cluster of entry ``constellations[i]``; errors name that entry and field."""
    if c.inclination_deg is None:
        try:
            orbits.sso_inclination_deg(c.altitude_km)
        except ScenarioError as exc:
            raise ScenarioError(f"constellations[{i}].inclination_deg: default "
                                f"sun-synchronous, but {exc}") from None
    try:
        return formation.formation(
            c.name, c.altitude_km, c.sats, epoch, inclination_deg=c.inclination_deg,
            ltan_h=c.ltan_h, raan_deg=c.raan_deg, mean_anomaly_deg=c.mean_anomaly_deg,
            layout=c.layout, spacing_m=c.spacing_m, radius_m=c.radius_m,
            cross_track_ratio=c.cross_track_ratio, layout_seed=c.layout_seed, satnum=satnum)
    except ScenarioError as exc:
        raise ScenarioError(f"constellations[{i}]: {exc}") from None


def build_constellation(scenario):
    """Build the fleet of ``scenario``; returns ``(constellation, resolved_scenario)``."""
    file_sets = {i: _file_set(c) for i, c in enumerate(scenario.constellations)
                 if c.type in ("tle", "omm", "ephemeris")}
    start = scenario.start_utc
    if start == "epoch":
        epochs = [e for s in file_sets.values() for e in (s.epochs_utc() or [])]
        start = median_low(sorted(epochs)).replace(microsecond=0)
        scenario = scenario.model_copy(update={"start_utc": start})
    timebase = TimeBase(start)
    sets = []
    first = 90000
    for i, c in enumerate(scenario.constellations):
        epoch = getattr(c, "epoch_utc", None) or start
        if c.type == "walker":
            sets.append(orbits.walker(c.name, c.pattern, c.planes, c.sats_per_plane, c.phasing,
                                      c.altitude_km, c.inclination_deg, c.raan_offset_deg, epoch,
                                      first_satnum=first))
            first += c.planes * c.sats_per_plane
        elif c.type == "sso":
            sets.append(orbits.sso(c.name, c.altitude_km, c.ltan_h, c.sats, epoch,
                                   first_satnum=first))
            first += c.sats
        elif c.type == "formation":
            sets.append(_formation(i, c, epoch, first))
            first += 1  # one element set: the reference orbit
        else:
            sets.append(file_sets[i])
    fleet = Constellation(sets, timebase, scenario.duration_s)
    _check_sgp4(fleet, scenario.geometry.max_epoch_age_days)
    return fleet, scenario


def _check_sgp4(fleet, max_age_days):
    from sgp4.api import SGP4_ERRORS

    t = np.append(np.arange(0.0, fleet.duration_s, CHECK_STEP_S), fleet.duration_s)
    start = fleet.timebase.start_utc
    end = start + timedelta(seconds=fleet.duration_s)
    kept = []
    for s in fleet.sets:
        if isinstance(s, formation.FormationSet):
            # the members stand or fall with their reference orbit
            e, _, _ = s.reference.propagate_teme(fleet.timebase, t)
            e = np.repeat(e, len(s), axis=0)
        elif isinstance(s, orbits.Sgp4Set):
            e, _, _ = s.propagate_teme(fleet.timebase, t)
        else:
            kept.append(s)
            continue
        bad = np.nonzero(e.any(axis=1))[0]
        for i in bad:
            code = int(e[i][e[i] != 0][0])
            when = fleet.timebase.iso_utc([t[np.argmax(e[i] != 0)]], places=0)[0]
            fleet.excluded.append((s.names[i], s.source,
                                   f"SGP4 error {code} at {when}: {SGP4_ERRORS.get(code, '?')}"))
        good = sorted(set(range(len(s))) - set(bad.tolist()))
        if not good:
            continue
        s = s.subset(good) if len(bad) else s
        for name, ep in zip(s.names, s.epochs_utc()):
            age = max((start - ep).total_seconds(), (ep - end).total_seconds(), 0.0) / 86400.0
            if age > max_age_days:
                fleet.stale.append((name, s.source, round(age, 2)))
        kept.append(s)
    fleet.sets = kept
    if len(fleet) == 0:
        raise ScenarioError("no satellite is left: every one failed SGP4 over the span "
                            f"(first: {fleet.excluded[0][0]}: {fleet.excluded[0][2]})")
