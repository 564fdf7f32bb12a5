"""Constellations, element-set readers and propagation against skyfield and JPL HORIZONS."""
import json
import math

import numpy as np
import pytest
from conftest import shared_file

from orbsched import DataFileError, PropagationError, scenario_from_dict
from orbsched.geometry import astro
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.orbits import (
    read_ephemeris_csv,
    read_omm,
    read_tle,
    sso_inclination_deg,
    tle_checksum,
)
from orbsched.scenario.constants import EARTH_EQUATORIAL_RADIUS_KM

ISS = ["ISS (ZARYA)",
       "1 25544U 98067A   18184.80969102  .00001614  00000-0  31745-4 0  9993",
       "2 25544  51.6414 295.8524 0003435 262.6267 204.2868 15.54005638121106"]


def _fleet(constellations, start="2024-06-21T00:00:00Z", hours=2, **kw):
    sc = scenario_from_dict({"start_utc": start, "duration_h": hours,
                             "constellations": constellations, **kw})
    return build_constellation(sc)[0]


def _nodes_and_phases(fleet, t=0.0):
    r, v = fleet.propagate(np.array([t]))
    r, v = r[:, 0], v[:, 0]
    h = np.cross(r, v)
    node = np.degrees(np.arctan2(h[:, 0], -h[:, 1])) % 360  # RAAN of the GCRS orbit plane
    inc = np.degrees(np.arccos(h[:, 2] / np.linalg.norm(h, axis=1)))
    return node, inc, r, v


@pytest.mark.parametrize("pattern, spread", [("delta", 360.0), ("star", 180.0)])
def test_walker_plane_spacing_and_phasing(pattern, spread):
    P, S, F = 6, 5, 2
    fleet = _fleet([{"type": "walker", "name": "w", "pattern": pattern, "planes": P,
                     "sats_per_plane": S, "phasing": F, "altitude_km": 550,
                     "inclination_deg": 53, "raan_offset_deg": 10}])
    assert len(fleet) == P * S and fleet.names[S] == "w-P01-S00"
    sats = fleet.sets[0].satrecs
    raan = np.degrees([s.nodeo for s in sats]).reshape(P, S)
    ma = np.degrees([s.mo for s in sats]).reshape(P, S)
    np.testing.assert_allclose(np.diff(raan[:, 0]), spread / P, atol=1e-9)
    np.testing.assert_allclose(raan[0, 0], 10.0, atol=1e-9)
    np.testing.assert_allclose((np.diff(ma, axis=1)) % 360, 360.0 / S, atol=1e-9)
    np.testing.assert_allclose((ma[1:, 0] - ma[:-1, 0]) % 360, F * 360.0 / (P * S), atol=1e-9)
    # and in the propagated GCRS states: planes spaced as asked (TEME->GCRS shifts all
    # equally); osculating nodes differ from mean ones by J2 short-period terms (< 0.15 deg)
    node, inc, r, _ = _nodes_and_phases(fleet)
    d = (np.diff(node.reshape(P, S)[:, 0]) + 180) % 360 - 180
    np.testing.assert_allclose(d, spread / P, atol=0.15)
    np.testing.assert_allclose(inc, 53.0, atol=0.3)  # GCRS vs TEME equator: ~0.3 deg of precession


def test_walker_altitude_is_mean_semi_major_axis():
    fleet = _fleet([{"type": "walker", "name": "w", "planes": 1, "sats_per_plane": 1,
                     "altitude_km": 550, "inclination_deg": 53}], hours=2)
    t = np.linspace(0, 5736, 600)  # one orbit
    r, _ = fleet.propagate(t)
    radius = np.linalg.norm(r[0], axis=1)
    assert radius.mean() - EARTH_EQUATORIAL_RADIUS_KM == pytest.approx(550, abs=8)  # J2 terms
    assert radius.max() - radius.min() < 25


