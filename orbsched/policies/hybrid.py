"""``hybrid``: orbit first, ground data centres for overflow and shelter (Kuiper + AWS style).

* New jobs go to a sunlit satellite with free GPUs and power; if none, to the cheapest data
  centre (electricity price) with room; if none, to any satellite that can host them.
* At a satellite's eclipse entry each of its running jobs moves to the nearest sunlit
  satellite with room; if there is none, to the cheapest data centre it can reach now (through
  a ground station in view) when the job has at least ``min_ground_h`` hours of work left
  (a checkpoint's trip to the ground is worth it only for long jobs); else it stays.
* A queued job resumes where its checkpoint is when that host can run it (a data centre
  always can, given GPUs), else at the nearest sunlit satellite, else at a reachable data
  centre.
* Jobs on the ground stay there until they finish: grid power never runs out.
Without data centres in the scenario it behaves as ``greedy-sunlit``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..scenario.checks import check_number
from .decisions import Decision, Migrate
from .greedy_sunlit import GreedySunlit


class Hybrid(GreedySunlit):
    """Options: ``max_hops`` (None), ``min_ground_h`` (1.0 h of remaining run time)."""

    name = "hybrid"

    def __init__(self, max_hops: int | None = None, min_ground_h: float = 1.0) -> None:
        """Options:
            max_hops: look for sunlit hosts at most this many laser hops away (None: any
                distance).
            min_ground_h: a job shelters in a data centre from an eclipse only with at least
                this many hours of work left.
        """
        super().__init__(max_hops=max_hops)
        check_number("options", "min_ground_h", min_ground_h, lo=0.0)
        self.min_ground_h = float(min_ground_h)

    def datacentres_by_price(self, view: Any, gpus: int, src: int | None = None) -> list:
        """Data centres with ``gpus`` free (and reachable from ``src`` now, if given),
        cheapest electricity first."""
        out = []
        for h in view.datacentres:
            info = view.datacentre(h)
            if info["free"] >= gpus and (src is None or view.reachable(src, h)):
                out.append((info["price_usd_per_kwh"], h))
        return [h for _, h in sorted(out)]

    def on_shadow(self, sats: Any, view: Any) -> Iterator[Decision]:
        for sat in sats:
            for job in view.jobs_on(int(sat)):
                if job.phase != "running" or job.is_group:
                    continue
                dst = self.nearest_sunlit(int(sat), job.gpus, view)
                if dst is None and job.remaining_gpu_h / max(job.work_gpus, 1) \
                        >= self.min_ground_h:
                    dcs = self.datacentres_by_price(view, job.gpus, src=int(sat))
                    dst = dcs[0] if dcs else None
                if dst is not None:
                    yield Migrate(job.job_id, dst)

    def place(self, job: Any, view: Any) -> int | None:
        if job.sat < 0:
            site = view.first_host(job.gpus, sunlit_only=True)
            if site is not None:
                return site
            dcs = self.datacentres_by_price(view, job.gpus)
            return dcs[0] if dcs else view.first_host(job.gpus)
        if view.is_datacentre(job.sat):
            if view.can_host(job.sat, job.gpus):
                return job.sat
            return self.nearest_sunlit(job.sat, job.gpus, view)
        site = super().place(job, view)
        if site is not None:
            return site
        dcs = self.datacentres_by_price(view, job.gpus, src=job.sat)
        return dcs[0] if dcs else None
