"""The read-only view a policy sees: satellites, jobs, predictions, routes.

Arrays (``free``, ``state``, ``sunlit``, ``next_eclipse_entry_s``, ...) are read-only numpy
views of the engine's own arrays (the fleet's, the timeline's), current at the moment of the
call (the engine applies each decision a generator hook yields before asking for the next, so
they reflect it).  Methods answer the questions the built-in policies ask; none of them
changes the simulation.  Satellites are integers ``0 .. n_sats - 1``; jobs are
:class:`JobInfo` objects.

Cost: per-satellite questions (``can_host``, ``soc``, ``free_gpus``...) are O(1);
``first_host`` stops at the first host it finds; ``nearest(gpus=...)`` tests only the nodes
its Dijkstra settles (the fleet's ``HostSearch``); whole-fleet arrays (``hosts``,
``powered``, ``socs``, ``sunlit``...) are O(N).
"""
from __future__ import annotations

from types import MappingProxyType

import numpy as np

from .._kernels import nearest_hosts
from ..scenario.errors import PolicyError
from .fleet import HostSearch
from .groups import allreduce_s
from .jobs import DRAWING
from .timeline import PENUMBRA, SUNLIT, UMBRA

__all__ = ["JobInfo", "View"]


def _ro(a: np.ndarray) -> np.ndarray:
    """A read-only array over ``a``'s memory that cannot be made writable: its buffer is a
    read-only memoryview, so ``flags.writeable = True`` raises ValueError (a plain read-only
    view of a writable array can be flipped back).  Zero-copy: it shows the engine's updates
    in place (the engine never rebinds these arrays).  The cost is measured by
    benchmarks/bench_view.py."""
    if not a.flags.c_contiguous:
        raise ValueError("a view array must be contiguous")
    return np.frombuffer(a.data.toreadonly(), dtype=a.dtype).reshape(a.shape)


class JobInfo:
    """Read-only facts about one job (``progress_gpu_h`` and ``saved_gpu_h`` are evaluated at
    the current time)."""

    __slots__ = ("_job", "_env")

    def __init__(self, job, env) -> None:
        self._job = job
        self._env = env

    job_id = property(lambda self: self._job.job_id)
    name = property(lambda self: self._job.spec.name)
    gpus = property(lambda self: self._job.slots,
                    doc="GPUs the job occupies (its GPUs x 2 for duplex, x 3 for TMR)")
    work_gpus = property(lambda self: self._job.gpus, doc="GPUs of one copy of the job")
    protection = property(lambda self: self._job.spec.protection)
    work_gpu_h = property(lambda self: self._job.spec.work_gpu_h)
    arrival_s = property(lambda self: self._job.spec.arrival_s)
    checkpoint_gb = property(lambda self: self._job.spec.checkpoint_gb)
    checkpoint_s = property(lambda self: self._job.spec.checkpoint_s)
    restore_s = property(lambda self: self._job.spec.restore_s)
    checkpoint_interval_s = property(lambda self: self._job.spec.checkpoint_interval_s)
    status = property(lambda self: self._job.status,
                      doc="queued | running | migrating | completed | failed")
    phase = property(lambda self: self._job.phase,
                     doc="queued | running | restoring | checkpointing | transferring | ...")
    sat = property(lambda self: self._job.sat,
                   doc="where it runs, or where its checkpoint is while queued (-1: nowhere)")
    has_checkpoint = property(lambda self: self._job.has_checkpoint)
    min_gpus = property(lambda self: self._job.spec.min_gpus,
                        doc="elastic minimum (GPUs of one copy); = work_gpus for a rigid job")
    is_group = property(lambda self: self._job.spans,
                        doc="the job spans satellites (larger than one, or placed as a group)")
    members = property(lambda self: self._job.gs.members,
                       doc="its satellites in ring order: current ones while it runs, the ones "
                           "holding its checkpoint shards while queued; () if it never spanned")
    member_gpus = property(lambda self: self._job.gs.member_gpus,
                           doc="GPUs of one copy on each member (same order as members)")
    step_s = property(lambda self: self._job.spec.step_s,
                      doc="compute time of one step at nominal speed on all its GPUs")
    gradient_gb = property(lambda self: self._job.spec.gradient_gb)
    min_link_gbps = property(lambda self: self._job.spec.min_link_gbps)
    max_link_latency_s = property(lambda self: self._job.spec.max_link_latency_s)
    lost_by = property(lambda self: MappingProxyType(self._job.lost_by),
                       doc="GPU-h of its work lost so far, by cause (brownout, radiation, "
                           "failure, link_lost): a read-only mapping")

    @property
    def progress_gpu_h(self) -> float:
        return self._job.run.progress_at(self._env.now)

    @property
    def saved_gpu_h(self) -> float:
        """Progress held by its last completed checkpoint."""
        return self._job.run.saved_at(self._env.now)

    @property
    def unsaved_gpu_h(self) -> float:
        """Work a stop now would lose."""
        return self.progress_gpu_h - self.saved_gpu_h

    @property
    def remaining_gpu_h(self) -> float:
        return self._job.spec.work_gpu_h - self.progress_gpu_h

    def __repr__(self) -> str:
        return f"JobInfo({self._job!r})"


