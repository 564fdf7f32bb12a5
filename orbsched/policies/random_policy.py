"""``random``: a control.  New jobs go to a random host; at eclipse entry each running job
moves with probability ``p_migrate`` to a random reachable host (sunlit or not)."""
from .base import Migrate, Policy


class RandomPolicy(Policy):
    """Options: ``p_migrate`` (0.5).  Uses only ``self.rng`` (seeded by the engine)."""

    name = "random"
    moves_queued = True

    def __init__(self, p_migrate=0.5):
        super().__init__()
        if not 0.0 <= float(p_migrate) <= 1.0:
            raise ValueError(f"p_migrate must be in [0, 1], got {p_migrate!r}")
        self.p_migrate = float(p_migrate)

    def choose_site(self, job, view):
        hosts = view.hosts(job.gpus)
        return int(self.rng.choice(hosts)) if len(hosts) else None

    def on_power_change(self, sat, kind, view):
        if kind != "eclipse_entry":
            yield from super().on_power_change(sat, kind, view) or ()
            return
        for job in view.jobs_on(sat):
            if job.phase != "running" or self.rng.random() >= self.p_migrate:
                continue
            mask = (view.free >= job.gpus) & view.powered(job.gpus)
            found = view.nearest(sat, mask, k=8)
            if found:
                yield Migrate(job.job_id, found[int(self.rng.integers(len(found)))][0])
