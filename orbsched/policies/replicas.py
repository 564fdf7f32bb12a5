"""The inference extension of the policy API: where the replicas of inference services run.

Scenarios with ``inference.services`` serve requests from ground cities on replicas held by
satellites (:mod:`orbsched.engine.inference`).  Every policy has a :class:`ReplicaStrategy` as
``policy.replicas``: the engine asks it where the initial replicas go (:meth:`place`) and, when
satellites enter shadow, which replicas to move (:meth:`on_shadow`, returning
:class:`MoveReplica` decisions: the weights cross the laser network; the source keeps serving
until they have arrived).  :class:`FollowSun` moves each replica on a satellite entering
shadow to the nearest sunlit satellite that can host it.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .decisions import Decision

__all__ = ["FollowSun", "MoveReplica", "ReplicaStrategy"]


@dataclass(frozen=True)
class MoveReplica(Decision):
    """Move one replica of inference service ``service`` from satellite ``src`` to ``dst``."""

    service: str
    src: int
    dst: int


class ReplicaStrategy:
    """Replicas stay where they were first placed (module docstring)."""

    def place(self, service: str, count: int, gpus: int, view: Any) -> list:
        """Satellites for the ``count`` initial replicas of a service (repeat a satellite to
        give it several).  Default: spread evenly over the sunlit satellites that can host
        ``gpus`` GPUs (over all hosts if too few are sunlit)."""
        hosts = view.hosts(gpus, sunlit_only=True)
        if len(hosts) < count:
            hosts = view.hosts(gpus)
        if not len(hosts):
            return []
        idx = np.linspace(0, len(hosts) - 1, count).round().astype(int)
        return [int(hosts[i]) for i in idx]

    def on_shadow(self, sats: np.ndarray, view: Any) -> Iterator[Decision] | None:
        """Replica moves for satellites entering shadow now.  Default: none."""
        return None


class FollowSun(ReplicaStrategy):
    """Each replica on a satellite entering shadow moves to the nearest sunlit satellite with
    free GPUs and power for it (light time over usable laser links, within ``max_hops``)."""

    def __init__(self, max_hops: int | None = None) -> None:
        self.max_hops = max_hops

    def on_shadow(self, sats: np.ndarray, view: Any) -> Iterator[Decision]:
        for sat in sats:
            for service, gpus in view.replicas_on(int(sat)):
                found = view.nearest(int(sat), gpus=gpus, sunlit=True, max_hops=self.max_hops)
                if found:
                    yield MoveReplica(service, int(sat), found[0][0])
