"""Jobs spread over several satellites: the ring all-reduce step time by hand, and what a
member's eclipse, brownout or lost link does to the group, as the policy says."""
import math

import pytest
from engine_helpers import check_invariants, job, make_engine, scenario

from orbsched.engine.groups import allreduce_s
from orbsched.policies import GroupStrategy, PlaceGroup, Policy
from orbsched.scenario.constants import SPEED_OF_LIGHT_KM_S
from orbsched.scenario.errors import PolicyError

NO_THERMAL = {"thermal": None, "payload_reserve_wh": 0.0}
C = SPEED_OF_LIGHT_KM_S
# A ring of four satellites; (a, b, start, end, range_km, rate_gbps).  No acquisition time.
RING = [(0, 1, 0.0, 1e9, 1000.0, 100.0), (1, 2, 0.0, 1e9, 500.0, 200.0),
        (2, 3, 0.0, 1e9, 1800.0, 100.0), (0, 3, 0.0, 1e9, 1500.0, 50.0)]
NET = {"topology": "none", "acquisition_s": 0.0}


class _Ring(Policy):
    """Place every job on the ring 0-1-2-3 (4 GPUs each) once all four are sunlit and can
    host it, and the ring closes."""

    name = "ring"

    def __init__(self, sats=(0, 1, 2, 3), gpus=(4, 4, 4, 4)):
        super().__init__()
        self.groups = _RingGroups(self, sats, gpus)


class _RingGroups(GroupStrategy):
    """Groups go on the fixed ring ``sats`` (``gpus`` each) when all can host and are lit."""

    def __init__(self, policy, sats, gpus):
        super().__init__(policy)
        self.sats, self.gpus = sats, gpus

    def place(self, job, view):
        if all(view.can_host(s, g) and view.sunlit[s] for s, g in zip(self.sats, self.gpus)) \
                and view.ring(self.sats) is not None:
            return PlaceGroup(job.job_id, self.sats, self.gpus)
        return None


def _group_job(**kw):
    base = dict(gpus=16, work_gpu_h=1000.0, gradient_gb=10.0, step_s=5.0)
    base.update(kw)
    return job(**base)


def test_four_satellite_ring_step_time_by_hand():
    # k = 4 members; slowest hop 50 Gbps (3-0), longest hop 1,800 km (2-3):
    # all-reduce = 2 * 3/4 * 10 GB * 8 / 50 Gbps + 2 * 3 * 1800 km / c = 2.4 s + 36.0 ms;
    # compute = 5 s (16 GPUs at nominal speed); efficiency 5 / (5 + m).
    comm = 2 * 3 / 4 * 10 * 8 / 50 + 2 * 3 * 1800.0 / C
    assert allreduce_s(4, 10.0, 50.0, 1800.0 / C) == pytest.approx(comm, rel=1e-15)
    assert comm == pytest.approx(2.436025, abs=1e-6)
    sc = scenario(4, 1.0, hardware=NO_THERMAL, network=NET)
    eng = make_engine(sc, _Ring(), isl=RING, jobs=[_group_job(arrival_s=100.0)])
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    assert j.gs.group.sats == (0, 1, 2, 3) and j.gs.group.bw_gbps == 50.0
    assert j.gs.group.hop_s == pytest.approx(1800.0 / C, rel=1e-15)
    assert j.gs.step_wall_s == pytest.approx(5.0 + comm, rel=1e-12)
    # progress: 16 GPUs x 5 s of nominal work per step of 5 s + comm
    t_run = 3600.0 - 100.0
    assert j.run.progress_at(3600.0) == pytest.approx(16 * 5.0 / 3600.0 * t_run / (5.0 + comm),
                                                      rel=1e-12)
    # the results table splits the step into compute and communication
    f = eng.rec.jobs_frame().set_index("job_id")
    assert f.loc[0, "step_compute_s"] == pytest.approx(5.0, rel=1e-9)
    assert f.loc[0, "step_comm_s"] == pytest.approx(comm, rel=1e-9)
    assert f.loc[0, "scaling_efficiency"] == pytest.approx(5.0 / (5.0 + comm), rel=1e-9)
    assert f.loc[0, "members_max"] == 4
    # every member holds and draws 4 GPUs
    assert eng.fleet.drawing.tolist() == [4, 4, 4, 4]


