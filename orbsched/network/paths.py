"""Paths and round-trip times as a product: ``orbsched paths`` and :func:`paths`.

For each instant ``t = 0, step_s, 2 step_s, ... < duration_s`` and each requested pair of
nodes, the shortest light-time route over the links up at ``t``, with every link's length at
``t``, and its round-trip time.  Nothing here simulates: it reads the geometry stage's
products (the contact plan's windows, :mod:`orbsched.geometry.contacts`; the grid ephemeris for the
lengths, :mod:`orbsched.geometry.ephemeris`), both through the on-disk cache.

Nodes
    Satellites ``0 .. N-1`` in fleet order, ground stations ``N + k`` for the k-th entry of
    ``ground_stations`` (the numbering of :class:`orbsched.network.laser.LaserNetwork`).  A pair's
    ends are given as station names, satellite names or node numbers.

Links up at ``t``
    A window of the contact plan that holds ``t`` (``start_s <= t < end_s``), once its
    ``network.acquisition_s`` has passed (``start_s + acquisition_s <= t``; a window under way
    when the span began counts as acquired): laser links of the topology (``+grid``, ``file``,
    ``nearest-k``...) and ground links within each station's rules (elevation mask and slant
    range, :mod:`orbsched.geometry.ground_passes`).  Window edges are refined to a tenth of the step
    (at most the plan's usual 0.1 s, at least 1 ms: ``tol_s``), so within that of an edge a
    link may be counted up or down a little early or late.

Routes
    Dijkstra (``scipy.sparse.csgraph``) on light time plus 1 ns per hop (the tie-breaker of
    :mod:`orbsched.network.laser`), over laser links; ground stations are endpoints only (a route
    never passes through a station: the terrestrial backbone is not modelled), unless
    ``relay_via_ground``.  Links are symmetric, so the route back is the route there
    reversed: ``rtt_ms`` = 2 x the route's light time (exact lengths at ``t``, no hop cost), in
    ms.  Lengths come from the grid positions by cubic Hermite interpolation (below 1 m at a
    60 s grid: 7 ns of round trip).

Output, one row per instant and pair: ``t_s, src, dst`` (the ends as given), ``reachable``,
``rtt_ms`` (NaN when unreachable), ``hops`` (-1 when unreachable), ``path_ids`` (the route's
nodes joined by ``-``, empty when unreachable).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..geometry.constellation import build_constellation
from ..geometry.contacts import DEFAULT_TOL_S, compute_contact_plan
from ..geometry.ephemeris import compute_ephemeris
from ..scenario.constants import SPEED_OF_LIGHT_KM_S
from ..scenario.errors import ScenarioError
from ..scenario.schema import load_scenario

__all__ = ["paths", "write_paths", "PATH_COLUMNS"]

#: Columns of the table :func:`paths` returns.
PATH_COLUMNS = ["t_s", "src", "dst", "reachable", "rtt_ms", "hops", "path_ids"]
_HOP_COST_S = 1e-9     # as orbsched.network.laser.HOP_COST_S
_NO_PRED = -9999


def _node(label, names, stations):
    """Node number of a pair's end: a station name, a satellite name or a number."""
    if isinstance(label, (bool, np.bool_)):
        raise ScenarioError(f"--pair: {label!r} is not a node")
    n = len(names)
    text = str(label).strip()
    if text in stations:
        return n + stations.index(text)
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < n + len(stations):
        return int(text)
    raise ScenarioError(f"--pair: {label!r} is neither a ground station "
                        f"({', '.join(stations) or 'none'}), a satellite name (e.g. "
                        f"{names[0]!r}) nor a node number 0..{n + len(stations) - 1}")


def _links(plan, n_sats, acquisition_s):
    """All windows as arrays ``(a, b, on_s, off_s)``: the link counts from ``on_s`` (its
    window's start plus the acquisition, unless it was under way at the span's start)."""
    parts = []
    for table, is_ground in ((plan.isl_windows, False), (plan.ground_windows, True)):
        if table is None or not len(table):
            continue
        start = table["start_s"].to_numpy(dtype=float)
        clipped = table["start_clipped"].to_numpy(dtype=bool) \
            if "start_clipped" in table.columns else np.zeros(len(table), bool)
        on = np.where(clipped, start, start + acquisition_s)
        if is_ground:
            a = table["station_id"].to_numpy(dtype=np.int64) + n_sats
            b = table["sat"].to_numpy(dtype=np.int64)
        else:
            a = table["sat_a"].to_numpy(dtype=np.int64)
            b = table["sat_b"].to_numpy(dtype=np.int64)
        parts.append((a, b, on, table["end_s"].to_numpy(dtype=float)))
    if not parts:
        z = np.zeros(0, np.int64)
        return z, z.copy(), np.zeros(0), np.zeros(0)
    return tuple(np.concatenate(x) for x in zip(*parts))


def _route(dist, pred, w_in, src, dst):
    """(light-time distance, node list) of the route src -> dst from one Dijkstra row, or
    (inf, None); ``w_in``: the edges into ground nodes ``(from, to, weight)``."""
    if dst in w_in:                       # a ground destination: through its best neighbour
        frm, w = w_in[dst]
        if dst == src:
            return 0.0, [src]
        cand = dist[frm] + w
        if not len(cand) or not np.isfinite(cand.min()):
            return math.inf, None
        k = int(np.argmin(cand))
        last, d = int(frm[k]), float(cand[k])
        path = [dst]
        node = last
    else:
        d = float(dist[dst])
        if not np.isfinite(d):
            return math.inf, None
        path = []
        node = dst
    while node != src:
        path.append(node)
        node = int(pred[node])
        if node == _NO_PRED:   # pragma: no cover - a finite distance implies a chain
            return math.inf, None
    path.append(src)
    return d, path[::-1]


