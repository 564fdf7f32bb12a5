"""The policy API's small core: three decisions, three hooks, two knobs, a typed view.

A policy is a class.  The engine calls its hooks with a read-only view (:class:`View`) and
applies the decisions they return (an iterable, or a generator: each decision is applied as it
is yielded, so the view already shows it when the next one is chosen).  Every decision is
checked (job state, free GPUs, power now, a laser path) and an impossible one ends the run with
an error naming the policy, the decision, the hook and the simulated time; nothing is ever
dropped silently.

Decisions
    * :class:`Place` ``(job_id, sat)``: start a queued job.  A job that never ran starts at
      once; one whose checkpoint is on ``sat`` restores there; one whose checkpoint is
      elsewhere moves there first (a migration of its checkpoint).
    * :class:`Migrate` ``(job_id, sat)``: move a running job: checkpoint at its satellite,
      transfer over the laser network, restore at ``sat``; it is safe at its source until the
      restore completes.
    * :class:`Pause` ``(job_id,)``: checkpoint a running job and release its GPUs; it waits in
      the queue with its checkpoint where it was.

Hooks (each optional; the defaults are the base class's)
    * :meth:`Policy.place` ``(job, view) -> host or None``: where a queued job should start
      now.  Called by :meth:`Policy.schedule` for each queued job it considers.
    * :meth:`Policy.on_shadow` ``(sats, view)``: the satellites (an array) that enter Earth's
      shadow at this instant, all at once.  Default: nothing (jobs run on through the eclipse
      on battery; at the payload floor the engine sheds them).
    * :meth:`Policy.on_tick` ``(view)``: every ``policy.tick_s`` seconds when the scenario sets
      it.  Default: :meth:`schedule`.

    The engine also calls :meth:`Policy.schedule` ``(view)`` whenever queued jobs might start:
    a job arrived, GPUs were freed (a job ended, paused, was shed, a migration ended or
    failed), a satellite left shadow, a host came back or lost GPUs.  The default is first
    come, first served with a backfill window (below); override it to change the queue
    discipline itself.  With ``link_events = True`` the engine also calls
    :meth:`Policy.on_link_change` ``(a, b, up, view)`` at every laser link change (frequent).

Knobs
    * ``backfill`` (64): when the head of the queue cannot start, try up to this many later
      jobs (0 = strict FIFO).  A job that waits for its own satellite (its checkpoint is
      there) does not count against the window.
    * ``moves_queued`` (False): may a queued job whose checkpoint is on one satellite start on
      another?  When False such a job resumes on its own satellite as soon as that can power
      it, and :meth:`place` is not asked about it (unless that satellite lost the GPUs it
      needs).

Extensions (separate objects, each with its own defaults; a policy rarely replaces them)
    * ``policy.groups`` (:class:`orbsched.policies.groups.GroupStrategy`): jobs larger than
      one satellite, run on a ring of satellites (options ``group_on_eclipse``,
      ``group_on_loss``, ``group_lookahead_s``).
    * ``policy.replicas`` (:class:`orbsched.policies.replicas.ReplicaStrategy`): inference
      replicas (their initial placement and their moves at eclipse entry).

Randomness: ``self.rng`` is a :class:`numpy.random.Generator` the engine gives (seeded from the
scenario), the only source of randomness a policy may use.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from .decisions import Decision, Migrate, Pause, Place
from .groups import GroupStrategy
from .replicas import ReplicaStrategy

__all__ = ["Decision", "JobInfo", "Migrate", "Pause", "Place", "Policy", "View"]


class JobInfo(Protocol):
    """What a policy may read about a job (read-only; progress is evaluated now)."""

    job_id: int             #: the job's id (``Place(job_id, ...)`` names it)
    name: str               #: its name in the workload (``syn-17``, a trace's job name)
    gpus: int               #: GPUs it occupies (its GPUs x 2 for duplex, x 3 for TMR)
    work_gpus: int          #: GPUs of one copy
    min_gpus: int           #: elastic minimum (GPUs of one copy)
    protection: str         #: none | duplex | tmr
    work_gpu_h: float       #: its work: GPU-hours at nominal speed on ``work_gpus`` GPUs
    arrival_s: float        #: arrival time, s from the start
    checkpoint_gb: float    #: size of its checkpoint, GB (what a migration moves)
    checkpoint_s: float     #: time to write a checkpoint, s
    restore_s: float        #: time to restore from a checkpoint, s
    checkpoint_interval_s: float  #: computing time between checkpoints, s
    status: str             #: queued | running | migrating | completed | failed
    phase: str              #: queued | running | restoring | checkpointing | transferring
    sat: int                #: where it runs, or where its checkpoint is (-1: nowhere)
    has_checkpoint: bool    #: a checkpoint exists (on ``sat``; with shards on its members)
    is_group: bool          #: spans satellites (see policy.groups)
    members: tuple          #: a group's satellites, in ring order (empty otherwise)
    member_gpus: tuple      #: GPUs the job holds on each member
    step_s: float           #: compute time of one training step on all its GPUs, s
    gradient_gb: float      #: gradient exchanged each step by a group's ring all-reduce, GB
    min_link_gbps: float    #: a group's ring hops must give at least this rate
    max_link_latency_s: float  #: a group's ring hops may have at most this light time
    progress_gpu_h: float   #: work done so far, GPU-h (including work not yet checkpointed)
    saved_gpu_h: float      #: work safe in its last checkpoint, GPU-h
    unsaved_gpu_h: float    #: work a stop now would lose, GPU-h
    remaining_gpu_h: float  #: work left, GPU-h
    lost_by: Mapping        #: GPU-h of its work lost so far, by cause (read-only)


class View(Protocol):
    """The read-only view a policy sees (:class:`orbsched.engine.view.View` implements it).

    Satellites are ``0 .. n_sats - 1``; data centres have host indices from ``n_sats`` on.
    Members marked O(N) touch every satellite: fine for a few thousand, costly per event at
    100,000; the others cost what they visit.
    """

    SUNLIT: int                        #: the value of ``state`` for a satellite in sunlight
    PENUMBRA: int                      #: the value of ``state`` in penumbra
    UMBRA: int                         #: the value of ``state`` in umbra
    n_sats: int                        #: satellites in the fleet
    gpus_per_sat: int                  #: GPUs per satellite (the hardware's)
    free: np.ndarray                   #: free GPUs per satellite (read-only, live)
    state: np.ndarray                  #: SUNLIT / PENUMBRA / UMBRA per satellite (live)
    next_eclipse_entry_s: np.ndarray   #: predicted next shadow entry (inf: none in the run)
    eclipse_exit_s: np.ndarray         #: end of the current eclipse (inf when sunlit)
    now_s: float                       #: the simulated time, s from the start
    duration_s: float                  #: the run's span, s
    sunlit: np.ndarray                 #: O(N) boolean mask of the satellites in sunlight
    datacentres: tuple                 #: host indices of the ground data centres
    outcomes: int                      #: +1 whenever a job loses work or ends (rescan cue)

    def sunlight_left_s(self) -> np.ndarray:
        """O(N): seconds of sunlight left before each satellite's next eclipse (0 in eclipse)."""

    def eclipse_left_s(self, sat: int) -> float:
        """Seconds until the satellite leaves its current eclipse (0 when sunlit)."""

    def free_gpus(self, sat: int) -> int:
        """Free GPUs of a satellite (or of a data centre, by its host index)."""

    def free_gpus_total(self) -> int:
        """Free GPUs of the whole fleet and the data centres."""

    def capacity(self, sat: int) -> int:
        """Working GPUs of a satellite (0 once it has failed) or of a data centre."""

    def can_host(self, sat: int, gpus: int, check_free: bool = True) -> bool:
        """Free GPUs (unless ``check_free`` is False) and power for ``gpus`` busy GPUs now."""

    def powered(self, gpus: int) -> np.ndarray:
        """O(N): mask of the satellites whose bus could serve ``gpus`` more busy GPUs now."""

    def hosts(self, gpus: int, *, sunlit_only: bool = False) -> np.ndarray:
        """O(N): satellites that can take a job of ``gpus`` GPUs now (free GPUs and power)."""

    def first_host(self, gpus: int, *, sunlit_only: bool = False) -> int | None:
        """The lowest-index satellite that can take ``gpus`` GPUs now, or None."""

    def nearest(self, src: int, mask: Any = None, *, gpus: int | None = None,
                sunlit: bool = False, k: int = 1,
                max_hops: int | None = None, note: bool = True) -> list:
        """The ``k`` satellites closest to ``src`` in light time over usable laser links that
        pass ``mask`` (and can host ``gpus`` GPUs, are sunlit), as ``[(sat, light_s, hops)]``
        nearest first, within ``max_hops``."""

    def soc(self, sat: int) -> float:
        """Battery state of charge now."""

    def socs(self) -> np.ndarray:
        """O(N), vectorised: the battery state of charge of every satellite now."""

    def temperatures_k(self) -> np.ndarray:
        """O(N): node temperature of every satellite now (NaN without a thermal model)."""

    def battery_usable_wh(self, sat: int) -> float:
        """Energy the battery can still deliver to the bus before its floor, Wh."""

    def payload_energy_wh(self, sat: int) -> float:
        """Energy the battery can still give GPU work before the payload floor, Wh."""

    def load_w(self, sat: int) -> float:
        """The satellite's electrical load now, W."""

    def array_full_w(self, sat: int) -> float:
        """Array output in full sunlight, W."""

    def gpu_power_w(self, gpus: int = 1) -> float:
        """Power ``gpus`` busy GPUs add to a satellite's load, W."""

    def temperature_k(self, sat: int) -> float:
        """Node temperature of the satellite now, K."""

    def job(self, job_id: int) -> JobInfo:
        """The job with this id (a :class:`JobInfo`)."""

    def jobs_on(self, sat: int) -> list:
        """Jobs running (or restoring, or checkpointing) on a satellite, by job id."""

    def queued(self) -> Iterator[JobInfo]:
        """Queued jobs in arrival order (an iterator; safe while decisions are applied)."""

    def n_queued(self) -> int:
        """Number of queued jobs."""

    def reachable(self, a: int, b: int) -> bool:
        """A path of usable links joins hosts ``a`` and ``b`` now."""

    def route(self, a: int, b: int) -> list | None:
        """Shortest light-time path of usable links ``[a, ..., b]``, or None."""

    def transfer_time_s(self, a: int, b: int, size_gb: float) -> float:
        """Estimated seconds to move ``size_gb`` from ``a`` to ``b`` now (inf if
        unreachable)."""

    def migration_time_s(self, job: JobInfo, sat: int) -> float:
        """Estimated downtime of moving a job to ``sat``: checkpoint + transfer + restore."""

    def light_times(self, sats: Sequence[int]) -> np.ndarray:
        """Matrix of route light times between the satellites ``sats``, s."""

    def datacentre(self, host: int) -> dict:
        """``name, gpus, free, pue, price_usd_per_kwh, carbon_g_per_kwh, gpu_speed`` of a
        data centre's host."""

    def is_datacentre(self, host: int) -> bool:
        """The host index is a ground data centre's."""

    def _queued_except(self, closed: np.ndarray) -> Iterator[JobInfo]:
        """Private, for :meth:`Policy.schedule`: :meth:`queued` without the single-satellite
        jobs waiting for a satellite where ``closed`` is set (the engine's view has it)."""


