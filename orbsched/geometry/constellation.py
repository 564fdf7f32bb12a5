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

    def take(self, indices) -> Constellation:
        """The satellites ``indices`` (sorted fleet indices) as a fleet of their own: the same
        sets, each cut to its members among them, in fleet order; each propagates exactly as
        in the whole fleet (a chunk of :mod:`orbsched.geometry.parallel`)."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (np.any(np.diff(indices) <= 0) or indices[0] < 0
                             or indices[-1] >= len(self)):
            raise ValueError(f"take: indices must be sorted, distinct, in 0 .. {len(self) - 1}")
        sets, base = [], 0
        for s in self.sets:
            lo, hi = np.searchsorted(indices, [base, base + len(s)])
            if hi > lo:
                local = (indices[lo:hi] - base).tolist()
                sets.append(s if len(local) == len(s) else s.subset(local))
            base += len(s)
        return Constellation(sets, self.timebase, self.duration_s)

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
        s = s.subset(keep)
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
    fleet = Constellation(_entry_sets(scenario, file_sets), TimeBase(start),
                          scenario.duration_s)
    _check_sgp4(fleet, scenario.geometry.max_epoch_age_days)
    return fleet, scenario


def build_part(scenario, indices) -> Constellation:
    """The satellites ``indices`` (sorted fleet indices) of a resolved scenario's fleet (its
    ``start_utc`` resolved, as :func:`build_constellation` returns it), built alone: a Walker
    shell builds only those members, other entries are built whole and cut.  Each satellite
    is built exactly as in the whole fleet.  No SGP4 check: valid for a fleet that lost no
    satellite to it (``fleet.excluded`` empty), else the indices would be off; the parent of a
    chunked computation (:mod:`orbsched.geometry.parallel`) builds and checks the whole."""
    if scenario.start_utc == "epoch":
        raise ScenarioError("build_part needs the resolved scenario (start_utc: epoch is "
                            "resolved by build_constellation)")
    indices = np.asarray(indices, dtype=np.int64)
    file_sets = {i: _file_set(c) for i, c in enumerate(scenario.constellations)
                 if c.type in ("tle", "omm", "ephemeris")}
    return Constellation(_entry_sets(scenario, file_sets, indices), TimeBase(scenario.start_utc),
                         scenario.duration_s)


def _entry_sets(scenario, file_sets, wanted=None):
    """The orbit sets of the scenario's entries in order (all their members, or with
    ``wanted``, sorted fleet indices before any exclusion, only those: entries without any
    are left out)."""
    start = scenario.start_utc
    sets = []
    first, base = 90000, 0
    for i, c in enumerate(scenario.constellations):
        epoch = getattr(c, "epoch_utc", None) or start
        members = None
        if wanted is not None:
            size = (c.n_sats if c.type == "walker" else
                    c.sats if c.type in ("sso", "formation") else len(file_sets[i]))
            lo, hi = np.searchsorted(wanted, [base, base + size])
            members = (wanted[lo:hi] - base).tolist()
            base += size
        if c.type == "walker":
            if members != []:
                sets.append(orbits.walker(c.name, c.pattern, c.planes, c.sats_per_plane,
                                          c.phasing, c.altitude_km, c.inclination_deg,
                                          c.raan_offset_deg, epoch, first_satnum=first,
                                          plane_range=c.plane_range, members=members))
            first += c.n_sats
            continue
        if members == []:
            s = None
        elif c.type == "sso":
            s = orbits.sso(c.name, c.altitude_km, c.ltan_h, c.sats, epoch, first_satnum=first)
        elif c.type == "formation":
            s = _formation(i, c, epoch, first)
        else:
            s = file_sets[i]
        first += c.sats if c.type == "sso" else 1 if c.type == "formation" else 0
        if s is not None:
            sets.append(s if members is None or len(members) == len(s) else s.subset(members))
    return sets


#: Satellites propagated at once by the SGP4 check (memory: ~70 MB per 10,000 satellites
#: and day on its 10-minute grid).
CHECK_BLOCK = 20000


def _sgp4_error_codes(s, timebase, t):
    """SGP4 error codes (n_sats, len(t)) of an :class:`~orbsched.geometry.orbits.Sgp4Set`
    on ``t``, propagated in blocks of :data:`CHECK_BLOCK` satellites."""
    from sgp4.api import SatrecArray

    if len(s) <= CHECK_BLOCK:
        return s.propagate_teme(timebase, t)[0]
    jd, fr = timebase.sgp4_jd(np.atleast_1d(t))
    jd = np.ascontiguousarray(np.broadcast_to(jd, fr.shape), dtype=float)
    fr = np.ascontiguousarray(fr, dtype=float)
    out = np.zeros((len(s), len(t)), np.uint8)
    for i in range(0, len(s), CHECK_BLOCK):
        out[i:i + CHECK_BLOCK] = SatrecArray(s.satrecs[i:i + CHECK_BLOCK]).sgp4(jd, fr)[0]
    return out


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
            e = _sgp4_error_codes(s, fleet.timebase, t)
        else:
            kept.append(s)
            continue
        bad = np.nonzero(e.any(axis=1))[0]
        for i in bad:
            code = int(e[i][e[i] != 0][0])
            when = fleet.timebase.iso_utc([t[np.argmax(e[i] != 0)]], places=0)[0]
            fleet.excluded.append((s.names[i], s.source,
                                   f"SGP4 error {code} at {when}: {SGP4_ERRORS.get(code, '?')}"))
        del e
        if len(bad) == len(s):
            continue
        s = s.subset(np.setdiff1d(np.arange(len(s)), bad).tolist()) if len(bad) else s
        for name, ep in _maybe_stale(s, start, end, max_age_days):
            age = max((start - ep).total_seconds(), (ep - end).total_seconds(), 0.0) / 86400.0
            if age > max_age_days:
                fleet.stale.append((name, s.source, round(age, 2)))
        kept.append(s)
    fleet.sets = kept
    if len(fleet) == 0:
        raise ScenarioError("no satellite is left: every one failed SGP4 over the span "
                            f"(first: {fleet.excluded[0][0]}: {fleet.excluded[0][2]})")


def _maybe_stale(s, start, end, max_age_days):
    """``(name, epoch)`` of the members of ``s`` whose element sets may lie more than
    ``max_age_days`` from the span (a vectorised pre-selection with a day's margin, so the
    exact test and the reported age stay those of the per-satellite datetimes)."""
    satrecs = getattr(s, "satrecs", None)
    if satrecs is None or len(satrecs) < 1000:
        return list(zip(s.names, s.epochs_utc()))
    jd = np.fromiter((x.jdsatepoch + x.jdsatepochF for x in satrecs), float, len(satrecs))
    j0 = (start - orbits.J2000_UTC).total_seconds() / 86400.0 + 2451545.0
    j1 = (end - orbits.J2000_UTC).total_seconds() / 86400.0 + 2451545.0
    near = np.flatnonzero(np.maximum(j0 - jd, jd - j1) > max_age_days - 1.0)
    if not len(near):
        return []
    epochs = s.subset(near.tolist()).epochs_utc()
    return [(s.names[i], ep) for i, ep in zip(near.tolist(), epochs)]
