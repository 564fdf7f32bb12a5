"""Workloads: the job record, the container, the synthetic generator and the trace readers.

Reference values are computed in the tests by hand or directly with pandas from the sample
files the tests write, never from the code under test.  Statistical checks use a fixed seed and
state their tolerance next to the assertion.
"""
import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from scipy.optimize import brentq

from orbsched.scenario.errors import DataFileError, OrbschedError, WorkloadError
from orbsched.scenario.workload_specs import (
    PHILLY_GPU_ALPHA,
    lognormal_capped_mean_s,
    power_law_probs,
)
from orbsched.workload.jobs import (
    JobParams,
    SyntheticParams,
    TrainingJob,
    Workload,
    synthetic_training,
)
from orbsched.workload.traces import (
    ColumnMap,
    TraceOptions,
    _iter_json_array,
    read_alibaba_openb,
    read_alibaba_pai,
    read_csv_mapped,
    read_helios,
    read_philly_csv,
    read_philly_json,
)


def job(**kw):
    base = dict(job_id=0, name="j", arrival_s=0.0, gpus=4, work_gpu_h=2.0, checkpoint_gb=1.0,
                checkpoint_interval_s=1800.0, checkpoint_s=0.5, restore_s=0.3)
    base.update(kw)
    return TrainingJob(**base)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


# ================================================================================ job record
def test_training_job_defaults_and_runtime():
    j = job()
    assert j.min_gpus == 4 and j.protection == "none" and j.source == "synthetic"
    assert j.runtime_s == pytest.approx(2.0 * 3600 / 4, rel=1e-15)  # 1800 s on 4 GPUs


@pytest.mark.parametrize("kw, field", [
    (dict(gpus=0, min_gpus=1), "gpus"), (dict(min_gpus=5), "min_gpus"),
    (dict(min_gpus=0), "min_gpus"), (dict(arrival_s=-1.0), "arrival_s"),
    (dict(work_gpu_h=0.0), "work_gpu_h"), (dict(checkpoint_gb=float("nan")), "checkpoint_gb"),
    (dict(checkpoint_interval_s=0.0), "checkpoint_interval_s"), (dict(restore_s=-1), "restore_s"),
    (dict(protection="triple"), "protection"), (dict(gpus=2.5), "gpus"),
])
def test_training_job_rejects_bad_fields(kw, field):
    with pytest.raises(WorkloadError, match=field) as err:
        job(**kw)
    assert isinstance(err.value, OrbschedError) and isinstance(err.value, ValueError)


def test_infinite_checkpoint_interval_means_never():
    assert job(checkpoint_interval_s=math.inf).checkpoint_interval_s == math.inf


# ================================================================================= container
def test_workload_sorts_validates_and_round_trips(tmp_path):
    jobs = [job(job_id=1, name="b", arrival_s=50.0, gpus=2, work_gpu_h=1.0),
            job(job_id=0, name="a", arrival_s=10.0, protection="tmr", source="philly", min_gpus=2)]
    wl = Workload.from_jobs(jobs)
    assert len(wl) == 2 and wl.total_gpu_h == pytest.approx(3.0, rel=1e-15)
    assert [j.name for j in wl.jobs()] == ["a", "b"]  # arrival order
    assert list(wl.jobs()) == sorted(jobs, key=lambda j: j.arrival_s)  # equal records
    wl.skipped, wl.filtered = {"non_numeric": 2}, {"window": 5}
    back = Workload.from_parquet(wl.to_parquet(tmp_path / "sub" / "w.parquet"))
    assert back == wl and back.skipped == {"non_numeric": 2} and back.filtered == {"window": 5}
    assert not list((tmp_path / "sub").glob(".*tmp"))  # no temporary file left behind
    f = wl.frame
    f.loc[0, "gpus"] = 99  # a changed copy leaves the workload alone
    assert next(wl.jobs()).gpus == 4


def test_workload_errors_name_the_job(tmp_path):
    with pytest.raises(WorkloadError, match="job_id 3 appears more than once"):
        Workload.from_jobs([job(job_id=3), job(job_id=3, name="x")])
    frame = Workload.from_jobs([job(job_id=7, name="seven")]).frame
    frame["min_gpus"] = 9
    with pytest.raises(WorkloadError, match=r"job 7 \('seven'\): field 'min_gpus'.*gpus = 4"):
        Workload(frame)
    with pytest.raises(WorkloadError, match="lacks column"):
        Workload(frame.drop(columns=["restore_s"]))
    p = tmp_path / "bad.parquet"
    frame.drop(columns=["restore_s"]).to_parquet(p)
    with pytest.raises(DataFileError, match="restore_s"):
        Workload.from_parquet(p)


