"""``stay``: never migrate.  Jobs run where they were placed, through eclipses on battery; at the
battery floor the engine sheds them (brownout: work since the last checkpoint is lost) and
they resume on the same satellite from their checkpoint once it can power them again."""
from .api import Policy


class Stay(Policy):
    """New jobs go to the first sunlit host (the base class's ``place``), no migration, FIFO
    queue with backfill; a job with a checkpoint waits for its own satellite."""

    name = "stay"
