"""Pure-numpy twins of the compiled kernels.

Each function here has the same name, signature and results as its Cython counterpart in
``orbsched/_kernels/*.pyx``; it is the oracle the compiled code is tested against (exact
agreement: same operations in the same order, no reductions whose order numpy may change) and
the baseline the benchmarks measure against.  ``orbsched._kernels`` picks one of the two.
"""
from __future__ import annotations

import math

import numpy as np

from ..scenario.errors import SubsystemError
from .reference_search import nearest_search


def _check_sat_grid(r_sat):
    """Satellite positions over time as C-contiguous float64 of shape (n_sats, n_times, 3)."""
    r_sat = np.ascontiguousarray(r_sat, dtype=np.float64)
    if r_sat.ndim != 3 or r_sat.shape[2] != 3:
        raise ValueError(f"r_sat must have shape (n_sats, n_times, 3), got {r_sat.shape}")
    return r_sat


def _check_shadow_args(r_sat, r_sun, pole):
    r_sat = _check_sat_grid(r_sat)
    r_sun = np.ascontiguousarray(r_sun, dtype=np.float64)
    pole = np.ascontiguousarray(pole, dtype=np.float64)
    t = r_sat.shape[1]
    if r_sun.shape != (t, 3) or pole.shape != (t, 3):
        raise ValueError(f"r_sun and pole must have shape ({t}, 3), got {r_sun.shape} and "
                         f"{pole.shape}")
    return r_sat, r_sun, pole


def shadow_functions(r_sat, r_sun, pole, eq_radius_km, polar_radius_km, sun_radius_km):
    """Signed shadow functions of each satellite at each time (positive = in that shadow).

    Parameters
    ----------
    r_sat : (n_sats, n_times, 3) float64, GCRS km
    r_sun : (n_times, 3) float64, GCRS km (geocentric Sun)
    pole : (n_times, 3) float64, unit rotation axis of the Earth in GCRS
    eq_radius_km, polar_radius_km : Earth's ellipsoid (equal values give a sphere)
    sun_radius_km : solar radius

    Returns ``(g_point, g_pen, g_umb)``, each (n_sats, n_times):

    * ``g_point = cos c - cos b``: positive when the Sun's centre is behind the Earth (the
      point-Sun test of skyfield's ``is_sunlit``);
    * ``g_pen = cos c - cos(a + b)``: positive when the Earth's disk covers any of the Sun's
      (penumbra or umbra);
    * ``g_umb = cos c - cos(b - a)``: positive when it covers all of it (umbra);

    with ``a`` the Sun's and ``b`` the Earth's apparent angular radius and ``c`` the angle
    between their centres, seen from the satellite.  The ellipsoid is handled exactly for the
    point-Sun test by stretching space along the pole by ``eq/polar`` (which maps the ellipsoid
    onto a sphere and lines onto lines); for the Sun's disk the same stretch distorts its
    apparent radius by at most the flattening (0.34 %), i.e. under 0.05 s on a penumbra edge.
    Only +, -, *, / and sqrt are used, so the compiled twin agrees bit for bit.
    """
    r_sat, r_sun, pole = _check_shadow_args(r_sat, r_sun, pole)
    q = eq_radius_km / polar_radius_km - 1.0
    px, py, pz = pole[:, 0], pole[:, 1], pole[:, 2]
    # stretched Sun
    d = (r_sun[:, 0] * px + r_sun[:, 1] * py) + r_sun[:, 2] * pz
    qd = q * d
    sx = r_sun[:, 0] + qd * px
    sy = r_sun[:, 1] + qd * py
    sz = r_sun[:, 2] + qd * pz
    # stretched satellite
    x, y, z = r_sat[..., 0], r_sat[..., 1], r_sat[..., 2]
    d = (x * px + y * py) + z * pz
    qd = q * d
    x = x + qd * px
    y = y + qd * py
    z = z + qd * pz
    # satellite -> Sun (u) and satellite -> Earth centre (e = -r)
    ux = sx - x
    uy = sy - y
    uz = sz - z
    e2 = (x * x + y * y) + z * z
    u2 = (ux * ux + uy * uy) + uz * uz
    eu = -((x * ux + y * uy) + z * uz)
    en = np.sqrt(e2)
    un = np.sqrt(u2)
    cosc = eu / (en * un)
    sinb = eq_radius_km / en
    sina = sun_radius_km / un
    cosb = np.sqrt(np.maximum(1.0 - sinb * sinb, 0.0))
    cosa = np.sqrt(np.maximum(1.0 - sina * sina, 0.0))
    g_point = cosc - cosb
    g_pen = cosc - (cosa * cosb - sina * sinb)
    g_umb = np.where(sinb > sina, cosc - (cosa * cosb + sina * sinb), -2.0)
    return g_point, g_pen, g_umb


