"""Ground-link rules: elevation mask and slant-range limit, per station or network-wide, and
stations up to 100 km high.  Reference: skyfield (``EarthSatellite`` minus a WGS84
``latlon`` topos: altaz and distance) sampled every second, independent of the contact
plan's search."""
import numpy as np
import pytest

from orbsched import ScenarioError
from orbsched.geometry import visibility
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.contacts import compute_contact_plan
from orbsched.scenario.schema import scenario_from_dict

TOL_S = 0.1           # the contact plan's edge tolerance


def _scenario(stations, hours=6.0, **network):
    network.setdefault("cache", False)
    return scenario_from_dict({
        "start_utc": "2024-06-21T00:00:00Z", "duration_h": hours, "step_s": 60,
        "constellations": [{"type": "walker", "name": "w", "planes": 3, "sats_per_plane": 4,
                            "phasing": 1, "altitude_km": 550, "inclination_deg": 53}],
        "ground_stations": stations, "network": {"topology": "none", **network}})


def _skyfield_tracks(fleet, sc, t):
    """Elevation (deg) and slant range (km) of every satellite from every station,
    (n_stations, n_sats, len(t)), by skyfield."""
    from skyfield.api import EarthSatellite, wgs84

    ts = fleet.timebase.times(0.0).ts
    times = fleet.timebase.times(t)
    el = np.empty((len(sc.ground_stations), len(fleet), len(t)))
    rng = np.empty_like(el)
    sats = [EarthSatellite.from_satrec(s, ts) for s in fleet.sets[0].satrecs]
    for k, st in enumerate(sc.ground_stations):
        topos = wgs84.latlon(st.lat_deg, st.lon_deg, elevation_m=st.elevation_m)
        for i, sat in enumerate(sats):
            alt, _, dist = (sat - topos).at(times).altaz()
            el[k, i], rng[k, i] = alt.degrees, dist.km
    return el, rng


def _check_windows(gw, allowed, t, n_sats):
    """Every 1 s sample where the rules hold is inside a window and every sample inside a
    window satisfies them, except within TOL_S of an edge."""
    for k in range(allowed.shape[0]):
        for i in range(n_sats):
            w = gw[(gw.station_id == k) & (gw.sat == i)]
            inside = np.zeros(len(t), bool)
            near = np.zeros(len(t), bool)
            for row in w.itertuples():
                inside |= (t >= row.start_s) & (t <= row.end_s)
                for edge, clipped in ((row.start_s, row.start_clipped),
                                      (row.end_s, row.end_clipped)):
                    if not clipped:
                        near |= np.abs(t - edge) <= TOL_S
            bad = (inside != allowed[k, i]) & ~near
            assert not bad.any(), (k, i, t[bad][:5])


def test_range_limit_and_mask_hold_together_and_alone():
    """Three stations: a 10 deg mask only (the network default), a 1,500 km range limit only
    (mask -90 deg: none), and both; windows against skyfield every second."""
    stations = [{"name": "mask", "lat_deg": 40.89, "lon_deg": -83.89},
                {"name": "range", "lat_deg": 40.89, "lon_deg": -83.89, "max_range_km": 1500.0,
                 "min_elevation_deg": -90},
                {"name": "both", "lat_deg": 40.89, "lon_deg": -83.89, "max_range_km": 1500.0,
                 "min_elevation_deg": 30.0}]
    fleet, sc = build_constellation(_scenario(stations))
    gw = compute_contact_plan(fleet, sc).ground_windows
    t = np.arange(0.0, sc.duration_s + 0.5, 1.0)
    el, rng = _skyfield_tracks(fleet, sc, t)
    allowed = np.stack([el[0] >= 10.0, rng[1] <= 1500.0, (el[2] >= 30.0) & (rng[2] <= 1500.0)])
    assert allowed.sum(axis=(1, 2)).min() > 1000          # each rule admits passes
    assert (allowed[1] != (el[1] >= 10.0)).sum() > 100     # the range rule is not a mask
    _check_windows(gw, allowed, t, len(fleet))
    # the highest elevation of each window: refined, so at least the sampled maximum, and
    # within 0.01 deg of it (a 1 s sample misses little near a culmination)
    for row in gw.itertuples():
        m = (t >= row.start_s) & (t <= row.end_s)
        if m.sum() < 3:
            continue
        sampled = el[row.station_id, row.sat, m].max()
        assert sampled - 1e-4 <= row.max_elevation_deg <= sampled + 0.01, row


def test_network_defaults_apply_unless_a_station_sets_its_own():
    stations = [{"name": "a", "lat_deg": 10.0, "lon_deg": 20.0},
                {"name": "b", "lat_deg": 10.0, "lon_deg": 20.0, "min_elevation_deg": 5.0,
                 "max_range_km": 900.0}]
    sc = _scenario(stations, ground_min_elevation_deg=25.0, ground_max_range_km=2000.0)
    assert visibility.min_elevation_deg(sc.ground_stations, 25.0).tolist() == [25.0, 5.0]
    assert visibility.max_range_km(sc.ground_stations, 2000.0).tolist() == [2000.0, 900.0]
    assert visibility.max_range_km(sc.ground_stations[:1]).tolist() == [np.inf]
    fleet, sc = build_constellation(sc)
    gw = compute_contact_plan(fleet, sc).ground_windows
    t = np.arange(0.0, sc.duration_s + 0.5, 1.0)
    el, rng = _skyfield_tracks(fleet, sc, t)
    allowed = np.stack([(el[0] >= 25.0) & (rng[0] <= 2000.0), (el[1] >= 5.0) & (rng[1] <= 900.0)])
    _check_windows(gw, allowed, t, len(fleet))


def test_a_station_21_9_km_high_is_accepted_and_seen_from_there():
    """A stratospheric platform at 21.9 km (the GMAT comparison's height): its elevations
    match skyfield's altaz for that height, and its windows skyfield's samples."""
    st = [{"name": "haps", "lat_deg": 35.0, "lon_deg": 139.0, "elevation_m": 21900.0,
           "min_elevation_deg": 0.0}]
    fleet, sc = build_constellation(_scenario(st))
    assert sc.ground_stations[0].elevation_m == 21900.0
    t = np.arange(0.0, sc.duration_s, 7.0)
    el, rng = _skyfield_tracks(fleet, sc, t)
    r, _ = fleet.propagate(t)
    ours = visibility.ground_elevation_deg(r, fleet.timebase, t, sc.ground_stations)
    assert np.abs(ours - el).max() < 1e-4             # deg
    # 0 deg from 21.9 km: 2.2 deg more sky below the horizon than from the ground
    gw = compute_contact_plan(fleet, sc).ground_windows
    t1 = np.arange(0.0, sc.duration_s + 0.5, 1.0)
    el1, _ = _skyfield_tracks(fleet, sc, t1)
    _check_windows(gw, el1 >= 0.0, t1, len(fleet))
    ok = dict(st[0], elevation_m=100000.0)
    assert _scenario([ok]).ground_stations[0].elevation_m == 100000.0
    with pytest.raises(ScenarioError, match="elevation_m"):
        _scenario([dict(st[0], elevation_m=100001.0)])
    with pytest.raises(ScenarioError, match="max_range_km"):
        _scenario([dict(st[0], max_range_km=0.0)])
    with pytest.raises(ScenarioError, match="min_elevation_deg"):
        _scenario([dict(st[0], min_elevation_deg=-91.0)])
