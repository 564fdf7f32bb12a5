"""``greedy-sunlit``: follow the sun, greedily.

* New jobs go to a sunlit satellite with free GPUs (the lowest index), else to any host.
* At a satellite's eclipse entry each of its running jobs moves to the *nearest* (least light
  time over usable laser links) sunlit satellite that has free GPUs and power; a job that finds
  none stays and runs on battery.
* A queued job whose checkpoint sits on a satellite that cannot run it moves to the nearest
  sunlit host.
* Inference replicas on a satellite entering eclipse move to the nearest sunlit host too.
"""
from ..checks import check_number
from .base import Policy


class GreedySunlit(Policy):
    """Options: ``max_hops`` (None: unlimited) bounds the search for a destination."""

    name = "greedy-sunlit"
    moves_queued = True
    group_on_eclipse = "replace"   # a member entering shadow hands over to a sunlit one
    group_on_loss = "replace"

    def __init__(self, max_hops=None):
        super().__init__()
        check_number("options", "max_hops", max_hops, lo=1, allow_none=True, integer=True)
        self.max_hops = max_hops

    def nearest_sunlit(self, sat, gpus, view):
        found = view.nearest(sat, self.sunlit_hosts(view, gpus), max_hops=self.max_hops)
        return found[0][0] if found else None

    def destination(self, job, sat, view):
        return self.nearest_sunlit(sat, job.gpus, view)

    def replica_destination(self, service, gpus, sat, view):
        return self.nearest_sunlit(sat, gpus, view)

    def resume_site(self, job, view):
        if view.state[job.sat] == view.SUNLIT and view.can_host(job.sat, job.gpus):
            return job.sat
        dst = self.nearest_sunlit(job.sat, job.gpus, view)
        if dst is not None:
            return dst
        return job.sat if view.can_host(job.sat, job.gpus) else None
