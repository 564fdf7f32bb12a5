"""Figures from results folders: synthetic folders that follow the engine's schema, including
empty tables and missing files; the terminator geometry is checked exactly."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from orbsched.analysis import plot_base, plots
from orbsched.scenario.errors import DataFileError, OrbschedError

RUN_FIGURES = ("utilisation_vs_eclipse", "utilisation_by_state", "battery", "job_timeline",
               "migrations", "gpu_hours")
COMPARE_FIGURES = ("compare_utilisation_by_state", "compare_utilisation_over_time")

EVENT_DTYPES = {"t_s": "float64", "kind": "object", "sat": "int32", "job_id": "int64",
                "peer": "int32", "value": "float64", "detail": "object"}
JOB_DTYPES = {"job_id": "int64", "name": "object", "gpus": "int64", "work_gpu_h": "float64",
              "arrival_s": "float64", "first_start_s": "float64", "end_s": "float64",
              "status": "object", "reason": "object", "completion_s": "float64",
              "queue_delay_s": "float64", "migrations": "int64", "migration_failures": "int64",
              "bytes_moved_gb": "float64", "downtime_s": "float64",
              "work_done_gpu_h": "float64", "work_lost_gpu_h": "float64",
              "brownouts": "int64", "sat": "int64"}
TS_COLUMNS = ("t_s", "sat", "util", "util_sunlit", "util_penumbra", "util_umbra",
              "eclipse_frac", "harvested_w", "used_w", "curtailed_w", "soc", "soc_min",
              "temperature_k", "temperature_max_k")


def _summary(policy, seed=1, **extra):
    s = {"scenario": "synthetic", "policy": policy, "seed": seed, "n_sats": 6, "gpus_total": 48,
         "duration_h": 3.0, "utilisation": 0.61, "utilisation_sunlit": 0.5,
         "utilisation_penumbra": 0.01, "utilisation_umbra": 0.1, "eclipse_fraction": 0.37,
         "completed_gpu_h_per_day": 123.0, "battery_floor_soc": 0.7,
         "jobs": {"arrived": 8, "completed": 4, "failed": 1, "running": 2, "queued": 1,
                  "migrating": 0}}
    s.update(extra)
    return s


def _timeseries(n_sats, duration_s, step_s, per_satellite, rng):
    t = np.arange(step_s, duration_s + step_s / 2, step_s)
    rows = []
    ecl_all = []
    for sat in range(n_sats):
        phase = 2 * math.pi * sat / n_sats
        ecl = (np.sin(2 * math.pi * t / 5700.0 + phase) < -0.4).astype(float)
        ecl_all.append(ecl)
        util = np.clip(0.7 - 0.4 * ecl + 0.05 * rng.standard_normal(t.size), 0, 1)
        soc = np.clip(0.9 - 0.15 * ecl + 0.02 * rng.standard_normal(t.size), 0, 1)
        rows.append(pd.DataFrame({
            "t_s": t, "sat": sat, "util": util, "util_sunlit": util * (1 - ecl),
            "util_penumbra": 0.0, "util_umbra": util * ecl, "eclipse_frac": ecl,
            "harvested_w": 2000.0 * (1 - ecl), "used_w": 1500.0 * util,
            "curtailed_w": 100.0 * (1 - ecl), "soc": soc, "soc_min": soc,
            "temperature_k": np.nan, "temperature_max_k": np.nan}))
    per = pd.concat(rows, ignore_index=True)
    g = per.groupby("t_s", sort=True)
    fleet = g[["util", "util_sunlit", "util_penumbra", "util_umbra", "eclipse_frac",
               "soc", "temperature_k"]].mean()
    fleet[["harvested_w", "used_w", "curtailed_w"]] = g[["harvested_w", "used_w",
                                                          "curtailed_w"]].sum()
    fleet["soc_min"] = g["soc"].min()
    fleet["temperature_max_k"] = np.nan
    fleet = fleet.reset_index()
    fleet["sat"] = -1
    out = pd.concat([fleet, per] if per_satellite else [fleet], ignore_index=True)
    out = out[list(TS_COLUMNS)]
    out["sat"] = out["sat"].astype("int32")
    return out


def _events(rows):
    frame = pd.DataFrame(rows, columns=list(EVENT_DTYPES))
    return frame.astype(EVENT_DTYPES)


def _jobs(rows):
    frame = pd.DataFrame(rows, columns=list(JOB_DTYPES))
    return frame.astype(JOB_DTYPES)


def _job(job_id, arrival, start, end, status, migrations=0, failures=0, sat=0, gpus=4,
         reason="", brownouts=0):
    return [job_id, f"train-{job_id}", gpus, 10.0, arrival, start, end, status, reason,
            end - arrival, start - arrival, migrations, failures, 0.0, 0.0, 5.0, 0.0,
            brownouts, sat]


def write_run(path, policy="greedy-sunlit", seed=1, per_satellite=True, n_sats=6):
    """A small but complete results folder: 6 satellites, 3 h, 60 s samples."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    (path / "summary.json").write_text(json.dumps(_summary(policy, seed, n_sats=n_sats)))
    _timeseries(n_sats, 3 * 3600.0, 60.0, per_satellite, rng).to_parquet(
        path / "timeseries.parquet", index=False)
    ev = []
    for sat in range(n_sats):
        for k in range(2):
            t0 = 1000.0 + 5700.0 * k + 300.0 * sat
            ev += [[t0, "eclipse_entry", sat, -1, -1, 0.9, ""],
                   [t0 + 10, "umbra_entry", sat, -1, -1, np.nan, ""],
                   [t0 + 2100, "umbra_exit", sat, -1, -1, np.nan, ""],
                   [t0 + 2110, "eclipse_exit", sat, -1, -1, 0.9 - 0.03 * (sat + 1 + k), ""]]
    ev += [[0.0, "job_arrival", -1, 1, -1, np.nan, ""], [60.0, "job_start", 0, 1, -1, np.nan, ""],
           [1200.0, "migration_start", 0, 1, 3, np.nan, ""],
           [1215.0, "migration_end", 0, 1, 3, 15.0, ""],
           [3000.0, "migration_start", 3, 1, 4, np.nan, ""],
           [3020.0, "migration_failed", 3, 1, 4, np.nan, "link down"],
           [3100.0, "job_start", 3, 1, -1, np.nan, ""],
           [5000.0, "brownout", 3, 1, -1, 0.4, ""],
           [5000.0, "job_pause", 3, 1, -1, np.nan, "brownout"],
           [5600.0, "job_start", 5, 1, -1, np.nan, ""],
           [9000.0, "job_end", 5, 1, -1, np.nan, "completed"],
           [100.0, "job_arrival", -1, 2, -1, np.nan, ""],
           [400.0, "job_start", 2, 2, -1, np.nan, ""],
           [2000.0, "job_end", 2, 2, -1, np.nan, "failed: radiation"],
           [500.0, "link_up", 0, -1, 1, np.nan, ""], [900.0, "link_down", 0, -1, 1, np.nan, ""],
           [700.0, "throttle", 4, -1, -1, 0.5, ""], [8000.0, "battery_floor", 2, -1, -1, 0.7, ""]]
    ev = _events(ev)
    ev["kind"] = ev["kind"].astype("category")  # as the engine's recorder writes it
    ev.to_parquet(path / "events.parquet", index=False)
    jobs = [_job(1, 0.0, 60.0, 9000.0, "completed", migrations=1, failures=1, sat=5,
                 brownouts=1),
            _job(2, 100.0, 400.0, 2000.0, "failed", sat=2, reason="radiation")]
    # jobs without events: drawn from jobs.parquet alone
    for j in range(3, 30):
        start = 200.0 * j if j % 5 else np.nan
        end = start + 3000.0 if j % 3 == 0 else np.nan
        status = "queued" if np.isnan(start) else ("completed" if j % 3 == 0 else "running")
        jobs.append(_job(j, 150.0 * j, start, end, status, sat=j % n_sats, gpus=1 + j % 8))
    _jobs(jobs).to_parquet(path / "jobs.parquet", index=False)
    lon = [-170.0, 175.0, 10.0, 90.0, -60.0, 130.0][:n_sats]
    (path / "snapshot.json").write_text(json.dumps({
        "t_s": 3600.0, "utc": "2025-03-20T12:00:00Z", "subsolar_lat_deg": 10.0,
        "subsolar_lon_deg": 20.0,
        "sats": {"lat_deg": [10.0, 12.0, -40.0, 50.0, 0.0, -20.0][:n_sats], "lon_deg": lon,
                 "state": ["umbra", "umbra", "sunlit", "penumbra", "sunlit", "umbra"][:n_sats],
                 "busy_gpus": [8, 0, 4, 0, 8, 2][:n_sats]},
        "links": [[0, 1], [2, 3], [3, 4], [4, 2]]}))
    return path


