"""Fixed topologies for any fleet: an explicit ISL file, and +grid inferred from elements."""
import json
import math

import numpy as np
import pytest
from conftest import shared_file

from orbsched import DataFileError, ScenarioError
from orbsched.geometry import topology
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.contacts import compute_contact_plan
from orbsched.geometry.visibility import walker_grid_pairs
from orbsched.scenario.schema import scenario_from_dict


def omm_shell(path, planes, per_plane, phasing=0, spread=360.0, altitude_shift=None,
              extra=()):
    """A Walker-like shell written as OMM (mean motion for ~550 km), plane-major; ``extra``
    adds satellites as (raan_deg, mean_anomaly_deg, mean_motion_rev_day)."""
    recs = []
    total = planes * per_plane
    for p in range(planes):
        for j in range(per_plane):
            recs.append((p * spread / planes, j * 360.0 / per_plane
                         + p * phasing * 360.0 / total, 15.05))
    recs += list(extra)
    out = [{"OBJECT_NAME": f"SAT-{k:03d}", "EPOCH": "2024-06-21T00:00:00.000000",
            "MEAN_MOTION": mm, "ECCENTRICITY": 1e-4, "INCLINATION": 53.0,
            "RA_OF_ASC_NODE": raan, "ARG_OF_PERICENTER": 0.0, "MEAN_ANOMALY": ma % 360.0,
            "NORAD_CAT_ID": 70000 + k, "BSTAR": 0.0, "MEAN_MOTION_DOT": 0.0,
            "MEAN_MOTION_DDOT": 0.0} for k, (raan, ma, mm) in enumerate(recs)]
    path.write_text(json.dumps(out))
    return path


def _scenario(tmp_path, cons, hours=1.0, **network):
    network.setdefault("cache", False)
    return scenario_from_dict({"start_utc": "2024-06-21T00:00:00Z", "duration_h": hours,
                               "constellations": cons, "network": network},
                              base_dir=tmp_path)


def _pairs(links):
    return set(zip(links.a.tolist(), links.b.tolist()))


# ------------------------------------------------------------------------------ +grid
@pytest.mark.parametrize("phasing, shift", [(1, 0), (0, 0), (2, 1)])
def test_inferred_grid_of_a_walker_written_as_omm_is_the_walker_grid(tmp_path, phasing, shift):
    """The same delta shell as OMM (planes and slots inferred from the states) and as a
    Walker shell (its layout): the same links, the seam (index moved by F) included."""
    omm_shell(tmp_path / "s.json", 8, 6, phasing)
    sc = _scenario(tmp_path, [{"type": "omm", "path": "s.json"}], topology="+grid",
                   grid_shift=shift)
    fleet, sc = build_constellation(sc)
    got = topology.grid_links(fleet, sc, shift)
    want = walker_grid_pairs(8, 6, phasing, "delta", shift)
    assert _pairs(got) == set(zip(want[0].tolist(), want[1].tolist()))
    assert got.misfits == []
    deg = np.bincount(np.concatenate([got.a, got.b]), minlength=len(fleet))
    assert (deg == 4).all()


def test_star_pattern_has_a_seam_and_a_lone_satellite_is_reported(tmp_path):
    """Nodes over 180 deg: no links across the widest gap.  A satellite in a plane of its own
    (node 100 deg off the shell) and one at another altitude (14.2 rev/day) fit no plane."""
    omm_shell(tmp_path / "s.json", 6, 5, spread=180.0,
              extra=[(100.0 + 15.0, 10.0, 15.05), (60.0, 5.0, 14.2)])
    sc = _scenario(tmp_path, [{"type": "omm", "path": "s.json"}], topology="+grid")
    fleet, sc = build_constellation(sc)
    got = topology.grid_links(fleet, sc)
    want = walker_grid_pairs(6, 5, 0, "star")
    assert _pairs(got) == set(zip(want[0].tolist(), want[1].tolist()))
    assert sorted(m[:2] for m in got.misfits) == [(30, "SAT-030"), (31, "SAT-031")]
    assert all("alone in its plane" in m[2] for m in got.misfits)
    plan = compute_contact_plan(fleet, sc)
    assert sorted(m[0] for m in plan.grid_misfits) == [30, 31]
    written = plan.write_tables(tmp_path / "out")
    assert "grid_misfits.csv" in [p.name for p in written]
    used = set(plan.isl_windows.sat_a) | set(plan.isl_windows.sat_b)
    assert not used & {30, 31}


def test_half_slot_shift_gives_a_consistent_lattice(tmp_path):
    """Hypatia's layout (odd planes half a slot ahead) is a tie between two neighbours: the
    inferred grid still gives every satellite two in-plane and two cross-plane links."""
    recs = [(p * 360.0 / 10, j * 36.0 + (p % 2) * 18.0, 15.05) for p in range(10)
            for j in range(10)]
    omm_shell(tmp_path / "s.json", 0, 0, extra=recs)
    sc = _scenario(tmp_path, [{"type": "omm", "path": "s.json"}], topology="+grid")
    fleet, sc = build_constellation(sc)
    got = topology.grid_links(fleet, sc)
    deg = np.bincount(np.concatenate([got.a, got.b]), minlength=len(fleet))
    assert (deg == 4).all() and len(got.a) == 200


