"""Moving work: placing a queued job, migrations, pauses and inference-replica moves.

A migration is checkpoint -> flow-level transfer over the laser network -> restore; the job
stays safe at its source until the restore completes (the destination's GPUs are reserved,
drawing idle power, from the start).  A pause writes a checkpoint and queues the job with it
where it was.  :class:`Moves` applies the decisions :class:`~orbsched.engine.decisions.
PolicyDriver` has checked.
"""
from __future__ import annotations

from .jobs import Job, Phase, Status

__all__ = ["Moves"]


class Moves:
    """Placements, migrations, pauses and replica moves of one run (module docstring)."""

    def __init__(self, engine) -> None:
        self.e = engine
        self.mig_src: dict = {}      # job_id -> source host of its migration

    # ========================================================================= placements
    def place_here(self, job: Job, i: int, t: float) -> None:
        """A queued job starts on host i (restoring first when it has a checkpoint there)."""
        e = self.e
        job.sat = i
        e.hold(i, job, True, t)
        if job.has_checkpoint and job.spec.restore_s > 0:
            job.status, job.phase = Status.RUNNING, Phase.RESTORING
            job.token += 1
            e.at(t + job.spec.restore_s, self.on_restored, job, job.token)
        else:
            e.start_session(job, i, t)
        e.rec.event(t, "job_start", sat=i, job=job.job_id)
        e.apply(i, t)

    def on_restored(self, job: Job, token: int) -> None:
        e = self.e
        if not e.fresh(job, token):
            return
        t = e.env.now
        i = job.sat
        if job.gs.group is not None:
            e.start_session(job, i, t)
            e.groups.end_downtime(job, t)
            e.groups.started(job, t)
            return
        migrating_in = job.dst >= 0
        e.start_session(job, i, t)
        if migrating_in:
            job.downtime_s += t - job.down_since
            e.rec.event(t, "migration_end", sat=self.mig_src.pop(job.job_id, -1),
                        job=job.job_id, peer=i, value=t - job.down_since)
            job.dst = -1
            e.driver.schedule()

    # ========================================================================= migrations
    def begin_migration(self, job: Job, src: int, dst: int, t: float, *, checkpoint: bool) -> None:
        e = self.e
        job.migrations += 1
        job.status = Status.MIGRATING
        job.dst = dst
        job.down_since = t
        self.mig_src[job.job_id] = src
        job.hint = e.driver.path_hint(src, dst)
        e.hold(dst, job, False, t)          # reserved: idle power until the restore
        e.rec.event(t, "migration_start", sat=src, job=job.job_id, peer=dst)
        job.token += 1
        if checkpoint:
            job.pending_gpu_h = job.run.halt(t)[0]
            job.phase = Phase.CHECKPOINTING   # GPUs at the source keep drawing while writing
            e.at(t + job.spec.checkpoint_s, self.on_checkpointed, job, job.token)
        else:
            self.start_transfer(job, src, dst, t)
        e.apply(dst, t)

    def on_checkpointed(self, job: Job, token: int) -> None:
        e = self.e
        if not e.fresh(job, token):
            return
        t = e.env.now
        if job.gs.group is not None:
            return e.groups.checkpointed(job, t)
        job.run.saved_gpu_h = job.pending_gpu_h
        job.has_checkpoint = True
        src = job.sat
        e.release(src, job, True, t)
        if job.dst >= 0:
            self.start_transfer(job, src, job.dst, t)
        else:                                 # a pause: wait in the queue on this satellite
            e.rec.event(t, "job_pause", sat=src, job=job.job_id, detail="policy")
            e.jobs.enqueue(job)
            job.token += 1
        paused = job.dst < 0
        e.apply(src, t)
        if paused:
            e.driver.schedule()

    def start_transfer(self, job: Job, src: int, dst: int, t: float) -> None:
        job.phase = Phase.TRANSFERRING
        tr = self.e.net.transfer(src, dst, job.spec.checkpoint_gb,
                                 label=("migration", job.job_id), path_hint=job.hint)
        job.hint = None
        token = job.token
        tr.callbacks.append(lambda ev: self.on_transferred(job, token, ev.value))

    def on_transferred(self, job: Job, token: int, rec) -> None:
        e = self.e
        if not e.fresh(job, token, Phase.TRANSFERRING):
            return
        t = e.env.now
        dst = job.dst
        if rec.ok:
            job.bytes_moved_gb += job.spec.checkpoint_gb
            job.sat = dst
            job.phase = Phase.RESTORING
            e.touch(dst, t)
            e.add_gpus(dst, drawing=job.slots)     # the reservation starts drawing power
            job.token += 1
            e.at(t + job.spec.restore_s, self.on_restored, job, job.token)
            e.apply(dst, t)
        else:
            e.release(dst, job, False, t)
            self.migration_failed(job, t, rec.reason or "transfer failed")
            e.jobs.enqueue(job)
            e.apply(dst, t)
            e.driver.schedule()

    def migration_failed(self, job: Job, t: float, why: str) -> None:
        job.migration_failures += 1
        job.downtime_s += t - job.down_since
        src = self.mig_src.pop(job.job_id, job.sat)
        self.e.rec.event(t, "migration_failed", sat=src, job=job.job_id, peer=job.dst,
                         detail=why)
        job.dst = -1

    # ============================================================================ pauses
    def begin_pause(self, job: Job, t: float) -> None:
        job.token += 1
        job.pending_gpu_h = job.run.halt(t)[0]
        job.phase = Phase.CHECKPOINTING
        job.dst = -1
        self.e.at(t + job.spec.checkpoint_s, self.on_checkpointed, job, job.token)

    # ========================================================================= inference
    def move_replica(self, d, t: float) -> None:
        e = self.e
        drv = e.driver
        inf = e.inference
        if inf is None:
            drv.reject(d, "the scenario has no inference services")
        try:
            k = inf.index(d.service)
        except KeyError as exc:
            drv.reject(d, str(exc.args[0]))
        if inf.replicas[k].get(d.src, 0) - inf.moving_out.get((k, d.src), 0) <= 0:
            drv.reject(d, f"satellite {d.src} holds no replica of {d.service!r} to move")
        if d.dst == d.src:
            drv.reject(d, "source and destination are the same satellite")
        g = inf.services[k].gpus_per_replica
        dst = drv.check_host(d, d.dst, g, "a replica")
        if not drv.reachable(d.src, dst):
            drv.reject(d, f"no laser path from satellite {d.src} to {d.dst} now")
        # reserve the destination's GPUs; the source keeps serving until the copy arrives
        e.touch(dst, t)
        e.add_gpus(dst, held=g, replica=g)
        inf.moving_out[(k, d.src)] = inf.moving_out.get((k, d.src), 0) + 1
        e.rec.event(t, "replica_move_start", sat=d.src, peer=dst, detail=d.service)
        tr = e.net.transfer(d.src, dst, inf.services[k].replica_gb,
                            label=("replica", d.service), path_hint=drv.path_hint(d.src, dst))
        tr.callbacks.append(lambda ev: self._replica_moved(k, d.src, dst, ev.value))

    def _replica_moved(self, k: int, src: int, dst: int, rec) -> None:
        e = self.e
        inf = e.inference
        t = e.env.now
        g = inf.services[k].gpus_per_replica
        inf.moving_out[(k, src)] -= 1
        e.touch(dst, t)
        e.add_gpus(dst, held=-g, replica=-g)   # the reservation becomes (or gives way to) a replica
        failed = bool(e.fleet.failed[dst]) if dst < e.n_sats else False
        ok = rec.ok and inf.replicas[k].get(src, 0) > 0 and not failed
        if ok:
            inf.add_replica(k, dst, t)
            inf.remove_replica(k, src, t, "moved")
            e.apply(src, t)
            e.rec.event(t, "replica_move_end", sat=src, peer=dst,
                        detail=inf.services[k].name)
        else:
            e.apply(dst, t)
            e.rec.event(t, "replica_move_failed", sat=src, peer=dst,
                        detail=f"{inf.services[k].name}: {rec.reason or 'source replica gone'}")
