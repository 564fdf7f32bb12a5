"""The recorder's compact storage: samples as blocks (spilled to disk past a budget), the time
series streamed to Parquet in row groups, events in typed arrays; files as DataFrame.to_parquet
writes them."""
import gc
import math
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from engine_helpers import make_engine, scenario

from orbsched.engine import recorder as recorder_mod
from orbsched.engine.fleet import Fleet
from orbsched.engine.recorder import ROW_GROUP_ROWS, SAMPLE_COLUMNS, Recorder
from orbsched.policies import Stay
from orbsched.run import simulate
from orbsched.scenario.schema import load_scenario

SHORT = ["duration_h=2", "workload.n_jobs=60", "workload.rate_per_h=60"]


@pytest.fixture(scope="module")
def spilled(request):
    """A demo run whose recorder spills every few samples (96 satellites: 7.7 kB a sample)."""
    repo = request.config.rootpath
    mp = pytest.MonkeyPatch()
    mp.setattr(Recorder, "spill_bytes", 20_000)
    try:
        res = simulate(load_scenario(repo / "configs" / "demo.yaml", SHORT))
    finally:
        mp.undo()
    return res


def test_pyarrow_default_row_group_is_the_streamed_one(tmp_path):
    # the streamed file equals to_parquet's only if both cut row groups at the same length
    pd.DataFrame({"x": np.zeros(ROW_GROUP_ROWS + 1)}).to_parquet(tmp_path / "a.parquet",
                                                                 index=False)
    md = pq.ParquetFile(tmp_path / "a.parquet").metadata
    assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [ROW_GROUP_ROWS, 1]


def test_samples_spill_and_the_file_goes_with_the_recorder(spilled):
    rec = spilled.engine.rec
    assert rec._n_spilled > 0 and len(rec._blocks) <= 2        # the budget holds ~2 samples
    assert os.path.getsize(rec._spill_path) == rec._n_spilled * 8 * 10 * rec.n
    path = rec._spill_path
    probe = Recorder(spilled.engine)
    probe._blocks = [np.zeros((10, rec.n))]
    probe._spill()
    assert os.path.exists(probe._spill_path)
    gone = probe._spill_path
    del probe
    gc.collect()
    assert not os.path.exists(gone)
    assert os.path.exists(path)                                # still in use


def test_streamed_time_series_is_to_parquet_of_the_table(spilled, tmp_path, monkeypatch):
    rec = spilled.engine.rec
    ts = rec.timeseries_frame()
    n = rec.n
    assert len(ts) == len(rec._fleet) * (n + 1)
    assert ts["sat"].dtype == np.int32 and list(ts.columns) == list(SAMPLE_COLUMNS)
    per = ts[ts["sat"] >= 0]
    assert (per["soc_min"] == per["soc"]).all()
    assert per["temperature_max_k"].equals(per["temperature_k"])
    assert rec.fleet_frame().equals(ts[ts["sat"] == -1].reset_index(drop=True))
    rec.write_timeseries(tmp_path / "streamed.parquet")
    ts.to_parquet(tmp_path / "whole.parquet", index=False)
    assert (tmp_path / "streamed.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    # several row groups, a sample cut across two of them
    monkeypatch.setattr(recorder_mod, "ROW_GROUP_ROWS", 1000)
    rec.write_timeseries(tmp_path / "groups.parquet")
    ts.to_parquet(tmp_path / "whole1000.parquet", index=False, row_group_size=1000)
    assert pq.ParquetFile(tmp_path / "groups.parquet").metadata.num_row_groups > 2
    assert (tmp_path / "groups.parquet").read_bytes() == \
        (tmp_path / "whole1000.parquet").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "groups.parquet"), ts)


def test_spilling_changes_no_result_file(spilled, repo, tmp_path):
    spilled.write(tmp_path / "spilled")
    simulate(load_scenario(repo / "configs" / "demo.yaml", SHORT)).write(tmp_path / "held")
    for name in ("timeseries.parquet", "events.parquet", "jobs.parquet", "summary.json"):
        assert (tmp_path / "spilled" / name).read_bytes() == \
            (tmp_path / "held" / name).read_bytes(), name


def test_fleet_rows_only_without_per_satellite(repo, tmp_path):
    res = simulate(load_scenario(repo / "configs" / "demo.yaml",
                                 SHORT + ["record.per_satellite=false"]))
    rec = res.engine.rec
    assert not rec._blocks and rec._spill_path is None
    rec.write_timeseries(tmp_path / "a.parquet")
    ts = pd.read_parquet(tmp_path / "a.parquet")
    assert (ts["sat"] == -1).all() and len(ts) == 2 * 3600 // 300
    pd.testing.assert_frame_equal(ts, rec.timeseries_frame())


