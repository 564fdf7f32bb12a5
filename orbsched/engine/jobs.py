"""Jobs in the engine: their phases, one job's state, and the job table (arrivals and queue).

A job's *spec* (what was asked: the workload's :class:`~orbsched.workload.jobs.TrainingJob`
record, frozen), its *state* (where it is, its phase, its progress and accounting) and, for a
job that spans satellites, its *group state* are kept apart: ``job.spec``, the :class:`Job`
itself, and ``job.gs`` (:class:`GroupState`, created the first time the job spans satellites;
until then the shared, empty :data:`NO_GROUP`).

Phases (:class:`Phase`) and statuses (:class:`Status`) are enums whose values are the strings
the results tables and the policy view show; a job's status is what a user sees (queued,
running, migrating, completed, failed), its phase what the engine is doing with it.

The table (:class:`JobTable`) creates a job when it arrives (the workload is streamed: a job
that has not arrived is a row of the workload, not an object), keeps the queue in arrival
order (entries no longer queued are skipped and compacted away when they are the majority)
and the jobs by id.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from enum import Enum
from types import MappingProxyType

from ..models.training import JobRun

__all__ = ["GroupState", "Job", "JobTable", "LOSS_CAUSE", "NO_GROUP", "Phase", "REDUNDANCY",
           "Status"]

#: GPUs per logical GPU for each protection mode (duplex: 2 copies compare; TMR: 3 vote).
REDUNDANCY = {"none": 1, "duplex": 2, "tmr": 3}
#: What a stop's reason counts as in the work-lost breakdown.
LOSS_CAUSE = {"brownout": "brownout", "host_reboot": "radiation", "radiation": "radiation",
              "gpu_fail": "failure", "satellite_fail": "failure", "failure": "failure"}


class _Named(str, Enum):
    """An enum whose members are their string values (compare, format and hash as those)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Phase(_Named):
    """What the engine is doing with a job."""

    PENDING = "pending"              # not arrived
    QUEUED = "queued"                # waiting (maybe with a checkpoint on ``job.sat``)
    RUNNING = "running"              # computing
    RESTORING = "restoring"          # reading its checkpoint before computing
    CHECKPOINTING = "checkpointing"  # writing a checkpoint (to pause or to move)
    TRANSFERRING = "transferring"    # its checkpoint crosses the laser network
    COMPLETED = "completed"
    FAILED = "failed"


class Status(_Named):
    """What a user sees of a job (``jobs.parquet``'s ``status``)."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    MIGRATING = "migrating"
    COMPLETED = "completed"
    FAILED = "failed"


#: Phases in which a job holds GPUs that draw power on its satellite(s).
DRAWING = (Phase.RUNNING, Phase.CHECKPOINTING, Phase.RESTORING)


class GroupState:
    """The state of a job spanning satellites (see :mod:`orbsched.engine.groups`)."""

    __slots__ = ("group", "members", "member_gpus", "next_group", "pending_shards",
                 "draw_slots", "prev_members", "prev_gpus", "prev_anchor", "pauses_by",
                 "reshapes", "max_members", "comm_frac", "step_wall_s")

    def __init__(self) -> None:
        self.group = None           # Group while it holds members
        self.members: tuple = ()    # its satellites (ring order); checkpoint shards if queued
        self.member_gpus: tuple = ()
        self.next_group = None      # (sats, gpus, ring) after the checkpoint of a reshape
        self.pending_shards = 0
        self.draw_slots: dict = {}  # satellite -> GPUs drawing there
        self.prev_members: tuple = ()
        self.prev_gpus: tuple = ()
        self.prev_anchor = -1
        self.pauses_by: dict = {}   # cause -> abrupt or policy stops of the group
        self.reshapes = 0
        self.max_members = 1
        self.comm_frac = 0.0        # of a step's time, the ring all-reduce's share
        self.step_wall_s = math.nan


class _NoGroup(GroupState):
    """The group state of a job that never spanned satellites: empty, and read-only."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a job that does not span satellites has no group state to "
                             f"set ({name}); give it a GroupState first")


def _no_group() -> GroupState:
    g = _NoGroup.__new__(_NoGroup)
    template = GroupState()
    for slot in GroupState.__slots__:
        value = getattr(template, slot)
        if isinstance(value, dict):     # shared by every job: its mappings are read-only too
            value = MappingProxyType(value)
        object.__setattr__(g, slot, value)
    return g


#: The group state of every job that never spanned satellites (read only).
NO_GROUP = _no_group()


