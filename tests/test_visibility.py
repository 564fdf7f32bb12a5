"""Visibility kernels (compiled vs numpy twin), +grid structure, nearest-k terminals, stations."""
from datetime import datetime, timezone

import numpy as np
import pytest

from orbsched._kernels import compiled_kernels, reference
from orbsched.geometry import visibility
from orbsched.geometry.astro import TimeBase
from orbsched.geometry.constellation import build_constellation
from orbsched.scenario.constants import EARTH_EQUATORIAL_RADIUS_KM
from orbsched.scenario.errors import OrbschedError, ScenarioError
from orbsched.scenario.schema import GroundStation, NetworkOptions, scenario_from_dict

COMPILED = compiled_kernels()
needs_compiled = pytest.mark.skipif(COMPILED is None, reason="compiled kernels not built")
RMIN = EARTH_EQUATORIAL_RADIUS_KM + 80.0
START = datetime(2024, 6, 21, tzinfo=timezone.utc)


def walker_scenario(planes=6, per_plane=8, phasing=1, pattern="delta", hours=1.0, **network):
    return scenario_from_dict({
        "start_utc": "2024-06-21T00:00:00Z", "duration_h": hours, "step_s": 60,
        "constellations": [{"type": "walker", "name": "w", "pattern": pattern, "planes": planes,
                            "sats_per_plane": per_plane, "phasing": phasing,
                            "altitude_km": 550, "inclination_deg": 53}],
        "network": network})


def shell_points(n, rng, radius=EARTH_EQUATORIAL_RADIUS_KM + 550.0):
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1)[:, None] * radius


def assert_same(a, b):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def walker_positions():
    sc = walker_scenario(planes=12, per_plane=12)
    fleet, _ = build_constellation(sc)
    r, _ = fleet.propagate(np.array([0.0, 1234.5, 3000.0]))
    return r


# ------------------------------------------------------------------------------ kernels
def random_cases(rng):
    yield shell_points(300, rng), 5000.0, RMIN
    yield shell_points(300, rng), 800.0, RMIN
    # mixed altitudes, some points below the grazing sphere, duplicates (distance 0)
    r = shell_points(200, rng) * rng.uniform(0.9, 1.6, size=(200, 1))
    r[10] = r[11]
    yield r, 9000.0, RMIN
    yield rng.uniform(-50.0, 50.0, size=(81, 3)) + [6978.0, 0, 0], 20.0, RMIN  # formation


@needs_compiled
def test_isl_kernels_agree_exactly_on_random_positions():
    rng = np.random.default_rng(7)
    for r, rng_km, rmin in random_cases(rng):
        assert_same(reference.isl_candidates(r, rng_km, rmin),
                    COMPILED["isl_candidates"](r, rng_km, rmin))
        for k in (1, 4, 9):
            assert_same(reference.isl_nearest(r, rng_km, rmin, k),
                        COMPILED["isl_nearest"](r, rng_km, rmin, k))
        i, j = rng.integers(0, len(r), size=(2, 500))
        assert_same(reference.isl_pairs_visible(r, i, j, rng_km, rmin),
                    COMPILED["isl_pairs_visible"](r, i, j, rng_km, rmin))


@needs_compiled
def test_isl_kernels_agree_exactly_on_a_propagated_walker_shell(walker_positions):
    for k in range(walker_positions.shape[1]):
        r = np.ascontiguousarray(walker_positions[:, k])
        ref = reference.isl_candidates(r, 5000.0, RMIN)
        assert len(ref[0]) > 1000
        assert_same(ref, COMPILED["isl_candidates"](r, 5000.0, RMIN))
        assert_same(reference.isl_nearest(r, 5000.0, RMIN, 8),
                    COMPILED["isl_nearest"](r, 5000.0, RMIN, 8))


@needs_compiled
def test_ground_kernel_agrees_exactly(walker_positions):
    rng = np.random.default_rng(3)
    tb = TimeBase(START)
    t = np.array([0.0, 1234.5, 3000.0])
    st = [GroundStation(name="a", lat_deg=40.9, lon_deg=-83.9, min_elevation_deg=10),
          GroundStation(name="b", lat_deg=-33.0, lon_deg=151.0, min_elevation_deg=25)]
    site, up = visibility.station_frames(tb, st, t)
    s = visibility.sin_min_elevation(st)
    np.testing.assert_array_equal(reference.ground_elevation(walker_positions, site, up, s),
                                  COMPILED["ground_elevation"](walker_positions, site, up, s))
    r = shell_points(50, rng)[:, None, :] + rng.normal(size=(50, 3, 3))
    np.testing.assert_array_equal(reference.ground_elevation(r, site, up, s),
                                  COMPILED["ground_elevation"](r, site, up, s))