class Policy:
    """Base class of scheduling policies (module docstring).  Subclasses set ``name`` and
    override hooks; the constructor takes the scenario's ``policy.options`` as keywords."""

    name = "base"
    backfill = 64
    moves_queued = False
    link_events = False

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"unexpected option(s) {', '.join(sorted(options))}")
        self.rng: np.random.Generator | None = None
        self.groups = GroupStrategy(self)
        self.replicas = ReplicaStrategy()

    # ------------------------------------------------------------------------------ hooks
    def place(self, job: JobInfo, view: View) -> int | None:
        """Host for a queued job now, or None to leave it queued.  Default: a job with a
        checkpoint resumes on its own satellite when that can host it; otherwise (a new job,
        or one that may or must move) the first sunlit satellite that can host it, else the
        first that can (by index), reachable from its checkpoint."""
        if job.sat >= 0 and view.can_host(job.sat, job.gpus):
            return job.sat
        site = view.first_host(job.gpus, sunlit_only=True)
        if site is None:
            site = view.first_host(job.gpus)
        if site is not None and job.sat >= 0 and not view.reachable(job.sat, site):
            return None
        return site

    def on_shadow(self, sats: np.ndarray, view: View) -> Iterable[Decision] | None:
        """Satellites entering shadow now (module docstring).  Default: nothing."""
        return None

    def on_tick(self, view: View) -> Iterable[Decision] | None:
        """Every ``policy.tick_s`` seconds (when the scenario sets it).  Default:
        :meth:`schedule`."""
        return self.schedule(view)

    def on_link_change(self, a: int, b: int, up: bool,
                       view: View) -> Iterable[Decision] | None:
        """A laser link appeared (``up``) or went down; called only with ``link_events``."""
        return None

    # ------------------------------------------------------------------------ the queue
    def schedule(self, view: View) -> Iterator[Decision]:
        """Place queued jobs in arrival order with a backfill window (module docstring).

        Exact shortcuts (they change no decision): within one pass decisions only take GPUs
        and power, so a satellite that could not power ``g`` GPUs cannot power ``g`` or more
        later in the pass, and a pinned job (``moves_queued`` False) on a satellite with no
        free GPU or no power for one more is passed over without a look."""
        skipped = 0
        free = view.free                      # live, read-only
        total = view.free_gpus_total()
        if total <= 0:
            return
        blocked: dict = {}                    # satellite -> fewest GPUs it could not power
        powered: dict = {}                    # gpus -> view.powered(gpus) in this pass
        pinned = not self.moves_queued
        if pinned:
            powered[1] = view.powered(1)
            queued = view._queued_except(~((free >= 1) & powered[1]))
        else:
            queued = view.queued()
        for job in queued:
            if total <= 0:
                return
            if job.is_group:
                d = self.groups.place(job, view)
                if d is not None:
                    yield d
                    total = view.free_gpus_total()
                else:
                    skipped += 1
                    if skipped > self.backfill:
                        return
                continue
            sat, g = job.sat, job.gpus
            if sat >= 0 and pinned:           # its checkpoint is on sat: it waits for sat
                room = view.capacity(sat) >= g
                if (free[sat] < g and room) or g >= blocked.get(sat, math.inf):
                    continue
                if g not in powered:          # one vectorised test per size and pass
                    powered[g] = view.powered(g)
                if sat < len(powered[g]) and not powered[g][sat] and room:
                    continue
                if view.can_host(sat, g):
                    site: int | None = sat
                elif room:
                    blocked[sat] = min(blocked.get(sat, math.inf), g)
                    continue
                else:                         # sat lost the GPUs it needs: it must move
                    site = self.place(job, view)
                if site is not None:
                    yield Place(job.job_id, site)
                    total = view.free_gpus_total()
                continue
            site = self.place(job, view)
            if site is not None:
                yield Place(job.job_id, site)
                total = view.free_gpus_total()
            else:
                skipped += 1
                if skipped > self.backfill:
                    return


def _option_names(cls: type[Policy]) -> list:
    """The keyword options a policy class's constructor takes."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self"
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
