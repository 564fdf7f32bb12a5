"""The shadow- and SAA-interval caches: hits are bit-identical, every input that changes the
intervals misses and nothing else does, damaged or foreign entries are recomputed,
``network.cache: false`` reads and writes nothing, and a sweep computes each entry once.

Scenarios are small (a 4 x 6 Walker shell for 2 h: about 0.05 s per computation)."""
import json
from datetime import datetime, timezone

import numpy as np
import pytest
import yaml
from conftest import REPO
from test_contacts import walker

from orbsched.geometry import cache, regions
from orbsched.geometry import stage as geometry
from orbsched.geometry.constellation import build_constellation
from orbsched.geometry.regions import cached_region_intervals, region_cache_inputs, region_intervals
from orbsched.geometry.stage import compute_geometry, geometry_inputs
from orbsched.scenario.errors import CacheWarning
from orbsched.scenario.schema import load_scenario, scenario_from_dict

KINDS = ("eclipse", "umbra", "penumbra", "point")
FIELDS = ("sat", "start_s", "end_s", "start_clipped", "end_clipped")


def scenario(hours=2.0, cons=None, **top):
    """A small scenario with the cache on (``top`` sets top-level fields or dotted paths)."""
    data = {"start_utc": "2024-06-21T00:00:00Z", "duration_h": hours, "step_s": 60,
            "constellations": cons or [walker(4, 6, 1)], "network": {"cache": True}}
    for path, value in top.items():
        *parents, last = path.split("__")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return scenario_from_dict(data)


def assert_same_intervals(a, b):
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and np.array_equal(x, y), f


def geometry_key(sc):
    fleet, resolved = build_constellation(sc)
    return cache.inputs_key(geometry_inputs(fleet, resolved))


def saa_key(sc):
    fleet, resolved = build_constellation(sc)
    return cache.inputs_key(region_cache_inputs(fleet, resolved, resolved.faults.radiation.saa))


def entries(root, kind):
    folder = root / kind
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# ------------------------------------------------------------------------------ hits
def test_geometry_hit_is_bit_identical(tmp_path):
    sc = scenario()
    plain = compute_geometry(sc)                  # the default computes and writes nothing
    assert not plain.from_cache and plain.key == "" and not (tmp_path / "geometry").exists()
    first = compute_geometry(sc, cache=True, cache_dir=tmp_path)
    second = compute_geometry(sc, cache=True, cache_dir=tmp_path)
    assert not first.from_cache and second.from_cache and first.key == second.key
    assert "load" in second.timings_s and "shadow" in first.timings_s
    for k in KINDS:
        assert len(getattr(first, k)) > 0
        assert_same_intervals(getattr(plain, k), getattr(first, k))
        assert_same_intervals(getattr(first, k), getattr(second, k))
    # the derived tables follow
    assert plain.sunlight_table().equals(second.sunlight_table())
    assert plain.eclipses_table().equals(second.eclipses_table())
    assert second.summary()["from_cache"] and "from the cache" in second.summary_text()
    # the entry: <root>/geometry/<key[:32]>/ with the key and its inputs
    folder = tmp_path / "geometry" / first.key[:32]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["key"] == first.key and meta["inputs"]["refine_tol_s"] == 0.01
    assert meta["inputs"]["sat_names"] == list(first.constellation.names)
    assert (folder / "intervals.npz").is_file()


def test_saa_hit_is_bit_identical(tmp_path):
    sc = scenario()
    fleet, sc = build_constellation(sc)
    region = sc.faults.radiation.saa
    plain = region_intervals(fleet, sc, region)
    first, hit1 = cached_region_intervals(fleet, sc, region, tmp_path)
    second, hit2 = cached_region_intervals(fleet, sc, region, tmp_path)
    assert (hit1, hit2) == (False, True) and len(plain) > 0
    assert_same_intervals(plain, first)
    assert_same_intervals(plain, second)
    assert entries(tmp_path, "regions") and not entries(tmp_path, "geometry")


def test_environment_variable_chooses_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ORBSCHED_CACHE", str(tmp_path / "env"))
    sc = scenario(hours=1.0)
    assert not compute_geometry(sc, cache=True).from_cache
    assert compute_geometry(sc, cache=True).from_cache
    assert entries(tmp_path / "env", "geometry")


