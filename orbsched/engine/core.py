"""The SimPy engine: satellites, jobs, migrations and policy decisions, event by event.

The engine consumes what the geometry stage computed (eclipse intervals, contact windows) as
timed events and never propagates an orbit.  Every change is an event:

* illumination edges of each satellite (eclipse entry, umbra entry/exit, eclipse exit, and
  ``engine.penumbra_steps`` steps of the illumination fraction across each penumbra);
* power thresholds the satellites announce (battery full or at its floor, radiator limit);
* link windows opening and closing (the laser network replays the contact plan);
* job arrivals, completions (computed in closed form, :mod:`orbsched.models.training`), checkpoint,
  transfer and restore phases of migrations;
* periodic samples for the time series.

Events are plain SimPy timeouts with callbacks (no generator per satellite or job), so a
simulated day costs its events.  Stale timers (a job's finish time moved by throttling, a
satellite's threshold moved by a load change) are ignored by a token check.

Policies (:mod:`orbsched.policies`) are called at the hooks described in
:mod:`orbsched.policies.api` with a read-only :class:`orbsched.engine.view.View`; every decision is
validated and applied here.

Penumbra model (SIMPLIFICATION): the illumination fraction across a penumbra of duration P is
a staircase of ``n = penumbra_steps`` levels ``1 - (k + 1/2)/n`` on entry (mirrored on exit),
each lasting P/n: the energy harvested over a linear ramp is exact for any n, and the timing
of any power threshold inside a ~10 s penumbra is off by at most P/(2n).  A grazing passage
with no umbra is one level of 0.5 for its whole duration (its true depth is not known from the
intervals; grazing passages are rare, at the edges of eclipse seasons).
"""
from __future__ import annotations

import math
import time

import numpy as np
import simpy

from ..network.laser import LaserNetwork
from ..network.linkranges import LinkRanges
from .faults import FaultsMixin
from .ground import GroundSite
from .groups import GroupsMixin
from .inference import Inference
from .moves import MovesMixin
from .hookguard import HookGuard, HookTimeout
from .recorder import Recorder
from .satellite import Satellite
from .state import (  # noqa: F401 (re-exported)
    ILLUM_KIND_NAMES,
    K_ENTRY,
    K_EXIT,
    K_STEP,
    LOSS_CAUSE,
    REDUNDANCY,
    Job,
    build_illumination_events,
)
from .view import View

__all__ = ["Engine", "Job", "build_illumination_events"]

_S_PER_H = 3600.0
_POWER_TOL_W = 1e-6