def test_empty_workload():
    wl = synthetic_training(0, rng=np.random.default_rng(0))
    assert len(wl) == 0 and wl.total_gpu_h == 0.0 and list(wl.jobs()) == []


# =========================================================================== generator: fits
SIZES = [1, 2, 4, 8, 16, 32, 64, 128]


def test_gpu_power_law_fit_reproduces_philly_mean():
    def mean(a):
        p = np.array(SIZES, float) ** -a
        return (p / p.sum()) @ SIZES
    alpha = brentq(lambda a: mean(a) - 1.93, 0.5, 5.0, xtol=1e-14)
    assert pytest.approx(alpha, rel=1e-10) == PHILLY_GPU_ALPHA
    p = power_law_probs(SIZES, PHILLY_GPU_ALPHA)
    assert p @ SIZES == pytest.approx(1.93, rel=1e-12)
    assert p[0] == pytest.approx(0.6656, abs=5e-5) and p[-1] == pytest.approx(0.00031, abs=5e-6)
    assert SyntheticParams().mean_gpus == pytest.approx(1.93, rel=1e-12)


def test_runtime_lognormal_parameters_from_median_and_mean():
    p = SyntheticParams()
    assert p.runtime_mu == pytest.approx(math.log(874.0), rel=1e-15)  # 6.7731
    assert p.runtime_sigma == pytest.approx(math.sqrt(2 * math.log(18006 / 874)), rel=1e-15)
    assert p.runtime_mu == pytest.approx(6.7731, abs=1e-4)
    assert p.runtime_sigma == pytest.approx(2.4598, abs=1e-4)
    mean_s = lognormal_capped_mean_s(p.runtime_mu, p.runtime_sigma)  # no cap
    assert mean_s == pytest.approx(18006, rel=1e-12)


def test_generator_reproduces_philly_statistics():
    # n = 10^6, seed 1.  Tolerances: mean GPUs 3 % (standard error 0.1 %), median runtime 3 %
    # (standard error ~0.3 %), mean runtime 10 %: the lognormal has a coefficient of variation
    # of ~20, so the standard error of the mean is ~2 % at this n and its distribution is skewed.
    wl = synthetic_training(1_000_000, rng=np.random.default_rng(1))
    f = wl.frame
    runtime_s = f["work_gpu_h"] * 3600 / f["gpus"]
    assert len(wl) == 1_000_000
    assert f["gpus"].mean() == pytest.approx(1.93, rel=0.03)
    assert runtime_s.median() == pytest.approx(874.0, rel=0.03)
    assert runtime_s.mean() == pytest.approx(18006.0, rel=0.10)
    assert set(f["gpus"].unique()) <= set(SIZES) and f["gpus"].max() == 128
    # Poisson arrivals at 31.47 jobs/h: mean gap 3600/31.47 s within 1 % (s.e. 0.1 %)
    gaps = np.diff(f["arrival_s"].to_numpy())
    assert gaps.min() >= 0 and gaps.mean() == pytest.approx(3600 / 31.47, rel=0.01)
    assert np.std(gaps) / np.mean(gaps) == pytest.approx(1.0, abs=0.01)  # exponential: CV 1
    assert (f["source"] == "synthetic").all() and (f["min_gpus"] == f["gpus"]).all()


def test_daily_cycle_shows_in_hourly_counts():
    params = SyntheticParams(daily_amplitude=0.5, daily_peak_hour=14.0, start_hour=6.0)
    days = 400
    wl = synthetic_training(duration_h=24 * days, rate_per_h=50.0, rng=np.random.default_rng(5),
                            params=params)
    hour = ((wl.frame["arrival_s"] / 3600 + 6.0) % 24).astype(int)
    counts = np.bincount(hour, minlength=24).astype(float)
    n = counts.sum()
    # total: Poisson with mean 50 * 9600 = 480,000; within 4 standard deviations (4 * 693)
    assert abs(n - 480_000) < 4 * math.sqrt(480_000)
    # expected count in hour h: integral of the rate over [h, h+1) times days
    h = np.arange(24)
    w = 2 * math.pi / 24
    expected = days * 50 * (1 + 0.5 * (np.sin(w * (h + 1 - 14)) - np.sin(w * (h - 14))) / w)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    # first harmonic: amplitude 0.5 (times sinc(1/24) = 0.9971 for hourly bins), peak at 14:30
    # (bins are labelled by their start); tolerances 0.02 and 0.1 h (s.e. ~0.002 and 0.01 h)
    c = (counts * np.cos(w * (h + 0.5))).sum() * 2 / n
    s = (counts * np.sin(w * (h + 0.5))).sum() * 2 / n
    assert math.hypot(c, s) == pytest.approx(0.5, abs=0.02)
    assert (math.degrees(math.atan2(s, c)) / 15) % 24 == pytest.approx(14.0, abs=0.1)
    assert counts[14] > 2.5 * counts[2]  # peak 1.5x mean vs trough 0.5x mean