@pytest.mark.parametrize("action", ["pause", "shrink"])
def test_member_eclipse_pauses_or_shrinks_the_group_as_the_policy_says(action):
    # Satellite 2 is in shadow from 1,000 s to 1,600 s.  The job may shrink to 12 GPUs.
    pol = _Ring()
    pol.groups.on_eclipse = action
    sc = scenario(4, 1.0, hardware=NO_THERMAL, network=NET)
    eng = make_engine(sc, pol, isl=RING, eclipse=[(2, 1000.0, 1600.0)],
                      jobs=[_group_job(arrival_s=100.0, min_gpus=12, checkpoint_gb=40.0,
                                       checkpoint_s=5.0, restore_s=8.0)])
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    ev = eng.rec.events_frame()
    comm4 = 2 * 3 / 4 * 10 * 8 / 50 + 2 * 3 * 1800.0 / C
    rate4 = 16 * 5.0 / 3600.0 / (5.0 + comm4)
    assert j.work_lost_gpu_h == 0.0                      # planned: checkpoint first
    if action == "pause":
        pause = ev[ev["kind"] == "job_pause"]
        assert pause["t_s"].tolist() == pytest.approx([1005.0]) and \
            pause["detail"].tolist() == ["policy"]
        # back on the same four at the eclipse exit (no shard moves), after the restore
        starts = ev[ev["kind"] == "job_start"]["t_s"].tolist()
        assert starts == pytest.approx([100.0, 1600.0])
        assert j.gs.group.sats == (0, 1, 2, 3) and j.bytes_moved_gb == 0.0
        expect = rate4 * ((1000.0 - 100.0) + (3600.0 - 1608.0))
    else:
        # 1,000-1,005 s checkpoint; then the ring 0-1-3: hop 1->3 goes 1-2-3 (2,300 km,
        # 100 Gbps), the slowest hop is 3-0 (50 Gbps); 12 GPUs compute the same global batch
        # in 5 * 16 / 12 s; restore 8 s (members keep their shards).
        assert j.gs.group.sats == (0, 1, 3) and sum(j.gs.group.gpus) == 12
        assert j.gs.reshapes == 1
        comm3 = 2 * 2 / 3 * 10 * 8 / 50 + 2 * 2 * 2300.0 / C
        assert j.gs.step_wall_s == pytest.approx(5.0 * 16 / 12 + comm3, rel=1e-12)
        rate3 = 16 * 5.0 / 3600.0 / (5.0 * 16 / 12 + comm3)
        expect = rate4 * (1000.0 - 100.0) + rate3 * (3600.0 - 1013.0)
        assert j.downtime_s == pytest.approx(13.0, abs=1e-9)
    assert j.run.progress_at(3600.0) == pytest.approx(expect, rel=1e-12)


def test_member_brownout_stops_the_group_and_it_goes_on_without_that_member():
    # Satellite 2 in shadow from 1,000 s to 4,000 s: its battery reaches the floor at
    # 1,000 + 1,000 Wh * 3600 * 0.95 / 3,100 W; the group (checkpoint every 600 s of compute,
    # 10 s to write, from its start at 100 s) loses the compute since its last checkpoint, then
    # goes on with 12 GPUs on 0-1-3 ('shrink' after a loss) after the 8 s restore.
    pol = _Ring()
    pol.groups.on_loss = "shrink"
    sc = scenario(4, 1.5, hardware=NO_THERMAL, network=NET)
    eng = make_engine(sc, pol, isl=RING, eclipse=[(2, 1000.0, 4000.0)],
                      jobs=[_group_job(arrival_s=100.0, min_gpus=12, checkpoint_gb=40.0,
                                       interval_s=600.0, checkpoint_s=10.0, restore_s=8.0)])
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    t_b = 1000.0 + 1000.0 * 3600 * 0.95 / 3100.0
    comm4 = 2 * 3 / 4 * 10 * 8 / 50 + 2 * 3 * 1800.0 / C
    rate4 = 16 * 5.0 / 3600.0 / (5.0 + comm4)
    x = t_b - 100.0
    n = math.floor(x / 610.0)
    computed = n * 600.0 + min(x - n * 610.0, 600.0)
    assert j.work_lost_gpu_h == pytest.approx(rate4 * (computed - n * 600.0), rel=1e-9)
    assert j.lost_by == {"brownout": pytest.approx(j.work_lost_gpu_h)}
    assert j.gs.pauses_by == {"brownout": 1}
    ev = eng.rec.events_frame()
    stop = ev[ev["kind"] == "job_pause"]
    assert stop["t_s"].tolist() == pytest.approx([t_b], abs=1e-6)
    assert stop["sat"].tolist() == [2]
    assert ev[ev["kind"] == "job_start"]["t_s"].tolist() == pytest.approx([100.0, t_b])
    assert j.gs.group.sats == (0, 1, 3)
    assert j.run.saved_gpu_h == pytest.approx(rate4 * n * 600.0, rel=1e-9)