# ------------------------------------------------------------------------------ keys
@pytest.mark.parametrize("change, geo_misses, saa_misses", [
    ({"duration_h": 3.0}, True, True),
    ({"step_s": 30}, True, True),
    ({"start_utc": "2024-06-21T00:00:01Z"}, True, True),
    ({"geometry__earth_shape": "sphere"}, True, False),       # not read by the SAA
    ({"geometry__refine_tol_s": 0.05}, True, False),
    ({"geometry__frame_node_s": 1800}, True, True),
    ({"cons": [walker(4, 6, 2)]}, True, True),                # a constellation field
    ({"cons": [dict(walker(4, 6, 1), altitude_km=560)]}, True, True),
    ({"cons": [dict(walker(4, 6, 1), name="other")]}, True, True),   # other names
    ({"faults__radiation__saa__lat_min_deg": -45.0}, False, True),
    ({"faults__radiation__saa__polygon": [[-50, -90], [0, -90], [-20, 40]]}, False, True),
    # speed, memory, reports and non-geometric options: the same intervals
    ({"geometry__chunk_mb": 64}, False, False),
    ({"geometry__eclipse_model": "point"}, False, False),
    ({"geometry__max_epoch_age_days": 3}, False, False),
    ({"faults__radiation__saa__multiplier": 10.0}, False, False),
    ({"network__topology": "none", "network__max_range_km": 1000}, False, False),
])
def test_keys_follow_what_determines_the_intervals(change, geo_misses, saa_misses):
    base = scenario()
    changed = scenario(**change)
    assert (geometry_key(changed) != geometry_key(base)) == geo_misses
    assert (saa_key(changed) != saa_key(base)) == saa_misses


def test_a_changed_input_misses_on_disk(tmp_path):
    base = scenario()
    fleet, resolved = build_constellation(base)
    compute_geometry(base, cache=True, cache_dir=tmp_path)
    cached_region_intervals(fleet, resolved, resolved.faults.radiation.saa, tmp_path)
    for change in ({"duration_h": 1.5}, {"geometry__earth_shape": "sphere"},
                   {"cons": [walker(4, 6, 3)]}):
        assert not compute_geometry(scenario(**change), cache=True,
                                    cache_dir=tmp_path).from_cache
    moved = scenario(faults__radiation__saa__lon_max_deg=10.0)
    fleet, resolved = build_constellation(moved)
    assert not cached_region_intervals(fleet, resolved, resolved.faults.radiation.saa,
                                       tmp_path)[1]
    assert len(entries(tmp_path, "geometry")) == 4 and len(entries(tmp_path, "regions")) == 2


def test_key_follows_element_file_bytes(tmp_path):
    from sgp4 import exporter

    from orbsched.geometry.orbits import circular_satrec

    sat = circular_satrec(12345, datetime(2024, 6, 21, tzinfo=timezone.utc), 550, 53, 10, 0)
    l1, l2 = exporter.export_tle(sat)
    path = tmp_path / "one.tle"
    path.write_text(f"ONE\n{l1}\n{l2}\n")
    sc = scenario(hours=1.0, cons=[{"type": "tle", "path": str(path)}])
    k1, s1 = geometry_key(sc), saa_key(sc)
    assert "path" not in json.dumps(geometry_inputs(*build_constellation(sc)))
    path.write_text(f"ONE\n{l1}\n{l2}\n\n")     # same satellite, different bytes
    assert geometry_key(sc) != k1 and saa_key(sc) != s1


