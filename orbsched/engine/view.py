"""The read-only view a policy sees: satellites, jobs, predictions, routes.

Arrays (``free``, ``state``, ``sunlit``, ``next_eclipse_entry_s``, ...) are read-only numpy
views of the engine's own arrays, current at the moment of the call (the engine applies each
decision a generator hook yields before asking for the next, so they reflect it).  Methods
answer the questions the built-in policies ask; none of them changes the simulation.
Satellites are integers ``0 .. n_sats - 1``; jobs are :class:`JobInfo` objects.
"""
from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np

from .._kernels import nearest_hosts
from ..scenario.errors import PolicyError
from .groups import allreduce_s
from .satellite import PENUMBRA, SUNLIT, UMBRA

__all__ = ["JobInfo", "View"]


def _ro(a):
    """A read-only array over ``a``'s memory that cannot be made writable: its buffer is a
    read-only memoryview, so ``flags.writeable = True`` raises ValueError (a plain read-only
    view of a writable array can be flipped back).  Zero-copy: it shows the engine's updates
    in place (the engine never rebinds these arrays).  The cost is measured by
    benchmarks/bench_view.py."""
    v = np.frombuffer(memoryview(a).toreadonly(), dtype=a.dtype).reshape(a.shape)
    return v


class JobInfo:
    """Read-only facts about one job (``progress_gpu_h`` and ``saved_gpu_h`` are evaluated at
    the current time)."""

    __slots__ = ("_job", "_env")

    def __init__(self, job, env):
        self._job = job
        self._env = env

    job_id = property(lambda self: self._job.job_id)
    name = property(lambda self: self._job.name)
    gpus = property(lambda self: self._job.slots,
                    doc="GPUs the job occupies (its GPUs x 2 for duplex, x 3 for TMR)")
    work_gpus = property(lambda self: self._job.gpus, doc="GPUs of one copy of the job")
    protection = property(lambda self: self._job.protection)
    work_gpu_h = property(lambda self: self._job.work_gpu_h)
    arrival_s = property(lambda self: self._job.arrival_s)
    checkpoint_gb = property(lambda self: self._job.checkpoint_gb)
    checkpoint_s = property(lambda self: self._job.checkpoint_s)
    restore_s = property(lambda self: self._job.restore_s)
    checkpoint_interval_s = property(lambda self: self._job.checkpoint_interval_s)
    status = property(lambda self: self._job.status,
                      doc="queued | running | migrating | completed | failed")
    phase = property(lambda self: self._job.phase,
                     doc="queued | running | restoring | checkpointing | transferring | ...")
    sat = property(lambda self: self._job.sat,
                   doc="where it runs, or where its checkpoint is while queued (-1: nowhere)")
    has_checkpoint = property(lambda self: self._job.has_checkpoint)
    min_gpus = property(lambda self: self._job.min_gpus,
                        doc="elastic minimum (GPUs of one copy); = work_gpus for a rigid job")
    is_group = property(lambda self: self._job.spans,
                        doc="the job spans satellites (larger than one, or placed as a group)")
    members = property(lambda self: self._job.members,
                       doc="its satellites in ring order: current ones while it runs, the ones "
                           "holding its checkpoint shards while queued; () if it never spanned")
    member_gpus = property(lambda self: self._job.member_gpus,
                           doc="GPUs of one copy on each member (same order as members)")
    step_s = property(lambda self: self._job.step_s,
                      doc="compute time of one step at nominal speed on all its GPUs")
    gradient_gb = property(lambda self: self._job.gradient_gb)
    min_link_gbps = property(lambda self: self._job.min_link_gbps)
    max_link_latency_s = property(lambda self: self._job.max_link_latency_s)
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
        return self._job.work_gpu_h - self.progress_gpu_h

    def __repr__(self):
        return f"JobInfo({self._job!r})"