def write_empty_run(path, policy="idle"):
    """A folder whose tables have the schema but no rows (and no per-satellite samples)."""
    path.mkdir(parents=True, exist_ok=True)
    s = _summary(policy, utilisation=0.0, utilisation_sunlit=0.0, utilisation_penumbra=0.0,
                 utilisation_umbra=0.0, eclipse_fraction=0.0)
    (path / "summary.json").write_text(json.dumps(s))
    ts = pd.DataFrame({c: pd.Series([], dtype="int32" if c == "sat" else "float64")
                       for c in TS_COLUMNS})
    ts.to_parquet(path / "timeseries.parquet", index=False)
    _events([]).to_parquet(path / "events.parquet", index=False)
    _jobs([]).to_parquet(path / "jobs.parquet", index=False)
    (path / "snapshot.json").write_text(json.dumps({
        "t_s": 0.0, "utc": "2025-06-21T00:00:00Z", "subsolar_lat_deg": 23.44,
        "subsolar_lon_deg": 180.0, "sats": {"lat_deg": [], "lon_deg": [], "state": [],
                                            "busy_gpus": []}, "links": []}))
    return path


def _check_files(paths, names, out_dir, formats=("png", "pdf")):
    expected = {out_dir / f"{n}.{f}" for n in names for f in formats + ("csv",)}
    assert set(paths) == expected
    for p in paths:
        data = p.read_bytes()
        if p.suffix == ".csv":                 # the data behind the figure, with a header
            frame = pd.read_csv(p)
            assert len(frame.columns) >= 2, p
        elif p.suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            assert len(data) > 10_000, p
        else:
            assert data[:5] == b"%PDF-"
            assert len(data) > 1_000, p


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    return {"full": write_run(root / "full"),
            "fleet_only": write_run(root / "fleet_only", policy="fifo", seed=2,
                                    per_satellite=False),
            "empty": write_empty_run(root / "empty")}