def paths(scenario, pairs, step_s, duration_s=None, *, cache_dir=None,
          relay_via_ground=False, progress=None, tol_s=None):
    """Routes and round-trip times over time (see the module docstring) as a DataFrame.

    Args:
        scenario: a :class:`orbsched.scenario.schema.Scenario` or the path of a scenario YAML file.
        pairs: ``[(a, b), ...]``, each end a ground-station name, a satellite name or a node
            number (satellites 0..N-1, stations N..).
        step_s: time between instants, s (> 0).
        duration_s: instants before this (default the scenario's span; at most the span).
        cache_dir: the geometry cache (default ``$ORBSCHED_CACHE`` or ``~/.cache/orbsched``).
        relay_via_ground: let routes pass through ground stations.
        progress: optional callable ``progress(n_instants_done)``.
        tol_s: window edge tolerance (default ``step_s / 10`` within 0.001 .. 0.1 s).
    """
    import pandas as pd

    if isinstance(scenario, (str, Path)):
        scenario = load_scenario(scenario)
    step_s = float(step_s)
    if not (math.isfinite(step_s) and step_s > 0):
        raise ScenarioError(f"--step-s must be a finite number > 0, got {step_s}")
    span = float(scenario.duration_s)
    duration_s = span if duration_s is None else float(duration_s)
    if not (math.isfinite(duration_s) and 0 < duration_s <= span + 1e-9):
        raise ScenarioError(f"--duration-s must be in (0, {span:g}] s (the scenario's span), "
                            f"got {duration_s}")
    pairs = [tuple(p) for p in pairs]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ScenarioError("give at least one pair of nodes, e.g. --pair Manila Dalian")
    fleet, resolved = build_constellation(scenario)
    names = list(fleet.names)
    stations = [s.name for s in resolved.ground_stations]
    n, n_nodes = len(names), len(names) + len(stations)
    ends = [(_node(a, names, stations), _node(b, names, stations)) for a, b in pairs]
    tol_s = min(max(step_s / 10.0, 1e-3), DEFAULT_TOL_S) if tol_s is None else float(tol_s)
    plan = compute_contact_plan(fleet, resolved, cache_dir=cache_dir, tol_s=tol_s)
    eph = compute_ephemeris(fleet, resolved, cache_dir)
    la, lb, on, off = _links(plan, n, float(resolved.network.acquisition_s))
    sources = sorted({s for s, _ in ends})
    row_of = {s: i for i, s in enumerate(sources)}
    t_all = np.arange(int(math.ceil(duration_s / step_s - 1e-9))) * step_s
    cols = {c: [] for c in PATH_COLUMNS}
    for i, t in enumerate(t_all.tolist()):
        up = (on <= t) & (t < off)
        a, b = la[up], lb[up]
        if len(a):       # overlapping windows of one pair: one link
            key = np.unique(np.minimum(a, b) * n_nodes + np.maximum(a, b))
            a, b = np.divmod(key, n_nodes)
        light = eph.range_km(a, b, t) / SPEED_OF_LIGHT_KM_S
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        w = np.concatenate([light, light]) + _HOP_COST_S
        w_in = {}
        if not relay_via_ground:
            into_g = dst >= n
            for g in np.unique(dst[into_g]).tolist():
                m = into_g & (dst == g)
                w_in[g] = (src[m], w[m])
            src, dst, w = src[~into_g], dst[~into_g], w[~into_g]
        m = sparse.csr_matrix((w, (src, dst)), shape=(n_nodes, n_nodes))
        dist, pred = csgraph.dijkstra(m, directed=True, indices=sources,
                                      return_predecessors=True)
        for (sa, sb), (la_, lb_) in zip(ends, pairs):
            r = row_of[sa]
            d, path = _route(dist[r], pred[r], w_in, sa, sb)
            cols["t_s"].append(t)
            cols["src"].append(str(la_))
            cols["dst"].append(str(lb_))
            if path is None:
                cols["reachable"].append(False)
                cols["rtt_ms"].append(math.nan)
                cols["hops"].append(-1)
                cols["path_ids"].append("")
                continue
            one_way = eph.path_length_km(path, t) / SPEED_OF_LIGHT_KM_S
            cols["reachable"].append(True)
            cols["rtt_ms"].append(2.0 * one_way * 1e3)
            cols["hops"].append(len(path) - 1)
            cols["path_ids"].append("-".join(str(x) for x in path))
        if progress is not None:
            progress(i + 1)
    return pd.DataFrame({"t_s": np.asarray(cols["t_s"], dtype=float),
                         "src": pd.Series(cols["src"], dtype=object),
                         "dst": pd.Series(cols["dst"], dtype=object),
                         "reachable": np.asarray(cols["reachable"], dtype=bool),
                         "rtt_ms": np.asarray(cols["rtt_ms"], dtype=float),
                         "hops": np.asarray(cols["hops"], dtype=np.int64),
                         "path_ids": pd.Series(cols["path_ids"], dtype=object)})


def write_paths(table, out):
    """Write a :func:`paths` table to ``out`` (``.parquet`` or ``.csv``, atomically)."""
    from ..files import atomic_write, atomic_write_csv

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        return atomic_write_csv(out, table)
    if suffix == ".parquet":
        return atomic_write(out, lambda tmp: table.to_parquet(tmp, index=False))
    raise ScenarioError(f"--out {out}: expected a .parquet or .csv file name")
