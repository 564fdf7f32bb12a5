"""Sweeps: expansion and its errors, identical results on 1 and 2 local processes and on a Dask
LocalCluster, resuming after an interruption, failed and dying runs, and `orbsched compare`.

Runs are tiny (the demo for half an hour with 30 jobs, about 0.3 s each); most of the time
goes into starting worker processes.
"""
import argparse
import json
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
import yaml
from conftest import REPO

from orbsched.scenario.errors import ScenarioError
from orbsched.sweep import collect, load_sweep
from orbsched.sweep.commands import add_commands
from orbsched.sweep.execute import geometry_groups, run_sweep

TINY = {"duration_h": 0.5, "workload.n_jobs": 30}


def write_sweep(tmp_path, body, name="sweep.yaml", repo=None):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).format(demo=(repo / "configs" / "demo.yaml")
                                                 if repo else "demo.yaml"))
    return path


def small_sweep(tmp_path, repo, name="small.yaml", policies=("stay", "greedy-sunlit")):
    doc = {"name": "small", "base": str(repo / "configs" / "demo.yaml"), "set": TINY,
           "grid": {"policy": list(policies)}, "replications": 2}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cli(*argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    add_commands(sub)
    args = p.parse_args([str(a) for a in argv])
    return args.handler(args)


def frame_without_wall_time(out):
    return pd.read_parquet(out / "sweep.parquet").drop(columns=["wall_s"])


# ------------------------------------------------------------------------------ expansion
def test_grid_zip_replications_counts_and_stable_ids(tmp_path, repo):
    path = write_sweep(tmp_path, """\
        base: {demo}
        set: {{duration_h: 0.5}}
        grid:
          policy: [stay, greedy-sunlit]
          hardware.battery.capacity_wh: [2000, 3000, 4000]
        zip:
          - workload.n_jobs: [20, 40]
            workload.rate_per_h: [30, 60]
        replications: 2
        """, repo=repo)
    sweep = load_sweep(path)
    assert len(sweep.runs) == 2 * 3 * 2 * 2
    assert sweep.parameters == ["policy", "hardware.battery.capacity_wh", "workload.n_jobs",
                                "workload.rate_per_h"]
    ids = [r.id for r in sweep.runs]
    assert len(set(ids)) == len(ids)
    assert ids == [r.id for r in load_sweep(path).runs]              # stable
    assert {r.seed for r in sweep.runs} == {1, 2}                    # demo.yaml: seed 1
    zipped = {(r.params["workload.n_jobs"], r.params["workload.rate_per_h"]) for r in sweep.runs}
    assert zipped == {(20, 30), (40, 60)}
    first = sweep.runs[0]
    assert first.overrides == ["duration_h=0.5", "policy=stay",
                               "hardware.battery.capacity_wh=2000", "workload.n_jobs=20",
                               "workload.rate_per_h=30"]
    assert first.scenario.hardware.battery.capacity_wh == 2000
    assert first.scenario.workload.n_jobs == 20
    # one geometry: nothing swept touches the orbits, the span or the network
    assert len(geometry_groups(sweep)) == 1


def test_random_axes_and_explicit_seeds(tmp_path, repo):
    body = """\
        base: {demo}
        random:
          n: 5
          seed: 3
          fields:
            hardware.solar.area_m2: {{uniform: [12, 20]}}
            hardware.gpus: {{int: [2, 4]}}
            policy: {{choice: [stay, lookahead]}}
        seeds: [7, 11]
        """
    sweep = load_sweep(write_sweep(tmp_path, body, repo=repo))
    assert len(sweep.runs) == 10 and {r.seed for r in sweep.runs} == {7, 11}
    area = [r.params["hardware.solar.area_m2"] for r in sweep.runs]
    assert all(12 <= a <= 20 for a in area) and len(set(area)) == 5
    assert {r.params["hardware.gpus"] for r in sweep.runs} <= {2, 3, 4}
    assert {r.params["policy"] for r in sweep.runs} <= {"stay", "lookahead"}
    # a field's draws do not depend on the other fields
    fewer = load_sweep(write_sweep(tmp_path, body.replace(
        "            hardware.gpus: {{int: [2, 4]}}\n", ""), "fewer.yaml", repo))
    assert [r.params["hardware.solar.area_m2"] for r in fewer.runs] == area
    # a point drawn twice runs once
    only_choice = load_sweep(write_sweep(tmp_path, """\
        base: {demo}
        random: {{n: 6, fields: {{policy: {{choice: [stay, lookahead]}}}}}}
        """, "choice.yaml", repo))
    assert sorted(r.params["policy"] for r in only_choice.runs) == ["lookahead", "stay"]
    assert "2 random (distinct of 6 drawn)" in only_choice.shape


def test_geometry_changes_split_the_sweep(tmp_path, repo):
    path = write_sweep(tmp_path, """\
        base: {demo}
        set: {{duration_h: 0.5}}
        grid:
          constellations[0].planes: [6, 8]
          policy: [stay, lookahead]
        """, repo=repo)
    groups = geometry_groups(load_sweep(path))
    assert sorted(len(v) for v in groups.values()) == [2, 2]


def test_shipped_sweep_demo_expands(repo):
    sweep = load_sweep(repo / "configs" / "sweep-demo.yaml")
    assert len(sweep.runs) == 12 and sweep.seeds == [1, 2]
    assert sweep.parameters == ["policy", "hardware.battery.capacity_wh"]
    assert len(geometry_groups(sweep)) == 1


@pytest.mark.parametrize("body, expected", [
    ("base: {demo}\ngird: {{policy: [stay]}}\n",
     ["sweep.yaml", "line 2", "unknown key 'gird'", "did you mean 'grid'"]),
    ("base: {demo}\nrandom: {{n: 2, fields: {{hardware.gpus: {{normal: [1, 2]}}}}}}\n",
     ["line 2", "unknown key 'normal'", "valid keys: choice, int, loguniform, uniform"]),
    ("base: {demo}\ngrid:\n  hardware.batery.capacity_wh: [2000]\n",
     ["hardware.batery", "unknown key 'batery'", "did you mean 'battery'",
      "'hardware.batery.capacity_wh', line 3"]),
    ("base: {demo}\ngrid:\n  constellations[2].planes: [6]\n",
     ["constellations[2].planes", "index [2] does not exist"]),
    ("base: {demo}\ngrid:\n  constellations[0].planes: [8, 0]\n",
     ["run 1", "constellations[0].planes=0", "greater than or equal to 1"]),
    ("base: {demo}\ngrid:\n  hardware..gpus: [2]\n", ["line 3", "is not a field path"]),
    ("base: {demo}\nzip:\n  - {{hardware.gpus: [2, 4], policy: [stay]}}\n",
     ["zip[0]", "equal length"]),
    ("base: {demo}\nset: {{policy: stay}}\ngrid: {{policy: [lookahead]}}\n",
     ["'policy' is given twice"]),
    ("grid: {{policy: [stay]}}\n", ["exactly one of base"]),
    ("base: {demo}\ngrid: {{policy: [stay, greedy-sunlt]}}\n",
     ["unknown policy 'greedy-sunlt'", "did you mean 'greedy-sunlit'"]),
    ("base: nosuchfile.yaml\n", ["nosuchfile.yaml", "cannot read base scenario"]),
])
def test_bad_sweep_files_name_the_problem(tmp_path, repo, body, expected):
    path = write_sweep(tmp_path, body, repo=repo)
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    for text in expected:
        assert text in str(err.value), str(err.value)
    assert cli("sweep", path, "--out", tmp_path / "out") == 2
    assert not (tmp_path / "out").exists()                  # checked before anything runs


def test_dry_run_counts_runs_and_geometries(tmp_path, repo, capsys):
    path = small_sweep(tmp_path, repo)
    assert cli("sweep", path, "--out", tmp_path / "out", "--dry-run") == 0
    text = capsys.readouterr().out
    assert "4 runs (2 policy x 2 seeds), 1 distinct geometry" in text
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ execution
@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep1")
    path = small_sweep(tmp, REPO)
    outcome = run_sweep(path, tmp / "out", workers=1)
    return path, tmp / "out", outcome


def test_local_sweep_writes_runs_parquet_and_listing(one_worker):
    path, out, outcome = one_worker
    assert (outcome["runs"], outcome["done"], outcome["failed"]) == (4, 4, 0)
    assert outcome["geometries"] == 1 and outcome["plans_computed"] == 1
    frame = pd.read_parquet(out / "sweep.parquet")
    assert list(frame["status"]) == ["done"] * 4
    assert list(frame["policy"]) == ["stay", "stay", "greedy-sunlit", "greedy-sunlit"]
    assert list(frame["seed"]) == [1, 2, 1, 2]
    for col in ("jobs.completed", "migrations.started", "energy_kwh.curtailed", "utilisation",
                "summary.policy"):
        assert col in frame
    assert not any(c.startswith("versions") for c in frame.columns)
    assert (frame["jobs.arrived"] + frame["jobs.not_arrived"] == 30).all()
    listing = yaml.safe_load((out / "sweep.yaml").read_text())
    assert [r["id"] for r in listing["runs"]] == list(frame["run_id"])
    assert listing["parameters"] == ["policy"]
    assert len(list((out / "cache" / "contacts").iterdir())) == 1      # one shared plan
    # collect() rebuilds the frame from the run folders (sweep.yaml says which belong)...
    saved = pd.read_parquet(out / "sweep.parquet")
    pd.testing.assert_frame_equal(collect(out), saved)


def test_collect_needs_only_the_run_folders(one_worker, tmp_path):
    import shutil

    _, out, _ = one_worker
    shutil.copytree(out / "runs", tmp_path / "runs")
    pd.testing.assert_frame_equal(collect(tmp_path), pd.read_parquet(out / "sweep.parquet"))


def test_a_script_without_main_guard_fails_clearly(tmp_path, repo):
    """Spawned workers re-import the main module: without the guard they die at start-up."""
    script = tmp_path / "noguard.py"
    script.write_text("from orbsched.sweep.execute import run_sweep\n"
                      f"run_sweep({str(small_sweep(tmp_path, repo))!r}, "
                      f"{str(tmp_path / 'out')!r}, workers=2)\n")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode != 0
    assert "OrbschedError: the worker processes die as they start" in res.stderr
    assert "__name__ == '__main__'" in res.stderr


def test_two_workers_and_dask_give_the_same_frame(one_worker, tmp_path):
    path, out1, _ = one_worker
    run_sweep(path, tmp_path / "two", workers=2)
    pd.testing.assert_frame_equal(frame_without_wall_time(tmp_path / "two"),
                                  frame_without_wall_time(out1))
    pytest.importorskip("distributed")
    run_sweep(path, tmp_path / "dask", workers=2, dask="local")
    pd.testing.assert_frame_equal(frame_without_wall_time(tmp_path / "dask"),
                                  frame_without_wall_time(out1))


def test_runs_start_longest_expected_first(tmp_path, repo):
    """Hours x satellites x jobs orders the submissions (ties in sweep order); on one worker
    the runs finish in the order they start.  sweep.parquet keeps the sweep order."""
    path = write_sweep(tmp_path, """\
        base: {demo}
        set: {{workload.n_jobs: 10}}
        grid:
          duration_h: [0.25, 0.5]
          constellations[0].planes: [6, 8]
        """, repo=repo)
    sweep = load_sweep(path)
    sizes = {}
    groups = geometry_groups(sweep, sizes)
    assert sorted(sizes.values()) == [72, 72, 96, 96] and set(sizes) == set(groups)
    seen = []
    run_sweep(path, tmp_path / "out", workers=1,
              on_result=lambda run, res: seen.append(tuple(run.params.values())))
    assert seen == [(0.5, 8), (0.5, 6), (0.25, 8), (0.25, 6)]
    frame = pd.read_parquet(tmp_path / "out" / "sweep.parquet")
    assert list(frame["duration_h"]) == [0.25, 0.25, 0.5, 0.5]
    assert (frame["status"] == "done").all()


def test_pool_workers_exit_cleanly():
    """Workers skip the interpreter's teardown at exit (os._exit) yet exit with 0."""
    from orbsched.sweep.execute import LocalPool

    with LocalPool(2) as pool:
        pool.start()
        procs = list(pool._pool._processes.values())
        got = list(pool.run(json.dumps, [{"id": "a", "index": 0}, {"id": "b", "index": 1}], 0))
    assert sorted(res for _, res in got) == ['{"id": "a", "index": 0}', '{"id": "b", "index": 1}']
    assert len(procs) == 2 and [p.exitcode for p in procs] == [0, 0]


def test_rerun_skips_complete_runs(one_worker, capsys):
    path, out, _ = one_worker
    seen = []
    outcome = run_sweep(path, out, workers=1, on_result=lambda run, res: seen.append(run.id),
                        log=print)
    assert seen == [] and outcome["skipped"] == 4 and outcome["done"] == 4
    assert "4 already complete, 0 to run" in capsys.readouterr().out


def test_interrupted_sweep_resumes_and_runs_each_run_once(tmp_path, repo):
    path = small_sweep(tmp_path, repo)
    out = tmp_path / "out"
    first = []

    def stop_after_two(run, res):
        first.append(run.id)
        if len(first) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(path, out, workers=2, on_result=stop_after_two)
    assert not (out / "sweep.parquet").exists()
    complete = {d.name for d in (out / "runs").iterdir() if (d / "summary.json").is_file()}
    assert set(first) <= complete and len(complete) < 4
    # a run killed while writing its folder: everything but the completion marker
    half = sorted(complete)[0]
    (out / "runs" / half / "summary.json").unlink()
    complete.discard(half)
    second = []
    outcome = run_sweep(path, out, workers=2, on_result=lambda run, res: second.append(run.id))
    all_ids = {r.id for r in load_sweep(path).runs}
    assert sorted(second) == sorted(all_ids - complete)            # nothing twice
    assert outcome["done"] == 4 and outcome["skipped"] == len(complete)
    frame = pd.read_parquet(out / "sweep.parquet")
    assert sorted(frame["run_id"]) == sorted(all_ids) and (frame["status"] == "done").all()
    assert {d.name for d in (out / "runs").iterdir()} == all_ids
    assert not list(out.rglob("*.tmp"))


def test_killed_sweep_restarts_and_runs_each_run_once(tmp_path, repo):
    """SIGKILL the sweep process once a run is complete; its workers die with it."""
    psutil = pytest.importorskip("psutil")
    path = small_sweep(tmp_path, repo)
    out = tmp_path / "out"
    code = ("from orbsched.sweep.execute import run_sweep\n"
            f"run_sweep({str(path)!r}, {str(out)!r}, workers=2)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 120
    workers = []
    while not list(out.glob("runs/*/summary.json")):
        assert proc.poll() is None and time.monotonic() < deadline
        workers = psutil.Process(proc.pid).children(recursive=True) or workers
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    complete = {p.parent.name for p in out.glob("runs/*/summary.json")}
    assert 1 <= len(complete) < 4
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive                                # no orphan still running a run
    again = []
    outcome = run_sweep(path, out, workers=2, on_result=lambda run, res: again.append(run.id))
    all_ids = {r.id for r in load_sweep(path).runs}
    assert sorted(again) == sorted(all_ids - complete)
    frame = pd.read_parquet(out / "sweep.parquet")
    assert sorted(frame["run_id"]) == sorted(all_ids) and outcome["done"] == 4


KILLER = """\
import os
from pathlib import Path

from orbsched.policies.stay import Stay


class Once(Stay):
    name = "die-once"

    def schedule(self, view):          # in the run (the sweep's check builds the policy)
        marker = Path(__file__).with_name("died-once")
        if not marker.exists():
            marker.touch()
            os._exit(3)
        return super().schedule(view)


class Always(Stay):
    name = "die-always"

    def schedule(self, view):
        os._exit(3)


class Raises(Stay):
    name = "raises"

    def schedule(self, view):
        raise RuntimeError("nosuchmod in the run")
"""


def test_failed_and_dying_runs_are_recorded_and_the_sweep_goes_on(tmp_path, repo, capsys):
    (tmp_path / "killer.py").write_text(KILLER)
    base = yaml.safe_load((repo / "configs" / "demo.yaml").read_text())
    doc = {"name": "faults", "base_scenario": base, "set": TINY,
           "grid": {"policy": ["stay", "killer.py:Raises", "killer.py:Once", "killer.py:Always"]}}
    path = tmp_path / "faults.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert cli("sweep", path, "--out", tmp_path / "out", "--workers", 2, "--retries", 1) == 1
    frame = pd.read_parquet(tmp_path / "out" / "sweep.parquet").set_index("policy")
    assert list(frame["status"]) == ["done", "failed", "done", "failed"]
    runs = tmp_path / "out" / "runs"
    raised = (runs / frame.loc["killer.py:Raises", "run_id"] / "error.txt").read_text()
    assert "Traceback" in raised and "nosuchmod" in raised
    assert "nosuchmod" in frame.loc["killer.py:Raises", "error"]
    died = (runs / frame.loc["killer.py:Always", "run_id"] / "error.txt").read_text()
    assert "died 2 times" in died
    assert (tmp_path / "died-once").exists()                 # Once died, then was retried
    assert "2 done, 2 failed" in capsys.readouterr().out
    assert pd.isna(frame.loc["stay", "error"])


BYSTANDER = """\
import os
import time
from pathlib import Path

from orbsched.policies.stay import Stay


class Bystander(Stay):
    name = "bystander"

    def schedule(self, view):
        calls = Path(__file__).with_name("bystander-calls")
        if calls.exists():
            return super().schedule(view)
        first = Path(__file__).with_name("bystander-first")
        if not first.exists():           # in flight beside Always, which kills the pool
            first.touch()
            time.sleep(30)
        calls.touch()                     # alone: dies once of its own accord
        os._exit(3)
"""


def test_a_run_killed_beside_another_is_not_charged_for_that_death(tmp_path, repo):
    # Always and Bystander start together; Always's death breaks the pool while Bystander
    # sleeps.  Bystander then dies once alone: with --retries 1 that is its one retry, and the
    # third attempt completes.  Charging the shared death as well would record it failed.
    (tmp_path / "killer.py").write_text(KILLER + BYSTANDER.replace("from orbsched.policies."
                                                                   "stay import Stay\n", ""))
    base = yaml.safe_load((repo / "configs" / "demo.yaml").read_text())
    doc = {"name": "bystander", "base_scenario": base, "set": TINY,
           "grid": {"policy": ["killer.py:Always", "killer.py:Bystander"]}}
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert cli("sweep", path, "--out", tmp_path / "out", "--workers", 2, "--retries", 1) == 1
    frame = pd.read_parquet(tmp_path / "out" / "sweep.parquet").set_index("policy")
    assert (tmp_path / "bystander-first").exists() and (tmp_path / "bystander-calls").exists()
    assert frame.loc["killer.py:Bystander", "status"] == "done"
    assert "died 2 times" in frame.loc["killer.py:Always", "error"]


# -------------------------------------------------------------------------------- compare
def test_compare_writes_figures_and_table(one_worker, tmp_path, capsys):
    _, out, _ = one_worker
    assert cli("compare", out, "--out", tmp_path / "cmp") == 0
    text = capsys.readouterr().out
    assert "greedy-sunlit" in text and "±" in text
    names = {p.name for p in (tmp_path / "cmp").iterdir()}
    for m in ("utilisation", "completed_gpu_h_per_day", "migrations_started",
              "work_lost_gpu_h_brownout", "energy_kwh_curtailed"):
        assert {f"{m}__vs__policy.png", f"{m}__vs__policy.pdf"} <= names
    table = pd.read_csv(tmp_path / "cmp" / "table.csv")
    assert list(table["policy"]) == ["stay", "greedy-sunlit"] and list(table["n"]) == [2, 2]
    frame = pd.read_parquet(out / "sweep.parquet")
    stay = frame[frame["policy"] == "stay"]["utilisation"]
    assert table.loc[0, "utilisation mean"] == pytest.approx(stay.mean())
    assert table.loc[0, "utilisation ci95"] == pytest.approx(12.706 * stay.std() / 2 ** 0.5,
                                                             rel=1e-3)
    assert cli("compare", out, "--metric", "utilisaton", "--out", tmp_path / "cmp") == 2
    assert "did you mean 'utilisation'" in capsys.readouterr().err


def test_compare_two_parameters_one_line_per_policy(tmp_path):
    """Synthetic sweep folder (no simulation): battery x policy x 3 seeds."""
    import numpy as np

    from orbsched.analysis.compare import compare

    rows = []
    for i, (pol, cap, seed) in enumerate((p, c, s) for p in ("stay", "lookahead")
                                         for c in (2000, 4000) for s in (1, 2, 3)):
        rows.append({"run_id": f"r{i}", "index": i, "status": "done", "policy": pol,
                     "hardware.battery.capacity_wh": cap, "seed": seed,
                     "utilisation": 0.4 + cap / 1e5 + 0.01 * seed, "error": None,
                     "wall_s": 1.0})
    frame = pd.DataFrame(rows)
    frame.attrs["orbsched_sweep"] = json.dumps(
        {"name": "x", "parameters": ["policy", "hardware.battery.capacity_wh"]})
    frame.to_parquet(tmp_path / "sweep.parquet")
    res = compare(tmp_path, metrics=["utilisation"], formats=("png",))
    assert [p.name for p in res["figures"]] == ["utilisation__vs__hardware_battery_capacity_wh"
                                                ".png"]
    t = res["table"]
    assert len(t) == 4 and (t["n"] == 3).all()
    assert np.allclose(t["utilisation mean"], [0.44, 0.46, 0.44, 0.46])
