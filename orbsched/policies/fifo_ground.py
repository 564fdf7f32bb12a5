"""``fifo-ground``: a ground-data-centre-like baseline.  Strict first come, first served (no
backfill: the head of the queue blocks the jobs behind it), first-fit placement, no migration
and no notion of sunlight: jobs simply wait for GPUs, as in a FIFO ground cluster."""
from .base import Policy


class FifoGround(Policy):
    """Strict FIFO (``backfill = 0``), first-fit placement, never migrates."""

    name = "fifo-ground"
    backfill = 0

    def choose_site(self, job, view):
        """First fit by satellite index, blind to sunlight (as on the ground)."""
        hosts = view.hosts(job.gpus)
        return int(hosts[0]) if len(hosts) else None
