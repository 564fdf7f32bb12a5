"""The contact plan: when each laser link and each ground link exists, cached on disk.

``compute_contact_plan(fleet, scenario)`` walks the scenario's grid (``step_s``) in chunks of
time (memory stays bounded by ``geometry.chunk_mb``):

* ISL windows ``(sat_a, sat_b, start_s, end_s)``: at each grid instant the topology
  (:class:`orbsched.geometry.visibility.LinkSelector`) picks the links.  An edge caused by
  visibility (range or grazing height) is refined by bisection to ``tol_s`` (default 0.1 s) on cubic
  Hermite interpolations of both satellites' positions and velocities between the two grid points
  (as :mod:`orbsched.geometry.illumination` does for eclipses; the position error is below 1 m for
  LEO and a 60 s grid).  An edge caused by a topology decision (a nearest-k link being chosen) lies
  on the grid instant of the decision.  ``range_start_km`` is the distance at the start,
  ``range_min_km`` the smallest distance seen at the start and at the grid instants inside the
  window (the true minimum between grid points can be a little smaller).
  Simplification: a pair visible only between two grid points (a window shorter than the grid
  step) is not found for the ISL topologies.
* ISL rates (``network.isl_rate``): with the ``constant`` model ``rate_gbps`` is NaN (the
  network's ``bandwidth_gbps`` applies).  With ``near_far`` it is the rate at the window's start
  distance, and the rate-change table ``isl_rate_changes`` ``(t_s, sat_a, sat_b, rate_gbps,
  range_km)`` follows each link inside its window: at every grid instant where the rate
  differs from the last one recorded for that link (the window's ``rate_gbps`` or an earlier
  change) by more than ``rate_tol`` (relative), a row gives the new rate and the range there.
  Between rows the rate is held, so it is within ``rate_tol`` of the model at every grid
  instant (between grid points the distance can move a little further).  With ``constant`` the
  table is None.
* Ground windows ``(station, sat, start_s, end_s, max_elevation_deg)``: every satellite above a
  station's mask and, with a slant-range limit, within it (:mod:`orbsched.geometry.ground_passes`:
  per station or the network's defaults, both rules hold when both are given); edges refined the
  same way (station positions from skyfield's ITRS frame, exact at grid points and interpolated
  between them: :class:`~orbsched.geometry.visibility.EarthRotation`); passes that start and end
  between two grid points are searched for around local maxima (golden section) as for grazing
  eclipses; the maximum elevation is refined by golden section around each grid maximum.  Elevations
  are geometric (no refraction).
* Fixed link lists: ``+grid`` for any fleet and ``file`` (``network.isl_file``) come from
  :mod:`orbsched.geometry.topology`; satellites an inferred grid leaves out are
  ``plan.grid_misfits`` (``grid_misfits.csv``).  An ISL file's ``rate_gbps`` fills the windows'
  ``rate_gbps``.

Windows still open at the end of the span end there (``end_clipped``); windows under way at
the start begin at 0 (``start_clipped``).

The plan is cached (Parquet) under ``cache_dir``, ``$ORBSCHED_CACHE`` or ``~/.cache/orbsched``
(``contacts/<key[:32]>``), keyed by a SHA-256 of everything that determines it
(:func:`plan_key`), when ``network.cache`` is true; :mod:`orbsched.geometry.cache` holds the helpers
it shares with the shadow and SAA interval caches.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import atomic_write_csv
from ..scenario.errors import ScenarioError
from . import topology, visibility
from .cache import (
    CacheError,  # noqa: F401  (re-exported: orbsched.geometry.contacts.CacheError)
    cache_root,
    discard_entry,
    entry_folder,
    file_sha256,
    inputs_key,
    open_entry,
    save_entry,
    span_inputs,
)
from .ground_passes import GROUND_COLUMNS, GroundSearch, ground_search_margin  # noqa: F401  (re-exported)
from .illumination import _grid
from .links import isl_rate_gbps
from .search import find_roots, hermite

CONTACTS_FORMAT = 3          # bump when the tables' meaning or columns change (2: ISL rates;
#                              3: ground range limits, ISL files, +grid for any fleet)
DEFAULT_TOL_S = 0.1          # edge refinement tolerance (the issue asks for 1 s or better)
#: Columns of ``grid_misfits.csv``: satellites an inferred +grid left out.
MISFIT_COLUMNS = ["sat_id", "name", "reason"]


ISL_COLUMNS = ["sat_a", "sat_b", "start_s", "end_s", "range_start_km", "range_min_km",
               "rate_gbps", "start_clipped", "end_clipped"]
#: Rate changes of ISLs inside their windows (``network.isl_rate.model: near_far``).
RATE_COLUMNS = ["t_s", "sat_a", "sat_b", "rate_gbps", "range_km"]


# ------------------------------------------------------------------------------------ plan
@dataclass
class ContactPlan:
    """ISL and ground windows (pandas DataFrames; times in s since the run's start)."""

    isl_windows: object
    ground_windows: object
    sat_names: list
    station_names: list
    timebase: object
    key: str = ""
    from_cache: bool = False
    timings_s: dict = field(default_factory=dict)
    #: Rate changes inside ISL windows (:data:`RATE_COLUMNS`), or None (constant rate model).
    isl_rate_changes: object = None
    #: ``(sat_id, name, reason)`` of satellites an inferred ``+grid`` left out
    #: (:mod:`orbsched.geometry.topology`).
    grid_misfits: list = field(default_factory=list)

    def _iso(self, t_s):
        return self.timebase.iso_utc(np.asarray(t_s, dtype=float), places=3)

    def isl_table(self):
        """ISL windows with satellite names and ISO-8601 UTC times."""
        df = self.isl_windows.copy()
        names = np.array(self.sat_names, dtype=object)
        df.insert(2, "name_a", names[df.sat_a.to_numpy()] if len(df) else [])
        df.insert(3, "name_b", names[df.sat_b.to_numpy()] if len(df) else [])
        df["start_utc"] = self._iso(df.start_s) if len(df) else []
        df["end_utc"] = self._iso(df.end_s) if len(df) else []
        df["duration_s"] = (df.end_s - df.start_s).round(3)
        return df

    def ground_table(self):
        """Ground windows with satellite names and ISO-8601 UTC times."""
        df = self.ground_windows.copy()
        names = np.array(self.sat_names, dtype=object)
        df.insert(3, "sat_name", names[df.sat.to_numpy()] if len(df) else [])
        df["start_utc"] = self._iso(df.start_s) if len(df) else []
        df["end_utc"] = self._iso(df.end_s) if len(df) else []
        df["duration_s"] = (df.end_s - df.start_s).round(3)
        return df

    def rate_table(self):
        """ISL rate changes with satellite names and ISO-8601 UTC times (None: constant)."""
        if self.isl_rate_changes is None:
            return None
        df = self.isl_rate_changes.copy()
        names = np.array(self.sat_names, dtype=object)
        df.insert(3, "name_a", names[df.sat_a.to_numpy()] if len(df) else [])
        df.insert(4, "name_b", names[df.sat_b.to_numpy()] if len(df) else [])
        df["utc"] = self._iso(df.t_s) if len(df) else []
        return df

    def write_tables(self, out_dir):
        """Write ``isl_windows.csv``, ``ground_windows.csv`` and, with a distance-dependent
        ISL rate, ``isl_rate_changes.csv`` (atomically); return the paths."""

        out = Path(out_dir)
        paths = [atomic_write_csv(out / "isl_windows.csv", self.isl_table()),
                 atomic_write_csv(out / "ground_windows.csv", self.ground_table())]
        if self.isl_rate_changes is not None:
            paths.append(atomic_write_csv(out / "isl_rate_changes.csv", self.rate_table()))
        if self.grid_misfits:
            import pandas as pd

            paths.append(atomic_write_csv(out / "grid_misfits.csv", pd.DataFrame(
                self.grid_misfits, columns=MISFIT_COLUMNS)))
        return paths


# ------------------------------------------------------------------------------------ cache
# (the helpers are shared with the shadow and SAA interval caches: orbsched/cache.py;
# CacheError and cache_root stay importable from here)
def plan_inputs(fleet, scenario, tol_s=DEFAULT_TOL_S):
    """Everything that determines the contact plan, as a JSON-able dict (the cache key's input).

    Element-set files enter by the SHA-256 of their bytes (not their path).  Network options
    that do not change the tables (bandwidths, acquisition delay, cache switch) are left out;
    the ISL rate model is in (it fills ``rate_gbps`` and the rate-change table).
    """
    net = scenario.network
    isl_file = None
    if net.isl_file is not None:
        try:
            isl_file = file_sha256(net.isl_file)
        except OSError as exc:
            raise ScenarioError(f"network.isl_file: cannot read {net.isl_file} "
                                f"({exc.strerror})") from None
    return {
        "format": CONTACTS_FORMAT, **span_inputs(fleet, scenario, "contact-plan"),
        "earth_shape": scenario.geometry.earth_shape,
        "network": {**{k: getattr(net, k) for k in ("topology", "terminals", "grid_shift",
                                                    "max_range_km", "grazing_altitude_km",
                                                    "ground_horizon",
                                                    "ground_min_elevation_deg",
                                                    "ground_max_range_km")},
                    "isl_file_sha256": isl_file,
                    "isl_rate": net.isl_rate.model_dump(mode="json")},
        "ground_stations": [s.model_dump(mode="json") for s in scenario.ground_stations],
        "tol_s": float(tol_s),
    }


def plan_key(inputs):
    """SHA-256 (hex) of the canonical JSON of :func:`plan_inputs`."""
    return inputs_key(inputs)


def _cache_load(folder, key):
    import pandas as pd

    meta = open_entry(folder, key, "contact-plan")
    if meta is None:
        return None
    try:
        isl = pd.read_parquet(folder / "isl_windows.parquet")
        ground = pd.read_parquet(folder / "ground_windows.parquet")
        rates = (pd.read_parquet(folder / "isl_rate_changes.parquet")
                 if meta.get("rate_changes") else None)
    except (OSError, ValueError) as exc:
        discard_entry(folder, "contact-plan", f"verified, but a table is unreadable: {exc}")
        return None
    misfits = [tuple(m) for m in meta.get("grid_misfits") or []]
    return isl, ground, rates, misfits


def _cache_save(folder, key, inputs, isl, ground, rates=None, misfits=()):
    def write(tmp):
        isl.to_parquet(tmp / "isl_windows.parquet", index=False)
        ground.to_parquet(tmp / "ground_windows.parquet", index=False)
        if rates is not None:
            rates.to_parquet(tmp / "isl_rate_changes.parquet", index=False)

    save_entry(folder, key, inputs, write, "contact-plan", rate_changes=rates is not None,
               grid_misfits=[list(m) for m in misfits])


def _isl_margin_km(ra, rb, range_km, min_radius_km):
    """Continuous visibility margin of pairs (positive = visible): min(range - d, clearance -
    min_radius), clearance = distance of the segment a-b from the Earth's centre."""
    ab = rb - ra
    d2 = (ab * ab).sum(axis=1)
    t = np.clip(-(ra * ab).sum(axis=1) / np.where(d2 > 0, d2, 1.0), 0.0, 1.0)
    p = ra + t[:, None] * ab
    clear = np.sqrt((p * p).sum(axis=1))
    return np.minimum(range_km - np.sqrt(d2), clear - min_radius_km)


# ------------------------------------------------------------------------------ windows
class _Growing:
    """Columns that grow by appending arrays; ``col[idx] = ...`` updates by window id."""

    def __init__(self, **dtypes):
        self.cols = {k: np.zeros(1024, dt) for k, dt in dtypes.items()}
        self.n = 0

    def append(self, **vals):
        m = len(next(iter(vals.values())))
        if self.n + m > len(next(iter(self.cols.values()))):
            cap = max(2 * (self.n + m), 1024)
            for k, v in self.cols.items():
                w = np.zeros(cap, v.dtype)
                w[:self.n] = v[:self.n]
                self.cols[k] = w
        for k, v in vals.items():
            self.cols[k][self.n:self.n + m] = v
        ids = np.arange(self.n, self.n + m)
        self.n += m
        return ids

    def __getitem__(self, k):
        return self.cols[k]

    def frame(self, names):
        import pandas as pd

        return pd.DataFrame({k: self.cols[k][:self.n] for k in names})


def chunk_steps_for(n_sats, n_stations, chunk_mb):
    """Grid points per chunk so that positions, velocities and elevations fit in chunk_mb."""
    per_step = n_sats * 8 * (3 * 4 + 3 * max(n_stations, 1))
    return max(8, int(chunk_mb * 1e6 / per_step))


def compute_contact_plan(fleet, scenario, progress=None, cache_dir=None, tol_s=DEFAULT_TOL_S):
    """The contact plan of ``fleet`` over ``scenario``'s span (see the module docstring).

    ``scenario`` must be the resolved one returned with the fleet by
    :func:`orbsched.geometry.constellation.build_constellation`.  ``progress(n_steps)`` is called
    after each chunk.  With ``scenario.network.cache`` (default) the plan is loaded from, or saved
    to, the cache; ``plan.from_cache`` says which.
    """

    if not 0 < tol_s <= 1.0:
        raise ScenarioError(f"tol_s must be in (0, 1] s, got {tol_s}")
    t_start = time.perf_counter()
    inputs = plan_inputs(fleet, scenario, tol_s)
    key = plan_key(inputs)
    names = list(fleet.names)
    stations = list(scenario.ground_stations)
    st_names = [s.name for s in stations]
    use_cache = scenario.network.cache
    folder = entry_folder(cache_root(cache_dir), "contacts", key)
    if use_cache:
        hit = _cache_load(folder, key)
        if hit is not None:
            return ContactPlan(hit[0], hit[1], names, st_names, fleet.timebase, key, True,
                               {"load": time.perf_counter() - t_start}, hit[2], hit[3])
    isl, ground, rates, misfits = _compute(fleet, scenario, progress, tol_s)
    isl = isl.sort_values(["start_s", "sat_a", "sat_b"], kind="stable", ignore_index=True)
    ground = ground.sort_values(["start_s", "station_id", "sat"], kind="stable",
                                ignore_index=True)
    if rates is not None:
        rates = rates.sort_values(["t_s", "sat_a", "sat_b"], kind="stable", ignore_index=True)
    if use_cache:
        _cache_save(folder, key, inputs, isl, ground, rates, misfits)
    return ContactPlan(isl, ground, names, st_names, fleet.timebase, key, False,
                       {"compute": time.perf_counter() - t_start}, rates, misfits)


def fixed_links(fleet, scenario):
    """The fixed link list of a ``+grid`` or ``file`` topology (:mod:`orbsched.geometry.topology`),
    or None for the other topologies."""
    net = scenario.network
    if net.topology == "file":
        links = topology.read_isl_file(net.isl_file, fleet.names)
        if net.isl_rate.model != "constant" and np.isfinite(links.rate_gbps).any():
            raise ScenarioError(f"network.isl_file {net.isl_file}: rate_gbps applies with "
                                f"isl_rate.model constant, not {net.isl_rate.model}")
        return links
    if net.topology == "+grid":
        return topology.grid_links(fleet, scenario, net.grid_shift)
    return None


@dataclass
class PlanPart:
    """What a satellite chunk of a bigger fleet computes (:mod:`orbsched.geometry.parallel`):
    the fixed ``links`` among the chunk's satellites (indices into the chunk's fleet), the
    chunk's ``own`` satellites (sorted indices into it) whose ground windows it finds, and
    ``chunk``, the whole fleet's grid points per time chunk."""

    links: object
    own: np.ndarray
    chunk: int


def _compute(fleet, scenario, progress, tol_s, part=None):
    """ISL windows, ground windows, rate changes and grid misfits of ``fleet`` (indices of
    ``fleet``), or of the :class:`PlanPart` ``part`` of a bigger fleet."""
    n = len(fleet)
    stations = list(scenario.ground_stations)
    net = scenario.network
    node = scenario.geometry.frame_node_s
    duration = float(scenario.duration_s)
    t = _grid(duration, float(scenario.step_s))
    n_pts = len(t)
    if part is None:
        links = fixed_links(fleet, scenario)
        own = None
        chunk = chunk_steps_for(n, len(stations), scenario.geometry.chunk_mb)
    else:
        links, own, chunk = part.links, part.own, part.chunk
    selector = visibility.LinkSelector(net, n, scenario,
                                       None if links is None else (links.a, links.b))
    rmin = visibility.min_radius_km(net)
    site_itrs, up_itrs = visibility.station_itrs(stations, net.ground_horizon)
    sin_min = visibility.sin_min_elevation(stations, net.ground_min_elevation_deg)
    ground = GroundSearch(stations, n if own is None else len(own), site_itrs, up_itrs,
                          sin_min, visibility.max_range_km(stations, net.ground_max_range_km),
                          tol_s)

    win = _Growing(sat_a=np.int64, sat_b=np.int64, start_s=float, end_s=float,
                   range_start_km=float, range_min_km=float, rate_gbps=float, rate_last=float,
                   start_clipped=bool, end_clipped=bool)
    rate_fn = _rate_function(net)
    rate_tol = float(net.isl_rate.rate_tol)
    rates = ([], [], [], [], [])  # t_s, sat_a, sat_b, rate_gbps, range_km
    act_key = np.zeros(0, np.int64)  # active links, sorted keys a * n + b
    act_id = np.zeros(0, np.int64)
    prev_r = None  # positions at the last grid point of the previous chunk

    for a in range(0, n_pts, chunk):
        b = min(a + chunk, n_pts)  # grid points a..b-1 are stepped in this chunk
        lo = max(a - 1, 0)
        hi = min(b, n_pts - 1)  # one point of context on each side (for ground maxima)
        idx = np.arange(lo, hi + 1)
        tt = t[idx]
        r, v = fleet.propagate(tt, node)
        # --------------------------------------------------------------- ISL links
        starts_req, ends_req = [], []  # (window ids, local index of the left grid point)
        for k in range(a, b):
            kl = k - lo
            rk = np.ascontiguousarray(r[:, kl])
            la, lb, ld = selector.step(rk)
            key = la * n + lb
            if k == 0:
                ids = win.append(sat_a=la, sat_b=lb, start_s=np.zeros(len(la)),
                                 end_s=np.full(len(la), np.nan), range_start_km=ld,
                                 range_min_km=ld, start_clipped=np.ones(len(la), bool),
                                 end_clipped=np.zeros(len(la), bool))
                if rate_fn is not None:
                    win["rate_last"][ids] = rate_fn(ld)
                act_key, act_id = key, ids
                prev_r = rk
                continue
            cont_new = np.isin(key, act_key, assume_unique=True)
            cont_old = np.isin(act_key, key, assume_unique=True)
            # continuing: track the smallest grid range
            cid = act_id[cont_old]
            win["range_min_km"][cid] = np.minimum(win["range_min_km"][cid], ld[cont_new])
            if rate_fn is not None and len(cid):
                _rate_rows(win, rates, cid, t[k], ld[cont_new], rate_fn, rate_tol)
            # ended at k: refined if their pair is no longer visible, else at t[k]
            end_key, end_id = act_key[~cont_old], act_id[~cont_old]
            if len(end_key):
                ea, eb = np.divmod(end_key, n)
                vis, _ = selector.visible(rk, ea, eb)
                win["end_s"][end_id[vis]] = t[k]
                if (~vis).any():
                    ends_req.append((end_id[~vis], np.full((~vis).sum(), kl - 1)))
            # started at k
            sk = ~cont_new
            if sk.any():
                sa, sb, sd = la[sk], lb[sk], ld[sk]
                ids = win.append(sat_a=sa, sat_b=sb, start_s=np.full(len(sa), t[k]),
                                 end_s=np.full(len(sa), np.nan), range_start_km=sd,
                                 range_min_km=sd, start_clipped=np.zeros(len(sa), bool),
                                 end_clipped=np.zeros(len(sa), bool))
                if rate_fn is not None:
                    win["rate_last"][ids] = rate_fn(sd)
                if not selector.decides_starts:
                    was, _ = selector.visible(prev_r, sa, sb)
                    if (~was).any():
                        starts_req.append((ids[~was], np.full((~was).sum(), kl - 1)))
            # the new active set (keys sorted as the selector returns them)
            new_id = np.empty(len(key), np.int64)
            new_id[cont_new] = cid
            if sk.any():
                new_id[sk] = ids
            act_key, act_id = key, new_id
            prev_r = rk
        if rate_fn is not None and starts_req:
            # a refined start moves the window's initial range off the grid: the grid instant
            # after it gets a rate row if the rate there differs by more than the tolerance
            sid = np.concatenate([x[0] for x in starts_req])
            grid_t, grid_d = win["start_s"][sid].copy(), win["range_start_km"][sid].copy()
        _refine_isl(win, starts_req, ends_req, tt, r, v, net.max_range_km, rmin, tol_s)
        if rate_fn is not None and starts_req:
            r0 = rate_fn(win["range_start_km"][sid])
            r1 = rate_fn(grid_d)
            ch = np.abs(r1 - r0) > rate_tol * r0
            if ch.any():
                for col, vals in zip(rates, (grid_t[ch], win["sat_a"][sid[ch]],
                                             win["sat_b"][sid[ch]], r1[ch], grid_d[ch])):
                    col.append(vals)
        # --------------------------------------------------------------- ground
        if len(stations):
            ground.chunk(a, b, lo, n_pts, tt, r if own is None else r[own],
                         v if own is None else v[own],
                         visibility.EarthRotation(fleet.timebase, tt))
        if progress is not None:
            progress(b - a)
    # close the links still up at the end
    win["end_s"][act_id] = duration
    win["end_clipped"][act_id] = True
    m = win.n
    win["rate_gbps"][:m] = (rate_fn(win["range_start_km"][:m]) if rate_fn is not None
                            else np.nan)
    if links is not None and np.isfinite(links.rate_gbps).any():   # rates of an ISL file
        k = np.searchsorted(links.a * n + links.b, win["sat_a"][:m] * n + win["sat_b"][:m])
        win["rate_gbps"][:m] = links.rate_gbps[k]
    isl = win.frame(ISL_COLUMNS)
    rate_table = None
    if rate_fn is not None:
        import pandas as pd

        dtypes = (float, np.int64, np.int64, float, float)
        rate_table = pd.DataFrame({c: (np.concatenate(v) if v else np.zeros(0, dt)).astype(dt)
                                   for c, v, dt in zip(RATE_COLUMNS, rates, dtypes)})
    return isl, ground.windows(duration), rate_table, \
        ([] if links is None else list(links.misfits))


def _rate_function(net):
    """``f(range_km) -> rate_gbps`` of the ISL rate model, or None for the constant model."""
    if net.isl_rate.model == "constant":
        return None

    return lambda d: isl_rate_gbps(net.isl_rate, d)


def _rate_rows(win, rates, ids, t_s, d_km, rate_fn, tol):
    """Append a rate row for each window ``ids`` whose rate at ``d_km`` moved by more than
    ``tol`` (relative) from the last one recorded."""
    rn = rate_fn(d_km)
    last = win["rate_last"][ids]
    ch = np.abs(rn - last) > tol * last
    if ch.any():
        ci = ids[ch]
        win["rate_last"][ci] = rn[ch]
        for col, vals in zip(rates, (np.full(len(ci), t_s), win["sat_a"][ci], win["sat_b"][ci],
                                     rn[ch], d_km[ch])):
            col.append(vals)


def _refine_isl(win, starts_req, ends_req, tt, r, v, range_km, rmin, tol_s):
    """Bisect the visibility edges requested in this chunk (ids, local left grid index)."""
    for reqs, is_start in ((starts_req, True), (ends_req, False)):
        if not reqs:
            continue
        ids = np.concatenate([x[0] for x in reqs])
        kl = np.concatenate([x[1] for x in reqs])
        sa, sb = win["sat_a"][ids], win["sat_b"][ids]
        t0, t1 = tt[kl], tt[kl + 1]
        ra0, va0, ra1, va1 = r[sa, kl], v[sa, kl], r[sa, kl + 1], v[sa, kl + 1]
        rb0, vb0, rb1, vb1 = r[sb, kl], v[sb, kl], r[sb, kl + 1], v[sb, kl + 1]

        def margin(tau, sel=slice(None), t0=t0, t1=t1, ra0=ra0, va0=va0, ra1=ra1, va1=va1,
                   rb0=rb0, vb0=vb0, rb1=rb1, vb1=vb1):     # this pass's arrays, bound
            pa = hermite(t0[sel], t1[sel], ra0[sel], va0[sel], ra1[sel], va1[sel], tau)
            pb = hermite(t0[sel], t1[sel], rb0[sel], vb0[sel], rb1[sel], vb1[sel], tau)
            return _isl_margin_km(pa, pb, range_km, rmin)

        # a start: invisible at t0, visible at t1; an end: the reverse.  The edge is put on the
        # visible side of the final bracket (a window never includes an invisible instant)
        b_lo, b_hi = find_roots(margin, t0, t1, tol_s, np.full(len(ids), not is_start), True)
        root = b_hi if is_start else b_lo
        if is_start:
            win["start_s"][ids] = root
            pa = hermite(t0, t1, ra0, va0, ra1, va1, root)
            pb = hermite(t0, t1, rb0, vb0, rb1, vb1, root)
            d = np.sqrt(((pb - pa) ** 2).sum(axis=1))
            win["range_start_km"][ids] = d
            win["range_min_km"][ids] = np.minimum(win["range_min_km"][ids], d)
        else:
            win["end_s"][ids] = root
