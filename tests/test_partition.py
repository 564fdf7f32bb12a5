"""Partitioned runs (orbsched.sweep.partition): the split of satellites, workload and seeds,
and the merge of the partitions' summaries, on a tiny two-shell scenario."""
import json

import numpy as np
import pytest

from orbsched.geometry.constellation import build_constellation
from orbsched.run import simulate
from orbsched.scenario.schema import scenario_from_dict
from orbsched.sweep import partition as P


def _scenario(shells=None, hours=1.0, n_jobs=101, **extra):
    shells = shells or [
        {"type": "walker", "name": "low", "planes": 5, "sats_per_plane": 4, "phasing": 1,
         "altitude_km": 550, "inclination_deg": 53},
        {"type": "walker", "name": "sso", "planes": 3, "sats_per_plane": 6, "phasing": 1,
         "altitude_km": 1300, "inclination_deg": "sso"}]
    d = {"name": "tiny", "start_utc": "2026-03-20T00:00:00Z", "duration_h": hours, "seed": 7,
         "constellations": shells,
         "network": {"topology": "+grid", "max_range_km": 5000, "cache": False},
         "ground_stations": [{"name": "Awarua", "lat_deg": -46.53, "lon_deg": 168.38}],
         "workload": {"type": "synthetic", "n_jobs": n_jobs, "rate_per_h": 60.0,
                      "params": {"gpu_sizes": [1, 2, 4], "runtime_median_s": 1200,
                                 "runtime_mean_s": 1800}},
         "record": {"per_satellite": False}, **extra}
    return scenario_from_dict(d)


def test_split_of_satellites_follows_the_fleet():
    """With at most 18 satellites a partition, shell 'low' (5 planes of 4) is cut into planes
    0-1 and 2-4 (whole planes, as even as they allow), shell 'sso' (3 x 6 = 18) stays whole;
    at most 8: 1 + 2 + 2 planes and 1 + 1 + 1.  The partitions' fleets, in order, are the
    whole fleet, name for name and bit for bit."""
    sc = _scenario()
    parts = P.plan_partitions(sc, max_sats=18)
    assert [(p.entry, p.plane_range, p.first_sat, p.n_sats) for p in parts] == [
        (0, (0, 2), 0, 8), (0, (2, 5), 8, 12), (1, None, 20, 18)]
    assert [(p.plane_range, p.n_sats) for p in P.plan_partitions(sc, max_sats=8)] == [
        ((0, 1), 4), ((1, 3), 8), ((3, 5), 8), ((0, 1), 6), ((1, 2), 6), ((2, 3), 6)]
    whole, _ = build_constellation(sc)
    t = np.array([0.0, 1800.0])
    r_whole, _ = whole.propagate(t)
    for p in parts:
        fleet, _ = build_constellation(p.scenario)
        assert fleet.names == whole.names[p.first_sat:p.first_sat + p.n_sats]
        assert np.array_equal(fleet.propagate(t)[0], r_whole[p.first_sat:p.first_sat + p.n_sats])
    assert [p.n_sats for p in P.plan_partitions(sc)] == [20, 18]          # by shell
    assert [p.n_sats for p in P.plan_partitions(sc, max_sats=1)] == [4] * 5 + [6] * 3


def test_split_of_workload_and_seeds():
    sc = _scenario(n_jobs=101)
    parts = P.plan_partitions(sc, max_sats=18)
    shares = [p.gpu_share for p in parts]
    assert sum(shares) == pytest.approx(1.0, abs=1e-12)
    assert shares == pytest.approx([8 / 38, 12 / 38, 18 / 38])
    jobs = [p.scenario.workload.n_jobs for p in parts]
    assert sum(jobs) == 101                                   # largest remainders: exact
    assert all(abs(j - 101 * s) < 1 for j, s in zip(jobs, shares))
    rates = [p.scenario.workload.rate_per_h for p in parts]
    assert sum(rates) == pytest.approx(60.0, rel=1e-12)
    assert rates == pytest.approx([60.0 * s for s in shares], rel=1e-12)
    seeds = [p.scenario.seed for p in parts]
    assert len(set(seeds)) == len(seeds) and 7 not in seeds
    assert seeds == [p.scenario.seed for p in P.plan_partitions(sc, max_sats=18)]
    assert seeds == [P.partition_seed(7, k) for k in range(3)]
    one = P.plan_partitions(_scenario(shells=[sc.constellations[0].model_dump(
        exclude_none=True)]))
    assert len(one) == 1 and one[0].scenario.seed == 7
    assert one[0].scenario.workload == sc.workload


def test_refusals():
    with pytest.raises(P.PartitionError, match="max_sats"):
        P.plan_partitions(_scenario(), max_sats=0)
    with pytest.raises(P.PartitionError, match="datacentres"):
        P.plan_partitions(_scenario(datacentres=[{"name": "dc", "station": "Awarua",
                                                  "gpus": 8}]))
    with pytest.raises(P.PartitionError, match="no partition"):
        P.merge_summaries([])


