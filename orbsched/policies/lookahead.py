"""``lookahead``: move work to where the sunlight lasts longest, using the predicted eclipses.

Eclipse times come from the geometry stage, so the view knows when every satellite will next
enter shadow.  At a satellite's eclipse entry each running job considers the ``candidates``
nearest sunlit hosts (within ``max_hops``) and moves to the one with the most sunlight left
after the move, ``sunlight_left - migration_time``; it stays if no destination gives at least
``min_gain_s`` of sunlight.  New and displaced queued jobs go to the host with the most
sunlight left.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..scenario.checks import check_number
from .api import Policy
from .decisions import Decision, Migrate


class Lookahead(Policy):
    """Options: ``candidates`` (16), ``max_hops`` (None), ``min_gain_s`` (600)."""

    name = "lookahead"
    moves_queued = True

    def __init__(self, candidates: int = 16, max_hops: int | None = None,
                 min_gain_s: float = 600.0) -> None:
        """Options:
            candidates: the nearest sunlit hosts considered for each job.
            max_hops: at most this many laser hops away (None: any distance).
            min_gain_s: move only to a host with at least this much sunlight left after the
                move, s.
        """
        super().__init__()
        check_number("options", "candidates", candidates, lo=1, integer=True)
        check_number("options", "max_hops", max_hops, lo=1, allow_none=True, integer=True)
        check_number("options", "min_gain_s", min_gain_s)
        self.candidates = int(candidates)
        self.max_hops = max_hops
        self.min_gain_s = float(min_gain_s)
        self.groups.on_eclipse = self.groups.on_loss = "replace"

    def _best(self, job: Any, src: int, view: Any) -> int | None:
        found = view.nearest(src, gpus=job.gpus, sunlit=True, k=self.candidates,
                             max_hops=self.max_hops)
        left = view.sunlight_left_s()
        best, best_gain = None, self.min_gain_s
        for sat, _, _ in found:
            gain = left[sat] - view.migration_time_s(job, sat)
            if gain > best_gain:
                best, best_gain = sat, gain
        return best

    def on_shadow(self, sats: Any, view: Any) -> Iterator[Decision]:
        for sat in sats:
            for job in view.jobs_on(int(sat)):
                if job.phase == "running" and not job.is_group:
                    dst = self._best(job, int(sat), view)
                    if dst is not None:
                        yield Migrate(job.job_id, dst)

    def place(self, job: Any, view: Any) -> int | None:
        if job.sat < 0:
            hosts = view.hosts(job.gpus)
            if not len(hosts):
                return None
            left = view.sunlight_left_s()[hosts]
            return int(hosts[int(np.argmax(left))])   # first of the longest (ties: lowest)
        if view.state[job.sat] == view.SUNLIT and view.can_host(job.sat, job.gpus):
            return job.sat
        best = self._best(job, job.sat, view)
        if best is not None:
            return best
        return job.sat if view.can_host(job.sat, job.gpus) else None
