"""Faults of one run (the :class:`Faults` component of :class:`orbsched.engine.core.Engine`):
radiation upsets, host reboots, permanent GPU, satellite and laser-terminal failures, and the
fault script.

Effects (see :mod:`orbsched.models.faults` for how faults are drawn):

* **SDC** on a GPU held by a running job: ``none`` - the job's state is silently corrupted
  (the corruption is recorded at the job's progress; a later rollback to an earlier checkpoint
  removes it; a job that completes with one carries a corrupted result); ``duplex`` - the two
  copies disagree, the corruption is detected and the job rolls back to its last checkpoint;
  ``tmr`` - the three copies vote and the corruption is masked.
* **HBM uncorrectable error, chip crash**: the job rolls back to its last checkpoint (any
  protection mode; SIMPLIFICATION: a TMR job could continue on two copies, we restart it).
* **Host reboot**: every job on the satellite stops (work since its checkpoint lost) and the
  satellite's GPUs are unavailable for ``host_reboot_s``; its inference replicas come back
  after the reboot.
* **GPU failure** (permanent): the satellite has one GPU less for the rest of the run; a job
  using it stops and waits for a place (its checkpoint stays on the satellite).
* **Satellite failure**: the satellite and its links are gone.  Its jobs restart from their
  last checkpoint if checkpoints survive (``faults.remote_checkpoints``), else from scratch;
  the policy is asked where.  Migrations to or from it fail; the job stays (or restarts) as
  above; its replicas are lost.
* **Laser terminal failure**: one of the satellite's links at that moment (drawn at random)
  is down for good.  **Scripted link_down**: a link is down from ``at_s`` to ``until_s``.

A GPU hit is mapped to a job by laying the satellite's jobs out in job-id order over its GPUs
(then replicas, then free GPUs): deterministic for a given state.
"""
from __future__ import annotations

import numpy as np

from ..models.faults import FAULT_KINDS, draw_faults
from ..scenario.errors import ScenarioError
from .jobs import DRAWING, Job, Phase, Status

__all__ = ["Faults"]

SDC, HBM_UE, CRASH, HOST_REBOOT, GPU_FAIL, SAT_FAIL, TERM_FAIL, LINK_DOWN, LINK_UP = range(9)
_STAT_NAMES = ("sdc", "sdc_silent", "sdc_detected", "sdc_masked", "sdc_idle", "hbm_ue", "crash",
               "host_reboot", "gpu_fail", "satellite_fail", "terminal_fail", "link_down")
_ENDED = (Status.COMPLETED, Status.FAILED, Status.PENDING)


