"""Honest comparisons (issue 17): per-seed paired differences against a baseline, steady-state
metrics from the tables, labels by Policy.name, common random numbers, --until-ci."""
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from orbsched.analysis.compare import compare
from orbsched.analysis.paired import (
    COMMON_STREAMS,
    NOT_COMMON,
    STEADY_METRICS,
    paired_table,
    paired_text,
    seeds_to_halve,
    steady_summary,
)
from orbsched.scenario.errors import OrbschedError, RegistryError
from orbsched.sweep import load_sweep, run_sweep
from orbsched.sweep.adaptive import parse_target, run_until_ci, seeds_for_halfwidth

POLICY = """\
from orbsched.policies import GreedySunlit


class Eager(GreedySunlit):
    name = "eager"
"""


def _frame(rng, n=8, shift=3.0, spread=50.0, noise=1.0):
    """Two policies on n seeds sharing a large per-seed effect: pairs cancel it."""
    rows = []
    common = rng.normal(0.0, spread, n)
    for pol, extra in (("a.py:Base", 0.0), ("b.py:Other", shift)):
        for s in range(n):
            rows.append({"run_id": f"{pol}{s}", "status": "done", "policy": pol,
                         "summary.policy": pol.split(":")[1].lower(), "seed": s,
                         "m": 100 + common[s] + extra + rng.normal(0, noise)})
    return pd.DataFrame(rows)