def test_ring_link_requirements_and_bad_members_are_rejected():
    sc = scenario(4, 1.0, hardware=NO_THERMAL, network=NET)
    eng = make_engine(sc, _Ring(), isl=RING,
                      jobs=[_group_job(arrival_s=100.0, min_link_gbps=60.0)])
    with pytest.raises(PolicyError, match="slowest hop gives 50 Gbps.*needs 60"):
        eng.run()
    eng = make_engine(sc, _Ring(gpus=(4, 4, 4, 2)), isl=RING, jobs=[_group_job(arrival_s=1.0)])
    with pytest.raises(PolicyError, match="give 14 GPUs.*between 16"):
        eng.run()
    blind = _Ring()
    blind.groups.place = lambda job, view: PlaceGroup(job.job_id, (0, 1, 2, 3))
    eng = make_engine(sc, blind, isl=RING[:2], jobs=[_group_job(arrival_s=1.0)])
    with pytest.raises(PolicyError, match="no usable laser path from satellite 2 to 3"):
        eng.run()


def test_lost_link_stops_the_group_which_waits_while_no_ring_closes():
    # The 2-3 link closes at 2,000 s: hop 2->3 re-routes 2-1-0-3 (3,000 km, 50 Gbps) and the
    # group goes on; the 0-3 link closing at 2,500 s leaves no way round: link_lost.
    isl = [RING[0], RING[1], (2, 3, 0.0, 2000.0, 1800.0, 100.0), (0, 3, 0.0, 2500.0, 1500.0, 50.0)]
    sc = scenario(4, 1.0, hardware=NO_THERMAL, network=NET)
    eng = make_engine(sc, _Ring(), isl=isl, jobs=[_group_job(arrival_s=100.0)])
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    ev = eng.rec.events_frame()
    stop = ev[ev["kind"] == "job_pause"]
    assert stop["t_s"].tolist() == pytest.approx([2500.0]) and \
        stop["detail"].tolist() == ["link_lost"]
    assert j.gs.pauses_by == {"link_lost": 1}
    assert j.status == "queued"          # no ring can be closed any more
    comm_a = 2 * 3 / 4 * 10 * 8 / 50 + 2 * 3 * 1800.0 / C
    comm_b = 2 * 3 / 4 * 10 * 8 / 50 + 2 * 3 * 3000.0 / C
    r = 16 * 5.0 / 3600.0
    assert j.run.produced_gpu_h == pytest.approx(r * (1900.0 / (5 + comm_a)
                                                      + 500.0 / (5 + comm_b)), rel=1e-12)


def test_default_policy_spreads_a_large_job_over_the_nearest_sunlit_satellites():
    # greedy-sunlit places a 16-GPU job on four 4-GPU satellites, nearest first from the
    # seed; a member entering eclipse is replaced by a sunlit one (its shard moves there).
    isl = RING + [(2, 4, 0.0, 1e9, 700.0, 100.0), (3, 4, 0.0, 1e9, 900.0, 100.0)]
    sc = scenario(5, 1.0, hardware=NO_THERMAL, network=NET, policy="greedy-sunlit")
    from orbsched.policies import load_policy
    eng = make_engine(sc, load_policy("greedy-sunlit"), isl=isl,
                      eclipse=[(1, 1000.0, 3000.0)],
                      jobs=[_group_job(arrival_s=10.0, checkpoint_gb=40.0, checkpoint_s=4.0,
                                       restore_s=6.0)])
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    assert j.status == "running" and len(j.gs.group.sats) == 4
    assert 1 not in j.gs.group.sats and j.gs.reshapes == 1
    assert j.bytes_moved_gb == pytest.approx(10.0)        # one 4-GPU shard of 40 GB


def test_a_ring_link_changing_rate_and_range_re_rates_the_group():
    # At 1,000 s the 0-3 link (the slowest hop) drops from 50 to 25 Gbps and stretches from
    # 1,500 km to 2,100 km (as a formation's distance-dependent links do): B = 25 Gbps,
    # L = 2,100 km / c from then on.
    sc = scenario(4, 1.0, hardware=NO_THERMAL, network=NET)
    eng = make_engine(sc, _Ring(), isl=RING, jobs=[_group_job(arrival_s=100.0)],
                      rates=[(1000.0, 0, 3, 25.0, 2100.0)])
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    comm_a = 2 * 3 / 4 * 10 * 8 / 50 + 2 * 3 * 1800.0 / C
    comm_b = 2 * 3 / 4 * 10 * 8 / 25 + 2 * 3 * 2100.0 / C
    assert j.gs.group.bw_gbps == 25.0 and j.gs.group.hop_s == pytest.approx(2100.0 / C, rel=1e-12)
    r = 16 * 5.0 / 3600.0
    assert j.run.progress_at(3600.0) == pytest.approx(
        r * (900.0 / (5 + comm_a) + 2600.0 / (5 + comm_b)), rel=1e-12)