def test_n_jobs_mode_with_cycle_gives_exactly_n():
    p = SyntheticParams(daily_amplitude=1.0)
    wl = synthetic_training(12_345, rng=np.random.default_rng(3), params=p)
    assert len(wl) == 12_345 and wl.frame["arrival_s"].is_monotonic_increasing


def test_same_seed_same_workload_different_seed_different():
    a = synthetic_training(5000, rng=np.random.default_rng(42))
    b = synthetic_training(5000, rng=np.random.default_rng(42))
    c = synthetic_training(5000, rng=np.random.default_rng(43))
    assert a == b
    assert not a.frame["arrival_s"].equals(c.frame["arrival_s"])
    assert not a.frame["work_gpu_h"].equals(c.frame["work_gpu_h"])


def test_runtime_cap_truncates_and_lowers_mean_to_closed_form():
    p = SyntheticParams(runtime_cap_s=86400.0)
    wl = synthetic_training(400_000, rng=np.random.default_rng(11), params=p)
    rt = wl.frame["work_gpu_h"] * 3600 / wl.frame["gpus"]
    assert rt.max() == pytest.approx(86400.0, rel=1e-12)
    expect = lognormal_capped_mean_s(p.runtime_mu, p.runtime_sigma, 86400.0)
    # capped: finite variance (CV ~2.5), s.e. 0.4 %; tolerance 2 %
    assert rt.mean() == pytest.approx(expect, rel=0.02)
    assert expect < 0.5 * 18006
    assert rt.median() == pytest.approx(874.0, rel=0.03)


def test_checkpoint_model_size_rule_and_timing():
    wl = synthetic_training(200_000, rng=np.random.default_rng(2))
    f = wl.frame
    # median 1e8 parameters x 16 B = 1.6 GB (s.e. ~0.5 %); tolerance 3 %
    assert f["checkpoint_gb"].median() == pytest.approx(1.6, rel=0.03)
    assert (f["checkpoint_gb"] <= f["gpus"] * 80.0 + 1e-9).all()
    assert np.allclose(f["checkpoint_s"], f["checkpoint_gb"] / 2.0, rtol=1e-15)
    assert np.allclose(f["restore_s"], f["checkpoint_gb"] / 3.5, rtol=1e-15)
    assert (f["checkpoint_interval_s"] == 1800.0).all()
    # direct size, Young's interval and elasticity
    jp = JobParams(checkpoint_gb=112.0, young_mtbf_gpu_h=1000.0, min_gpus_fraction=0.5,
                   protection="duplex")
    g = synthetic_training(2000, rng=np.random.default_rng(2),
                           params=SyntheticParams(job=jp)).frame
    assert (g["checkpoint_gb"] == 112.0).all() and (g["checkpoint_s"] == 56.0).all()
    young = np.sqrt(2 * 56.0 * 1000 * 3600 / g["gpus"])  # sqrt(2 C MTBF / gpus)
    assert np.allclose(g["checkpoint_interval_s"], young, rtol=1e-12)
    assert (g["min_gpus"] == np.maximum(1, np.ceil(g["gpus"] / 2))).all()
    assert (g["protection"] == "duplex").all()


def test_generator_argument_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(WorkloadError, match="exactly one"):
        synthetic_training(10, duration_h=5, rng=rng)
    with pytest.raises(WorkloadError, match="daily_amplitude"):
        SyntheticParams(daily_amplitude=1.5)
    with pytest.raises(WorkloadError, match="gpu_probs"):
        SyntheticParams(gpu_probs=(0.5, 0.5))
    with pytest.raises(WorkloadError, match="mean is at least its median"):
        SyntheticParams(runtime_mean_s=100.0)
    with pytest.raises(WorkloadError, match="rng"):
        synthetic_training(10, rng="seed")


# ============================================================================== Philly CSV
PHILLY = """timestamp,duration,num_gpus,gpu_time,cluster
2017-10-01 00:00:10,100.0,1,100.0,c1
2017-10-01 00:00:00,3600.0,8,28800.0,c2
2017-10-01 01:00:00,50.0,2,100.0,c1
2017-10-02 00:00:00,7200.0,16,115200.0,c3
"""


def test_philly_csv_small_sample(tmp_path):
    p = write(tmp_path, "philly.csv", PHILLY)
    wl = read_philly_csv(p)
    f = wl.frame
    assert list(f["name"]) == ["c2:3", "c1:2", "c1:4", "c3:5"]  # cluster:line, by arrival
    assert list(f["arrival_s"]) == [0.0, 10.0, 3600.0, 86400.0]  # first job at 0
    assert list(f["gpus"]) == [8, 1, 2, 16]
    assert wl.total_gpu_h == pytest.approx((100 + 28800 + 100 + 115200) / 3600, rel=1e-12)
    assert (f["source"] == "philly").all() and wl.skipped == {} and wl.filtered == {}