@pytest.mark.parametrize("which", ["full", "empty"])
def test_plot_run_writes_valid_files(runs, which):
    paths = plots.plot_run(runs[which])
    _check_files(paths, RUN_FIGURES, runs[which] / "plots")


def test_soc_histogram_uses_fleet_rows_without_per_satellite_rows(runs):
    soc, which = plots.RunFiles(runs["fleet_only"]).soc_samples()
    assert which.startswith("fleet") and soc.size == 180  # 3 h of 60 s fleet samples
    soc, which = plots.RunFiles(runs["full"]).soc_samples()
    assert which.startswith("per-satellite") and soc.size == 6 * 180


def test_plot_run_missing_tables_and_out_dir(tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"policy": "p", "duration_h": 1.0}))
    out = tmp_path / "figs"
    paths = plots.plot_run(run, out_dir=out, formats=("png",))
    _check_files(paths, RUN_FIGURES, out, formats=("png",))


def test_plot_run_bad_input(tmp_path):
    with pytest.raises(DataFileError, match="summary.json"):
        plots.plot_run(tmp_path)
    with pytest.raises(OrbschedError, match="valid formats: png, pdf, svg"):
        plots.plot_run(tmp_path, formats=("jpg",))


def test_plot_compare(runs, tmp_path):
    dirs = [runs["full"], runs["fleet_only"], runs["empty"]]
    paths = plots.plot_compare(dirs, tmp_path / "cmp")
    _check_files(paths, COMPARE_FIGURES, tmp_path / "cmp")
    with pytest.raises(OrbschedError):
        plots.plot_compare([], tmp_path / "none")


def test_utilisation_by_state_falls_back_to_timeseries(runs, tmp_path):
    run = plots.RunFiles(runs["full"])
    run.summary = {k: v for k, v in run.summary.items() if not k.startswith("utilisation")}
    u = run.utilisation_by_state()
    assert u["total"] == pytest.approx(u["sunlit"] + u["penumbra"] + u["umbra"], rel=1e-12)
    assert u["total"] == pytest.approx(run.fleet["util"].mean(), rel=1e-12)  # equal intervals


def test_job_segments_replay_events(runs):
    run = plots.RunFiles(runs["full"])
    job = run.jobs.set_index("job_id").loc[1].copy()
    job["job_id"] = 1
    ev = run.events[run.events["job_id"] == 1]
    segs = plots.job_segments(job, ev, run.t_end_s)
    assert [(s[0], s[1], s[2], s[3]) for s in segs] == [
        ("queued", 0.0, 60.0, -1), ("running", 60.0, 1200.0, 0),
        ("migrating", 1200.0, 1215.0, 0), ("running", 1215.0, 3000.0, 3),
        ("migrating", 3000.0, 3020.0, 3), ("queued", 3020.0, 3100.0, -1),
        ("running", 3100.0, 5000.0, 3),
        ("queued", 5000.0, 5600.0, -1), ("running", 5600.0, 9000.0, 5)]
    # a job with no events is drawn from the jobs table; open segments end at t_end
    job = run.jobs.set_index("job_id").loc[4]
    segs = plots.job_segments(job, ev.iloc[:0], 10800.0)
    assert segs == [("queued", 600.0, 800.0, -1), ("running", 800.0, 10800.0, 4)]


