"""A cache that verifies itself (issue 16): random byte flips in every kind of cache entry
(contact plan, shadow intervals, SAA intervals; every file of an entry, its meta.json and
SHA256SUMS included) are all detected, reported once, removed and recomputed, and a run with
the repaired cache writes the same result files as a run with a clean one.

Scenario: a 2 x 3 Walker shell, one ground station, the SAA on, for 1 h (each product
computes in a few hundredths of a second)."""
import random
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from golden_files import folder_digests

from orbsched.geometry import cache
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.contacts import compute_contact_plan
from orbsched.geometry.regions import cached_region_intervals
from orbsched.geometry.stage import compute_geometry
from orbsched.run import simulate
from orbsched.scenario.errors import CacheWarning
from orbsched.scenario.schema import scenario_from_dict

KINDS = ("contacts", "geometry", "regions")
FLIPS_PER_KIND = 18                    # 54 flips in all
FULL_RUNS_PER_KIND = 2                 # of which this many re-run the whole simulation


def small():
    return scenario_from_dict({
        "name": "cache", "start_utc": "2024-06-21T00:00:00Z", "duration_h": 1.0,
        "step_s": 60,
        "constellations": [{"type": "walker", "name": "w", "planes": 2, "sats_per_plane": 3,
                            "altitude_km": 550, "inclination_deg": 53}],
        "ground_stations": [{"name": "g", "lat_deg": 10.0, "lon_deg": 20.0}],
        "network": {"topology": "nearest-k", "terminals": 2, "max_range_km": 6000},
        "workload": {"type": "synthetic", "n_jobs": 8, "rate_per_h": 20},
        "faults": {"radiation": {"dose_rad_per_year": 2000}}})


def products(sc, fleet, root):
    """The three cached products of ``sc``, through the functions a run calls."""
    geo = compute_geometry(sc, cache=True, cache_dir=root, fleet=fleet)
    plan = compute_contact_plan(fleet, sc, cache_dir=root)
    saa, _ = cached_region_intervals(fleet, sc, sc.faults.radiation.saa, root)
    return geo, plan, saa


def assert_same(a, b):
    ga, pa, sa = a
    gb, pb, sb = b
    for kind in ("eclipse", "umbra", "penumbra", "point"):
        for f in ("sat", "start_s", "end_s", "start_clipped", "end_clipped"):
            x, y = getattr(getattr(ga, kind), f), getattr(getattr(gb, kind), f)
            assert x.dtype == y.dtype and np.array_equal(x, y), (kind, f)
    for f in ("sat", "start_s", "end_s", "start_clipped", "end_clipped"):
        assert np.array_equal(getattr(sa, f), getattr(sb, f)), f
    pd.testing.assert_frame_equal(pa.isl_windows, pb.isl_windows, check_exact=True)
    pd.testing.assert_frame_equal(pa.ground_windows, pb.ground_windows, check_exact=True)


def entry_of(root, kind):
    (folder,) = [p for p in (root / kind).iterdir() if not p.name.startswith(".")]
    return folder


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean cache (pristine copy), the clean products and a clean run's result files."""
    base = tmp_path_factory.mktemp("cache-integrity")
    sc = small()
    fleet, resolved = build_constellation(sc)
    root = base / "pristine"
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)      # a clean cache warns of nothing
        prods = products(resolved, fleet, root)
        simulate(sc, cache_dir=root).write(base / "clean-run")
        for kind in KINDS:
            assert cache.verify_entry(entry_of(root, kind)) is None
    return {"base": base, "sc": sc, "fleet": fleet, "resolved": resolved, "root": root,
            "products": prods, "run": folder_digests(base / "clean-run")}


def flip(path, rng):
    data = bytearray(path.read_bytes())
    i = rng.randrange(len(data))
    data[i] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))
    return i


def test_every_entry_is_verified_and_has_a_checksum_file(clean):
    for kind in KINDS:
        folder = entry_of(clean["root"], kind)
        names = {p.name for p in folder.iterdir()}
        assert {"meta.json", cache.SUMS} <= names and len(names) >= 3
        listed = [ln.split("  ")[1] for ln in (folder / cache.SUMS).read_text().splitlines()]
        assert sorted(listed) == sorted(names - {cache.SUMS})


@pytest.mark.parametrize("kind", KINDS)
def test_random_flips_are_detected_reported_once_and_repaired(clean, kind, tmp_path):
    rng = random.Random(f"flips-{kind}")
    for n in range(FLIPS_PER_KIND):
        root = tmp_path / f"c{n}"
        shutil.copytree(clean["root"], root)
        folder = entry_of(root, kind)
        files = sorted(p for p in folder.iterdir())
        target = files[n % len(files)] if n < len(files) else rng.choice(files)
        at = flip(target, rng)
        with pytest.warns(CacheWarning) as caught:
            if n < FULL_RUNS_PER_KIND:      # the whole run, compared file by file
                out = tmp_path / f"run{n}"
                simulate(clean["sc"], cache_dir=root).write(out)
                assert folder_digests(out) == clean["run"], (target.name, at)
            else:
                assert_same(products(clean["resolved"], clean["fleet"], root),
                            clean["products"])
        reports = [w for w in caught if issubclass(w.category, CacheWarning)]
        assert len(reports) == 1, (target.name, at, [str(w.message) for w in reports])
        assert folder.name in str(reports[0].message) and "removed" in str(reports[0].message)
        # repaired: a good entry in its place, and the next load is silent and identical
        assert cache.verify_entry(entry_of(root, kind)) is None
        with warnings.catch_warnings():
            warnings.simplefilter("error", CacheWarning)
            assert_same(products(clean["resolved"], clean["fleet"], root), clean["products"])
        shutil.rmtree(root)


def test_an_entry_without_checksums_is_recomputed(clean, tmp_path):
    root = tmp_path / "c"
    shutil.copytree(clean["root"], root)
    (entry_of(root, "geometry") / cache.SUMS).unlink()      # as written before checksums
    with pytest.warns(CacheWarning, match="no SHA256SUMS"):
        assert_same(products(clean["resolved"], clean["fleet"], root), clean["products"])
    assert cache.verify_entry(entry_of(root, "geometry")) is None


def test_an_added_file_makes_an_entry_bad(clean, tmp_path):
    root = tmp_path / "c"
    shutil.copytree(clean["root"], root)
    (entry_of(root, "contacts") / "extra.parquet").write_bytes(b"x")
    assert "extra.parquet" in cache.verify_entry(entry_of(root, "contacts"))


def test_a_sweep_check_finds_a_bad_entry_before_the_runs(clean, tmp_path):
    """``is_cached`` (the sweep's look for missing entries) verifies too: a bad entry is
    discarded there, so the sweep's precompute task fills it once for all its runs."""
    root = tmp_path / "c"
    shutil.copytree(clean["root"], root)
    folder = entry_of(root, "regions")
    key = cache.read_meta(folder, None) or {}
    meta = (folder / "meta.json").read_text()
    import json
    key = json.loads(meta)["key"]
    flip(folder / "intervals.npz", random.Random(1))
    with pytest.warns(CacheWarning):
        assert not cache.is_cached(root, "regions", key)
    assert not folder.exists()
