"""Observations, candidate hosts, actions and the action mask of the learning environments.

Observation (a :class:`gymnasium.spaces.Dict`; shapes fixed by the scenario: ``N``
satellites, ``D`` data centres, ``K`` candidates, ``H = N + D`` hosts; floats are float32 in
the units their names say)

==================  ==========  ==============================================================
key                 shape       content
==================  ==========  ==============================================================
``kind``            Discrete 2  0 = PLACE (a queued job the queue pass asks about),
                                1 = SHADOW (a running job whose satellite enters shadow)
``context``         (4,)        ``t_s``, ``left_s`` (to the end of the run), ``queued_jobs``,
                                ``free_gpus_total``
``job``             (9,)        :data:`JOB_FEATURES` of the job to decide
``candidates``      (K, 10)     :data:`CANDIDATE_FEATURES` of each candidate host (zeros in
                                empty slots: ``valid`` = 0)
``candidate_hosts`` (K,)        host index of each candidate (-1: empty slot)
``illumination``    (N,)        0 sunlit, 1 penumbra, 2 umbra
``edge_s``          (N,)        seconds to the satellite's next shadow edge (entry when sunlit,
                                exit otherwise; capped at the time left in the run)
``soc``             (N,)        battery state of charge
``free_gpus``       (N,)        free GPUs
``temperature_k``   (N,)        node temperature (0 when the scenario has no thermal model)
==================  ==========  ==============================================================

Actions (``Discrete(2 + K + H)``; ``info["action_mask"]`` marks those that are valid now)

* ``0`` KEEP: leave the queued job queued (PLACE) / let the running job stay (SHADOW);
* ``1`` PAUSE: checkpoint the running job and release its GPUs (SHADOW only);
* ``2 + k``: candidate ``k``: Place the job there (PLACE) / Migrate it there (SHADOW);
* ``2 + K + h``: host ``h`` by index (satellites ``0 .. N-1``, then the data centres in
  :attr:`View.datacentres` order): any host can be named, so every decision a policy can
  make is an action, candidate or not.

Candidates: hosts that can take the job now (free GPUs and power for it; reachable over usable
laser links from where the job is, when it is somewhere), deduplicated, in this order, which
puts the choice each built-in policy makes among them when it can (the environment's tests
count how often it does):

* PLACE, job without a site: the first sunlit host by index (``stay``, ``greedy-sunlit``,
  ``fifo-ground`` in sunlight); the host with the most sunlight left (``lookahead``); the
  first host by index; the cheapest data centre (``hybrid``); then sunlit hosts by sunlight
  left, then the others by index.  Hops and light time are 0 (a new job has no path).
* PLACE, job with a site (its checkpoint): the site itself when it can host the job; the
  nearest sunlit host (``greedy-sunlit``); the first sunlit host by index (``stay``); the
  host with the most sunlight left; the first host by index; the cheapest data centre; then
  the nearest sunlit hosts, then the nearest others.
* SHADOW: the nearest sunlit host (``greedy-sunlit``, ``energy-aware``, ``hybrid``); the
  host with the most sunlight left; the cheapest data centre; then the nearest sunlit hosts,
  then the nearest others (``random`` picks among the 8 nearest).

The mask is conservative: what it allows the engine accepts (reachability counts usable links
only, the engine also admits paths through links still in acquisition).

Cost per decision point (N satellites): vectorised O(N) arrays, one Dijkstra from the job's
site over the whole network (:meth:`View.nearest` with ``note=False``, so the search leaves no
trace in the run), O(K) Python for the candidates, and ``soc``/``temperature_k`` read with
one call per satellite once per simulated instant (both are continuous in time, so they
cannot change between decisions of one instant): about 0.1 ms on the demo's 96 satellites,
a few ms on Starlink's 1,584 (``benchmarks/bench_gym.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from .episode import PLACE, SHADOW, DecisionPoint

__all__ = ["CANDIDATE_FEATURES", "JOB_FEATURES", "KEEP", "Observation", "Observer", "PAUSE"]

KEEP, PAUSE = 0, 1
JOB_FEATURES = ("gpus", "work_gpu_h", "remaining_gpu_h", "unsaved_gpu_h", "checkpoint_gb",
                "overhead_s", "age_s", "has_site", "site_edge_s")
CANDIDATE_FEATURES = ("valid", "is_site", "hops", "light_s", "illumination", "edge_s", "soc",
                      "free_gpus", "temperature_k", "is_datacentre")
CONTEXT_FEATURES = ("t_s", "left_s", "queued_jobs", "free_gpus_total")
_SUNLIT = 0
_F32 = np.float32


def _zeros(sp: spaces.Space) -> np.ndarray:
    """An all-zero value of the Box or Discrete space ``sp``."""
    assert sp.shape is not None and sp.dtype is not None     # both are set for Box, Discrete
    return np.zeros(sp.shape, sp.dtype)


@dataclass
class Observation:
    """One decision point seen by an agent: ``obs`` (the Dict space's value), ``mask``
    (int8 over actions) and ``hosts`` (the candidates' host indices, -1 for empty)."""

    obs: dict
    mask: np.ndarray
    hosts: np.ndarray


class Observer:
    """Builds observations for one scenario (module docstring)."""

    def __init__(self, n_sats: int, datacentres: tuple, gpus_per_sat: int, dc_gpus: int,
                 duration_s: float, k: int) -> None:
        self.n_sats = n = int(n_sats)
        self.datacentres = tuple(int(h) for h in datacentres)
        self.n_hosts = n + len(self.datacentres)
        self.k = int(k)
        self.n_actions = 2 + self.k + self.n_hosts
        self.duration_s = float(duration_s)
        self._dc_index = {h: n + j for j, h in enumerate(self.datacentres)}
        self._t_cache = math.nan
        self._soc = np.ones(n, _F32)
        self._temp = np.zeros(n, _F32)
        inf = np.inf
        max_gpus = max(int(gpus_per_sat), int(dc_gpus))
        cand_lo = np.zeros((self.k, len(CANDIDATE_FEATURES)), _F32)
        cand_hi = np.full((self.k, len(CANDIDATE_FEATURES)), inf, _F32)
        for col, hi in (("valid", 1), ("is_site", 1), ("illumination", 2), ("soc", 1),
                        ("free_gpus", max_gpus), ("is_datacentre", 1),
                        ("edge_s", self.duration_s)):
            cand_hi[:, CANDIDATE_FEATURES.index(col)] = hi
        self.space = spaces.Dict({
            "kind": spaces.Discrete(2),
            "context": spaces.Box(0.0, inf, (len(CONTEXT_FEATURES),), _F32),
            "job": spaces.Box(0.0, inf, (len(JOB_FEATURES),), _F32),
            "candidates": spaces.Box(cand_lo, cand_hi, dtype=_F32),
            "candidate_hosts": spaces.Box(-1, self.n_hosts - 1, (self.k,), np.int64),
            "illumination": spaces.Box(0, 2, (n,), np.int8),
            "edge_s": spaces.Box(0.0, self.duration_s, (n,), _F32),
            "soc": spaces.Box(0.0, 1.0, (n,), _F32),
            "free_gpus": spaces.Box(0, int(gpus_per_sat), (n,), np.int32),
            "temperature_k": spaces.Box(0.0, inf, (n,), _F32),
        })
        self.action_space = spaces.Discrete(self.n_actions)

    # ------------------------------------------------------------------------- actions
    def host_action(self, host: int) -> int:
        """The action naming host ``host`` (a satellite index or a data centre's host)."""
        return 2 + self.k + (host if host < self.n_sats else self._dc_index[host])

    def host_of(self, action: int, hosts: np.ndarray) -> int:
        """The host an action names (-1 for KEEP and PAUSE and empty candidate slots)."""
        if action < 2:
            return -1
        if action < 2 + self.k:
            return int(hosts[action - 2])
        h = action - 2 - self.k
        return h if h < self.n_sats else self.datacentres[h - self.n_sats]

    def reset(self) -> None:
        self._t_cache = math.nan

    def blank(self) -> dict:
        """An all-zero observation (after the last decision point of a run)."""
        obs = {key: _zeros(sp) for key, sp in self.space.spaces.items() if key != "kind"}
        obs["candidate_hosts"][:] = -1
        obs["kind"] = np.int64(PLACE)
        return obs

    # --------------------------------------------------------------------- observations
    def _fleet(self, view: Any, now: float) -> tuple:
        n = self.n_sats
        if now != self._t_cache:              # soc and temperature: once per instant
            soc = np.asarray(view.socs()[:n], _F32)           # np.clip's cost, 3x cheaper
            self._soc = np.minimum(np.maximum(soc, 0.0, out=soc), 1.0, out=soc)
            temp = np.asarray(view.temperatures_k()[:n], _F32)
            self._temp = np.where(np.isfinite(temp), temp, _F32(0.0))
            self._t_cache = now
        state = np.asarray(view.state)
        left = self.duration_s - now
        edge = np.where(state == _SUNLIT, view.next_eclipse_entry_s, view.eclipse_exit_s)
        edge -= now
        edge = np.minimum(np.maximum(edge, 0.0, out=edge), max(left, 0.0),  # inf: none
                          out=edge).astype(_F32)                            # before the end
        return state.astype(np.int8), edge, np.array(view.free, dtype=np.int32)

    def observe(self, point: DecisionPoint) -> Observation:
        view, job = point.view, point.job
        now = float(view.now_s)
        illum, edge, free = self._fleet(view, now)
        n, g, k = self.n_sats, int(job.gpus), self.k
        site = point.sat
        qual = (free >= g) & view.powered(g)[:n]
        sunlit = illum == _SUNLIT
        left = np.where(sunlit, edge, 0.0)
        # reachability and paths from the job's site: one search over the whole network
        found: list = []
        if site >= 0:
            mask = qual.copy()
            if site < n:
                mask[site] = False
            if mask.any():
                found = view.nearest(site, mask, k=n, note=False)
            order = [f[0] for f in found]                         # nearest first
            ok = np.zeros(n, dtype=bool)
            ok[order] = True
        else:
            ok, order = qual, None
        dcs = []                                                  # (price, host) with room
        for h in self.datacentres:
            if view.can_host(h, g) and (site < 0 or site == h or view.reachable(site, h)):
                dcs.append((view.datacentre(h)["price_usd_per_kwh"], h))
        dcs.sort()
        site_ok = site >= 0 and point.kind == PLACE and view.can_host(site, g)
        hosts = self._choose(point.kind, site, site_ok, ok, sunlit, left, order, dcs)

        m = len(hosts)
        cand = np.zeros((k, len(CANDIDATE_FEATURES)), _F32)
        cand_hosts = np.full(k, -1, np.int64)
        cand_hosts[:m] = hosts
        hs = cand_hosts[:m]
        on_sat = hs < n
        sh = hs[on_sat]
        rows = cand[:m]
        rows[:, 0] = 1.0
        rows[:, 1] = hs == site
        if site >= 0 and len(sh):
            assert order is not None            # site >= 0: the search above ran
            for i in np.flatnonzero(on_sat):
                h = int(hs[i])
                if h != site:
                    _, lt, hops = found[order.index(h)]
                    rows[i, 2], rows[i, 3] = hops, lt
        sat_rows = rows[on_sat]
        sat_rows[:, 4] = illum[sh]
        sat_rows[:, 5] = edge[sh]
        sat_rows[:, 6] = self._soc[sh]
        sat_rows[:, 7] = free[sh]
        sat_rows[:, 8] = self._temp[sh]
        rows[on_sat] = sat_rows
        for i in np.flatnonzero(~on_sat):                          # data centres
            h = int(hs[i])
            lt, hops = 0.0, 0
            if site >= 0 and site != h:
                route = view.route(site, h) or [site]
                hops = len(route) - 1
                lt = min(view.transfer_time_s(site, h, 0.0), self.duration_s)
            rows[i, 2:] = (hops, lt, 0.0, self.duration_s - now, 1.0, view.free_gpus(h),
                           0.0, 1.0)

        mask = np.zeros(self.n_actions, np.int8)
        mask[KEEP] = 1
        mask[PAUSE] = point.kind == SHADOW
        mask[2:2 + m] = 1
        named = mask[2 + k:]
        named[:n] = ok
        if site_ok and site < n:
            named[site] = 1
        for _, h in dcs:
            if h != site or site_ok:
                named[self._dc_index[h]] = 1

        left_s = max(self.duration_s - now, 0.0)
        work, progress = job.work_gpu_h, job.progress_gpu_h
        obs = {
            "kind": np.int64(point.kind),
            "context": np.array([now, left_s, view.n_queued(), view.free_gpus_total()], _F32),
            "job": np.array([g, work, max(work - progress, 0.0),
                             max(progress - job.saved_gpu_h, 0.0), job.checkpoint_gb,
                             job.checkpoint_s + job.restore_s, max(now - job.arrival_s, 0.0),
                             site >= 0, edge[site] if 0 <= site < n else 0.0], _F32),
            "candidates": cand,
            "candidate_hosts": cand_hosts,
            "illumination": illum,
            "edge_s": edge,
            "soc": self._soc.copy(),
            "free_gpus": free,
            "temperature_k": self._temp.copy(),
        }
        return Observation(obs, mask, cand_hosts.copy())

    def _choose(self, kind: int, site: int, site_ok: bool, ok: np.ndarray, sunlit: np.ndarray,
                left: np.ndarray, order: list | None, dcs: list) -> list:
        """The candidates' host indices, in the module docstring's order."""
        k = self.k
        out: list = []
        ok_idx = np.flatnonzero(ok)
        first_sun: int | None
        first_any: int | None
        longest: int | None
        if len(ok_idx):
            sun_idx = ok_idx[sunlit[ok_idx]]
            first_sun = int(sun_idx[0]) if len(sun_idx) else None
            first_any = int(ok_idx[0])
            longest = int(ok_idx[np.argmax(left[ok_idx])])       # ties: the lowest index
        else:
            sun_idx, first_sun = ok_idx, None
            first_any = longest = None
        cheapest_dc = dcs[0][1] if dcs else None
        if kind == PLACE and site < 0:
            anchors = [first_sun, longest, first_any, cheapest_dc]
            fill = [sun_idx[np.argsort(-left[sun_idx], kind="stable")[:k]],
                    ok_idx[~sunlit[ok_idx]][:k]]
        else:
            near = np.asarray(order, dtype=np.int64)
            near_lit = near[sunlit[near]] if len(near) else near
            near_sun = int(near_lit[0]) if len(near_lit) else None
            if kind == PLACE:
                anchors = [site if site_ok else None, near_sun, first_sun, longest, first_any,
                           cheapest_dc]
            else:
                anchors = [near_sun, longest, cheapest_dc]
            fill = [near_lit[:k], near[:2 * k]]
        for h in anchors:
            if h is not None and h not in out:
                out.append(h)
        for arr in fill:
            for h in arr.tolist():
                if len(out) >= k:
                    return out[:k]
                if h not in out:
                    out.append(h)
        return out[:k]