def test_philly_csv_options(tmp_path):
    p = write(tmp_path, "philly.csv", PHILLY)
    w = read_philly_csv(p, start="2017-10-01 00:00:05", end="2017-10-02")
    assert list(w.frame["name"]) == ["c1:2", "c1:4"] and w.filtered == {"window": 2}
    assert list(w.frame["arrival_s"]) == [0.0, 3590.0]
    w = read_philly_csv(p, time_scale=0.5, arrival_scale=0.1, gpu_scale=1.5, max_gpus=12)
    f = w.frame
    assert list(f["gpus"]) == [12, 2, 3] and w.filtered == {"max_gpus": 1}  # ceil(8*1.5)=12
    assert list(f["arrival_s"]) == pytest.approx([0.0, 0.5, 180.0], rel=1e-12)
    assert list(f["work_gpu_h"]) == pytest.approx([12 * 1800 / 3600, 2 * 50 / 3600, 3 * 25 / 3600])
    w = read_philly_csv(p, min_gpus=2)
    assert len(w) == 3 and w.filtered == {"min_gpus": 1}
    w = read_philly_csv(p, TraceOptions(max_gpus=8), min_gpus=2)  # keyword overrides options
    assert list(w.frame["gpus"]) == [8, 2] and w.filtered == {"min_gpus": 1, "max_gpus": 1}
    with pytest.raises(WorkloadError, match="no job status"):
        read_philly_csv(p, statuses=("Pass",))
    with pytest.raises(WorkloadError, match="unknown trace option"):
        read_philly_csv(p, max_gpu=4)
    with pytest.raises(WorkloadError, match="time_scale"):
        read_philly_csv(p, time_scale=0)


def test_sampling_is_uniform_reproducible_and_counted(tmp_path):
    rows = [f"2017-10-01 00:{i // 60:02d}:{i % 60:02d},{10 + i},1,{10 + i},c" for i in range(500)]
    p = write(tmp_path, "p.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n"
              + "\n".join(rows) + "\n")
    a = read_philly_csv(p, sample_n=100, rng=np.random.default_rng(9))
    b = read_philly_csv(p, sample_n=100, rng=np.random.default_rng(9))
    c = read_philly_csv(p, sample_n=100, rng=np.random.default_rng(10))
    assert len(a) == 100 and a.filtered == {"sampled_out": 400}
    assert a == b and not a.frame["name"].equals(c.frame["name"])
    assert a.frame["arrival_s"].iloc[0] == 0.0 and a.frame["arrival_s"].is_monotonic_increasing
    assert read_philly_csv(p) == read_philly_csv(p)  # rng=None: seed 0, deterministic


def test_streaming_chunks_do_not_change_the_result(tmp_path):
    rows = [f"2017-10-01 00:00:{i % 60:02d},{5 * i + 1},{1 + i % 3},0,c" for i in range(53)]
    text = "timestamp,duration,num_gpus,gpu_time,cluster\n" + "\n".join(rows) + "\n"
    p = write(tmp_path, "p.csv", text)
    assert read_philly_csv(p, chunksize=7) == read_philly_csv(p)
    bad = "\n".join(r if i != 41 else r.split(",", 1)[0] + ",oops," + r.split(",", 2)[2]
                    for i, r in enumerate(text.splitlines())) + "\n"
    p2 = write(tmp_path, "p2.csv", bad)
    with pytest.raises(DataFileError, match=r"line 42: column 'duration'"):
        read_philly_csv(p2, chunksize=7)  # the bad row is in the 6th chunk


@pytest.mark.parametrize("row, reason, col, what", [
    ("2017-10-01 00:00:20,abc,1,1,c1", "non_numeric", "duration", "not a finite number: 'abc'"),
    ("2017-10-01 00:00:20,-5,1,1,c1", "negative_duration", "duration", "negative duration -5"),
    ("2017-13-45 99:00:00,5,1,1,c1", "bad_time", "timestamp", "not a date-time"),
    ("2017-10-01 00:00:20,,1,1,c1", "missing_value", "duration", "missing value"),
    ("2017-10-01 00:00:20,5,-2,1,c1", "negative_value", "num_gpus", "negative value -2"),
    ("2017-10-01 00:00:20,inf,1,1,c1", "non_numeric", "duration", "not a finite number"),
])
def test_philly_csv_bad_rows(tmp_path, row, reason, col, what):
    lines = PHILLY.splitlines()
    lines.insert(3, row)  # becomes line 4 of the file
    p = write(tmp_path, "bad.csv", "\n".join(lines) + "\n")
    with pytest.raises(DataFileError) as err:
        read_philly_csv(p)
    msg = str(err.value)
    assert str(p) in msg and "line 4" in msg and f"column '{col}'" in msg and what in msg
    assert err.value.line == 4 and err.value.path == str(p)
    wl = read_philly_csv(p, on_bad_rows="skip")
    assert len(wl) == 4 and wl.skipped == {reason: 1}
    assert sorted(wl.frame["name"]) == ["c1:2", "c1:5", "c2:3", "c3:6"]


