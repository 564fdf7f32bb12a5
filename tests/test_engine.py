"""Engine: hand-checkable cases (floor time, energy balance, lost work, one-link migration)
and the invariants every run must satisfy."""
import math

import pytest
from engine_helpers import check_invariants, job, make_engine, scenario

from orbsched.models.thermal import ThermalNode
from orbsched.policies import Migrate, Place, Policy, Stay
from orbsched.scenario.constants import SPEED_OF_LIGHT_KM_S
from orbsched.scenario.errors import PolicyError

NO_THERMAL = {"thermal": None, "payload_reserve_wh": 0.0}


def test_constant_load_reaches_floor_at_computed_time_and_balances():
    # One satellite, 4 busy GPUs (3,100 W), umbra from 1,000 s to 4,000 s.  The battery is full
    # at the entry; 1,000 Wh usable at 95 % discharge efficiency lasts 1000*3600*0.95/3100 s.
    sc = scenario(1, 2.0, hardware=NO_THERMAL)
    eng = make_engine(sc, Stay(), eclipse=[(0, 1000.0, 4000.0)],
                      jobs=[job(work_gpu_h=1000.0)])
    eng.run()
    check_invariants(eng)
    load = 300 + 4 * 700
    t_floor = 1000.0 + 1000.0 * 3600 * 0.95 / load
    ev = eng.rec.events_frame()
    floor = ev[ev["kind"] == "battery_floor"]
    assert len(floor) == 1
    assert floor["t_s"].iloc[0] == pytest.approx(t_floor, abs=1e-6)
    brown = ev[ev["kind"] == "brownout"]
    assert brown["t_s"].tolist() == pytest.approx([t_floor], abs=1e-6)
    # exact energy balance of the whole run, to 1e-9 relative
    led = eng.fleet.ledger(0)
    assert abs(led.harvested_wh - (led.used_wh + led.curtailed_wh + led.stored_change_wh
                                   + led.losses_wh)) <= 1e-9 * led.harvested_wh
    # from the floor to the eclipse exit the bus and idle GPUs (300 + 4 x 70 W) cannot be
    # served: the floor is a hard limit, and the shortfall is recorded as unserved
    assert led.unserved_wh == pytest.approx(580.0 * (4000.0 - t_floor) / 3600.0, rel=1e-12)
    assert led.demanded_wh == pytest.approx(led.used_wh + led.unserved_wh, rel=1e-12)


def test_payload_reserve_sheds_gpus_early_and_keeps_the_bus_powered():
    # 400 Wh of the 1,000 usable are kept for the bus: the GPUs are shed when 600 Wh are
    # used; 300 W + 4 x 70 W idle then drain 580 W x (4,000 s - t) / 0.95 < 400 Wh.
    sc = scenario(1, 2.0, hardware={"thermal": None, "payload_reserve_wh": 400.0})
    eng = make_engine(sc, Stay(), eclipse=[(0, 1000.0, 4000.0)],
                      jobs=[job(work_gpu_h=1000.0)])
    eng.run()
    check_invariants(eng)
    t_shed = 1000.0 + 600.0 * 3600 * 0.95 / 3100.0
    ev = eng.rec.events_frame()
    assert ev[ev["kind"] == "brownout"]["t_s"].tolist() == pytest.approx([t_shed], abs=1e-6)
    assert (ev["kind"] == "battery_floor").sum() == 0
    led = eng.fleet.ledger(0)
    assert led.unserved_wh == pytest.approx(0.0, abs=1e-9)
    used_after = 580.0 * (4000.0 - t_shed) / 3600.0 / 0.95
    soc_exit = ev[ev["kind"] == "eclipse_exit"]["value"].iloc[0]
    assert soc_exit * 4000.0 == pytest.approx(3000.0 + 400.0 - used_after, rel=1e-9)
    # no job restarts in the shadow: the reserve is not for GPUs
    assert ev[ev["kind"] == "job_start"]["t_s"].tolist() == pytest.approx([0.0, 4000.0])


