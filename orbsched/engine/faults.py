"""The engine's fault handling (a mixin of :class:`orbsched.engine.core.Engine`): radiation upsets,
host reboots, permanent GPU, satellite and laser-terminal failures, and the fault script.

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

_S_PER_H = 3600.0
SDC, HBM_UE, CRASH, HOST_REBOOT, GPU_FAIL, SAT_FAIL, TERM_FAIL, LINK_DOWN, LINK_UP = range(9)


class FaultsMixin:
    """Fault events for the engine (expects the Engine's attributes)."""

    def _init_faults(self, faults, saa, rng):
        self.faults = faults
        self.fault_stats = {k: 0 for k in ("sdc", "sdc_silent", "sdc_detected", "sdc_masked",
                                           "sdc_idle", "hbm_ue", "crash", "host_reboot",
                                           "gpu_fail", "satellite_fail", "terminal_fail",
                                           "link_down")}
        self.saa = saa
        if not faults.enabled:
            self.f_t = np.zeros(0)
            self.f_sat = self.f_gpu = np.zeros(0, np.int64)
            self.f_kind = np.zeros(0, np.int8)
            self.saa_fraction = np.zeros(self.n_sats)
            self._f_k = 0
            return
        t, sat, kind, gpu, frac = draw_faults(self.n_sats, self.hw.gpus, self.duration_s, faults,
                                              saa, rng)
        st, ss, sk, sg = [], [], [], []
        for i, f in enumerate(faults.script):
            where = f"faults.script[{i}]"
            for name in ("sat", "a", "b"):
                v = getattr(f, name)
                if v is not None and v >= self.n_sats:
                    raise ScenarioError(f"{where}.{name}: no satellite {v} (the fleet has "
                                        f"{self.n_sats}: 0 .. {self.n_sats - 1})")
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
                sg.append(int(rng.integers(0, max(self.hw.gpus, 1))) if f.kind == "gpu_fail"
                          else -1)
        if st:
            t = np.concatenate([t, st])
            sat = np.concatenate([sat, ss]).astype(np.int64)
            kind = np.concatenate([kind, sk]).astype(np.int8)
            gpu = np.concatenate([gpu, sg]).astype(np.int64)
            order = np.lexsort((gpu, kind, sat, t))
            t, sat, kind, gpu = t[order], sat[order], kind[order], gpu[order]
        self.f_t, self.f_sat, self.f_kind, self.f_gpu = t, sat, kind, gpu
        self.saa_fraction = frac
        self._f_k = 0

    def _start_faults(self):
        if len(self.f_t):
            self._at(self.f_t[0], self._on_fault)

    def _on_fault(self):
        now = self.env.now
        k = self._f_k
        t = self.f_t
        while k < len(t) and t[k] <= now:
            self._fault(int(self.f_sat[k]), int(self.f_kind[k]), int(self.f_gpu[k]), now)
            k += 1
        self._f_k = k
        if k < len(t):
            self._at(t[k], self._on_fault)

    # -------------------------------------------------------------------------- dispatch
    def _job_on_gpu(self, sat, gpu):
        """The job (or 'replica', or None) that holds GPU index ``gpu`` of a satellite."""
        u = 0
        for _, job in sorted(sat.jobs.items()):
            if job.phase in ("running", "restoring", "checkpointing"):
                u += self._member_slots(job, sat.idx)
                if gpu < u:
                    return job
        if gpu < u + sat.replica_gpus:
            return "replica"
        return None

    def _fault(self, i, kind, gpu, t):
        self.stats["events"] += 1
        sat = self.hosts[i]
        name = FAULT_KINDS[kind]
        if kind == LINK_DOWN or kind == LINK_UP:
            self.net.set_link_failed(i, gpu, kind == LINK_DOWN)
            self.fault_stats["link_down"] += kind == LINK_DOWN
            self.rec.event(t, name, sat=i, peer=gpu, detail="script")
            return
        if sat.failed:
            return
        if kind in (SDC, HBM_UE, CRASH):
            if gpu >= sat.gpus:
                return                              # that GPU has failed already
            job = self._job_on_gpu(sat, gpu)
            self.fault_stats[name] += 1
            if kind == SDC:
                self._sdc(sat, job, t)
            elif job is not None and job != "replica" and job.phase == "running":
                self._rollback(job, t, "radiation", name)
            else:
                self.rec.event(t, name, sat=i, detail="idle GPU" if job is None else "")
        elif kind == HOST_REBOOT:
            self.fault_stats[name] += 1
            self._host_reboot(sat, t)
        elif kind == GPU_FAIL:
            if gpu >= sat.gpus:
                gpu = sat.gpus - 1 if sat.gpus else -1
            if gpu < 0:
                return
            self.fault_stats[name] += 1
            self._gpu_fail(sat, gpu, t)
        elif kind == SAT_FAIL:
            self.fault_stats[name] += 1
            self._satellite_fail(sat, t)
        elif kind == TERM_FAIL:
            links = sorted(v for v in self.net.graph._adj.get(i, {}) if v < self.n_sats)
            if links:
                self.fault_stats[name] += 1
                peer = links[int(self._fault_rng.integers(len(links)))]
                self.net.set_link_failed(i, peer, True)
                self.rec.event(t, name, sat=i, peer=peer)

    # --------------------------------------------------------------------------- effects
    def _sdc(self, sat, job, t):
        if job is None or job == "replica" or job.phase != "running":
            self.fault_stats["sdc_idle"] += 1
            self.rec.event(t, "sdc", sat=sat.idx, detail="idle GPU" if job is None else
                           ("replica" if job == "replica" else job.phase))
            return
        if job.protection == "tmr":
            job.masked += 1
            self.fault_stats["sdc_masked"] += 1
            self.rec.event(t, "sdc", sat=sat.idx, job=job.job_id, detail="masked (tmr)")
        elif job.protection == "duplex":
            job.detected += 1
            self.fault_stats["sdc_detected"] += 1
            self._rollback(job, t, "radiation", "sdc detected (duplex)")
        else:
            job.corruptions.append(job.run.progress_at(t))
            self.fault_stats["sdc_silent"] += 1
            self.rec.event(t, "sdc", sat=sat.idx, job=job.job_id, detail="silent")

    def _rollback(self, job, t, cause, what):
        """Restart a running job in place from its last checkpoint (it keeps its GPUs)."""
        lost = job.run.stop_abrupt(t)
        self._drop_corruptions(job)
        job.work_lost_gpu_h += lost
        job.lost_by[cause] = job.lost_by.get(cause, 0.0) + lost
        job.has_checkpoint = job.has_checkpoint or job.run.saved_gpu_h > 0.0
        self.rec.event(t, "rollback", sat=job.sat, job=job.job_id, value=lost, detail=what)
        job.token += 1
        if job.has_checkpoint and job.restore_s > 0:
            job.phase = "restoring"
            self._at(t + job.restore_s, self._on_restored, job, job.token)
        else:
            self._start_session(job, self.hosts[job.sat], t)

    @staticmethod
    def _drop_corruptions(job):
        """A corruption made after the progress a job rolls back to is gone with it."""
        keep = job.run.saved_gpu_h
        job.corruptions = [c for c in job.corruptions if c <= keep]

    def _evict_all(self, sat, t, why):
        for job in [j for _, j in sorted(sat.jobs.items())]:
            if job.phase in ("running", "restoring", "checkpointing") \
                    and self._member_slots(job, sat.idx):
                self._stop_abrupt(job, t, why, sat.idx)
                self._drop_corruptions(job)

    def _host_reboot(self, sat, t):
        self._evict_all(sat, t, "host_reboot")
        reps = []
        if self.inference is not None:
            while self.inference.shed_one(sat, t, why="host reboot", keep=reps):
                pass
        sat.rebooting += 1
        self.free[sat.idx] = sat.free
        self.rec.event(t, "host_reboot", sat=sat.idx, value=self.faults.radiation.host_reboot_s)
        self._apply(sat, t)
        self._at(t + self.faults.radiation.host_reboot_s, self._reboot_done, sat, reps)

    def _reboot_done(self, sat, reps):
        t = self.env.now
        sat.rebooting -= 1
        self.free[sat.idx] = sat.free
        if self.inference is not None and not sat.failed:
            for k in reps:
                if sat.free >= self.inference.services[k].gpus_per_replica:
                    self.inference.add_replica(k, sat.idx, t)
        self._apply(sat, t)
        self._schedule()

    def _gpu_fail(self, sat, gpu, t):
        job = self._job_on_gpu(sat, gpu)
        if job == "replica":
            self.inference.shed_one(sat, t, why="gpu failure")
        elif job is not None:
            self._stop_abrupt(job, t, "gpu_fail", sat.idx)
            self._drop_corruptions(job)
        elif sat.free <= 0 and sat.held:          # the failed GPU was reserved: evict one
            self._evict_all(sat, t, "gpu_fail")
        self._touch(sat, t)
        sat.gpus -= 1
        self.rec.capacity_change(sat.idx, -1, t)
        self.free[sat.idx] = sat.free
        self.rec.event(t, "gpu_fail", sat=sat.idx, value=gpu)
        self._apply(sat, t)
        self._schedule()

    def _satellite_fail(self, sat, t):
        i = sat.idx
        self._evict_all(sat, t, "satellite_fail")
        if self.inference is not None:
            while self.inference.shed_one(sat, t, why="satellite failure"):
                pass
        # jobs whose checkpoint lives here, and migrations to or from here
        for job in self.jobs.values():
            if job.status in ("completed", "failed", "pending"):
                continue
            if job.dst == i and job.phase in ("checkpointing", "transferring"):
                job.token += 1                      # the migration towards it fails
                self._release(sat, job, False, t)
                if job.phase == "checkpointing":    # still writing at its source: keep going
                    job.dst = -1                    # it becomes a pause at its source
                    self._at(t + job.checkpoint_s, self._on_checkpointed, job, job.token)
                    self._mig_src.pop(job.job_id, None)
                    job.migration_failures += 1
                else:
                    self._migration_failed(job, t, "satellite_fail")
                    self._enqueue(job)
            if job.group is not None:
                continue        # a group's shard transfers from or to here fail by themselves
            if job.phase == "queued" and i in job.members:
                self._lose_checkpoint(job, t)       # a shard of its checkpoint was here
            elif job.sat == i and job.phase in ("queued", "transferring"):
                if job.phase == "transferring":
                    job.token += 1
                    dst = self.hosts[job.dst]
                    self._release(dst, job, False, t)
                    self._migration_failed(job, t, "satellite_fail")
                    self._enqueue(job)
                self._lose_checkpoint(job, t)
        for job in self.jobs.values():              # jobs just evicted from here
            if job.phase == "queued" and (job.sat == i or i in job.members):
                self._lose_checkpoint(job, t)
        sat.failed = True
        self.net.set_node_failed(i, True)
        self._touch(sat, t)
        self.rec.capacity_change(i, -sat.gpus, t)
        self.free[i] = 0
        self.rec.event(t, "satellite_fail", sat=i)
        self._apply(sat, t)
        self._schedule()

    def _lose_checkpoint(self, job, t):
        """The job's checkpoint was on a satellite that failed."""
        if self.faults.remote_checkpoints:
            job.sat = -1                            # restarts anywhere from the remote copy
            job.members = job.member_gpus = ()
            return
        lost = job.run.saved_gpu_h
        job.run.saved_gpu_h = 0.0
        job.has_checkpoint = False
        job.corruptions = []
        job.members = job.member_gpus = ()
        job.work_lost_gpu_h += lost
        job.lost_by["failure"] = job.lost_by.get("failure", 0.0) + lost
        job.sat = -1
        if lost:
            self.rec.event(t, "checkpoint_lost", job=job.job_id, value=lost)

    def fault_summary(self):
        """Counts of fault events and their outcomes for the summary."""
        out = dict(self.fault_stats)
        out["mean_saa_fraction"] = float(np.mean(self.saa_fraction)) if self.n_sats else 0.0
        return out
