"""The core decisions a policy returns (the policy API's module docstring describes them)."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Decision", "Migrate", "Pause", "Place"]


class Decision:
    """Base of the decisions a policy returns."""

    __slots__ = ()


@dataclass(frozen=True)
class Place(Decision):
    """Start queued job ``job_id`` on host ``sat`` (a satellite, or a data centre's host)."""

    job_id: int
    sat: int


@dataclass(frozen=True)
class Migrate(Decision):
    """Move running job ``job_id`` to host ``sat``."""

    job_id: int
    sat: int


@dataclass(frozen=True)
class Pause(Decision):
    """Checkpoint running job ``job_id`` and release its GPUs (it waits in the queue)."""

    job_id: int