def test_a_failed_shard_transfer_leaves_the_group_queued_on_its_former_members():
    # greedy-sunlit replaces member 1 (eclipse 1,000-3,000 s) by satellite 4; the links to 4
    # close right after the decision, so its shard (10 GB from the anchor) never arrives: the
    # start fails after transfer_wait_s, the job waits with its checkpoint on 0-1-2-3 and
    # resumes there at the eclipse exit.
    from orbsched.policies import load_policy
    isl = RING + [(2, 4, 0.0, 1000.5, 700.0, 100.0), (3, 4, 0.0, 1000.5, 900.0, 100.0)]
    sc = scenario(5, 1.0, hardware=NO_THERMAL, network=NET, engine={"transfer_wait_s": 60})
    eng = make_engine(sc, load_policy("greedy-sunlit"), isl=isl, eclipse=[(1, 1000.0, 3000.0)],
                      jobs=[_group_job(arrival_s=10.0, checkpoint_gb=40.0, checkpoint_s=0.2,
                                       restore_s=6.0)])
    eng.run()
    check_invariants(eng)
    j = eng.jobs[0]
    ev = eng.rec.events_frame()
    failed = ev[ev["kind"] == "migration_failed"]
    assert len(failed) == 1 and failed["detail"].iloc[0].startswith("shard:")
    assert j.migration_failures == 1 and j.work_lost_gpu_h == 0.0
    assert j.status == "running" and set(j.gs.group.sats) == {0, 1, 2, 3}
    starts = ev[ev["kind"] == "job_start"]["t_s"].tolist()
    assert starts[-1] == pytest.approx(3000.0)


def test_reshaping_a_job_that_runs_on_one_satellite_is_rejected():
    from orbsched.policies import Place, Replace
    from orbsched.scenario.errors import PolicyError

    class _One(Policy):
        name = "one"

        def schedule(self, view):
            for j in view.queued():
                yield Place(j.job_id, 0)
                yield Replace(j.job_id, 0, 1)
    sc = scenario(2, 1.0, hardware=NO_THERMAL, network=NET)
    eng = make_engine(sc, _One(), isl=RING[:1], jobs=[job(gpus=4)])
    with pytest.raises(PolicyError, match="runs on one satellite, not as a group"):
        eng.run()


def test_a_group_is_not_placed_where_its_checkpoint_shards_cannot_reach():
    """Found by tests/test_random_scenarios.py: the random policy (queued jobs may move) asked
    to place a group whose checkpoint is on satellite 0 on members with no laser path from
    0, which the engine rightly rejects; the group strategy now waits instead."""
    from engine_helpers import check_invariants

    from orbsched.run import simulate
    from orbsched.scenario.schema import scenario_from_dict

    sc = scenario_from_dict({
        "name": "random", "start_utc": "2024-03-20T00:00:00Z", "duration_h": 1.5,
        "step_s": 30.0, "seed": 1,
        "constellations": [{"type": "walker", "name": "w", "planes": 2, "sats_per_plane": 2,
                            "phasing": 1, "altitude_km": 1200.0, "inclination_deg": 97.6}],
        "network": {"topology": "nearest-k", "terminals": 1, "max_range_km": 6000.0},
        "hardware": {"gpus": 1, "gpu_active_w": 300.0, "gpu_idle_w": 30.0, "bus_w": 50.0,
                     "solar": {"area_m2": 3.0},
                     "battery": {"capacity_wh": 2000.0, "max_depth_of_discharge": 0.2},
                     "initial_soc": 0.8, "payload_reserve_wh": 0.0},
        "workload": {"type": "synthetic", "n_jobs": 4, "rate_per_h": 200.0,
                     "params": {"gpu_sizes": [1, 2, 4, 8, 16]}},
        "policy": {"name": "random", "options": {"group_on_eclipse": "pause",
                                                 "group_on_loss": "wait"}},
        "engine": {"penumbra_steps": 1}, "record": {"sample_s": 120.0}})
    res = simulate(sc)
    check_invariants(res.engine)
