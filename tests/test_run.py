"""End to end: `orbsched run` on the demo, every built-in policy, reproducibility, results
files, user policies and the registry's errors."""
import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from engine_helpers import check_invariants

from orbsched.policies import available, load_policy
from orbsched.results.folder import RESULT_FILES, load_results
from orbsched.run import simulate
from orbsched.scenario.errors import DataFileError, PolicyError, RegistryError
from orbsched.scenario.schema import load_scenario

SHORT = ["duration_h=3", "workload.n_jobs=120", "workload.rate_per_h=60"]
BUILTINS = ["stay", "greedy-sunlit", "lookahead", "energy-aware", "fifo-ground", "random"]


@pytest.fixture
def demo(repo):
    return repo / "configs" / "demo.yaml"


def test_registry_lists_builtins():
    assert set(BUILTINS) <= set(available())   # (notebooks may have registered more)


@pytest.mark.parametrize("policy", BUILTINS)
def test_every_builtin_policy_runs_and_keeps_the_invariants(demo, policy):
    sc = load_scenario(demo, SHORT + [f"policy={policy}"])
    res = simulate(sc)
    check_invariants(res.engine)
    s = res.summary()
    assert s["policy"] == policy
    assert s["jobs"]["arrived"] == 120
    assert abs(s["energy_kwh"]["balance_residual"]) < 1e-9 * s["energy_kwh"]["harvested"]
    u = s["utilisation"]
    assert u == pytest.approx(s["utilisation_sunlit"] + s["utilisation_penumbra"]
                              + s["utilisation_umbra"], abs=3e-6)  # rounded to 6 places
    if policy in ("stay", "fifo-ground"):
        assert s["migrations"]["started"] == 0


def test_following_the_sun_beats_staying_on_the_demo(demo):
    over = ["duration_h=12", "workload.n_jobs=400", "workload.rate_per_h=60"]
    done = {p: simulate(load_scenario(demo, over + [f"policy={p}"])).summary()
            for p in ("stay", "greedy-sunlit", "lookahead")}
    stay = done["stay"]["completed_gpu_h_per_day"]
    assert done["greedy-sunlit"]["completed_gpu_h_per_day"] > stay
    assert done["lookahead"]["completed_gpu_h_per_day"] > stay
    assert done["stay"]["brownout_jobs"] > 0
    assert done["greedy-sunlit"]["utilisation_umbra"] < done["stay"]["utilisation_umbra"]


def test_same_seed_same_files_other_seed_other_jobs(demo, tmp_path):
    sc = load_scenario(demo, SHORT)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(sc).write(a)
    simulate(sc).write(b)
    simulate(sc, seed=7).write(c)
    for name in RESULT_FILES:
        if name == "manifest.json":
            continue  # wall-clock timings: the one file allowed to differ
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ja, jc = pd.read_parquet(a / "jobs.parquet"), pd.read_parquet(c / "jobs.parquet")
    assert not ja["arrival_s"].equals(jc["arrival_s"])
    assert json.loads((c / "summary.json").read_text())["seed"] == 7


def test_results_folder_contents(demo, tmp_path):
    res = simulate(load_scenario(demo, SHORT))
    res.write(tmp_path)
    r = load_results(tmp_path)
    ts, jobs, ev = r["timeseries"], r["jobs"], r["events"]
    fleet = ts[ts["sat"] == -1]
    assert len(fleet) == 3 * 3600 // 300
    assert set(ts["sat"].unique()) == set(range(-1, 96))
    assert (fleet["util"] - fleet[["util_sunlit", "util_penumbra", "util_umbra"]].sum(axis=1)
            ).abs().max() < 1e-12
    # time-series energy equals the buses' ledgers
    e = r["summary"]["energy_kwh"]
    assert (fleet["harvested_w"] * 300).sum() / 3.6e6 == pytest.approx(e["harvested"], abs=1e-5)
    assert (fleet["used_w"] * 300).sum() / 3.6e6 == pytest.approx(e["used"], abs=1e-5)
    assert set(jobs["status"]) <= {"completed", "failed", "queued", "running", "migrating"}
    assert {"eclipse_entry", "eclipse_exit", "umbra_entry", "job_arrival",
            "job_start"} <= set(ev["kind"].astype(str))
    snap = r["snapshot"]
    assert len(snap["sats"]["lat_deg"]) == 96 and -90 <= snap["subsolar_lat_deg"] <= 90
    # the summer solstice subsolar point is near 23.44 deg N
    assert snap["subsolar_lat_deg"] == pytest.approx(23.44, abs=0.05)


