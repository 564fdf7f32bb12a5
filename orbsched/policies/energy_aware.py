"""``energy-aware``: migrate only when the expected energy shortfall costs more than moving.

At a satellite's eclipse entry the policy compares the energy the current load needs until the
eclipse ends with what the battery can still deliver.  If the battery suffices, everything
stays.  Otherwise, jobs are considered one by one (cheapest migration first) and a job moves to
the nearest sunlit host when staying would cost more GPU-hours than moving:

* staying: at the floor (reached after ``usable / load``) the job is shed, losing on average
  half a checkpoint interval of work, and then idles until the eclipse ends, plus a restore;
* moving: its GPUs stop for checkpoint + transfer + restore.

Each move takes the job's power off the satellite, so the policy stops moving jobs once the
remaining load fits the battery.  New jobs go to sunlit hosts first (as greedy-sunlit);
inference replicas stay where they are.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .decisions import Decision, Migrate
from .greedy_sunlit import GreedySunlit
from .replicas import ReplicaStrategy


class EnergyAware(GreedySunlit):
    """Options: ``max_hops`` (None)."""

    name = "energy-aware"

    def __init__(self, max_hops: int | None = None) -> None:
        """Options:
            max_hops: look for sunlit hosts at most this many laser hops away (None: any
                distance).
        """
        super().__init__(max_hops=max_hops)
        self.replicas = ReplicaStrategy()

    def on_shadow(self, sats: Any, view: Any) -> Iterator[Decision]:
        for sat in sats:
            yield from self._shed_load(int(sat), view)

    def _shed_load(self, sat: int, view: Any) -> Iterator[Decision]:
        eclipse_s = view.eclipse_left_s(sat)
        load_w = view.load_w(sat)
        usable_wh = view.payload_energy_wh(sat)      # what GPU work may use before shedding
        need_wh = load_w * eclipse_s / 3600.0
        if need_wh <= usable_wh or eclipse_s <= 0:
            return
        t_floor_s = usable_wh / load_w * 3600.0 if load_w > 0 else eclipse_s
        jobs = [j for j in view.jobs_on(sat) if j.phase == "running" and not j.is_group]
        jobs.sort(key=lambda j: (j.checkpoint_s + j.restore_s, j.job_id))
        for job in jobs:
            if need_wh <= usable_wh:
                break
            stay_h = job.gpus * (min(job.checkpoint_interval_s, 1e9) / 2.0
                                 + max(0.0, eclipse_s - t_floor_s) + job.restore_s) / 3600.0
            dst = self.nearest_sunlit(sat, job.gpus, view)
            if dst is None:
                continue
            move_h = job.gpus * view.migration_time_s(job, dst) / 3600.0
            if move_h < stay_h:
                yield Migrate(job.job_id, dst)
                need_wh -= view.gpu_power_w(job.gpus) * eclipse_s / 3600.0