class Engine(MovesMixin, FaultsMixin, GroupsMixin):
    """One simulation run (build it with :func:`orbsched.run.simulate` for a scenario).

    Args:
        scenario: the resolved :class:`orbsched.scenario.schema.Scenario`.
        names: satellite names (fleet order).
        eclipse, umbra: :class:`orbsched.geometry.illumination.Intervals` from the geometry stage.
        isl_windows, ground_windows: contact-plan tables (or None).
        isl_rate_changes: the contact plan's rate-change table (distance-dependent link
            rates, ``network.isl_rate``), or None.
        ephemeris: the geometry stage's :class:`orbsched.geometry.ephemeris.GridEphemeris`:
            links' lengths follow the orbits (:mod:`orbsched.network.linkranges`); None keeps
            each link's length from its window's opening (0 km for ground links).
        workload: :class:`orbsched.workload.jobs.Workload`.
        policy: a :class:`orbsched.policies.api.Policy` instance.
        policy_rng: the policy's numpy Generator.
        progress: optional callable ``progress(t_s)`` called at each sample.
    """

    def __init__(self, scenario, names, eclipse, umbra, isl_windows, ground_windows, workload,
                 policy, policy_rng=None, progress=None, inference_rng=None, saa=None,
                 fault_rng=None, isl_rate_changes=None, ephemeris=None):
        self.scenario = scenario
        self.hw = hw = scenario.hardware
        self.duration_s = scenario.duration_s
        self.env = env = simpy.Environment()
        n = len(names)
        self.n_sats = n
        self.sats = [Satellite(i, names[i], hw) for i in range(n)]
        # hosts by network node: the satellites, then every ground station (a data centre's
        # GPUs, or none): orbsched.engine.ground
        dcs = {dc.station: dc for dc in getattr(scenario, "datacentres", ())}
        self.grounds = [GroundSite(n + k, g.name, dcs.get(g.name), hw)
                        for k, g in enumerate(scenario.ground_stations)]
        self.hosts = self.sats + self.grounds
        self.datacentres = tuple(g.idx for g in self.grounds if g.is_datacentre)
        self.net = LaserNetwork(env, n, [g.name for g in scenario.ground_stations],
                                options=scenario.network,
                                path_wait_s=scenario.engine.transfer_wait_s,
                                log_links=scenario.record.link_events, log_transfers=False,
                                ranges=None if ephemeris is None else LinkRanges(
                                    ephemeris, scenario.network.range_update_s))
        self._windows = (isl_windows, ground_windows, isl_rate_changes)
        self.policy = policy
        policy.rng = policy_rng if policy_rng is not None else np.random.default_rng(0)
        self.policy_name = getattr(policy, "name", type(policy).__name__)
        self._guard = HookGuard(self.policy_name, getattr(scenario.policy, "hook_budget_s",
                                                          None), lambda: self.env.now)
        self.progress = progress

        # arrays the view reads (updated at every change)
        self.free = np.full(n, hw.gpus, np.int64)
        self.state = np.zeros(n, np.int8)
        # power availability, exact at any time until the satellite's next event:
        # stored(t) = stored_wh + rate_wh_s (t - t_sync), clipped to the battery's bounds
        self.stored_wh = np.zeros(n)
        self.rate_wh_s = np.zeros(n)
        self.t_sync = np.zeros(n)
        self.payload_floor_wh = np.array([s.payload_floor_wh for s in self.sats])
        self.floor_wh = np.array([s.bus.battery.floor_wh for s in self.sats])
        self.capacity_wh = np.array([s.bus.battery.capacity_wh for s in self.sats])
        self.array_w = np.zeros(n)
        md = hw.battery.max_discharge_w
        self.max_discharge_w = np.full(n, np.inf if md is None else float(md))
        self.load = np.zeros(n)
        self.speed = np.ones(n)
        for s in self.sats:                # stored energy, rates, load: from each bus
            self._sync_supply(s)

        # illumination timeline and per-satellite eclipse predictions
        (self.il_t, self.il_sat, self.il_frac, self.il_kind,
         self.il_state) = build_illumination_events(eclipse, umbra,
                                                    scenario.engine.penumbra_steps)
        self.il_soc = np.full(len(self.il_t), np.nan)
        self.il_applied = 0          # illumination events applied so far (the recorder reads it)
        # per satellite: its own illumination event times (thresholds and job finishes beyond
        # a satellite's next illumination event are not scheduled: that event re-applies)
        by_sat = np.lexsort((self.il_t, self.il_sat))
        b = np.searchsorted(self.il_sat[by_sat], np.arange(n + 1))
        t_sorted = self.il_t[by_sat]
        self._sat_il_t = [t_sorted[b[i]:b[i + 1]].tolist() + [math.inf] for i in range(n)]
        self._sat_il_t += [[math.inf] for _ in self.grounds]
        self._sat_il_ptr = [0] * len(self.hosts)
        order = np.lexsort((eclipse.start_s, eclipse.sat))
        es, ee, esat = eclipse.start_s[order], eclipse.end_s[order], eclipse.sat[order]
        bounds = np.searchsorted(esat, np.arange(n + 1))
        self.ecl_starts = [es[bounds[i]:bounds[i + 1]].tolist() for i in range(n)]
        self.ecl_ends = [ee[bounds[i]:bounds[i + 1]].tolist() for i in range(n)]
        self._ecl_ptr = [0] * n
        self.next_entry = np.array([s[0] if s else math.inf for s in self.ecl_starts])
        self.cur_exit = np.full(n, math.inf)

        # jobs
        self.jobs = {}
        self.arrivals = []
        for spec in workload.jobs():
            job = Job(spec)
            self.jobs[job.job_id] = job
            self.arrivals.append(job)
        self.arrivals.sort(key=lambda j: (j.arrival_s, j.job_id))
        self._arr_k = 0
        self._mig_src = {}       # job_id -> source satellite of its migration
        self._reach = (-1, -1, None, None)
        # the (dist, pred) arrays view searches fill (reused: only the last search is noted)
        self.reach_buf = (np.full(self.net.n_nodes, np.inf),
                          np.full(self.net.n_nodes, -1, dtype=np.int64))
        self.queue = []          # arrival order; entries not queued any more are skipped
        self._queued = 0
        self.running_gpus = 0

        self.rec = Recorder(self)
        self.view = View(self)
        self._fault_rng = fault_rng if fault_rng is not None else np.random.default_rng(0)
        self._init_faults(scenario.faults, saa, self._fault_rng)
        self.inference = None
        if scenario.inference.services:
            st = scenario.start_utc
            hour = st.hour + st.minute / 60.0 + st.second / 3600.0 if hasattr(st, "hour") else 0.0
            self.inference = Inference(self, scenario.inference,
                                       inference_rng if inference_rng is not None
                                       else np.random.default_rng(0), hour)
        self._init_groups()
        if policy.link_events:
            self.net.listeners.append(self._on_link_change)
        self.stats = dict(events=0, illumination=0, thresholds=0, stale=0, decisions=0,
                          brownouts=0, throttles=0, wall_s=0.0)

    # ============================================================================ running
    def run(self):
        env = self.env
        env.process(self.net.replay(*self._windows))
        if len(self.il_t):
            self._at(self.il_t[0], self._on_illumination)
        if self.arrivals:
            self._at(self.arrivals[0].arrival_s, self._on_arrival)
        self._at(self.rec.sample_s if self.rec.sample_s < self.duration_s else self.duration_s,
                 self._on_sample)
        snap = self.rec.snapshot_s
        snap = self.duration_s / 2.0 if snap is None else min(snap, self.duration_s)
        self._at(snap, self.rec.take_snapshot)
        tick = self.scenario.policy.tick_s
        if tick:
            self._at(tick, self._on_tick)
        for s in self.sats:
            self._schedule_threshold(s)
        if self.inference is not None:
            self.inference.place_initial()
            self.inference.start()
        self._start_faults()
        t0 = time.perf_counter()
        try:
            env.run(until=self.duration_s)
        except HookTimeout:
            raise self._guard.timeout_error() from None
        finally:
            self._guard.close()
        self.stats["wall_s"] = time.perf_counter() - t0
        self._finish()
        return self

    def _at(self, t_s, fn, *args):
        ev = self.env.timeout(max(0.0, t_s - self.env.now))
        if args:
            ev.callbacks.append(lambda _e: fn(*args))
        else:
            ev.callbacks.append(lambda _e: fn())
        return ev

    def finish_at(self, t):
        """Close the run's state at ``t`` (the instant it stopped on an error), so the
        recorder's tables of a partial run can be written."""
        self._finish(t)

    def _finish(self, t=None):
        t = self.duration_s if t is None else t
        for g in self.grounds:
            g.touch(t)
        for s in self.sats:
            self._touch(s, t)
            s.bus.advance(t)
            if s.thermal is not None:
                s.thermal.advance(t)
        if self.rec.snapshot is None:
            self.rec.take_snapshot()
        self.net.flows.abort_all("simulation ended")
        self.rec.finish(t)

    # ====================================================================== satellites
    def _touch(self, sat, t):
        """Accumulate utilisation up to t before the satellite's GPUs or state change."""
        if sat.idx >= self.n_sats:
            sat.touch(t)            # a ground host keeps its own totals
            return
        self.rec.touch(sat.idx, sat.held, sat.state, t)

    def _sync_supply(self, sat):
        i = sat.idx
        if i >= self.n_sats:
            return
        b = sat.bus
        self.stored_wh[i] = b.stored_wh
        self.rate_wh_s[i] = b.flows().battery_rate_w / _S_PER_H
        self.t_sync[i] = b.t_s
        self.array_w[i] = b.array_w
        self.load[i] = sat.load_w()
        self.speed[i] = sat.speed
        self.free[i] = sat.free

    def _apply(self, sat, t):
        """Re-apply a satellite's state at t: throttle, brownout, thresholds, view arrays."""
        changed = sat.apply(t)
        if changed:
            self.stats["throttles"] += 1
            self.rec.event(t, "throttle", sat=sat.idx, value=sat.speed)
            self._rerate(sat, t)
        if sat.bus.deficit_w() > _POWER_TOL_W or sat.payload_short():
            self._brownout(sat, t)
        self._sync_supply(sat)
        self._schedule_threshold(sat)

    def _horizon(self, i):
        """Time of satellite i's next illumination event (inf if none)."""
        return self._sat_il_t[i][self._sat_il_ptr[i]]

    def _schedule_threshold(self, sat):
        sat.threshold_token += 1
        t = sat.next_threshold_s()
        if t < self.duration_s and t < self._horizon(sat.idx):
            self._at(t, self._on_threshold, sat, sat.threshold_token)

    def _on_threshold(self, sat, token):
        self.stats["events"] += 1
        if token != sat.threshold_token:
            self.stats["stale"] += 1
            return
        self.stats["thresholds"] += 1
        t = self.env.now
        was_floor, was_full = sat.bus.at_floor, sat.bus.is_full
        self._apply(sat, t)
        if sat.bus.at_floor and not was_floor:
            self.rec.event(t, "battery_floor", sat=sat.idx, value=sat.bus.state_of_charge)
        elif sat.bus.is_full and not was_full:
            self.rec.event(t, "battery_full", sat=sat.idx, value=sat.bus.state_of_charge)

    def _rerate(self, sat, t):
        for job in sat.jobs.values():
            if job.phase == "running":
                job.run.set_rate(t, self._rate(job, sat), job.comm_frac, job.step_wall_s)
                self._schedule_finish(job)

    def _rate(self, job, sat):
        if job.group is not None:
            return self._group_rate(job)
        return job.gpus * self.hw.gpu_speed * sat.speed / _S_PER_H

    def _brownout(self, sat, t):
        """Shed jobs (least unsaved work first) until the bus can serve the load."""
        shed = []
        while sat.bus.deficit_w() > _POWER_TOL_W or sat.payload_short():
            cands = [j for j in sat.jobs.values()
                     if j.phase in ("running", "checkpointing", "restoring")
                     and (j.sat == sat.idx if j.group is None else j.draw_slots.get(sat.idx))]
            if not cands:
                if self.inference is not None and self.inference.shed_one(sat, t):
                    sat.apply(t)
                    continue
                break
            job = min(cands, key=lambda j: (j.run.progress_at(t) - j.run.saved_at(t)
                                            if j.phase == "running" else 0.0, j.job_id))
            lost = self._stop_abrupt(job, t, "brownout", sat.idx)
            shed.append((job, lost))
            sat.apply(t)
        if shed:
            self.stats["brownouts"] += 1
            for job, lost in shed:
                job.brownouts += 1
                self.rec.event(t, "brownout", sat=sat.idx, job=job.job_id, value=lost)
            self._sync_supply(sat)
            self._schedule()

    # ==================================================================== illumination
    def _on_illumination(self):
        t = self.env.now
        k = self.il_applied
        il_t = self.il_t
        # all illumination events at this instant, then the policy hears of them at once
        entries, exits = [], False
        while k < len(il_t) and il_t[k] <= t:
            kind = self._illumination_event(k, t)
            if kind == K_ENTRY:
                entries.append(int(self.il_sat[k]))
            elif kind == K_EXIT:
                exits = True
            k += 1
        self.il_applied = k
        if entries:
            self._shadow(entries)
            for i in entries:
                sat = self.hosts[i]
                for job in [j for _, j in sorted(sat.jobs.items())
                            if j.group is not None and j.phase == "running"
                            and i in j.group.sats]:
                    self._fire_group_event(job, i, "eclipse_entry", job.token)
        if exits:
            self._schedule()
        if k < len(il_t):
            self._at(il_t[k], self._on_illumination)

    def _illumination_event(self, k, t):
        self.stats["events"] += 1
        self.stats["illumination"] += 1
        i = int(self.il_sat[k])
        sat = self.hosts[i]
        kind = int(self.il_kind[k])
        self._sat_il_ptr[i] += 1
        self._touch(sat, t)
        sat.illumination = float(self.il_frac[k])
        sat.state = int(self.il_state[k])
        self.state[i] = sat.state
        if kind == K_ENTRY:
            p = self._ecl_ptr[i]
            if p < len(self.ecl_starts[i]):
                self.cur_exit[i] = self.ecl_ends[i][p]
                self._ecl_ptr[i] = p + 1
                self.next_entry[i] = self.ecl_starts[i][p + 1] \
                    if p + 1 < len(self.ecl_starts[i]) else math.inf
        elif kind == K_EXIT:
            self.cur_exit[i] = math.inf
        self._apply(sat, t)
        for job in sat.jobs.values():
            if job.phase == "running" and not job.finish_pending:
                self._schedule_finish(job)
        if kind != K_STEP:
            self.il_soc[k] = sat.bus.state_of_charge
        return kind

    # ============================================================================== jobs
    def _on_arrival(self):
        t = self.env.now
        arr = self.arrivals
        k = self._arr_k
        while k < len(arr) and arr[k].arrival_s <= t:
            job = arr[k]
            k += 1
            self._arr_k = k
            self.stats["events"] += 1
            self.rec.event(t, "job_arrival", job=job.job_id)
            if job.slots > self.hw.gpus:
                job.spans = True        # placed over several satellites (engine_groups)
            if job.min_gpus * job.factor > self.hw.gpus * self.n_sats:
                job.status = job.phase = "failed"
                job.reason = (f"too_large: needs {job.min_gpus * job.factor} GPUs"
                              + (f" ({job.min_gpus} x {job.factor}, {job.protection})"
                                 if job.factor > 1 else "")
                              + f", the fleet has {self.hw.gpus * self.n_sats}")
                job.end_s = t
                self.rec.event(t, "job_end", job=job.job_id, detail="failed: too_large")
                continue
            self._enqueue(job)
            self._schedule()
        if k < len(arr):
            self._at(arr[k].arrival_s, self._on_arrival)

    def _enqueue(self, job):
        job.status = job.phase = "queued"
        job.queue_pos = len(self.queue)
        self.queue.append(job)
        self._queued += 1

    def _dequeue(self, job):
        self._queued -= 1
        job.queue_pos = -1
        q = self.queue
        if len(q) > 64 and self._queued < len(q) // 2:
            self.queue = [j for j in q if j.phase == "queued" and j.queue_pos >= 0]
            for pos, j in enumerate(self.queue):
                j.queue_pos = pos

    def _hold(self, sat, job, drawing: bool, t, slots=None):
        slots = job.slots if slots is None else slots
        self._touch(sat, t)
        sat.held += slots
        if drawing:
            sat.drawing += slots
        sat.jobs[job.job_id] = job
        i = sat.idx
        if i in job.holds:                      # more GPUs where it holds some already
            job.held_slot_s += job.hold_slots[i] * (t - job.holds[i])
            job.hold_slots[i] += slots
        else:
            job.hold_slots[i] = slots
        job.holds[i] = t
        if i < self.n_sats:
            self.free[i] = sat.free
        if job.paused_at == job.paused_at:       # resumed after a brownout pause
            job.eclipse_wait_gpu_h += job.gpus * (t - job.paused_at) / _S_PER_H
            job.paused_at = math.nan

    def _release(self, sat, job, drawing: bool, t, slots=None):
        i = sat.idx
        had = job.hold_slots[i]
        slots = had if slots is None else slots
        self._touch(sat, t)
        sat.held -= slots
        if drawing:
            sat.drawing -= slots
        job.held_slot_s += had * (t - job.holds[i])
        if slots >= had:
            sat.jobs.pop(job.job_id, None)
            del job.holds[i], job.hold_slots[i]
        else:
            job.hold_slots[i] = had - slots
            job.holds[i] = t
        if i < self.n_sats:
            self.free[i] = sat.free

    def _fresh(self, job, token, phase=None):
        """Count a job timer's event; False if it was superseded (stale token or phase)."""
        self.stats["events"] += 1
        if token != job.token or (phase is not None and job.phase != phase):
            self.stats["stale"] += 1
            return False
        return True

    def _start_session(self, job, sat, t):
        job.status = job.phase = "running"
        job.sat = sat.idx
        if math.isnan(job.first_start_s):
            job.first_start_s = t
        job.run.start(t, self._rate(job, sat), job.comm_frac, job.step_wall_s)
        self._schedule_finish(job)

    def _schedule_finish(self, job):
        job.token += 1
        tf = job.run.finish_time(self.env.now)
        h = self._horizon(job.sat) if job.group is None else self._group_horizon(job)
        job.finish_pending = tf < self.duration_s and tf < h
        if job.finish_pending:
            self._at(tf, self._on_finish, job, job.token)

    def _on_finish(self, job, token):
        if not self._fresh(job, token, "running"):
            return
        t = self.env.now
        job.run.stop_checkpointed(t)
        job.run.saved_gpu_h = job.work_gpu_h
        job.corrupted_results = int(bool(job.corruptions))
        sat = self.hosts[job.sat]
        job.status = job.phase = "completed"
        job.end_s = t
        job.token += 1
        self.rec.event(t, "job_end", sat=sat.idx, job=job.job_id, detail="completed")
        if sat.idx >= self.n_sats:
            sat.jobs_completed += 1
        if job.group is not None:
            self._finish_group(job, t)
        else:
            self._release(sat, job, True, t)
            self._apply(sat, t)
        self._schedule()

    @staticmethod
    def _lose_unsaved(job, t, cause):
        """End a job's session abruptly at t: it keeps its last completed checkpoint; the work
        since then (or the checkpoint being written) is lost to ``cause``.  Returns GPU-h."""
        lost = 0.0
        if job.phase == "running":
            lost = job.run.stop_abrupt(t)
            job.has_checkpoint = job.has_checkpoint or job.run.saved_gpu_h > 0.0
        elif job.phase == "checkpointing":
            lost = job.pending_gpu_h - job.run.saved_gpu_h
        job.work_lost_gpu_h += lost
        job.lost_by[cause] = job.lost_by.get(cause, 0.0) + lost
        return lost

    def _stop_abrupt(self, job, t, why, at=-1):
        """Stop a job that draws power on its satellite (brownout); it keeps its last
        checkpoint and waits in the queue.  Returns the work lost (GPU-h).  A group job
        stops as a whole (``at``: the member that stopped)."""
        if job.group is not None:
            return self._stop_group(job, t, why, job.sat if at < 0 else at)
        sat = self.hosts[job.sat]
        cause = LOSS_CAUSE.get(why, why)
        lost = self._lose_unsaved(job, t, cause)
        if cause == "brownout":
            job.paused_at = t
        self._release(sat, job, True, t)
        if job.phase == "checkpointing" and job.dst >= 0:   # migration out aborted
            dst = self.hosts[job.dst]
            self._release(dst, job, False, t)
            self._migration_failed(job, t, why)
            self._apply(dst, t)
        elif job.phase == "restoring" and job.dst >= 0:      # migration in aborted (data here)
            self._migration_failed(job, t, why)
        job.dst = -1
        job.token += 1
        self.rec.event(t, "job_pause", sat=sat.idx, job=job.job_id, detail=why)
        if not job.has_checkpoint:
            job.sat = -1        # nothing to restore: it may start again anywhere
        self._enqueue(job)
        return lost

    # ========================================================================== others
    def _on_link_change(self, up, a, b):
        if a < self.n_sats and b < self.n_sats:
            self._run("on_link_change", self.policy.on_link_change, a, b, up, self.view)

    def _on_tick(self):
        self.stats["events"] += 1
        self._run("on_tick", self.policy.on_tick, self.view)
        t = self.env.now + self.scenario.policy.tick_s
        if t < self.duration_s:
            self._at(t, self._on_tick)

    def _on_sample(self):
        self.stats["events"] += 1
        t = self.env.now
        self.rec.sample(t)
        if self.progress is not None:
            self.progress(t)
        nxt = t + self.rec.sample_s
        if nxt < self.duration_s - 1e-9:
            self._at(nxt, self._on_sample)
