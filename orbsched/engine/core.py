"""The SimPy engine: one run, event by event, over components.

The engine consumes what the geometry stage computed (eclipse intervals, contact windows, the
grid ephemeris) as timed events and never propagates an orbit.  Every change is an event:

* illumination edges (:class:`~orbsched.engine.timeline.Timeline`: eclipse entry, umbra
  entry and exit, eclipse exit, and the penumbra's steps), every edge of an instant applied
  together, then the policy told of them at once;
* power thresholds the satellites announce (battery full or at its floor, radiator limit);
* link windows opening and closing (the laser network replays the contact plan);
* job arrivals, completions (computed in closed form, :mod:`orbsched.models.training`), the
  checkpoint, transfer and restore phases of migrations;
* periodic samples for the time series.

Events are plain SimPy timeouts with callbacks (no process per satellite or job), so a
simulated day costs its events.  Stale timers (a job's finish time moved by throttling, a
satellite's threshold moved by a load change) are ignored by a token check.

Components (each owns its state; the engine wires them and owns the job lifecycle on hosts):

* :class:`~orbsched.engine.fleet.Fleet`: every satellite's power bus, battery, radiator, GPUs
  and illumination as arrays, advanced by a compiled kernel; "stored energy at t" is computed
  there and nowhere else.  Ground stations and data centres are
  :class:`~orbsched.engine.ground.GroundSite` hosts after the satellites (host index
  ``n_sats + station``);
* :class:`~orbsched.engine.timeline.Timeline`: the illumination edges and eclipse predictions;
* :class:`~orbsched.engine.jobs.JobTable`: jobs created as they arrive, and the queue;
* :class:`~orbsched.network.laser.LaserNetwork`: links, routes and flow-level transfers;
* :class:`~orbsched.engine.decisions.PolicyDriver`: the policy's hooks (through the hook
  guard) and every decision's checks; :class:`~orbsched.engine.moves.Moves`: migrations,
  pauses and replica moves; :class:`~orbsched.engine.groups.Groups`: jobs spanning
  satellites; :class:`~orbsched.engine.faults.Faults`; :class:`~orbsched.engine.inference.
  Inference`; :class:`~orbsched.engine.recorder.Recorder`; :class:`~orbsched.engine.view.View`
  (what a policy reads).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from ..network.laser import LaserNetwork
from ..network.linkranges import LinkRanges
from .decisions import PolicyDriver
from .faults import Faults
from .fleet import MUST_SHED, SPEED_CHANGED, Fleet
from .ground import GroundSite
from .groups import Groups
from .hookguard import HookTimeout
from .inference import Inference
from .jobs import DRAWING, LOSS_CAUSE, Job, JobTable, Phase, Status
from .moves import Moves
from .recorder import Recorder
from .timeline import K_ENTRY, K_EXIT, K_STEP, Timeline
from .view import View

__all__ = ["Engine", "World"]

_S_PER_H = 3600.0


@dataclass(frozen=True)
class World:
    """What the geometry stage hands the engine: the satellites' names (fleet order), their
    eclipse and umbra intervals, the contact plan's tables (ISL windows, ground windows, the
    distance-dependent rate changes), the SAA intervals (radiation) and the grid ephemeris
    (links' lengths follow the orbits; None keeps each window's opening length)."""

    names: Sequence[str]
    eclipse: Any
    umbra: Any
    isl_windows: Any = None
    ground_windows: Any = None
    isl_rate_changes: Any = None
    saa: Any = None
    ephemeris: Any = None


class Engine:
    """One simulation run (build it with :func:`orbsched.run.simulate` for a scenario).

    Args:
        scenario: the resolved :class:`orbsched.scenario.schema.Scenario`.
        world: the geometry stage's products (:class:`World`).
        workload: :class:`orbsched.workload.jobs.Workload` (streamed: jobs are created as
            they arrive).
        policy: a :class:`orbsched.policies.api.Policy` instance.
        rngs: the run's random streams by name (``policy``, ``faults``, ``inference``;
            :func:`orbsched.preflight.rng_streams`); a missing one is seeded with 0.
        progress: optional callable ``progress(t_s)`` called at each sample.
    """

    def __init__(self, scenario, world: World, workload, policy, rngs: dict | None = None,
                 progress=None) -> None:
        rngs = rngs or {}
        self.scenario = scenario
        self.hw = hw = scenario.hardware
        self.duration_s = scenario.duration_s
        self.env = env = simpy.Environment()
        self.names = list(world.names)
        n = self.n_sats = len(self.names)
        self.fleet = Fleet(hw, n)
        # hosts after the satellites: every ground station (a data centre's GPUs, or none)
        dcs = {dc.station: dc for dc in scenario.datacentres}
        self.grounds = [GroundSite(n + k, g.name, dcs.get(g.name), hw)
                        for k, g in enumerate(scenario.ground_stations)]
        self.datacentres = tuple(g.idx for g in self.grounds if g.is_datacentre)
        n_hosts = n + len(self.grounds)
        # host -> {job_id: job} holding GPUs there
        self.on_host: list[dict[int, Job]] = [{} for _ in range(n_hosts)]
        self._thr_token = [0] * n
        self.net = LaserNetwork(env, n, [g.name for g in scenario.ground_stations],
                                options=scenario.network,
                                path_wait_s=scenario.engine.transfer_wait_s,
                                log_links=scenario.record.link_events, log_transfers=False,
                                ranges=None if world.ephemeris is None else LinkRanges(
                                    world.ephemeris, scenario.network.range_update_s))
        self._windows = (world.isl_windows, world.ground_windows, world.isl_rate_changes)
        self.timeline = Timeline(world.eclipse, world.umbra, scenario.engine.penumbra_steps,
                                 n, n_hosts)
        self.jobs = JobTable(workload)
        self.policy = policy
        policy.rng = rngs.get("policy") or np.random.default_rng(0)
        self.policy_name = getattr(policy, "name", type(policy).__name__)
        self.progress = progress
        self.stats = dict(events=0, illumination=0, thresholds=0, stale=0, decisions=0,
                          brownouts=0, throttles=0, wall_s=0.0)
        self.rec = Recorder(self)
        self.view = View(self)
        self.driver = PolicyDriver(self)
        self.moves = Moves(self)
        self.faults = Faults(self, scenario.faults, world.saa,
                             rngs.get("faults") or np.random.default_rng(0))
        self.inference = None
        if scenario.inference.services:
            st = scenario.start_utc
            hour = st.hour + st.minute / 60.0 + st.second / 3600.0 if hasattr(st, "hour") else 0.0
            self.inference = Inference(self, scenario.inference,
                                       rngs.get("inference") or np.random.default_rng(0), hour)
        self.groups = Groups(self)
        if policy.link_events:
            self.net.listeners.append(self._on_link_change)

    # ============================================================================ running
    def run(self) -> Engine:
        env = self.env
        env.process(self.net.replay(*self._windows))
        if len(self.timeline):
            self.at(self.timeline.t[0], self._on_illumination)
        if self.jobs.next_arrival_s() < math.inf:
            self.at(self.jobs.next_arrival_s(), self._on_arrival)
        self.at(self.rec.sample_s if self.rec.sample_s < self.duration_s else self.duration_s,
                self._on_sample)
        snap = self.rec.snapshot_s
        snap = self.duration_s / 2.0 if snap is None else min(snap, self.duration_s)
        self.at(snap, self.rec.take_snapshot)
        tick = self.scenario.policy.tick_s
        if tick:
            self.at(tick, self._on_tick)
        for i in range(self.n_sats):
            self._schedule_threshold(i)
        if self.inference is not None:
            self.inference.place_initial()
            self.inference.start()
        self.faults.start()
        t0 = time.perf_counter()
        try:
            env.run(until=self.duration_s)
        except HookTimeout:
            raise self.driver.guard.timeout_error() from None
        finally:
            self.driver.guard.close()
        self.stats["wall_s"] = time.perf_counter() - t0
        self._finish()
        return self

    def at(self, t_s: float, fn, *args) -> simpy.Event:
        """Call ``fn(*args)`` at ``t_s`` (a SimPy timeout with a callback)."""
        ev = self.env.timeout(max(0.0, t_s - self.env.now))
        if args:
            ev.callbacks.append(lambda _e: fn(*args))
        else:
            ev.callbacks.append(lambda _e: fn())
        return ev

    def finish_at(self, t: float) -> None:
        """Close the run's state at ``t`` (the instant it stopped on an error), so the
        recorder's tables of a partial run can be written."""
        self._finish(t)

    def _finish(self, t: float | None = None) -> None:
        t = self.duration_s if t is None else t
        for g in self.grounds:
            g.touch(t)
        fl = self.fleet
        for i in range(self.n_sats):
            fl.touch(i, t)
            fl.advance(i, t)
        if self.rec.snapshot is None:
            self.rec.take_snapshot()
        self.net.flows.abort_all("simulation ended")
        self.rec.finish(t)

    # ============================================================================= hosts
    def touch(self, i: int, t: float) -> None:
        """Accumulate host i's utilisation up to t before its GPUs or state change."""
        if i < self.n_sats:
            self.fleet.touch(i, t)
        else:
            self.grounds[i - self.n_sats].touch(t)   # a ground host keeps its own totals

    def add_gpus(self, i: int, held: int = 0, drawing: int = 0, replica: int = 0) -> None:
        """Change host i's GPU counts (held, drawing active power, inference replicas)."""
        if i < self.n_sats:
            self.fleet.add_gpus(i, held, drawing, replica)
        else:
            g = self.grounds[i - self.n_sats]
            g.held += held
            g.drawing += drawing
            g.replica_gpus += replica

    def free_gpus(self, i: int) -> int:
        return int(self.fleet.free[i]) if i < self.n_sats else self.grounds[i - self.n_sats].free

    def host_name(self, i: int) -> str:
        return self.names[i] if i < self.n_sats else self.grounds[i - self.n_sats].name

    def speed(self, i: int) -> float:
        return self.fleet.speed[i] if i < self.n_sats else self.grounds[i - self.n_sats].speed

    def apply(self, i: int, t: float) -> None:
        """Re-apply satellite i's state at t: throttle, brownout, threshold (ground hosts: no
        power or heat to apply)."""
        if i >= self.n_sats:
            return
        flags = self.fleet.apply(i, t)
        if flags & SPEED_CHANGED:
            self.stats["throttles"] += 1
            self.rec.event(t, "throttle", sat=i, value=self.fleet.speed[i])
            self._rerate(i, t)
        if flags & MUST_SHED:
            self._brownout(i, t)
        self._schedule_threshold(i)

    def horizon(self, i: int) -> float:
        """Time of host i's next illumination edge (inf if none)."""
        return self.timeline.horizon(i)

    def _schedule_threshold(self, i: int) -> None:
        self._thr_token[i] += 1
        t = self.fleet.next_threshold(i)
        if t < self.duration_s and t < self.timeline.horizon(i):
            self.at(t, self._on_threshold, i, self._thr_token[i])

    def _on_threshold(self, i: int, token: int) -> None:
        self.stats["events"] += 1
        if token != self._thr_token[i]:
            self.stats["stale"] += 1
            return
        self.stats["thresholds"] += 1
        t = self.env.now
        fl = self.fleet
        was_floor, was_full = fl.at_floor(i), fl.is_full(i)
        self.apply(i, t)
        if fl.at_floor(i) and not was_floor:
            self.rec.event(t, "battery_floor", sat=i, value=fl.state_of_charge(i))
        elif fl.is_full(i) and not was_full:
            self.rec.event(t, "battery_full", sat=i, value=fl.state_of_charge(i))

    def _rerate(self, i: int, t: float) -> None:
        for job in self.on_host[i].values():
            if job.phase is Phase.RUNNING:
                job.run.set_rate(t, self.rate(job, i), job.gs.comm_frac, job.gs.step_wall_s)
                self.schedule_finish(job)

    def rate(self, job: Job, i: int) -> float:
        """Progress rate (GPU-h per second) of a job on host i now."""
        if job.gs.group is not None:
            return self.groups.rate(job)
        return job.gpus * self.hw.gpu_speed * self.speed(i) / _S_PER_H

    def _brownout(self, i: int, t: float) -> None:
        """Shed jobs (least unsaved work first) until satellite i's bus can serve its load."""
        fl = self.fleet
        shed = []
        while fl.must_shed(i):
            cands = [j for j in self.on_host[i].values() if j.phase in DRAWING
                     and (j.sat == i if j.gs.group is None else j.gs.draw_slots.get(i))]
            if not cands:
                if self.inference is not None and self.inference.shed_one(i, t):
                    fl.apply(i, t)
                    continue
                break
            job = min(cands, key=lambda j: (j.run.progress_at(t) - j.run.saved_at(t)
                                            if j.phase is Phase.RUNNING else 0.0, j.job_id))
            lost = self.stop_abrupt(job, t, "brownout", i)
            shed.append((job, lost))
            fl.apply(i, t)
        if shed:
            self.stats["brownouts"] += 1
            for job, lost in shed:
                job.brownouts += 1
                self.rec.event(t, "brownout", sat=i, job=job.job_id, value=lost)
            self.driver.schedule()

    # ====================================================================== illumination
    def _on_illumination(self) -> None:
        t = self.env.now
        tl = self.timeline
        k = tl.applied
        il_t = tl.t
        # every edge of this instant, then the policy hears of them at once
        entries, exits = [], False
        while k < len(il_t) and il_t[k] <= t:
            kind = self._illumination_edge(k, t)
            if kind == K_ENTRY:
                entries.append(int(tl.sat[k]))
            elif kind == K_EXIT:
                exits = True
            k += 1
        tl.applied = k
        if entries:
            self.driver.shadow(entries)
            for i in entries:
                for job in [j for _, j in sorted(self.on_host[i].items())
                            if j.gs.group is not None and j.phase is Phase.RUNNING
                            and i in j.gs.group.sats]:
                    self.groups.fire_event(job, i, "eclipse_entry", job.token)
        if exits:
            self.driver.schedule()
        if k < len(il_t):
            self.at(il_t[k], self._on_illumination)

    def _illumination_edge(self, k: int, t: float) -> int:
        self.stats["events"] += 1
        self.stats["illumination"] += 1
        tl = self.timeline
        i, kind = tl.passed(k)
        fl = self.fleet
        fl.touch(i, t)
        fl.set_illumination(i, float(tl.frac[k]), int(tl.state[k]))
        self.apply(i, t)
        for job in self.on_host[i].values():
            if job.phase is Phase.RUNNING and not job.finish_pending:
                self.schedule_finish(job)
        if kind != K_STEP:
            tl.soc[k] = fl.state_of_charge(i)
        return kind

    # ============================================================================== jobs
    def _on_arrival(self) -> None:
        t = self.env.now
        jobs = self.jobs
        n_gpus = self.hw.gpus * self.n_sats
        while jobs.next_arrival_s() <= t:
            job = jobs.arrive()
            self.stats["events"] += 1
            self.rec.event(t, "job_arrival", job=job.job_id)
            if job.slots > self.hw.gpus:
                job.span()              # placed over several satellites (engine.groups)
            need = job.spec.min_gpus * job.factor
            if need > n_gpus:
                jobs.end(job, Status.FAILED)
                job.reason = (f"too_large: needs {need} GPUs"
                              + (f" ({job.spec.min_gpus} x {job.factor}, "
                                 f"{job.spec.protection})" if job.factor > 1 else "")
                              + f", the fleet has {n_gpus}")
                job.end_s = t
                self.rec.event(t, "job_end", job=job.job_id, detail="failed: too_large")
                continue
            jobs.enqueue(job)
            self.driver.schedule()
        if jobs.next_arrival_s() < math.inf:
            self.at(jobs.next_arrival_s(), self._on_arrival)

    def hold(self, i: int, job: Job, drawing: bool, t: float, slots: int | None = None) -> None:
        """Job takes ``slots`` GPUs (default its own) on host i, drawing power or reserved."""
        slots = job.slots if slots is None else slots
        self.touch(i, t)
        self.add_gpus(i, slots, slots if drawing else 0)
        self.on_host[i][job.job_id] = job
        if i in job.holds:                      # more GPUs where it holds some already
            job.held_slot_s += job.hold_slots[i] * (t - job.holds[i])
            job.hold_slots[i] += slots
        else:
            job.hold_slots[i] = slots
        job.holds[i] = t
        if job.paused_at == job.paused_at:       # resumed after a brownout pause
            job.eclipse_wait_gpu_h += job.gpus * (t - job.paused_at) / _S_PER_H
            job.paused_at = math.nan

    def release(self, i: int, job: Job, drawing: bool, t: float,
                slots: int | None = None) -> None:
        """Job gives back ``slots`` GPUs (default all it holds) on host i."""
        had = job.hold_slots[i]
        slots = had if slots is None else slots
        self.touch(i, t)
        self.add_gpus(i, -slots, -slots if drawing else 0)
        job.held_slot_s += had * (t - job.holds[i])
        if slots >= had:
            self.on_host[i].pop(job.job_id, None)
            del job.holds[i], job.hold_slots[i]
        else:
            job.hold_slots[i] = had - slots
            job.holds[i] = t

    def fresh(self, job: Job, token: int, phase: Phase | None = None) -> bool:
        """Count a job timer's event; False if it was superseded (stale token or phase)."""
        self.stats["events"] += 1
        if token != job.token or (phase is not None and job.phase is not phase):
            self.stats["stale"] += 1
            return False
        return True

    def start_session(self, job: Job, i: int, t: float) -> None:
        job.status, job.phase = Status.RUNNING, Phase.RUNNING
        job.sat = i
        if math.isnan(job.first_start_s):
            job.first_start_s = t
        job.run.start(t, self.rate(job, i), job.gs.comm_frac, job.gs.step_wall_s)
        self.schedule_finish(job)

    def schedule_finish(self, job: Job) -> None:
        job.token += 1
        tf = job.run.finish_time(self.env.now)
        h = self.timeline.horizon(job.sat) if job.gs.group is None \
            else self.groups.horizon(job)
        job.finish_pending = tf < self.duration_s and tf < h
        if job.finish_pending:
            self.at(tf, self._on_finish, job, job.token)

    def _on_finish(self, job: Job, token: int) -> None:
        if not self.fresh(job, token, Phase.RUNNING):
            return
        t = self.env.now
        job.run.stop_checkpointed(t)
        job.run.saved_gpu_h = job.spec.work_gpu_h
        job.corrupted_results = int(bool(job.corruptions))
        i = job.sat
        self.jobs.end(job, Status.COMPLETED)
        job.end_s = t
        job.token += 1
        self.rec.event(t, "job_end", sat=i, job=job.job_id, detail="completed")
        if i >= self.n_sats:
            self.grounds[i - self.n_sats].jobs_completed += 1
        if job.gs.group is not None:
            self.groups.finish(job, t)
        else:
            self.release(i, job, True, t)
            self.apply(i, t)
        self.driver.schedule()

    def lose_unsaved(self, job: Job, t: float, cause: str) -> float:
        """End a job's session abruptly at t: it keeps its last completed checkpoint; the work
        since then (or the checkpoint being written) is lost to ``cause``.  Returns GPU-h."""
        lost = 0.0
        if job.phase is Phase.RUNNING:
            lost = job.run.stop_abrupt(t)
            job.has_checkpoint = job.has_checkpoint or job.run.saved_gpu_h > 0.0
        elif job.phase is Phase.CHECKPOINTING:
            lost = job.pending_gpu_h - job.run.saved_gpu_h
        self.jobs.lose(job, cause, lost)
        return lost

    def stop_abrupt(self, job: Job, t: float, why: str, at: int = -1) -> float:
        """Stop a job that draws power on its satellite (brownout, a fault); it keeps its last
        checkpoint and waits in the queue.  Returns the work lost (GPU-h).  A group job stops
        as a whole (``at``: the member that stopped)."""
        if job.gs.group is not None:
            return self.groups.stop(job, t, why, job.sat if at < 0 else at)
        i = job.sat
        cause = LOSS_CAUSE.get(why, why)
        lost = self.lose_unsaved(job, t, cause)
        if cause == "brownout":
            job.paused_at = t
        self.release(i, job, True, t)
        if job.phase is Phase.CHECKPOINTING and job.dst >= 0:   # migration out aborted
            dst = job.dst
            self.release(dst, job, False, t)
            self.moves.migration_failed(job, t, why)
            self.apply(dst, t)
        elif job.phase is Phase.RESTORING and job.dst >= 0:     # migration in aborted
            self.moves.migration_failed(job, t, why)
        job.dst = -1
        job.token += 1
        self.rec.event(t, "job_pause", sat=i, job=job.job_id, detail=why)
        if not job.has_checkpoint:
            job.sat = -1        # nothing to restore: it may start again anywhere
        self.jobs.enqueue(job)
        return lost

    # ============================================================================ others
    def _on_link_change(self, up: bool, a: int, b: int) -> None:
        if a < self.n_sats and b < self.n_sats:
            self.driver.link_change(a, b, up)

    def _on_tick(self) -> None:
        self.stats["events"] += 1
        self.driver.tick()
        t = self.env.now + self.scenario.policy.tick_s
        if t < self.duration_s:
            self.at(t, self._on_tick)

    def _on_sample(self) -> None:
        self.stats["events"] += 1
        t = self.env.now
        self.rec.sample(t)
        if self.progress is not None:
            self.progress(t)
        nxt = t + self.rec.sample_s
        if nxt < self.duration_s - 1e-9:
            self.at(nxt, self._on_sample)
