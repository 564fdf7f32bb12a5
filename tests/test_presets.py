"""Headline training presets (BLOOM, GPT-3, Meena): job shapes, the scenario section, and the
energy comparison with the published totals."""
import pytest

from orbsched.run import build_workload, simulate
from orbsched.scenario.errors import ScenarioError, WorkloadError
from orbsched.scenario.schema import scenario_from_dict
from orbsched.workload.presets import PRESETS, energy_comparison, preset_job


def test_bloom_shape_from_the_published_figures():
    j = preset_job("bloom")
    assert j.gpus == 384 and j.work_gpu_h == pytest.approx(384 * 2820.0)
    assert j.checkpoint_gb == pytest.approx(176e9 * 16 / 1e9)      # Adam: 16 bytes/param
    assert j.gradient_gb == pytest.approx(176e9 * 2 / 1e9)         # bf16 gradients
    assert j.step_s == 116.0 and j.source == "preset:bloom"
    # GPT-3 on 10,000 V100 for 14.8 days; board energy 10,000 x 300 W x 355.2 h
    g = PRESETS["gpt3"]
    assert g.board_energy_kwh == pytest.approx(10_000 * 0.3 * 14.8 * 24)
    # fewer GPUs: the same GPU-hours, each step on fewer GPUs takes longer
    small = preset_job("bloom", gpus=192, work_scale=0.01)
    assert small.work_gpu_h == pytest.approx(0.01 * 384 * 2820.0)
    assert small.step_s == pytest.approx(232.0)
    with pytest.raises(WorkloadError, match="unknown preset 'blom'; did you mean 'bloom'"):
        preset_job("blom")


def test_energy_comparison_scales_to_the_whole_training():
    # 1 % of BLOOM's GPU-hours done with 4,400 kWh of GPU energy, 10 % of it from batteries,
    # in 30 h: the whole training is 100 x that.
    c = energy_comparison("bloom", work_done_gpu_h=0.01 * 384 * 2820.0, gpu_energy_kwh=4400.0,
                          from_array_kwh=3960.0, from_battery_kwh=440.0, elapsed_h=30.0)
    assert c["scale"] == pytest.approx(100.0)
    assert c["orbit_gpu_kwh"] == pytest.approx(440_000.0)
    assert c["orbit_from_battery_kwh"] == pytest.approx(44_000.0)
    assert c["projected_hours"] == pytest.approx(3000.0)
    assert c["published_kwh"] == 794_855.0
    board = 384 * 0.4 * 2820.0
    assert (c["ground_kwh_pue_low"], c["ground_kwh_pue_high"]) == pytest.approx(
        (board * 1.3, board * 1.4))


def _shell(**workload):
    return scenario_from_dict({
        "name": "p", "start_utc": "2024-06-21T00:00:00Z", "duration_h": 1.0,
        "constellations": [{"type": "walker", "name": "w", "planes": 6, "sats_per_plane": 12,
                            "altitude_km": 550, "inclination_deg": 53}],
        "network": {"topology": "+grid", "max_range_km": 5000}, "faults": {"enabled": False},
        "hardware": {"gpus": 8, "gpu_active_w": 400, "gpu_idle_w": 50},
        "workload": {"type": "preset", **workload}, "record": {"per_satellite": False}})


def test_preset_workload_runs_as_a_group_and_reports_its_energy():
    # Meena's 1,024 accelerators scaled down to 64 (8 satellites of 8 GPUs) for 0.1 % of
    # its work: a group, its step time, and the energy comparison in the summary.
    sc = _shell(name="meena", gpus=64, work_scale=0.001)
    wl = build_workload(sc, None)
    (j,) = list(wl.jobs())
    assert j.gpus == 64 and j.step_s == pytest.approx(10.0 * 1024 / 64)
    res = simulate(sc)
    s = res.summary()
    (p,) = s["presets"]
    assert p["preset"] == "meena" and p["members_max"] == 8
    assert 0.5 < p["scaling_efficiency"] <= 1.0
    frame = res.engine.rec.jobs_frame()
    assert p["work_done_gpu_h"] == pytest.approx(frame["work_done_gpu_h"].iloc[0], rel=1e-5)
    assert p["orbit_gpu_kwh"] == pytest.approx(
        frame["held_gpu_h"].iloc[0] * 0.4 * 1024 * 720 / frame["work_done_gpu_h"].iloc[0],
        rel=1e-5)
    with pytest.raises(ScenarioError, match="workload.name"):
        _shell(name="palm")
