"""Geometry and contact plan computed in satellite chunks, in parallel, identical to one process.

Both are embarrassingly parallel per satellite once a few choices are held fixed:

* **Shadow intervals** (:func:`compute_geometry_parallel`): a satellite's eclipse edges depend
  only on its own orbit, the Sun and the grid.  Each chunk of consecutive fleet indices
  ``[lo, hi)`` builds its satellites alone (:func:`~orbsched.geometry.constellation.build_part`:
  the same elements, catalog numbers and SGP4 records as in the whole fleet) and runs the
  stage's own computation with the *whole fleet's* time chunk (``geometry.chunk_mb`` sizes
  time chunks by the fleet's size; passing the whole one keeps every grid slice, and so every
  Sun and pole interpolation, the same).  Every root search works item by item, so a chunk's
  intervals, shifted by ``lo``, are the whole computation's rows for those satellites; the
  whole's intervals are sorted by satellite, so concatenating the chunks in order gives its
  arrays bit for bit.
* **Contact plan** (:func:`compute_contact_plan_parallel`), fixed topologies only (``+grid``,
  ``file``, ``none``): the parent computes the link list of the whole fleet (as the one-process
  plan does); a chunk owns its satellites' ground windows and the links whose lower end
  ``a`` it owns, and builds its own satellites plus the far ends of those links (a halo).  A
  link's windows depend only on its two satellites, a ground window only on its satellite, so
  the chunk's rows, mapped back to fleet indices, are the whole plan's; the tables are then
  sorted as the one-process plan sorts them (by unique keys, so the order is determined).
  ``nearest-k`` and ``all-visible`` choose links among all satellites at each instant and are
  refused (:class:`ParallelGeometryError`).

Limits, stated: a fleet that lost satellites to the SGP4 check (``fleet.excluded``) is refused
(chunks index the fleet before exclusions); golden-section searches take their iteration count
from the widest bracket among their items, so a span that is not a whole number of grid steps
could in principle give a chunk holding only the short last bracket one iteration fewer (all
shipped configs and the tests use whole steps).

``client``: a ``dask.distributed.Client`` (tasks run on its workers), or None (chunks run one
after another in this process: the same code, for tests and small fleets).  The results
equal :func:`orbsched.geometry.stage.compute_geometry` and
:func:`orbsched.geometry.contacts.compute_contact_plan` array for array
(``tests/test_geometry_parallel.py``; ``benchmarks/bench_geometry_scale.py`` at 100,000
satellites).  :func:`precompute_parallel` stores both in the geometry cache under the keys the
one-process stages use, so a following :func:`orbsched.run.simulate` loads them.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..scenario.errors import OrbschedError
from . import cache as _cache
from . import contacts, illumination, stage
from .constellation import Constellation, build_constellation, build_part
from .illumination import Intervals
from .topology import GridLinks

__all__ = ["ParallelGeometryError", "satellite_chunks", "compute_geometry_parallel",
           "compute_contact_plan_parallel", "precompute_parallel"]

#: Topologies whose contact plan splits by satellite (fixed link lists, or no links).
CHUNKABLE_TOPOLOGIES = ("+grid", "file", "none")
_FIELDS = ("sat", "start_s", "end_s", "start_clipped", "end_clipped")


class ParallelGeometryError(OrbschedError):
    """The geometry of this scenario cannot be computed in satellite chunks."""


def satellite_chunks(n_sats: int, chunk_sats: int) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]``: consecutive fleet index ranges of at most ``chunk_sats``
    satellites covering ``0 .. n_sats - 1``."""
    if chunk_sats < 1:
        raise ParallelGeometryError(f"chunk_sats must be >= 1, got {chunk_sats}")
    return [(lo, min(lo + chunk_sats, n_sats)) for lo in range(0, n_sats, chunk_sats)]