# ----------------------------------------------------------------------------------------------
# Visibility (twins of orbsched/_kernels/visibility.pyx)
# ----------------------------------------------------------------------------------------------
def _check_positions(r, name="r"):
    r = np.ascontiguousarray(r, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n_sats, 3), got {r.shape}")
    return r


def _check_isl_params(max_range_km, min_radius_km):
    max_range_km = float(max_range_km)
    min_radius_km = float(min_radius_km)
    if not max_range_km > 0.0:
        raise ValueError(f"max_range_km must be > 0, got {max_range_km}")
    if not min_radius_km >= 0.0:
        raise ValueError(f"min_radius_km must be >= 0, got {min_radius_km}")
    return max_range_km, max_range_km * max_range_km, min_radius_km * min_radius_km


def _pair_test(ax, ay, az, bx, by, bz, r2max, rg2, safe2=-1.0):
    """Visibility of the segments a-b (arrays): ``(visible, d2)``, the arithmetic of the C loop.

    Visible when ``|b - a|^2 <= r2max`` and the segment's closest point to the Earth's centre is
    at least ``sqrt(rg2)`` from it: the closest point is ``a`` when ``a.(b-a) >= 0``, ``b`` when
    ``b.(b-a) <= 0``, otherwise the foot of the perpendicular, whose squared distance is
    ``|a x b|^2 / |b - a|^2`` (compared without dividing).
    """
    dx = bx - ax
    dy = by - ay
    dz = bz - az
    d2 = (dx * dx + dy * dy) + dz * dz
    s = -((ax * dx + ay * dy) + az * dz)
    u = (bx * dx + by * dy) + bz * dz
    a2 = (ax * ax + ay * ay) + az * az
    b2 = (bx * bx + by * by) + bz * bz
    cx = ay * bz - az * by
    cy = az * bx - ax * bz
    cz = ax * by - ay * bx
    c2 = (cx * cx + cy * cy) + cz * cz
    clear = np.where(s <= 0.0, a2 >= rg2, np.where(u <= 0.0, b2 >= rg2, c2 >= rg2 * d2))
    return (d2 <= r2max) & ((d2 <= safe2) | clear), d2


def _safe_chord2(r2, rg2):
    """Squared length below which no segment between these points can dip under sqrt(rg2).

    With every point at least ``rmin`` from the centre, the closest point of a segment of
    length d is at least ``sqrt(rmin^2 - d^2/4)`` away (it lies within d/2 of an endpoint, at a
    right angle), so ``d^2 <= 4 (rmin^2 - rg2)`` needs no occlusion test.  Both kernels apply
    this same rule (the min is exact in any order), so they stay bit-identical; on a 550 km
    shell with an 80 km grazing height it clears every pair up to 5,017 km.
    """
    m = float(np.min(r2)) if len(r2) else 0.0
    return 4.0 * (m - rg2) if m > rg2 else -1.0


def _check_k(k):
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return k


