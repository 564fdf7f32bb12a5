"""The group-job extension of the policy API: jobs larger than one satellite.

Such a job runs data-parallel on a *group* of satellites linked in a ring
(:mod:`orbsched.engine.groups` models its steps, all-reduce and checkpoint shards).  Its
decisions:

* :class:`PlaceGroup` ``(job_id, sats, gpus=None)``: start a queued job on several satellites
  (ring order as given; ``gpus`` per member, default: as many of the job's GPUs as each has
  free, in order).  Members without the job's checkpoint receive their shard first.
* :class:`Reshape` ``(job_id, sats, gpus=None)``: checkpoint a running group and continue on a
  new set of members (grow, shrink, replace, or move the whole group); :class:`Shrink`
  ``(job_id, drop)`` and :class:`Replace` ``(job_id, old, new)`` are its common cases.
  ``Pause`` pauses a whole group.

Every policy has a :class:`GroupStrategy` as ``policy.groups``; the scenario configures it with
the policy options ``group_on_eclipse`` (``continue``, ``pause``, ``shrink``, ``replace``: what a
group does when a member enters shadow), ``group_on_loss`` (``wait``, ``shrink``, ``replace``:
after a member stopped abruptly) and ``group_lookahead_s`` (a ``replace`` also replaces members
entering shadow within this many seconds, and picks replacements with more sunlight left).
Subclass it to change how groups are placed (:meth:`GroupStrategy.place`,
:meth:`GroupStrategy.choose`) or how they react (:meth:`GroupStrategy.on_event`); the engine
calls ``place`` from the default queue pass and ``on_event`` when a member enters shadow
(``eclipse_entry``: the group still runs) or stops (``brownout``, ``radiation``, ``failure``,
``link_lost``: the whole group has stopped, lost the work since its checkpoint, and is queued;
when ``on_event`` returns nothing the engine runs the policy's queue pass).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .decisions import Decision, Pause

__all__ = ["GROUP_ON_ECLIPSE", "GROUP_ON_LOSS", "GroupStrategy", "PlaceGroup", "Replace",
           "Reshape", "Shrink"]

#: Choices of the ``group_on_eclipse`` and ``group_on_loss`` options.
GROUP_ON_ECLIPSE = ("continue", "pause", "shrink", "replace")
GROUP_ON_LOSS = ("wait", "shrink", "replace")


@dataclass(frozen=True)
class PlaceGroup(Decision):
    """Start a queued job on the satellites ``sats`` (a ring in this order) with ``gpus[i]``
    of its GPUs on ``sats[i]`` (None: as many as each has free, in order, up to the job's
    size; the total must lie between the job's ``min_gpus`` and its ``gpus``)."""

    job_id: int
    sats: tuple
    gpus: tuple | None = None


@dataclass(frozen=True)
class Reshape(Decision):
    """Checkpoint a running job and continue on ``sats`` / ``gpus`` (as in PlaceGroup)."""

    job_id: int
    sats: tuple
    gpus: tuple | None = None


@dataclass(frozen=True)
class Shrink(Decision):
    """Drop the members ``drop`` of a running group (elastic: the rest must keep at least the
    job's ``min_gpus``); a checkpoint is taken first, so no work is lost."""

    job_id: int
    drop: tuple


@dataclass(frozen=True)
class Replace(Decision):
    """Replace member ``old`` of a running group by satellite ``new`` (same GPUs)."""

    job_id: int
    old: int
    new: int


def _sunlit_hosts(view: Any, gpus: int) -> np.ndarray:
    """Mask of sunlit satellites with ``gpus`` free GPUs and power for them (O(N))."""
    return (view.free >= gpus) & view.powered(gpus) & view.sunlit


class GroupStrategy:
    """How a policy places and reshapes group jobs (module docstring)."""

    def __init__(self, policy: Any, on_eclipse: str = "continue", on_loss: str = "wait",
                 lookahead_s: float = 600.0) -> None:
        """``policy``: the :class:`~orbsched.policies.api.Policy` this strategy serves (its
        ``moves_queued`` knob applies to groups too)."""
        self.policy = policy
        self.on_eclipse = on_eclipse
        self.on_loss = on_loss
        self.lookahead_s = lookahead_s

    def on_event(self, job, sat, cause, view):
        """A member of a group job entered eclipse or stopped (module docstring).  Default:
        follow the ``group_on_eclipse`` / ``group_on_loss`` options."""
        if cause == "eclipse_entry":
            # replace / shrink that find nothing fall back to a pause when the batteries
            # cannot carry the group through the eclipse
            if job.phase != "running":
                return None
            act = self.on_eclipse
            if act == "pause":
                return [Pause(job.job_id)]
            if act == "replace":
                d = self._replace_dark(job, view)
                if d is not None:
                    return [d]
                act = "shrink"
            if act == "shrink" and self._can_drop(job, sat):
                return [Shrink(job.job_id, (sat,))]
            if act != "continue" and not self._battery_carries(job, view):
                return [Pause(job.job_id)]   # nowhere to go: checkpoint rather than brown out
            return None
        act = self.on_loss
        if job.phase == "queued" and act in ("replace", "shrink") and sat in job.members:
            members, gpus = list(job.members), list(job.member_gpus)
            i = members.index(sat)
            new = self.replacement(job, sat, view) if act == "replace" else None
            if new is not None:
                members[i] = new
            elif self._can_drop(job, sat):
                del members[i], gpus[i]
            else:
                members = None
            f = job.gpus // job.work_gpus
            if members and all(view.can_host(m, g * f) for m, g in zip(members, gpus)):
                return [PlaceGroup(job.job_id, tuple(members), tuple(gpus))]
        return None   # the engine then calls policy.schedule

    def _replace_dark(self, job, view):
        """One decision replacing every member in shadow, or entering it within
        ``group_lookahead_s``, by the sunlit host nearest to its ring neighbour among those
        with more sunlight left than that (a Replace for one, a Reshape for several: one
        checkpoint for all); None if none can be replaced."""
        members, gpus = list(job.members), list(job.member_gpus)
        left = view.sunlight_left_s()
        horizon = self.lookahead_s
        dark = [m for m in members if left[m] <= horizon]
        if not any(not view.sunlit[m] for m in dark):
            return None
        f = job.gpus // job.work_gpus
        taken = set(members)
        changed = []
        keep = [m for m in members if m not in dark]
        for m in dark:
            i = members.index(m)
            mask = _sunlit_hosts(view, gpus[i] * f) & (left > horizon)
            mask[list(taken)] = False
            src = members[i - 1] if members[i - 1] not in dark else (keep[0] if keep else m)
            found = view.nearest(src, mask)
            if found:
                members[i] = found[0][0]
                taken.add(found[0][0])
                changed.append((m, found[0][0]))
        # replacements far from their ring neighbours stretch the ring; a fresh compact group
        # in the sun may be better (its all-reduce is what every later step pays)
        new_ring = view.ring(members, job.gradient_gb) if changed else None
        cur_ring = view.ring(job.members, job.gradient_gb)
        if new_ring is None or (cur_ring is not None and new_ring[2] > 1.1 * cur_ring[2]):
            fresh = self.choose(job, view, min_sunlight_s=horizon)
            if fresh is not None:
                fr = view.ring(fresh[0], job.gradient_gb)
                if fr is not None and (new_ring is None or fr[2] < new_ring[2]):
                    return Reshape(job.job_id, *fresh)
        if not changed:
            return None
        if len(changed) == 1:
            return Replace(job.job_id, *changed[0])
        return Reshape(job.job_id, tuple(members), tuple(gpus))

    @staticmethod
    def _battery_carries(job, view, running=True):
        """Every member in shadow can run its share on battery to the end of its eclipse
        (``running=False``: the share is not drawing yet)."""
        f = job.gpus // job.work_gpus
        return all(GroupStrategy._carries(view, m, 0 if running else g * f)
                   for m, g in zip(job.members, job.member_gpus))

    @staticmethod
    def _carries(view, sat, more_gpus):
        """The battery of ``sat`` serves its load plus ``more_gpus`` busy GPUs to the end of
        its eclipse (always, in sunlight)."""
        return view.payload_energy_wh(sat) >= (view.load_w(sat) + view.gpu_power_w(more_gpus)) \
            * view.eclipse_left_s(sat) / 3600.0

    @staticmethod
    def _can_drop(job, sat):
        if sat not in job.members or len(job.members) < 2:
            return False
        g = job.member_gpus[job.members.index(sat)]
        return sum(job.member_gpus) - g >= job.min_gpus

    def replacement(self, job, sat, view):
        """A satellite to take member ``sat``'s place (None: none).  Default: the nearest
        sunlit host with power and free GPUs for that member's share, searched from the
        group's anchor."""
        if sat not in job.members:
            return None
        f = job.gpus // job.work_gpus
        g = job.member_gpus[job.members.index(sat)] * f
        mask = _sunlit_hosts(view, g)
        mask[list(job.members)] = False
        src = next((m for m in job.members if m != sat), sat)
        found = view.nearest(src, mask)
        return found[0][0] if found else None

    def place(self, job, view):
        """A :class:`PlaceGroup` for a queued job that spans satellites, or None.  Default:
        back on its former members when they can all host it (and, if the policy pauses
        groups for eclipses, are all sunlit; else those in shadow have the battery to reach
        the end of their eclipse); else (when the policy moves
        queued jobs, the job never ran, or a member lost its GPUs) :meth:`choose`, when every
        new member can receive its checkpoint shard from the job's checkpoint now (a laser
        path from ``job.sat``)."""
        f = job.gpus // job.work_gpus
        if job.members:
            if self.on_eclipse == "pause" and not view.sunlit[list(job.members)].all():
                return None               # paused for a member's eclipse: wait for its end
            if all(view.can_host(m, g * f) for m, g in zip(job.members, job.member_gpus)) \
                    and self._battery_carries(job, view, running=False) \
                    and view.ring(job.members) is not None:
                return PlaceGroup(job.job_id, tuple(job.members), tuple(job.member_gpus))
            if not (self.policy.moves_queued or any(view.capacity(m) < g * f for m, g in
                                             zip(job.members, job.member_gpus))):
                return None
        found = self.choose(job, view)
        if found is None:
            return None
        if job.has_checkpoint and job.sat >= 0:
            old = set(job.members) | {job.sat}
            if any(s not in old and not view.reachable(job.sat, s) for s in found[0]):
                return None               # a shard could not get there now: wait
        return PlaceGroup(job.job_id, *found)

    def choose(self, job, view, min_sunlight_s=0.0):
        """``(sats, gpus)`` for a job spanning satellites, or None.  Default: from the sunlit
        host with the most free GPUs, add the nearest sunlit hosts (light time over usable
        links; with more than ``min_sunlight_s`` of sunlight left) taking as many GPUs as
        each can power, until the job's size (at least its ``min_gpus``); if sunlit hosts are
        too few, hosts in shadow whose battery carries their share to the end of the eclipse.
        Ring order: :meth:`ring_order`."""
        f = job.gpus // job.work_gpus
        need = job.work_gpus
        for sunlit_only in (True, False):
            mask = (view.free >= f) & view.powered(f)
            if sunlit_only:
                mask &= view.sunlit
                if min_sunlight_s > 0:
                    mask &= view.sunlight_left_s() > min_sunlight_s
            elif min_sunlight_s > 0:
                return None
            cand = np.flatnonzero(mask)
            if not len(cand):
                continue
            seed = int(cand[np.argmax(view.free[cand])])
            sats, gpus, total = [], [], 0
            per = view.gpus_per_sat // f
            order = [(seed, 0.0, 0)] + view.nearest(seed, mask, k=2 * (need // max(per, 1)) + 8)
            for s, _, _ in order:
                g = min(int(view.free[s]) // f, need - total)
                while g > 0 and not view.can_host(s, g * f):
                    g -= 1
                if g > 0 and not sunlit_only:
                    # in shadow only where the battery carries the share to the eclipse's end
                    # (a group browns out as a whole when one member does)
                    while g > 0 and not self._carries(view, s, g * f):
                        g -= 1
                if g > 0:
                    sats.append(int(s))
                    gpus.append(g)
                    total += g
                if total >= need:
                    break
            if total >= job.min_gpus:
                return self.ring_order(sats, gpus, view)
        return None

    @staticmethod
    def ring_order(sats, gpus, view):
        """Order members into a short ring (the all-reduce waits for its longest hop): a
        nearest-neighbour tour over the members' route light times, improved by 2-opt
        until no reversal shortens it."""
        n = len(sats)
        if n < 4:
            return tuple(sats), tuple(gpus)
        d = view.light_times(sats)
        d = np.where(np.isfinite(d), d, 1e3)
        order = [0]
        left = set(range(1, n))
        while left:
            cur = order[-1]
            nxt = min(left, key=lambda j: (d[cur, j], j))
            order.append(nxt)
            left.discard(nxt)
        improved = True
        while improved:
            improved = False
            for i in range(n - 1):
                a, b = order[i], order[i + 1]
                for k in range(i + 2, n if i else n - 1):
                    c, e = order[k], order[(k + 1) % n]
                    if d[a, c] + d[b, e] < d[a, b] + d[c, e] - 1e-12:
                        order[i + 1:k + 1] = order[i + 1:k + 1][::-1]
                        a, b = order[i], order[i + 1]
                        improved = True
        return tuple(int(sats[i]) for i in order), tuple(gpus[i] for i in order)
