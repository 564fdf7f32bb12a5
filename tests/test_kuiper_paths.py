"""Acceptance: a published network experiment reproduced with ``orbsched paths``.

Hypatia's Kuiper-630 latency experiment (Kassing et al., "Exploring the 'Internet from
space' with Hypatia", IMC 2020; ../shared/CONTEXT.md): 34 planes x 34 satellites at 630 km,
51.9 deg; elements with eccentricity 1e-7, mean motion 14.80 rev/day, epoch 2000-01-01 00:00
UTC, odd planes shifted by half a slot; +grid laser links given as an explicit list (each
satellite to its two in-plane neighbours and to the same slot in the adjacent planes, the
seam included); ground stations linked while within a 1,260 km slant range (no elevation
mask); acquisition 0 s; round-trip times every 100 ms for 200 s.

The scenario reads the elements as OMM (full double precision; sgp4's ``omm.initialize``,
WGS72, builds each satellite with ``Satrec.sgp4init``).  The reference is built here, apart
from orbsched's geometry: ``Satrec.sgp4init`` on the same numbers, TEME positions from
``SatrecArray`` at every instant, stations from WGS84 geodetic coordinates rotated into TEME
by GMST 1982 at UT1 (PEF -> TEME, no polar motion, as skyfield's TEME frame), exact
distances, and networkx Dijkstra (stations as endpoints only).
"""
import json
import math
from datetime import datetime

import networkx as nx
import numpy as np
import pytest
import yaml

import orbsched
from orbsched.cli import main

P = S = 34
MEAN_MOTION_REV_DAY = 14.80
INCLINATION_DEG = 51.9
ECCENTRICITY = 1e-7
MAX_GSL_KM = 1260.0
MAX_ISL_KM = 5442.0      # Hypatia: 2 sqrt((R + 630 km)^2 - (R + 80 km)^2), grazing at 80 km
STATIONS = [("Manila", 14.6042, 120.9822), ("Dalian", 38.9140, 121.6147),
            ("Istanbul", 41.0082, 28.9784)]
PAIRS = [("Manila", "Dalian"), ("Manila", "Istanbul"), ("Dalian", "Istanbul")]
C_KM_S = 299792.458


def elements():
    """OMM fields of the 1,156 satellites, plane-major (plane p, slot j -> p * 34 + j)."""
    out = []
    for p in range(P):
        for j in range(S):
            out.append({
                "OBJECT_NAME": f"KUIPER-P{p:02d}-S{j:02d}", "OBJECT_ID": "2000-000A",
                "EPOCH": "2000-01-01T00:00:00.000000", "MEAN_MOTION": MEAN_MOTION_REV_DAY,
                "ECCENTRICITY": ECCENTRICITY, "INCLINATION": INCLINATION_DEG,
                "RA_OF_ASC_NODE": p * 360.0 / P, "ARG_OF_PERICENTER": 0.0,
                "MEAN_ANOMALY": j * 360.0 / S + (p % 2) * 360.0 / (2 * S),
                "NORAD_CAT_ID": p * S + j + 1, "BSTAR": 0.0, "MEAN_MOTION_DOT": 0.0,
                "MEAN_MOTION_DDOT": 0.0})
    return out


def isl_pairs():
    """+grid: in-plane neighbours and the same slot in the next plane (the seam wraps)."""
    out = []
    for p in range(P):
        for j in range(S):
            k = p * S + j
            out.append((k, p * S + (j + 1) % S))
            out.append((k, ((p + 1) % P) * S + j))
    return out


def write_scenario(folder):
    (folder / "kuiper.json").write_text(json.dumps(elements()))
    (folder / "isls.csv").write_text("sat_a,sat_b\n" + "".join(
        f"{a},{b}\n" for a, b in isl_pairs()))
    doc = {"name": "hypatia-kuiper-630", "start_utc": "2000-01-01T00:00:00Z",
           "duration_h": 200.0 / 3600.0, "step_s": 60,
           "constellations": [{"type": "omm", "path": "kuiper.json", "name": "kuiper"}],
           "network": {"topology": "file", "isl_file": "isls.csv", "acquisition_s": 0,
                       "max_range_km": MAX_ISL_KM, "ground_min_elevation_deg": -90,
                       "ground_max_range_km": MAX_GSL_KM},
           "ground_stations": [{"name": n, "lat_deg": la, "lon_deg": lo}
                               for n, la, lo in STATIONS]}
    path = folder / "kuiper.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# ------------------------------------------------------------------------------ reference