def _row_blocks(n, budget=2_000_000):
    step = max(1, budget // max(n, 1))
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def isl_candidates(r, max_range_km, min_radius_km):
    """Every pair of satellites that can see each other at one instant.

    Parameters
    ----------
    r : (n_sats, 3) float64, positions in km (any Earth-centred frame)
    max_range_km : a pair further apart than this is not a candidate
    min_radius_km : the straight segment between the two must stay at least this far from the
        Earth's centre (``R_eq + grazing altitude``; a sphere: the ellipsoid's polar flattening,
        21 km, is ignored, which errs on the safe side at high latitudes)

    Returns ``(i, j, d_km)``: int64, int64, float64 arrays of the pairs ``i < j`` that pass both
    tests, sorted by ``(i, j)``, and their distances.  This twin works in blocks of rows of the
    N x N matrix (memory stays bounded; time is O(N^2)); the compiled kernel prunes with a cell
    grid and gives the same pairs and the same distances bit for bit.  Pairs shorter than the
    chord of :func:`_safe_chord2` skip the occlusion test (it cannot fail for them).
    """
    r = _check_positions(r)
    _, r2max, rg2 = _check_isl_params(max_range_km, min_radius_km)
    n = r.shape[0]
    safe2 = _safe_chord2((r[:, 0] * r[:, 0] + r[:, 1] * r[:, 1]) + r[:, 2] * r[:, 2], rg2)
    out_i, out_j, out_d = [], [], []
    for a, b in _row_blocks(n):
        ra = r[a:b]
        rb = r[a:]
        ok, d2 = _pair_test(ra[:, None, 0], ra[:, None, 1], ra[:, None, 2],
                            rb[None, :, 0], rb[None, :, 1], rb[None, :, 2], r2max, rg2, safe2)
        ok &= (np.arange(a, n)[None, :] > np.arange(a, b)[:, None])
        ii, jj = np.nonzero(ok)
        out_i.append(ii + a)
        out_j.append(jj + a)
        out_d.append(np.sqrt(d2[ii, jj]))
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return (np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64),
            np.concatenate(out_d))


def isl_nearest(r, max_range_km, min_radius_km, k):
    """The ``k`` nearest visible satellites of each satellite.

    Same visibility test as :func:`isl_candidates`.  Returns ``(nbr, d_km)``, both (n_sats, k):
    neighbour indices sorted by distance (ties by index), ``-1`` and ``inf`` where fewer than
    ``k`` are visible.  The ordering uses the squared distance, so it matches the compiled
    kernel exactly.
    """
    r = _check_positions(r)
    _, r2max, rg2 = _check_isl_params(max_range_km, min_radius_km)
    k = _check_k(k)
    n = r.shape[0]
    nbr = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.inf)
    for a, b in _row_blocks(n):
        ra = r[a:b]
        ok, d2 = _pair_test(ra[:, None, 0], ra[:, None, 1], ra[:, None, 2],
                            r[None, :, 0], r[None, :, 1], r[None, :, 2], r2max, rg2)
        rows = np.arange(b - a)
        ok[rows, rows + a] = False
        d2 = np.where(ok, d2, np.inf)
        order = np.argsort(d2, axis=1, kind="stable")[:, :k]  # stable: ties keep index order
        dk = np.take_along_axis(d2, order, axis=1)
        m = min(k, n)
        good = np.isfinite(dk)
        nbr[a:b, :m] = np.where(good, order, -1)
        dist[a:b, :m] = np.where(good, np.sqrt(dk), np.inf)
    return nbr, dist


def _check_pairs(r, i, j):
    """Pair index arrays as contiguous int64, checked against the number of positions."""
    i = np.ascontiguousarray(i, dtype=np.int64)
    j = np.ascontiguousarray(j, dtype=np.int64)
    if i.shape != j.shape or i.ndim != 1:
        raise ValueError(f"i and j must be 1-d arrays of equal length, got {i.shape}, {j.shape}")
    n = r.shape[0]
    if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
        raise ValueError(f"pair indices must lie in [0, {n})")
    return i, j


def isl_pairs_visible(r, i, j, max_range_km, min_radius_km):
    """Visibility test of given pairs (same test as :func:`isl_candidates`).

    ``i``, ``j``: int64 arrays of equal length.  Returns ``(visible, d_km)``: bool and float64.
    """
    r = _check_positions(r)
    _, r2max, rg2 = _check_isl_params(max_range_km, min_radius_km)
    i, j = _check_pairs(r, i, j)
    ok, d2 = _pair_test(r[i, 0], r[i, 1], r[i, 2], r[j, 0], r[j, 1], r[j, 2], r2max, rg2)
    return ok, np.sqrt(d2)