def test_interrupted_write_leaves_the_previous_folder_as_it_was(demo, tmp_path, monkeypatch):
    """A results folder is written in a private temporary folder and swapped in whole
    (orbsched.results.writing): an interrupted write leaves the earlier complete folder
    untouched and no temporary behind."""
    out = tmp_path / "out"
    res = simulate(load_scenario(demo, SHORT))
    res.write(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    def boom():
        raise KeyboardInterrupt      # interrupted while computing the summary, written last
    monkeypatch.setattr(res, "summary", boom)
    with pytest.raises(KeyboardInterrupt):
        res.write(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert not list(out.glob(".*"))
    (out / "summary.json").unlink()
    with pytest.raises(DataFileError, match="no summary.json"):
        load_results(out)


def test_cli_run_and_plot(demo, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "orbsched.cli", "run", str(demo), "--out", str(out),
           "--quiet", "--plot", "--set", "duration_h=2", "--set", "workload.n_jobs=40"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "utilisation" in done.stdout and "policy greedy-sunlit" in done.stdout
    for name in RESULT_FILES:
        assert (out / name).is_file()
    assert len(list((out / "plots").glob("*.png"))) == 9      # orbsched.analysis.figures.draw_run
    cmd = [sys.executable, "-m", "orbsched.cli", "plot", str(out), str(out), "--out",
           str(tmp_path / "cmp")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cmp" / "compare_utilisation_by_state.png").is_file()


def test_unknown_policy_lists_the_registered_ones():
    with pytest.raises(RegistryError, match="did you mean 'greedy-sunlit'.*lookahead"):
        load_policy("greedy-sunlt")


def test_user_policy_from_a_file_and_a_module(tmp_path, demo, monkeypatch):
    (tmp_path / "mypol.py").write_text(textwrap.dedent('''
        from orbsched.policies import Policy

        class Last(Policy):
            """Place new jobs on the highest-numbered host."""
            name = "last"

            def place(self, job, view):
                hosts = view.hosts(job.gpus)
                return int(hosts[-1]) if len(hosts) else None
    '''))
    pol = load_policy("mypol.py:Last", base_dir=tmp_path)
    res = simulate(load_scenario(demo, SHORT), policy=pol)
    check_invariants(res.engine)
    started = res.engine.rec.jobs_frame()
    assert started["sat"].max() == 95
    monkeypatch.syspath_prepend(str(tmp_path))
    assert type(load_policy("mypol:Last")).__name__ == "Last"
    with pytest.raises(PolicyError, match="has no class 'Lst'; policies there: Last"):
        load_policy("mypol:Lst")
    with pytest.raises(PolicyError, match="cannot import 'nosuchmodule'"):
        load_policy("nosuchmodule:X")
    with pytest.raises(PolicyError, match="bad options"):
        load_policy(type("S", (), {"name": "stay", "options": {"x": 1}})())


@pytest.mark.shared_data
def test_openb_trace_replay_runs_end_to_end_with_plots(repo, tmp_path):
    from conftest import shared_file

    shared_file("traces/alibaba_openb_pod_list_default.csv")
    out = tmp_path / "openb"
    cmd = [sys.executable, "-m", "orbsched.cli", "run", str(repo / "configs" / "openb-replay.yaml"),
           "--out", str(out), "--quiet", "--plot"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    r = load_results(out)
    jobs = r["jobs"]
    # four days of the trace's main activity: 724 pods with 1-4 GPUs, 3,357.4 GPU-hours
    assert len(jobs) == 724 and jobs["gpus"].between(1, 4).all()
    assert jobs["work_gpu_h"].sum() == pytest.approx(3357.4, abs=0.05)
    assert jobs["arrival_s"].max() < 24 * 3600
    assert r["summary"]["jobs"]["failed"] == 0
    assert len(list((out / "plots").glob("*.png"))) == 9      # orbsched.analysis.figures.draw_run