def test_events_are_typed_columns_with_the_values_given():
    eng = make_engine(scenario(2, 0.1), Stay())
    rec = eng.rec
    rec.event(5.0, "gpu_fail", sat=np.int64(1), value=3)            # numpy int, int value
    rec.event(np.float64(7.5), "rollback", sat=0, job=12, value=None, detail="crash")
    rec.event(6, "job_end", sat=1, job=2**40, peer=0, value=0.25, detail="completed")
    got = rec.events
    assert math.isnan(got[1][5])                                      # None -> NaN
    got[1] = got[1][:5] + (None,) + got[1][6:]
    assert got == [(5.0, "gpu_fail", 1, -1, -1, 3.0, ""),
                   (7.5, "rollback", 0, 12, -1, None, "crash"),
                   (6.0, "job_end", 1, 2**40, 0, 0.25, "completed")]
    ev = rec.events_frame()
    mine = ev[ev["kind"].isin(["gpu_fail", "rollback", "job_end"])]
    assert mine["t_s"].tolist() == [5.0, 6.0, 7.5]                  # sorted by time
    assert mine["kind"].astype(str).tolist() == ["gpu_fail", "job_end", "rollback"]
    assert mine["job_id"].tolist() == [-1, 2**40, 12]
    assert mine["detail"].tolist() == ["", "completed", "crash"]
    assert dict(ev.dtypes.astype(str)) == {"t_s": "float64", "kind": "category",
                                          "sat": "int32", "job_id": "int64", "peer": "int32",
                                          "value": "float64", "detail": "str"}
    # only the kinds present are categories, sorted
    cats = list(ev["kind"].cat.categories)
    assert cats == sorted(set(ev["kind"].astype(str)))


def test_no_events_and_no_samples_give_the_empty_tables(tmp_path):
    eng = make_engine(scenario(1, 0.1), Stay())
    rec = eng.rec
    ev = rec.events_frame()
    assert len(ev) == 0 and list(ev.columns) == ["t_s", "kind", "sat", "job_id", "peer",
                                                  "value", "detail"]
    rec.write_timeseries(tmp_path / "ts.parquet")
    assert len(pd.read_parquet(tmp_path / "ts.parquet")) == 0


def test_touching_every_satellite_at_once_is_touch_per_satellite():
    # the sample's batch touch (Fleet.touch_all) gives the bits of touch() per satellite
    hw = scenario(40, 0.1).hardware
    a, b = Fleet(hw, 40), Fleet(hw, 40)
    rng = np.random.default_rng(7)
    for i in range(40):
        held, state = int(rng.integers(0, 5)), int(rng.integers(0, 3))    # 0 held included
        t = float(rng.uniform(0.0, 600.0))
        for f in (a, b):
            f.touch(i, t)
            f.add_gpus(i, held, 0, 0)
            f.set_illumination(i, 1.0 if state == 0 else 0.5 * (2 - state), state)
    for t in (600.0, 600.0, 1234.5678):                # again at the same t: nothing changes
        a.touch_all(t)
        for i in range(40):
            b.touch(i, t)
        for name in ("busy_gpu_s", "dark_s", "last_touch_s"):
            assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
        assert a.dark_s.min() >= 0.0 and a.busy_gpu_s.min() >= 0.0


def _plain_temperatures_at_k(nodes, t_s, max_step_s=30.0):
    """temperatures_at_k as first written (every node stepped): the oracle for the bits."""
    for n in nodes:
        if t_s - n._t > 20.0 * max_step_s:
            n.advance(t_s)
    temp = np.array([n._temp for n in nodes])
    dt = t_s - np.array([n._t for n in nodes])
    u4 = np.array([n._u for n in nodes]) ** 4
    beta = np.array([n._beta for n in nodes])
    steps = max(1, int(math.ceil(float(dt.max(initial=0.0)) / max_step_s)))
    h = dt / steps

    def f(x):
        return beta * (u4 - x ** 4)

    for _ in range(steps):
        k1 = f(temp)
        k2 = f(temp + 0.5 * h * k1)
        k3 = f(temp + 0.5 * h * k2)
        k4 = f(temp + h * k3)
        temp = temp + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return temp


@pytest.mark.parametrize("spread_s", [0.0, 500.0, 3000.0])
def test_sample_temperatures_have_the_bits_of_the_plain_rk4(spread_s):
    # nodes at t (dt = 0: not stepped), behind it, and long unchanged (advanced exactly first)
    import copy

    from orbsched.models.thermal import ThermalNode, ThermalSpec, temperatures_at_k
    spec = ThermalSpec(heat_capacity_j_k=40_000.0, radiator_area_m2=3.0,
                       max_temperature_k=345.0, absorbed_sun_w=60.0, absorbed_shadow_w=15.0)
    rng = np.random.default_rng(3)
    t = 4000.0
    nodes = [ThermalNode(spec, temperature_k=float(rng.uniform(250.0, 340.0)),
                         illumination_fraction=float(rng.uniform()),
                         dissipation_w=float(rng.uniform(200.0, 3000.0))) for _ in range(300)]
    for k, n in enumerate(nodes):
        n.advance(t if k % 5 == 0 else t - float(rng.uniform(0.0, spread_s)))
    ref = copy.deepcopy(nodes)
    got, want = temperatures_at_k(nodes, t), _plain_temperatures_at_k(ref, t)
    assert got.tobytes() == want.tobytes()
    for n, r in zip(nodes, ref):                       # the same exact advances, too
        assert (n.t_s, n.temperature_k, n.radiated_j) == (r.t_s, r.temperature_k, r.radiated_j)