def _check_ground_args(r_sat, site, up, sin_min):
    r_sat = _check_sat_grid(r_sat)
    site = np.ascontiguousarray(site, dtype=np.float64)
    up = np.ascontiguousarray(up, dtype=np.float64)
    sin_min = np.ascontiguousarray(sin_min, dtype=np.float64)
    t = r_sat.shape[1]
    if site.ndim != 3 or site.shape[1:] != (t, 3) or up.shape != site.shape:
        raise ValueError(f"site and up must have shape (n_stations, {t}, 3), got {site.shape} "
                         f"and {up.shape}")
    if sin_min.shape != (site.shape[0],):
        raise ValueError(f"sin_min must have shape ({site.shape[0]},), got {sin_min.shape}")
    return r_sat, site, up, sin_min


def ground_elevation(r_sat, site, up, sin_min):
    """Sine of each satellite's elevation above each station's horizon, minus the station's mask.

    Parameters
    ----------
    r_sat : (n_sats, n_times, 3) float64, satellite positions, km
    site : (n_stations, n_times, 3) float64, station positions in the same frame, km
    up : (n_stations, n_times, 3) float64, unit vector of each station's local vertical
    sin_min : (n_stations,) float64, sine of each station's minimum elevation

    Returns ``g`` (n_stations, n_sats, n_times): ``(rho . up) / |rho| - sin_min`` with
    ``rho = r_sat - site``; positive when the satellite is above the mask.  Geometric elevation:
    no atmospheric refraction (which lifts a low satellite by up to ~0.5 deg at the horizon
    and ~0.1 deg at 10 deg, i.e. a pass starts a few seconds later here than it would be seen).
    """
    r_sat, site, up, sin_min = _check_ground_args(r_sat, site, up, sin_min)
    x = r_sat[None, :, :, 0]
    y = r_sat[None, :, :, 1]
    z = r_sat[None, :, :, 2]
    rx = x - site[:, None, :, 0]
    ry = y - site[:, None, :, 1]
    rz = z - site[:, None, :, 2]
    dot = (rx * up[:, None, :, 0] + ry * up[:, None, :, 1]) + rz * up[:, None, :, 2]
    n = np.sqrt((rx * rx + ry * ry) + rz * rz)
    return dot / n - sin_min[:, None, None]


# ------------------------------------------------------------------------------------- graphs
def _check_graph_arrays(nbr, light, usable, deg, n_sats, dist, pred):
    """The laser graph as fixed-slot arrays (see :class:`orbsched.network.adjacency.SlotAdjacency`):
    ``nbr`` (n_nodes, slots) int64 neighbours (row ``u`` holds ``deg[u]`` of them first),
    ``light`` (n_nodes, slots) float64 light times (s), ``usable`` (n_nodes, slots) uint8;
    nodes ``>= n_sats`` are ground stations; ``dist`` (float64) and ``pred`` (int64) of
    length n_nodes are outputs."""
    n_nodes = nbr.shape[0] if getattr(nbr, "ndim", 0) == 2 else -1
    if n_nodes < 0 or nbr.dtype != np.int64 or light.dtype != np.float64 \
            or usable.dtype != np.uint8 or light.shape != nbr.shape or usable.shape != nbr.shape:
        raise ValueError("nbr, light, usable must be 2-D int64, float64, uint8 arrays of one "
                         "shape")
    if deg.shape != (n_nodes,) or deg.dtype != np.int64:
        raise ValueError(f"deg must be int64 of shape ({n_nodes},)")
    if dist.shape != (n_nodes,) or dist.dtype != np.float64 or pred.shape != (n_nodes,) \
            or pred.dtype != np.int64:
        raise ValueError(f"dist (float64) and pred (int64) must have shape ({n_nodes},)")
    if not 0 <= n_sats <= n_nodes:
        raise ValueError(f"n_sats must be in 0..{n_nodes}, got {n_sats}")
    return n_nodes