def test_brownout_loses_exactly_the_work_since_the_last_checkpoint():
    # checkpoint every 600 s of computing, 60 s to write: cycles of 660 s from the start.
    sc = scenario(1, 2.0, hardware=NO_THERMAL)
    eng = make_engine(sc, Stay(), eclipse=[(0, 1000.0, 4000.0)],
                      jobs=[job(work_gpu_h=1000.0, interval_s=600.0, checkpoint_s=60.0,
                                restore_s=30.0)])
    eng.run()
    check_invariants(eng)
    t_floor = 1000.0 + 1000.0 * 3600 * 0.95 / 3100.0
    # by t_floor: 3 full cycles (1,980 s) and 123.2 s into the 4th compute phase; the 3rd
    # checkpoint (begun at 1,920 s) holds 3 x 600 s of compute.
    computed_s = 3 * 600 + (t_floor - 3 * 660)
    lost = 4 * (computed_s - 1800.0) / 3600.0
    j = eng.jobs[0]
    assert j.work_lost_gpu_h == pytest.approx(lost, rel=1e-12)
    assert j.brownouts == 1
    # resumed at the eclipse exit (4,000 s) after a 30 s restore, from the checkpoint
    ev = eng.rec.events_frame()
    starts = ev[(ev["kind"] == "job_start")]["t_s"].tolist()
    assert starts == pytest.approx([0.0, 4000.0])
    end = eng.duration_s
    # second session: from 4,030 s, cycles of 660 s again
    x = end - 4030.0
    n = math.floor(x / 660.0)
    second = n * 600 + min(x - n * 660, 600)
    assert j.run.progress_at(end) == pytest.approx(2.0 + 4 * second / 3600.0, rel=1e-12)


class _MoveAtEclipse(Policy):
    """Place every job on satellite 0; at its eclipse entry move them to satellite 1."""

    name = "move-at-eclipse"

    def place(self, job, view):
        return 0 if view.can_host(0, job.gpus) else None

    def on_shadow(self, sats, view):
        if 0 in sats:
            return [Migrate(j.job_id, 1) for j in view.jobs_on(0)]
        return None


def test_migration_over_one_link_takes_size_over_bandwidth_plus_light_time_and_acquisition():
    # Link 0-1 opens at 95 s (1,000 km, 100 Gbps, 10 s acquisition -> usable at 105 s).  At the
    # eclipse entry (100 s) a 112 GB checkpoint is written in 2 s; the transfer requested at
    # 102 s waits 3 s for the acquisition, then takes 112 * 8 / 100 s + 1,000 km / c; the
    # restore takes 7 s.
    sc = scenario(2, 1.0, hardware=NO_THERMAL,
                  network={"topology": "none", "bandwidth_gbps": 100, "acquisition_s": 10})
    eng = make_engine(sc, _MoveAtEclipse(), eclipse=[(0, 100.0, 2000.0)],
                      isl=[(0, 1, 95.0, 3600.0, 1000.0)],
                      jobs=[job(work_gpu_h=100.0, checkpoint_gb=112.0, checkpoint_s=2.0,
                                restore_s=7.0)])
    eng.run()
    check_invariants(eng)
    light = 1000.0 / SPEED_OF_LIGHT_KM_S
    transfer_s = 112 * 8 / 100 + light + (105.0 - 102.0)   # size/bw + light + acquisition
    j = eng.jobs[0]
    assert j.sat == 1 and j.migrations == 1 and j.bytes_moved_gb == 112.0
    ev = eng.rec.events_frame()
    end = ev[ev["kind"] == "migration_end"]
    assert end["t_s"].tolist() == pytest.approx([102.0 + transfer_s + 7.0], abs=1e-9)
    assert end["value"].tolist() == pytest.approx([2.0 + transfer_s + 7.0], abs=1e-9)
    assert j.downtime_s == pytest.approx(2.0 + transfer_s + 7.0, abs=1e-9)
    # the job kept all its progress (100 s on 4 GPUs) and resumed on satellite 1
    assert j.work_lost_gpu_h == 0.0
    assert j.run.saved_gpu_h == pytest.approx(4 * 100.0 / 3600.0, rel=1e-12)
    resumed = 102.0 + transfer_s + 7.0
    assert j.run.progress_at(3600.0) == pytest.approx(4 * (100.0 + 3600.0 - resumed) / 3600.0,
                                                      rel=1e-12)


