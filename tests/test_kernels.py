"""Compiled kernels against their numpy twins: exact agreement, and the selection switch."""
import os
import subprocess
import sys

import numpy as np
import pytest

import orbsched
from orbsched import _kernels
from orbsched._kernels import reference
from orbsched.geometry import astro
from orbsched.scenario.constants import (
    EARTH_EQUATORIAL_RADIUS_KM,
    EARTH_POLAR_RADIUS_KM,
    SUN_RADIUS_KM,
)

compiled = _kernels.compiled_kernels()
needs_compiled = pytest.mark.skipif(compiled is None, reason="compiled kernels not built")


def test_ci_expectation_of_acceleration():
    """CI sets ORBSCHED_EXPECT_ACCELERATED to make sure the mode it tests is the one running."""
    want = os.environ.get("ORBSCHED_EXPECT_ACCELERATED")
    if want is None:
        pytest.skip("ORBSCHED_EXPECT_ACCELERATED not set")
    assert orbsched.accelerated == (want == "1"), _kernels.WHY_NOT_ACCELERATED


def test_pure_switch_forces_twins():
    code = "import orbsched; print(orbsched.accelerated)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ORBSCHED_PURE": "1"},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_accelerated_reports_each_kernel():
    status = orbsched.accelerated
    assert set(status) == set(_kernels.KERNEL_NAMES) | {"FleetKernel", "HostSearch"}
    assert bool(status) == _kernels.ACCELERATED == all(status[k] for k in status)
    assert str(status) == str(_kernels.ACCELERATED) and status == _kernels.ACCELERATED
    mode = "compiled" if _kernels.ACCELERATED else "twin"
    assert f"{'compiled' if mode == 'compiled' else 'twins'}: shadow_functions" in repr(status)


@needs_compiled
def test_a_missing_compiled_kernel_warns_and_only_that_kernel_runs_its_twin(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ORBSCHED_PURE"}
    # from another folder: ``python -c`` puts the working folder first on sys.path, and from
    # the repository's root that is the source tree, unbuilt when CI installs a copy
    proc = subprocess.run([sys.executable, "-W", "default", "-c",
                           "import sys; sys.modules['orbsched._kernels.shadow'] = None; "
                           "import orbsched; s = orbsched.accelerated; "
                           "print(bool(s), s['shadow_functions'], s['isl_candidates'])"],
                          env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    assert proc.stdout.split() == ["False", "False", "True"]
    assert "OrbschedWarning: compiled kernels not found for shadow in" in proc.stderr
    assert "pip install -e ." in proc.stderr


def test_the_pure_switch_does_not_warn():
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c",
                           "import orbsched; print(orbsched.accelerated)"],
                          env={**os.environ, "ORBSCHED_PURE": "1"}, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr


def _random_case(rng, n, t):
    r = rng.normal(size=(n, t, 3))
    r *= (EARTH_EQUATORIAL_RADIUS_KM + rng.uniform(200, 2000, size=(n, t, 1))) / \
        np.linalg.norm(r, axis=2, keepdims=True)
    sun = rng.normal(size=(t, 3))
    sun *= 1.496e8 / np.linalg.norm(sun, axis=1, keepdims=True)
    pole = rng.normal(scale=0.01, size=(t, 3)) + [0, 0, 1]
    pole /= np.linalg.norm(pole, axis=1, keepdims=True)
    return r, sun, pole


@needs_compiled
@pytest.mark.parametrize("shape", ["sphere", "wgs84"])
def test_shadow_kernel_equals_twin_on_random_positions(shape):
    rng = np.random.default_rng(7)
    polar = EARTH_EQUATORIAL_RADIUS_KM if shape == "sphere" else EARTH_POLAR_RADIUS_KM
    for n, t in ((1, 1), (37, 53), (300, 40)):
        args = _random_case(rng, n, t) + (EARTH_EQUATORIAL_RADIUS_KM, polar, SUN_RADIUS_KM)
        for a, b in zip(compiled["shadow_functions"](*args), reference.shadow_functions(*args)):
            assert np.array_equal(a, b)


@needs_compiled
def test_shadow_kernel_equals_twin_on_real_positions():
    from orbsched import scenario_from_dict
    from orbsched.geometry.constellation import build_constellation

    sc = scenario_from_dict({"start_utc": "2024-06-21T00:00:00Z", "duration_h": 2,
                             "constellations": [{"type": "walker", "name": "w", "planes": 6,
                                                 "sats_per_plane": 10, "altitude_km": 550,
                                                 "inclination_deg": 53}]})
    fleet, _ = build_constellation(sc)
    t = np.arange(0, 7200, 30.0)
    r, _ = fleet.propagate(t)
    args = (r, astro.sun_positions_km(fleet.timebase, t), astro.pole_gcrs(fleet.timebase, t),
            EARTH_EQUATORIAL_RADIUS_KM, EARTH_POLAR_RADIUS_KM, SUN_RADIUS_KM)
    outs_c, outs_r = compiled["shadow_functions"](*args), reference.shadow_functions(*args)
    for a, b in zip(outs_c, outs_r):
        assert np.array_equal(a, b)
    assert (outs_r[2] > 0).any() and (outs_r[1] <= 0).any()  # both umbra and sunlight present


@pytest.mark.parametrize("impl", ["reference", "compiled"])
def test_shadow_kernel_rejects_bad_shapes(impl):
    if impl == "compiled" and compiled is None:
        pytest.skip("compiled kernels not built")
    fn = reference.shadow_functions if impl == "reference" else compiled["shadow_functions"]
    with pytest.raises(ValueError, match="r_sat must have shape"):
        fn(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((3, 3)), 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="r_sun and pole"):
        fn(np.zeros((2, 4, 3)), np.zeros((3, 3)), np.zeros((4, 3)), 1.0, 1.0, 1.0)
