"""``greedy-sunlit``: follow the sun, greedily.

* New jobs go to a sunlit satellite with free GPUs (the lowest index), else to any host.
* At a satellite's eclipse entry each of its running jobs moves to the *nearest* (least light
  time over usable laser links) sunlit satellite that has free GPUs and power; a job that finds
  none stays and runs on battery.
* A queued job whose checkpoint sits on a satellite that cannot run it moves to the nearest
  sunlit host.
* Inference replicas on a satellite entering eclipse move to the nearest sunlit host too.
"""
from .base import Migrate, MoveReplica, Policy


class GreedySunlit(Policy):
    """Options: ``max_hops`` (None: unlimited) bounds the search for a destination."""

    name = "greedy-sunlit"
    moves_queued = True

    def __init__(self, max_hops=None):
        super().__init__()
        self.max_hops = max_hops

    def _sunlit_hosts(self, view, gpus):
        return (view.free >= gpus) & view.powered(gpus) & view.sunlit

    def resume_site(self, job, view):
        if view.state[job.sat] == view.SUNLIT and view.can_host(job.sat, job.gpus):
            return job.sat
        found = view.nearest(job.sat, self._sunlit_hosts(view, job.gpus), max_hops=self.max_hops)
        if found:
            return found[0][0]
        return job.sat if view.can_host(job.sat, job.gpus) else None

    def on_power_change(self, sat, kind, view):
        if kind != "eclipse_entry":
            yield from super().on_power_change(sat, kind, view) or ()
            return
        for job in view.jobs_on(sat):
            if job.phase != "running":
                continue
            found = view.nearest(sat, self._sunlit_hosts(view, job.gpus), max_hops=self.max_hops)
            if found:
                yield Migrate(job.job_id, found[0][0])
        for service, gpus in view.replicas_on(sat):
            found = view.nearest(sat, self._sunlit_hosts(view, gpus), max_hops=self.max_hops)
            if found:
                yield MoveReplica(service, sat, found[0][0])