def reference_positions(t_s):
    """TEME positions (km) of the satellites (n, T, 3) and stations (K, T, 3) at ``t_s``."""
    from sgp4.api import WGS72, Satrec, SatrecArray
    from sgp4.propagation import gstime
    from skyfield.api import load

    epoch = (datetime(2000, 1, 1) - datetime(1949, 12, 31)).total_seconds() / 86400.0
    sats = []
    for e in elements():
        s = Satrec()
        s.sgp4init(WGS72, "i", e["NORAD_CAT_ID"], epoch, e["BSTAR"], 0.0, 0.0,
                   e["ECCENTRICITY"], e["ARG_OF_PERICENTER"] * (math.pi / 180.0),
                   e["INCLINATION"] * (math.pi / 180.0), e["MEAN_ANOMALY"] * (math.pi / 180.0),
                   e["MEAN_MOTION"] / 720.0 * math.pi, e["RA_OF_ASC_NODE"] * (math.pi / 180.0))
        sats.append(s)
    jd = np.full(len(t_s), 2451544.5)
    fr = np.asarray(t_s) / 86400.0
    err, r, _ = SatrecArray(sats).sgp4(jd, fr)
    assert not err.any()
    # stations: WGS84 geodetic -> Earth-fixed -> TEME by GMST 1982 at UT1
    a, f = 6378.137, 1.0 / 298.257223563
    e2 = f * (2 - f)
    ecef = []
    for _, lat, lon in STATIONS:
        la, lo = math.radians(lat), math.radians(lon)
        nn = a / math.sqrt(1 - e2 * math.sin(la) ** 2)
        ecef.append([nn * math.cos(la) * math.cos(lo), nn * math.cos(la) * math.sin(lo),
                     nn * (1 - e2) * math.sin(la)])
    ecef = np.array(ecef)
    ts = load.timescale(builtin=True)
    ut1 = ts.utc(2000, 1, 1, 0, 0, np.asarray(t_s, float)).ut1
    theta = np.array([gstime(x) for x in np.atleast_1d(ut1)])
    c, s = np.cos(theta), np.sin(theta)
    st = np.stack([c[None] * ecef[:, :1] - s[None] * ecef[:, 1:2],
                   s[None] * ecef[:, :1] + c[None] * ecef[:, 1:2],
                   np.broadcast_to(ecef[:, 2:3], (len(ecef), len(t_s)))], axis=-1)
    return r, st


def reference_routes(t_s):
    """Per instant and pair: (path as node ids, RTT ms) or None; and per instant and station
    the set of satellites within range (for window edges)."""
    r, st = reference_positions(t_s)
    n = P * S
    pairs = isl_pairs()
    ia = np.array([p[0] for p in pairs])
    ib = np.array([p[1] for p in pairs])
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(pairs)
    names = [s[0] for s in STATIONS]
    out = []
    for k in range(len(t_s)):
        rk = r[:, k]
        d = np.linalg.norm(rk[ia] - rk[ib], axis=1)
        # line of sight above R_eq + 80 km and within range: all hold for this shell
        ab = rk[ib] - rk[ia]
        u = np.clip(-(rk[ia] * ab).sum(1) / (ab * ab).sum(1), 0, 1)
        clear = np.linalg.norm(rk[ia] + u[:, None] * ab, axis=1)
        assert (d <= MAX_ISL_KM).all() and (clear >= 6378.137 + 80.0).all()
        nx.set_edge_attributes(g, {(int(a), int(b)): float(x)
                                   for a, b, x in zip(ia, ib, d)}, "km")
        row = {}
        for sa, sb in PAIRS:
            ka, kb = names.index(sa), names.index(sb)
            for kk in (ka, kb):
                dd = np.linalg.norm(rk - st[kk, k], axis=1)
                for sat in np.flatnonzero(dd <= MAX_GSL_KM).tolist():
                    g.add_edge(n + kk, sat, km=float(dd[sat]))
            try:
                km, path = nx.single_source_dijkstra(g, n + ka, n + kb, weight="km")
                row[(sa, sb)] = ("-".join(map(str, path)), 2.0 * km / C_KM_S * 1e3)
            except nx.NetworkXNoPath:
                row[(sa, sb)] = None
            g.remove_nodes_from([n + ka, n + kb])
        out.append(row)
    return out, r, st


def near_ground_edge(r, st, k_station, t_idx):
    """True when some satellite crosses the station's range limit within 0.1 s of instant
    ``t_idx`` (the reference evaluated 0.1 s before and after)."""
    inside = [np.linalg.norm(r[:, i] - st[k_station, i], axis=1) <= MAX_GSL_KM for i in t_idx]
    return bool((inside[0] != inside[1]).any() or (inside[1] != inside[2]).any())