def test_candidates_match_the_geometric_definition():
    """Range and grazing tests against an independent formula (closest point of the segment)."""
    rng = np.random.default_rng(11)
    r = shell_points(150, rng) * rng.uniform(1.0, 1.3, size=(150, 1))
    i, j, d = reference.isl_candidates(r, 6000.0, RMIN)
    ii, jj = np.triu_indices(len(r), 1)
    ab = r[jj] - r[ii]
    dist = np.linalg.norm(ab, axis=1)
    t = np.clip(-np.einsum("ij,ij->i", r[ii], ab) / dist ** 2, 0, 1)
    clear = np.linalg.norm(r[ii] + t[:, None] * ab, axis=1)
    expect = (dist <= 6000.0) & (clear >= RMIN)
    got = np.zeros(len(ii), bool)
    got[np.searchsorted(ii * len(r) + jj, i * len(r) + j)] = True
    assert np.array_equal(got, expect)
    np.testing.assert_allclose(d, dist[got], rtol=1e-14)
    assert np.all(np.diff(i * len(r) + j) > 0)  # sorted by (i, j)


def test_nearest_is_sorted_and_padded():
    rng = np.random.default_rng(5)
    r = shell_points(40, rng)
    nbr, d = reference.isl_nearest(r, 3000.0, RMIN, 50)
    assert nbr.shape == (40, 50)
    with np.errstate(invalid="ignore"):  # inf - inf in the padding
        assert np.all(np.diff(d, axis=1)[np.isfinite(d[:, 1:])] >= 0)
    assert np.all((nbr == -1) == ~np.isfinite(d))
    i, j, _ = reference.isl_candidates(r, 3000.0, RMIN)
    deg = np.bincount(i, minlength=40) + np.bincount(j, minlength=40)
    np.testing.assert_array_equal((nbr >= 0).sum(axis=1), deg)


def test_kernel_argument_checks():
    with pytest.raises(ValueError):
        reference.isl_candidates(np.zeros((5, 2)), 100.0, RMIN)
    with pytest.raises(ValueError):
        reference.isl_candidates(np.zeros((5, 3)), -1.0, RMIN)
    with pytest.raises(ValueError):
        reference.isl_pairs_visible(np.zeros((5, 3)), [0, 9], [1, 2], 100.0, RMIN)
    with pytest.raises(ValueError):
        reference.ground_elevation(np.zeros((2, 3, 3)), np.zeros((1, 4, 3)),
                                   np.zeros((1, 4, 3)), np.zeros(1))
    if COMPILED:
        with pytest.raises(ValueError):
            COMPILED["isl_candidates"](np.zeros((5, 2)), 100.0, RMIN)


# ------------------------------------------------------------------------------ +grid
def grid_neighbours(a, b, n):
    nb = [set() for _ in range(n)]
    for x, y in zip(a.tolist(), b.tolist()):
        nb[x].add(y)
        nb[y].add(x)
    return nb


def test_grid_pairs_structure_and_shift():
    P, S, F = 6, 8, 1
    sc = walker_scenario(P, S, F)
    a, b = visibility.grid_pairs(sc, P * S, grid_shift=0)
    nb = grid_neighbours(a, b, P * S)
    assert all(len(x) == 4 for x in nb)
    sid = lambda p, j: p * S + j % S  # noqa: E731
    assert nb[sid(2, 3)] == {sid(2, 2), sid(2, 4), sid(1, 3), sid(3, 3)}
    # across the seam of a delta shell the index moves by the phasing factor
    assert sid(0, 3 + F) in nb[sid(P - 1, 3)]
    a2, b2 = visibility.grid_pairs(sc, P * S, grid_shift=2)
    nb2 = grid_neighbours(a2, b2, P * S)
    assert all(len(x) == 4 for x in nb2)
    assert nb2[sid(2, 3)] == {sid(2, 2), sid(2, 4), sid(1, 1), sid(3, 5)}


def test_grid_pairs_star_has_no_seam_links():
    sc = walker_scenario(4, 6, 0, pattern="star")
    a, b = visibility.grid_pairs(sc, 24)
    nb = grid_neighbours(a, b, 24)
    deg = np.array([len(x) for x in nb])
    assert np.all(deg[:6] == 3) and np.all(deg[-6:] == 3) and np.all(deg[6:18] == 4)


