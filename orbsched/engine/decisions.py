"""The policy's side of the engine: calling its hooks and checking every decision.

:class:`PolicyDriver` calls the policy (:mod:`orbsched.policies.api`) through the hook guard
(:mod:`orbsched.engine.hookguard`: a wall-clock budget, exceptions and return values checked)
at the engine's moments: the queue pass ``schedule`` whenever queued jobs might start, the
satellites entering shadow at an instant (``on_shadow``, then the replica strategy's), the tick,
link changes (with ``link_events``), and a group member's events (the group strategy).  Every
decision a hook returns is validated here (job state, free GPUs, power at the decision time, a
laser path) and handed to the component that applies it; an impossible one raises
:class:`~orbsched.scenario.errors.PolicyError` naming the policy, the decision and the time.
"""
from __future__ import annotations

import math

import numpy as np

from ..policies.decisions import Migrate, Pause, Place
from ..policies.groups import PlaceGroup, Replace, Reshape, Shrink
from ..policies.replicas import MoveReplica
from ..scenario.errors import PolicyError
from .hookguard import HookGuard
from .jobs import Phase

__all__ = ["PolicyDriver"]

_DECISIONS = (Place, Migrate, Pause, PlaceGroup, Reshape, Shrink, Replace)


class PolicyDriver:
    """Hooks and decisions of one run's policy (module docstring)."""

    def __init__(self, engine) -> None:
        e = self.e = engine
        self.policy = engine.policy
        self.name = engine.policy_name
        self.guard = HookGuard(self.name, getattr(engine.scenario.policy, "hook_budget_s", None),
                               lambda: e.env.now)
        # what the last view search found: (network version, source, dist, pred)
        self._reach: tuple[int, int, np.ndarray | None, np.ndarray | None] = (-1, -1, None, None)

    # ============================================================================== hooks
    def run(self, hook: str, fn, *args) -> None:
        """Call a policy hook ``fn(*args)`` through the guard and apply the decisions it
        returns (an iterable, or a generator whose decisions are applied as it yields them;
        None: none); ``hook`` names it in errors."""
        self.guard.call(hook, fn, args, self.decide)

    def schedule(self) -> None:
        """Queued jobs might start now: the policy's queue pass."""
        self.run("schedule", self.policy.schedule, self.e.view)

    def shadow(self, sats) -> None:
        """Satellites entering shadow at this instant, all at once: the policy's
        ``on_shadow``, then its replica strategy's (when the scenario serves inference)."""
        arr = np.asarray(sats, dtype=np.int64)
        arr.flags.writeable = False
        view = self.e.view
        self.run("on_shadow", self.policy.on_shadow, arr, view)
        if self.e.inference is not None:
            self.run("replicas.on_shadow", self.policy.replicas.on_shadow, arr, view)

    def tick(self) -> None:
        self.run("on_tick", self.policy.on_tick, self.e.view)

    def link_change(self, a: int, b: int, up: bool) -> None:
        self.run("on_link_change", self.policy.on_link_change, a, b, up, self.e.view)

    def group_event(self, job, sat: int, cause: str) -> None:
        """A member of a group job entered shadow or stopped: the group strategy decides;
        when it decides nothing after a member stopped, the policy's queue pass (the group is
        queued)."""
        self.run("groups.on_event", self._group_hook, self.e.view.job(job.job_id), sat, cause,
                 self.e.view)

    def _group_hook(self, job, sat, cause, view):
        out = self.policy.groups.on_event(job, sat, cause, view)
        if out is None and cause != "eclipse_entry":
            out = self.policy.schedule(view)
        return out

    # ============================================================================= checks
    def reject(self, d, why: str):
        raise PolicyError(f"policy '{self.name}': decision {d!r} at t = "
                          f"{self.e.env.now:.3f} s rejected: {why}")

    def check_host(self, d, i, gpus: int, what: str) -> int:
        """Reject ``d`` unless host ``i`` exists, works, and has ``gpus`` free GPUs and the
        power to run them now; ``what`` names who needs them.  Returns the host index."""
        e = self.e
        n = e.n_sats
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) \
                or not 0 <= i < n + len(e.grounds) \
                or (i >= n and not e.grounds[i - n].gpus):
            self.reject(d, f"no satellite {i!r} (satellites are 0 .. {n - 1}"
                           + (f"; data centres {list(e.datacentres)}" if e.datacentres else "")
                           + ")")
        i = int(i)
        if i >= n:                                   # a data centre: grid power
            g = e.grounds[i - n]
            if g.free < gpus:
                self.reject(d, f"data centre {g.name} (host {i}) has {g.free} free GPUs, "
                               f"{what} needs {gpus}")
            return i
        fl = e.fleet
        name = e.names[i]
        if fl.failed[i]:
            self.reject(d, f"satellite {i} ({name}) has failed")
        if fl.free[i] < gpus:
            self.reject(d, f"satellite {i} ({name}) has {fl.free[i]} free GPUs, {what} "
                           f"needs {gpus}")
        if not e.view.can_host(i, gpus, check_free=False):
            self.reject(d, f"satellite {i} ({name}) cannot power {gpus} more busy GPUs now "
                           f"(battery at its payload floor, array {fl.array_w[i]:.0f} W, "
                           f"load {fl.load_w[i]:.0f} W)")
        return i

    def check_site(self, d, job, i, *, moving: bool) -> int:
        i = self.check_host(d, i, job.slots, "the job")
        if moving and not self.reachable(job.sat, i):
            self.reject(d, f"no laser path from satellite {job.sat} to {i} now")
        return i

    def note_reachable(self, src: int, dist, pred) -> None:
        """Remember what a view search found from src (valid until the network changes), so
        validating a decision built on it needs no second route search, and its transfer can
        start on the path the search found.  ``dist`` is finite at every node the search
        reached, ``pred`` its predecessor on a path from src (arrays, see
        :func:`orbsched._kernels.nearest_hosts`)."""
        self._reach = (self.e.net._version, src, dist, pred)

    def reachable(self, a: int, b: int) -> bool:
        ver, src, dist, _ = self._reach
        if ver == self.e.net._version and src == a and dist is not None and dist[b] < math.inf:
            return True
        return self.e.net.route(a, b, include_acquiring=True) is not None

    def path_hint(self, a: int, b: int):
        """(version, path a..b) from the last view search, if it still applies."""
        ver, src, dist, pred = self._reach
        if (ver != self.e.net._version or src != a or dist is None or pred is None
                or not dist[b] < math.inf):
            return None
        path = [b]
        while path[-1] != a:
            path.append(int(pred[path[-1]]))
        return ver, path[::-1]

    # ========================================================================== decisions
    def decide(self, d) -> None:
        e = self.e
        e.stats["decisions"] += 1
        t = e.env.now
        if isinstance(d, MoveReplica):
            return e.moves.move_replica(d, t)
        if not isinstance(d, _DECISIONS):
            raise PolicyError(f"policy '{self.name}' returned {d!r}; expected Place, Migrate, "
                              f"Pause, PlaceGroup, Reshape, Shrink, Replace or MoveReplica "
                              f"decisions (orbsched.policies)")
        job = e.jobs.get(d.job_id)
        if job is None:
            self.reject(d, f"no job {d.job_id!r}")
        if isinstance(d, Place) and job.spans:
            if job.phase is not Phase.QUEUED:
                self.reject(d, f"job {job.job_id} is {job.phase}, not queued")
            d = PlaceGroup(d.job_id, (d.sat,))
        if isinstance(d, (PlaceGroup, Reshape, Shrink, Replace)) or (
                isinstance(d, Pause) and job.gs.group is not None
                and job.phase is Phase.RUNNING):
            return e.groups.decide(d, job, t)
        if isinstance(d, Migrate) and job.gs.group is not None:
            self.reject(d, f"job {job.job_id} runs on a group of satellites; move it with "
                           f"Reshape (or Replace a member)")
        if isinstance(d, Place):
            if job.phase is not Phase.QUEUED:
                self.reject(d, f"job {job.job_id} is {job.phase}, not queued")
            moving = job.sat >= 0 and job.sat != d.sat
            i = self.check_site(d, job, d.sat, moving=moving)
            e.jobs.dequeue(job)
            if moving:
                e.moves.begin_migration(job, job.sat, i, t, checkpoint=False)
            else:
                e.moves.place_here(job, i, t)
        elif isinstance(d, Migrate):
            if job.phase is not Phase.RUNNING:
                self.reject(d, f"job {job.job_id} is {job.phase}; only a running job migrates")
            if d.sat == job.sat:
                self.reject(d, f"job {job.job_id} already runs on satellite {d.sat}")
            i = self.check_site(d, job, d.sat, moving=True)
            e.moves.begin_migration(job, job.sat, i, t, checkpoint=True)
        else:
            if job.phase is not Phase.RUNNING:
                self.reject(d, f"job {job.job_id} is {job.phase}; only a running job pauses")
            e.moves.begin_pause(job, t)