def test_sso_inclination_node_and_ltan():
    """Sun-synchronous: i = 98.0 deg at 650 km (CONTEXT.md: Suncatcher ~98.0); the node keeps
    its angle to the Sun (0.9856 deg/day); a dawn-dusk plane's normal points near the Sun."""
    assert sso_inclination_deg(650) == pytest.approx(98.0, abs=0.05)
    assert sso_inclination_deg(550) == pytest.approx(97.6, abs=0.05)
    fleet = _fleet([{"type": "sso", "name": "dd", "altitude_km": 650, "ltan_h": 18.0,
                     "sats": 3}])
    sat = fleet.sets[0].satrecs[0]
    assert math.degrees(sat.nodedot) * 1440 * 365.2422 == pytest.approx(360.0, abs=2.0)
    _, inc, r, v = _nodes_and_phases(fleet)
    h = np.cross(r[0], v[0])
    sun = astro.sun_positions_km(fleet.timebase, [0.0])[0]
    beta = 90 - math.degrees(math.acos(h @ sun / np.linalg.norm(h) / np.linalg.norm(sun)))
    # dawn-dusk at the June solstice: beta = 90 - 23.4 (declination) - 8 (i - 90) = 58.6 deg
    assert abs(beta) == pytest.approx(58.6, abs=1.0)
    noon = _fleet([{"type": "sso", "name": "n", "altitude_km": 650, "ltan_h": 12.0}])
    _, _, r, v = _nodes_and_phases(noon)
    h = np.cross(r[0], v[0])
    beta = 90 - math.degrees(math.acos(h @ sun / np.linalg.norm(h) / np.linalg.norm(sun)))
    assert abs(beta) < 25  # noon-midnight plane: the Sun is near the plane


def test_sso_impossible_altitude_is_an_error():
    with pytest.raises(Exception, match="less than or equal to 5900"):
        _fleet([{"type": "sso", "name": "x", "altitude_km": 7000, "ltan_h": 6}])


# ----------------------------------------------------------------------------- TLE reader
def test_tle_two_and_three_line(tmp_path):
    p = tmp_path / "a.tle"
    p.write_text("\n".join(ISS + ISS[1:]) + "\n")
    s = read_tle(p)
    assert s.names == ["ISS (ZARYA)", "NORAD 25544"]


@pytest.mark.parametrize("mutate, words, line", [
    (lambda L: L[:2] + [L[2][:68] + "0"], "checksum", 3),
    (lambda L: L[:2] + [L[2][:60]], "60 characters long", 3),
    (lambda L: [L[0], L[1]], "not followed by line 2", 2),
    (lambda L: [L[0], L[2], L[1]], "expected line 1 of a TLE to start with '1 '", 2),
    (lambda L: [L[2], L[1]], "line 2 of a TLE without its line 1", 1),
    (lambda L: L[:2] + ["2 25545" + L[2][7:68] + str(tle_checksum("2 25545" + L[2][7:68]))],
     "does not match", 3),
])
def test_tle_errors_name_file_and_line(tmp_path, mutate, words, line):
    p = tmp_path / "bad.tle"
    p.write_text("\n".join(mutate(list(ISS))) + "\n")
    with pytest.raises(DataFileError) as exc:
        read_tle(p)
    msg = str(exc.value)
    assert "bad.tle" in msg and f"line {line}" in msg and words in msg, msg
    assert exc.value.line == line


def test_tle_error_shows_template(tmp_path):
    p = tmp_path / "bad.tle"
    p.write_text("\n".join(ISS[:2] + [ISS[2][:68] + "0"]) + "\n")
    with pytest.raises(DataFileError, match=r"expected TLE line 2 like:\n\s+2 NNNNN"):
        read_tle(p)


# ----------------------------------------------------------------------------- OMM reader
OMM = {"OBJECT_NAME": "BIGNUM-1", "OBJECT_ID": "2030-001A", "EPOCH": "2024-05-20T13:33:20.193984",
       "MEAN_MOTION": 15.06388316, "ECCENTRICITY": 0.0001793, "INCLINATION": 53.0548,
       "RA_OF_ASC_NODE": 261.0513, "ARG_OF_PERICENTER": 106.2162, "MEAN_ANOMALY": 253.9024,
       "EPHEMERIS_TYPE": 0, "CLASSIFICATION_TYPE": "U", "NORAD_CAT_ID": 270123,
       "ELEMENT_SET_NO": 999, "REV_AT_EPOCH": 24955, "BSTAR": 0.00031796,
       "MEAN_MOTION_DOT": 4.456e-5, "MEAN_MOTION_DDOT": 0}


def test_omm_json_and_csv_with_catalog_number_beyond_99999(tmp_path):
    pj = tmp_path / "a.json"
    pj.write_text(json.dumps([OMM, {**OMM, "OBJECT_NAME": "B2", "NORAD_CAT_ID": 5}], indent=1))
    pc = tmp_path / "a.csv"
    pc.write_text(",".join(OMM) + "\n" + ",".join(str(v) for v in OMM.values()) + "\n")
    for p in (pj, pc):
        s = read_omm(p)
        assert s.names[0] == "BIGNUM-1" and s.satrecs[0].satnum == 270123
        assert s.epochs_utc()[0].isoformat().startswith("2024-05-20T13:33:20")