def test_timeline_selection_is_deterministic(runs):
    jobs = plots.RunFiles(runs["full"]).jobs
    ids = plots.select_timeline_jobs(jobs)
    assert ids[0] == 1  # the only job that migrated comes first
    assert len(ids) == plots.MAX_TIMELINE_JOBS
    assert ids == plots.select_timeline_jobs(jobs.sample(frac=1.0, random_state=3))
    started = set(jobs.loc[jobs["first_start_s"].notna(), "job_id"])
    n_started = sum(1 for j in ids if j in started)
    assert all(j in started for j in ids[:n_started])  # started jobs before never-started ones


def _angle_deg(lat1, lon1, lat2, lon2):
    """Great-circle angle by atan2 of |cross| and dot (accurate near 0, 90 and 180 deg)."""
    def vec(lat, lon):
        lat, lon = np.radians(lat), np.radians(lon)
        return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)],
                        axis=-1)
    a, b = vec(lat1, lon1), vec(lat2, lon2)
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), (a * b).sum(-1)))


@pytest.mark.parametrize("lat_s, lon_s", [(0.0, 0.0), (23.44, -75.0), (-23.44, 179.9),
                                          (7.5, 123.4), (-0.001, -180.0), (89.0, 45.0)])
def test_terminator_is_90_deg_from_subsolar_point(lat_s, lon_s):
    lat, lon = plot_base.terminator_latlon(lat_s, lon_s, n=361)
    assert lat.shape == lon.shape == (361,)
    assert np.all(np.abs(lon) <= 180.0) and np.all(np.abs(lat) <= 90.0)
    err = np.abs(_angle_deg(lat, lon, lat_s, lon_s) - 90.0)
    assert err.max() < 1e-9
    # a closed curve; its highest point is at 90 - |subsolar lat|
    assert lat[0] == pytest.approx(lat[-1], abs=1e-12)
    assert lat.max() == pytest.approx(90.0 - abs(lat_s), abs=1e-9)


def test_terminator_at_equinox_runs_through_the_poles():
    lon_s = 30.0
    lat, lon = plot_base.terminator_latlon(0.0, lon_s, n=361)
    assert lat.max() == pytest.approx(90.0, abs=1e-9)
    assert lat.min() == pytest.approx(-90.0, abs=1e-9)
    off_pole = np.abs(lat) < 90.0 - 1e-6
    d = np.abs((lon[off_pole] - lon_s + 180.0) % 360.0 - 180.0)  # |lon - lon_s| in [0, 180]
    assert np.abs(d - 90.0).max() < 1e-9
    assert {round(x, 9) for x in lon[off_pole]} == {120.0, -60.0}


def test_split_at_antimeridian():
    pieces = plot_base.split_at_antimeridian([170.0, -170.0], [0.0, 10.0])
    assert len(pieces) == 2
    (lo1, la1), (lo2, la2) = pieces
    assert lo1.tolist() == [170.0, 180.0] and lo2.tolist() == [-180.0, -170.0]
    assert la1[-1] == pytest.approx(5.0) and la2[0] == pytest.approx(5.0)
    pieces = plot_base.split_at_antimeridian([-10.0, 10.0, 30.0], [0.0, 1.0, 2.0])
    assert len(pieces) == 1 and pieces[0][0].tolist() == [-10.0, 10.0, 30.0]
    # the terminator splits into pieces that each stay on the map and together cover it
    lat, lon = plot_base.terminator_latlon(20.0, 100.0, n=721)
    pieces = plot_base.split_at_antimeridian(lon, lat)
    assert len(pieces) == 2
    for lo, _ in pieces:
        assert np.all(np.abs(np.diff(lo)) < 180.0)


def test_terminator_pieces_at_equinox_are_meridians():
    pieces = plot_base.terminator_pieces(0.0, -45.0)
    assert len(pieces) == 2
    for lo, la in pieces:
        assert np.ptp(lo) < 1e-9 and abs(abs(lo[0] + 45.0) - 90.0) < 1e-9
        assert sorted([la[0], la[-1]]) == pytest.approx([-90.0, 90.0], abs=1e-9)


def test_compare_labels_tell_repeated_policies_apart(tmp_path):
    def run(name, policy, seed, scenario="s"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(
            json.dumps({"policy": policy, "seed": seed, "scenario": scenario}))
        return plots.RunFiles(tmp_path / name)

    a, b, c = run("a", "greedy", 1), run("b", "greedy", 2), run("c", "fifo", 1)
    assert plots.run_labels([a, b, c]) == ["greedy\nseed 1", "greedy\nseed 2", "fifo"]
    d = run("d", "greedy", 1, scenario="other")
    assert plots.run_labels([a, b, d]) == ["greedy\na", "greedy\nb", "greedy\nd"]
    assert plots.run_labels([a, d]) == ["greedy\ns", "greedy\nother"]