class View:
    """What a policy may read (see the module docstring)."""

    SUNLIT, PENUMBRA, UMBRA = SUNLIT, PENUMBRA, UMBRA

    def __init__(self, engine):
        self._e = engine
        self.n_sats = engine.n_sats
        self.gpus_per_sat = engine.hw.gpus
        self.free = _ro(engine.free)
        self.state = _ro(engine.state)
        self.next_eclipse_entry_s = _ro(engine.next_entry)
        self.eclipse_exit_s = _ro(engine.cur_exit)
        self._k_active = engine.hw.gpu_active_w - engine.hw.gpu_idle_w
        self._start_s = float(getattr(engine.hw, "battery_start_s", 0.0))

    # ------------------------------------------------------------------------------- time
    @property
    def now_s(self) -> float:
        return float(self._e.env.now)

    @property
    def duration_s(self) -> float:
        return self._e.duration_s

    # -------------------------------------------------------------------------- satellites
    @property
    def sunlit(self) -> np.ndarray:
        return self._e.state == SUNLIT

    def sunlight_left_s(self) -> np.ndarray:
        """Seconds of sunlight left before each satellite's next eclipse (0 in eclipse;
        ``inf`` if no eclipse is predicted before the end of the run)."""
        left = self._e.next_entry - self._e.env.now
        return np.where(self._e.state == SUNLIT, np.maximum(left, 0.0), 0.0)

    def eclipse_left_s(self, sat: int) -> float:
        """Seconds until the satellite leaves its current eclipse (0 when sunlit)."""
        if self._e.state[sat] == SUNLIT:
            return 0.0
        return max(0.0, float(self._e.cur_exit[sat]) - self._e.env.now)

    def free_gpus(self, sat: int) -> int:
        """Free GPUs of a satellite (or of a data centre, by its host index)."""
        return int(self._e.free[sat]) if sat < self.n_sats else self._e.hosts[sat].free

    def capacity(self, sat: int) -> int:
        """Working GPUs of a satellite (0 once it has failed) or of a data centre."""
        s = self._e.hosts[sat]
        return 0 if s.failed else s.gpus

    # ------------------------------------------------------------------------ data centres
    @property
    def datacentres(self) -> tuple:
        """Host indices of the ground data centres (their stations' network nodes)."""
        return self._e.datacentres

    def datacentre(self, host: int) -> dict:
        """``name, gpus, free, pue, price_usd_per_kwh, carbon_g_per_kwh, gpu_speed`` of a
        data centre."""
        g = self._e.hosts[host]
        s = g.spec
        return {"name": g.name, "gpus": g.gpus, "free": g.free, "pue": s.pue,
                "price_usd_per_kwh": s.price_usd_per_kwh, "carbon_g_per_kwh": s.carbon_g_per_kwh,
                "gpu_speed": s.gpu_speed}

    def is_datacentre(self, host: int) -> bool:
        return host >= self.n_sats

    def free_gpus_total(self) -> int:
        return int(self._e.free.sum())

    def powered(self, gpus: int) -> np.ndarray:
        """Mask of satellites whose bus could serve ``gpus`` more busy GPUs right now: the
        array alone, or array + battery discharge limit when the battery holds, above its
        payload floor, the energy for ``hardware.battery_start_s`` seconds of the shortfall
        (exact at the current time, between the satellite's events).  :meth:`can_host` is
        the same test for one satellite."""
        e = self._e
        need = e.load + self._k_active * gpus * e.speed - 1e-9
        array = e.array_w
        stored = np.clip(e.stored_wh + e.rate_wh_s * (e.env.now - e.t_sync), e.floor_wh,
                         e.capacity_wh)
        above = stored - e.payload_floor_wh
        return (array >= need) | ((above > 1e-9 * e.capacity_wh)
                                  & (array + e.max_discharge_w >= need)
                                  & (above * 3600.0 >= (need - array) * self._start_s))

    def first_host(self, gpus: int, *, sunlit_only: bool = False):
        """The lowest-index satellite that can take a job of ``gpus`` GPUs now (free GPUs and
        power; ``sunlit_only``: in full sunlight), or None."""
        hosts = self.hosts(gpus, sunlit_only=sunlit_only)
        return int(hosts[0]) if len(hosts) else None

    def hosts(self, gpus: int, *, sunlit_only: bool = False) -> np.ndarray:
        """Satellites that can take a job of ``gpus`` GPUs now (free GPUs and power), by
        index (O(N))."""
        mask = (self._e.free >= gpus) & self.powered(gpus)
        if sunlit_only:
            mask &= self._e.state == SUNLIT
        return np.flatnonzero(mask)

    def can_host(self, sat: int, gpus: int, check_free: bool = True) -> bool:
        """Free GPUs (unless ``check_free`` is False) and power for ``gpus`` busy GPUs now."""
        e = self._e
        if not 0 <= sat < self.n_sats:
            return sat in e.datacentres and (not check_free or e.hosts[sat].free >= gpus)
        if check_free and e.free[sat] < gpus:
            return False
        # the test of powered(), in scalars (called once per queued job)
        need = float(e.load[sat]) + self._k_active * gpus * float(e.speed[sat]) - 1e-9
        array = float(e.array_w[sat])
        if array >= need:
            return True
        cap = float(e.capacity_wh[sat])
        stored = float(e.stored_wh[sat]) + float(e.rate_wh_s[sat]) * (e.env.now
                                                                   - float(e.t_sync[sat]))
        above = min(max(stored, float(e.floor_wh[sat])), cap) - float(e.payload_floor_wh[sat])
        return (above > 1e-9 * cap and array + float(e.max_discharge_w[sat]) >= need
                and above * 3600.0 >= (need - array) * self._start_s)

    def soc(self, sat: int) -> float:
        """Battery state of charge now."""
        b = self._e.sats[sat].bus
        return b.stored_at_wh(self._e.env.now) / b.battery.capacity_wh \
            if b.battery.capacity_wh > 0 else 1.0

    def socs(self) -> np.ndarray:
        """Battery state of charge of every satellite now (vectorised, O(N) in numpy; the
        arrays :meth:`powered` reads: equal to :meth:`soc` up to rounding)."""
        e = self._e
        stored = np.clip(e.stored_wh + e.rate_wh_s * (e.env.now - e.t_sync), e.floor_wh,
                         e.capacity_wh)
        cap = e.capacity_wh
        return np.divide(stored, cap, out=np.ones_like(stored), where=cap > 0)

    def temperatures_k(self) -> np.ndarray:
        """Node temperature of every satellite now (NaN without a thermal model; O(N), one
        closed-form evaluation per satellite)."""
        now = self._e.env.now
        return np.array([math.nan if s.thermal is None else s.thermal.temperature_at_k(now)
                         for s in self._e.sats])

    def battery_usable_wh(self, sat: int) -> float:
        """Energy the battery can still deliver to the bus before its floor (Wh)."""
        b = self._e.sats[sat].bus
        return max(0.0, b.stored_at_wh(self._e.env.now) - b.battery.floor_wh) \
            * b.battery.discharge_efficiency

    def payload_energy_wh(self, sat: int) -> float:
        """Energy the battery can still give GPU work before the payload floor (floor +
        ``hardware.payload_reserve_wh``), where GPU jobs are shed (Wh, at the bus)."""
        s = self._e.sats[sat]
        b = s.bus
        return max(0.0, b.stored_at_wh(self._e.env.now) - s.payload_floor_wh) \
            * b.battery.discharge_efficiency

    def load_w(self, sat: int) -> float:
        return float(self._e.load[sat])

    def array_full_w(self, sat: int) -> float:
        """Array output in full sunlight (W)."""
        return self._e.sats[sat].array_full_w

    def gpu_power_w(self, gpus: int = 1) -> float:
        """Power ``gpus`` busy GPUs add to a satellite's load (W)."""
        return self._k_active * gpus

    def temperature_k(self, sat: int) -> float:
        node = self._e.sats[sat].thermal
        return math.nan if node is None else node.temperature_at_k(self._e.env.now)

    # -------------------------------------------------------------------------------- jobs
    def job(self, job_id: int) -> JobInfo:
        return JobInfo(self._e.jobs[job_id], self._e.env)

    def jobs_on(self, sat: int) -> list:
        """Jobs running (or restoring, or checkpointing) on a satellite, by job id."""
        env = self._e.env
        return [JobInfo(j, env) for _, j in sorted(self._e.hosts[sat].jobs.items())
                if (j.sat == sat or sat in j.members)
                and j.phase in ("running", "restoring", "checkpointing")]

    def queued(self):
        """Queued jobs in arrival order (an iterator; safe while decisions are applied)."""
        env = self._e.env
        for j in self._e.queue:
            if j.phase == "queued" and j.queue_pos >= 0:
                yield JobInfo(j, env)

    def _queued_except(self, closed):
        """:meth:`queued` without the single-satellite jobs whose checkpoint is on a satellite
        where ``closed`` (a boolean array over satellites) is set, unless that satellite lost
        GPUs or failed (a job there may have to move).  For :meth:`Policy.schedule`."""
        e = self._e
        env, sats, full = e.env, e.sats, e.hw.gpus
        skip = closed.tolist()
        n = len(skip)
        for j in e.queue:
            if j.phase == "queued" and j.queue_pos >= 0:
                s = j.sat
                if 0 <= s < n and skip[s] and not j.spans:
                    h = sats[s]
                    if h.gpus == full and not h.failed:
                        continue
                yield JobInfo(j, env)

    def n_queued(self) -> int:
        return self._e._queued

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
        r = self._e.ring_paths(list(sats))
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
        if mask is None:
            if gpus is None:
                raise PolicyError(f"policy '{e.policy_name}': view.nearest({src}, ...) needs "
                                  f"a mask or gpus=")
            mask = (e.free >= gpus) & self.powered(gpus)
            if sunlit:
                mask &= e.state == SUNLIT
        sl = e.net.slots
        dist, pred = e.reach_buf
        if not note:
            dist, pred = np.empty_like(dist), np.empty_like(pred)
        try:
            found = nearest_hosts(sl.nbr, sl.light, sl.usable, sl.deg, mask, src, k, max_hops,
                                  e.n_sats, dist, pred)
        except ValueError as exc:
            raise PolicyError(f"policy '{e.policy_name}': view.nearest({src}, ...): {exc}") \
                from None
        if note:
            e.note_reachable(src, dist, pred)
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
