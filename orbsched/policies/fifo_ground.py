"""``fifo-ground``: a ground-data-centre-like baseline.  Strict first come, first served (no
backfill: the head of the queue blocks the jobs behind it), first-fit placement, no migration
and no notion of sunlight: jobs simply wait for GPUs, as in a FIFO ground cluster."""
from __future__ import annotations

from typing import Any

from .api import Policy


class FifoGround(Policy):
    """Strict FIFO (``backfill = 0``), first-fit placement by index, never migrates."""

    name = "fifo-ground"
    backfill = 0

    def place(self, job: Any, view: Any) -> int | None:
        site = view.first_host(job.gpus)
        if site is not None and job.sat >= 0 and not view.reachable(job.sat, site):
            return None                       # its checkpoint cannot reach that host now
        return site
