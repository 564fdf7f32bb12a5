"""The data of a replay: a results folder turned into compact per-frame arrays.

:func:`replay_data` reads a results folder and returns a JSON-able dict whose large arrays are
little-endian typed arrays in base64 (decoded by the page into ``Int16Array`` /
``Uint8Array`` / ``Float32Array`` / ``Int32Array`` without parsing numbers one by one).  Per
frame and satellite it holds 6 bytes: the sub-satellite point (int16 hundredths of a degree,
about 1 km), the illumination state and the load; 1,584 satellites x 1,441 frames (24 h at
60 s) make 13.7 MB of arrays, 18 MB in base64.

Where each piece comes from (all from the results folder unless said):

* positions: ``positions.parquet`` (``record.positions_s``) when it has every frame, else
  recomputed from ``scenario.yaml`` (:mod:`orbsched.geometry.positions`; needs the element-set files
  of a TLE/OMM scenario); the subsolar point always recomputed (cheap);
* illumination: the eclipse and umbra edges of ``events.parquet`` (exact, as the engine saw
  them): umbra, penumbra (in eclipse, not in umbra) or sunlit at each frame instant;
* load: each satellite's ``util`` from the per-satellite rows of ``timeseries.parquet`` (the
  mean over the sample interval that holds the frame; absent with
  ``record.per_satellite: false``, then the page says so);
* laser links: the link up/down events (``record.link_events``) or, without them, the ISL
  windows of the contact plan recomputed from the scenario (geometry: when a link *could* be
  up; faults that cut links are then not shown, and the page says which source it used);
* migrations: ``migration_start`` paired with the job's next ``migration_end`` or
  ``migration_failed``.  APPROXIMATION: the route a checkpoint took is not recorded; it is
  reconstructed as the shortest path by ground-track angle over the links up at the frame of
  the start.  The engine routes by light time over usable links (acquired) and may re-route
  a transfer, so a drawn route can differ from the engine's when two paths are nearly equal
  or a link changed during the transfer.  A migration to or from a ground data centre (host
  index >= the number of satellites: the ground stations in order) is drawn straight between
  the satellite and the station;
* marks: brownouts, battery floors, faults and failed migrations at their satellite;
* panels: the fleet rows of ``timeseries.parquet``; the queue (waiting, running, migrating)
  replayed from the job events at each frame; migrations started per sample interval.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import yaml
from numpy.typing import ArrayLike
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ..geometry.astro import TimeBase
from ..geometry.constellation import build_constellation
from ..geometry.contacts import compute_contact_plan
from ..geometry.positions import frame_times, subpoints, subsolar_points
from ..scenario.errors import DataFileError, OrbschedError
from ..scenario.schema import GeometryOptions, GroundStation, NetworkOptions, load_scenario
from ..scenario.sections import Datacentre, Hardware, RecordOptions
from ..scenario.utc import parse_utc
from .figures_io import read_summary

__all__ = ["MAX_SAT_FRAMES", "MARK_KINDS", "choose_frame_s", "illumination_states",
           "replay_data"]

#: Frames x satellites at most when the frame period is chosen automatically (about 20 MB of
#: HTML): a 24 h run of 1,584 satellites keeps 60 s frames, longer or larger runs get longer
#: frames (multiples of the base period).
MAX_SAT_FRAMES = 2_500_000
#: Event kinds drawn as marks on the map, in legend order.
MARK_KINDS = ("brownout", "battery_floor", "migration_failed", "sdc", "hbm_ue", "crash",
              "host_reboot", "gpu_fail", "satellite_fail", "rollback", "throttle")
#: Job event kinds kept for the job paths and the queue (codes are indices).
JOB_KINDS = ("job_arrival", "job_start", "job_pause", "migration_start", "migration_end",
             "migration_failed", "job_end", "group_reshape", "brownout")
STATUS = ("queued", "running", "migrating", "completed", "failed")
LOAD_UNKNOWN = 255


def _b64(a, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
                            .tobytes()).decode("ascii")


def choose_frame_s(duration_s: float, n_sats: int, base_s: float = 60.0,
                   max_sat_frames: int = MAX_SAT_FRAMES) -> float:
    """The smallest multiple of ``base_s`` whose frames x satellites stay within
    ``max_sat_frames`` (at least ``base_s``)."""
    k = 1
    while len(frame_times(duration_s, base_s * k)) * max(n_sats, 1) > max_sat_frames:
        k += 1
    return base_s * k


def illumination_states(events: pd.DataFrame, n_sats: int, t_s: ArrayLike) -> np.ndarray:
    """Illumination at the instants ``t_s`` from the edges in ``events``: uint8 (len(t_s),
    n_sats), 0 sunlit, 1 penumbra, 2 umbra.  An edge at exactly t counts as done at t."""
    t_s = np.asarray(t_s, float)
    kind = events["kind"].astype(str).to_numpy()
    span = float(t_s.max(initial=0.0)) + 1.0
    if len(events):
        span = max(span, float(events["t_s"].max()) + 1.0)

    def inside(entry, exit_):
        def keys(k):
            m = kind == k
            return np.sort(events["sat"].to_numpy(np.int64)[m] * span
                           + events["t_s"].to_numpy(float)[m])
        ent, ext = keys(entry), keys(exit_)
        base = np.broadcast_to(np.arange(n_sats) * span, (len(t_s), n_sats)).ravel()
        q = base + np.repeat(t_s, n_sats)
        n_in = np.searchsorted(ent, q, "right") - np.searchsorted(ent, base, "left")
        n_out = np.searchsorted(ext, q, "right") - np.searchsorted(ext, base, "left")
        return (n_in > n_out).reshape(len(t_s), n_sats)

    ecl = inside("eclipse_entry", "eclipse_exit")
    umb = inside("umbra_entry", "umbra_exit")
    return np.where(umb, 2, np.where(ecl, 1, 0)).astype(np.uint8)


# ----------------------------------------------------------------------------- reading
def _read(folder, name, columns=None):
    path = folder / name
    if not path.is_file():
        raise DataFileError(path, None, "missing from the results folder (written by "
                                        "orbsched run)")
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:                 # pyarrow raises several types for a bad file
        raise DataFileError(path, None, f"not a readable Parquet table ({exc})") from None


@dataclass
class _Fleet:
    """The fleet as far as a positions table tells it (names are not recorded there)."""

    names: list
    timebase: TimeBase

    def __len__(self):
        return len(self.names)


def _light_scenario(path, n_sats):
    """The sections of ``scenario.yaml`` the replay needs, each validated, and a fleet of
    ``n_sats`` numbered satellites: for a folder with ``positions.parquet`` whose scenario no
    longer loads whole (an element-set file moved).  No contact plan can be made from it."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        sc = SimpleNamespace(
            name=str(doc.get("name", "scenario")),
            duration_s=float(doc["duration_h"]) * 3600.0,
            record=RecordOptions(**(doc.get("record") or {})),
            network=NetworkOptions(**(doc.get("network") or {})),
            geometry=GeometryOptions(**(doc.get("geometry") or {})),
            hardware=Hardware(**(doc.get("hardware") or {})),
            ground_stations=[GroundStation(**g) for g in doc.get("ground_stations") or []],
            datacentres=[Datacentre(**d) for d in doc.get("datacentres") or []])
        start = parse_utc(doc["start_utc"], "start_utc")
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise DataFileError(path, None, f"cannot read the run's scenario for the replay "
                                        f"({exc})") from None
    return _Fleet([f"sat {i}" for i in range(n_sats)], TimeBase(start)), sc


