"""Job state in the engine: progress, periodic checkpoints and work lost, in closed form.

A running training job alternates ``checkpoint_interval_s`` (I) of computing with
``checkpoint_s`` (C) of writing a checkpoint, from the moment its session starts (after the
restore).  While computing it progresses at ``rate`` GPU-hours per second (its GPUs x the GPU
speed x the satellite's throttle factor / 3600); while checkpointing it does not progress.  The
engine never schedules an event per checkpoint: the progress at any time, the progress held by
the last completed checkpoint, and the time at which the job will finish are all computed from
the session start and the last *anchor* (the last time the rate changed), because the rate is
piecewise constant between engine events.

Lost work: when a job stops abruptly (brownout, crash) it keeps the progress of its last
*completed* checkpoint; everything after is lost.  A checkpoint is taken to hold the progress at
the moment its writing began.  ``I = inf`` means no periodic checkpoints (the job only keeps what
it had when the session started).

Simplification: the checkpoint schedule restarts with each session (the first checkpoint comes
``I`` after a start or resume), and the final result is not checkpointed (a job completes when
its progress reaches its work).
"""
from __future__ import annotations

import math

__all__ = ["JobRun", "JOB_STATUSES"]

#: Statuses a job can end a run in.
JOB_STATUSES = ("queued", "running", "migrating", "completed", "failed")
_S_PER_H = 3600.0


