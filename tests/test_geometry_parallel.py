"""Geometry and contact plan in satellite chunks (orbsched.geometry.parallel), in this process
and on a Dask LocalCluster, equal the one-process computation array for array."""
import numpy as np
import pytest

from orbsched.geometry import parallel
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.contacts import compute_contact_plan
from orbsched.geometry.stage import compute_geometry
from orbsched.scenario.schema import scenario_from_dict

STATIONS = [{"name": "Awarua", "lat_deg": -46.53, "lon_deg": 168.38},
            {"name": "Bluffton", "lat_deg": 40.8939, "lon_deg": -83.8917,
             "max_range_km": 1800},
            {"name": "Hartebeesthoek", "lat_deg": -25.89, "lon_deg": 27.69,
             "elevation_m": 1540}]


def _scenario(shells, hours=3.0, **network):
    net = {"topology": "+grid", "max_range_km": 3000, "cache": False, **network}
    return scenario_from_dict({"start_utc": "2026-03-20T00:00:00Z", "duration_h": hours,
                               "constellations": shells, "network": net,
                               "ground_stations": STATIONS})


def _walker(name, planes, per, alt, inc, **kw):
    return {"type": "walker", "name": name, "planes": planes, "sats_per_plane": per,
            "phasing": 1, "altitude_km": alt, "inclination_deg": inc, **kw}


TWO_SHELLS = [_walker("low", 12, 10, 550, 53), _walker("sso", 8, 9, 1300, "sso")]
CASES = {
    "two-shells": dict(shells=TWO_SHELLS),
    "near-far-rates": dict(shells=[_walker("s", 10, 12, 550, 53)],
                           isl_rate={"model": "near_far", "max_gbps": 400,
                                     "near_field_km": 800, "rate_tol": 0.05}),
    "planes-2-to-7-of-shell": dict(shells=[_walker("s", 10, 12, 700, 43,
                                                    plane_range=[2, 7])], max_range_km=5000),
    "no-links": dict(shells=TWO_SHELLS, topology="none"),
}


def _assert_same_geometry(one, par):
    for kind in ("eclipse", "umbra", "penumbra", "point"):
        a, b = getattr(one, kind), getattr(par, kind)
        assert len(a) > 0 or kind == "penumbra"
        for f in ("sat", "start_s", "end_s", "start_clipped", "end_clipped"):
            x, y = getattr(a, f), getattr(b, f)
            assert x.dtype == y.dtype and np.array_equal(x, y), (kind, f)


def _assert_same_plan(one, par):
    import pandas as pd

    pd.testing.assert_frame_equal(one.isl_windows, par.isl_windows, check_exact=True)
    pd.testing.assert_frame_equal(one.ground_windows, par.ground_windows, check_exact=True)
    if one.isl_rate_changes is None:
        assert par.isl_rate_changes is None
    else:
        assert len(one.isl_rate_changes) > 0
        pd.testing.assert_frame_equal(one.isl_rate_changes, par.isl_rate_changes,
                                      check_exact=True)
    assert one.grid_misfits == par.grid_misfits


def _one_and_fleet(case):
    kw = dict(CASES[case])
    sc = _scenario(kw.pop("shells"), **kw)
    fleet, sc = build_constellation(sc)
    return fleet, sc, compute_geometry(sc, fleet=fleet), compute_contact_plan(fleet, sc)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("chunk_sats", [7, 64])
def test_chunks_in_process_equal_one_process(case, chunk_sats):
    fleet, sc, geo, plan = _one_and_fleet(case)
    if case != "no-links":
        assert len(plan.isl_windows) > 0
    assert len(plan.ground_windows) > 0
    _assert_same_geometry(geo, parallel.compute_geometry_parallel(sc, chunk_sats=chunk_sats,
                                                                  fleet=fleet))
    _assert_same_plan(plan, parallel.compute_contact_plan_parallel(fleet, sc,
                                                                   chunk_sats=chunk_sats))


@pytest.fixture(scope="module")
def threads_cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_local_cluster_equals_one_process(threads_cluster):
    fleet, sc, geo, plan = _one_and_fleet("two-shells")
    _assert_same_geometry(geo, parallel.compute_geometry_parallel(sc, threads_cluster,
                                                                  fleet=fleet))
    _assert_same_plan(plan, parallel.compute_contact_plan_parallel(fleet, sc,
                                                                   threads_cluster))


def test_local_cluster_of_processes_equals_one_process():
    """Worker processes build their satellites from the pickled scenario: same arrays."""
    distributed = pytest.importorskip("dask.distributed")
    fleet, sc, geo, plan = _one_and_fleet("near-far-rates")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        _assert_same_geometry(geo, parallel.compute_geometry_parallel(sc, client,
                                                                      fleet=fleet))
        _assert_same_plan(plan, parallel.compute_contact_plan_parallel(fleet, sc, client))


def test_precompute_fills_the_cache_the_run_reads(tmp_path):
    kw = dict(CASES["two-shells"])
    sc = _scenario(kw.pop("shells"), cache=True)
    timings = parallel.precompute_parallel(sc, chunk_sats=50, cache_dir=tmp_path)
    assert set(timings) == {"fleet", "geometry", "contact_plan"}
    fleet, sc = build_constellation(sc)
    geo = compute_geometry(sc, cache=True, cache_dir=tmp_path, fleet=fleet)
    plan = compute_contact_plan(fleet, sc, cache_dir=tmp_path)
    assert geo.from_cache and plan.from_cache
    one = _scenario(CASES["two-shells"]["shells"])
    f1, one = build_constellation(one)
    _assert_same_geometry(compute_geometry(one, fleet=f1), geo)
    _assert_same_plan(compute_contact_plan(f1, one), plan)


def test_refusals():
    fleet, sc = build_constellation(_scenario(TWO_SHELLS, topology="nearest-k"))
    with pytest.raises(parallel.ParallelGeometryError, match="nearest-k"):
        parallel.compute_contact_plan_parallel(fleet, sc)
    with pytest.raises(parallel.ParallelGeometryError, match="chunk_sats"):
        parallel.satellite_chunks(10, 0)
    with pytest.raises(parallel.ParallelGeometryError, match="network.cache"):
        parallel.precompute_parallel(_scenario(TWO_SHELLS))
    assert parallel.satellite_chunks(10, 4) == [(0, 4), (4, 8), (8, 10)]


def test_isl_file_links_across_chunks_with_rates(tmp_path):
    """An ISL file's links join satellites far apart in the fleet (across chunks, between
    shells) and carry their own rates: the chunked plan equals the one-process plan."""
    rng = np.random.default_rng(3)
    n = 12 * 10 + 8 * 9
    pairs = set()
    while len(pairs) < 150:
        a, b = sorted(rng.choice(n, 2, replace=False).tolist())
        pairs.add((a, b))
    lines = ["sat_a,sat_b,rate_gbps"] + [f"{a},{b},{10 + (a + b) % 7}" for a, b in
                                         sorted(pairs)]
    f = tmp_path / "links.csv"
    f.write_text("\n".join(lines) + "\n")
    sc = _scenario(TWO_SHELLS, topology="file", isl_file=str(f), max_range_km=8000)
    fleet, sc = build_constellation(sc)
    plan = compute_contact_plan(fleet, sc)
    assert len(plan.isl_windows) >= 100 and plan.isl_windows.rate_gbps.notna().all()
    _assert_same_plan(plan, parallel.compute_contact_plan_parallel(fleet, sc, chunk_sats=13))
