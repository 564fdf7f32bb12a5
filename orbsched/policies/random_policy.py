"""``random``: a control.  New jobs go to a random host; at eclipse entry each running job
moves with probability ``p_migrate`` to a random reachable host (sunlit or not)."""
from ..checks import check_number
from .base import Policy


class RandomPolicy(Policy):
    """Options: ``p_migrate`` (0.5).  Uses only ``self.rng`` (seeded by the engine)."""

    name = "random"
    moves_queued = True

    def __init__(self, p_migrate=0.5):
        super().__init__()
        check_number("options", "p_migrate", p_migrate, lo=0.0, hi=1.0)
        self.p_migrate = float(p_migrate)

    def choose_site(self, job, view):
        hosts = view.hosts(job.gpus)
        return int(self.rng.choice(hosts)) if len(hosts) else None

    def destination(self, job, sat, view):
        if self.rng.random() >= self.p_migrate:
            return None
        mask = (view.free >= job.gpus) & view.powered(job.gpus)
        found = view.nearest(sat, mask, k=8)
        return found[int(self.rng.integers(len(found)))][0] if found else None