def test_paired_interval_against_scipy_and_labels_by_policy_name():
    frame = _frame(np.random.default_rng(3))
    t = paired_table(frame, ["policy"], "base", ["m"])
    assert list(t["policy"]) == ["other"] and list(t["baseline"]) == ["base"]
    r = t.iloc[0]
    x = frame[frame.policy == "b.py:Other"]["m"].to_numpy()
    y = frame[frame.policy == "a.py:Base"]["m"].to_numpy()
    ci = stats.ttest_rel(x, y).confidence_interval(0.95)
    assert (r.diff_low, r.diff_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    welch = stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
    assert r.unpaired_halfwidth == pytest.approx((welch.high - welch.low) / 2, rel=1e-9)
    assert r.narrowing > 10 and r.n_pairs == 8
    # the baseline may also be named by the swept value
    same = paired_table(frame, ["policy"], "a.py:Base", ["m"])
    assert same.iloc[0]["diff_mean"] == r.diff_mean
    with pytest.raises(RegistryError, match="policies: base, other"):
        paired_table(frame, ["policy"], "nosuch", ["m"])


def test_a_weak_narrowing_is_explained_by_the_correlation():
    """Shared spread (r near 1) narrows the interval and needs no note; spread each policy
    adds alone (r near 0) does not narrow it, and the text gives r as the reason."""
    strong = paired_table(_frame(np.random.default_rng(3)), ["policy"], "base", ["m"])
    r = strong.iloc[0]
    frame = _frame(np.random.default_rng(3))
    x = frame[frame.policy == "b.py:Other"]["m"].to_numpy()
    y = frame[frame.policy == "a.py:Base"]["m"].to_numpy()
    assert r.correlation == pytest.approx(stats.pearsonr(x, y)[0], rel=1e-12)
    assert r.correlation > 0.99 and "correlate" not in paired_text(strong)
    weak = paired_table(_frame(np.random.default_rng(3), spread=0.0, noise=20.0), ["policy"],
                        "base", ["m"])
    w = weak.iloc[0]
    assert w.narrowing < 3 and abs(w.correlation) < 0.9
    assert f"correlate at r = {w.correlation:.2f}" in paired_text(weak)


def test_pairs_are_matched_by_seed_and_unmatched_runs_left_out():
    frame = _frame(np.random.default_rng(5))
    frame = frame[~((frame.policy == "a.py:Base") & (frame.seed == 0))]     # one pair broken
    frame.loc[(frame.policy == "b.py:Other") & (frame.seed == 1), "status"] = "failed"
    r = paired_table(frame, ["policy"], "base", ["m"]).iloc[0]
    assert r.n_pairs == 6


def test_bootstrap_interval_is_seeded_and_near_the_t_interval():
    frame = _frame(np.random.default_rng(7), n=30, noise=2.0)
    a = paired_table(frame, ["policy"], "base", ["m"], method="bootstrap").iloc[0]
    b = paired_table(frame, ["policy"], "base", ["m"], method="bootstrap").iloc[0]
    t = paired_table(frame, ["policy"], "base", ["m"], method="t").iloc[0]
    assert (a.diff_low, a.diff_high) == (b.diff_low, b.diff_high)
    assert a.diff_halfwidth == pytest.approx(t.diff_halfwidth, rel=0.15)


def test_seeds_to_halve_follows_the_t_formula():
    for n in (2, 3, 5, 10, 40):
        m = seeds_to_halve(n)
        width = lambda k: stats.t.ppf(0.975, k - 1) / math.sqrt(k)     # noqa: E731
        assert width(m) <= width(n) / 2 < width(m - 1)
    assert seeds_to_halve(1) == 0
    assert 4 * 10 > seeds_to_halve(10) > 3 * 10
    assert seeds_for_halfwidth(10, 20.0, 10.0, cap=1000) == seeds_to_halve(10)
    assert seeds_for_halfwidth(10, 5.0, 10.0) == 10


def test_parse_target():
    assert parse_target("completed_gpu_h_per_day=20") == ("completed_gpu_h_per_day", 20.0)
    for bad in ("x", "x=0", "=3", "x=nan", "x=-1"):
        with pytest.raises(OrbschedError, match="METRIC=HALFWIDTH"):
            parse_target(bad)


def test_the_common_streams_are_the_run_s_streams():
    from orbsched.preflight import STREAMS

    assert set(COMMON_STREAMS) | set(NOT_COMMON) == set(STREAMS)


# ------------------------------------------------------------------------- on real runs
@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """The demo, 3 h with 150 jobs: greedy-sunlit, a user policy (a file path) and lookahead x 4
    seeds."""
    from conftest import REPO

    root = tmp_path_factory.mktemp("paired")
    (root / "pols").mkdir()
    (root / "pols" / "eager.py").write_text(POLICY)
    doc = {"name": "paired", "base": str(REPO / "configs" / "demo.yaml"),
           "set": {"duration_h": 3, "workload.n_jobs": 150},
           "grid": {"policy": ["greedy-sunlit", "pols/eager.py:Eager", "lookahead"]},
           "replications": 4}
    (root / "s.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    res = run_sweep(root / "s.yaml", root / "out", workers=1)
    assert res["done"] == 12
    return root


def test_common_random_numbers_across_policies(sweep_dir):
    """For one seed, every policy sees the same jobs and the same radiation upsets."""
    frame = pd.read_parquet(sweep_dir / "out" / "sweep.parquet")
    runs = frame[frame.seed == frame.seed.min()]
    jobs = [pd.read_parquet(sweep_dir / "out" / "runs" / r / "jobs.parquet")
            for r in runs["run_id"]]
    cols = ["job_id", "gpus", "work_gpu_h", "arrival_s"]
    for j in jobs[1:]:
        pd.testing.assert_frame_equal(j[cols], jobs[0][cols])
    upsets = []
    for r in runs["run_id"]:
        ev = pd.read_parquet(sweep_dir / "out" / "runs" / r / "events.parquet")
        ev = ev[ev["kind"].astype(str).isin(["sdc", "hbm_ue", "crash", "host_reboot"])]
        upsets.append(ev[["t_s", "sat"]].reset_index(drop=True))
    assert len(upsets[0]) > 0
    for u in upsets[1:]:
        pd.testing.assert_frame_equal(u, upsets[0])
    other = frame[frame.seed == frame.seed.max()]["run_id"].iloc[0]
    assert not pd.read_parquet(sweep_dir / "out" / "runs" / other / "jobs.parquet")[
        cols].equals(jobs[0][cols])


def test_steady_summary_against_a_direct_computation(sweep_dir):
    frame = pd.read_parquet(sweep_dir / "out" / "sweep.parquet")
    folder = sweep_dir / "out" / "runs" / frame["run_id"].iloc[0]
    m = steady_summary(folder, 0.5)
    assert set(STEADY_METRICS) <= set(m) and m["window_start_h"] == 0.5
    ts = pd.read_parquet(folder / "timeseries.parquet")
    f = ts[ts.sat == -1].sort_values("t_s")
    t = f["t_s"].to_numpy()
    keep = np.concatenate([[0.0], t[:-1]]) >= 1800.0
    dt = np.diff(np.concatenate([[0.0], t]))[keep]
    assert m["utilisation"] == pytest.approx((f["util"].to_numpy()[keep] * dt).sum()
                                             / dt.sum(), rel=1e-12)
    assert m["energy_kwh.curtailed"] == pytest.approx(
        (f["curtailed_w"].to_numpy()[keep] * dt).sum() / 3.6e6, rel=1e-12)
    jobs = pd.read_parquet(folder / "jobs.parquet")
    done = jobs[(jobs.status == "completed") & (jobs.end_s >= 1800.0)]
    assert m["jobs.completed"] == len(done) > 0
    assert m["completed_gpu_h_per_day"] == pytest.approx(
        done.work_gpu_h.sum() * 86400.0 / (10800.0 - 1800.0), rel=1e-12)
    assert m["job_completion_s.mean"] == pytest.approx(done.completion_s.mean())
    ev = pd.read_parquet(folder / "events.parquet")
    assert m["migrations.started"] == ((ev.kind.astype(str) == "migration_start")
                                       & (ev.t_s >= 1800.0)).sum()
    with pytest.raises(OrbschedError, match="warmup_h"):
        steady_summary(folder, 3.0)


def test_compare_command_pairs_by_seed_and_labels_by_name(sweep_dir, capsys):
    from orbsched.cli import main

    out = sweep_dir / "out"
    assert main(["compare", str(out), "--baseline", "greedy-sunlit", "--warmup-h", "0.5",
                 "--metric", "completed_gpu_h_per_day", "utilisation"]) == 0
    text = capsys.readouterr().out
    assert "completed_gpu_h_per_day: policy - greedy-sunlit (per-seed pairs, 95% Student t)" \
        in text
    assert "  eager: " in text and "  lookahead: " in text and "pols/eager.py" not in text
    assert "seeds would halve it" in text and "common random numbers: workload, faults" in text
    table = pd.read_csv(out / "compare" / "paired__greedy_sunlit.csv")
    assert set(table["policy"]) == {"eager", "lookahead"} and (table["n_pairs"] == 4).all()
    assert (table["window_start_h"] == 0.5).all()
    # eager is greedy-sunlit under another name: the same runs, a zero difference
    eager = table[table.policy == "eager"]
    assert (eager["diff_mean"] == 0).all() and (eager["diff_halfwidth"] == 0).all()
    for ext in ("png", "pdf"):
        assert (out / "compare" / f"paired__greedy_sunlit.{ext}").stat().st_size > 1000
    unpaired = pd.read_csv(out / "compare" / "table.csv")
    assert list(unpaired["policy"]) == ["greedy-sunlit", "eager", "lookahead"]
    assert main(["compare", str(out), "--warmup-h", "1", "--metric", "energy_kwh.losses"]) == 2
    assert "no steady-state version" in capsys.readouterr().err


def test_pairing_narrows_the_completed_gpu_hours_interval(sweep_dir):
    res = compare(sweep_dir / "out", ["completed_gpu_h_per_day"], baseline="greedy-sunlit",
                  warmup_h=0.5, formats=("png",), out_dir=sweep_dir / "cmp")
    row = res["paired"].set_index("policy").loc["lookahead"]
    assert row["narrowing"] >= 3.0, row


def test_until_ci_adds_seeds_up_to_the_target_or_the_cap(tmp_path, repo):
    doc = {"name": "adaptive", "base": str(repo / "configs" / "demo.yaml"),
           "set": {"duration_h": 0.5, "workload.n_jobs": 30},
           "grid": {"policy": ["greedy-sunlit", "stay"]}, "replications": 2}
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    lines = []
    res = run_until_ci(path, tmp_path / "out", "utilisation=1e-9", max_seeds=4, workers=1,
                       log=lines.append)
    assert res["seeds"] == [1, 2, 3, 4] and not res["met"]
    assert "stopped at the cap of 4 seeds" in "\n".join(lines)
    frame = pd.read_parquet(tmp_path / "out" / "sweep.parquet")
    assert len(frame) == 8 and sorted(set(frame.seed)) == [1, 2, 3, 4]
    lines.clear()
    res = run_until_ci(path, tmp_path / "out", "utilisation=0.5", max_seeds=4, workers=1,
                       log=lines.append)
    assert res["met"] and res["seeds"] == [1, 2]
    assert "already complete" in "\n".join(lines)
    with pytest.raises(OrbschedError, match="sweep a policy"):
        doc2 = dict(doc, grid={"hardware.gpus": [2, 4]})
        path.write_text(yaml.safe_dump(doc2, sort_keys=False))
        run_until_ci(load_sweep(path), tmp_path / "out2", "utilisation=0.1", workers=1)