# ------------------------------------------------------------------------------ damage
def _damage_geometry(folder, other):
    """Ways a geometry entry can be broken (``other``: an entry of another key)."""
    npz, meta = folder / "intervals.npz", folder / "meta.json"

    def rewrite_array(name, fn):
        with np.load(npz) as z:
            arrays = dict(z)
        arrays[name] = fn(arrays[name])
        if arrays[name] is None:
            del arrays[name]
        with open(npz, "wb") as fh:
            np.savez(fh, **arrays)

    return {
        "truncated npz": lambda: npz.write_bytes(npz.read_bytes()[:200]),
        "flipped byte": lambda: npz.write_bytes(_flip(npz.read_bytes())),
        "missing npz": lambda: npz.unlink(),
        "missing meta": lambda: meta.unlink(),
        "meta not json": lambda: meta.write_text("{not json"),
        "meta a list": lambda: meta.write_text("[1, 2]"),
        "meta of another key": lambda: meta.write_text(json.dumps({"key": "0" * 64})),
        "npz of another entry": lambda: npz.write_bytes((other / "intervals.npz").read_bytes()),
        "wrong dtype": lambda: rewrite_array("umbra.sat", lambda a: a.astype(float)),
        "ragged arrays": lambda: rewrite_array("point.end_s", lambda a: a[:-1]),
        "satellite out of range": lambda: rewrite_array("eclipse.sat", lambda a: a + 1000),
        "missing array": lambda: rewrite_array("penumbra.start_clipped", lambda a: None),
        "pickled object array": lambda: rewrite_array(
            "umbra.end_s", lambda a: np.array([object()] * len(a), dtype=object)),
    }