def test_omm_errors_name_the_line(tmp_path):
    bad = dict(OMM)
    del bad["MEAN_MOTION"]
    pj = tmp_path / "a.json"
    pj.write_text(json.dumps([OMM, bad], indent=1))
    with pytest.raises(DataFileError, match=r"a.json, line 21: OMM record lacks MEAN_MOTION"):
        read_omm(pj)
    pc = tmp_path / "a.csv"
    cols = [k for k in OMM if k != "INCLINATION"]
    pc.write_text(",".join(cols) + "\n")
    with pytest.raises(DataFileError, match=r"a.csv, line 1: .*lacks column\(s\) INCLINATION"):
        read_omm(pc)
    pc.write_text(",".join(OMM) + "\n" + ",".join(str(v) for v in OMM.values()).replace(
        "53.0548", "abc") + "\n")
    with pytest.raises(DataFileError, match=r"a.csv, line 2"):
        read_omm(pc)


# ----------------------------------------------------------------------------- ephemeris CSV
def _ephemeris_csv(tmp_path, with_velocity=True, step_s=60.0, hours=2.0):
    fleet = _fleet([{"type": "walker", "name": "w", "planes": 1, "sats_per_plane": 1,
                     "altitude_km": 550, "inclination_deg": 53}], hours=hours)
    t = np.arange(0, hours * 3600 + 1, step_s)
    r, v = fleet.propagate(t)
    iso = fleet.timebase.iso_utc(t, places=3)
    head = "time_utc,x_km,y_km,z_km" + (",vx_km_s,vy_km_s,vz_km_s" if with_velocity else "")
    rows = [head] + [",".join([iso[k]] + [f"{x:.9f}" for x in r[0, k]]
                              + ([f"{x:.12f}" for x in v[0, k]] if with_velocity else []))
                     for k in range(len(t))]
    p = tmp_path / "eph.csv"
    p.write_text("\n".join(rows) + "\n")
    return p, fleet


@pytest.mark.parametrize("with_velocity, tol_m", [(True, 1.0), (False, 50.0)])
def test_external_ephemeris_interpolates_within_tolerance(tmp_path, with_velocity, tol_m):
    """Hermite with velocities from 60 s states: < 1 m off SGP4 between the nodes (measured
    ~0.3 m); a cubic spline on positions alone: < 50 m."""
    p, ref = _ephemeris_csv(tmp_path, with_velocity)
    fleet = _fleet([{"type": "ephemeris", "path": str(p)}], hours=1.9)
    t = np.arange(30, 1.9 * 3600, 60.0)  # midway between nodes
    r, _ = fleet.propagate(t)
    r0, _ = ref.propagate(t)
    err_m = np.linalg.norm(r - r0, axis=2).max() * 1000
    assert err_m < tol_m


def test_external_ephemeris_errors(tmp_path):
    p, _ = _ephemeris_csv(tmp_path)
    lines = p.read_text().splitlines()
    swapped = lines[:5] + [lines[6], lines[5]] + lines[7:]
    p.write_text("\n".join(swapped) + "\n")
    with pytest.raises(DataFileError, match=r"eph.csv, line 7: times of eph must increase"):
        read_ephemeris_csv(p)
    p.write_text("\n".join([lines[0].replace("y_km", "yy")] + lines[1:]) + "\n")
    with pytest.raises(DataFileError, match=r"line 1: missing column\(s\) y_km"):
        read_ephemeris_csv(p)
    p.write_text("\n".join(lines[:3] + [lines[3].replace(",", ",x", 1)] + lines[4:]) + "\n")
    with pytest.raises(DataFileError, match=r"line 4: column x_km: expected a number"):
        read_ephemeris_csv(p)
    p.write_text("\n".join(lines) + "\n")
    fleet = _fleet([{"type": "ephemeris", "path": str(p)}], hours=3)  # longer than the file
    with pytest.raises(PropagationError, match="covers"):
        fleet.propagate(np.array([0.0, 3 * 3600.0]))