def _check_graph_args(nbr, light, usable, deg, mask, src, k, max_hops, n_sats, dist, pred):
    """Arguments of :func:`nearest_hosts`: the arrays (:func:`_check_graph_arrays`) and
    ``mask``, at least ``n_sats`` flags (bool or uint8)."""
    n_nodes = _check_graph_arrays(nbr, light, usable, deg, n_sats, dist, pred)
    mask = np.asarray(mask)
    if mask.ndim != 1 or mask.shape[0] < n_sats:
        raise ValueError(f"mask must be 1-D with at least {n_sats} entries (one per "
                         f"satellite), got shape {mask.shape}")
    mask = np.ascontiguousarray(mask, dtype=np.bool_).view(np.uint8)
    src, k = int(src), int(k)
    if not 0 <= src < n_nodes:   # a ground node may start a search (its links to satellites)
        raise ValueError(f"src must be a node 0..{n_nodes - 1}, got {src}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    max_hops = -1 if max_hops is None else int(max_hops)
    return mask, src, k, max_hops


def nearest_hosts(nbr, light, usable, deg, mask, src, k, max_hops, n_sats, dist, pred):
    """The ``k`` satellites nearest to ``src`` in light time (plus 1 ns per hop) over usable
    satellite-to-satellite links among those where ``mask`` is set (``src`` excluded): a list
    of ``(sat, light_time_s, hops)``, nearest first.  Dijkstra on ``(distance, hops, node)``
    in lexicographic order (:func:`~orbsched._kernels.reference_search.nearest_search`, which
    :class:`~orbsched._kernels.reference_fleet.HostSearch` runs too) that stops once ``k`` are
    found or, with ``max_hops`` (None or -1: no limit), does not expand nodes that many hops
    out.

    Fills ``dist`` with the tentative distance of every node the search reached (``inf``
    elsewhere; 0 at ``src``) and ``pred`` with its predecessor on that path (-1 elsewhere and
    at ``src``): every reached node is reachable along ``pred``."""
    mask, src, k, max_hops = _check_graph_args(nbr, light, usable, deg, mask, src, k,
                                               max_hops, n_sats, dist, pred)
    dist.fill(np.inf)
    pred.fill(-1)
    return nearest_search(nbr, light, usable, deg, n_sats, src, k, max_hops, dist, pred,
                          mask.tolist().__getitem__, [])


def _check_path_args(nbr, light, usable, deg, src, dst, n_sats, dist, pred):
    n_nodes = _check_graph_arrays(nbr, light, usable, deg, n_sats, dist, pred)
    src, dst = int(src), int(dst)
    if not (0 <= src < n_nodes and 0 <= dst < n_nodes):
        raise ValueError(f"src and dst must be nodes 0..{n_nodes - 1}, got {src} and {dst}")
    return src, dst


def shortest_path(nbr, light, usable, deg, src, dst, n_sats, include_acquiring, relay, dist,
                  pred):
    """Shortest path ``[src, ..., dst]`` by light time plus 1 ns per hop (each link weighs
    ``light + 1e-9``), or None: Dijkstra on ``(distance, node)`` in lexicographic order that
    stops when ``dst`` is settled.  Links in acquisition count only with
    ``include_acquiring``; nodes ``>= n_sats`` (ground stations) are entered only as ``dst``
    unless ``relay``.  Fills ``dist``/``pred`` like :func:`nearest_hosts` (arrays over the
    graph in :class:`orbsched.network.adjacency.SlotAdjacency` form)."""
    import heapq
    src, dst = _check_path_args(nbr, light, usable, deg, src, dst, n_sats, dist, pred)
    dist.fill(np.inf)
    pred.fill(-1)
    if src == dst:
        dist[src] = 0.0
        return [src]
    dg = deg.tolist()
    best = {src: 0.0}
    dist[src] = 0.0
    done = set()
    heap = [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        if u == dst:
            path = [dst]
            while path[-1] != src:
                path.append(int(pred[path[-1]]))
            return path[::-1]
        row_n, row_l, row_ok = nbr[u].tolist(), light[u].tolist(), usable[u].tolist()
        for j in range(dg[u]):
            v = row_n[j]
            if v in done or not (row_ok[j] or include_acquiring):
                continue
            if v >= n_sats and v != dst and not relay:
                continue
            nd = d + (row_l[j] + 1e-9)
            bv = best.get(v)
            if bv is None or nd < bv:
                best[v] = nd
                dist[v] = nd
                pred[v] = u
                heapq.heappush(heap, (nd, v))
    return None


def _check_slot_args(nbr, deg, pos, light, speed_km_s):
    if getattr(nbr, "ndim", 0) != 2 or nbr.dtype != np.int64 or light.dtype != np.float64 \
            or light.shape != nbr.shape or not light.flags.c_contiguous \
            or not nbr.flags.c_contiguous:
        raise ValueError("nbr and light must be C-contiguous 2-D int64 and float64 arrays of "
                         "one shape")
    n = nbr.shape[0]
    if deg.shape != (n,) or deg.dtype != np.int64 or (len(deg) and (
            deg.min() < 0 or deg.max() > nbr.shape[1])):
        raise ValueError(f"deg must be int64 of shape ({n},) within 0..{nbr.shape[1]}")
    pos = np.ascontiguousarray(pos, dtype=np.float64)
    if pos.shape != (n, 3):
        raise ValueError(f"pos must have shape ({n}, 3), got {pos.shape}")
    speed_km_s = float(speed_km_s)
    if not speed_km_s > 0:
        raise ValueError(f"speed_km_s must be > 0, got {speed_km_s}")
    return pos, speed_km_s


def slot_lengths(nbr, deg, pos, light, speed_km_s):
    """Each used slot's link length over ``speed_km_s`` (a light time with the speed of light):
    ``light[u, j] = sqrt((dx*dx + dy*dy) + dz*dz) / speed_km_s`` with ``d = pos[u] -
    pos[nbr[u, j]]`` for ``j < deg[u]`` (the slot arrays of
    :class:`orbsched.network.adjacency.SlotAdjacency`); unused slots are left as they are.  ``pos``:
    (n_nodes, 3) positions, km.  In place; returns None."""
    pos, speed_km_s = _check_slot_args(nbr, deg, pos, light, speed_km_s)
    n, width = nbr.shape
    row = np.repeat(np.arange(n), deg)               # the used slots only: j < deg[u]
    flat = np.arange(len(row)) + np.repeat(np.arange(n) * width - (np.cumsum(deg) - deg), deg)
    v = np.take(nbr, flat)
    px, py, pz = np.ascontiguousarray(pos.T)
    dx = px.take(row) - px.take(v)
    dy = py.take(row) - py.take(v)
    dz = pz.take(row) - pz.take(v)
    np.put(light, flat, np.sqrt((dx * dx + dy * dy) + dz * dz) / speed_km_s)


# ------------------------------------------------------------------------------------ thermal
# The closed-form integral of dT/dt = beta (u^4 - T^4) and its inverse, for
# orbsched.models.thermal (the model is described there).  Compiled twin: thermal.pyx.

#: Above T/u = _X_FAR the time integral is evaluated as a series in u/T (no cancellation).
_X_FAR = 4.0
#: Above T/u = _X_PURE the sink is negligible: the series' correction 2 (u/T)^4 / 7 < 1e-16, so
#: the pure cooling law (T^-3 - T0^-3) / (3 beta) is used (and cubes of a tiny u never appear).
_X_PURE = 1e4
_EPS = np.finfo(float).eps


def _far_series(y: float) -> float:
    """p(y) = (artanh y - atan y) / y^3 = 2 sum_k y^(4k) / (4k + 3), for 0 <= y <= 1/_X_FAR
    (y^4 <= 1/256: eight terms leave < 1e-19)."""
    y4 = y ** 4
    total = 0.0
    for k in range(7, -1, -1):  # Horner
        total = total * y4 + 1.0 / (4 * k + 3)
    return 2.0 * total


def time_between_k(t0_k: float, t1_k: float, equilibrium_k: float, beta: float) -> float:
    """Exact time (s) for ``dT/dt = beta (u^4 - T^4)`` to take T from ``t0_k`` to ``t1_k``.

    ``u = equilibrium_k >= 0``, ``beta = k / C > 0`` (1/(K^3 s)).  Returns 0 when the two
    temperatures are equal and ``inf`` when ``t1_k`` is not reached (not between ``t0_k`` and
    ``u``, or equal to ``u`` while ``t0_k`` is not).
    """
    u = float(equilibrium_k)
    a, b = float(t0_k), float(t1_k)
    if a == b:
        return 0.0
    # reachable only moving from a towards u, never reaching u itself
    if not ((a < b < u) or (u < b < a)):
        return math.inf
    if u == 0.0 or b >= _X_PURE * u:  # (also a > b here) the sink term is below 1e-16
        return (b ** -3 - a ** -3) / (3.0 * beta)
    if a > _X_FAR * u and b >= _X_FAR * u:
        return (_far_series(u / b) / b ** 3 - _far_series(u / a) / a ** 3) / (2.0 * beta)
    if a > _X_FAR * u:  # cooling from far to near: split where the two forms meet
        mid = _X_FAR * u
        return time_between_k(a, mid, u, beta) + time_between_k(mid, b, u, beta)
    # near form: differences of ln(u+T), ln|u-T| and atan(T/u), each without cancellation
    dtau = (math.log1p((b - a) / (u + a)) - math.log1p((a - b) / (u - a))
            + 2.0 * math.atan(u * (b - a) / (u * u + a * b)))
    return dtau / (4.0 * beta * u ** 3)


def _newton_z(a, u, beta, dt, s, z_lo, z_hi):
    """Newton's method on z = ln|u - T| for ``time_between_k(a, T) = dt``; the time is almost
    linear in z (``dt/dz = -1 / (beta (u + T)(u^2 + T^2))``, smooth and bounded), so 2-4 steps
    from the linearised relaxation ``|u - T| = |u - a| exp(-4 beta u^3 dt)`` move T by less
    than 1e-14 relative.
    Returns None (caller falls back to Brent) if it does not settle in 30 steps."""
    z = min(max(math.log(abs(u - a)) - 4.0 * beta * u ** 3 * dt, z_lo), z_hi)
    for _ in range(30):
        t = u - s * math.exp(z)
        f = (time_between_k(a, t, u, beta) if s * (t - a) > 0.0 else 0.0) - dt
        step = f * beta * (u + t) * (u * u + t * t)   # = -f / (dt/dz)
        z_new = min(max(z + step, z_lo), z_hi)
        if abs(z_new - z) * abs(u - t) <= 1e-14 * t:   # T moves by < 1e-14 relative
            return z_new
        z = z_new
    return None


def temperature_after_k(t0_k: float, dt_s: float, equilibrium_k: float, beta: float) -> float:
    """Temperature (K) after ``dt_s`` seconds of ``dT/dt = beta (u^4 - T^4)`` from ``t0_k``:
    the inverse of :func:`time_between_k`, exact to ~1e-14 relative.

    Newton's method on ``z = ln|u - T|`` (:func:`_newton_z`), in which the time is almost
    linear, bracketed by bounds on ``dt/dz``; Brent's method (scipy's brentq) if Newton does
    not settle.  Raises SubsystemError unless ``dt_s`` is finite and >= 0."""
    a, u, dt = float(t0_k), float(equilibrium_k), float(dt_s)
    if dt < 0.0 or not math.isfinite(dt):
        raise SubsystemError(f"temperature_after_k: dt_s must be finite and >= 0, got {dt_s!r}")
    if dt == 0.0 or a == u:
        return a
    if a > u:
        pure = (a ** -3 + 3.0 * beta * dt) ** (-1.0 / 3.0)
        if u == 0.0 or pure >= _X_PURE * u:  # the same branch as time_between_k takes
            return pure
    s = 1.0 if a < u else -1.0  # T = u - s * exp(z), z = ln|u - T|
    w_min = 4.0 * _EPS * u
    if abs(u - a) <= w_min:
        return u
    if time_between_k(a, u - s * w_min, u, beta) <= dt:
        return u  # indistinguishable from equilibrium in double precision
    z_hi = math.log(abs(u - a))
    # |dt/dz| = 1 / (beta (u + T)(u^2 + T^2)) >= 1 / (beta (u + m)(u^2 + m^2)), m = max(u, T0)
    m = max(u, a)
    z_lo = max(z_hi - dt * beta * (u + m) * (u * u + m * m), math.log(w_min))

    def elapsed(z):
        t = u - s * math.exp(z)
        if s * (t - a) <= 0.0:  # rounding put T at or behind the start: no time elapsed
            return 0.0
        return time_between_k(a, t, u, beta)

    if elapsed(z_hi) >= dt:
        return a  # dt below what one rounding step of T represents

    def g(z):
        return elapsed(z) - dt

    z = _newton_z(a, u, beta, dt, s, z_lo, z_hi)
    if z is None:  # Newton did not settle: bracketing fallback
        if g(z_lo) <= 0.0:
            z = z_lo
        else:
            from scipy.optimize import brentq
            z = brentq(g, z_lo, z_hi, xtol=1e-15, rtol=4.0 * _EPS, maxiter=200)
    t = u - s * math.exp(z)
    return a if s * (t - a) < 0.0 else t  # never behind the start by a rounding