def _default_chunk(n_sats: int, client) -> int:
    workers = len(client.scheduler_info()["workers"]) if client is not None else 1
    return max(1, -(-n_sats // (4 * max(workers, 1))))


def _check_fleet(fleet: Constellation) -> None:
    if fleet.excluded:
        raise ParallelGeometryError(
            f"{len(fleet.excluded)} satellite(s) failed the SGP4 check (first: "
            f"{fleet.excluded[0][0]}); chunked geometry needs a fleet without exclusions")


def _run(client, fn, args_list):
    """``[fn(*args) for args in args_list]``, on the client's workers when there is one."""
    if client is None:
        return [fn(*args) for args in args_list]
    futures = [client.submit(fn, *args, pure=False) for args in args_list]
    return client.gather(futures)


# ------------------------------------------------------------------------- shadow intervals
def shadow_chunk(scenario, lo: int, hi: int, chunk_steps: int) -> dict:
    """The four kinds of shadow intervals of satellites ``lo .. hi - 1`` (fleet indices) of
    the resolved ``scenario``'s fleet, computed alone with the whole fleet's ``chunk_steps``."""
    fleet = build_part(scenario, np.arange(lo, hi))
    iv, _ = stage._compute_intervals(fleet, scenario, False, chunk_steps)
    return {k: replace(v, sat=v.sat + lo) for k, v in iv.items()}


def merge_intervals(parts: list[dict]) -> dict:
    """Concatenate chunk intervals (in chunk order) kind by kind."""
    out = {}
    for kind in parts[0]:
        out[kind] = Intervals(*(np.concatenate([getattr(p[kind], f) for p in parts])
                                for f in _FIELDS))
    return out


def compute_geometry_parallel(scenario, client=None, *, chunk_sats: int | None = None,
                              fleet=None) -> stage.GeometryResult:
    """:func:`orbsched.geometry.stage.compute_geometry` (computed, not cached) in satellite
    chunks of ``chunk_sats`` (default: the fleet over four times the workers) on ``client``."""
    t0 = time.perf_counter()
    if fleet is None:
        fleet, scenario = build_constellation(scenario)
    _check_fleet(fleet)
    n = len(fleet)
    steps = illumination.chunk_steps_for(n, scenario.geometry.chunk_mb)
    chunks = satellite_chunks(n, chunk_sats or _default_chunk(n, client))
    t1 = time.perf_counter()
    parts = _run(client, shadow_chunk, [(scenario, lo, hi, steps) for lo, hi in chunks])
    iv = merge_intervals(parts)
    timings = {"fleet": t1 - t0, "shadow_parallel": time.perf_counter() - t1}
    return stage.GeometryResult(scenario, fleet, eclipse=iv["eclipse"], umbra=iv["umbra"],
                                penumbra=iv["penumbra"], point=iv["point"], timings_s=timings,
                                key="", from_cache=False)


# ------------------------------------------------------------------------- contact plan
def _chunk_links(links, lo: int, hi: int):
    """The links whose lower end lies in ``[lo, hi)``, and the chunk's satellites: its own
    plus the far ends of those links (sorted fleet indices)."""
    if links is None:
        return None, np.arange(lo, hi)
    sel = (links.a >= lo) & (links.a < hi)
    members = np.union1d(np.arange(lo, hi), links.b[sel])
    return (links.a[sel], links.b[sel], links.rate_gbps[sel]), members


def contact_chunk(scenario, lo: int, hi: int, members: np.ndarray, pairs, chunk_steps: int,
                  tol_s: float):
    """ISL windows, ground windows and rate changes of the chunk owning satellites ``lo ..
    hi - 1`` (with its halo ``members``, sorted fleet indices, and its links ``pairs`` ``(a,
    b, rate_gbps)`` in fleet indices), rows in fleet indices."""
    fleet = build_part(scenario, members)
    own = np.searchsorted(members, np.arange(lo, hi))
    links = None
    if pairs is not None:
        a, b, rate = pairs
        links = GridLinks(np.searchsorted(members, a), np.searchsorted(members, b), rate)
    part = contacts.PlanPart(links, own, chunk_steps)
    isl, ground, rates, _ = contacts._compute(fleet, scenario, None, tol_s, part)
    isl["sat_a"] = members[isl["sat_a"].to_numpy()]
    isl["sat_b"] = members[isl["sat_b"].to_numpy()]
    ground["sat"] = ground["sat"].to_numpy() + lo
    if rates is not None:
        rates["sat_a"] = members[rates["sat_a"].to_numpy()]
        rates["sat_b"] = members[rates["sat_b"].to_numpy()]
    return isl, ground, rates


def _concat(frames):
    """The chunks' tables as one (empty ones left out: an empty table's text columns have
    another dtype than a filled one's, and would change the column's dtype)."""
    import pandas as pd

    full = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(full, ignore_index=True) if len(full) > 1 else full[0].reset_index(drop=True)


def compute_contact_plan_parallel(fleet, scenario, client=None, *,
                                  chunk_sats: int | None = None,
                                  tol_s: float = contacts.DEFAULT_TOL_S) -> contacts.ContactPlan:
    """:func:`orbsched.geometry.contacts.compute_contact_plan` (computed, not cached) in
    satellite chunks on ``client`` (see the module docstring); ``fleet`` and the resolved
    ``scenario`` as :func:`~orbsched.geometry.constellation.build_constellation` returns them."""
    net = scenario.network
    if net.topology not in CHUNKABLE_TOPOLOGIES:
        raise ParallelGeometryError(
            f"network.topology {net.topology}: a chunked contact plan needs a fixed link list "
            f"({', '.join(CHUNKABLE_TOPOLOGIES)}); {net.topology} chooses links among the "
            f"whole fleet at every instant")
    if not 0 < tol_s <= 1.0:
        raise ParallelGeometryError(f"tol_s must be in (0, 1] s, got {tol_s}")
    _check_fleet(fleet)
    t0 = time.perf_counter()
    n = len(fleet)
    links = contacts.fixed_links(fleet, scenario)
    steps = contacts.chunk_steps_for(n, len(scenario.ground_stations),
                                     scenario.geometry.chunk_mb)
    tasks = []
    for lo, hi in satellite_chunks(n, chunk_sats or _default_chunk(n, client)):
        pairs, members = _chunk_links(links, lo, hi)
        tasks.append((scenario, lo, hi, members, pairs, steps, tol_s))
    parts = _run(client, contact_chunk, tasks)
    isl = _concat([p[0] for p in parts])
    ground = _concat([p[1] for p in parts])
    isl = isl.sort_values(["start_s", "sat_a", "sat_b"], kind="stable", ignore_index=True)
    ground = ground.sort_values(["start_s", "station_id", "sat"], kind="stable",
                                ignore_index=True)
    rates = None
    if parts[0][2] is not None:
        rates = _concat([p[2] for p in parts])
        rates = rates.sort_values(["t_s", "sat_a", "sat_b"], kind="stable", ignore_index=True)
    misfits = [] if links is None else list(links.misfits)
    return contacts.ContactPlan(isl, ground, list(fleet.names),
                                [s.name for s in scenario.ground_stations], fleet.timebase,
                                "", False, {"compute_parallel": time.perf_counter() - t0},
                                rates, misfits)


# ------------------------------------------------------------------------- into the cache
def precompute_parallel(scenario, client=None, *, cache_dir=None,
                        chunk_sats: int | None = None) -> dict:
    """Compute the shadow intervals and the contact plan of ``scenario`` in chunks on
    ``client`` and store them in the geometry cache (``cache_dir``, ``$ORBSCHED_CACHE`` or
    ``~/.cache/orbsched``) under the keys of the one-process stages, so that
    :func:`orbsched.run.simulate` loads them.  Returns the wall time of each step (s).
    Needs ``network.cache: true``."""
    if not scenario.network.cache:
        raise ParallelGeometryError("network.cache is false: precomputed geometry would not "
                                    "be read by the run")
    t0 = time.perf_counter()
    fleet, resolved = build_constellation(scenario)
    t1 = time.perf_counter()
    geo = compute_geometry_parallel(resolved, client, chunk_sats=chunk_sats, fleet=fleet)
    inputs = stage.geometry_inputs(fleet, resolved)
    key = _cache.inputs_key(inputs)
    folder = _cache.entry_folder(_cache.cache_root(cache_dir), "geometry", key)
    _cache.save_intervals(folder, key, inputs, {k: getattr(geo, k) for k in stage._KINDS},
                          "geometry")
    t2 = time.perf_counter()
    plan = compute_contact_plan_parallel(fleet, resolved, client, chunk_sats=chunk_sats)
    p_inputs = contacts.plan_inputs(fleet, resolved)
    p_key = contacts.plan_key(p_inputs)
    p_folder = _cache.entry_folder(_cache.cache_root(cache_dir), "contacts", p_key)
    contacts._cache_save(p_folder, p_key, p_inputs, plan.isl_windows, plan.ground_windows,
                         plan.isl_rate_changes, plan.grid_misfits)
    return {"fleet": t1 - t0, "geometry": t2 - t1, "contact_plan": time.perf_counter() - t2}