# ----------------------------------------------------------------------------- vs skyfield
def test_propagation_matches_skyfield_earthsatellite(tmp_path):
    """Same TLE, same times: GCRS positions equal skyfield's within 1 mm (the TEME->GCRS
    rotation is interpolated from hourly nodes)."""
    from skyfield.api import EarthSatellite

    p = tmp_path / "iss.tle"
    p.write_text("\n".join(ISS) + "\n")
    fleet = _fleet([{"type": "tle", "path": str(p)}], start="2018-07-03T00:00:00Z", hours=30)
    t = np.linspace(0, 30 * 3600, 97)
    r, v = fleet.propagate(t)
    sat = EarthSatellite(ISS[1], ISS[2], ISS[0], astro.timescale())
    pos = sat.at(fleet.timebase.times(t))
    assert np.abs(r[0] - pos.position.km.T).max() < 1e-6
    assert np.abs(v[0] - pos.velocity.km_per_s.T).max() < 1e-9


@pytest.mark.shared_data
def test_iss_against_jpl_horizons():
    """The GCRS states of skyfield's HORIZONS test: within 2 m and 3 km/h, as there."""
    import os
    import tempfile

    ref = json.loads(shared_file("skyfield_reference_values.json").read_text())
    block = ref["skyfield_iss_vs_horizons_test"]
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "iss.tle")
        with open(p, "w") as fh:
            fh.write("\n".join(ISS) + "\n")
        fleet = _fleet([{"type": "tle", "path": p}], start="2018-07-03T00:00:00Z", hours=60)
    ts = astro.timescale()
    for when, state in block["states_tdb"].items():
        y, m, dd = map(int, when.split("T")[0].split("-"))
        t = fleet.timebase.seconds_since_start(ts.tdb(y, m, dd))
        r, v = fleet.propagate(np.array([t]))
        au = astro.ephemeris  # noqa: F841  (DE421 not needed here)
        assert np.linalg.norm(r[0, 0] - np.array(state["xyz_au"]) * 149597870.7) < 0.002
        v_ref = np.array(state["v_au_per_day"]) * 149597870.7 / 86400
        assert np.linalg.norm(v[0, 0] - v_ref) * 3600 < 3.0


# ----------------------------------------------------------------------------- real catalogs
@pytest.mark.shared_data
@pytest.mark.parametrize("kind, rel, count", [("tle", "tle/starlink_2023-07.tle", 4428),
                                              ("omm", "tle/starlink_2024-05_omm.json", 5977)])
def test_starlink_catalogs_load_and_propagate_near_epoch(kind, rel, count):
    path = shared_file(rel)
    sc = scenario_from_dict({"start_utc": "epoch", "duration_h": 1, "step_s": 60,
                             "constellations": [{"type": kind, "path": str(path)}]})
    fleet, resolved = build_constellation(sc)
    assert len(fleet) + len(fleet.excluded) == count
    for name, _source, reason in fleet.excluded:  # reported by name, with SGP4's reason
        assert name and "SGP4 error" in reason
    r, _ = fleet.propagate(np.array([0.0, 1800.0]))
    alt = np.linalg.norm(r, axis=2) - EARTH_EQUATORIAL_RADIUS_KM
    assert np.isfinite(r).all() and np.median(alt) == pytest.approx(550, abs=60)
    assert resolved.start_utc != "epoch"


def test_satellites_failing_sgp4_are_excluded_and_reported_by_name(tmp_path):
    """A 200 km orbit with heavy drag decays within hours (SGP4 error 6): it is excluded with
    its name and SGP4's message, and the geometry output lists it in excluded.csv."""
    from orbsched import compute_geometry

    decaying = {**OMM, "OBJECT_NAME": "DECAYING", "NORAD_CAT_ID": 270124, "MEAN_MOTION": 16.3,
                "BSTAR": 0.05, "MEAN_MOTION_DOT": 0.05}
    p = tmp_path / "d.json"
    p.write_text(json.dumps([decaying, OMM]))
    sc = scenario_from_dict({"start_utc": "2024-05-20T12:00:00Z", "duration_h": 12,
                             "constellations": [{"type": "omm", "path": str(p)}]})
    g = compute_geometry(sc)
    assert g.constellation.names == ["BIGNUM-1"]
    (name, source, reason), = g.constellation.excluded
    assert name == "DECAYING" and "SGP4 error 6" in reason and "decayed" in reason
    g.write(tmp_path / "out")
    assert "DECAYING" in (tmp_path / "out" / "excluded.csv").read_text()
    assert "1 excluded" in g.summary_text()