def test_merge_rules_on_made_up_summaries():
    a = {"scenario": "x.p000", "policy": "p", "start_utc": "s", "duration_h": 1.0,
         "gpus_per_sat": 4, "presets": [], "seed": 1, "n_sats": 10, "gpus_total": 40,
         "utilisation": 0.5, "eclipse_fraction": 0.2, "jobs": {"arrived": 3, "completed": 1},
         "energy_kwh": {"used": 1.5}, "battery": {"min_soc": 0.9, "max_dod_per_eclipse": 0.1,
                                                 "mean_dod_per_eclipse": 0.05},
         "temperature_max_k": 300.0, "hybrid": {},
         "job_completion_s": {"mean": 10.0, "p50": 10.0, "p99": 10.0},
         "queueing_delay_s": {"mean": 0.0, "p50": 0.0, "p99": 0.0}}
    b = json.loads(json.dumps(a))
    b.update(n_sats=30, gpus_total=120, utilisation=0.1, eclipse_fraction=0.4,
             jobs={"arrived": 5, "completed": 3}, energy_kwh={"used": 2.25},
             battery={"min_soc": 0.8, "max_dod_per_eclipse": 0.05, "mean_dod_per_eclipse": 0.09},
             temperature_max_k=310.0,
             job_completion_s={"mean": 20.0, "p50": 20.0, "p99": 30.0})
    m = P.merge_summaries([a, b], name="x", seed=1)
    assert (m["n_sats"], m["gpus_total"], m["jobs"]) == (40, 160, {"arrived": 8, "completed": 4})
    assert m["energy_kwh"]["used"] == 3.75
    assert m["utilisation"] == pytest.approx((40 * 0.5 + 120 * 0.1) / 160)
    assert m["eclipse_fraction"] == pytest.approx((10 * 0.2 + 30 * 0.4) / 40)
    assert m["battery"] == {"min_soc": 0.8, "max_dod_per_eclipse": 0.1,
                            "mean_dod_per_eclipse": pytest.approx((0.5 + 2.7) / 40)}
    assert m["temperature_max_k"] == 310.0 and m["hybrid"] == {}
    assert m["job_completion_s"]["p99"] == pytest.approx((10 + 3 * 30) / 4)
    assert m["percentiles_approximate"] and m["partitions"] == 2 and m["scenario"] == "x"
    b["policy"] = "other"
    with pytest.raises(P.PartitionError, match="policy"):
        P.merge_summaries([a, b])


def test_partitioned_run_merges_its_partitions(tmp_path):
    """A real partitioned run (in process): the merged summary sums the partitions' counts
    and energies, and its percentiles are those of all partitions' jobs together."""
    import pandas as pd

    sc = _scenario(hours=1.0, n_jobs=60)
    out = P.run_partitioned(sc, out_dir=tmp_path, max_sats=18)
    recs, m = out["partitions"], out["summary"]
    assert [r["n_sats"] for r in recs] == [8, 12, 18]
    sums = [r["summary"] for r in recs]
    assert m["n_sats"] == 38 and m["gpus_total"] == 38 * sc.hardware.gpus
    assert m["jobs"]["arrived"] == sum(s["jobs"]["arrived"] for s in sums) > 0
    assert m["completed_gpu_h"] == pytest.approx(sum(s["completed_gpu_h"] for s in sums),
                                                 abs=1e-5)
    assert m["energy_kwh"]["harvested"] == pytest.approx(
        sum(s["energy_kwh"]["harvested"] for s in sums), abs=1e-5)
    jobs = pd.concat([pd.read_parquet(tmp_path / r["name"] / "jobs.parquet") for r in recs])
    done = jobs[jobs.status == "completed"].completion_s
    assert len(done) > 0
    assert m["job_completion_s"]["p50"] == pytest.approx(float(np.quantile(done, 0.5)),
                                                         abs=1e-6)
    assert "percentiles_approximate" not in m and m["partitions"] == 3
    assert all(r["wall_s"] > 0 and r["peak_rss_gb"] > 0 for r in recs)


def test_one_partition_is_the_run():
    sc = _scenario(shells=[_scenario().constellations[1].model_dump(exclude_none=True)],
                   n_jobs=30)
    out = P.run_partitioned(sc)
    ref = simulate(sc).summary()
    got = {k: v for k, v in out["summary"].items() if k != "partitions"}
    assert got == ref


def test_partitions_on_a_local_cluster_equal_partitions_in_process():
    distributed = pytest.importorskip("dask.distributed")
    sc = _scenario(hours=0.5, n_jobs=30)
    here = P.run_partitioned(sc, max_sats=18)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        there = P.run_partitioned(sc, client, max_sats=18)
    assert there["summary"] == here["summary"]
    assert [r["summary"] for r in there["partitions"]] == [r["summary"] for r in
                                                          here["partitions"]]


def test_partition_command(tmp_path, capsys):
    """``orbsched partition``: the table (--dry-run), then the run: partition folders, the
    merged summary.json and partitions.json; a bad --max-sats is one error line."""
    from orbsched.cli import main

    sc = _scenario(hours=0.5, n_jobs=20)
    path = tmp_path / "two.yaml"
    path.write_text(sc.to_yaml())
    assert main(["partition", str(path), "--out", str(tmp_path / "o"), "--max-sats", "18",
                 "--dry-run"]) == 0
    assert "tiny.p002" in capsys.readouterr().out and not (tmp_path / "o").exists()
    assert main(["partition", str(path), "--out", str(tmp_path / "o"), "--max-sats",
                 "18"]) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    parts = json.loads((tmp_path / "o" / "partitions.json").read_text())
    assert summary["n_sats"] == 38 and summary["partitions"] == 3
    assert [p["n_sats"] for p in parts] == [8, 12, 18]
    assert all((tmp_path / "o" / "partitions" / p["name"] / "summary.json").is_file()
               for p in parts)
    assert main(["partition", str(path), "--out", str(tmp_path / "x"), "--max-sats",
                 "0"]) == 2
    assert "max_sats must be >= 1" in capsys.readouterr().err
