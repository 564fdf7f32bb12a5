"""Policy decisions, migrations, pauses and inference-replica moves, for
:class:`orbsched.engine.core.Engine` (split from it; the same object, one concern per module).

Every decision a policy returns is validated here (job state, free GPUs, power at the decision
time, a laser path) and applied; an impossible one raises :class:`orbsched.scenario.errors.PolicyError`
naming the policy and the decision.  A migration is checkpoint -> flow-level transfer ->
restore; the job stays safe at its source until the restore completes.
"""
from __future__ import annotations

import math

import numpy as np

from ..policies.decisions import Migrate, Pause, Place
from ..policies.groups import PlaceGroup, Replace, Reshape, Shrink
from ..policies.replicas import MoveReplica
from ..scenario.errors import PolicyError

__all__ = ["MovesMixin"]


class MovesMixin:
    """Decisions and moves of the engine (see the module docstring)."""

    # ====================================================================== decisions
    def _run(self, hook, fn, *args):
        """Call a policy hook ``fn(*args)`` through the guard (:mod:`orbsched.engine.hookguard`:
        a wall-clock budget, exceptions and return values checked) and apply the decisions it
        returns (an iterable, or a generator whose decisions are applied as it yields them;
        None: none); ``hook`` names it in errors."""
        self._guard.call(hook, fn, args, self._decide)

    def _schedule(self):
        """Queued jobs might start now: the policy's queue pass."""
        self._run("schedule", self.policy.schedule, self.view)

    def _shadow(self, sats):
        """Satellites entering shadow at this instant, all at once: the policy's
        ``on_shadow``, then its replica strategy's (when the scenario serves inference)."""
        arr = np.asarray(sats, dtype=np.int64)
        arr.flags.writeable = False
        self._run("on_shadow", self.policy.on_shadow, arr, self.view)
        if self.inference is not None:
            self._run("replicas.on_shadow", self.policy.replicas.on_shadow, arr, self.view)

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

    def note_reachable(self, src, dist, pred):
        """Remember what a view search found from src (valid until the network changes), so
        validating a decision built on it needs no second route search, and its transfer can
        start on the path the search found.  ``dist`` is finite at every node the search
        reached, ``pred`` its predecessor on a path from src (arrays, see
        :func:`orbsched._kernels.nearest_hosts`)."""
        self._reach = (self.net._version, src, dist, pred)

    def _reachable(self, a, b):
        ver, src, dist, _ = self._reach
        if ver == self.net._version and src == a and dist[b] < math.inf:
            return True
        return self.net.route(a, b, include_acquiring=True) is not None

    def _path_hint(self, a, b):
        """(version, path a..b) from the last view search, if it still applies."""
        ver, src, dist, pred = self._reach
        if ver != self.net._version or src != a or not dist[b] < math.inf:
            return None
        path = [b]
        while path[-1] != a:
            path.append(int(pred[path[-1]]))
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
            self._schedule()

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
            self._schedule()

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
            self._schedule()

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
