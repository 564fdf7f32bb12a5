"""``greedy-sunlit``: follow the sun, greedily.

* New jobs go to a sunlit satellite with free GPUs (the lowest index), else to any host.
* At a satellite's eclipse entry each of its running jobs moves to the *nearest* (least light
  time over usable laser links) sunlit satellite that has free GPUs and power; a job that finds
  none stays and runs on battery.
* A queued job whose checkpoint sits on a satellite that cannot run it moves to the nearest
  sunlit host.
* Inference replicas on a satellite entering eclipse move to the nearest sunlit host too, and
  a group job replaces members entering shadow by sunlit ones.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..scenario.checks import check_number
from .api import Policy
from .decisions import Decision, Migrate
from .replicas import FollowSun


class GreedySunlit(Policy):
    """Options: ``max_hops`` (None: unlimited) bounds the search for a destination."""

    name = "greedy-sunlit"
    moves_queued = True

    def __init__(self, max_hops: int | None = None) -> None:
        """Options:
            max_hops: look for sunlit hosts at most this many laser hops away (None: any
                distance).
        """
        super().__init__()
        check_number("options", "max_hops", max_hops, lo=1, allow_none=True, integer=True)
        self.max_hops = max_hops
        self.groups.on_eclipse = self.groups.on_loss = "replace"
        self.replicas = FollowSun(max_hops)

    def nearest_sunlit(self, sat: int, gpus: int, view: Any) -> int | None:
        found = view.nearest(sat, gpus=gpus, sunlit=True, max_hops=self.max_hops)
        return found[0][0] if found else None

    def on_shadow(self, sats: Any, view: Any) -> Iterator[Decision]:
        for sat in sats:
            for job in view.jobs_on(int(sat)):
                if job.phase == "running" and not job.is_group:
                    dst = self.nearest_sunlit(int(sat), job.gpus, view)
                    if dst is not None:
                        yield Migrate(job.job_id, dst)

    def place(self, job: Any, view: Any) -> int | None:
        if job.sat < 0:
            return super().place(job, view)
        if view.state[job.sat] == view.SUNLIT and view.can_host(job.sat, job.gpus):
            return job.sat
        dst = self.nearest_sunlit(job.sat, job.gpus, view)
        if dst is not None:
            return dst
        return job.sat if view.can_host(job.sat, job.gpus) else None