def test_wrong_field_count_and_missing_column(tmp_path):
    lines = PHILLY.splitlines()
    lines.insert(2, "2017-10-01 00:00:20,5,1,1,c1,extra")  # line 3
    p = write(tmp_path, "f.csv", "\n".join(lines) + "\n\n")
    with pytest.raises(DataFileError, match=r"line 3: expected 5 fields, saw 6"):
        read_philly_csv(p)
    wl = read_philly_csv(p, on_bad_rows="skip")
    assert wl.skipped == {"wrong_field_count": 1} and wl.filtered == {"blank_line": 1}
    # rows after the skipped line keep their true line numbers
    assert sorted(wl.frame["name"]) == ["c1:2", "c1:5", "c2:4", "c3:6"]
    q = write(tmp_path, "nocol.csv", "timestamp,num_gpus\n2017-10-01 00:00:00,1\n")
    with pytest.raises(DataFileError, match=r"line 1: missing column\(s\) \['duration'\]"):
        read_philly_csv(q)
    with pytest.raises(DataFileError, match="no such file"):
        read_philly_csv(tmp_path / "absent.csv")


# ============================================================================= Philly JSON
def philly_json_jobs():
    t = "2017-10-0{} {}"
    return [
        {"status": "Pass", "jobid": "app_1", "user": "u", "vc": "v",
         "submitted_time": t.format(1, "00:00:00"),
         "attempts": [{"start_time": t.format(1, "00:01:00"), "end_time": t.format(1, "00:02:00"),
                       "detail": [{"ip": "m1", "gpus": ["gpu0"]}]},
                      {"start_time": t.format(1, "00:10:00"), "end_time": t.format(1, "01:10:00"),
                       "detail": [{"ip": "m1", "gpus": ["gpu0", "gpu1", "gpu2", "gpu3"]},
                                  {"ip": "m2", "gpus": ["gpu0", "gpu1", "gpu2", "gpu3"]}]}]},
        {"status": "Killed", "jobid": "app_2", "submitted_time": t.format(1, "00:05:00"),
         "attempts": []},
        {"status": "Running", "jobid": "app_3", "submitted_time": t.format(1, "00:30:00"),
         "attempts": [{"start_time": t.format(1, "00:40:00"), "end_time": None,
                       "detail": [{"ip": "m3", "gpus": ["gpu0", "gpu1"]}]}]},
        {"status": "Failed", "jobid": "app_4", "submitted_time": t.format(2, "00:00:00"),
         "attempts": [{"start_time": t.format(2, "00:00:30"), "end_time": t.format(2, "00:01:00"),
                       "detail": [{"ip": "m4", "gpus": ["gpu7"]}]}]},
    ]


def write_json_lines(tmp_path, jobs, name="log.json"):
    """One job per line: job k starts on line k + 2."""
    return write(tmp_path, name, "[\n" + ",\n".join(json.dumps(j) for j in jobs) + "\n]\n")


def test_philly_json_small_log(tmp_path):
    p = write_json_lines(tmp_path, philly_json_jobs())
    wl = read_philly_json(p)
    f = wl.frame.set_index("name")
    assert list(wl.frame["name"]) == ["app_1", "app_3", "app_4"]
    assert wl.filtered == {"never_started": 1}
    # app_1: last attempt 01:10 - 00:10 = 3600 s on 4 + 4 GPUs
    assert f.loc["app_1", "gpus"] == 8 and f.loc["app_1", "work_gpu_h"] == pytest.approx(8.0)
    # app_3 unfinished: clipped at the latest time in the file, 2017-10-02 00:01:00
    assert f.loc["app_3", "work_gpu_h"] == pytest.approx(2 * (86400 + 60 - 2400) / 3600)
    assert f.loc["app_4", "arrival_s"] == 86400.0 and f.loc["app_3", "arrival_s"] == 1800.0
    d = read_philly_json(p, unfinished="drop", statuses=["pass", "RUNNING", "Failed"])
    assert list(d.frame["name"]) == ["app_1", "app_4"]
    assert d.filtered == {"status": 1, "unfinished": 1}  # app_2 fails the status filter first
    e = read_philly_json(p, trace_end="2017-10-01 01:40:00")
    assert e.frame.set_index("name").loc["app_3", "work_gpu_h"] == pytest.approx(2.0)
    # indented (multi-line) JSON gives the same workload
    q = write(tmp_path, "indented.json", json.dumps(philly_json_jobs(), indent=2))
    assert read_philly_json(q) == wl


