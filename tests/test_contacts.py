"""Contact plan: ground windows against skyfield, refined ISL edges, terminals, cache, tables."""
import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from orbsched.geometry import contacts, visibility
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.contacts import compute_contact_plan
from orbsched.scenario.errors import OrbschedError, ScenarioError
from orbsched.scenario.schema import scenario_from_dict

BLUFFTON = {"name": "Bluffton", "lat_deg": 40.8939, "lon_deg": -83.8917, "elevation_m": 0.0}


def scenario(constellations, hours=3.0, stations=(), start="2024-06-21T00:00:00Z", step_s=60,
             **network):
    network.setdefault("cache", False)
    return scenario_from_dict({"start_utc": start, "duration_h": hours, "step_s": step_s,
                               "constellations": constellations,
                               "ground_stations": list(stations), "network": network})


def walker(planes=6, per_plane=8, phasing=1):
    return {"type": "walker", "name": "w", "planes": planes, "sats_per_plane": per_plane,
            "phasing": phasing, "altitude_km": 550, "inclination_deg": 53}


def find_events_times(sat, station, timebase, duration_s, min_el_deg):
    """skyfield's rise (0) and set (2) times in s since the start."""
    from skyfield.api import wgs84

    topos = wgs84.latlon(station["lat_deg"], station["lon_deg"], station["elevation_m"])
    t, ev = sat.find_events(topos, timebase.times(0.0), timebase.times(duration_s),
                            altitude_degrees=min_el_deg)
    s = timebase.seconds_since_start(t)
    return s[ev == 0], s[ev == 2]


def compare_windows(gw, rises, sets, duration_s, tol_s=1.0):
    inner_start = gw.start_s[~gw.start_clipped].to_numpy()
    inner_end = gw.end_s[~gw.end_clipped].to_numpy()
    rises = rises[(rises > 1.0) & (rises < duration_s - 1.0)]
    sets = sets[(sets > 1.0) & (sets < duration_s - 1.0)]
    assert len(inner_start) == len(rises) and len(inner_end) == len(sets)
    np.testing.assert_allclose(np.sort(inner_start), np.sort(rises), atol=tol_s, rtol=0)
    np.testing.assert_allclose(np.sort(inner_end), np.sort(sets), atol=tol_s, rtol=0)


# ------------------------------------------------------------------------------ ground
def test_ground_windows_match_skyfield_find_events():
    from skyfield.api import EarthSatellite

    st = dict(BLUFFTON, min_elevation_deg=10.0)
    sc = scenario([walker(1, 1, 0)], hours=24.0, stations=[st], topology="none")
    fleet, sc = build_constellation(sc)
    plan = compute_contact_plan(fleet, sc)
    gw = plan.ground_windows
    assert len(gw) >= 3
    sat = EarthSatellite.from_satrec(fleet.sets[0].satrecs[0], fleet.timebase.times(0.0).ts)
    rises, sets = find_events_times(sat, st, fleet.timebase, sc.duration_s, 10.0)
    compare_windows(gw, rises, sets, sc.duration_s)
    # maximum elevations against skyfield's culminations
    from skyfield.api import wgs84

    topos = wgs84.latlon(st["lat_deg"], st["lon_deg"])
    t, ev = sat.find_events(topos, fleet.timebase.times(0.0),
                            fleet.timebase.times(sc.duration_s), altitude_degrees=10.0)
    culm = t[ev == 1]
    alt = (sat - topos).at(culm).altaz()[0].degrees
    cs = fleet.timebase.seconds_since_start(culm)
    for s, a in zip(cs, alt):
        row = gw[(gw.start_s <= s) & (gw.end_s >= s)]
        assert len(row) == 1
        assert abs(row.max_elevation_deg.iloc[0] - a) < 0.01


def test_short_passes_between_grid_points_are_found():
    """Passes above 35 deg last under 5 min: with a 300 s grid most fall between grid points."""
    from skyfield.api import EarthSatellite

    st = dict(BLUFFTON, min_elevation_deg=35.0)
    sc = scenario([walker(3, 2, 1)], hours=24.0, stations=[st], topology="none", step_s=300)
    fleet, sc = build_constellation(sc)
    gw = compute_contact_plan(fleet, sc).ground_windows
    n_passes = 0
    for i, satrec in enumerate(fleet.sets[0].satrecs):
        sat = EarthSatellite.from_satrec(satrec, fleet.timebase.times(0.0).ts)
        rises, sets = find_events_times(sat, st, fleet.timebase, sc.duration_s, 35.0)
        assert np.all(sets - rises < 300.0)
        compare_windows(gw[gw.sat == i], rises, sets, sc.duration_s)
        n_passes += len(rises)
    assert n_passes >= 3


