"""The build: compiled kernels are optional unless ORBSCHED_COMPILE=always."""
import os
import shutil
import subprocess
import sys

import pytest


def _build(repo, tmp_path, mode):
    pytest.importorskip("Cython")
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    shutil.copytree(repo, src, ignore=shutil.ignore_patterns(
        ".git", "*.so", "*.c", "build", "*.egg-info", "__pycache__", ".venv*", "results"))
    env = {**os.environ, "ORBSCHED_COMPILE": mode, "CC": "false", "LDSHARED": "false"}
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=src,
                          env=env, capture_output=True, text=True)
    return proc, src


def test_without_a_compiler_the_build_warns_and_keeps_the_twins(repo, tmp_path):
    proc, src = _build(repo, tmp_path, "auto")
    assert proc.returncode == 0, proc.stderr
    assert "installing the pure-numpy twins only" in proc.stderr
    assert not list((src / "orbsched" / "_kernels").glob("*.so"))
    # the copy alone: an editable install of the repository (a development set-up) would
    # otherwise supply the compiled modules the copy lacks
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
            "getattr(f, '__module__', '')]; import orbsched; print(orbsched.accelerated)")
    env = {k: v for k, v in os.environ.items() if k != "ORBSCHED_PURE"}
    out = subprocess.run([sys.executable, "-c", code], cwd=src, capture_output=True, text=True,
                         env=env)
    assert out.stdout.strip() == "False", out.stderr
    # the uncompiled tree says so when imported (issue 17: it was 2x slower, silently)
    assert "compiled kernels not found for fleet, fleet_search, graph, shadow, thermal, " \
        "visibility" in out.stderr and "numpy twins" in out.stderr


def test_compile_always_makes_a_failed_compile_an_error(repo, tmp_path):
    proc, _ = _build(repo, tmp_path, "always")
    assert proc.returncode != 0


def test_the_wheel_ships_the_viewer_assets(repo, tmp_path):
    """orbsched view reads its script and land outline as package data: a wheel without them
    would install an 'orbsched view' that fails on first use."""
    import zipfile

    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    shutil.copytree(repo, src, ignore=shutil.ignore_patterns(
        ".git", "*.so", "*.c", "build", "*.egg-info", "__pycache__", ".venv*", "results"))
    env = {**os.environ, "ORBSCHED_COMPILE": "never"}
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("orbsched-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for asset in ("orbsched/analysis/viewer_assets/viewer.js",
                  "orbsched/analysis/viewer_assets/land_110m.json"):
        assert asset in names, f"{asset} missing from {wheel.name}"