def test_philly_json_bad_job_names_line_and_key(tmp_path):
    jobs = philly_json_jobs()
    jobs[2]["attempts"][0]["start_time"] = "yesterday"
    p = write_json_lines(tmp_path, jobs)
    with pytest.raises(DataFileError) as err:
        read_philly_json(p)
    assert err.value.line == 4 and "attempts[-1].start_time" in str(err.value)
    assert "app_3" in str(err.value) and str(p) in str(err.value)
    wl = read_philly_json(p, on_bad_rows="skip")
    assert wl.skipped == {"bad_time": 1} and list(wl.frame["name"]) == ["app_1", "app_4"]
    broken = write(tmp_path, "broken.json", p.read_text()[:-8])
    with pytest.raises(DataFileError, match="invalid JSON|unexpected end"):
        read_philly_json(broken, on_bad_rows="skip")  # a damaged document is always an error


def test_json_array_streaming_over_tiny_blocks(tmp_path):
    data = philly_json_jobs() * 3 + [{"x": [1, 2, {"y": "z]"}], "s": "a,b\n"}]
    p = tmp_path / "a.json"
    p.write_text(json.dumps(data, indent=1))
    got = [v for _, _, v in _iter_json_array(p, block_chars=7)]
    assert got == data


# ============================================================================== Alibaba PAI
PAI_JOBS = """j1,i1,u1,Terminated,1000.0,2000.0
j2,i2,u1,Terminated,1100.0,1500.0
j3,i3,u2,Failed,1200.0,1900.0
j4,i4,u2,Running,1300.0,
j5,i5,u3,Terminated,1400.0,1600.0
j6,i6,u3,Waiting,1500.0,
"""
PAI_TASKS = """j1,ps,1.0,Terminated,1010.0,1990.0,600.0,29.3,,
j1,worker,2.0,Terminated,1020.0,1980.0,400.0,29.3,50.0,V100
j2,tensorflow,1.0,Terminated,1150.0,1450.0,600.0,10.0,,
j3,worker,8.0,Failed,1250.0,1850.0,400.0,10.0,100.0,T4
j3,evaluator,1.0,Failed,1260.0,1800.0,400.0,10.0,25.0,T4
j4,worker,1.0,Running,1310.0,,400.0,10.0,100.0,P100
j6,worker,1.0,Waiting,,,400.0,10.0,100.0,P100
"""


def test_alibaba_pai_small_tables(tmp_path):
    jp = write(tmp_path, "pai_job_table.csv", PAI_JOBS)
    tp = write(tmp_path, "pai_task_table.csv", PAI_TASKS)
    wl = read_alibaba_pai(jp, tp)
    f = wl.frame.set_index("name")
    assert list(wl.frame["name"]) == ["j1", "j3", "j4"]
    assert wl.filtered == {"no_gpus": 1, "no_tasks": 1, "never_started": 1}  # j2, j5, j6
    # j1: ps (no GPU) + 2 x 50 % = 1 GPU; runs 1010 -> 1990 (task times, queueing excluded)
    assert f.loc["j1", "gpus"] == 1 and f.loc["j1", "work_gpu_h"] == pytest.approx(980 / 3600)
    # j3: 8 x 100 % + 1 x 25 % = 8.25 -> 9 whole GPUs, 1250 -> 1850
    assert f.loc["j3", "gpus"] == 9 and f.loc["j3", "work_gpu_h"] == pytest.approx(9 * 600 / 3600)
    # j4: still running, clipped at the latest time in the files (2000.0 = j1's end)
    assert f.loc["j4", "work_gpu_h"] == pytest.approx((2000 - 1310) / 3600)
    assert list(f["arrival_s"]) == [0.0, 200.0, 300.0]  # submission times, re-based
    only = read_alibaba_pai(jp, tp, statuses=("terminated",))
    assert list(only.frame["name"]) == ["j1"]
    assert only.filtered == {"status": 3, "no_gpus": 1, "no_tasks": 1}
    d = read_alibaba_pai(jp, tp, fractional_gpus="drop", unfinished="drop")
    assert list(d.frame["name"]) == ["j1"]  # 2 x 50 % sums to a whole GPU
    assert d.filtered == {"no_gpus": 1, "no_tasks": 1, "never_started": 1,
                          "fractional_gpus": 1, "unfinished": 1}


