"""The policy API: decisions, the base class and its default behaviour.

A policy is a class with hooks.  Each hook receives a read-only :class:`orbsched.engine.view.View`
(and the object concerned) and returns an iterable of decisions (or None):

* :class:`Place` ``(job_id, sat)``: start a queued job on a satellite.  A job that has never
  run starts at once; a job whose checkpoint is on ``sat`` restores there; a job whose
  checkpoint is elsewhere is moved there first (as a migration).
* :class:`Migrate` ``(job_id, sat)``: move a running job: checkpoint at its satellite,
  transfer over the laser network, restore at ``sat``.  The job is safe at its source until
  the restore completes.
* :class:`Pause` ``(job_id,)``: checkpoint a running job and release its GPUs; it waits in
  the queue with its checkpoint on that satellite.
* :class:`MoveReplica` ``(service, src, dst)``: move one replica of an inference service.

Jobs larger than one satellite run on a *group* of satellites linked in a ring
(:mod:`orbsched.engine.groups`):

* :class:`PlaceGroup` ``(job_id, sats, gpus=None)``: start a queued job on several satellites
  (ring order as given; ``gpus`` per member, default: as many of the job's GPUs as each has
  free, in order).  Members without the job's checkpoint receive their shard first.
* :class:`Reshape` ``(job_id, sats, gpus=None)``: checkpoint a running group and continue on a
  new set of members (grow, shrink, replace, or move the whole group); :class:`Shrink`
  ``(job_id, drop)`` and :class:`Replace` ``(job_id, old, new)`` are its common cases.
  ``Pause`` pauses a whole group.

Inference replicas are placed at the start by ``place_replicas(service, count, gpus, view)``
(a list of satellites; default: spread over sunlit hosts).

A hook may be a generator: the engine applies each decision as it is yielded, so the view
shows its effect (free GPUs taken, the job no longer queued) before the next one is chosen.

The engine validates every decision (job state, free GPUs, power, a path) and raises
:class:`orbsched.scenario.errors.PolicyError` naming the policy and the decision when one is impossible;
it never silently drops one.

Hooks (all optional; the base class gives the defaults described below):

* ``on_job_arrival(job, view)``: a job has arrived (it is queued).  Default: :meth:`fill`.
* ``on_eclipse_entry(sat, view)`` (called by the default ``on_power_change``): moves each
  running job to ``destination(job, sat, view)`` and each replica to
  ``replica_destination(...)``; override those two to write a follow-the-sun policy.
* ``on_power_change(sat, kind, view)``: ``kind`` is ``eclipse_entry``, ``umbra_entry``,
  ``umbra_exit``, ``eclipse_exit``, ``brownout`` (jobs were shed at the battery floor) and
  ``gpus_freed`` (a paused job released its GPUs), and the fault kinds ``reboot_end``,
  ``gpu_failed``, ``satellite_failed``.  Default: :meth:`fill` on all but the eclipse entry
  and umbra edges.
* ``on_job_end(job, view)``: a job completed or failed (its GPUs are free).  Default:
  :meth:`fill`.
* ``on_migration_end(job, ok, view)``: a migration finished (``ok``) or failed (the job is
  queued with its checkpoint at its source).  Default: :meth:`fill`.
* ``on_link_change(a, b, up, view)``: a laser link appeared or went down.  Called only when a
  policy overrides it (link events are frequent).
* ``on_tick(view)``: every ``policy.tick_s`` seconds when the scenario sets it.
* ``on_group_event(job, sat, cause, view)``: a member ``sat`` of a group job entered eclipse
  (``eclipse_entry``: the group still runs) or stopped abruptly (``brownout``, ``radiation``,
  ``failure``, ``link_lost``: the whole group has stopped, lost the work since its last
  checkpoint, and is queued).  Default: what the options ``group_on_eclipse`` (``continue``,
  ``pause``, ``shrink``, ``replace``) and ``group_on_loss`` (``wait``, ``shrink``,
  ``replace``) say; every policy takes these two options and ``group_lookahead_s``.

The default queue discipline (:meth:`fill`) is first come, first served with a backfill window:
jobs are taken in arrival order; a job that cannot be placed now stays queued and up to
``backfill`` later jobs are tried after it (a job that waits for its own satellite, where its
checkpoint is, does not count against that window).  A queued job whose checkpoint lives on a
satellite resumes there (:meth:`resume_site`) unless the policy moves queued jobs
(``moves_queued``).  New jobs go where :meth:`choose_site` says.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Decision", "Migrate", "MoveReplica", "Pause", "Place", "PlaceGroup", "Policy",
           "Replace", "Reshape", "Shrink", "GROUP_ON_ECLIPSE", "GROUP_ON_LOSS"]

#: Choices of the ``group_on_eclipse`` and ``group_on_loss`` options.
GROUP_ON_ECLIPSE = ("continue", "pause", "shrink", "replace")
GROUP_ON_LOSS = ("wait", "shrink", "replace")


class Decision:
    """Base of the decisions a policy returns."""

    __slots__ = ()


@dataclass(frozen=True)
class Place(Decision):
    job_id: int
    sat: int


@dataclass(frozen=True)
class Migrate(Decision):
    job_id: int
    sat: int


@dataclass(frozen=True)
class Pause(Decision):
    job_id: int


@dataclass(frozen=True)
class PlaceGroup(Decision):
    """Start a queued job on the satellites ``sats`` (a ring in this order) with ``gpus[i]``
    of its GPUs on ``sats[i]`` (None: as many as each has free, in order, up to the job's
    size; the total must lie between the job's ``min_gpus`` and its ``gpus``)."""

    job_id: int
    sats: tuple
    gpus: tuple = None


@dataclass(frozen=True)
class Reshape(Decision):
    """Checkpoint a running job and continue on ``sats`` / ``gpus`` (as in PlaceGroup)."""

    job_id: int
    sats: tuple
    gpus: tuple = None


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


@dataclass(frozen=True)
class MoveReplica(Decision):
    """Move one replica of an inference service from satellite ``src`` to ``dst``: its
    weights cross the laser network; ``src`` keeps serving until they have arrived."""

    service: str
    src: int
    dst: int


class Policy:
    """Base class of scheduling policies (see the module docstring).

    Subclasses set ``name`` and override hooks; the constructor takes keyword options from the
    scenario's ``policy.options``.  ``self.rng`` is a :class:`numpy.random.Generator` given by
    the engine (seeded from the scenario), the only source of randomness a policy may use.
    """

    name = "base"
    #: Try later jobs when the head of the queue cannot be placed (0 = strict FIFO).
    backfill = 64
    #: May a queued job with a checkpoint on one satellite be placed on another (a transfer)?
    moves_queued = False
    #: What a group does when one of its members enters eclipse (GROUP_ON_ECLIPSE).
    group_on_eclipse = "continue"
    #: What a group does after a member stopped abruptly (GROUP_ON_LOSS).
    group_on_loss = "wait"
    #: A 'replace' also replaces members entering eclipse within this many seconds (one
    #: checkpoint for several), and picks replacements with more sunlight left than that.
    group_lookahead_s = 600.0

    def __init__(self, **options):
        if options:
            raise TypeError(f"policy '{self.name}' takes no options, got "
                            f"{', '.join(sorted(options))}")
        self.rng = None

    # ------------------------------------------------------------------------------- hooks
    def on_job_arrival(self, job, view):
        return self.fill(view)

    def on_power_change(self, sat, kind, view):
        if kind == "eclipse_entry":
            return self.on_eclipse_entry(sat, view)
        if kind in ("eclipse_exit", "brownout", "gpus_freed", "reboot_end", "gpu_failed",
                    "satellite_failed"):
            return self.fill(view)
        return None

    def on_eclipse_entry(self, sat, view):
        """A satellite enters shadow.  Default: each running job on it moves to
        :meth:`destination` (if that gives one); then each of its inference replicas moves to
        :meth:`replica_destination`."""
        for job in view.jobs_on(sat):
            if job.phase == "running" and not job.is_group:   # groups: on_group_event
                dst = self.destination(job, sat, view)
                if dst is not None:
                    yield Migrate(job.job_id, dst)
        for service, gpus in view.replicas_on(sat):
            dst = self.replica_destination(service, gpus, sat, view)
            if dst is not None:
                yield MoveReplica(service, sat, dst)

    def destination(self, job, sat, view):
        """Where a running job on a satellite entering eclipse should go (None: stay).
        Default: stay."""
        return None

    def replica_destination(self, service, gpus, sat, view):
        """Where a replica on a satellite entering eclipse should go (None: stay)."""
        return None

    def sunlit_hosts(self, view, gpus):
        """Mask of sunlit satellites with ``gpus`` free GPUs and power for them."""
        return (view.free >= gpus) & view.powered(gpus) & view.sunlit

    def on_job_end(self, job, view):
        return self.fill(view)

    def on_migration_end(self, job, ok, view):
        return self.fill(view)

    def on_link_change(self, a, b, up, view):
        return None

    def on_tick(self, view):
        return self.fill(view)

    # ------------------------------------------------------------------------ group jobs
    def on_group_event(self, job, sat, cause, view):
        """A member of a group job entered eclipse or stopped (module docstring).  Default:
        follow the ``group_on_eclipse`` / ``group_on_loss`` options."""
        if cause == "eclipse_entry":
            # replace / shrink that find nothing fall back to a pause when the batteries
            # cannot carry the group through the eclipse
            if job.phase != "running":
                return None
            act = self.group_on_eclipse
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
        act = self.group_on_loss
        if job.phase == "queued" and act in ("replace", "shrink") and sat in job.members:
            members, gpus = list(job.members), list(job.member_gpus)
            i = members.index(sat)
            new = self.group_replacement(job, sat, view) if act == "replace" else None
            if new is not None:
                members[i] = new
            elif self._can_drop(job, sat):
                del members[i], gpus[i]
            else:
                members = None
            f = job.gpus // job.work_gpus
            if members and all(view.can_host(m, g * f) for m, g in zip(members, gpus)):
                return [PlaceGroup(job.job_id, tuple(members), tuple(gpus))]
        return self.fill(view)

    def _replace_dark(self, job, view):
        """One decision replacing every member in shadow, or entering it within
        ``group_lookahead_s``, by the sunlit host nearest to its ring neighbour among those
        with more sunlight left than that (a Replace for one, a Reshape for several: one
        checkpoint for all); None if none can be replaced."""
        members, gpus = list(job.members), list(job.member_gpus)
        left = view.sunlight_left_s()
        horizon = self.group_lookahead_s
        dark = [m for m in members if left[m] <= horizon]
        if not any(not view.sunlit[m] for m in dark):
            return None
        f = job.gpus // job.work_gpus
        taken = set(members)
        changed = []
        keep = [m for m in members if m not in dark]
        for m in dark:
            i = members.index(m)
            mask = self.sunlit_hosts(view, gpus[i] * f) & (left > horizon)
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
            fresh = self.choose_group(job, view, min_sunlight_s=horizon)
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
        return all(Policy._carries(view, m, 0 if running else g * f)
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

    def group_replacement(self, job, sat, view):
        """A satellite to take member ``sat``'s place (None: none).  Default: the nearest
        sunlit host with power and free GPUs for that member's share, searched from the
        group's anchor."""
        if sat not in job.members:
            return None
        f = job.gpus // job.work_gpus
        g = job.member_gpus[job.members.index(sat)] * f
        mask = self.sunlit_hosts(view, g)
        mask[list(job.members)] = False
        src = next((m for m in job.members if m != sat), sat)
        found = view.nearest(src, mask)
        return found[0][0] if found else None

    def place_group(self, job, view):
        """A :class:`PlaceGroup` for a queued job that spans satellites, or None.  Default:
        back on its former members when they can all host it (and, if the policy pauses
        groups for eclipses, are all sunlit; else those in shadow have the battery to reach
        the end of their eclipse); else (when the policy moves
        queued jobs, the job never ran, or a member lost its GPUs) :meth:`choose_group`."""
        f = job.gpus // job.work_gpus
        if job.members:
            if self.group_on_eclipse == "pause" and not view.sunlit[list(job.members)].all():
                return None               # paused for a member's eclipse: wait for its end
            if all(view.can_host(m, g * f) for m, g in zip(job.members, job.member_gpus)) \
                    and self._battery_carries(job, view, running=False) \
                    and view.ring(job.members) is not None:
                return PlaceGroup(job.job_id, tuple(job.members), tuple(job.member_gpus))
            if not (self.moves_queued or any(view.capacity(m) < g * f for m, g in
                                             zip(job.members, job.member_gpus))):
                return None
        found = self.choose_group(job, view)
        return None if found is None else PlaceGroup(job.job_id, *found)

    def choose_group(self, job, view, min_sunlight_s=0.0):
        """``(sats, gpus)`` for a job spanning satellites, or None.  Default: from the sunlit
        host with the most free GPUs, add the nearest sunlit hosts (light time over usable
        links; with more than ``min_sunlight_s`` of sunlight left) taking as many GPUs as
        each can power, until the job's size (at least its ``min_gpus``); if sunlit hosts are
        too few, hosts in shadow whose battery carries their share to the end of the eclipse.
        Ring order: :meth:`ring_order`."""
        import numpy as np

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
        import numpy as np

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

    def place_replicas(self, service, count, gpus, view):
        """Satellites for the ``count`` initial replicas of an inference service (repeat a
        satellite to give it several).  Default: spread evenly over the sunlit satellites
        that can host ``gpus`` GPUs (over all hosts if too few are sunlit)."""
        import numpy as np

        hosts = view.hosts(gpus, sunlit_only=True)
        if len(hosts) < count:
            hosts = view.hosts(gpus)
        if not len(hosts):
            return []
        idx = np.linspace(0, len(hosts) - 1, count).round().astype(int)
        return [int(hosts[i]) for i in idx]

    # ------------------------------------------------------------------------- placement
    def choose_site(self, job, view):
        """Satellite for a job that has never run, or None to leave it queued.  Default: the
        first sunlit satellite (by index) that can host it, else the first that can."""
        hosts = view.hosts(job.gpus, sunlit_only=True)
        if not len(hosts):
            hosts = view.hosts(job.gpus)
        return int(hosts[0]) if len(hosts) else None

    def resume_site(self, job, view):
        """Satellite for a queued job that holds a checkpoint (``job.sat``), or None.  Default:
        its own satellite when it can host it; with ``moves_queued``, else
        :meth:`choose_site`."""
        if view.can_host(job.sat, job.gpus):
            return job.sat
        if self.moves_queued or view.capacity(job.sat) < job.gpus:
            # (a job whose satellite lost GPUs it needs must move, whatever the policy)
            site = self.choose_site(job, view)
            if site is not None and view.reachable(job.sat, site):
                return site
        return None

    def fill(self, view):
        """Place queued jobs in arrival order with a backfill window (module docstring).

        A generator: the engine applies each decision as it is yielded, so the view already
        shows the GPUs the previous decision took."""
        skipped = 0
        free = view.free                      # live, read-only
        total = int(free.sum())
        # a job waiting for its own satellite resumes there iff the satellite can power it
        # (base resume_site, queued jobs not moved); within one pass, decisions only take
        # power and GPUs, so a satellite that could not power g GPUs cannot power g or more
        pinned = not self.moves_queued and type(self).resume_site is Policy.resume_site
        blocked = {}                          # satellite -> fewest GPUs it could not power
        powered = {}                          # gpus -> view.powered(gpus) in this pass
        if pinned and total > 0:
            # jobs waiting on a satellite with no free GPU or no power for one more busy GPU
            # now would all be passed over below (GPUs and power only shrink within a pass,
            # and a satellite that cannot power one GPU cannot power more): leave them out of
            # the scan (view._queued_except keeps those on satellites that lost GPUs)
            powered[1] = view.powered(1)
            queued = view._queued_except(~((free >= 1) & powered[1]))
        else:
            queued = view.queued()
        for job in queued:
            if total <= 0:
                return
            if job.is_group:
                d = self.place_group(job, view)
                if d is not None:
                    yield d
                    total = int(free.sum())
                else:
                    skipped += 1
                    if skipped > self.backfill:
                        return
                continue
            sat = job.sat
            if sat >= 0 and not self.moves_queued and free[sat] < job.gpus \
                    and view.capacity(sat) >= job.gpus:
                continue                      # waits for its own satellite, full for now
            if pinned and sat >= 0:
                if job.gpus >= blocked.get(sat, math.inf):
                    continue                  # its satellite could not power fewer just now
                g = job.gpus
                if g not in powered:          # one vectorised test per size and pass
                    powered[g] = view.powered(g)
                if sat < len(powered[g]) and not powered[g][sat] \
                        and view.capacity(sat) >= g:
                    continue                  # could not power it at the pass start either
            site = self.resume_site(job, view) if sat >= 0 else self.choose_site(job, view)
            if site is not None:
                yield Place(job.job_id, site)
                total = int(free.sum())
            elif pinned and sat >= 0:
                if view.capacity(sat) >= job.gpus:
                    blocked[sat] = min(blocked.get(sat, math.inf), job.gpus)
            elif sat < 0 or self.moves_queued:
                # a job waiting for its own satellite (checkpoint there) blocks nobody
                skipped += 1
                if skipped > self.backfill:
                    return