def test_failed_transfer_leaves_the_job_safe_at_its_source():
    # No link ever: the transfer waits transfer_wait_s (60 s) and fails; the job is queued on
    # satellite 0 with its checkpoint and nothing is lost.
    sc = scenario(2, 1.0, hardware=NO_THERMAL, engine={"transfer_wait_s": 60})
    eng = make_engine(sc, _MoveAtEclipse(), eclipse=[(0, 100.0, 300.0)],
                      isl=[(0, 1, 95.0, 102.0, 1000.0)],
                      jobs=[job(work_gpu_h=100.0, checkpoint_gb=10.0, checkpoint_s=5.0)])
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    assert j.migration_failures == 1 and j.work_lost_gpu_h == 0.0
    ev = eng.rec.events_frame()
    fail = ev[ev["kind"] == "migration_failed"]
    # written at 105 s, waited 60 s for a path (the link closed at 102 s during acquisition)
    assert fail["t_s"].tolist() == pytest.approx([165.0])
    assert fail["detail"].iloc[0] == "no_path"
    # resumed on satellite 0 from the checkpoint of 100 s of work (no restore time given)
    starts = ev[ev["kind"] == "job_start"]
    assert starts["t_s"].tolist() == pytest.approx([0.0, 165.0])
    assert set(starts["sat"]) == {0}
    assert j.run.progress_at(eng.duration_s) == pytest.approx(
        4 * (100.0 + eng.duration_s - 165.0) / 3600.0, rel=1e-12)


class _Bad(Policy):
    name = "bad"

    def place(self, job, view):
        return 5


def test_impossible_decision_names_policy_and_decision():
    sc = scenario(2, 1.0, hardware=NO_THERMAL)
    eng = make_engine(sc, _Bad(), jobs=[job()])
    with pytest.raises(PolicyError, match=r"policy 'bad': decision Place\(job_id=0, sat=5\)"
                                          r".*no satellite 5"):
        eng.run()


class _TooMany(Policy):
    """Every queued job on satellite 0, whether it has room or not."""

    name = "too-many"

    def schedule(self, view):
        for j in view.queued():
            yield Place(j.job_id, 0)


def test_decision_without_free_gpus_is_rejected():
    sc = scenario(1, 1.0, hardware=NO_THERMAL)
    eng = make_engine(sc, _TooMany(), jobs=[job(0), job(1, arrival_s=10.0)])
    with pytest.raises(PolicyError, match="has 0 free GPUs, the job needs 4"):
        eng.run()


def test_job_larger_than_a_satellite_fails_with_a_reason():
    sc = scenario(1, 1.0, hardware=NO_THERMAL)
    eng = make_engine(sc, Stay(), jobs=[job(gpus=8)])
    eng.run()
    check_invariants(eng)
    assert eng.jobs[0].status == "failed" and eng.jobs[0].reason.startswith("too_large")


def test_thermal_throttle_holds_the_radiator_at_its_limit():
    # A small radiator: 4 busy GPUs overheat it; the engine throttles at T_max and the node
    # then stays there (steady state) while progress slows by the throttle factor.
    hw = {"thermal": {"radiator_area_m2": 1.0, "heat_capacity_j_k": 20000.0,
                      "max_temperature_k": 320.0, "absorbed_sun_w": 0.0,
                      "absorbed_shadow_w": 0.0}}
    sc = scenario(1, 3.0, hardware=hw)
    eng = make_engine(sc, Stay(), jobs=[job(work_gpu_h=1000.0)])
    eng.run()
    check_invariants(eng)
    fl = eng.fleet
    assert fl.speed[0] < 1.0
    assert fl.temperature_k[0] == pytest.approx(320.0, abs=1e-6)
    # the load the node dissipates is what holds it at its limit (no absorbed heat here)
    node = ThermalNode(sc.hardware.thermal, temperature_k=320.0, dissipation_w=0.0)
    assert fl.load_w[0] == pytest.approx(node.allowed_dissipation_w(), rel=1e-9)
    ev = eng.rec.events_frame()
    assert (ev["kind"] == "throttle").sum() >= 1