def _flip(data):
    data = bytearray(data)
    data[len(data) // 2] ^= 0xFF      # inside the arrays: the zip CRC catches it
    return bytes(data)


def test_damaged_or_foreign_geometry_entries_are_recomputed(tmp_path):
    sc = scenario()
    good = compute_geometry(sc, cache=True, cache_dir=tmp_path)
    other = compute_geometry(scenario(hours=1.0), cache=True, cache_dir=tmp_path)
    folder = tmp_path / "geometry" / good.key[:32]
    other_folder = tmp_path / "geometry" / other.key[:32]
    for name, damage in _damage_geometry(folder, other_folder).items():
        damage()
        with pytest.warns(CacheWarning, match="removed, computing it again"):   # reported
            again = compute_geometry(sc, cache=True, cache_dir=tmp_path)
        assert not again.from_cache, name
        for k in KINDS:
            assert_same_intervals(getattr(good, k), getattr(again, k))
        assert compute_geometry(sc, cache=True, cache_dir=tmp_path).from_cache, name  # rewritten


def test_damaged_saa_entry_is_recomputed(tmp_path):
    fleet, sc = build_constellation(scenario())
    region = sc.faults.radiation.saa
    good, _ = cached_region_intervals(fleet, sc, region, tmp_path)
    (folder,) = (tmp_path / "regions").iterdir()
    (folder / "intervals.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.warns(CacheWarning, match="SAA-interval cache entry"):
        again, hit = cached_region_intervals(fleet, sc, region, tmp_path)
    assert not hit
    assert_same_intervals(good, again)
    assert cached_region_intervals(fleet, sc, region, tmp_path)[1]


def test_an_unusable_cache_folder_is_a_cache_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(cache.CacheError, match="geometry cache"):
        compute_geometry(scenario(hours=1.0), cache=True, cache_dir=blocker)


# ------------------------------------------------------------------------------ switch
def test_network_cache_false_reads_and_writes_nothing(tmp_path):
    on = scenario()
    compute_geometry(on, cache=True, cache_dir=tmp_path)
    fleet, resolved = build_constellation(on)
    cached_region_intervals(fleet, resolved, resolved.faults.radiation.saa, tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    off = scenario(network__cache=False)
    geo = compute_geometry(off, cache=True, cache_dir=tmp_path)
    assert not geo.from_cache and geo.key == ""           # the entry is there, not read
    fleet, resolved = build_constellation(off)
    assert not cached_region_intervals(fleet, resolved, resolved.faults.radiation.saa,
                                       tmp_path)[1]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    empty = tmp_path / "empty"
    compute_geometry(scenario(hours=1.0, network__cache=False), cache=True, cache_dir=empty)
    assert not empty.exists()


def test_simulate_uses_the_caches_and_follows_the_switch(tmp_path):
    from orbsched.run import simulate

    over = ["duration_h=1", "workload.n_jobs=20"]
    sc = load_scenario(REPO / "configs" / "demo.yaml", over)
    r1 = simulate(sc, cache_dir=tmp_path / "on")
    r2 = simulate(sc, cache_dir=tmp_path / "on")
    assert not r1.geometry.from_cache and r2.geometry.from_cache and r2.plan.from_cache
    for kind in cache.KINDS:
        assert len(entries(tmp_path / "on", kind)) == 1, kind
    assert r1.engine.rec.events_frame().equals(r2.engine.rec.events_frame())
    assert json.dumps(r1.summary(), default=str) == json.dumps(r2.summary(), default=str)
    off = load_scenario(REPO / "configs" / "demo.yaml", over + ["network.cache=false"])
    r3 = simulate(off, cache_dir=tmp_path / "off")
    assert not r3.geometry.from_cache and not (tmp_path / "off").exists()
    assert r3.engine.rec.events_frame().equals(r1.engine.rec.events_frame())


# ------------------------------------------------------------------------------ sweeps
def _sweep(tmp_path, grid, name="s.yaml"):
    from orbsched.sweep.plan import load_sweep

    doc = {"name": "cache", "base": str(REPO / "configs" / "demo.yaml"),
           "set": {"duration_h": 0.5, "workload.n_jobs": 10}, "grid": grid}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_sweep(path)


def test_sweep_keys_group_what_is_shared(tmp_path):
    from orbsched.sweep.execute import geometry_groups, missing_cache_entries

    sweep = _sweep(tmp_path, {"policy": ["stay", "greedy-sunlit"],
                              "faults.radiation.saa.lat_min_deg": [-50.0, -45.0],
                              "geometry.refine_tol_s": [0.01, 0.02]})
    keys = {}
    groups = geometry_groups(sweep, keys=keys)
    assert len(groups) == 1                                   # one contact plan
    distinct = {k: {v[k] for v in keys.values()} for k in cache.KINDS}
    assert [len(distinct[k]) for k in cache.KINDS] == [1, 2, 2, 1]
    need = missing_cache_entries(sweep.runs, keys, tmp_path / "cache")
    assert [kind for kind, _, _ in need] == ["contacts", "geometry", "geometry", "regions",
                                             "regions", "ephemeris"]
    # without faults (or with the cache off) a run needs no SAA (no entry at all)
    sweep = _sweep(tmp_path, {"faults.enabled": [False], "network.cache": [True, False]})
    keys = {}
    geometry_groups(sweep, keys=keys)
    assert all(v["regions"] is None for v in keys.values())
    assert [k for k, _, _ in missing_cache_entries(sweep.runs, keys, tmp_path / "c2")] == \
        ["contacts", "geometry", "ephemeris"]


def test_a_sweep_computes_each_geometry_once(tmp_path, monkeypatch):
    """The precompute tasks fill the three entries; then both runs load them (computing is
    made to fail), in this process through the sweep's task functions."""
    from orbsched.sweep.execute import (
        _task,
        execute_run,
        geometry_groups,
        missing_cache_entries,
        precompute_plan,
    )

    sweep = _sweep(tmp_path, {"policy": ["stay", "greedy-sunlit"]})
    out, root = tmp_path / "out", tmp_path / "out" / "cache"
    keys = {}
    geometry_groups(sweep, keys=keys)
    need = missing_cache_entries(sweep.runs, keys, root)
    assert [kind for kind, _, _ in need] == list(cache.KINDS)
    for kind, _key, run in need:
        res = precompute_plan(dict(_task(sweep, run, out, root), kind=kind))
        assert res["status"] == "done" and not res["cached"], res
    assert missing_cache_entries(sweep.runs, keys, root) == []

    def no(*a, **k):
        raise AssertionError("computed instead of loaded from the cache")

    monkeypatch.setattr(geometry, "_compute_intervals", no)
    monkeypatch.setattr(regions, "region_intervals", no)
    monkeypatch.setattr("orbsched.geometry.contacts._compute", no)
    monkeypatch.setattr("orbsched.geometry.ephemeris._compute", no)
    for run in sweep.runs:
        res = execute_run(_task(sweep, run, out, root))
        assert res["status"] == "done", (out / "runs" / run.id / "error.txt").read_text()
    for kind in cache.KINDS:
        assert len(entries(root, kind)) == 1