def test_alibaba_pai_bad_task_row(tmp_path):
    jp = write(tmp_path, "pai_job_table.csv", PAI_JOBS)
    tp = write(tmp_path, "pai_task_table.csv",
               PAI_TASKS.replace("j3,worker,8.0", "j3,worker,eight"))
    with pytest.raises(DataFileError) as err:
        read_alibaba_pai(jp, tp)
    assert err.value.path == str(tp) and err.value.line == 4 and "'inst_num'" in str(err.value)
    wl = read_alibaba_pai(jp, tp, on_bad_rows="skip")
    assert wl.skipped == {"non_numeric": 1}
    assert wl.frame.set_index("name").loc["j3", "gpus"] == 1  # only the evaluator's 25 % left


# ============================================================================= Alibaba openb
OPENB = ("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
         "deletion_time,scheduled_time\n") + """\
p0,12000,16384,1,1000,,LS,Running,0,3600,0
p1,6000,12288,1,460,,LS,Running,100,1900,200
p2,4000,8192,0,0,,BE,Running,150,900,150
p3,32000,65536,8,1000,,LS,Succeeded,300,7500,400
p4,6000,12288,2,1000,,BE,Pending,500,1500,
p5,6000,12288,4,1000,,LS,Running,600,,700
"""


def test_alibaba_openb_small_sample(tmp_path):
    p = write(tmp_path, "openb.csv", OPENB)
    wl = read_alibaba_openb(p)
    f = wl.frame.set_index("name")
    assert list(wl.frame["name"]) == ["p0", "p1", "p3", "p4", "p5"]
    assert wl.filtered == {"no_gpus": 1}
    assert f.loc["p1", "gpus"] == 1 and f.loc["p1", "work_gpu_h"] == pytest.approx(1700 / 3600)
    assert f.loc["p3", "work_gpu_h"] == pytest.approx(8 * 7100 / 3600)
    assert f.loc["p4", "work_gpu_h"] == pytest.approx(2 * 1000 / 3600)  # from creation_time
    assert f.loc["p5", "work_gpu_h"] == pytest.approx(4 * (7500 - 700) / 3600)  # clipped
    d = read_alibaba_openb(p, fractional_gpus="drop", unfinished="drop", statuses=["running"])
    assert list(d.frame["name"]) == ["p0"]
    assert d.filtered == {"no_gpus": 1, "fractional_gpus": 1, "unfinished": 1, "status": 2}
    w = read_alibaba_openb(p, start=200, end=700)
    assert list(w.frame["name"]) == ["p3", "p4", "p5"] and w.filtered == {"window": 3}
    assert list(w.frame["arrival_s"]) == [0.0, 200.0, 300.0]
    with pytest.raises(WorkloadError, match="number of seconds"):
        read_alibaba_openb(p, start="2020-01-01")


def test_alibaba_openb_bad_rows(tmp_path):
    text = (OPENB.replace("p3,32000,65536,8,1000", "p3,32000,65536,8,1e3x")  # line 5
            .replace("Pending,500,1500", "Pending,500,400"))  # deleted before created
    p = write(tmp_path, "openb.csv", text)
    with pytest.raises(DataFileError, match=r"line 5: column 'gpu_milli'"):
        read_alibaba_openb(p)
    wl = read_alibaba_openb(p, on_bad_rows="skip")
    assert wl.skipped == {"non_numeric": 1, "negative_duration": 1} and len(wl) == 3


# ==================================================================================== Helios
HELIOS = ("job_id,user,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,"
          "duration,queue\n") + """\
h1,u1,8,32,1,COMPLETED,2020-04-01 00:00:00,2020-04-01 00:01:00,2020-04-01 01:01:00,3600,q
h2,u1,0,4,1,COMPLETED,2020-04-01 00:00:05,2020-04-01 00:00:06,2020-04-01 00:10:06,600,q
h3,u2,2,8,1,FAILED,2020-04-01 00:10:00,2020-04-01 00:11:00,2020-04-01 00:21:00,,q
h4,u2,1,8,1,CANCELLED,2020-04-01 00:20:00,,,,q
h5,u3,16,64,2,RUNNING,2020-04-01 00:30:00,2020-04-01 00:31:00,,,q
"""


def test_helios_small_sample(tmp_path):
    p = write(tmp_path, "cluster_log.csv", HELIOS)
    wl = read_helios(p)
    f = wl.frame.set_index("name")
    assert list(wl.frame["name"]) == ["h1", "h3", "h5"]
    assert wl.filtered == {"no_gpus": 1, "never_started": 1}
    assert f.loc["h1", "work_gpu_h"] == pytest.approx(8.0)
    assert f.loc["h3", "work_gpu_h"] == pytest.approx(2 * 600 / 3600)  # end - start
    # h5 still running: clipped at the latest time in the file, 01:01:00 (h1's end)
    assert f.loc["h5", "work_gpu_h"] == pytest.approx(16 * (3660 - 1860) / 3600)
    assert list(f["arrival_s"]) == [0.0, 600.0, 1800.0]
    c = read_helios(p, statuses=("completed",))
    assert list(c.frame["name"]) == ["h1"]
    bad = write(tmp_path, "bad.csv", HELIOS.replace("2020-04-01 00:10:00,", "2020-04-01 xx,"))
    with pytest.raises(DataFileError, match=r"line 4: column 'submit_time': not a date-time"):
        read_helios(bad)


