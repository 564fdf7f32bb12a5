"""Training jobs spread over several satellites (a *group*), for :class:`orbsched.engine.core.Engine`.

A job larger than one satellite (or any job a policy places with
:class:`~orbsched.policies.groups.PlaceGroup`) runs data-parallel on its members, which form a
ring in the order the policy gave.  Each training step is

    compute:  c = step_s * G / (g * s)          (the job's global batch on g of its G GPUs,
                                                 at the slowest member's throttle speed s)
    all-reduce over the ring of k members (Patarasuk & Yuan, JPDC 69(2), 2009):
              m = 2 (k - 1) / k * gradient_bytes / B  +  2 (k - 1) * L

where ``B`` is the slowest hop's rate and ``L`` the longest hop's light time; a hop is the
shortest light-time path of usable laser links between consecutive members (so a hop can be
several links: its rate is that of its slowest link).  The job progresses at
``G * step_s * gpu_speed / 3600`` GPU-hours per step, i.e. at ``g * s * gpu_speed / 3600 * c /
(c + m)`` GPU-h per second: ``c / (c + m)`` is its scaling efficiency.  Ranges and rates of the
ring's links are re-read when a link of a hop changes rate or goes down (a hop whose path breaks
is re-routed; no path stops the group: ``link_lost``).

Events on members affect the whole group: a member entering eclipse calls the policy's
``groups.on_event`` (the group keeps running on that member's battery unless the policy pauses,
shrinks or reshapes it); a member that stops abruptly (brownout, radiation crash or reboot,
GPU or satellite failure, a lost ring link) stops the whole group, which loses the work since
its last checkpoint and is queued with its checkpoint shards on its members, and the policy is
told.  Planned changes (:class:`~orbsched.policies.groups.Reshape`, ``Shrink``, ``Replace``,
``Pause``) checkpoint first and lose nothing.

Checkpoint shards: a group's checkpoint (``checkpoint_gb``) is split over its members in
proportion to their GPUs.  When a group starts on members that do not hold a shard, each of them
receives its share of the checkpoint over the laser network from the group's anchor (its first
member when it was checkpointed) before the group restores (``restore_s``) and resumes.

SIMPLIFICATIONS (and the error they introduce):

* The all-reduce uses each hop's full link rate: it does not share links with migrations or
  other groups in the flow model (optimistic when links are busy), and gradient traffic is not
  overlapped with compute (pessimistic for frameworks that overlap them, by up to the smaller
  of c and m per step).
* Intra-satellite communication (NVLink) is free; a step's communication is the ring over
  satellites only.
* Members faster than the slowest one wait at each step's barrier but keep drawing their
  active power (pessimistic on energy by the throttle difference).
* All shard transfers come from one member (the anchor): its links are the bottleneck
  (pessimistic against all-to-all resharding).  A shrinking group's remaining members are taken
  to re-read the dropped members' shards within ``restore_s``.
* A queued group's checkpoint is lost when any member holding a shard fails (unless
  ``faults.remote_checkpoints``).
"""
from __future__ import annotations

import math

from ..policies.decisions import Pause
from ..policies.groups import PlaceGroup, Replace, Shrink
from .satellite import SUNLIT

__all__ = ["Group", "GroupsMixin", "allreduce_s", "GROUP_LOSS_CAUSE"]

_S_PER_H = 3600.0
#: The cause a policy's ``groups.on_event`` hears for each abrupt stop of a member.
GROUP_LOSS_CAUSE = {"brownout": "brownout", "host_reboot": "radiation", "radiation": "radiation",
                    "gpu_fail": "failure", "satellite_fail": "failure", "failure": "failure",
                    "link_lost": "link_lost"}


def allreduce_s(k: int, gradient_gb: float, bandwidth_gbps: float, hop_light_s: float) -> float:
    """Seconds of one ring all-reduce of ``gradient_gb`` over ``k`` members (0 for k < 2)."""
    if k < 2:
        return 0.0
    return (2.0 * (k - 1) / k * gradient_gb * 8.0 / bandwidth_gbps
            + 2.0 * (k - 1) * hop_light_s)


class Group:
    """The members of a running (or starting) group job and its ring."""

    __slots__ = ("sats", "gpus", "bw_gbps", "hop_s", "paths", "comm_s")

    def __init__(self, sats, gpus, ring):
        self.sats = tuple(sats)
        self.gpus = tuple(gpus)
        self.bw_gbps, self.hop_s, self.paths = ring
        self.comm_s = 0.0

    def links(self):
        for p in self.paths:
            for u, v in zip(p[:-1], p[1:]):
                yield (u, v) if u < v else (v, u)


