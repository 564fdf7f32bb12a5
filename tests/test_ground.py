"""Ground data centres in the fleet: energy, cost and carbon by hand, a migration down a ground
link, and the hybrid policy using orbit and ground in one run."""
import pytest
from conftest import REPO
from engine_helpers import check_invariants, job, make_engine, scenario

from orbsched import load_scenario
from orbsched.policies import Migrate, Place, Policy
from orbsched.results.folder import hybrid_summary
from orbsched.run import simulate
from orbsched.scenario.constants import SPEED_OF_LIGHT_KM_S
from orbsched.scenario.errors import PolicyError, ScenarioError

NO_THERMAL = {"thermal": None, "payload_reserve_wh": 0.0}
STATIONS = [{"name": "Quincy", "lat_deg": 47.23, "lon_deg": -119.85},
            {"name": "Plain", "lat_deg": 0.0, "lon_deg": 0.0}]
DC = [{"name": "q-dc", "station": "Quincy", "gpus": 8, "pue": 1.35, "price_usd_per_kwh": 0.10,
       "carbon_g_per_kwh": 200.0}]


class _ToGround(Policy):
    """New jobs on the data centre (host ``dc``), or on satellite 0 with ``orbit``; at the
    eclipse entry of satellite 0 its jobs move to the data centre."""

    name = "to-ground"

    def __init__(self, dc, orbit=False):
        super().__init__()
        self.dc, self.orbit = dc, orbit

    def place(self, job, view):
        site = 0 if self.orbit else self.dc
        return site if view.can_host(site, job.gpus) else None

    def on_shadow(self, sats, view):
        if 0 in sats:
            return [Migrate(j.job_id, self.dc) for j in view.jobs_on(0)]
        return None


def test_job_on_a_datacentre_energy_cost_and_carbon_by_hand():
    # 1 satellite (host 0), stations Quincy (host 1, a data centre of 8 GPUs) and Plain
    # (host 2, no GPUs).  A 4-GPU job of 2 GPU-h runs 1,800 s at nominal speed from 100 s.
    sc = scenario(1, 1.0, hardware=NO_THERMAL, ground_stations=STATIONS, datacentres=DC)
    eng = make_engine(sc, _ToGround(1), jobs=[job(work_gpu_h=2.0, arrival_s=100.0)])
    assert eng.datacentres == (1,)
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    assert j.status == "completed" and j.sat == 1
    assert j.end_s == pytest.approx(1900.0, abs=1e-9)
    dc = eng.grounds[0].summary()
    busy_wh = 700.0 * 4 * 0.5                         # 4 busy GPUs for half an hour
    idle_wh = 70.0 * (8 * 1.0 - 4 * 0.5)              # the other GPU-hours of the hour, idle
    assert dc["busy_energy_kwh"] == pytest.approx(busy_wh / 1000, rel=1e-12)
    assert dc["idle_energy_kwh"] == pytest.approx(idle_wh / 1000, rel=1e-12)
    fac = (busy_wh + idle_wh) / 1000 * 1.35
    assert dc["facility_energy_kwh"] == pytest.approx(fac, rel=1e-12)
    assert dc["cost_usd"] == pytest.approx(fac * 0.10, rel=1e-12)
    assert dc["carbon_kg"] == pytest.approx(fac * 0.200, rel=1e-12)
    assert dc["busy_gpu_h"] == pytest.approx(2.0, rel=1e-12) and dc["jobs_completed"] == 1
    frame = eng.rec.jobs_frame()
    h = hybrid_summary(eng, frame, {"used_wh": 0.0, "discharged_wh": 0.0, "harvested_wh": 0.0})
    assert h["ground"]["jobs_completed"] == 1 and h["orbit"]["jobs_completed"] == 0
    assert h["ground"]["completion_s_mean"] == pytest.approx(1800.0)


def test_migration_down_a_ground_link_to_a_datacentre():
    # Satellite 0 sees Quincy from 0 s to 3,000 s at 800 km (20 Gbps ground links, no
    # acquisition).  At its eclipse entry (600 s) a 100 GB checkpoint is written in 5 s, sent
    # down in 100 * 8 / 20 s + 800 km / c, restored in 10 s; the job finishes on the ground.
    sc = scenario(1, 1.0, hardware=NO_THERMAL, ground_stations=STATIONS, datacentres=DC,
                  network={"topology": "none", "acquisition_s": 0.0,
                           "ground_bandwidth_gbps": 20.0})
    eng = make_engine(sc, _ToGround(1, orbit=True), eclipse=[(0, 600.0, 2600.0)],
                      ground=[("Quincy", 0, 0.0, 3000.0, 800.0)],
                      jobs=[job(work_gpu_h=3.0, checkpoint_gb=100.0, checkpoint_s=5.0,
                                restore_s=10.0)])
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    down = 5.0 + 100 * 8 / 20 + 800.0 / SPEED_OF_LIGHT_KM_S + 10.0
    assert j.migrations == 1 and j.sat == 1 and j.bytes_moved_gb == 100.0
    assert j.downtime_s == pytest.approx(down, abs=1e-9)
    # 600 s in orbit on 4 GPUs, the rest of the 3 GPU-h on the ground
    assert j.status == "completed"
    assert j.end_s == pytest.approx(600.0 + down + (3.0 - 4 * 600 / 3600) * 3600 / 4, abs=1e-6)


class _PlaceOn(Policy):
    """Place every arriving job on host ``target``, whatever the view says."""

    name = "place-on"

    def __init__(self, target):
        super().__init__()
        self.target = target

    def schedule(self, view):
        for j in view.queued():
            yield Place(j.job_id, self.target)


def test_datacentre_decisions_are_checked():
    sc = scenario(1, 1.0, hardware=NO_THERMAL, ground_stations=STATIONS, datacentres=DC)
    eng = make_engine(sc, _PlaceOn(2), jobs=[job()])            # host 2: a station, no GPUs
    with pytest.raises(PolicyError, match=r"no satellite 2 .*data centres \[1\]"):
        eng.run()
    eng = make_engine(sc, _PlaceOn(1), jobs=[job(gpus=4), job(1, gpus=4), job(2, gpus=4)])
    with pytest.raises(PolicyError, match="data centre q-dc .* has 0 free GPUs"):
        eng.run()
    with pytest.raises(ScenarioError, match=r"datacentres\[0\].station: no ground station "
                                            r"'Quincyy'; did you mean 'Quincy'"):
        scenario(1, 1.0, ground_stations=STATIONS,
                 datacentres=[dict(DC[0], station="Quincyy")])


def test_hybrid_policy_uses_orbit_and_both_datacentres():
    sc = load_scenario(REPO / "configs" / "hybrid-ground.yaml")
    sc = sc.model_copy(update={"duration_h": 3.0})
    res = simulate(sc)
    check_invariants(res.engine)
    h = res.summary()["hybrid"]
    assert h["orbit"]["jobs_completed"] > 0 and h["ground"]["jobs_completed"] > 0
    assert all(d["busy_gpu_h"] > 0 for d in h["datacentres"])
    # the cheaper data centre fills first
    quincy, frankfurt = h["datacentres"]
    assert quincy["busy_gpu_h"] >= frankfurt["busy_gpu_h"]
    assert h["ground"]["cost_usd"] == pytest.approx(quincy["cost_usd"] + frankfurt["cost_usd"],
                                                    rel=1e-6)
