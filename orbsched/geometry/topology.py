"""Fixed laser-link topologies for any fleet: ``+grid`` and an explicit list of links.

Both give a fixed list of satellite pairs; a pair is linked whenever it is visible (range and
grazing height, :class:`orbsched.geometry.visibility.LinkSelector`), like every ``+grid`` link.

``network.topology: file`` (:func:`read_isl_file`)
    ``network.isl_file`` is a CSV whose header holds ``sat_a,sat_b`` and optionally
    ``rate_gbps``; each row names one link by zero-based fleet indices (scenario order) or by
    satellite names (as in the TLE name lines, OMM ``OBJECT_NAME`` or ``NAME-Ppp-Sss`` of a
    Walker shell).  A row's ``rate_gbps`` (empty: ``network.bandwidth_gbps``) is that link's
    rate with the constant rate model.  Repeated pairs and self-links are errors.

``network.topology: +grid`` (:func:`grid_links`)
    A Walker shell keeps its exact layout (:func:`orbsched.geometry.visibility.grid_pairs`, with
    ``grid_shift``).  Any other constellation (TLE, OMM, sun-synchronous planes, external
    ephemerides), or a Walker shell that lost satellites to SGP4 failures, gets planes and
    slots inferred from its orbits (:func:`infer_grid`), from the osculating GCRS state of
    each satellite at the start of the run (one instant for every satellite, whatever the
    element sets' epochs):

    1. *Planes*: satellites whose orbit normals lie within :data:`PLANE_TOL_DEG` of a plane's
       first member and whose mean semi-major axes (SGP4's Brouwer mean ``a``; osculating for
       ephemerides) lie within :data:`SMA_TOL_KM` of it share that plane (members taken in
       order of right ascension of the node).
    2. *Shells*: planes within :data:`SHELL_INCLINATION_TOL_DEG` of inclination and
       :data:`SHELL_ALTITUDE_TOL_KM` of mean altitude of a shell's first plane, ordered by node;
       planes adjacent in node are neighbours, all round when no gap between nodes exceeds 1.5x the
       median gap (a delta pattern), else with a seam at the widest gap, which gets no links (a star
       pattern, whose planes counter-rotate across it).
    3. *Slots*: inside a plane satellites are ordered by argument of latitude; each links to
       the next (cyclically).  Across adjacent planes with the same number of satellites S,
       slot i of one plane links to slot (i + k) mod S of the next, with the one offset k that
       best aligns the arguments of latitude shifted by ``grid_shift`` slots (least squares
       over the plane); with different counts, pairs are matched one to one, nearest argument
       of latitude first.  A plane shifted by exactly half a slot against its neighbour is a
       tie that either offset satisfies: give an ISL file to choose.
    4. Satellites alone in their plane fit no plane: they get no grid links and are reported
       (:attr:`GridLinks.misfits`, ``grid_misfits.csv`` of ``orbsched geometry``).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..scenario.constants import EARTH_EQUATORIAL_RADIUS_KM, MU_EARTH_KM3_S2
from ..scenario.errors import DataFileError, ScenarioError
from .visibility import walker_grid_pairs

__all__ = ["GridLinks", "grid_links", "infer_grid", "read_isl_file", "PLANE_TOL_DEG",
           "SMA_TOL_KM", "SHELL_INCLINATION_TOL_DEG", "SHELL_ALTITUDE_TOL_KM"]

#: Orbit normals within this angle share a plane.  Planes of one shell are several degrees
#: apart (Starlink shell 1: 5 deg of node at 53 deg, 4 deg between normals; Iridium 30 deg);
#: members of an operational plane lie within a few tenths of a degree.
PLANE_TOL_DEG = 1.0
#: Mean semi-major axes within this many km share a plane and a shell (Starlink's 540, 550,
#: 560 and 570 km shells stay apart; a satellite still raising its orbit does not join).
SMA_TOL_KM = 5.0
#: Planes within this inclination and :data:`SHELL_ALTITUDE_TOL_KM` of mean altitude of a
#: shell's first plane (in order of inclination, then altitude) join that shell.  OneWeb's
#: planes spread over 0.26 deg and 44 km by design (staggered altitudes) and form one shell;
#: Starlink's 550 km / 53.0 deg and 540 km / 53.2 deg shells are closer than that and merge
#: (give an ISL file to keep them apart).
SHELL_INCLINATION_TOL_DEG = 0.3
SHELL_ALTITUDE_TOL_KM = 25.0


@dataclass
class GridLinks:
    """Fixed link pairs ``(a, b)`` (``a < b``, sorted, int64) with optional per-link rates
    (Gbps, NaN = the network default) and the satellites that fit no plane."""

    a: np.ndarray
    b: np.ndarray
    rate_gbps: np.ndarray
    #: ``(sat_id, name, reason)`` of satellites left out of the inferred grid.
    misfits: list = field(default_factory=list)
    #: ``(sat_id, plane, slot)`` arrays of the satellites placed by inference (else None).
    layout: tuple | None = None


def _pairs_array(pairs, n_sats):
    arr = np.array(sorted({(min(p), max(p)) for p in pairs if p[0] != p[1]}),
                   dtype=np.int64).reshape(-1, 2)
    if len(arr) and (arr.min() < 0 or arr.max() >= n_sats):  # pragma: no cover - internal
        raise ScenarioError("internal: a grid link names a satellite outside the fleet")
    return arr[:, 0].copy(), arr[:, 1].copy()


# ---------------------------------------------------------------------------------- file
def read_isl_file(path, names) -> GridLinks:
    """Links of ``network.isl_file`` (see the module docstring) for a fleet named ``names``."""
    path = Path(path)
    index: dict[str, int] = {}
    twice: set[str] = set()
    for i, name in enumerate(names):
        (twice.add if str(name) in index else lambda _: None)(str(name))
        index[str(name)] = i
    n = len(names)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, None, f"cannot read the ISL file: {exc.strerror}") from None
    reader = csv.DictReader(line for line in text.splitlines()
                            if line.strip() and not line.lstrip().startswith("#"))
    cols = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = cols
    if "sat_a" not in cols or "sat_b" not in cols:
        raise DataFileError(path, 1, f"the header must hold sat_a,sat_b (optional rate_gbps); "
                                     f"got {','.join(cols) or 'nothing'}")
    extra = sorted(set(cols) - {"sat_a", "sat_b", "rate_gbps"})
    if extra:
        raise DataFileError(path, 1, f"unknown column(s) {', '.join(extra)}; expected sat_a,"
                                     f"sat_b[,rate_gbps]")

    def sat(value, col, lineno):
        v = (value or "").strip()
        if v in twice:
            raise DataFileError(path, lineno, f"{col}: {v!r} names several satellites of the "
                                              f"fleet; give its index instead")
        if v in index:
            return index[v]
        if v.lstrip("-").isdigit():
            k = int(v)
            if 0 <= k < n:
                return k
            raise DataFileError(path, lineno, f"{col}: satellite index {k} is outside the "
                                              f"fleet's 0..{n - 1}")
        raise DataFileError(path, lineno, f"{col}: {v!r} is neither a fleet index (0..{n - 1})"
                                          f" nor a satellite name (e.g. {names[0]!r})")

    seen: dict[tuple[int, int], int] = {}
    rows = []
    lineno = 1
    for lineno, row in enumerate(reader, start=2):
        a, b = sat(row.get("sat_a"), "sat_a", lineno), sat(row.get("sat_b"), "sat_b", lineno)
        if a == b:
            raise DataFileError(path, lineno, f"a link needs two satellites, got {a} twice")
        key = (min(a, b), max(a, b))
        if key in seen:
            raise DataFileError(path, lineno, f"link {key[0]}-{key[1]} is listed twice (also "
                                              f"line {seen[key]})")
        seen[key] = lineno
        rate = math.nan
        raw = (row.get("rate_gbps") or "").strip()
        if raw:
            try:
                rate = float(raw)
            except ValueError:
                rate = math.nan
            if not (math.isfinite(rate) and rate > 0):
                raise DataFileError(path, lineno, f"rate_gbps: expected a number > 0, got "
                                                  f"{raw!r}")
        rows.append((key[0], key[1], rate))
    if not rows:
        raise DataFileError(path, lineno, "no link: expected rows of sat_a,sat_b")
    rows.sort()
    arr = np.array([(a, b) for a, b, _ in rows], dtype=np.int64).reshape(-1, 2)
    return GridLinks(arr[:, 0].copy(), arr[:, 1].copy(), np.array([r for _, _, r in rows]))


# ---------------------------------------------------------------------------------- +grid
def _wrap_deg(x):
    """Angles to (-180, 180]."""
    return -((-np.asarray(x, dtype=float) + 180.0) % 360.0 - 180.0)


def orbit_elements(r_km, v_km_s):
    """Orbit normal (n, 3), inclination, right ascension of the node and argument of latitude
    (deg, each (n,)) and osculating semi-major axis (km) of GCRS states."""
    r = np.asarray(r_km, dtype=float)
    v = np.asarray(v_km_s, dtype=float)
    h = np.cross(r, v)
    nrm = h / np.linalg.norm(h, axis=1)[:, None]
    inc = np.degrees(np.arccos(np.clip(nrm[:, 2], -1.0, 1.0)))
    raan = np.degrees(np.arctan2(nrm[:, 0], -nrm[:, 1])) % 360.0
    node = np.stack([np.cos(np.radians(raan)), np.sin(np.radians(raan)),
                     np.zeros(len(raan))], axis=1)
    ortho = np.cross(nrm, node)
    u = np.degrees(np.arctan2((r * ortho).sum(axis=1), (r * node).sum(axis=1))) % 360.0
    rn = np.linalg.norm(r, axis=1)
    sma = 1.0 / (2.0 / rn - (v * v).sum(axis=1) / MU_EARTH_KM3_S2)
    return nrm, inc, raan, u, sma


def _planes(nrm, raan, sma):
    """Greedy clustering into planes (module docstring, step 1): a plane id per satellite."""
    order = np.argsort(raan, kind="stable")
    cos_tol = math.cos(math.radians(PLANE_TOL_DEG))
    ref_n, ref_a = [], []
    plane = np.full(len(raan), -1, np.int64)
    for i in order.tolist():
        if ref_n:
            ok = (np.asarray(ref_n) @ nrm[i] >= cos_tol) & (np.abs(np.asarray(ref_a) - sma[i])
                                                           <= SMA_TOL_KM)
            hit = np.flatnonzero(ok)
            if len(hit):
                plane[i] = int(hit[0])
                continue
        plane[i] = len(ref_n)
        ref_n.append(nrm[i])
        ref_a.append(sma[i])
    return plane


def _match_planes(u_p, u_q, shift):
    """Cross-plane pairs (local indices into the u-sorted planes p and q), step 3."""
    sp, sq = len(u_p), len(u_q)
    if sp == sq:
        slot = 360.0 / sp
        best = None
        for k in range(sp):
            d = _wrap_deg(np.roll(u_q, -k) - u_p - shift * slot)
            cost = float((d * d).sum())
            if best is None or cost < best[0] - 1e-9 * max(best[0], 1.0):
                best = (cost, k)
        k = best[1]
        return [(i, (i + k) % sp) for i in range(sp)]
    slot = 360.0 / sp
    d = np.abs(_wrap_deg(u_q[None, :] - u_p[:, None] - shift * slot))
    order = np.argsort(d, axis=None, kind="stable")
    used_p, used_q, out = set(), set(), []
    for flat in order.tolist():
        i, j = divmod(flat, sq)
        if i in used_p or j in used_q:
            continue
        used_p.add(i)
        used_q.add(j)
        out.append((i, j))
        if len(used_p) == sp or len(used_q) == sq:
            break
    return out


def infer_grid(r_km, v_km_s, names, grid_shift=0, mean_sma_km=None, offset=0) -> GridLinks:
    """+grid links of one constellation from its satellites' states at one instant.

    ``r_km``, ``v_km_s``: (n, 3) GCRS; ``mean_sma_km``: mean semi-major axes (default the
    osculating ones); ``offset``: fleet index of the first satellite.  See the module
    docstring for the rule.
    """
    n = len(r_km)
    nrm, inc, raan, u, sma = orbit_elements(r_km, v_km_s)
    if mean_sma_km is not None:
        sma = np.asarray(mean_sma_km, dtype=float)
    plane = _planes(nrm, raan, sma)
    n_planes = int(plane.max()) + 1 if n else 0
    members = [np.flatnonzero(plane == p) for p in range(n_planes)]
    misfits, pairs = [], []
    good = [p for p in range(n_planes) if len(members[p]) >= 2]
    for p in range(n_planes):
        if len(members[p]) < 2:
            i = int(members[p][0])
            alt_km = sma[i] - EARTH_EQUATORIAL_RADIUS_KM
            misfits.append((offset + i, names[i], f"alone in its plane (inclination "
                                                  f"{inc[i]:.3f} deg, node {raan[i]:.3f} deg, "
                                                  f"altitude {alt_km:.1f} km)"))
    sorted_m = {}
    for p in good:
        m = members[p]
        m = m[np.argsort(u[m], kind="stable")]
        sorted_m[p] = m
        for k in range(len(m)):
            pairs.append((int(m[k]), int(m[(k + 1) % len(m)])))
    # shells: planes of like inclination and size, ordered by node
    p_inc = {p: float(np.mean(inc[members[p]])) for p in good}
    p_sma = {p: float(np.mean(sma[members[p]])) for p in good}
    p_raan = {p: float(raan[members[p][0]]) for p in good}
    shells: list[list[int]] = []
    for p in sorted(good, key=lambda q: (p_inc[q], p_sma[q])):
        for sh in shells:
            q = sh[0]
            if abs(p_inc[q] - p_inc[p]) <= SHELL_INCLINATION_TOL_DEG and \
                    abs(p_sma[q] - p_sma[p]) <= SHELL_ALTITUDE_TOL_KM:
                sh.append(p)
                break
        else:
            shells.append([p])
    for sh in shells:
        sh.sort(key=lambda q: p_raan[q])
        if len(sh) < 2:
            continue
        nodes = np.array([p_raan[q] for q in sh])
        gaps = np.append(np.diff(nodes), 360.0 - (nodes[-1] - nodes[0]))   # cyclic
        k = int(np.argmax(gaps))
        if len(sh) > 2 and gaps[k] <= 1.5 * float(np.median(gaps)):
            adj = list(zip(sh, sh[1:] + sh[:1]))       # nodes all round: a delta pattern
        else:                                           # a seam at the widest gap (star)
            sh = sh[k + 1:] + sh[:k + 1]
            adj = list(zip(sh[:-1], sh[1:]))
        for p, q in adj:
            mp, mq = sorted_m[p], sorted_m[q]
            for i, j in _match_planes(u[mp], u[mq], grid_shift):
                pairs.append((int(mp[i]), int(mq[j])))
    a, b = _pairs_array(pairs, n)
    slot = np.full(n, -1, np.int64)
    for m in sorted_m.values():
        slot[m] = np.arange(len(m))
    return GridLinks(a + offset, b + offset, np.full(len(a), np.nan), misfits,
                     (np.arange(n) + offset, np.where(slot >= 0, plane, -1), slot))


def grid_links(fleet, scenario, grid_shift=0) -> GridLinks:
    """+grid links of a whole fleet: Walker shells by their layout, every other constellation
    by :func:`infer_grid` on its states at the start of the run."""
    parts_a, parts_b, misfits = [], [], []
    base = 0
    r0 = v0 = None
    for s in fleet.sets:
        n = len(s)
        layout = getattr(s, "walker_layout", None)      # planes, S, F, pattern, flown planes
        if layout is not None and n == (layout[4][1] - layout[4][0]) * layout[1]:
            planes, per_plane, phasing, pattern, flown = layout
            a, b = walker_grid_pairs(planes, per_plane, phasing, pattern, grid_shift=grid_shift,
                                     plane_range=flown)
            parts_a.append(a + base)
            parts_b.append(b + base)
        else:
            if r0 is None or v0 is None:              # set together, once
                r, v = fleet.propagate(np.array([0.0]), scenario.geometry.frame_node_s)
                r0, v0 = r[:, 0], v[:, 0]
            mean = None
            if hasattr(s, "satrecs"):
                mean = np.array([sr.a for sr in s.satrecs]) * EARTH_EQUATORIAL_RADIUS_KM
            g = infer_grid(r0[base:base + n], v0[base:base + n], list(s.names), grid_shift,
                           mean, base)
            parts_a.append(g.a)
            parts_b.append(g.b)
            misfits.extend(g.misfits)
        base += n
    a = np.concatenate(parts_a) if parts_a else np.zeros(0, np.int64)
    b = np.concatenate(parts_b) if parts_b else np.zeros(0, np.int64)
    order = np.lexsort((b, a))
    return GridLinks(a[order], b[order], np.full(len(a), np.nan), misfits)
