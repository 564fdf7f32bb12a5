"""Training jobs spread over several satellites (a *group*): :class:`Groups`, a component of
:class:`orbsched.engine.core.Engine`.

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
from .fleet import SUNLIT
from .jobs import Phase, Status

__all__ = ["Group", "Groups", "allreduce_s", "GROUP_LOSS_CAUSE"]

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


class Groups:
    """Group-job machinery of one run (see the module docstring)."""

    def __init__(self, engine) -> None:
        self.e = engine
        self._link_groups: dict = {}      # link pair -> {job_id: job} of running rings over it
        self.stats = dict(group_events=0, reshapes=0, shard_transfers=0, link_lost=0)
        engine.net.listeners.append(self._link_change)
        engine.net.rate_listeners.append(self._link_rate)

    # ------------------------------------------------------------------------------ rings
    def ring_paths(self, sats):
        """``(bandwidth_gbps, hop_light_s, paths)`` of the ring over ``sats`` now, or a
        string saying which hop has no usable path."""
        k = len(sats)
        paths = []
        for i in range(k if k > 2 else k - 1):
            a, b = sats[i], sats[(i + 1) % k]
            p = self.e.net.route(a, b)
            if p is None:
                return f"no usable laser path from satellite {a} to {b} (ring hop {i})"
            paths.append(p)
        return self.ring_of(paths)

    def ring_of(self, paths):
        """``(bandwidth_gbps, hop_light_s, paths)``: the slowest hop's rate and the longest
        hop's light time of the ring's hop paths, as the links are now."""
        net = self.e.net
        return (min((net.path_rate_gbps(p) for p in paths), default=math.inf),
                max((net.path_light_s(p) for p in paths), default=0.0), paths)

    def rate(self, job):
        """Progress rate (GPU-h/s) of a group job now; sets its step accounting."""
        g = job.gs.group
        s = min(self.e.speed(m) for m in g.sats)
        active = sum(g.gpus)
        nominal = job.gpus * job.spec.step_s * self.e.hw.gpu_speed / _S_PER_H   # GPU-h per step
        if s <= 0.0:
            job.gs.comm_frac, job.gs.step_wall_s = 0.0, math.inf
            return 0.0
        c = job.spec.step_s * job.gpus / (active * s)
        m = g.comm_s
        job.gs.comm_frac = m / (c + m)
        job.gs.step_wall_s = c + m
        return nominal / (c + m)

    def set_ring(self, job, group):
        self.unlink_ring(job)
        group.comm_s = allreduce_s(len(group.sats), job.spec.gradient_gb, group.bw_gbps,
                                   group.hop_s)
        job.gs.group = group
        for p in group.links():
            self._link_groups.setdefault(p, {})[job.job_id] = job

    def unlink_ring(self, job):
        g = job.gs.group
        if g is None:
            return
        for p in g.links():
            d = self._link_groups.get(p)
            if d is not None:
                d.pop(job.job_id, None)
                if not d:
                    del self._link_groups[p]

    def _link_change(self, up, a, b):
        if up or not self._link_groups:
            return
        jobs = self._link_groups.get((a, b) if a < b else (b, a))
        if not jobs:
            return
        t = self.e.env.now
        for job in sorted(jobs.values(), key=lambda j: j.job_id):
            if job.gs.group is None or job.phase is Phase.TRANSFERRING:
                continue            # a starting group checks its ring when its shards are in
            ring = self.ring_paths(list(job.gs.group.sats))
            if isinstance(ring, str):
                self.stats["link_lost"] += 1
                at = a if a in job.gs.group.sats else job.gs.group.sats[0]
                self.stop(job, t, "link_lost", at)
                continue
            self.set_ring(job, Group(job.gs.group.sats, job.gs.group.gpus, ring))
            self.rerate(job, t)

    def _link_rate(self, a, b, rate_gbps=None, range_km=None):
        jobs = self._link_groups.get((a, b) if a < b else (b, a))
        if not jobs:
            return
        t = self.e.env.now
        for job in sorted(jobs.values(), key=lambda j: j.job_id):
            g = job.gs.group
            self.set_ring(job, Group(g.sats, g.gpus, self.ring_of(g.paths)))
            self.rerate(job, t)

    def rerate(self, job, t):
        if job.phase is Phase.RUNNING:
            job.run.set_rate(t, self.rate(job), job.gs.comm_frac, job.gs.step_wall_s)
            self.e.schedule_finish(job)

    def horizon(self, job):
        return min(self.e.horizon(m) for m in job.gs.group.sats)

    # -------------------------------------------------------------------------- decisions
    def _members(self, d, job, sats, gpus, *, extra_ok=None):
        """Validate a member list; returns (sats, gpus) as int tuples."""
        f = job.factor
        if isinstance(sats, (int,)) or not hasattr(sats, "__len__") or not len(sats):
            self.e.driver.reject(d, "sats must be a non-empty sequence of satellites")
        sats = tuple(int(s) if not isinstance(s, bool) else s for s in sats)
        if len(set(sats)) != len(sats):
            self.e.driver.reject(d, "a satellite appears twice among the members")
        for s in sats:
            if isinstance(s, bool) or not 0 <= s < self.e.n_sats:
                self.e.driver.reject(
                    d, f"no satellite {s!r} (satellites are 0 .. {self.e.n_sats - 1})")
        have = extra_ok or {}
        if gpus is None:
            left, out = job.gpus, []
            for s in sats:
                g = min(left, (self.e.free_gpus(s) + have.get(s, 0)) // f)
                out.append(g)
                left -= g
            gpus = tuple(out)
        else:
            if len(gpus) != len(sats):
                self.e.driver.reject(d, f"{len(gpus)} GPU counts for {len(sats)} members")
            gpus = tuple(gpus)
        for g in gpus:
            if isinstance(g, bool) or not isinstance(g, int) or g < 1:
                self.e.driver.reject(
                    d, f"every member needs a whole number >= 1 of GPUs, got {gpus}")
        total = sum(gpus)
        if not job.spec.min_gpus <= total <= job.gpus:
            self.e.driver.reject(d, f"the members give {total} GPUs; job {job.job_id} needs "
                            f"between {job.spec.min_gpus} (min_gpus) and {job.gpus}")
        for i, (s, g) in enumerate(zip(sats, gpus)):
            more = g * f - have.get(s, 0)
            if more > 0:
                self.e.driver.check_host(d, s, more, f"member {i} of the group")
        return sats, gpus

    def _check_ring(self, d, job, sats):
        ring = self.ring_paths(list(sats))
        if isinstance(ring, str):
            self.e.driver.reject(d, ring)
        bw, hop, _ = ring
        if bw < job.spec.min_link_gbps:
            self.e.driver.reject(d, f"the ring's slowest hop gives {bw:.6g} Gbps; job {job.job_id} "
                            f"needs {job.spec.min_link_gbps:.6g} (min_link_gbps)")
        if hop > job.spec.max_link_latency_s:
            self.e.driver.reject(d, f"the ring's longest hop has {hop * 1e3:.6g} ms of light time; "
                            f"job {job.job_id} allows {job.spec.max_link_latency_s * 1e3:.6g} ms")
        return ring

    def _check_shards(self, d, job, sats):
        """Every new member can receive its shard from the anchor (``job.sat``) now: when the
        job has a checkpoint, or will write one first (a reshape of a running group)."""
        if (job.has_checkpoint or job.phase is Phase.RUNNING) and job.sat >= 0:
            for s in sats:
                if (s not in job.gs.members and s != job.sat
                        and not self.e.driver.reachable(job.sat, s)):
                    self.e.driver.reject(d, f"no laser path from satellite {job.sat} (the job's "
                                    f"checkpoint) to member {s}")

    def decide(self, d, job, t):
        """Apply a PlaceGroup / Reshape / Shrink / Replace decision (or a Place or Pause of a
        job that spans satellites)."""
        if isinstance(d, PlaceGroup):
            if job.phase is not Phase.QUEUED:
                self.e.driver.reject(d, f"job {job.job_id} is {job.phase}, not queued")
            sats, gpus = self._members(d, job, d.sats, d.gpus)
            self._check_shards(d, job, sats)
            ring = self._check_ring(d, job, sats)
            self.e.jobs.dequeue(job)
            self.start(job, sats, gpus, ring, t)
            return
        if isinstance(d, Pause):
            self.e.moves.begin_pause(job, t)
            return
        if job.phase is not Phase.RUNNING:
            self.e.driver.reject(d, f"job {job.job_id} is {job.phase}; only a running job is "
                            f"reshaped")
        if job.gs.group is None:
            self.e.driver.reject(d, f"job {job.job_id} runs on one satellite, not as a group; "
                            f"move it with Migrate (or Pause it and PlaceGroup it)")
        cur, cur_g = job.gs.group.sats, job.gs.group.gpus
        if isinstance(d, Shrink):
            drop = set(d.drop)
            if not drop or not drop <= set(cur):
                self.e.driver.reject(
                    d, f"drop {tuple(d.drop)} must name members of the group {cur}")
            sats = tuple(s for s in cur if s not in drop)
            gpus = tuple(g for s, g in zip(cur, cur_g) if s not in drop)
            if not sats:
                self.e.driver.reject(d, "a group cannot drop all its members (use Pause)")
        elif isinstance(d, Replace):
            if d.old not in cur:
                self.e.driver.reject(d, f"satellite {d.old} is not a member of the group {cur}")
            if d.new in cur:
                self.e.driver.reject(d, f"satellite {d.new} is a member already")
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
                self.e.hold(s, job, False, t, slots=more)
                self.e.apply(s, t)
        job.gs.next_group = (sats, gpus, ring)
        job.down_since = t
        job.gs.reshapes += 1
        self.stats["reshapes"] += 1
        self.e.rec.event(t, "group_reshape", sat=job.sat, job=job.job_id,
                       value=sum(gpus), detail=",".join(map(str, sats)))
        self.e.moves.begin_pause(job, t)

    # ---------------------------------------------------------------------------- starting
    def start(self, job, sats, gpus, ring, t):
        """Hold the members and start: shards to new members, restore, then run."""
        f = job.factor
        job.span()
        job.status = Status.RUNNING
        old = set(job.gs.members) | ({job.sat} if job.sat >= 0 else set())
        src = job.sat
        need = [(s, g) for s, g in zip(sats, gpus)
                if job.has_checkpoint and src >= 0 and s not in old]
        for s, g in zip(sats, gpus):
            have = job.hold_slots.get(s, 0)
            if have < g * f:
                self.e.hold(s, job, False, t, slots=g * f - have)
            elif have > g * f:
                self.e.release(s, job, False, t, slots=have - g * f)
        group = Group(sats, gpus, ring)
        self.set_ring(job, group)
        job.gs.members, job.gs.member_gpus = tuple(sats), tuple(gpus)
        job.gs.max_members = max(job.gs.max_members, len(sats))
        job.sat = sats[0]
        if math.isnan(job.first_start_s):
            job.first_start_s = t
        self.e.rec.event(t, "job_start", sat=sats[0], job=job.job_id, value=sum(gpus),
                       detail=",".join(map(str, sats)))
        job.token += 1
        if need:
            job.phase = Phase.TRANSFERRING
            job.status = Status.MIGRATING
            job.gs.pending_shards = len(need)
            token = job.token
            total = sum(gpus)
            for s, g in need:
                size = job.spec.checkpoint_gb * g / total
                self.stats["shard_transfers"] += 1
                tr = self.e.net.transfer(src, s, size, label=("shard", job.job_id))
                tr.callbacks.append(lambda ev, s=s, size=size: self._on_shard(job, token, s,
                                                                              size, ev.value))
            for s in sats:
                self.e.apply(s, t)
        else:
            self._restore(job, t)

    def _on_shard(self, job, token, s, size, rec):
        if not self.e.fresh(job, token, Phase.TRANSFERRING):
            return
        t = self.e.env.now
        if not rec.ok:
            self._abort_start(job, t, f"shard: {rec.reason or 'transfer failed'}", peer=s)
            return
        job.bytes_moved_gb += size
        job.gs.pending_shards -= 1
        if job.gs.pending_shards == 0:
            ring = self.ring_paths(list(job.gs.group.sats))     # links may have changed meanwhile
            if isinstance(ring, str):
                self._abort_start(job, t, f"ring: {ring}")
                return
            self.set_ring(job, Group(job.gs.group.sats, job.gs.group.gpus, ring))
            self._restore(job, t)

    def _abort_start(self, job, t, why, peer=-1):
        """A group's start failed before it restored (a shard transfer failed, or its ring
        broke meanwhile): it waits in the queue with its checkpoint where it was."""
        self.e.rec.event(t, "migration_failed", sat=job.sat, job=job.job_id, peer=peer,
                       detail=why)
        job.migration_failures += 1
        job.token += 1
        touched = self.release_all(job, t)
        job.gs.members = job.gs.prev_members
        job.gs.member_gpus = job.gs.prev_gpus
        job.sat = job.gs.prev_anchor
        self.e.jobs.enqueue(job)
        for sat in touched:
            self.e.apply(sat, t)
        self.e.driver.schedule()

    def _restore(self, job, t):
        for s in job.gs.group.sats:
            want = job.hold_slots[s]
            more = want - job.gs.draw_slots.get(s, 0)
            if more > 0:
                self.e.touch(s, t)
                self.e.add_gpus(s, drawing=more)
                job.gs.draw_slots[s] = want
        job.token += 1
        if job.has_checkpoint and job.spec.restore_s > 0:
            job.status, job.phase = Status.RUNNING, Phase.RESTORING
            self.e.at(t + job.spec.restore_s, self.e.moves.on_restored, job, job.token)
        else:
            self.e.start_session(job, job.sat, t)
            self.end_downtime(job, t)
            self.started(job, t)
        for s in job.gs.group.sats:
            self.e.apply(s, t)

    def started(self, job, t):
        """A group (re)starts computing: a member that entered eclipse while the group was
        checkpointing, moving or restoring is reported now (the policy heard nothing then)."""
        dark = [m for m in job.gs.group.sats if self.e.fleet.state[m] != SUNLIT]
        if dark:
            self.e.at(t, self.fire_event, job, dark[0], "eclipse_entry")

    def end_downtime(self, job, t):
        if job.down_since == job.down_since:
            job.downtime_s += t - job.down_since
            job.down_since = math.nan

    # ---------------------------------------------------------------------------- stopping
    def release_all(self, job, t):
        """Release every GPU the job holds (drawing or reserved) and forget its ring."""
        touched = []
        for s in sorted(job.holds):
            d = job.gs.draw_slots.pop(s, 0)
            if d:
                self.e.touch(s, t)
                self.e.add_gpus(s, drawing=-d)
            self.e.release(s, job, False, t, slots=job.hold_slots[s])
            touched.append(s)
        self.unlink_ring(job)
        job.gs.group = None
        return touched

    def stop(self, job, t, why, at):
        """A member stopped abruptly: the whole group stops (work since the last checkpoint
        is lost), is queued with its checkpoint shards on its members, and the policy hears
        ``groups.on_event`` at the same instant.  Returns the work lost (GPU-h)."""
        cause = GROUP_LOSS_CAUSE.get(why, why)
        lost = self.e.lose_unsaved(job, t, {"link_lost": "failure"}.get(cause, cause))
        job.gs.pauses_by[cause] = job.gs.pauses_by.get(cause, 0) + 1
        if cause == "brownout":
            job.paused_at = t
        job.gs.next_group = None
        touched = self.release_all(job, t)           # (members stay: they hold the shards)
        gs = job.gs
        gs.prev_members, gs.prev_gpus, gs.prev_anchor = gs.members, gs.member_gpus, job.sat
        job.token += 1
        job.down_since = math.nan
        self.e.rec.event(t, "job_pause", sat=at, job=job.job_id, detail=why)
        if not job.has_checkpoint:
            job.sat = -1
            job.gs.members, job.gs.member_gpus = (), ()
        self.e.jobs.enqueue(job)
        for s in touched:
            if s != at:
                self.e.apply(s, t)
        self.e.at(t, self.fire_event, job, at, cause, job.token)
        return lost

    def checkpointed(self, job, t):
        """A group's checkpoint is written: continue on its next shape, or wait queued."""
        job.run.saved_gpu_h = job.pending_gpu_h
        job.has_checkpoint = True
        nxt, job.gs.next_group = job.gs.next_group, None
        gs = job.gs
        gs.prev_members, gs.prev_gpus, gs.prev_anchor = gs.members, gs.member_gpus, job.sat
        # stop drawing on every member; keep the holds the next shape reuses
        for s in list(job.gs.draw_slots):
            self.e.touch(s, t)
            self.e.add_gpus(s, drawing=-job.gs.draw_slots.pop(s))
        if nxt is not None:
            sats, gpus, ring = nxt
            for s in sorted(job.holds):
                if s not in sats:
                    self.e.release(s, job, False, t, slots=job.hold_slots[s])
                    self.e.apply(s, t)
            self.start(job, sats, gpus, ring, t)
            return
        touched = self.release_all(job, t)
        self.e.rec.event(t, "job_pause", sat=job.sat, job=job.job_id, detail="policy")
        job.gs.pauses_by["policy"] = job.gs.pauses_by.get("policy", 0) + 1
        self.e.jobs.enqueue(job)
        job.token += 1
        for sat in touched:
            self.e.apply(sat, t)
        self.e.driver.schedule()

    def finish(self, job, t):
        touched = self.release_all(job, t)
        for sat in touched:
            self.e.apply(sat, t)

    # ------------------------------------------------------------------------------ hooks
    def fire_event(self, job, sat, cause, token=None):
        if token is not None and token != job.token:
            return                      # the job changed since (placed again, ended)
        self.stats["group_events"] += 1
        self.e.driver.group_event(job, sat, cause)

    def member_slots(self, job, i):
        """GPUs job holds drawing on satellite i as a running member (0 if none)."""
        if job.gs.group is None and not job.gs.draw_slots:
            return job.slots if job.sat == i else 0
        return job.gs.draw_slots.get(i, 0)

