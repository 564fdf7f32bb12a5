"""The shipped scenarios in configs/: they load, have the published sizes, and cite sources."""
import re

import pytest
from conftest import REPO

from orbsched import load_scenario
from orbsched.scenario.sections import SyntheticWorkload

#: Scenario files (sweep files, which name a base scenario, are tested in test_sweep.py).
CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml")
                 if not re.search(r"^base:", p.read_text(), re.M))
SWEEPS = sorted(p for p in (REPO / "configs").glob("*.yaml") if p not in CONFIGS)
#: Words that name where a figure comes from (../shared/CONTEXT.md, an FCC filing, the Suncatcher
#: paper, a datasheet).
SOURCE = re.compile(r"CONTEXT|FCC|Suncatcher|datasheet", re.I)


def _fleet(sc):
    """Satellites of Walker shells, SSO planes and formations (the shipped configs use nothing
    else)."""
    n = 0
    for c in sc.constellations:
        assert c.type in ("walker", "sso", "formation"), c.type
        n += c.planes * c.sats_per_plane if c.type == "walker" else c.sats
    return n


def test_sweep_files_expand():
    from orbsched.sweep.plan import load_sweep

    assert SWEEPS
    for path in SWEEPS:
        assert len(load_sweep(path).runs) > 0


def test_configs_exist():
    names = {p.name for p in CONFIGS}
    assert {"demo.yaml", "starlink-shell1.yaml", "suncatcher-dawn-dusk.yaml",
            "kuiper-630.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_cites_sources(path):
    sc = load_scenario(path)
    assert sc.duration_h > 0 and _fleet(sc) > 0
    comments = [line for line in path.read_text().splitlines() if "#" in line]
    assert any(SOURCE.search(line.split("#", 1)[1]) for line in comments), \
        f"{path.name}: no comment names a source (CONTEXT, FCC, Suncatcher, datasheet)"


def test_starlink_shell1_size_and_load():
    sc = load_scenario(REPO / "configs" / "starlink-shell1.yaml")
    n = _fleet(sc)
    assert n == 72 * 22 == 1584
    assert sc.hardware.gpus == 4
    (shell,) = sc.constellations
    assert (shell.altitude_km, shell.inclination_deg) == (550, 53)
    wl = sc.workload
    assert isinstance(wl, SyntheticWorkload)
    rate = wl.rate_per_h if wl.rate_per_h is not None else wl.params.rate_per_h
    # Little's law: busy GPUs = arrival rate x mean GPUs per job x mean runtime.
    busy = rate * wl.params.mean_gpus * wl.params.runtime_mean_s / 3600.0
    fleet_gpus = n * sc.hardware.gpus
    assert 0.35 * fleet_gpus <= busy <= 0.65 * fleet_gpus, (busy, fleet_gpus)
    assert max(wl.params.gpu_sizes) <= sc.hardware.gpus  # every job fits one satellite
    if wl.n_jobs is not None:  # the jobs arrive within the run
        assert wl.n_jobs / rate <= sc.duration_h


def test_kuiper_630_size():
    sc = load_scenario(REPO / "configs" / "kuiper-630.yaml")
    assert _fleet(sc) == 34 * 34 == 1156
    (shell,) = sc.constellations
    assert (shell.altitude_km, shell.inclination_deg) == (630, 51.9)


def test_suncatcher_in_eclipse_season():
    """A dawn-dusk orbit at LTAN 18:00 has its 2025 eclipse season from about 7 May to 4 Aug."""
    from datetime import datetime, timezone

    sc = load_scenario(REPO / "configs" / "suncatcher-dawn-dusk.yaml")
    (plane,) = sc.constellations
    assert plane.type == "sso" and plane.altitude_km == 650 and plane.ltan_h == 18.0
    assert datetime(2025, 5, 7, tzinfo=timezone.utc) <= sc.start_utc \
        <= datetime(2025, 8, 4, tzinfo=timezone.utc)


def test_suncatcher_formation_matches_the_paper():
    """81 satellites within 1 km, neighbours 100-200 m apart, 650 km dawn-dusk, 9.6 Tbps links
    up to a 5 km near field (Suncatcher paper / CONTEXT.md)."""
    sc = load_scenario(REPO / "configs" / "suncatcher-formation.yaml")
    (cl,) = sc.constellations
    assert cl.type == "formation" and cl.sats == 81 and cl.radius_m == 1000
    assert cl.altitude_km == 650 and cl.ltan_h == 18.0 and cl.inclination_deg is None
    rate = sc.network.isl_rate
    assert (rate.model, rate.max_gbps, rate.near_field_km) == ("near_far", 9600, 5)
    assert sc.duration_h <= 3  # keeps the end-to-end run to seconds