class Job:
    """Engine-side state of one job (policies see it through a read-only
    :class:`~orbsched.engine.view.JobInfo`).  The spec's fields the engine reads at every
    event are copied here (``job_id``, ``gpus``, ``slots``, ``factor``); the rest is read
    through ``job.spec``."""

    __slots__ = ("spec", "job_id", "gpus", "factor", "slots", "run", "status", "phase", "sat",
                 "dst", "token", "first_start_s", "end_s", "reason", "migrations",
                 "migration_failures", "bytes_moved_gb", "downtime_s", "work_lost_gpu_h",
                 "brownouts", "down_since", "pending_gpu_h", "has_checkpoint", "queue_pos",
                 "finish_pending", "hint", "lost_by", "holds", "hold_slots", "held_slot_s",
                 "corruptions", "corrupted_results", "detected", "masked", "paused_at",
                 "eclipse_wait_gpu_h", "spans", "gs")

    def __init__(self, spec) -> None:
        self.spec = spec
        self.job_id = spec.job_id
        self.gpus = spec.gpus
        self.factor = REDUNDANCY[spec.protection]
        self.slots = self.gpus * self.factor        # GPUs it occupies (copies included)
        self.run = JobRun(spec.work_gpu_h, spec.checkpoint_interval_s, spec.checkpoint_s)
        self.status = Status.PENDING
        self.phase = Phase.PENDING
        self.sat = -1             # where it runs, or where its checkpoint is when queued
        self.dst = -1             # a migration's destination
        self.token = 0            # its current timer (older timers are stale)
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
        self.hint = None          # (network version, path) a view search found for it
        self.lost_by: dict = {}   # cause -> GPU-h of work lost
        self.holds: dict = {}     # host -> time its GPUs were taken
        self.hold_slots: dict = {}    # host -> GPUs held there (copies included)
        self.held_slot_s = 0.0    # GPU-seconds held, copies included
        self.corruptions: list = []   # progress levels of silent corruptions
        self.corrupted_results = 0
        self.detected = 0
        self.masked = 0
        self.paused_at = math.nan
        self.eclipse_wait_gpu_h = 0.0
        self.spans = False        # larger than a satellite, or placed as a group
        self.gs: GroupState = NO_GROUP

    def span(self) -> GroupState:
        """Mark the job as spanning satellites; its group state (made on first use)."""
        self.spans = True
        if self.gs is NO_GROUP:
            self.gs = GroupState()
        return self.gs

    def __repr__(self) -> str:
        return (f"Job({self.job_id}, {self.status}/{self.phase}, sat={self.sat}, "
                f"gpus={self.gpus}, work={self.spec.work_gpu_h:.3f} GPU-h)")


class JobTable:
    """The jobs of a run: created at arrival from the workload's stream, kept by id, and the
    queue (module docstring)."""

    def __init__(self, workload) -> None:
        self.by_id: dict = {}
        self.queue: list = []         # arrival order; entries not queued any more are skipped
        self.n_queued = 0
        #: changes of the jobs' outcomes: +1 at each loss of work (of more than 0 GPU-h) and
        #: each end (completed, failed); an observer that sums them rescans when it moved
        self.outcomes = 0
        self._stream: Iterator = iter(workload.jobs())
        self._next = next(self._stream, None)
        self._n_later = 0

    # ------------------------------------------------------------------------- arrivals
    def next_arrival_s(self) -> float:
        """Arrival time of the next job not yet arrived (inf: none)."""
        return math.inf if self._next is None else self._next.arrival_s

    def arrive(self) -> Job:
        """The next job of the stream, now an engine job."""
        job = Job(self._next)
        self.by_id[job.job_id] = job
        self._next = next(self._stream, None)
        return job

    def not_arrived(self) -> int:
        """Jobs of the workload that have not arrived (counted by reading the rest of the
        stream: call it once the run has ended)."""
        if self._next is not None:
            self._n_later = sum(1 for _ in self._stream) + 1
            self._next = None
        return self._n_later

    # ------------------------------------------------------------------------- outcomes
    def lose(self, job: Job, cause: str, gpu_h: float) -> None:
        """Record ``gpu_h`` of the job's work lost to ``cause``."""
        job.work_lost_gpu_h += gpu_h
        job.lost_by[cause] = job.lost_by.get(cause, 0.0) + gpu_h
        if gpu_h:
            self.outcomes += 1

    def end(self, job: Job, status: Status) -> None:
        """The job ends: ``Status.COMPLETED`` or ``Status.FAILED`` (the caller sets its time
        and reason)."""
        job.status = status
        job.phase = Phase.COMPLETED if status is Status.COMPLETED else Phase.FAILED
        self.outcomes += 1

    # ---------------------------------------------------------------------------- queue
    def enqueue(self, job: Job) -> None:
        job.status = Status.QUEUED
        job.phase = Phase.QUEUED
        job.queue_pos = len(self.queue)
        self.queue.append(job)
        self.n_queued += 1

    def dequeue(self, job: Job) -> None:
        self.n_queued -= 1
        job.queue_pos = -1
        q = self.queue
        if len(q) > 64 and self.n_queued < len(q) // 2:
            self.queue = [j for j in q if j.phase is Phase.QUEUED and j.queue_pos >= 0]
            for pos, j in enumerate(self.queue):
                j.queue_pos = pos

    def queued(self) -> Iterator[Job]:
        """Queued jobs in arrival order (safe while the queue changes)."""
        for j in self.queue:
            if j.phase is Phase.QUEUED and j.queue_pos >= 0:
                yield j

    # ---------------------------------------------------------------------------- access
    def __getitem__(self, job_id: int) -> Job:
        return self.by_id[job_id]

    def get(self, job_id: int) -> Job | None:
        return self.by_id.get(job_id)

    def values(self):
        return self.by_id.values()

    def __len__(self) -> int:
        return len(self.by_id)