def test_grid_selector_links_only_visible_neighbours(walker_positions):
    sc = walker_scenario(12, 12, 1, topology="+grid", max_range_km=20000.0)
    sel = visibility.LinkSelector(sc.network, 144, sc)
    a, b, d = sel.step(walker_positions[:, 0])
    assert np.all(np.bincount(np.concatenate([a, b]), minlength=144) == 4)
    # a short range cuts the cross-plane links but keeps in-plane ones (3,600 km apart at 12/plane)
    sc2 = walker_scenario(12, 12, 1, topology="+grid", max_range_km=3700.0)
    sel2 = visibility.LinkSelector(sc2.network, 144, sc2)
    a2, b2, d2 = sel2.step(walker_positions[:, 0])
    assert np.all(d2 <= 3700.0)
    inplane = (a2 // 12) == (b2 // 12)
    assert inplane.sum() == 144
    assert set(zip(a2.tolist(), b2.tolist())) <= set(zip(a.tolist(), b.tolist()))


def test_grid_needs_matching_walker_fleet():
    sc = walker_scenario(6, 8, 1, topology="+grid")
    with pytest.raises(ScenarioError, match="Walker shells define 48"):
        visibility.grid_pairs(sc, 47)
    assert issubclass(ScenarioError, OrbschedError)


# ------------------------------------------------------------------------------ nearest-k
def test_nearest_k_respects_terminals_and_is_sticky():
    fleet, sc = build_constellation(walker_scenario(10, 10, 1, hours=2.0))
    t = np.arange(0.0, 7200.0, 60.0)
    r, _ = fleet.propagate(t)
    for terminals in (1, 3, 4):
        net = NetworkOptions(topology="nearest-k", terminals=terminals)
        sel = visibility.LinkSelector(net, len(fleet))
        prev = set()
        for k in range(len(t)):
            rk = np.ascontiguousarray(r[:, k])
            a, b, d = sel.step(rk)
            deg = np.bincount(np.concatenate([a, b]), minlength=len(fleet))
            assert deg.max() <= terminals
            assert np.all(a < b) and np.all(np.diff(a * 1000 + b) > 0)
            now = set(zip(a.tolist(), b.tolist()))
            # sticky: a link disappears only when its pair is no longer visible
            gone = prev - now
            if gone:
                ga, gb = map(np.array, zip(*gone))
                vis, _ = sel.visible(rk, ga, gb)
                assert not vis.any()
            still = [p for p in prev if p not in gone]
            assert all(p in now for p in still)
            prev = now
        assert len(prev) >= 0.8 * len(fleet) * terminals / 2  # terminals mostly used


def test_nearest_k_prefers_nearest_pairs():
    # four points on a line: the two closest pairs link first with one terminal each
    r = np.array([[7000.0, 0, 0], [7000.0, 10, 0], [7000.0, 100, 0], [7000.0, 105, 0]])
    sel = visibility.LinkSelector(NetworkOptions(topology="nearest-k", terminals=1), 4)
    a, b, d = sel.step(r)
    assert list(zip(a.tolist(), b.tolist())) == [(0, 1), (2, 3)]
    np.testing.assert_allclose(d, [10.0, 5.0])


def test_all_visible_and_none():
    rng = np.random.default_rng(2)
    r = shell_points(60, rng)
    a, _, _ = visibility.LinkSelector(NetworkOptions(topology="all-visible"), 60).step(r)
    assert len(a) == len(reference.isl_candidates(r, 5000.0, RMIN)[0])
    a, _, _ = visibility.LinkSelector(NetworkOptions(topology="none"), 60).step(r)
    assert len(a) == 0


# ------------------------------------------------------------------------------ stations
def test_station_frames_match_skyfield():
    from skyfield.api import wgs84

    tb = TimeBase(START)
    t = np.array([0.0, 4321.0, 86400.0])
    st = [GroundStation(name="x", lat_deg=-33.9, lon_deg=18.4, elevation_m=120.0)]
    site, up = visibility.station_frames(tb, st, t, "geodetic")
    g = wgs84.latlon(-33.9, 18.4, elevation_m=120.0)
    np.testing.assert_allclose(site[0], g.at(tb.times(t)).position.km.T, atol=1e-6)
    np.testing.assert_allclose(up[0], g.rotation_at(tb.times(t))[2].T, atol=1e-12)
    _, up_s = visibility.station_frames(tb, st, t, "spherical")
    np.testing.assert_allclose(up_s[0], site[0] / np.linalg.norm(site[0], axis=1)[:, None],
                               atol=1e-12)
    # geodetic and radial verticals differ by ~0.18 deg at 34 deg latitude
    ang = np.degrees(np.arccos(np.clip((up[0] * up_s[0]).sum(axis=1), -1, 1)))
    assert np.all((ang > 0.15) & (ang < 0.2))
    with pytest.raises(ScenarioError):
        visibility.station_itrs(st, "flat")


def test_earth_rotation_interpolation_matches_skyfield():
    tb = TimeBase(START)
    nodes = np.arange(0.0, 3601.0, 60.0)
    earth = visibility.EarthRotation(tb, nodes)
    tau = np.random.default_rng(0).uniform(0.0, 3600.0, 40)
    v = np.tile([4000.0, -3000.0, 3500.0], (40, 1))
    exact = visibility.itrs_to_gcrs_each(tb, tau, v)[0]
    np.testing.assert_allclose(earth.to_gcrs_each(tau, v)[0], exact, atol=1e-8, rtol=0)
    np.testing.assert_allclose(earth.to_gcrs(nodes[:5], v[:2]),
                               visibility.itrs_to_gcrs(tb, nodes[:5], v[:2]), atol=1e-9, rtol=0)