class JobRun:
    """Progress bookkeeping of one job across its sessions (see the module docstring).

    ``saved_gpu_h`` is the durable progress (the last checkpoint that survived).  A session is
    started with :meth:`start`; during it, :meth:`progress_at`, :meth:`saved_at` and
    :meth:`finish_time` answer in closed form; :meth:`set_rate` re-anchors when the speed
    changes; :meth:`stop_abrupt` and :meth:`stop_checkpointed` end the session.
    """

    __slots__ = ("work_gpu_h", "interval_s", "checkpoint_s", "saved_gpu_h", "t0", "anchor_t",
                 "anchor_progress", "anchor_saved", "rate", "running", "produced_gpu_h",
                 "_session_from", "comm_frac", "step_wall_s", "compute_s", "comm_s", "steps")

    def __init__(self, work_gpu_h: float, interval_s: float, checkpoint_s: float,
                 saved_gpu_h: float = 0.0):
        self.work_gpu_h = float(work_gpu_h)
        self.interval_s = float(interval_s)
        self.checkpoint_s = float(checkpoint_s)
        self.saved_gpu_h = float(saved_gpu_h)
        self.running = False
        self.t0 = self.anchor_t = 0.0
        self.anchor_progress = self.anchor_saved = self.saved_gpu_h
        self.rate = 0.0
        self.produced_gpu_h = 0.0   # all progress ever made, kept or later lost
        self._session_from = 0.0
        # step accounting (jobs spanning satellites): of the time spent in training steps,
        # the fraction ``comm_frac`` is the ring all-reduce; one step lasts ``step_wall_s``
        self.comm_frac = 0.0
        self.step_wall_s = math.nan
        self.compute_s = 0.0        # seconds of steps spent computing
        self.comm_s = 0.0           # seconds of steps spent in collective communication
        self.steps = 0.0            # steps taken (fractional)

    # --------------------------------------------------------------------- compute-time clock
    def _compute_time(self, t):
        """Seconds spent computing in [t0, t]."""
        x = t - self.t0
        if x <= 0.0:
            return 0.0
        i = self.interval_s
        if math.isinf(i):
            return x
        cycle = i + self.checkpoint_s
        n = math.floor(x / cycle)
        return n * i + min(x - n * cycle, i)

    def _completed_checkpoints(self, t):
        i = self.interval_s
        if math.isinf(i):
            return 0
        return math.floor((t - self.t0) / (i + self.checkpoint_s))

    # ------------------------------------------------------------------------------ queries
    def progress_at(self, t: float) -> float:
        """Progress (GPU-h) at time t of the running session (durable progress otherwise)."""
        if not self.running:
            return self.saved_gpu_h
        p = self.anchor_progress + self.rate * (self._compute_time(t)
                                                - self._compute_time(self.anchor_t))
        return min(p, self.work_gpu_h)

    def saved_at(self, t: float) -> float:
        """Progress held by the last checkpoint completed by time t (GPU-h)."""
        if not self.running:
            return self.saved_gpu_h
        k = self._completed_checkpoints(t)
        if k == self._completed_checkpoints(self.anchor_t):
            return self.anchor_saved
        start_k = self.t0 + k * (self.interval_s + self.checkpoint_s) - self.checkpoint_s
        return self.progress_at(start_k) if start_k >= self.anchor_t else self.anchor_progress

    def finish_time(self, t: float) -> float:
        """Time at which the running session completes the job, given the rate from t on
        (``inf`` when the rate is 0)."""
        remaining = self.work_gpu_h - self.progress_at(t)
        if remaining <= 0.0:
            return t
        if self.rate <= 0.0:
            return math.inf
        target = self._compute_time(t) + remaining / self.rate
        i = self.interval_s
        if math.isinf(i):
            return self.t0 + target
        n = math.floor(target / i)
        rem = target - n * i
        if rem <= 1e-9 * i and n > 0:  # finishes at the end of a compute phase (up to
            n -= 1                     # rounding: not after the checkpoint that follows it)
            rem = i
        return max(t, self.t0 + n * (i + self.checkpoint_s) + rem)

    # ---------------------------------------------------------------------------- changes
    def _account(self, t):
        """Add the step time since the anchor to the compute / communication totals (of
        sessions with a step time: jobs spread over satellites)."""
        if not self.step_wall_s > 0.0:     # NaN: a one-satellite session, no step accounting
            return
        dt = self._compute_time(t) - self._compute_time(self.anchor_t)
        if dt > 0.0:
            self.comm_s += dt * self.comm_frac
            self.compute_s += dt * (1.0 - self.comm_frac)
            self.steps += dt / self.step_wall_s

    def start(self, t: float, rate_gpu_h_s: float, comm_frac: float = 0.0,
              step_wall_s: float = math.nan) -> None:
        """Begin a session at t (after any restore) from the durable progress."""
        self.running = True
        self.t0 = self.anchor_t = float(t)
        self.anchor_progress = self.anchor_saved = self.saved_gpu_h
        self._session_from = self.saved_gpu_h
        self.rate = float(rate_gpu_h_s)
        self.comm_frac, self.step_wall_s = float(comm_frac), float(step_wall_s)

    def set_rate(self, t: float, rate_gpu_h_s: float, comm_frac: float = 0.0,
                 step_wall_s: float = math.nan) -> None:
        """Change the progress rate at t (throttling, a link of the group's ring)."""
        if not self.running:
            return
        p, s = self.progress_at(t), self.saved_at(t)
        self._account(t)
        self.anchor_t, self.anchor_progress, self.anchor_saved = float(t), p, s
        self.rate = float(rate_gpu_h_s)
        self.comm_frac, self.step_wall_s = float(comm_frac), float(step_wall_s)

    def stop_abrupt(self, t: float) -> float:
        """End the session at t without a checkpoint; return the work lost (GPU-h)."""
        if not self.running:
            return 0.0
        p, s = self.halt(t)
        self.saved_gpu_h = s
        return p - s

    def halt(self, t: float):
        """End the session at t; return (progress, progress of the last checkpoint).  The
        durable progress is not changed: the caller saves ``progress`` once a checkpoint of
        it is written, or keeps the old one."""
        p, s = self.progress_at(t), self.saved_at(t)
        if self.running:
            self._account(t)
            self.produced_gpu_h += p - self._session_from
            self.saved_gpu_h = s
            self.running = False
        return p, s

    def stop_checkpointed(self, t: float) -> float:
        """End the session at t by writing a checkpoint of the progress at t (the writing
        time is the caller's); return the progress saved (GPU-h)."""
        if self.running:
            self.saved_gpu_h = self.halt(t)[0]
        return self.saved_gpu_h