def _fleet_and_scenario(folder):
    """The fleet and the resolved scenario, or (with a positions table) what of them the
    results folder itself holds; the second value says which ('scenario' or 'results')."""
    path = folder / "scenario.yaml"
    if not path.is_file():
        raise DataFileError(path, None, "missing: the replay needs the run's scenario")
    try:
        fleet, scenario = build_constellation(load_scenario(path))
        return fleet, scenario, "scenario"
    except OrbschedError as exc:
        table = folder / "positions.parquet"
        if not table.is_file():
            raise OrbschedError(f"{path}: cannot rebuild the fleet for the replay ({exc}); "
                                f"rerun with --set record.positions_s=60 to record "
                                f"positions.parquet in the results folder") from None
        sats = _read(folder, "positions.parquet", ["sat"])["sat"]
        fleet, scenario = _light_scenario(path, int(sats.max()) + 1 if len(sats) else 0)
        return fleet, scenario, "results"


def _positions(folder, fleet, scenario, t):
    """(lat, lon) (n_sats, n_frames) and the source's name."""
    path = folder / "positions.parquet"
    n = len(fleet)
    if path.is_file():
        pos = _read(folder, "positions.parquet")
        times = np.unique(pos["t_s"].to_numpy(float))
        k = np.searchsorted(times, t)
        k = np.clip(k, 0, len(times) - 1)
        if len(times) and np.all(np.abs(times[k] - t) < 1e-6) and \
                len(pos) == len(times) * n:
            lat = pos["lat_deg"].to_numpy(np.float64).reshape(len(times), n)[k].T
            lon = pos["lon_deg"].to_numpy(np.float64).reshape(len(times), n)[k].T
            return lat, lon, "positions.parquet"
    if isinstance(fleet, _Fleet):
        raise DataFileError(path, None, f"has not every frame every {t[1] - t[0]:g} s, and "
                                        f"the fleet cannot be rebuilt from scenario.yaml to "
                                        f"recompute them: use --frame-s with a multiple of "
                                        f"record.positions_s")
    lat, lon = subpoints(fleet, t, scenario.geometry.frame_node_s)
    return lat, lon, "recomputed from scenario.yaml"