def test_walker_shell_keeps_its_layout_beside_an_inferred_fleet(tmp_path):
    omm_shell(tmp_path / "s.json", 4, 5, 1)
    cons = [{"type": "walker", "name": "w", "planes": 6, "sats_per_plane": 8, "phasing": 1,
             "altitude_km": 550, "inclination_deg": 53},
            {"type": "omm", "path": "s.json"}]
    sc = _scenario(tmp_path, cons, topology="+grid", grid_shift=1)
    fleet, sc = build_constellation(sc)
    got = topology.grid_links(fleet, sc, 1)
    w = walker_grid_pairs(6, 8, 1, "delta", 1)
    o = walker_grid_pairs(4, 5, 1, "delta", 1)
    want = set(zip(w[0].tolist(), w[1].tolist())) | set(zip((o[0] + 48).tolist(),
                                                            (o[1] + 48).tolist()))
    assert _pairs(got) == want


def test_real_iridium_next_planes(shared_data):
    """Iridium NEXT (66 satellites, 6 planes of 11, nodes over ~180 deg): six planes found,
    no misfit, 66 in-plane and 5 x 11 cross-plane links, none across the seam."""
    path = shared_file("tle/iridium_next.tle")
    sc = scenario_from_dict({"start_utc": "epoch", "duration_h": 1,
                             "constellations": [{"type": "tle", "path": str(path)}],
                             "network": {"topology": "+grid", "cache": False}})
    fleet, sc = build_constellation(sc)
    got = topology.grid_links(fleet, sc)
    assert got.misfits == [] and len(got.a) == 66 + 55
    deg = np.bincount(np.concatenate([got.a, got.b]), minlength=66)
    assert np.bincount(deg).tolist() == [0, 0, 0, 22, 44]    # the two edge planes: 3 links
    r, _ = fleet.propagate(np.array([0.0]))
    d = np.linalg.norm(r[got.a, 0] - r[got.b, 0], axis=1)
    assert d.max() < 4500.0          # in-plane ~4,030 km; no link to a counter-rotating plane


# ------------------------------------------------------------------------------ ISL file
def test_isl_file_by_index_and_name_with_rates(tmp_path):
    names = ["A", "B", "C", "D"]
    f = tmp_path / "l.csv"
    f.write_text("# a comment\nsat_a,sat_b,rate_gbps\n0,1,\nC,B,40\n3, A ,25.5\n")
    links = topology.read_isl_file(f, names)
    assert list(zip(links.a, links.b)) == [(0, 1), (0, 3), (1, 2)]
    assert math.isnan(links.rate_gbps[0]) and links.rate_gbps[1:].tolist() == [25.5, 40.0]


@pytest.mark.parametrize("text, match", [
    ("a,b\n0,1\n", "header must hold sat_a,sat_b"),
    ("sat_a,sat_b,rate\n0,1,2\n", "unknown column"),
    ("sat_a,sat_b\n0,9\n", "index 9 is outside"),
    ("sat_a,sat_b\n0,Z\n", "neither a fleet index"),
    ("sat_a,sat_b\n1,1\n", "two satellites"),
    ("sat_a,sat_b\n0,1\n1,0\n", "listed twice"),
    ("sat_a,sat_b,rate_gbps\n0,1,-3\n", "rate_gbps: expected a number > 0"),
    ("sat_a,sat_b,rate_gbps\n0,1,nan\n", "rate_gbps: expected a number > 0"),
    ("sat_a,sat_b\n", "no link"),
])
def test_isl_file_errors_name_the_line(tmp_path, text, match):
    f = tmp_path / "l.csv"
    f.write_text(text)
    with pytest.raises(DataFileError, match=match) as exc:
        topology.read_isl_file(f, ["A", "B", "C", "D"])
    assert str(f) in str(exc.value)


def test_isl_file_rejects_an_ambiguous_name(tmp_path):
    """Two satellites of one name (possible in a TLE file): the name is an error naming the
    line; their indices work."""
    names = ["A", "B", "B", "C"]
    f = tmp_path / "l.csv"
    f.write_text("sat_a,sat_b\nB,3\n")
    with pytest.raises(DataFileError, match="'B' names several satellites"):
        topology.read_isl_file(f, names)
    f.write_text("sat_a,sat_b\n2,C\n1,A\n")
    links = topology.read_isl_file(f, names)
    assert list(zip(links.a.tolist(), links.b.tolist())) == [(0, 1), (2, 3)]


def test_file_topology_links_only_the_listed_pairs(tmp_path):
    """The links of an ISL file, up while visible like +grid links, rates from the file."""
    cons = [{"type": "walker", "name": "w", "planes": 6, "sats_per_plane": 12, "phasing": 1,
             "altitude_km": 550, "inclination_deg": 53}]
    (tmp_path / "l.csv").write_text("sat_a,sat_b,rate_gbps\n0,1,50\nw-P01-S00,0,\n")
    sc = _scenario(tmp_path, cons, hours=2.0, topology="file", isl_file="l.csv")
    fleet, sc = build_constellation(sc)
    plan = compute_contact_plan(fleet, sc)
    isl = plan.isl_windows
    assert set(zip(isl.sat_a, isl.sat_b)) == {(0, 1), (0, 12)}
    # in-plane neighbours 30 deg apart (3,586 km): up all the time, at the file's rate
    w = isl[isl.sat_b == 1]
    assert len(w) == 1 and w.start_clipped.all() and w.end_clipped.all()
    assert (w.rate_gbps == 50.0).all()
    # the same slot in the next plane (60 deg of node away): only while within 5,000 km
    w = isl[isl.sat_b == 12]
    assert len(w) == 3 and 0 < (w.end_s - w.start_s).sum() < 0.5 * 7200
    assert w.rate_gbps.isna().all()
    bad = sc.model_copy(update={"network": sc.network.model_copy(update={
        "isl_rate": type(sc.network.isl_rate)(model="near_far")})})
    with pytest.raises(ScenarioError, match="rate_gbps applies with isl_rate.model constant"):
        compute_contact_plan(fleet, bad)