# ================================================================================ mapped CSV
def test_csv_mapped_seconds_datetime_and_extras(tmp_path):
    p = write(tmp_path, "mine.csv", "t,dur_ms,n,ck,kind\n0,60000,2,5.5,train\n10,1000,1,,infer\n"
              "20,120000,4,,train\n")
    m = dict(submit="t", duration="dur_ms", gpus="n", checkpoint_gb="ck", job_type="kind",
             job_types=("train",), time_unit_s=1e-3)
    wl = read_csv_mapped(p, m)
    f = wl.frame
    assert list(f["name"]) == ["2", "4"] and wl.filtered == {"job_type": 1}
    assert list(f["arrival_s"]) == pytest.approx([0.0, 0.02])  # milliseconds
    assert f["checkpoint_gb"].iloc[0] == 5.5 and f["checkpoint_s"].iloc[0] == 2.75
    assert f["work_gpu_h"].iloc[1] == pytest.approx(4 * 120 / 3600)
    assert (f["source"] == "mine").all()
    # date-times detected automatically, end column instead of duration, no header
    q = write(tmp_path, "dt.csv", "a,2021-01-01T00:00:00,2021-01-01T02:00:00,3\n"
              "b,2021-01-01T01:00:00,2021-01-01T01:30:00,1\n")
    cm = ColumnMap(submit="s", end="e", gpus="g", name="id", names=("id", "s", "e", "g"))
    w2 = read_csv_mapped(q, cm, source="custom")
    assert list(w2.frame["arrival_s"]) == [0.0, 3600.0]
    assert w2.total_gpu_h == pytest.approx(3 * 2 + 0.5)
    with pytest.raises(WorkloadError, match="'duration' or an 'end'"):
        ColumnMap(submit="s", gpus="g")
    r = write(tmp_path, "nodur.csv", "t,n,ck,kind\n0,1,,train\n")
    with pytest.raises(DataFileError, match=r"line 1: missing column\(s\) \['dur_ms'\]"):
        read_csv_mapped(r, m)


# ============================================================================ real traces
@pytest.mark.shared_data
def test_real_philly_csv_counts_and_gpu_hours():
    path = shared_file("traces/philly_jobs.csv")
    raw = pd.read_csv(path)
    wl = read_philly_csv(path)
    assert len(raw) == 82_247 and len(wl) == 82_247  # every row valid, duration >= 1 s
    assert wl.total_gpu_h == pytest.approx(raw["gpu_time"].sum() / 3600, rel=1e-9)  # 978,078
    assert wl.skipped == {}
    ts = pd.to_datetime(raw["timestamp"])
    win = (ts >= "2017-10-01") & (ts < "2017-10-08")
    w = read_philly_csv(path, start="2017-10-01", end="2017-10-08", max_gpus=8)
    kept = win & (raw["num_gpus"] <= 8)
    assert len(w) == kept.sum()
    assert w.total_gpu_h == pytest.approx(raw.loc[kept, "gpu_time"].sum() / 3600, rel=1e-9)
    assert w.frame["arrival_s"].iloc[0] == 0.0
    assert w.frame["arrival_s"].max() < 7 * 86400


@pytest.mark.shared_data
def test_real_alibaba_openb_counts_and_gpu_hours():
    path = shared_file("traces/alibaba_openb_pod_list_default.csv")
    raw = pd.read_csv(path)
    wl = read_alibaba_openb(path)
    # documented mapping, computed independently: GPU pods only; whole GPUs (a shared GPU
    # counts as one); start = scheduled_time or creation_time; zero-length pods dropped
    start = raw["scheduled_time"].fillna(raw["creation_time"])
    dur = raw["deletion_time"] - start
    kept = (raw["num_gpu"] > 0) & (raw["gpu_milli"] > 0) & (dur > 0)
    assert len(raw) == 8_152 and len(wl) == kept.sum()  # 7,063
    gpu_h = (raw.loc[kept, "num_gpu"] * dur[kept]).sum() / 3600
    assert wl.total_gpu_h == pytest.approx(gpu_h, rel=1e-9)
    assert wl.filtered == {"no_gpus": int(((raw["num_gpu"] == 0) | (raw["gpu_milli"] == 0)).sum()),
                           "zero_duration": int(((dur == 0) & (raw["num_gpu"] > 0)).sum())}
    whole = read_alibaba_openb(path, fractional_gpus="drop")
    assert len(whole) == (kept & (raw["gpu_milli"] == 1000)).sum()
