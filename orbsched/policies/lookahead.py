"""``lookahead``: move work to where the sunlight lasts longest, using the predicted eclipses.

Eclipse times come from the contact plan, so the view knows when every satellite will next
enter shadow.  At a satellite's eclipse entry each running job considers the ``candidates``
nearest sunlit hosts (within ``max_hops``) and moves to the one with the most sunlight left
after the move, ``sunlight_left - migration_time``; it stays if no destination gives at least
``min_gain_s`` of sunlight.  New and displaced queued jobs go to the host with the most
sunlight left.
"""
import numpy as np

from ..checks import check_number
from .base import Policy


class Lookahead(Policy):
    """Options: ``candidates`` (16), ``max_hops`` (None), ``min_gain_s`` (600)."""

    name = "lookahead"
    moves_queued = True
    group_on_eclipse = "replace"   # a member entering shadow hands over to a sunlit one
    group_on_loss = "replace"

    def __init__(self, candidates=16, max_hops=None, min_gain_s=600.0):
        super().__init__()
        check_number("options", "candidates", candidates, lo=1, integer=True)
        check_number("options", "max_hops", max_hops, lo=1, allow_none=True, integer=True)
        check_number("options", "min_gain_s", min_gain_s)
        self.candidates = int(candidates)
        self.max_hops = max_hops
        self.min_gain_s = float(min_gain_s)

    def choose_site(self, job, view):
        hosts = view.hosts(job.gpus)
        if not len(hosts):
            return None
        left = view.sunlight_left_s()[hosts]
        return int(hosts[int(np.argmax(left))])  # first of the longest (ties: lowest index)

    def _best(self, job, src, view):
        found = view.nearest(src, self.sunlit_hosts(view, job.gpus), k=self.candidates,
                             max_hops=self.max_hops)
        left = view.sunlight_left_s()
        best, best_gain = None, self.min_gain_s
        for sat, _, _ in found:
            gain = left[sat] - view.migration_time_s(job, sat)
            if gain > best_gain:
                best, best_gain = sat, gain
        return best

    def destination(self, job, sat, view):
        return self._best(job, sat, view)

    def resume_site(self, job, view):
        if view.state[job.sat] == view.SUNLIT and view.can_host(job.sat, job.gpus):
            return job.sat
        best = self._best(job, job.sat, view)
        if best is not None:
            return best
        return job.sat if view.can_host(job.sat, job.gpus) else None
