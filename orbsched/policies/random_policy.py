"""``random``: a control.  New jobs go to a random host; at eclipse entry each running job
moves with probability ``p_migrate`` to one of the eight nearest hosts with room and power,
at random (sunlit or not)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..scenario.checks import check_number
from .api import Policy
from .decisions import Decision, Migrate


class RandomPolicy(Policy):
    """Options: ``p_migrate`` (0.5).  Uses only ``self.rng`` (seeded by the engine)."""

    name = "random"
    moves_queued = True

    def __init__(self, p_migrate: float = 0.5) -> None:
        """Options:
            p_migrate: probability that a running job moves at its satellite's eclipse
                entry.
        """
        super().__init__()
        check_number("options", "p_migrate", p_migrate, lo=0.0, hi=1.0)
        self.p_migrate = float(p_migrate)

    def _rng(self) -> np.random.Generator:
        assert self.rng is not None             # seeded by the engine before any hook
        return self.rng

    def place(self, job: Any, view: Any) -> int | None:
        if job.sat >= 0 and view.can_host(job.sat, job.gpus):
            return job.sat
        hosts = view.hosts(job.gpus)
        site = int(self._rng().choice(hosts)) if len(hosts) else None
        if site is not None and job.sat >= 0 and not view.reachable(job.sat, site):
            return None
        return site

    def on_shadow(self, sats: Any, view: Any) -> Iterator[Decision]:
        for sat in sats:
            for job in view.jobs_on(int(sat)):
                if job.phase != "running" or job.is_group:
                    continue
                if self._rng().random() >= self.p_migrate:
                    continue
                found = view.nearest(int(sat), gpus=job.gpus, k=8)
                if found:
                    yield Migrate(job.job_id, found[int(self._rng().integers(len(found)))][0])