class GroupsMixin:
    """Group-job machinery of the engine (see the module docstring)."""

    def _init_groups(self):
        self._link_groups = {}            # link pair -> {job_id: job} of running rings over it
        self.group_stats = dict(group_events=0, reshapes=0, shard_transfers=0, link_lost=0)
        self.net.listeners.append(self._group_link_change)
        self.net.rate_listeners.append(self._group_link_rate)

    # ------------------------------------------------------------------------------ rings
    def ring_paths(self, sats):
        """``(bandwidth_gbps, hop_light_s, paths)`` of the ring over ``sats`` now, or a
        string saying which hop has no usable path."""
        k = len(sats)
        paths = []
        for i in range(k if k > 2 else k - 1):
            a, b = sats[i], sats[(i + 1) % k]
            p = self.net.route(a, b)
            if p is None:
                return f"no usable laser path from satellite {a} to {b} (ring hop {i})"
            paths.append(p)
        return self._ring_of(paths)

    def _ring_of(self, paths):
        """``(bandwidth_gbps, hop_light_s, paths)``: the slowest hop's rate and the longest
        hop's light time of the ring's hop paths, as the links are now."""
        net = self.net
        return (min((net.path_rate_gbps(p) for p in paths), default=math.inf),
                max((net.path_light_s(p) for p in paths), default=0.0), paths)

    def _group_rate(self, job):
        """Progress rate (GPU-h/s) of a group job now; sets its step accounting."""
        g = job.group
        s = min(self.hosts[m].speed for m in g.sats)
        active = sum(g.gpus)
        nominal = job.gpus * job.step_s * self.hw.gpu_speed / _S_PER_H   # GPU-h per step
        if s <= 0.0:
            job.comm_frac, job.step_wall_s = 0.0, math.inf
            return 0.0
        c = job.step_s * job.gpus / (active * s)
        m = g.comm_s
        job.comm_frac = m / (c + m)
        job.step_wall_s = c + m
        return nominal / (c + m)

    def _set_ring(self, job, group):
        self._unlink_ring(job)
        group.comm_s = allreduce_s(len(group.sats), job.gradient_gb, group.bw_gbps, group.hop_s)
        job.group = group
        for p in group.links():
            self._link_groups.setdefault(p, {})[job.job_id] = job

    def _unlink_ring(self, job):
        g = job.group
        if g is None:
            return
        for p in g.links():
            d = self._link_groups.get(p)
            if d is not None:
                d.pop(job.job_id, None)
                if not d:
                    del self._link_groups[p]

    def _group_link_change(self, up, a, b):
        if up or not self._link_groups:
            return
        jobs = self._link_groups.get((a, b) if a < b else (b, a))
        if not jobs:
            return
        t = self.env.now
        for job in sorted(jobs.values(), key=lambda j: j.job_id):
            if job.group is None or job.phase == "transferring":
                continue            # a starting group checks its ring when its shards are in
            ring = self.ring_paths(list(job.group.sats))
            if isinstance(ring, str):
                self.group_stats["link_lost"] += 1
                at = a if a in job.group.sats else job.group.sats[0]
                self._stop_group(job, t, "link_lost", at)
                continue
            self._set_ring(job, Group(job.group.sats, job.group.gpus, ring))
            self._rerate_group(job, t)

    def _group_link_rate(self, a, b, rate_gbps=None, range_km=None):
        jobs = self._link_groups.get((a, b) if a < b else (b, a))
        if not jobs:
            return
        t = self.env.now
        for job in sorted(jobs.values(), key=lambda j: j.job_id):
            g = job.group
            self._set_ring(job, Group(g.sats, g.gpus, self._ring_of(g.paths)))
            self._rerate_group(job, t)

    def _rerate_group(self, job, t):
        if job.phase == "running":
            job.run.set_rate(t, self._group_rate(job), job.comm_frac, job.step_wall_s)
            self._schedule_finish(job)

    def _group_horizon(self, job):
        return min(self._horizon(m) for m in job.group.sats)

    # -------------------------------------------------------------------------- decisions
    def _members(self, d, job, sats, gpus, *, extra_ok=None):
        """Validate a member list; returns (sats, gpus) as int tuples."""
        f = job.factor
        if isinstance(sats, (int,)) or not hasattr(sats, "__len__") or not len(sats):
            self._reject(d, "sats must be a non-empty sequence of satellites")
        sats = tuple(int(s) if not isinstance(s, bool) else s for s in sats)
        if len(set(sats)) != len(sats):
            self._reject(d, "a satellite appears twice among the members")
        for s in sats:
            if isinstance(s, bool) or not 0 <= s < self.n_sats:
                self._reject(d, f"no satellite {s!r} (satellites are 0 .. {self.n_sats - 1})")
        have = extra_ok or {}
        if gpus is None:
            left, out = job.gpus, []
            for s in sats:
                g = min(left, (self.hosts[s].free + have.get(s, 0)) // f)
                out.append(g)
                left -= g
            gpus = tuple(out)
        else:
            if len(gpus) != len(sats):
                self._reject(d, f"{len(gpus)} GPU counts for {len(sats)} members")
            gpus = tuple(gpus)
        for g in gpus:
            if isinstance(g, bool) or not isinstance(g, int) or g < 1:
                self._reject(d, f"every member needs a whole number >= 1 of GPUs, got {gpus}")
        total = sum(gpus)
        if not job.min_gpus <= total <= job.gpus:
            self._reject(d, f"the members give {total} GPUs; job {job.job_id} needs between "
                            f"{job.min_gpus} (min_gpus) and {job.gpus}")
        for i, (s, g) in enumerate(zip(sats, gpus)):
            more = g * f - have.get(s, 0)
            if more > 0:
                self._check_host(d, s, more, f"member {i} of the group")
        return sats, gpus

    def _check_ring(self, d, job, sats):
        ring = self.ring_paths(list(sats))
        if isinstance(ring, str):
            self._reject(d, ring)
        bw, hop, _ = ring
        if bw < job.min_link_gbps:
            self._reject(d, f"the ring's slowest hop gives {bw:.6g} Gbps; job {job.job_id} "
                            f"needs {job.min_link_gbps:.6g} (min_link_gbps)")
        if hop > job.max_link_latency_s:
            self._reject(d, f"the ring's longest hop has {hop * 1e3:.6g} ms of light time; "
                            f"job {job.job_id} allows {job.max_link_latency_s * 1e3:.6g} ms")
        return ring

    def _check_shards(self, d, job, sats):
        """Every new member can receive its shard from the anchor (``job.sat``) now: when the
        job has a checkpoint, or will write one first (a reshape of a running group)."""
        if (job.has_checkpoint or job.phase == "running") and job.sat >= 0:
            for s in sats:
                if s not in job.members and s != job.sat and not self._reachable(job.sat, s):
                    self._reject(d, f"no laser path from satellite {job.sat} (the job's "
                                    f"checkpoint) to member {s}")

    def _decide_group(self, d, job, t):
        """Apply a PlaceGroup / Reshape / Shrink / Replace decision (or a Place or Pause of a
        job that spans satellites)."""
        if isinstance(d, PlaceGroup):
            if job.phase != "queued":
                self._reject(d, f"job {job.job_id} is {job.phase}, not queued")
            sats, gpus = self._members(d, job, d.sats, d.gpus)
            self._check_shards(d, job, sats)
            ring = self._check_ring(d, job, sats)
            self._dequeue(job)
            self._start_group(job, sats, gpus, ring, t)
            return
        if isinstance(d, Pause):
            self._begin_pause(job, t)
            return
        if job.phase != "running":
            self._reject(d, f"job {job.job_id} is {job.phase}; only a running job is "
                            f"reshaped")
        if job.group is None:
            self._reject(d, f"job {job.job_id} runs on one satellite, not as a group; move it "
                            f"with Migrate (or Pause it and PlaceGroup it)")
        cur, cur_g = job.group.sats, job.group.gpus
        if isinstance(d, Shrink):
            drop = set(d.drop)
            if not drop or not drop <= set(cur):
                self._reject(d, f"drop {tuple(d.drop)} must name members of the group {cur}")
            sats = tuple(s for s in cur if s not in drop)
            gpus = tuple(g for s, g in zip(cur, cur_g) if s not in drop)
            if not sats:
                self._reject(d, "a group cannot drop all its members (use Pause)")
        elif isinstance(d, Replace):
            if d.old not in cur:
                self._reject(d, f"satellite {d.old} is not a member of the group {cur}")
            if d.new in cur:
                self._reject(d, f"satellite {d.new} is a member already")
            sats = tuple(d.new if s == d.old else s for s in cur)
            gpus = cur_g
        else:
            sats, gpus = d.sats, d.gpus
        have = {s: g * job.factor for s, g in zip(cur, cur_g)}
        sats, gpus = self._members(d, job, sats, gpus, extra_ok=have)
        ring = self._check_ring(d, job, sats)
        self._check_shards(d, job, sats)
        # reserve the GPUs the new shape needs beyond what the job holds (idle until used)
        for s, g in zip(sats, gpus):
            more = g * job.factor - have.get(s, 0)
            if more > 0:
                self._hold(self.hosts[s], job, False, t, slots=more)
                self._apply(self.hosts[s], t)
        job.next_group = (sats, gpus, ring)
        job.down_since = t
        job.reshapes += 1
        self.group_stats["reshapes"] += 1
        self.rec.event(t, "group_reshape", sat=job.sat, job=job.job_id,
                       value=sum(gpus), detail=",".join(map(str, sats)))
        self._begin_pause(job, t)

    # ---------------------------------------------------------------------------- starting
    def _start_group(self, job, sats, gpus, ring, t):
        """Hold the members and start: shards to new members, restore, then run."""
        f = job.factor
        job.spans = True
        job.status = "running"
        old = set(job.members) | ({job.sat} if job.sat >= 0 else set())
        src = job.sat
        need = [(s, g) for s, g in zip(sats, gpus)
                if job.has_checkpoint and src >= 0 and s not in old]
        for s, g in zip(sats, gpus):
            sat = self.hosts[s]
            have = job.hold_slots.get(s, 0)
            if have < g * f:
                self._hold(sat, job, False, t, slots=g * f - have)
            elif have > g * f:
                self._release(sat, job, False, t, slots=have - g * f)
        group = Group(sats, gpus, ring)
        self._set_ring(job, group)
        job.members, job.member_gpus = tuple(sats), tuple(gpus)
        job.max_members = max(job.max_members, len(sats))
        job.sat = sats[0]
        if math.isnan(job.first_start_s):
            job.first_start_s = t
        self.rec.event(t, "job_start", sat=sats[0], job=job.job_id, value=sum(gpus),
                       detail=",".join(map(str, sats)))
        job.token += 1
        if need:
            job.phase = "transferring"
            job.status = "migrating"
            job.pending_shards = len(need)
            token = job.token
            total = sum(gpus)
            for s, g in need:
                size = job.checkpoint_gb * g / total
                self.group_stats["shard_transfers"] += 1
                tr = self.net.transfer(src, s, size, label=("shard", job.job_id))
                tr.callbacks.append(lambda ev, s=s, size=size: self._on_shard(job, token, s,
                                                                              size, ev.value))
            for s in sats:
                self._apply(self.hosts[s], t)
        else:
            self._group_restore(job, t)

    def _on_shard(self, job, token, s, size, rec):
        if not self._fresh(job, token, "transferring"):
            return
        t = self.env.now
        if not rec.ok:
            self._abort_start(job, t, f"shard: {rec.reason or 'transfer failed'}", peer=s)
            return
        job.bytes_moved_gb += size
        job.pending_shards -= 1
        if job.pending_shards == 0:
            ring = self.ring_paths(list(job.group.sats))     # links may have changed meanwhile
            if isinstance(ring, str):
                self._abort_start(job, t, f"ring: {ring}")
                return
            self._set_ring(job, Group(job.group.sats, job.group.gpus, ring))
            self._group_restore(job, t)

    def _abort_start(self, job, t, why, peer=-1):
        """A group's start failed before it restored (a shard transfer failed, or its ring
        broke meanwhile): it waits in the queue with its checkpoint where it was."""
        self.rec.event(t, "migration_failed", sat=job.sat, job=job.job_id, peer=peer,
                       detail=why)
        job.migration_failures += 1
        job.token += 1
        touched = self._release_all(job, t)
        job.members = job.prev_members
        job.member_gpus = job.prev_gpus
        job.sat = job.prev_anchor
        self._enqueue(job)
        for sat in touched:
            self._apply(sat, t)
        self._schedule()

    def _group_restore(self, job, t):
        for s in job.group.sats:
            sat = self.hosts[s]
            want = job.hold_slots[s]
            more = want - job.draw_slots.get(s, 0)
            if more > 0:
                self._touch(sat, t)
                sat.drawing += more
                job.draw_slots[s] = want
        job.token += 1
        if job.has_checkpoint and job.restore_s > 0:
            job.status, job.phase = "running", "restoring"
            self._at(t + job.restore_s, self._on_restored, job, job.token)
        else:
            self._start_session(job, self.hosts[job.sat], t)
            self._end_downtime(job, t)
            self._group_started(job, t)
        for s in job.group.sats:
            self._apply(self.hosts[s], t)

    def _group_started(self, job, t):
        """A group (re)starts computing: a member that entered eclipse while the group was
        checkpointing, moving or restoring is reported now (the policy heard nothing then)."""
        dark = [m for m in job.group.sats if self.state[m] != SUNLIT]
        if dark:
            self._at(t, self._fire_group_event, job, dark[0], "eclipse_entry")

    def _end_downtime(self, job, t):
        if job.down_since == job.down_since:
            job.downtime_s += t - job.down_since
            job.down_since = math.nan

    # ---------------------------------------------------------------------------- stopping
    def _release_all(self, job, t):
        """Release every GPU the job holds (drawing or reserved) and forget its ring."""
        touched = []
        for s in sorted(job.holds):
            sat = self.hosts[s]
            d = job.draw_slots.pop(s, 0)
            if d:
                self._touch(sat, t)
                sat.drawing -= d
            self._release(sat, job, False, t, slots=job.hold_slots[s])
            touched.append(sat)
        self._unlink_ring(job)
        job.group = None
        return touched

    def _stop_group(self, job, t, why, at):
        """A member stopped abruptly: the whole group stops (work since the last checkpoint
        is lost), is queued with its checkpoint shards on its members, and the policy hears
        ``groups.on_event`` at the same instant.  Returns the work lost (GPU-h)."""
        cause = GROUP_LOSS_CAUSE.get(why, why)
        lost = self._lose_unsaved(job, t, {"link_lost": "failure"}.get(cause, cause))
        job.pauses_by[cause] = job.pauses_by.get(cause, 0) + 1
        if cause == "brownout":
            job.paused_at = t
        job.next_group = None
        touched = self._release_all(job, t)           # (members stay: they hold the shards)
        job.prev_members, job.prev_gpus, job.prev_anchor = job.members, job.member_gpus, job.sat
        job.token += 1
        job.down_since = math.nan
        self.rec.event(t, "job_pause", sat=at, job=job.job_id, detail=why)
        if not job.has_checkpoint:
            job.sat = -1
            job.members, job.member_gpus = (), ()
        self._enqueue(job)
        for sat in touched:
            if sat.idx != at:
                self._apply(sat, t)
        self._at(t, self._fire_group_event, job, at, cause, job.token)
        return lost

    def _group_checkpointed(self, job, t):
        """A group's checkpoint is written: continue on its next shape, or wait queued."""
        job.run.saved_gpu_h = job.pending_gpu_h
        job.has_checkpoint = True
        nxt, job.next_group = job.next_group, None
        job.prev_members, job.prev_gpus, job.prev_anchor = job.members, job.member_gpus, job.sat
        # stop drawing on every member; keep the holds the next shape reuses
        for s in list(job.draw_slots):
            sat = self.hosts[s]
            self._touch(sat, t)
            sat.drawing -= job.draw_slots.pop(s)
        if nxt is not None:
            sats, gpus, ring = nxt
            for s in sorted(job.holds):
                if s not in sats:
                    self._release(self.hosts[s], job, False, t, slots=job.hold_slots[s])
                    self._apply(self.hosts[s], t)
            self._start_group(job, sats, gpus, ring, t)
            return
        touched = self._release_all(job, t)
        self.rec.event(t, "job_pause", sat=job.sat, job=job.job_id, detail="policy")
        job.pauses_by["policy"] = job.pauses_by.get("policy", 0) + 1
        self._enqueue(job)
        job.token += 1
        for sat in touched:
            self._apply(sat, t)
        self._schedule()

    def _finish_group(self, job, t):
        touched = self._release_all(job, t)
        for sat in touched:
            self._apply(sat, t)

    # ------------------------------------------------------------------------------ hooks
    def _fire_group_event(self, job, sat, cause, token=None):
        if token is not None and token != job.token:
            return                      # the job changed since (placed again, ended)
        self.group_stats["group_events"] += 1
        self._run("groups.on_event", self._group_hook, self.view.job(job.job_id), sat, cause,
                  self.view)

    def _group_hook(self, job, sat, cause, view):
        """The policy's group strategy on a member's event; when it decides nothing after a
        member stopped, the policy's queue pass (the group is queued)."""
        out = self.policy.groups.on_event(job, sat, cause, view)
        if out is None and cause != "eclipse_entry":
            out = self.policy.schedule(view)
        return out

    def _member_slots(self, job, i):
        """GPUs job holds drawing on satellite i as a running member (0 if none)."""
        if job.group is None and not job.draw_slots:
            return job.slots if job.sat == i else 0
        return job.draw_slots.get(i, 0)