class Faults:
    """The fault events of one run, drawn at the start (:func:`orbsched.models.faults.
    draw_faults`) plus the scenario's fault script, applied in time order (module docstring).

    ``stats`` counts the events and their outcomes; :meth:`fault_summary` adds the fleet's
    mean fraction of time in the South Atlantic Anomaly."""

    def __init__(self, engine, cfg, saa, rng: np.random.Generator) -> None:
        self.e = engine
        self.cfg = cfg
        self.rng = rng
        self.saa = saa
        self.stats = dict.fromkeys(_STAT_NAMES, 0)
        n = engine.n_sats
        self._k = 0
        if not cfg.enabled:
            self.t = np.zeros(0)
            self.sat = self.gpu = np.zeros(0, np.int64)
            self.kind = np.zeros(0, np.int8)
            self.saa_fraction = np.zeros(n)
            return
        gpus = engine.hw.gpus
        t, sat, kind, gpu, frac = draw_faults(n, gpus, engine.duration_s, cfg, saa, rng)
        st, ss, sk, sg = [], [], [], []
        for i, f in enumerate(cfg.script):
            where = f"faults.script[{i}]"
            for name in ("sat", "a", "b"):
                v = getattr(f, name)
                if v is not None and v >= n:
                    raise ScenarioError(f"{where}.{name}: no satellite {v} (the fleet has "
                                        f"{n}: 0 .. {n - 1})")
            if f.kind == "link_down":
                st.append(f.at_s)
                ss.append(f.a)
                sk.append(LINK_DOWN)
                sg.append(f.b)
                if f.until_s is not None:
                    st.append(f.until_s)
                    ss.append(f.a)
                    sk.append(LINK_UP)
                    sg.append(f.b)
            else:
                st.append(f.at_s)
                ss.append(f.sat)
                sk.append({"satellite_fail": SAT_FAIL, "gpu_fail": GPU_FAIL,
                           "host_reboot": HOST_REBOOT}[f.kind])
                sg.append(int(rng.integers(0, max(gpus, 1))) if f.kind == "gpu_fail" else -1)
        if st:
            t = np.concatenate([t, st])
            sat = np.concatenate([sat, ss]).astype(np.int64)
            kind = np.concatenate([kind, sk]).astype(np.int8)
            gpu = np.concatenate([gpu, sg]).astype(np.int64)
            order = np.lexsort((gpu, kind, sat, t))
            t, sat, kind, gpu = t[order], sat[order], kind[order], gpu[order]
        self.t, self.sat, self.kind, self.gpu = t, sat, kind, gpu
        self.saa_fraction = frac

    def start(self) -> None:
        if len(self.t):
            self.e.at(self.t[0], self._on_fault)

    def _on_fault(self) -> None:
        e = self.e
        now = e.env.now
        k = self._k
        t = self.t
        while k < len(t) and t[k] <= now:
            self._fault(int(self.sat[k]), int(self.kind[k]), int(self.gpu[k]), now)
            k += 1
        self._k = k
        if k < len(t):
            e.at(t[k], self._on_fault)

    # -------------------------------------------------------------------------- dispatch
    def _job_on_gpu(self, i: int, gpu: int) -> Job | str | None:
        """The job (or 'replica', or None) that holds GPU index ``gpu`` of satellite i."""
        e = self.e
        u = 0
        for _, job in sorted(e.on_host[i].items()):
            if job.phase in DRAWING:
                u += e.groups.member_slots(job, i)
                if gpu < u:
                    return job
        if gpu < u + int(e.fleet.replica[i]):
            return "replica"
        return None

    def _fault(self, i: int, kind: int, gpu: int, t: float) -> None:
        e = self.e
        e.stats["events"] += 1
        fl = e.fleet
        name = FAULT_KINDS[kind]
        if kind in (LINK_DOWN, LINK_UP):
            e.net.set_link_failed(i, gpu, kind == LINK_DOWN)
            self.stats["link_down"] += kind == LINK_DOWN
            e.rec.event(t, name, sat=i, peer=gpu, detail="script")
            return
        if fl.failed[i]:
            return
        if kind in (SDC, HBM_UE, CRASH):
            if gpu >= fl.gpus[i]:
                return                              # that GPU has failed already
            job = self._job_on_gpu(i, gpu)
            self.stats[name] += 1
            if kind == SDC:
                self._sdc(i, job, t)
            elif isinstance(job, Job) and job.phase is Phase.RUNNING:
                self._rollback(job, t, "radiation", name)
            else:
                e.rec.event(t, name, sat=i, detail="idle GPU" if job is None else "")
        elif kind == HOST_REBOOT:
            self.stats[name] += 1
            self._host_reboot(i, t)
        elif kind == GPU_FAIL:
            n_gpus = int(fl.gpus[i])
            if gpu >= n_gpus:
                gpu = n_gpus - 1 if n_gpus else -1
            if gpu < 0:
                return
            self.stats[name] += 1
            self._gpu_fail(i, gpu, t)
        elif kind == SAT_FAIL:
            self.stats[name] += 1
            self._satellite_fail(i, t)
        elif kind == TERM_FAIL:
            links = sorted(v for v in e.net.graph._adj.get(i, {}) if v < e.n_sats)
            if links:
                self.stats[name] += 1
                peer = links[int(self.rng.integers(len(links)))]
                e.net.set_link_failed(i, peer, True)
                e.rec.event(t, name, sat=i, peer=peer)

    # --------------------------------------------------------------------------- effects
    def _sdc(self, i: int, job: Job | str | None, t: float) -> None:
        e = self.e
        if not isinstance(job, Job) or job.phase is not Phase.RUNNING:
            self.stats["sdc_idle"] += 1
            e.rec.event(t, "sdc", sat=i, detail="idle GPU" if job is None else
                        ("replica" if isinstance(job, str) else str(job.phase)))
            return
        protection = job.spec.protection
        if protection == "tmr":
            job.masked += 1
            self.stats["sdc_masked"] += 1
            e.rec.event(t, "sdc", sat=i, job=job.job_id, detail="masked (tmr)")
        elif protection == "duplex":
            job.detected += 1
            self.stats["sdc_detected"] += 1
            self._rollback(job, t, "radiation", "sdc detected (duplex)")
        else:
            job.corruptions.append(job.run.progress_at(t))
            self.stats["sdc_silent"] += 1
            e.rec.event(t, "sdc", sat=i, job=job.job_id, detail="silent")

    def _rollback(self, job: Job, t: float, cause: str, what: str) -> None:
        """Restart a running job in place from its last checkpoint (it keeps its GPUs)."""
        e = self.e
        lost = job.run.stop_abrupt(t)
        self.drop_corruptions(job)
        e.jobs.lose(job, cause, lost)
        job.has_checkpoint = job.has_checkpoint or job.run.saved_gpu_h > 0.0
        e.rec.event(t, "rollback", sat=job.sat, job=job.job_id, value=lost, detail=what)
        job.token += 1
        if job.has_checkpoint and job.spec.restore_s > 0:
            job.phase = Phase.RESTORING
            e.at(t + job.spec.restore_s, e.moves.on_restored, job, job.token)
        else:
            e.start_session(job, job.sat, t)

    @staticmethod
    def drop_corruptions(job: Job) -> None:
        """A corruption made after the progress a job rolls back to is gone with it."""
        keep = job.run.saved_gpu_h
        job.corruptions = [c for c in job.corruptions if c <= keep]

    def _evict_all(self, i: int, t: float, why: str) -> None:
        e = self.e
        for job in [j for _, j in sorted(e.on_host[i].items())]:
            if job.phase in DRAWING and e.groups.member_slots(job, i):
                e.stop_abrupt(job, t, why, i)
                self.drop_corruptions(job)

    def _host_reboot(self, i: int, t: float) -> None:
        e = self.e
        self._evict_all(i, t, "host_reboot")
        reps: list = []
        if e.inference is not None:
            while e.inference.shed_one(i, t, why="host reboot", keep=reps):
                pass
        e.fleet.begin_reboot(i)
        reboot_s = self.cfg.radiation.host_reboot_s
        e.rec.event(t, "host_reboot", sat=i, value=reboot_s)
        e.apply(i, t)
        e.at(t + reboot_s, self._reboot_done, i, reps)

    def _reboot_done(self, i: int, reps: list) -> None:
        e = self.e
        t = e.env.now
        fl = e.fleet
        fl.end_reboot(i)
        if e.inference is not None and not fl.failed[i]:
            for k in reps:
                if fl.free[i] >= e.inference.services[k].gpus_per_replica:
                    e.inference.add_replica(k, i, t)
        e.apply(i, t)
        e.driver.schedule()

    def _gpu_fail(self, i: int, gpu: int, t: float) -> None:
        e = self.e
        fl = e.fleet
        job = self._job_on_gpu(i, gpu)
        if job == "replica":
            e.inference.shed_one(i, t, why="gpu failure")
        elif isinstance(job, Job):
            e.stop_abrupt(job, t, "gpu_fail", i)
            self.drop_corruptions(job)
        elif fl.free[i] <= 0 and fl.held[i]:        # the failed GPU was reserved: evict one
            self._evict_all(i, t, "gpu_fail")
        fl.touch(i, t)
        fl.fail_gpu(i)
        e.rec.capacity_change(i, -1, t)
        e.rec.event(t, "gpu_fail", sat=i, value=gpu)
        e.apply(i, t)
        e.driver.schedule()

    def _satellite_fail(self, i: int, t: float) -> None:
        e = self.e
        fl = e.fleet
        self._evict_all(i, t, "satellite_fail")
        if e.inference is not None:
            while e.inference.shed_one(i, t, why="satellite failure"):
                pass
        # jobs whose checkpoint lives here, and migrations to or from here
        for job in list(e.jobs.values()):
            if job.status in _ENDED:
                continue
            if job.dst == i and job.phase in (Phase.CHECKPOINTING, Phase.TRANSFERRING):
                job.token += 1                      # the migration towards it fails
                e.release(i, job, False, t)
                if job.phase is Phase.CHECKPOINTING:   # still writing at its source: go on
                    job.dst = -1                    # it becomes a pause at its source
                    e.at(t + job.spec.checkpoint_s, e.moves.on_checkpointed, job, job.token)
                    e.moves.mig_src.pop(job.job_id, None)
                    job.migration_failures += 1
                else:
                    e.moves.migration_failed(job, t, "satellite_fail")
                    e.jobs.enqueue(job)
            if job.gs.group is not None:
                continue        # a group's shard transfers from or to here fail by themselves
            if job.phase is Phase.QUEUED and i in job.gs.members:
                self._lose_checkpoint(job, t)       # a shard of its checkpoint was here
            elif job.sat == i and job.phase in (Phase.QUEUED, Phase.TRANSFERRING):
                if job.phase is Phase.TRANSFERRING:
                    job.token += 1
                    e.release(job.dst, job, False, t)
                    e.moves.migration_failed(job, t, "satellite_fail")
                    e.jobs.enqueue(job)
                self._lose_checkpoint(job, t)
        for job in list(e.jobs.values()):           # jobs just evicted from here
            if job.phase is Phase.QUEUED and (job.sat == i or i in job.gs.members):
                self._lose_checkpoint(job, t)
        fl.touch(i, t)
        e.rec.capacity_change(i, -int(fl.gpus[i]), t)
        fl.fail_satellite(i)
        e.net.set_node_failed(i, True)
        e.rec.event(t, "satellite_fail", sat=i)
        e.apply(i, t)
        e.driver.schedule()

    def _lose_checkpoint(self, job: Job, t: float) -> None:
        """The job's checkpoint was on a satellite that failed."""
        if job.gs.members:
            job.gs.members = job.gs.member_gpus = ()
        if self.cfg.remote_checkpoints:
            job.sat = -1                            # restarts anywhere from the remote copy
            return
        lost = job.run.saved_gpu_h
        job.run.saved_gpu_h = 0.0
        job.has_checkpoint = False
        job.corruptions = []
        self.e.jobs.lose(job, "failure", lost)
        job.sat = -1
        if lost:
            self.e.rec.event(t, "checkpoint_lost", job=job.job_id, value=lost)

    def fault_summary(self) -> dict:
        """Counts of fault events and their outcomes for the summary."""
        out: dict[str, float] = dict(self.stats)
        out["mean_saa_fraction"] = float(np.mean(self.saa_fraction)) if self.e.n_sats else 0.0
        return out