def test_spherical_horizon_shifts_edges_slightly():
    st = dict(BLUFFTON, min_elevation_deg=10.0)
    base = scenario([walker(1, 1, 0)], hours=24.0, stations=[st], topology="none")
    fleet, sc = build_constellation(base)
    geo = compute_contact_plan(fleet, sc).ground_windows
    sph_sc = sc.model_copy(update={"network": sc.network.model_copy(
        update={"ground_horizon": "spherical"})})
    sph = compute_contact_plan(fleet, sph_sc).ground_windows
    assert len(geo) == len(sph)
    diff = np.abs(geo.start_s.to_numpy() - sph.start_s.to_numpy())
    assert diff.max() < 30.0 and diff.max() > 0.05


@pytest.mark.shared_data
def test_iss_bluffton_passes_match_skyfield_reference(tmp_path):
    ref = json.loads(shared_file("skyfield_reference_values.json").read_text())
    tle = ref["skyfield_docs_is_sunlit_example"]["tle"]
    vis = ref["skyfield_docs_ground_visibility_example"]
    events = vis["find_events_2014-01-23_to_2014-01-24_min_alt_30deg"]
    obs = vis["observer"]
    path = tmp_path / "iss.tle"
    path.write_text("ISS (ZARYA)\n" + "\n".join(tle) + "\n")
    st = {"name": "Bluffton", "lat_deg": obs["lat_deg"], "lon_deg": obs["lon_deg"],
          "elevation_m": obs["elevation_m"], "min_elevation_deg": 30.0}
    sc = scenario([{"type": "tle", "path": str(path)}], hours=24.0, stations=[st],
                  start="2014-01-23T00:00:00Z", topology="none")
    fleet, sc = build_constellation(sc)
    gw = compute_contact_plan(fleet, sc).ground_windows
    start = datetime(2014, 1, 23, tzinfo=timezone.utc)

    def secs(text):
        dt = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        return fleet.timebase.seconds_from_datetime(dt)

    rises = np.array([secs(e[0]) for e in events if e[1].startswith("rise")])
    sets = np.array([secs(e[0]) for e in events if e[1].startswith("set")])
    assert start == fleet.timebase.start_utc
    # reference times are printed to the whole second (rounded): 0.5 s + 1 s
    compare_windows(gw, rises, sets, sc.duration_s, tol_s=1.5)
    # and against skyfield itself, computed here
    from skyfield.api import EarthSatellite

    sat = EarthSatellite(tle[0], tle[1], "ISS", fleet.timebase.times(0.0).ts)
    r, s = find_events_times(sat, st, fleet.timebase, sc.duration_s, 30.0)
    compare_windows(gw, r, s, sc.duration_s, tol_s=1.0)


# ------------------------------------------------------------------------------ ISL
def test_grid_isl_edges_are_refined_visibility_edges():
    sc = scenario([walker(6, 8, 1)], hours=2.0, topology="+grid")
    fleet, sc = build_constellation(sc)
    plan = compute_contact_plan(fleet, sc, tol_s=0.05)
    isl = plan.isl_windows
    assert len(isl) > 0
    sel = visibility.LinkSelector(sc.network, len(fleet), sc)
    for col, clipped, sign in (("end_s", "end_clipped", 1), ("start_s", "start_clipped", -1)):
        w = isl[~isl[clipped]]
        assert len(w) > 0
        assert np.all(np.abs(w[col] / 60.0 - np.round(w[col] / 60.0)) > 1e-6)  # off the grid
        for dt, expect in ((-0.2 * sign, True), (0.2 * sign, False)):
            tt = w[col].to_numpy() + dt
            for k in range(len(w)):
                r, _ = fleet.propagate(np.array([tt[k]]))
                vis, _ = sel.visible(r[:, 0], w.sat_a.to_numpy()[k:k + 1],
                                     w.sat_b.to_numpy()[k:k + 1])
                assert vis[0] == expect
    assert np.all(isl.range_min_km <= isl.range_start_km + 1e-9)
    assert np.all(isl.range_start_km <= sc.network.max_range_km + 1e-3)


def test_nearest_k_plan_never_exceeds_terminals():
    sc = scenario([walker(8, 10, 1)], hours=3.0, topology="nearest-k", terminals=3)
    fleet, sc = build_constellation(sc)
    isl = compute_contact_plan(fleet, sc).isl_windows
    # sweep over window edges: ends before starts at the same instant
    ev = pd.concat([
        pd.DataFrame({"t": isl.start_s, "d": 1, "a": isl.sat_a, "b": isl.sat_b}),
        pd.DataFrame({"t": isl.end_s, "d": -1, "a": isl.sat_a, "b": isl.sat_b})])
    ev = ev.sort_values(["t", "d"], kind="stable")
    deg = np.zeros(len(fleet), int)
    for _t, d, a, b in ev.itertuples(index=False):
        deg[a] += d
        deg[b] += d
        assert deg.max() <= 3
    # decisions start links on the grid; visibility ends them between grid points
    inner = isl[~isl.start_clipped]
    assert np.allclose(inner.start_s / 60.0, np.round(inner.start_s / 60.0))
    # sticky: links last much longer than a grid step on average
    assert (isl.end_s - isl.start_s).mean() > 600.0