def _check(tmp_path, duration_s, step_s, min_agree):
    path = write_scenario(tmp_path)
    out = tmp_path / "rtt.parquet"
    args = ["paths", str(path), "--step-s", str(step_s), "--duration-s", str(duration_s),
            "--out", str(out)]
    for a, b in PAIRS:
        args += ["--pair", a, b]
    assert main(args) == 0
    import pandas as pd

    ours = pd.read_parquet(out)
    t = np.arange(int(round(duration_s / step_s))) * step_s
    assert len(ours) == len(t) * len(PAIRS)
    ref, _, _ = reference_routes(t)
    names = [s[0] for s in STATIONS]
    rtt_err = []
    odd = []
    differs = set()           # instants where some pair's path differs
    for row in ours.itertuples():
        k = int(round(row.t_s / step_s))
        want = ref[k][(row.src, row.dst)]
        got = (row.path_ids, row.rtt_ms) if row.reachable else None
        if (want is None) == (got is None) and (want is None or want[0] == got[0]):
            if want is not None:
                rtt_err.append(abs(want[1] - got[1]))
            continue
        differs.add(k)
        # a difference must sit within 0.1 s of a ground window's edge
        tt = np.array([row.t_s - 0.1, row.t_s, row.t_s + 0.1])
        r3, st3 = reference_positions(tt)
        if not any(near_ground_edge(r3, st3, names.index(s), [0, 1, 2])
                   for s in (row.src, row.dst)):
            odd.append((row.t_s, row.src, row.dst, want, got))
    assert not odd, odd[:5]
    assert 1.0 - len(differs) / len(t) >= min_agree, sorted(differs)
    rtt_err = np.array(rtt_err)
    assert rtt_err.max() <= 0.01, rtt_err.max()          # ms
    return ours, rtt_err, len(differs)


def test_kuiper_630_paths_match_an_independent_reference(tmp_path):
    """200 s at 100 ms, the experiment as published: 2,000 instants x 3 pairs."""
    ours, err, diff = _check(tmp_path, 200.0, 0.1, 0.999)
    # measured: identical paths at every instant (window edges refined to 0.01 s here; at
    # the engine's 0.1 s, 2 of the 2,000 instants differed, each within 0.04 s of an edge)
    assert ours["reachable"].all()
    # the RTTs are those of a real 630 km shell: tens of ms, paths of several hops
    assert ours["rtt_ms"].min() > 5.0 and ours["rtt_ms"].max() < 200.0
    assert err.max() < 1e-4        # ms; measured: at most 9.8 ns


def test_paths_python_api_and_errors(tmp_path):
    path = write_scenario(tmp_path)
    table = orbsched.paths(path, [("Manila", "Dalian"), (0, 1)], step_s=10.0,
                           duration_s=30.0)
    assert list(table.columns) == ["t_s", "src", "dst", "reachable", "rtt_ms", "hops",
                                   "path_ids"]
    assert table["t_s"].tolist() == [0.0, 0.0, 10.0, 10.0, 20.0, 20.0]
    sat = table[table.src == "0"]
    assert (sat["path_ids"] == "0-1").all() and (sat["hops"] == 1).all()
    # two in-plane neighbours of a 34-satellite plane at 630 km: 2 (R + h) sin(pi / 34)
    chord = 2 * (6378.137 + 630) * math.sin(math.pi / 34)
    assert np.allclose(sat["rtt_ms"], 2 * chord / C_KM_S * 1e3, rtol=3e-3)
    # letting routes pass through stations adds links, so no route gets longer
    relay = orbsched.paths(path, [("Manila", "Istanbul")], step_s=20.0, duration_s=200.0,
                           relay_via_ground=True)
    plain = orbsched.paths(path, [("Manila", "Istanbul")], step_s=20.0, duration_s=200.0)
    assert relay.reachable.all() and (relay.rtt_ms <= plain.rtt_ms + 1e-9).all()
    with pytest.raises(orbsched.ScenarioError, match="neither a ground station"):
        orbsched.paths(path, [("Paris", "Dalian")], step_s=10.0)
    with pytest.raises(orbsched.ScenarioError, match="duration-s must be in"):
        orbsched.paths(path, [("Manila", "Dalian")], step_s=10.0, duration_s=500.0)
    assert main(["paths", str(path), "--pair", "Manila", "Dalian", "--step-s", "10",
                 "--out", str(tmp_path / "x.txt")]) == 2
