"""Scenarios at the scale of SpaceX's orbital data-centre filing: Walker shells at the
sun-synchronous inclination (``inclination_deg: sso``), a shell's share of planes
(``plane_range``, what a partition flies), and the shipped configs/filing-1m.yaml."""
import math
import sys

import numpy as np
import pytest
from conftest import REPO

from orbsched import ScenarioError, load_scenario
from orbsched.geometry.constellation import build_constellation, build_part
from orbsched.geometry.visibility import walker_grid_pairs
from orbsched.scenario.bounds import synthetic_fleet_size
from orbsched.scenario.constants import (
    EARTH_EQUATORIAL_RADIUS_KM,
    J2_EARTH,
    MU_EARTH_KM3_S2,
    SUN_MEAN_MOTION_RAD_S,
)
from orbsched.scenario.schema import scenario_from_dict
from orbsched.scenario.sso import sso_inclination_deg

FILING = REPO / "configs" / "filing-1m.yaml"


def _shell(**kw):
    c = {"type": "walker", "name": "w", "planes": 6, "sats_per_plane": 5, "phasing": 1,
         "altitude_km": 550, "inclination_deg": 53}
    c.update(kw)
    return scenario_from_dict({"start_utc": "2026-03-20T00:00:00Z", "duration_h": 1,
                               "constellations": [c], "network": {"cache": False}})


@pytest.mark.parametrize("alt_km", [500, 550, 1300, 2000])
def test_sso_inclination_gives_the_suns_nodal_rate(alt_km):
    """The J2 nodal rate -3/2 n J2 (R/a)^2 cos i at the closed form's inclination is the mean
    Sun's 0.98565 deg/day (to rounding), and SGP4's own secular node rate of a satellite built
    at it (J2 and J4, Brouwer mean elements) within 0.005 deg/day (0.5 %)."""
    inc = sso_inclination_deg(alt_km)
    a = EARTH_EQUATORIAL_RADIUS_KM + alt_km
    n = math.sqrt(MU_EARTH_KM3_S2 / a ** 3)
    rate = -1.5 * n * J2_EARTH * (EARTH_EQUATORIAL_RADIUS_KM / a) ** 2 * math.cos(math.radians(inc))
    assert math.degrees(rate) * 86400 == pytest.approx(0.98565, abs=1e-5)
    assert math.degrees(SUN_MEAN_MOTION_RAD_S) * 86400 == pytest.approx(0.98565, abs=1e-5)
    fleet, _ = build_constellation(_shell(altitude_km=alt_km, inclination_deg="sso"))
    sgp4_rate = math.degrees(fleet.sets[0].satrecs[0].nodedot) * 1440
    assert sgp4_rate == pytest.approx(0.98565, abs=0.005)


def test_sso_inclination_known_values():
    """97.6 deg at 550 km (the commonly quoted value, as in tests/test_orbits.py),
    and inclination grows with altitude to 104.9 deg at 2,000 km."""
    assert sso_inclination_deg(550) == pytest.approx(97.6, abs=0.05)
    assert sso_inclination_deg(2000) == pytest.approx(104.9, abs=0.05)
    sc = _shell(inclination_deg="sso")
    assert sc.constellations[0].inclination_deg == sso_inclination_deg(550)


@pytest.mark.parametrize("bad, words", [
    ({"altitude_km": 7000, "inclination_deg": "sso"}, "sso needs altitude_km"),
    ({"inclination_deg": "SSO-ish"}, "valid number"),
    ({"plane_range": [4, 4]}, "plane_range must be"),
    ({"plane_range": [0, 7]}, "plane_range must be"),
])
def test_bad_walker_options_are_errors(bad, words):
    with pytest.raises(ScenarioError, match=words):
        _shell(**bad)


@pytest.mark.parametrize("pattern", ["delta", "star"])
@pytest.mark.parametrize("rng", [(0, 6), (0, 3), (2, 5), (5, 6)])
def test_plane_range_grid_is_the_whole_shells_grid_among_those_planes(pattern, rng):
    """A shell's flown planes get exactly the +grid links of the whole shell between two of
    them (the seam of a delta shell only when every plane flies), re-indexed from 0."""
    P, S, F = 6, 5, 1
    a, b = walker_grid_pairs(P, S, F, pattern, 1)
    lo, hi = rng[0] * S, rng[1] * S
    keep = (a >= lo) & (a < hi) & (b >= lo) & (b < hi)
    pa, pb = walker_grid_pairs(P, S, F, pattern, 1, plane_range=rng)
    assert np.array_equal(pa, a[keep] - lo) and np.array_equal(pb, b[keep] - lo)


def test_plane_range_flies_the_same_satellites_as_the_whole_shell():
    """Planes 2..4 of a shell flown alone are, bit for bit, satellites 10..24 of the whole
    shell (same elements, names and positions); build_part builds any subset the same way."""
    whole, sc = build_constellation(_shell())
    part, _ = build_constellation(_shell(plane_range=[2, 5]))
    t = np.array([0.0, 600.0, 3600.0])
    rw, vw = whole.propagate(t)
    rp, vp = part.propagate(t)
    assert part.names == whole.names[10:25]
    assert np.array_equal(rp, rw[10:25]) and np.array_equal(vp, vw[10:25])
    idx = np.array([0, 3, 11, 29])
    chunk = build_part(sc, idx)
    rc, vc = chunk.propagate(t)
    assert chunk.names == [whole.names[i] for i in idx]
    assert np.array_equal(rc, rw[idx]) and np.array_equal(vc, vw[idx])
    assert np.array_equal(whole.take(idx).propagate(t)[0], rw[idx])


def test_filing_1m_config():
    """configs/filing-1m.yaml: exactly 1,000,000 satellites in Walker shells from 500 to
    2,000 km, inclinations from 30 deg to sun-synchronous, +grid lasers (within shells),
    starlink-shell1's offered load per GPU; it loads and validates, and the golden test skips
    it (too large for CI)."""
    sc = load_scenario(FILING)
    assert synthetic_fleet_size(sc) == 1_000_000
    shells = sc.constellations
    assert all(c.type == "walker" for c in shells)
    alts = [c.altitude_km for c in shells]
    assert min(alts) == 500 and max(alts) == 2000
    assert min(np.diff(sorted(alts))) >= 50                    # distinct shells
    incs = [c.inclination_deg for c in shells]
    assert min(incs) == 30
    sso = [c for c in shells if abs(c.inclination_deg - sso_inclination_deg(c.altitude_km))
           < 1e-9]
    assert len(sso) >= 2 and max(incs) == sso_inclination_deg(2000)
    assert sc.network.topology == "+grid" and not sc.record.per_satellite
    shell1 = load_scenario(REPO / "configs" / "starlink-shell1.yaml")

    def per_gpu(s):
        return s.workload.rate_per_h * s.workload.params.mean_gpus \
            * s.workload.params.runtime_mean_s / synthetic_fleet_size(s) / s.hardware.gpus

    assert per_gpu(sc) == pytest.approx(per_gpu(shell1), rel=1e-3)
    sys.path.insert(0, str(REPO / "tests"))
    from golden_files import shipped_configs

    assert FILING not in shipped_configs()
    assert REPO / "configs" / "starlink-shell1.yaml" in shipped_configs()
