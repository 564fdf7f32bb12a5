"""The SimPy engine: satellites, jobs, migrations and policy decisions, event by event.

The engine consumes what the geometry stage computed (eclipse intervals, contact windows) as
timed events and never propagates an orbit.  Every change is an event:

* illumination edges of each satellite (eclipse entry, umbra entry/exit, eclipse exit, and
  ``engine.penumbra_steps`` steps of the illumination fraction across each penumbra);
* power thresholds the satellites announce (battery full or at its floor, radiator limit);
* link windows opening and closing (the laser network replays the contact plan);
* job arrivals, completions (computed in closed form, :mod:`orbsched.jobs`), checkpoint,
  transfer and restore phases of migrations;
* periodic samples for the time series.

Events are plain SimPy timeouts with callbacks (no generator per satellite or job), so a
simulated day costs its events.  Stale timers (a job's finish time moved by throttling, a
satellite's threshold moved by a load change) are ignored by a token check.

Policies (:mod:`orbsched.policies`) are called at the hooks described in
:mod:`orbsched.policies.base` with a read-only :class:`orbsched.view.View`; every decision is
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

from .engine_faults import FaultsMixin
from .engine_groups import GroupsMixin
from .errors import PolicyError
from .jobs import JobRun
from .network import LaserNetwork
from .policies.base import (Migrate, MoveReplica, Pause, Place, PlaceGroup, Replace, Reshape,
                           Shrink)
from .recorder import Recorder
from .satellite import PENUMBRA, SUNLIT, UMBRA, Satellite
from .view import View

__all__ = ["Engine", "Job", "build_illumination_events"]

_S_PER_H = 3600.0
#: GPUs per logical GPU for each protection mode (duplex: 2 copies compare; TMR: 3 vote).
REDUNDANCY = {"none": 1, "duplex": 2, "tmr": 3}
# illumination event kinds
K_ENTRY, K_STEP, K_UMBRA_IN, K_UMBRA_OUT, K_EXIT = 0, 1, 2, 3, 4
ILLUM_KIND_NAMES = ("eclipse_entry", "penumbra_step", "umbra_entry", "umbra_exit",
                    "eclipse_exit")
_POWER_TOL_W = 1e-6
#: What a stop's reason counts as in the work-lost breakdown.
LOSS_CAUSE = {"brownout": "brownout", "host_reboot": "radiation", "radiation": "radiation",
              "gpu_fail": "failure", "satellite_fail": "failure", "failure": "failure"}


def build_illumination_events(eclipse, umbra, penumbra_steps: int = 1):
    """Time-ordered illumination changes from eclipse and umbra intervals.

    Returns arrays ``t_s, sat, fraction, kind, state`` (kind: index into
    :data:`ILLUM_KIND_NAMES`; state: SUNLIT/PENUMBRA/UMBRA after the event) and, per
    satellite, the sorted eclipse starts and ends (for the view's predictions).
    """
    n = int(penumbra_steps)
    ts, sats, fr, kinds, states = [], [], [], [], []
    # Pair each umbra with the eclipse passage that contains it.
    u_sat, u_start, u_end = umbra.sat, umbra.start_s, umbra.end_s
    order_u = np.lexsort((u_start, u_sat))
    u_sat, u_start, u_end = u_sat[order_u], u_start[order_u], u_end[order_u]
    order_e = np.lexsort((eclipse.start_s, eclipse.sat))
    e_sat, e_start, e_end = eclipse.sat[order_e], eclipse.start_s[order_e], eclipse.end_s[order_e]
    # umbra index per eclipse: the umbra of the same satellite that starts inside it
    key_e = e_sat.astype(float) * 1e9 + e_start
    key_u = u_sat.astype(float) * 1e9 + u_start
    pos = np.searchsorted(key_e, key_u, side="right") - 1
    has_u = np.full(len(e_sat), -1)
    ok = (pos >= 0)
    ok[ok] &= (e_sat[pos[ok]] == u_sat[ok]) & (u_start[ok] <= e_end[pos[ok]] + 1e-6)
    has_u[pos[ok]] = np.flatnonzero(ok)
    for k in range(len(e_sat)):
        s, e, i = float(e_start[k]), float(e_end[k]), int(e_sat[k])
        j = has_u[k]
        if j < 0:
            ts += [s, e]
            sats += [i, i]
            fr += [0.5, 1.0]
            kinds += [K_ENTRY, K_EXIT]
            states += [PENUMBRA, SUNLIT]
            continue
        us, ue = float(u_start[j]), float(u_end[j])
        for m in range(n):
            ts.append(s + m * (us - s) / n)
            fr.append(1.0 - (m + 0.5) / n)
            kinds.append(K_ENTRY if m == 0 else K_STEP)
            states.append(PENUMBRA)
        ts.append(us)
        fr.append(0.0)
        kinds.append(K_UMBRA_IN)
        states.append(UMBRA)
        for m in range(n):
            ts.append(ue + m * (e - ue) / n)
            fr.append((m + 0.5) / n)
            kinds.append(K_UMBRA_OUT if m == 0 else K_STEP)
            states.append(PENUMBRA)
        ts.append(e)
        fr.append(1.0)
        kinds.append(K_EXIT)
        states.append(SUNLIT)
        sats += [i] * (2 * n + 2)
    t = np.asarray(ts, float)
    order = np.lexsort((np.arange(len(t)), t))  # stable in time, per-passage order kept
    return (t[order], np.asarray(sats, np.int64)[order], np.asarray(fr, float)[order],
            np.asarray(kinds, np.int8)[order], np.asarray(states, np.int8)[order])


class Job:
    """Engine-side state of one training job (policies see it through a read-only view)."""

    __slots__ = ("job_id", "name", "arrival_s", "gpus", "work_gpu_h", "checkpoint_gb",
                 "checkpoint_interval_s", "checkpoint_s", "restore_s", "run", "status", "phase",
                 "sat", "dst", "token", "first_start_s", "end_s", "reason", "migrations",
                 "migration_failures", "bytes_moved_gb", "downtime_s", "work_lost_gpu_h",
                 "brownouts", "down_since", "pending_gpu_h", "has_checkpoint", "queue_pos",
                 "finish_pending", "hint", "protection", "factor", "slots", "lost_by", "holds",
                 "held_slot_s", "corruptions", "corrupted_results", "detected", "masked",
                 "paused_at", "eclipse_wait_gpu_h", "min_gpus", "step_s", "gradient_gb",
                 "min_link_gbps", "max_link_latency_s", "spans", "group", "members",
                 "member_gpus", "next_group", "pending_shards", "hold_slots", "draw_slots",
                 "prev_members", "prev_gpus", "prev_anchor", "pauses_by", "reshapes",
                 "max_members", "comm_frac", "step_wall_s")

    def __init__(self, spec):
        for name in ("job_id", "name", "arrival_s", "gpus", "work_gpu_h", "checkpoint_gb",
                     "checkpoint_interval_s", "checkpoint_s", "restore_s", "min_gpus"):
            setattr(self, name, getattr(spec, name))
        self.step_s = getattr(spec, "step_s", 10.0)
        self.gradient_gb = getattr(spec, "gradient_gb", None)
        if self.gradient_gb is None or self.gradient_gb != self.gradient_gb:
            self.gradient_gb = self.checkpoint_gb / 8.0
        self.min_link_gbps = getattr(spec, "min_link_gbps", 0.0)
        self.max_link_latency_s = getattr(spec, "max_link_latency_s", math.inf)
        # spanning satellites (orbsched.engine_groups)
        self.spans = False          # larger than a satellite, or placed as a group
        self.group = None           # Group while it holds members
        self.members = ()           # its satellites (ring order); checkpoint shards if queued
        self.member_gpus = ()
        self.next_group = None      # (sats, gpus, ring) after the checkpoint of a reshape
        self.pending_shards = 0
        self.hold_slots = {}        # satellite -> GPUs held there (copies included)
        self.draw_slots = {}        # satellite -> GPUs drawing there (groups only)
        self.prev_members, self.prev_gpus, self.prev_anchor = (), (), -1
        self.pauses_by = {}         # cause -> abrupt or policy stops of a group
        self.reshapes = 0
        self.max_members = 1
        self.comm_frac, self.step_wall_s = 0.0, math.nan
        self.run = JobRun(spec.work_gpu_h, spec.checkpoint_interval_s, spec.checkpoint_s)
        self.status = "pending"   # before arrival
        self.phase = "pending"    # queued | running | restoring | checkpointing | transferring
        self.sat = -1             # where it runs, or where its checkpoint is when queued
        self.dst = -1
        self.token = 0
        self.first_start_s = math.nan
        self.end_s = math.nan
        self.reason = ""
        self.migrations = 0
        self.migration_failures = 0
        self.bytes_moved_gb = 0.0
        self.downtime_s = 0.0
        self.work_lost_gpu_h = 0.0
        self.brownouts = 0
        self.down_since = math.nan
        self.pending_gpu_h = 0.0
        self.has_checkpoint = False
        self.queue_pos = -1
        self.finish_pending = False
        self.hint = None
        self.protection = getattr(spec, "protection", "none")
        self.factor = REDUNDANCY[self.protection]
        self.slots = self.gpus * self.factor      # GPUs it occupies (copies included)
        self.lost_by = {}                         # cause -> GPU-h of work lost
        self.holds = {}                           # satellite -> time its GPUs were taken
        self.held_slot_s = 0.0                    # GPU-seconds held, copies included
        self.corruptions = []                     # progress levels of silent corruptions
        self.corrupted_results = 0
        self.detected = 0
        self.masked = 0
        self.paused_at = math.nan
        self.eclipse_wait_gpu_h = 0.0

    def __repr__(self):
        return (f"Job({self.job_id}, {self.status}/{self.phase}, sat={self.sat}, "
                f"gpus={self.gpus}, work={self.work_gpu_h:.3f} GPU-h)")


class Engine(FaultsMixin, GroupsMixin):
    """One simulation run (build it with :func:`orbsched.run.simulate` for a scenario).

    Args:
        scenario: the resolved :class:`orbsched.config.Scenario`.
        names: satellite names (fleet order).
        eclipse, umbra: :class:`orbsched.illumination.Intervals` from the geometry stage.
        isl_windows, ground_windows: contact-plan tables (or None).
        isl_rate_changes: the contact plan's rate-change table (distance-dependent link
            rates, ``network.isl_rate``), or None.
        workload: :class:`orbsched.workload.Workload`.
        policy: a :class:`orbsched.policies.base.Policy` instance.
        policy_rng: the policy's numpy Generator.
        progress: optional callable ``progress(t_s)`` called at each sample.
    """

    def __init__(self, scenario, names, eclipse, umbra, isl_windows, ground_windows, workload,
                 policy, policy_rng=None, progress=None, inference_rng=None, saa=None,
                 fault_rng=None, isl_rate_changes=None):
        self.scenario = scenario
        self.hw = hw = scenario.hardware
        self.duration_s = scenario.duration_s
        self.env = env = simpy.Environment()
        n = len(names)
        self.n_sats = n
        self.sats = [Satellite(i, names[i], hw) for i in range(n)]
        # hosts by network node: the satellites, then every ground station (a data centre's
        # GPUs, or none): orbsched.ground
        from .ground import GroundSite
        dcs = {dc.station: dc for dc in getattr(scenario, "datacentres", ())}
        self.grounds = [GroundSite(n + k, g.name, dcs.get(g.name), hw)
                        for k, g in enumerate(scenario.ground_stations)]
        self.hosts = self.sats + self.grounds
        self.datacentres = tuple(g.idx for g in self.grounds if g.is_datacentre)
        self.net = LaserNetwork(env, n, [g.name for g in scenario.ground_stations],
                                options=scenario.network,
                                path_wait_s=scenario.engine.transfer_wait_s,
                                log_links=scenario.record.link_events)
        self._windows = (isl_windows, ground_windows, isl_rate_changes)
        self.policy = policy
        policy.rng = policy_rng if policy_rng is not None else np.random.default_rng(0)
        self.policy_name = getattr(policy, "name", type(policy).__name__)
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
        self._il_k = 0
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
        self._reach = (-1, -1, {}, {})
        self.queue = []          # arrival order; entries not queued any more are skipped
        self._queued = 0
        self.running_gpus = 0

        self.rec = Recorder(self)
        self.view = View(self)
        self._fault_rng = fault_rng if fault_rng is not None else np.random.default_rng(0)
        self._init_faults(scenario.faults, saa, self._fault_rng)
        self.inference = None
        if scenario.inference.services:
            from .inference import Inference
            st = scenario.start_utc
            hour = st.hour + st.minute / 60.0 + st.second / 3600.0 if hasattr(st, "hour") else 0.0
            self.inference = Inference(self, scenario.inference,
                                       inference_rng if inference_rng is not None
                                       else np.random.default_rng(0), hour)
        self._hooks = {name: getattr(policy, name, None) for name in
                       ("on_job_arrival", "on_power_change", "on_job_end", "on_migration_end",
                        "on_link_change", "on_tick", "on_group_event")}
        self._init_groups()
        from .policies.base import Policy
        if type(policy).on_link_change is not Policy.on_link_change:
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
        env.run(until=self.duration_s)
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

    def _finish(self):
        t = self.duration_s
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
            self._call("on_power_change", sat.idx, "brownout")

    # ==================================================================== illumination
    def _on_illumination(self):
        t = self.env.now
        k = self._il_k
        il_t = self.il_t
        # all illumination events at this instant
        while k < len(il_t) and il_t[k] <= t:
            self._illumination_event(k, t)
            k += 1
        self._il_k = k
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
            self._call("on_power_change", i, ILLUM_KIND_NAMES[kind])
            if kind == K_ENTRY:
                for job in [j for _, j in sorted(sat.jobs.items())
                            if j.group is not None and j.phase == "running"
                            and i in j.group.sats]:
                    self._fire_group_event(job, i, "eclipse_entry", job.token)

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
            self._call("on_job_arrival", job.job_id)
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
        self._call("on_job_end", job.job_id)

    def _stop_abrupt(self, job, t, why, at=-1):
        """Stop a job that draws power on its satellite (brownout); it keeps its last
        checkpoint and waits in the queue.  Returns the work lost (GPU-h).  A group job
        stops as a whole (``at``: the member that stopped)."""
        if job.group is not None:
            return self._stop_group(job, t, why, job.sat if at < 0 else at)
        sat = self.hosts[job.sat]
        lost = 0.0
        if job.phase == "running":
            lost = job.run.stop_abrupt(t)
            job.has_checkpoint = job.has_checkpoint or job.run.saved_gpu_h > 0.0
        elif job.phase == "checkpointing":
            lost = job.pending_gpu_h - job.run.saved_gpu_h
        job.work_lost_gpu_h += lost
        cause = LOSS_CAUSE.get(why, why)
        job.lost_by[cause] = job.lost_by.get(cause, 0.0) + lost
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

    # ====================================================================== decisions
    def _call(self, hook, *args):
        fn = self._hooks[hook]
        if fn is None:
            return
        if hook in ("on_job_arrival", "on_job_end", "on_migration_end"):
            args = (self.view.job(args[0]),) + args[1:]
        out = fn(*args, self.view)
        if out is None:
            return
        for d in out:
            self._decide(d)

    def _reject(self, d, why):
        raise PolicyError(f"policy '{self.policy_name}': decision {d!r} at t = "
                          f"{self.env.now:.3f} s rejected: {why}")

    def _check_host(self, d, sat_i, gpus, what):
        """Reject ``d`` unless satellite ``sat_i`` exists, works, and has ``gpus`` free GPUs
        and the power to run them now; ``what`` names who needs them."""
        if isinstance(sat_i, bool) or not isinstance(sat_i, (int, np.integer)) \
                or not 0 <= sat_i < len(self.hosts) \
                or (sat_i >= self.n_sats and not self.hosts[sat_i].gpus):
            self._reject(d, f"no satellite {sat_i!r} (satellites are 0 .. {self.n_sats - 1}"
                            + (f"; data centres {list(self.datacentres)}"
                               if self.datacentres else "") + ")")
        sat = self.hosts[int(sat_i)]
        if sat_i >= self.n_sats:                         # a data centre: grid power
            if sat.free < gpus:
                self._reject(d, f"data centre {sat.name} (host {sat_i}) has {sat.free} free "
                                f"GPUs, {what} needs {gpus}")
            return sat
        if sat.failed:
            self._reject(d, f"satellite {sat_i} ({sat.name}) has failed")
        if sat.free < gpus:
            self._reject(d, f"satellite {sat_i} ({sat.name}) has {sat.free} free GPUs, {what} "
                            f"needs {gpus}")
        if not self.view.can_host(int(sat_i), gpus, check_free=False):
            self._reject(d, f"satellite {sat_i} ({sat.name}) cannot power {gpus} more busy "
                            f"GPUs now (battery at its payload floor, array "
                            f"{sat.bus.array_w:.0f} W, load {sat.load_w():.0f} W)")
        return sat

    def _check_site(self, d, job, sat_i, *, moving):
        sat = self._check_host(d, sat_i, job.slots, "the job")
        if moving and not self._reachable(job.sat, int(sat_i)):
            self._reject(d, f"no laser path from satellite {job.sat} to {sat_i} now")
        return sat

    def note_reachable(self, src, nodes, pred):
        """Remember what a view search found from src (valid until the network changes), so
        validating a decision built on it needs no second route search, and its transfer can
        start on the path the search found."""
        self._reach = (self.net._version, src, nodes, pred)

    def _reachable(self, a, b):
        ver, src, nodes, _ = self._reach
        if ver == self.net._version and src == a and b in nodes:
            return True
        return self.net.route(a, b, include_acquiring=True) is not None

    def _path_hint(self, a, b):
        """(version, path a..b) from the last view search, if it still applies."""
        ver, src, _, pred = self._reach
        if ver != self.net._version or src != a or b not in pred:
            return None
        path = [b]
        while path[-1] != a:
            path.append(pred[path[-1]])
        return ver, path[::-1]

    def _decide(self, d):
        self.stats["decisions"] += 1
        t = self.env.now
        if isinstance(d, MoveReplica):
            return self._move_replica(d, t)
        if not isinstance(d, (Place, Migrate, Pause, PlaceGroup, Reshape, Shrink, Replace)):
            raise PolicyError(f"policy '{self.policy_name}' returned {d!r}; expected Place, "
                              f"Migrate, Pause, PlaceGroup, Reshape, Shrink, Replace or "
                              f"MoveReplica decisions (orbsched.policies)")
        job = self.jobs.get(d.job_id)
        if job is None:
            self._reject(d, f"no job {d.job_id!r}")
        if isinstance(d, Place) and job.spans:
            if job.phase != "queued":
                self._reject(d, f"job {job.job_id} is {job.phase}, not queued")
            d = PlaceGroup(d.job_id, (d.sat,))
        if isinstance(d, (PlaceGroup, Reshape, Shrink, Replace)) or (
                isinstance(d, Pause) and job.group is not None and job.phase == "running"):
            return self._decide_group(d, job, t)
        if isinstance(d, Migrate) and job.group is not None:
            self._reject(d, f"job {job.job_id} runs on a group of satellites; move it with "
                            f"Reshape (or Replace a member)")
        if isinstance(d, Place):
            if job.phase != "queued":
                self._reject(d, f"job {job.job_id} is {job.phase}, not queued")
            moving = job.sat >= 0 and job.sat != d.sat
            sat = self._check_site(d, job, d.sat, moving=moving)
            self._dequeue(job)
            if moving:
                self._begin_migration(job, self.hosts[job.sat], sat, t, checkpoint=False)
            else:
                self._place_here(job, sat, t)
        elif isinstance(d, Migrate):
            if job.phase != "running":
                self._reject(d, f"job {job.job_id} is {job.phase}; only a running job migrates")
            if d.sat == job.sat:
                self._reject(d, f"job {job.job_id} already runs on satellite {d.sat}")
            sat = self._check_site(d, job, d.sat, moving=True)
            self._begin_migration(job, self.hosts[job.sat], sat, t, checkpoint=True)
        else:
            if job.phase != "running":
                self._reject(d, f"job {job.job_id} is {job.phase}; only a running job pauses")
            self._begin_pause(job, t)

    def _place_here(self, job, sat, t):
        job.sat = sat.idx
        self._hold(sat, job, True, t)
        if job.has_checkpoint and job.restore_s > 0:
            job.status, job.phase = "running", "restoring"
            job.token += 1
            self._at(t + job.restore_s, self._on_restored, job, job.token)
        else:
            self._start_session(job, sat, t)
        self.rec.event(t, "job_start", sat=sat.idx, job=job.job_id)
        self._apply(sat, t)

    def _on_restored(self, job, token):
        if not self._fresh(job, token):
            return
        t = self.env.now
        sat = self.hosts[job.sat]
        if job.group is not None:
            self._start_session(job, sat, t)
            self._end_downtime(job, t)
            self._group_started(job, t)
            return
        migrating_in = job.dst >= 0
        self._start_session(job, sat, t)
        if migrating_in:
            job.downtime_s += t - job.down_since
            self.rec.event(t, "migration_end", sat=self._mig_src.pop(job.job_id, -1),
                           job=job.job_id, peer=sat.idx, value=t - job.down_since)
            job.dst = -1
            self._call("on_migration_end", job.job_id, True)

    # ===================================================================== migrations
    def _begin_migration(self, job, src, dst, t, *, checkpoint):
        job.migrations += 1
        job.status = "migrating"
        job.dst = dst.idx
        job.down_since = t
        self._mig_src[job.job_id] = src.idx
        job.hint = self._path_hint(src.idx, dst.idx)
        self._hold(dst, job, False, t)       # reserved: idle power until the restore
        self.rec.event(t, "migration_start", sat=src.idx, job=job.job_id, peer=dst.idx)
        job.token += 1
        if checkpoint:
            job.pending_gpu_h = job.run.halt(t)[0]
            job.phase = "checkpointing"       # GPUs at the source keep drawing while writing
            self._at(t + job.checkpoint_s, self._on_checkpointed, job, job.token)
        else:
            self._start_transfer(job, src, dst, t)
        self._apply(dst, t)

    def _on_checkpointed(self, job, token):
        if not self._fresh(job, token):
            return
        t = self.env.now
        if job.group is not None:
            return self._group_checkpointed(job, t)
        job.run.saved_gpu_h = job.pending_gpu_h
        job.has_checkpoint = True
        src = self.hosts[job.sat]
        self._release(src, job, True, t)
        if job.dst >= 0:
            self._start_transfer(job, src, self.hosts[job.dst], t)
        else:                                 # a pause: wait in the queue on this satellite
            self.rec.event(t, "job_pause", sat=src.idx, job=job.job_id, detail="policy")
            self._enqueue(job)
            job.token += 1
        paused = job.dst < 0
        self._apply(src, t)
        if paused:
            self._call("on_power_change", src.idx, "gpus_freed")

    def _start_transfer(self, job, src, dst, t):
        job.phase = "transferring"
        tr = self.net.transfer(src.idx, dst.idx, job.checkpoint_gb,
                               label=("migration", job.job_id), path_hint=job.hint)
        job.hint = None
        token = job.token
        tr.callbacks.append(lambda ev: self._on_transferred(job, token, ev.value))

    def _on_transferred(self, job, token, rec):
        if not self._fresh(job, token, "transferring"):
            return
        t = self.env.now
        dst = self.hosts[job.dst]
        if rec.ok:
            job.bytes_moved_gb += job.checkpoint_gb
            job.sat = dst.idx
            job.phase = "restoring"
            self._touch(dst, t)
            dst.drawing += job.slots          # the reservation starts drawing power
            job.token += 1
            self._at(t + job.restore_s, self._on_restored, job, job.token)
            self._apply(dst, t)
        else:
            self._release(dst, job, False, t)
            self._migration_failed(job, t, rec.reason or "transfer failed")
            self._enqueue(job)
            self._apply(dst, t)
            self._call("on_migration_end", job.job_id, False)

    def _migration_failed(self, job, t, why):
        job.migration_failures += 1
        job.downtime_s += t - job.down_since
        src = self._mig_src.pop(job.job_id, job.sat)
        self.rec.event(t, "migration_failed", sat=src, job=job.job_id, peer=job.dst,
                       detail=why)
        job.dst = -1

    # ========================================================================== pauses
    def _begin_pause(self, job, t):
        job.token += 1
        job.pending_gpu_h = job.run.halt(t)[0]
        job.phase = "checkpointing"
        job.dst = -1
        self._at(t + job.checkpoint_s, self._on_checkpointed, job, job.token)

    # ========================================================================== others
    def _on_link_change(self, up, a, b):
        if a < self.n_sats and b < self.n_sats:
            self._call("on_link_change", a, b, up)

    def _on_tick(self):
        self.stats["events"] += 1
        self._call("on_tick")
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

    # ====================================================================== inference
    def _move_replica(self, d, t):
        inf = self.inference
        if inf is None:
            self._reject(d, "the scenario has no inference services")
        try:
            k = inf.index(d.service)
        except KeyError as exc:
            self._reject(d, str(exc.args[0]))
        if inf.replicas[k].get(d.src, 0) - inf.moving_out.get((k, d.src), 0) <= 0:
            self._reject(d, f"satellite {d.src} holds no replica of {d.service!r} to move")
        if d.dst == d.src:
            self._reject(d, "source and destination are the same satellite")
        g = inf.services[k].gpus_per_replica
        dst = self._check_host(d, d.dst, g, "a replica")
        if not self._reachable(d.src, int(d.dst)):
            self._reject(d, f"no laser path from satellite {d.src} to {d.dst} now")
        # reserve the destination's GPUs; the source keeps serving until the copy arrives
        self._touch(dst, t)
        dst.held += g
        dst.replica_gpus += g
        self.free[dst.idx] = dst.free
        inf.moving_out[(k, d.src)] = inf.moving_out.get((k, d.src), 0) + 1
        self.rec.event(t, "replica_move_start", sat=d.src, peer=int(d.dst), detail=d.service)
        tr = self.net.transfer(d.src, int(d.dst), inf.services[k].replica_gb,
                               label=("replica", d.service),
                               path_hint=self._path_hint(d.src, int(d.dst)))
        tr.callbacks.append(lambda ev: self._replica_moved(k, d.src, int(d.dst), ev.value))

    def _replica_moved(self, k, src, dst_i, rec):
        inf = self.inference
        t = self.env.now
        g = inf.services[k].gpus_per_replica
        dst = self.hosts[dst_i]
        inf.moving_out[(k, src)] -= 1
        self._touch(dst, t)
        dst.held -= g                      # the reservation becomes (or gives way to) a replica
        dst.replica_gpus -= g
        self.free[dst_i] = dst.free
        ok = rec.ok and inf.replicas[k].get(src, 0) > 0 and not dst.failed
        if ok:
            inf.add_replica(k, dst_i, t)
            inf.remove_replica(k, src, t, "moved")
            self._apply(self.hosts[src], t)
            self.rec.event(t, "replica_move_end", sat=src, peer=dst_i,
                           detail=inf.services[k].name)
        else:
            self._apply(dst, t)
            self.rec.event(t, "replica_move_failed", sat=src, peer=dst_i,
                           detail=f"{inf.services[k].name}: {rec.reason or 'source replica gone'}")
