"""Engine-side records: the illumination timeline built from eclipse intervals, and the state
of one training job (:class:`Job`), for :class:`orbsched.engine.core.Engine`.

Penumbra model (SIMPLIFICATION): see :mod:`orbsched.engine.core`.
"""
from __future__ import annotations

import math

import numpy as np

from ..models.training import JobRun
from .satellite import PENUMBRA, SUNLIT, UMBRA

__all__ = ["Job", "build_illumination_events", "ILLUM_KIND_NAMES", "LOSS_CAUSE", "REDUNDANCY"]

_S_PER_H = 3600.0
#: GPUs per logical GPU for each protection mode (duplex: 2 copies compare; TMR: 3 vote).
REDUNDANCY = {"none": 1, "duplex": 2, "tmr": 3}
# illumination event kinds
K_ENTRY, K_STEP, K_UMBRA_IN, K_UMBRA_OUT, K_EXIT = 0, 1, 2, 3, 4
ILLUM_KIND_NAMES = ("eclipse_entry", "penumbra_step", "umbra_entry", "umbra_exit",
                    "eclipse_exit")
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
        # spanning satellites (orbsched.engine.groups)
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
