"""One writer per results folder (issue 16): two runs into one folder never crash each other
nor leave a mixed folder; a new run's folder holds none of an earlier run's files; foreign
folders are refused; files take the umask; a full disk gives a clear error, no folder that
looks complete, and a sweep that resumes afterwards."""
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading

import pytest
import yaml
from golden_files import folder_digests

from orbsched.cli import main
from orbsched.results.writing import ResultsFolderError, check_target
from orbsched.run import simulate
from orbsched.scenario.schema import load_scenario
from orbsched.sweep.execute import execute_run, run_sweep

TINY = """\
name: tiny
start_utc: 2024-06-21T00:00:00Z
duration_h: 1
step_s: 60
constellations:
  - {type: walker, name: w, planes: 2, sats_per_plane: 3, altitude_km: 550, inclination_deg: 53}
network: {topology: none}
workload: {type: synthetic, n_jobs: 8, rate_per_h: 20}
record: {sample_s: 600}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The scenario file, a shared cache, and reference folders of seeds 1 and 2."""
    base = tmp_path_factory.mktemp("folder")
    path = base / "tiny.yaml"
    path.write_text(TINY)
    cache = base / "cache"
    refs = {}
    for seed in (1, 2):
        simulate(load_scenario(path), seed=seed, cache_dir=cache).write(base / f"ref{seed}")
        refs[seed] = folder_digests(base / f"ref{seed}")
    return {"path": path, "cache": cache, "refs": refs, "base": base}


def _temporaries(folder):
    return sorted(p.name for p in folder.parent.iterdir()
                  if p.name.startswith(f".{folder.name}."))


def _one_run(folder):
    """The seed whose reference the folder equals file for file (fails if mixed)."""
    digests = folder_digests(folder)
    seed = json.loads((folder / "summary.json").read_text())["seed"]
    return seed, digests