class View:
    """What a policy may read (see the module docstring)."""

    SUNLIT, PENUMBRA, UMBRA = SUNLIT, PENUMBRA, UMBRA

    def __init__(self, engine) -> None:
        self._e = engine
        self._fl = fl = engine.fleet
        self.n_sats = engine.n_sats
        self.gpus_per_sat = engine.hw.gpus
        self.free = _ro(fl.free)
        self.state = _ro(fl.state)
        self.next_eclipse_entry_s = _ro(engine.timeline.next_entry)
        self.eclipse_exit_s = _ro(engine.timeline.cur_exit)
        self._k_active = engine.hw.gpu_active_w - engine.hw.gpu_idle_w
        # the nearest-host searches: one whose result the engine notes, one to observe only
        n_nodes = engine.net.n_nodes
        self._search = HostSearch(n_nodes)
        self._observe = HostSearch(n_nodes)
        # the (dist, pred) arrays masked searches fill (reused: only the last search is noted)
        self.reach_buf = (np.full(n_nodes, np.inf), np.full(n_nodes, -1, dtype=np.int64))

    # ------------------------------------------------------------------------------- time
    @property
    def now_s(self) -> float:
        return float(self._e.env.now)

    @property
    def duration_s(self) -> float:
        return self._e.duration_s

    @property
    def outcomes(self) -> int:
        """A counter that grows by one whenever a job loses work (more than 0 GPU-h) or ends:
        whoever sums the jobs' outcomes (the learning environment's reward) rescans only
        when it moved."""
        return self._e.jobs.outcomes

    # -------------------------------------------------------------------------- satellites
    @property
    def sunlit(self) -> np.ndarray:
        return self._fl.state == SUNLIT

    def sunlight_left_s(self) -> np.ndarray:
        """Seconds of sunlight left before each satellite's next eclipse (0 in eclipse;
        ``inf`` if no eclipse is predicted before the end of the run)."""
        left = self._e.timeline.next_entry - self._e.env.now
        return np.where(self._fl.state == SUNLIT, np.maximum(left, 0.0), 0.0)

    def eclipse_left_s(self, sat: int) -> float:
        """Seconds until the satellite leaves its current eclipse (0 when sunlit)."""
        if self._fl.state[sat] == SUNLIT:
            return 0.0
        return max(0.0, float(self._e.timeline.cur_exit[sat]) - self._e.env.now)

    def free_gpus(self, sat: int) -> int:
        """Free GPUs of a satellite (or of a data centre, by its host index)."""
        return self._e.free_gpus(sat)

    def capacity(self, sat: int) -> int:
        """Working GPUs of a satellite (0 once it has failed) or of a data centre."""
        e = self._e
        if sat >= self.n_sats:
            return e.grounds[sat - self.n_sats].gpus
        return 0 if self._fl.failed[sat] else int(self._fl.gpus[sat])

    # ------------------------------------------------------------------------ data centres
    @property
    def datacentres(self) -> tuple:
        """Host indices of the ground data centres (their stations' network nodes)."""
        return self._e.datacentres

    def datacentre(self, host: int) -> dict:
        """``name, gpus, free, pue, price_usd_per_kwh, carbon_g_per_kwh, gpu_speed`` of a
        data centre."""
        g = self._e.grounds[host - self.n_sats]
        s = g.spec
        return {"name": g.name, "gpus": g.gpus, "free": g.free, "pue": s.pue,
                "price_usd_per_kwh": s.price_usd_per_kwh, "carbon_g_per_kwh": s.carbon_g_per_kwh,
                "gpu_speed": s.gpu_speed}

    def is_datacentre(self, host: int) -> bool:
        return host >= self.n_sats

    def free_gpus_total(self) -> int:
        return int(self._fl.free.sum())

    def powered(self, gpus: int) -> np.ndarray:
        """Mask of satellites whose bus could serve ``gpus`` more busy GPUs right now: the
        array alone, or array + battery discharge limit when the battery holds, above its
        payload floor, the energy for ``hardware.battery_start_s`` seconds of the shortfall
        (exact at the current time, between the satellite's events).  :meth:`can_host` is
        the same test for one satellite."""
        return self._fl.powered(gpus, self._e.env.now)

    def first_host(self, gpus: int, *, sunlit_only: bool = False):
        """The lowest-index satellite that can take a job of ``gpus`` GPUs now (free GPUs and
        power; ``sunlit_only``: in full sunlight), or None.  Stops at the first it finds."""
        i = self._fl.first_host(gpus, self._e.env.now, sunlit_only)
        return None if i < 0 else int(i)

    def hosts(self, gpus: int, *, sunlit_only: bool = False) -> np.ndarray:
        """Satellites that can take a job of ``gpus`` GPUs now (free GPUs and power), by
        index (O(N))."""
        return self._fl.hosts(gpus, self._e.env.now, sunlit_only)

    def can_host(self, sat: int, gpus: int, check_free: bool = True) -> bool:
        """Free GPUs (unless ``check_free`` is False) and power for ``gpus`` busy GPUs now."""
        e = self._e
        if not 0 <= sat < self.n_sats:
            return sat in e.datacentres and (not check_free or e.free_gpus(sat) >= gpus)
        return self._fl.can_host(sat, gpus, e.env.now, check_free)

    def soc(self, sat: int) -> float:
        """Battery state of charge now."""
        return self._fl.soc(sat, self._e.env.now)

    def socs(self) -> np.ndarray:
        """Battery state of charge of every satellite now (O(N); the stored energy of
        :meth:`powered` and :meth:`soc`)."""
        fl = self._fl
        stored = fl.stored_wh + fl.rate_w / 3600.0 * (self._e.env.now - fl.t_bus_s)
        np.minimum(np.maximum(stored, fl.floor_wh, out=stored), fl.capacity_wh, out=stored)
        cap = fl.capacity_wh
        return np.divide(stored, cap, out=np.ones_like(stored), where=cap > 0)

    def temperatures_k(self) -> np.ndarray:
        """Node temperature of every satellite now (NaN without a thermal model; O(N), one
        closed-form evaluation per satellite, :meth:`temperature_k`'s very values)."""
        return self._fl.temperatures_exact_at(self._e.env.now)[:self.n_sats]

    def battery_usable_wh(self, sat: int) -> float:
        """Energy the battery can still deliver to the bus before its floor (Wh)."""
        return self._fl.battery_usable_wh(sat, self._e.env.now)

    def payload_energy_wh(self, sat: int) -> float:
        """Energy the battery can still give GPU work before the payload floor (floor +
        ``hardware.payload_reserve_wh``), where GPU jobs are shed (Wh, at the bus)."""
        return self._fl.payload_energy_wh(sat, self._e.env.now)

    def load_w(self, sat: int) -> float:
        return float(self._fl.load_w[sat])

    def array_full_w(self, sat: int) -> float:
        """Array output in full sunlight (W)."""
        return float(self._fl.array_full_w[sat])

    def gpu_power_w(self, gpus: int = 1) -> float:
        """Power ``gpus`` busy GPUs add to a satellite's load (W)."""
        return self._k_active * gpus

    def temperature_k(self, sat: int) -> float:
        return self._fl.temperature_at(sat, self._e.env.now)

    # -------------------------------------------------------------------------------- jobs
    def job(self, job_id: int) -> JobInfo:
        return JobInfo(self._e.jobs[job_id], self._e.env)

    def jobs_on(self, sat: int) -> list:
        """Jobs running (or restoring, or checkpointing) on a satellite, by job id."""
        env = self._e.env
        return [JobInfo(j, env) for _, j in sorted(self._e.on_host[sat].items())
                if (j.sat == sat or sat in j.gs.members) and j.phase in DRAWING]

    def queued(self):
        """Queued jobs in arrival order (an iterator; safe while decisions are applied)."""
        env = self._e.env
        for j in self._e.jobs.queued():
            yield JobInfo(j, env)

    def _queued_except(self, closed):
        """:meth:`queued` without the single-satellite jobs whose checkpoint is on a satellite
        where ``closed`` (a boolean array over satellites) is set, unless that satellite lost
        GPUs or failed (a job there may have to move).  For :meth:`Policy.schedule`."""
        e = self._e
        env, full = e.env, e.hw.gpus
        gpus, failed = self._fl.gpus, self._fl.failed
        n = self.n_sats
        for j in e.jobs.queued():
            s = j.sat
            if 0 <= s < n and closed[s] and not j.spans \
                    and gpus[s] == full and not failed[s]:
                continue
            yield JobInfo(j, env)

    def n_queued(self) -> int:
        return self._e.jobs.n_queued

    # ------------------------------------------------------------------------------ network
    def reachable(self, a: int, b: int) -> bool:
        return a == b or self._e.net.route(a, b, include_acquiring=True) is not None

    def route(self, a: int, b: int):
        """Shortest light-time path of usable links ``[a, ..., b]`` or None."""
        return self._e.net.route(a, b)

    def transfer_time_s(self, a: int, b: int, size_gb: float) -> float:
        """Estimated seconds to move ``size_gb`` from a to b now (inf if unreachable)."""
        return self._e.net.transfer_time_estimate(a, b, size_gb)

    def light_times(self, sats) -> np.ndarray:
        """Matrix of route light times (s, plus a tiny per-hop cost) between the satellites
        ``sats`` over usable links (inf where unreachable): one bulk Dijkstra over the routing
        weights (links' lengths at the start of the current ``network.range_update_s``
        period; ``transfer_time_s`` times a route exactly)."""
        sats = [int(s) for s in sats]
        table = self._e.net.routes_from(sats)
        return table.dist_s[:, sats]

    def ring(self, sats, gradient_gb: float = 0.0):
        """Laser ring over ``sats`` (in order) now: ``(bandwidth_gbps, hop_light_s,
        allreduce_s)`` - the slowest hop's rate and the longest hop's light time over usable
        links, and the ring all-reduce time of ``gradient_gb`` (None if a hop has no path)."""
        r = self._e.groups.ring_paths(list(sats))
        if isinstance(r, str):
            return None
        bw, hop = r[0], r[1]
        return bw, hop, allreduce_s(len(sats), gradient_gb, bw, hop)

    def migration_time_s(self, job: JobInfo, sat: int) -> float:
        """Estimated downtime of moving a job to ``sat``: checkpoint + transfer + restore."""
        return (job.checkpoint_s + self.transfer_time_s(job.sat, sat, job.checkpoint_gb)
                + job.restore_s)

    def nearest(self, src: int, mask=None, *, gpus=None, sunlit: bool = False, k: int = 1,
                max_hops=None, note: bool = True):
        """The ``k`` satellites closest to ``src`` in light time over usable laser links
        among those that qualify (``src`` itself excluded): a list of ``(sat, light_time_s,
        hops)``, nearest first.  A satellite qualifies when ``mask`` is True there (a boolean
        array over satellites), or, with ``gpus``, when it has ``gpus`` free GPUs and the
        power for them (and, with ``sunlit``, is in full sunlight).  Light times are over the
        routing weights (see :meth:`light_times`).  Dijkstra that stops as soon as ``k`` are
        found (:func:`orbsched._kernels.nearest_hosts`, compiled when
        ``orbsched.accelerated``), over the network's slot arrays.  The engine notes the last
        search so that a decision built on it needs no second route search and its transfer
        starts on the path found; ``note=False`` leaves no trace (a search made to observe,
        not to decide, e.g. by :mod:`orbsched.gym`: the run is then as if it never happened)."""
        e = self._e
        e.net.sync_ranges()
        sl = e.net.slots
        try:
            if mask is None:
                if gpus is None:
                    raise ValueError("needs a mask or gpus=")
                search = self._search if note else self._observe
                found = search.nearest(sl.nbr, sl.light, sl.usable, sl.deg, self._fl, src,
                                       gpus, e.env.now, sunlit, k, max_hops)
                dist, pred = search.dist, search.pred
            else:
                dist, pred = self.reach_buf
                if not note:
                    dist, pred = np.empty_like(dist), np.empty_like(pred)
                found = nearest_hosts(sl.nbr, sl.light, sl.usable, sl.deg, mask, src, k,
                                      max_hops, e.n_sats, dist, pred)
        except ValueError as exc:
            raise PolicyError(f"policy '{e.policy_name}': view.nearest({src}, ...): {exc}") \
                from None
        if note:
            e.driver.note_reachable(src, dist, pred)
        return found

    # ---------------------------------------------------------------------------- inference
    def replicas(self, service: str) -> dict:
        """``{satellite: replicas}`` of an inference service now."""
        inf = self._e.inference
        if inf is None:
            return {}
        return dict(inf.replicas[inf.index(service)])

    def replicas_on(self, sat: int) -> list:
        """``[(service, gpus_per_replica), ...]``, one entry per replica on the satellite."""
        inf = self._e.inference
        if inf is None:
            return []
        return [(svc.name, svc.gpus_per_replica) for k, svc in enumerate(inf.services)
                for _ in range(inf.replicas[k].get(sat, 0))]

    def request_rate_by_region(self, service: str):
        """Current mean request rate (per s) of a service by region: a pandas Series."""
        inf = self._e.inference
        if inf is None:
            raise KeyError(f"no inference service {service!r}")
        return inf.rates_now(inf.index(service), self._e.env.now)