def _links(events, fleet, scenario, duration_s):
    """Link intervals (a, b, start, end) and the source's name."""
    kind = events["kind"].astype(str)
    ev = events[kind.isin(["link_up", "link_down"])]
    n = len(fleet)
    if scenario.record.link_events:
        open_, rows = {}, []
        for t, k, a, b in zip(ev["t_s"].to_numpy(float), ev["kind"].astype(str),
                              ev["sat"].to_numpy(), ev["peer"].to_numpy()):
            if a >= n or b >= n:
                continue                     # ground links
            key = (min(a, b), max(a, b))
            if k == "link_up":
                open_.setdefault(key, t)
            elif key in open_:
                rows.append((*key, open_.pop(key), t))
        rows += [(*key, t0, duration_s) for key, t0 in open_.items()]
        arr = np.array(rows, float).reshape(-1, 4)
        return arr, "link events (record.link_events)"
    if scenario.network.topology == "none":
        return np.zeros((0, 4)), "none (network.topology: none)"
    if isinstance(fleet, _Fleet):
        return np.zeros((0, 4)), ("none (record.link_events is off and the contact plan "
                                  "cannot be made without the scenario's element sets)")
    plan = compute_contact_plan(fleet, scenario)
    w = plan.isl_windows
    arr = np.column_stack([w["sat_a"].to_numpy(float), w["sat_b"].to_numpy(float),
                           w["start_s"].to_numpy(float), w["end_s"].to_numpy(float)])
    return arr, "contact-plan windows (geometry; record.link_events is off)"


def _unit(lat, lon):
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)