def _two_runs_at_once(tiny, tmp_path, attempts):
    env = {**os.environ, "ORBSCHED_CACHE": str(tiny["cache"])}
    out = tmp_path / "out"
    for attempt in range(attempts):
        procs = [subprocess.Popen([sys.executable, "-m", "orbsched.cli", "run",
                                   str(tiny["path"]), "--out", str(out), "--seed", str(seed),
                                   "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for seed in (1, 2)]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
        seed, digests = _one_run(out)
        assert digests == tiny["refs"][seed], attempt
        assert _temporaries(out) == []


def test_two_runs_into_one_folder_never_mix_nor_crash(tiny, tmp_path):
    """Two ``orbsched run`` processes (seeds 1 and 2) into one folder at once: both succeed
    and the folder equals one of the two runs file for file."""
    _two_runs_at_once(tiny, tmp_path, 1)


@pytest.mark.slow
def test_two_runs_into_one_folder_many_times(tiny, tmp_path):
    _two_runs_at_once(tiny, tmp_path, 8)


def test_many_writers_in_threads(tiny, tmp_path):
    results = {s: simulate(load_scenario(tiny["path"]), seed=s, cache_dir=tiny["cache"])
               for s in (1, 2)}
    out = tmp_path / "out"
    errors = []

    def writer(seed):
        try:
            for _ in range(6):
                results[seed].write(out)
        except BaseException as exc:          # pragma: no cover - the failure reported
            errors.append(exc)
    threads = [threading.Thread(target=writer, args=(1 + k % 2,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    seed, digests = _one_run(out)
    assert digests == tiny["refs"][seed]
    assert _temporaries(out) == []


def test_a_new_run_leaves_none_of_the_old_files(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    inference = tmp_path / "inf.yaml"
    inference.write_text(TINY + "inference: {services: [{name: s, service_time_s: 1, "
                                "latency_objective_s: 1, rate_per_s: 0.05}]}\n")
    assert main(["run", str(inference), "--out", str(out), "--quiet", "--cache-dir",
                 str(tiny["cache"])]) == 0
    (out / "plots").mkdir()
    (out / "plots" / "old.png").write_bytes(b"png")
    (out / "report.html").write_text("<html>old</html>")
    assert (out / "requests.parquet").is_file()
    assert main(["run", str(tiny["path"]), "--out", str(out), "--quiet", "--seed", "1",
                 "--cache-dir", str(tiny["cache"])]) == 0
    assert folder_digests(out) == tiny["refs"][1]
    assert not (out / "requests.parquet").exists() and not (out / "plots").exists()
    assert not (out / "report.html").exists()


def test_a_foreign_folder_is_refused_before_the_run(tiny, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(ResultsFolderError, match="notes.txt"):
        check_target(out)
    assert main(["run", str(tiny["path"]), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orbsched: error: ") and "not an orbsched results folder" in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    (tmp_path / "afile").write_text("x")
    assert main(["run", str(tiny["path"]), "--out", str(tmp_path / "afile"), "--quiet"]) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_files_take_the_umask(tiny, tmp_path, mask):
    old = os.umask(mask)
    try:
        res = simulate(load_scenario(tiny["path"]), cache_dir=tiny["cache"])
        res.write(tmp_path / "out")
    finally:
        os.umask(old)
    out = tmp_path / "out"
    assert (out.stat().st_mode & 0o777) == 0o777 & ~mask
    for p in out.iterdir():
        assert (p.stat().st_mode & 0o777) == 0o666 & ~mask, p.name


def test_leftovers_of_a_killed_writer_are_removed_live_ones_kept(tiny, tmp_path):
    out = tmp_path / "out"
    host = socket.gethostname().replace(os.sep, "_").replace(".", "_")[:40]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".out.tmp-{host}-{dead}-abc"
    live = tmp_path / f".out.tmp-{host}-{os.getppid()}-abc"
    for d in (stale, live):
        d.mkdir()
        (d / "jobs.parquet").write_bytes(b"half")
    simulate(load_scenario(tiny["path"]), cache_dir=tiny["cache"]).write(out)
    assert not stale.exists() and live.exists()


# ----------------------------------------------------------------------------- full disk
def _enospc_on(name, monkeypatch):
    """Make writing the result file ``name`` fail as on a full disk (after some bytes)."""
    import orbsched.results.folder as results

    real = results.atomic_write

    def atomic_write(path, write):
        if os.path.basename(path) == name:
            def full(tmp):
                with open(tmp, "wb") as fh:
                    fh.write(b"PAR1 partial")
                raise OSError(28, "No space left on device", str(path))
            return real(path, full)
        return real(path, write)
    monkeypatch.setattr(results, "atomic_write", atomic_write)


def test_full_disk_injected_gives_one_line_and_no_complete_looking_folder(tiny, tmp_path,
                                                                         monkeypatch, capsys):
    out = tmp_path / "out"
    _enospc_on("jobs.parquet", monkeypatch)
    code = main(["run", str(tiny["path"]), "--out", str(out), "--quiet", "--cache-dir",
                 str(tiny["cache"])])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "No space left on device (errno 28, ENOSPC)" in err and "jobs.parquet" in err
    assert not out.exists() and _temporaries(out) == []
    # an earlier complete folder is left as it was
    monkeypatch.undo()
    simulate(load_scenario(tiny["path"]), seed=1, cache_dir=tiny["cache"]).write(out)
    _enospc_on("timeseries.parquet", monkeypatch)
    assert main(["run", str(tiny["path"]), "--out", str(out), "--quiet", "--seed", "2",
                 "--cache-dir", str(tiny["cache"])]) == 2
    assert folder_digests(out) == tiny["refs"][1] and _temporaries(out) == []


def test_full_disk_injected_in_a_sweep_run_then_the_sweep_resumes(tiny, tmp_path, monkeypatch):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"name": "s", "base": str(tiny["path"]),
                                     "grid": {"policy": ["stay", "greedy-sunlit"]}}))
    out = tmp_path / "sw"
    from orbsched.sweep import load_sweep
    from orbsched.sweep.execute import _task, _write_listing

    sw = load_sweep(sweep)
    out.mkdir()
    _write_listing(sw, out, tiny["cache"])
    _enospc_on("events.parquet", monkeypatch)
    import orbsched.sweep.execute as sx
    real_text = sx.atomic_write_text

    def no_space_for_error_txt(path, text):
        if os.path.basename(path) == "error.txt":
            raise OSError(28, "No space left on device", str(path))
        return real_text(path, text)
    monkeypatch.setattr(sx, "atomic_write_text", no_space_for_error_txt)
    res = execute_run(_task(sw, sw.runs[0], out, tiny["cache"]))       # must not raise
    assert res["status"] == "failed" and "errno 28" in res["error"]
    assert "error.txt not written" in res["error"]
    run_dir = out / "runs" / sw.runs[0].id
    assert not (run_dir / "summary.json").exists() and (run_dir / "run.json").is_file()
    monkeypatch.undo()
    outcome = run_sweep(sweep, out, workers=1, cache_dir=tiny["cache"])
    assert outcome["done"] == 2 and outcome["failed"] == 0
    assert (run_dir / "summary.json").is_file() and (run_dir / "run.json").is_file()


_NAMESPACE_SCRIPT = textwrap.dedent("""\
    import json, os, subprocess, sys
    mnt, scen, sweep, cache = sys.argv[1:5]
    py = [sys.executable, "-m", "orbsched.cli"]
    def sh(*a):
        subprocess.run(list(a), check=True)
    def run(*a):
        p = subprocess.run(py + list(a), capture_output=True, text=True, timeout=600)
        return {"rc": p.returncode, "err": p.stderr, "out": p.stdout}
    def listing():
        return sorted(os.listdir(mnt))
    rep = {}
    sh("mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", mnt)
    rep["first"] = run("run", scen, "--out", mnt + "/out", "--quiet", "--cache-dir", cache)
    rep["first_listing"] = listing()
    sh("mount", "-o", "remount,size=8m", mnt)
    rep["ok"] = run("run", scen, "--out", mnt + "/out", "--quiet", "--cache-dir", cache,
                    "--seed", "1")
    used = sum(os.path.getsize(os.path.join(mnt, "out", f)) for f in os.listdir(mnt + "/out"))
    with open(mnt + "/filler", "wb") as fh:            # leave less room than a run needs
        try:
            fh.write(b"x" * (8 * 2 ** 20 - used - 48 * 1024))
        except OSError:
            pass
    rep["full"] = run("run", scen, "--out", mnt + "/out", "--quiet", "--cache-dir", cache,
                      "--seed", "2")
    rep["full_listing"] = listing()
    rep["sweep1"] = run("sweep", sweep, "--out", mnt + "/sw", "--workers", "1", "--quiet",
                        "--cache-dir", cache)
    runs = os.path.join(mnt, "sw", "runs")
    rep["sweep1_errors"] = [open(os.path.join(runs, d, "error.txt")).read().splitlines()[0]
                            for d in os.listdir(runs)
                            if os.path.exists(os.path.join(runs, d, "error.txt"))]
    os.remove(mnt + "/filler")
    rep["sweep2"] = run("sweep", sweep, "--out", mnt + "/sw", "--workers", "1", "--quiet",
                        "--cache-dir", cache)
    rep["sweep_runs"] = {d: sorted(os.listdir(os.path.join(mnt, "sw", "runs", d)))
                         for d in os.listdir(os.path.join(mnt, "sw", "runs"))}
    rep["ok_digest"] = json.load(open(mnt + "/out/summary.json"))["seed"]
    print(json.dumps(rep))
""")


@pytest.mark.slow
def test_full_disk_on_a_tiny_tmpfs(tiny, tmp_path):
    """The real thing where the machine allows it: a tmpfs of 40 KB (then of 8 MB nearly
    filled) in a private mount namespace (``unshare -rm``; skipped where it is refused).
    Slow (~25 s: five CLI processes, two of them sweeps); the injected-ENOSPC tests above
    cover the same paths in CI."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-rm", "true"],
                                         capture_output=True).returncode != 0:
        pytest.skip("no private mount namespace here (unshare -rm refused)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"name": "s", "base": str(tiny["path"]),
                                     "grid": {"policy": ["stay", "greedy-sunlit"]}}))
    script = tmp_path / "ns.py"
    script.write_text(_NAMESPACE_SCRIPT)
    proc = subprocess.run([unshare, "-rm", sys.executable, str(script), str(mnt),
                           str(tiny["path"]), str(sweep), str(tiny["cache"])],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("first", "full"):
        r = rep[key]
        lines = r["err"].strip().splitlines()
        assert r["rc"] == 2 and len(lines) == 1, r
        assert "No space left on device" in lines[0] and "Traceback" not in r["err"]
    assert rep["first_listing"] == []                  # nothing that looks like results
    assert rep["ok"]["rc"] == 0 and rep["ok_digest"] == 1
    assert rep["full_listing"] == ["filler", "out"]    # the complete seed-1 folder, as it was
    # the sweep goes on past its failed runs (exit 1), and the same command resumes it
    assert rep["sweep1"]["rc"] == 1 and "Traceback" not in rep["sweep1"]["err"], rep["sweep1"]
    assert rep["sweep1_errors"] and all("No space left on device (errno 28, ENOSPC)" in e
                                        for e in rep["sweep1_errors"])
    assert rep["sweep2"]["rc"] == 0, rep["sweep2"]
    for files in rep["sweep_runs"].values():
        assert "summary.json" in files and "run.json" in files and "error.txt" not in files