# ------------------------------------------------------------------------------ cache
def test_cache_hit_and_miss(tmp_path):
    sc = scenario([walker(4, 6, 1)], hours=1.0, stations=[dict(BLUFFTON)], cache=True)
    fleet, sc = build_constellation(sc)
    p1 = compute_contact_plan(fleet, sc, cache_dir=tmp_path)
    assert not p1.from_cache
    p2 = compute_contact_plan(fleet, sc, cache_dir=tmp_path)
    assert p2.from_cache and p2.key == p1.key
    pd.testing.assert_frame_equal(p1.isl_windows, p2.isl_windows)
    pd.testing.assert_frame_equal(p1.ground_windows, p2.ground_windows)
    # any input that changes the geometry changes the key
    changed = sc.model_copy(update={"network": sc.network.model_copy(
        update={"max_range_km": 4000.0})})
    p3 = compute_contact_plan(fleet, changed, cache_dir=tmp_path)
    assert not p3.from_cache and p3.key != p1.key
    st2 = sc.model_copy(update={"ground_stations": [sc.ground_stations[0].model_copy(
        update={"min_elevation_deg": 20.0})]})
    assert not compute_contact_plan(fleet, st2, cache_dir=tmp_path).from_cache
    # bandwidth does not change the geometry: still a hit
    bw = sc.model_copy(update={"network": sc.network.model_copy(
        update={"bandwidth_gbps": 50.0})})
    assert compute_contact_plan(fleet, bw, cache_dir=tmp_path).from_cache
    # the environment variable chooses the folder when no cache_dir is given
    # (and network.cache: false bypasses the cache)
    off = sc.model_copy(update={"network": sc.network.model_copy(update={"cache": False})})
    assert not compute_contact_plan(fleet, off, cache_dir=tmp_path).from_cache


def test_cache_key_follows_element_file_bytes(tmp_path, monkeypatch):
    from sgp4 import exporter

    from orbsched.geometry.orbits import circular_satrec

    sat = circular_satrec(12345, datetime(2024, 6, 21, tzinfo=timezone.utc), 550, 53, 10, 0)
    l1, l2 = exporter.export_tle(sat)
    path = tmp_path / "one.tle"
    path.write_text(f"ONE\n{l1}\n{l2}\n")
    sc = scenario([{"type": "tle", "path": str(path)}], hours=1.0, cache=True)
    fleet, sc = build_constellation(sc)
    monkeypatch.setenv("ORBSCHED_CACHE", str(tmp_path / "env"))
    k1 = compute_contact_plan(fleet, sc).key
    assert (tmp_path / "env" / "contacts").is_dir()
    assert compute_contact_plan(fleet, sc).from_cache
    path.write_text(f"ONE\n{l1}\n{l2}\n\n")  # same satellite, different bytes
    assert contacts.plan_key(contacts.plan_inputs(fleet, sc)) != k1


def test_write_tables(tmp_path):
    sc = scenario([walker(4, 6, 1)], hours=1.0, stations=[dict(BLUFFTON)], topology="+grid")
    fleet, sc = build_constellation(sc)
    plan = compute_contact_plan(fleet, sc)
    paths = plan.write_tables(tmp_path / "out")
    assert [p.name for p in paths] == ["isl_windows.csv", "ground_windows.csv"]
    isl = pd.read_csv(paths[0])
    assert {"sat_a", "sat_b", "name_a", "start_utc", "end_utc", "start_s", "end_s",
            "range_start_km", "range_min_km"} <= set(isl.columns)
    assert len(isl) == len(plan.isl_windows) and isl.start_utc.str.endswith("Z").all()
    gw = pd.read_csv(paths[1])
    assert {"station", "sat", "sat_name", "start_s", "end_s", "max_elevation_deg",
            "start_utc"} <= set(gw.columns)


def test_bad_tolerance_is_a_scenario_error():
    sc = scenario([walker(2, 2, 1)], hours=1.0)
    fleet, sc = build_constellation(sc)
    with pytest.raises(ScenarioError):
        compute_contact_plan(fleet, sc, tol_s=5.0)
    assert issubclass(contacts.CacheError, OrbschedError)