def _migrations(events, links, lat, lon, t_frames, duration_s):
    """Migrations (t0, t1, src, dst, job, outcome) and their reconstructed routes."""
    kind = events["kind"].astype(str).to_numpy()
    m = np.isin(kind, ["migration_start", "migration_end", "migration_failed"])
    ev = events[m]
    pending, rows = {}, []
    for t, k, s, p, j in zip(ev["t_s"].to_numpy(float), kind[m], ev["sat"].to_numpy(),
                             ev["peer"].to_numpy(), ev["job_id"].to_numpy()):
        if k == "migration_start":
            pending[j] = len(rows)
            rows.append([t, duration_s, s, p, j, 2])          # 2: still under way at the end
        elif j in pending:
            r = rows[pending.pop(j)]
            r[1], r[5] = t, (1 if k == "migration_end" else 0)
    mig = np.array(rows, float).reshape(-1, 6)
    n = lat.shape[0]
    frame = np.clip(np.searchsorted(t_frames, mig[:, 0], "right") - 1, 0, len(t_frames) - 1)
    order = np.argsort(frame, kind="stable")
    bounds = np.flatnonzero(np.diff(frame[order])) + 1
    routes = {}
    for todo in np.split(order, bounds) if len(order) else []:
        f = frame[todo[0]]
        t = t_frames[f]
        up = links[(links[:, 2] <= t) & (links[:, 3] > t), :2].astype(np.int64) \
            if len(links) else np.zeros((0, 2), np.int64)
        s_all, d_all = mig[todo, 2].astype(np.int64), mig[todo, 3].astype(np.int64)
        keep = (s_all >= 0) & (s_all < n) & (d_all >= 0) & (d_all < n)
        todo, s_all, d_all = todo[keep], s_all[keep], d_all[keep]
        if len(up) == 0 or len(todo) == 0:
            continue
        u = _unit(lat[:, f], lon[:, f])
        a, b = up[:, 0], up[:, 1]
        w = np.arccos(np.clip(np.einsum("ij,ij->i", u[a], u[b]), -1, 1)) + 1e-9
        g = csr_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
        # first searches stop at 3x the longest direct angle of this frame's moves (+grid
        # detours stay within it), the few destinations not reached are searched again without
        # a limit.  Starlink shell 1's day: the same 47,315 routes, this function 10.5 s ->
        # 4.5 s (shared machine)
        direct = np.arccos(np.clip(np.einsum("ij,ij->i", u[s_all], u[d_all]), -1, 1))
        limit = min(np.pi, 3.0 * float(direct.max()) + 0.05)
        for lim in (limit, np.inf):
            found = _walk_back(g, s_all, d_all, lim)
            for k, path in found.items():
                routes[int(todo[k])] = path
            left = np.setdiff1d(np.arange(len(todo)), np.array(list(found), dtype=np.int64))
            if not len(left) or lim == np.inf:
                break
            todo, s_all, d_all = todo[left], s_all[left], d_all[left]
    route_flat, offsets = [], [0]
    for i in range(len(mig)):
        route_flat += routes.get(i) or [int(mig[i, 2]), int(mig[i, 3])]
        offsets.append(len(route_flat))
    return mig, np.array(route_flat, np.int64), np.array(offsets, np.int64), len(routes)


def _walk_back(g, s_all, d_all, limit):
    """Shortest paths over ``g`` from each ``s_all[k]`` to ``d_all[k]`` (searches cut at
    ``limit``): {k: [nodes from source to destination]} for the pairs reached."""
    n = g.shape[0]
    src, row = np.unique(s_all, return_inverse=True)
    _, pred = dijkstra(g, directed=True, indices=src, return_predecessors=True, limit=limit)
    # walk every destination back to its source at once (predecessor -9999: not reached)
    cur = d_all.copy()
    trail = [cur.copy()]
    hops = np.where(cur == s_all, 0, -1)
    for step in range(1, n + 1):
        go = hops < 0
        if not go.any():
            break
        cur[go] = np.maximum(pred[row[go], cur[go]], -1)
        trail.append(cur.copy())
        hops[go & (cur == s_all)] = step
        hops[go & (cur < 0)] = -2
    trail = np.array(trail)
    return {int(k): trail[:hops[k] + 1, k][::-1].tolist() for k in np.flatnonzero(hops >= 0)}


def _queue(events, t_frames):
    """Jobs waiting, running and migrating at each frame (from the job events)."""
    kind = events["kind"].astype(str).to_numpy()
    to_state = {"job_arrival": 0, "job_start": 1, "job_pause": 0, "migration_start": 2,
                "migration_end": 1, "migration_failed": 0, "job_end": 3}
    m = np.isin(kind, list(to_state))
    state, times, deltas = {}, [], []
    for t, k, j in zip(events["t_s"].to_numpy(float)[m], kind[m],
                       events["job_id"].to_numpy()[m]):
        if j < 0:
            continue
        new = to_state[k]
        old = state.get(j, -1)
        if new == old:
            continue
        state[j] = new
        d = np.zeros(3)
        if 0 <= old < 3:
            d[old] -= 1
        if new < 3:
            d[new] += 1
        times.append(t)
        deltas.append(d)
    if not times:
        return np.zeros((3, len(t_frames)), np.int32)
    cum = np.cumsum(np.array(deltas), axis=0)
    k = np.searchsorted(np.array(times), t_frames, "right") - 1
    out = np.where(k[:, None] >= 0, cum[np.maximum(k, 0)], 0.0)
    return np.rint(out.T).astype(np.int32)


