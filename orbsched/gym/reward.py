"""Rewards of the learning environments: a ledger of fleet counters and pluggable functions.

The environment keeps a :class:`Ledger` (cumulative counters since the episode began) and at
each step calls its reward function with the ledger at the previous step and now; any callable
``reward(before, after) -> float`` plugs in (``ConstellationEnv(reward=...)``).

The default, :class:`GoodputReward`, is useful work minus work lost: GPU-hours of jobs
completed since the last step, minus GPU-hours lost to brownouts (work since the last
checkpoint of jobs shed at the battery floor) and to radiation (crashes and reboots), with the
weights of the scenario's ``learning.reward`` section (default 1, 1, 1; failures 0).  Summed
over an episode it equals the weighted totals of the run's ``summary.json`` (completed GPU-h,
work lost by cause), which a test checks.

What the ledger counts: the jobs the agent placed (every job that runs on one satellite is
first placed by a PLACE decision); jobs that span satellites are placed and reshaped by the
frame policy's group strategy, not by the agent, and are left out.  Cost: one pass over the
jobs placed and not yet ended (reading each one's status and losses), only at the steps where
the view's ``outcomes`` counter moved (a job lost work or ended) or a new job was placed; the
other steps reuse the last sums.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..policies import JobInfo
from ..scenario.learning import RewardWeights

__all__ = ["GoodputReward", "JobLedger", "Ledger", "RewardFn"]


@dataclass
class Ledger:
    """Cumulative counters of an episode: ``completed_gpu_h`` (work of completed jobs),
    ``lost_gpu_h`` (by cause: brownout, radiation, failure, link_lost), ``decisions`` (steps
    taken) and ``invalid`` (actions outside the mask replaced by KEEP)."""

    t_s: float = 0.0
    completed_gpu_h: float = 0.0
    lost_gpu_h: dict = field(default_factory=dict)
    decisions: int = 0
    invalid: int = 0

    def lost(self, cause: str) -> float:
        return self.lost_gpu_h.get(cause, 0.0)


#: A reward function: ``reward(before, after) -> float`` from two ledgers.
RewardFn = Callable[[Ledger, Ledger], float]


class GoodputReward:
    """``completed`` x completed GPU-h - ``brownout``, ``radiation``, ``failure`` x GPU-h
    lost to each - ``invalid`` x invalid actions, since the last step (module docstring)."""

    def __init__(self, weights: RewardWeights | None = None, **overrides: float) -> None:
        w = (weights or RewardWeights()).model_dump()
        unknown = set(overrides) - set(w)
        if unknown:
            raise TypeError(f"GoodputReward: unknown weight(s) {', '.join(sorted(unknown))}; "
                            f"weights are {', '.join(w)}")
        w.update(overrides)
        self.weights = RewardWeights(**w)

    def __call__(self, before: Ledger, after: Ledger) -> float:
        w = self.weights
        return float(w.completed * (after.completed_gpu_h - before.completed_gpu_h)
                     - w.brownout * (after.lost("brownout") - before.lost("brownout"))
                     - w.radiation * (after.lost("radiation") - before.lost("radiation"))
                     - w.failure * (after.lost("failure") - before.lost("failure"))
                     - w.invalid * (after.invalid - before.invalid))

    def __repr__(self) -> str:
        return f"GoodputReward({self.weights!r})"


class JobLedger:
    """Tracks the jobs the agent placed and sums what the ledger needs (module docstring)."""

    def __init__(self) -> None:
        self.active: dict = {}            # job_id -> (JobInfo, its live lost_by), not ended
        self._completed = 0.0
        self._closed_lost: dict = {}      # losses of jobs that ended
        self._lost: dict = {}             # losses of every tracked job at the last scan
        self._seen = -1                   # the view's ``outcomes`` at the last scan
        self._new = False                 # a job was placed since the last scan

    def placed(self, job: JobInfo) -> None:
        if job.job_id not in self.active:
            by = job.lost_by
            self.active[job.job_id] = (job, by)
            if by:                # work it lost before (a job not yet placed has none)
                self._new = True

    def update(self, ledger: Ledger, t_s: float, outcomes: int | None = None) -> Ledger:
        """A new ledger with the counters now (``decisions``/``invalid`` copied).
        ``outcomes``: the view's counter now (None: rescan regardless)."""
        if outcomes is None or outcomes != self._seen or self._new:
            self._scan()
            self._seen = -1 if outcomes is None else outcomes
            self._new = False
        return Ledger(t_s, self._completed, dict(self._lost), ledger.decisions, ledger.invalid)

    def _scan(self) -> None:
        lost = dict(self._closed_lost)
        ended = []
        for jid, (job, by) in self.active.items():
            if by:
                for cause, v in by.items():
                    lost[cause] = lost.get(cause, 0.0) + float(v)
            status = job.status
            if status == "completed" or status == "failed":
                ended.append(jid)
        for jid in ended:
            job, by = self.active.pop(jid)
            if job.status == "completed":
                self._completed += float(job.work_gpu_h)
            for cause, v in by.items():
                self._closed_lost[cause] = self._closed_lost.get(cause, 0.0) + float(v)
        self._lost = lost