def _sample_series(folder, n, summary):
    """Fleet series and, when recorded, each satellite's util and soc per sample."""
    ts = _read(folder, "timeseries.parquet", ["t_s", "sat", "util", "util_sunlit",
                                             "util_penumbra", "util_umbra", "soc", "soc_min"])
    fleet = ts[ts["sat"] == -1].sort_values("t_s", kind="stable")
    per = ts[ts["sat"] >= 0]
    t = fleet["t_s"].to_numpy(float)
    out = {"t": t, "fleet": fleet}
    if len(per) == len(t) * n and n > 0:
        per = per.sort_values(["t_s", "sat"], kind="stable")
        out["util"] = per["util"].to_numpy(float).reshape(len(t), n)
        out["soc"] = per["soc"].to_numpy(float).reshape(len(t), n)
    return out


def _q8(x, scale=250.0):
    """Fractions in [0, 1] as uint8 x 250 (NaN -> LOAD_UNKNOWN)."""
    x = np.asarray(x, float)
    q = np.rint(np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.02) * scale)
    return np.where(np.isfinite(x), q, LOAD_UNKNOWN).astype(np.uint8)


def replay_data(folder: str | Path, frame_s: float | None = None) -> dict:
    """The replay of a results folder (module docstring) as a JSON-able dict.

    ``frame_s``: the frame period in s (default: the positions table's period, else 60 s,
    lengthened to a multiple of it until frames x satellites <= :data:`MAX_SAT_FRAMES`)."""
    folder = Path(folder)
    summary = read_summary(folder)
    fleet, scenario, fleet_src = _fleet_and_scenario(folder)
    n = len(fleet)
    if summary.get("n_sats") not in (None, n):
        raise DataFileError(folder / "scenario.yaml", None,
                            f"rebuilds {n} satellites, the run had {summary['n_sats']}")
    duration_s = scenario.duration_s
    notes = [] if fleet_src == "scenario" else [
        "the scenario's fleet could not be rebuilt (an element-set file is missing): "
        "satellites are numbered, positions come from positions.parquet"]
    if frame_s is None:
        frame_s = choose_frame_s(duration_s, n, scenario.record.positions_s or 60.0)
    t = frame_times(duration_s, frame_s)
    lat, lon, pos_src = _positions(folder, fleet, scenario, t)
    sun_lat, sun_lon = subsolar_points(fleet.timebase, t)
    events = _read(folder, "events.parquet")
    jobs = _read(folder, "jobs.parquet", ["job_id", "name", "gpus", "arrival_s",
                                         "first_start_s", "end_s", "status", "sat"])
    state = illumination_states(events, n, t)
    series = _sample_series(folder, n, summary)
    if "util" in series:
        k = np.clip(np.searchsorted(series["t"], t, "left"), 0, len(series["t"]) - 1)
        load = _q8(series["util"][k])
    else:
        load = np.full((len(t), n), LOAD_UNKNOWN, np.uint8)
        notes.append("per-satellite load not recorded (record.per_satellite: false): no rings")
    links, link_src = _links(events, fleet, scenario, duration_s)
    links[links[:, 3] >= duration_s, 3] = np.inf      # still up at the end: drawn at the last frame
    mig, route, route_off, n_routed = _migrations(events, links, lat, lon, t, duration_s)
    queue = _queue(events, t)

    kind = events["kind"].astype(str).to_numpy()
    mk = np.isin(kind, MARK_KINDS) & (events["sat"].to_numpy() >= 0) & \
        (events["sat"].to_numpy() < n)
    mark_code = {k: i for i, k in enumerate(MARK_KINDS)}
    jk = np.isin(kind, JOB_KINDS) & (events["job_id"].to_numpy() >= 0)
    job_code = {k: i for i, k in enumerate(JOB_KINDS)}
    fl = series["fleet"]
    ts_t = series["t"]
    started = events["t_s"].to_numpy(float)[kind == "migration_start"]
    edges = np.r_[0.0, ts_t] if len(ts_t) else np.array([0.0, duration_s])
    mig_bins = np.histogram(started, edges)[0] if len(edges) > 1 else np.zeros(0)
    status = jobs["status"].astype(str).to_numpy()
    stations = [{"name": g.name, "lat": g.lat_deg, "lon": (g.lon_deg + 180.0) % 360.0 - 180.0,
                 "dc": next((d.name for d in scenario.datacentres if d.station == g.name), "")}
                for g in scenario.ground_stations]
    floor = (summary.get("battery") or {}).get("floor_soc")
    meta = {
        "title": f"{summary.get('scenario', scenario.name)} - policy "
                 f"{summary.get('policy', '?')} - seed {summary.get('seed', '?')}",
        "start_utc": str(fleet.timebase.iso_utc(np.array([0.0]), places=0)[0]),
        "duration_s": duration_s, "frame_s": float(frame_s), "n_frames": len(t), "n_sats": n,
        "gpus_per_sat": int(summary.get("gpus_per_sat") or scenario.hardware.gpus),
        "floor_soc": floor if isinstance(floor, (int, float)) and math.isfinite(floor)
        else None,
        "positions": pos_src, "links": link_src, "routes_reconstructed": int(n_routed),
        "sample_s": float(scenario.record.sample_s), "per_satellite": "util" in series,
        "mark_kinds": list(MARK_KINDS), "job_kinds": list(JOB_KINDS), "status": list(STATUS),
        "notes": notes, "utilisation": summary.get("utilisation"),
    }
    st_code = {s: i for i, s in enumerate(STATUS)}
    data: dict[str, Any] = {
        "meta": meta, "names": list(fleet.names), "stations": stations,
        "t": _b64(t, np.float64),
        "sun": _b64(np.column_stack([sun_lat, sun_lon]), np.float32),
        "pos": _b64(np.rint(np.stack([lat.T, ((lon.T + 180.0) % 360.0) - 180.0], -1) * 100.0),
                    np.int16),
        "state": _b64(state, np.uint8), "load": _b64(load, np.uint8),
        "links": _b64(links[:, :2], np.int32), "link_t": _b64(links[:, 2:], np.float32),
        "mig": _b64(mig[:, 2:6], np.int32), "mig_t": _b64(mig[:, :2], np.float64),
        "route": _b64(route, np.int32), "route_off": _b64(route_off, np.int32),
        "marks": _b64(np.column_stack([events["sat"].to_numpy()[mk],
                                       [mark_code[k] for k in kind[mk]]]), np.int32),
        "mark_t": _b64(events["t_s"].to_numpy(float)[mk], np.float64),
        "jev": _b64(np.column_stack([events["job_id"].to_numpy()[jk],
                                     [job_code[k] for k in kind[jk]],
                                     events["sat"].to_numpy()[jk],
                                     events["peer"].to_numpy()[jk]]), np.int32),
        "jev_t": _b64(events["t_s"].to_numpy(float)[jk], np.float64),
        "jobs": _b64(np.column_stack([jobs["job_id"].to_numpy(), jobs["gpus"].to_numpy(),
                                      [st_code.get(s, 0) for s in status],
                                      jobs["sat"].to_numpy()]), np.int32),
        "job_t": _b64(jobs[["arrival_s", "first_start_s", "end_s"]].to_numpy(float),
                      np.float64),
        "queue": _b64(queue.T, np.int32),
        "series": {"t": _b64(ts_t, np.float64),
                   "fleet": _b64(fl[["util_sunlit", "util_penumbra", "util_umbra", "soc",
                                     "soc_min"]].to_numpy(float), np.float32),
                   "mig_bins": _b64(mig_bins, np.int32)},
    }
    if "util" in series:
        data["series"]["sat_util"] = _b64(_q8(series["util"]), np.uint8)
        data["series"]["sat_soc"] = _b64(_q8(series["soc"]), np.uint8)
    return data
