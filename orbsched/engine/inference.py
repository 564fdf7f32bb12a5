"""Inference services: requests from ground regions, replicas on satellites, queues.

Demand
    Each service draws requests from the ``regions`` largest cities
    (:mod:`orbsched.workload.cities`), the total rate split by population and modulated by the
    local *solar* time of each city (UTC hour + longitude / 15): ``rate_r(t) = rate * pop_r /
    sum(pop) * (1 + A cos(2 pi (h_local(t) - peak) / 24))``.  Arrivals are a non-homogeneous
    Poisson process per region, drawn up front by thinning from the run's inference random
    stream.

Path of a request
    city -> its nearest ground station (great circle, at ``fibre_speed_km_s``) -> a satellite
    the station sees now (the ground link with the least light time; none: the request is
    dropped as ``no_coverage``) -> over usable laser links to the nearest satellite holding a
    replica of the service (none reachable: ``no_replica``) -> the queue there -> service.
    Propagation is counted both ways with the path of the moment of arrival, every link's
    length taken at that instant (:mod:`orbsched.network.linkranges`; the way back after service
    is timed with the same lengths: a ground link moves by up to 7.5 km/s, 25 us of light time
    per second of waiting and service); latency = propagation + waiting + service.  A city with
    its own ground station (a user terminal: list it under ``ground_stations``) has no fibre
    leg.

Queue
    The replicas of a service on one satellite form one first-come-first-served queue with as
    many servers as replicas (an M/M/c queue for Poisson arrivals and exponential service,
    which the tests check against Erlang C).

Replicas
    Placed at the start by the policy (``policy.replicas.place``) and moved by ``MoveReplica``
    decisions (the weights, ``replica_gb``, cross the laser network; the source keeps serving
    until the copy has arrived).  A replica holds ``gpus_per_replica`` GPUs that draw active
    power whenever it is placed (SIMPLIFICATION: a replica idle between requests would draw
    less; the energy is overestimated by (active - idle) x (1 - utilisation) of its GPUs).  At
    a brownout replicas are shed after training jobs; a request in service on a shed replica
    starts over on the next free server of that queue, or is dropped (``brownout``) when none
    is left there.

Cost: two engine events per request, so rates of tens per second over a day are fine; a
fluid model would be needed for millions of requests per hour.
"""
from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

from ..scenario.constants import SPEED_OF_LIGHT_KM_S
from ..workload.cities import cities

__all__ = ["Inference", "erlang_c", "mmc_mean_wait_s", "region_arrivals"]

_S_PER_H = 3600.0
STATUS = ("served", "no_coverage", "no_replica", "brownout", "unfinished")


def erlang_c(c: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load ``offered`` =
    lambda / mu Erlangs (< c), by the stable recurrence on Erlang B."""
    if offered >= c:
        return 1.0
    b = 1.0
    for k in range(1, c + 1):
        b = offered * b / (k + offered * b)
    rho = offered / c
    return b / (1.0 - rho + rho * b)


def mmc_mean_wait_s(lam: float, mu: float, c: int) -> float:
    """Mean waiting time in queue of M/M/c: ``C(c, lambda/mu) / (c mu - lambda)``."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def _great_circle_km(lat1, lon1, lat2, lon2, r_km=6371.0):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(lon2 - lon1)
    c = np.sin(p1) * np.sin(p2) + np.cos(p1) * np.cos(p2) * np.cos(dl)
    return r_km * np.arccos(np.clip(c, -1.0, 1.0))


def region_arrivals(svc, regions, duration_s, start_hour_utc, rng):
    """Arrival times (s) and region indices of one service's requests, time-ordered."""
    pop = regions["population_m"].to_numpy(float)
    share = pop / pop.sum()
    a = svc.diurnal_amplitude
    ts, rs = [], []
    for r, (w, lon) in enumerate(zip(share, regions["lon_deg"].to_numpy(float))):
        lam = svc.rate_per_s * w
        if lam <= 0:
            continue
        lam_max = lam * (1.0 + a)
        n = rng.poisson(lam_max * duration_s)
        t = np.sort(rng.uniform(0.0, duration_s, n))
        if a > 0:
            hour = (start_hour_utc + t / _S_PER_H + lon / 15.0) % 24.0
            keep = rng.uniform(0.0, 1.0, n) * (1.0 + a) <= \
                1.0 + a * np.cos(2 * np.pi * (hour - svc.peak_local_hour) / 24.0)
            t = t[keep]
        ts.append(t)
        rs.append(np.full(len(t), r, np.int32))
    if not ts:
        return np.zeros(0), np.zeros(0, np.int32)
    t = np.concatenate(ts)
    r = np.concatenate(rs)
    order = np.lexsort((r, t))
    return t[order], r[order]


class _Station:
    """FCFS queue of one service on one satellite; servers = replicas there."""

    __slots__ = ("servers", "busy", "queue", "in_service")

    def __init__(self):
        self.servers = 0
        self.busy = 0
        self.queue = deque()
        self.in_service = {}  # request index -> token of its completion event


class Inference:
    """The inference part of a run (built by the engine when the scenario has services)."""

    def __init__(self, engine, opts, rng, start_hour_utc):
        self.e = engine
        self.opts = opts
        self.start_hour_utc = float(start_hour_utc)
        self.services = list(opts.services)
        self.rng = rng
        n_reg = max((s.regions for s in self.services), default=0)
        self.regions = cities(n_reg)
        self.stations = {}       # (service index, sat) -> _Station
        self.moving_out = {}     # (service index, sat) -> replicas being copied away
        self.replicas = [dict() for _ in self.services]   # sat -> count
        self.version = [0] * len(self.services)
        self._route_cache = {}
        # ingress: nearest ground station per region, and the fibre leg
        st = engine.scenario.ground_stations
        self.n_sats = engine.n_sats
        if st:
            lat = np.array([g.lat_deg for g in st])
            lon = np.array([g.lon_deg for g in st])
            d = _great_circle_km(self.regions["lat_deg"].to_numpy()[:, None],
                                 self.regions["lon_deg"].to_numpy()[:, None],
                                 lat[None, :], lon[None, :])
            self.region_station = d.argmin(axis=1) + engine.n_sats
            self.region_fibre_s = d.min(axis=1) / opts.fibre_speed_km_s
        else:
            self.region_station = np.full(len(self.regions), -1)
            self.region_fibre_s = np.zeros(len(self.regions))
        # arrivals, per service then merged
        tt, rr, ss = [], [], []
        for k, svc in enumerate(self.services):
            t, r = region_arrivals(svc, self.regions.head(svc.regions), engine.duration_s,
                                   start_hour_utc, rng)
            tt.append(t)
            rr.append(r)
            ss.append(np.full(len(t), k, np.int16))
        t = np.concatenate(tt) if tt else np.zeros(0)
        order = np.argsort(t, kind="stable")
        self.t = t[order]
        self.region = (np.concatenate(rr) if rr else np.zeros(0, np.int32))[order]
        self.svc = (np.concatenate(ss) if ss else np.zeros(0, np.int16))[order]
        n = len(self.t)
        self.sat = np.full(n, -1, np.int32)
        self.prop = np.full(n, np.nan)
        self.wait = np.full(n, np.nan)
        self.service_s = np.full(n, np.nan)
        self.status = np.full(n, len(STATUS) - 1, np.int8)   # unfinished until decided
        self._start = np.full(n, np.nan)
        self._k = 0

    def index(self, service):
        for k, svc in enumerate(self.services):
            if svc.name == service:
                return k
        names = ", ".join(s.name for s in self.services)
        raise KeyError(f"no inference service {service!r} (services: {names})")

    def rates_now(self, k, t_s):
        svc = self.services[k]
        reg = self.regions.head(svc.regions)
        pop = reg["population_m"].to_numpy(float)
        hour = (self.start_hour_utc + t_s / _S_PER_H + reg["lon_deg"].to_numpy(float) / 15.0) \
            % 24.0
        rate = svc.rate_per_s * pop / pop.sum() * (
            1.0 + svc.diurnal_amplitude * np.cos(2 * np.pi * (hour - svc.peak_local_hour) / 24))
        return pd.Series(rate, index=reg["name"].to_numpy())

    # ------------------------------------------------------------------------- replicas
    def place_initial(self):
        e = self.e
        fn = e.policy.replicas.place
        for k, svc in enumerate(self.services):
            if svc.replicas <= 0:
                continue
            guard = e.driver.guard
            sats = guard.value("replicas.place", fn, svc.name, svc.replicas,
                               svc.gpus_per_replica, e.view)
            if sats is not None and (isinstance(sats, (str, bytes, dict))
                                     or not hasattr(sats, "__iter__")):
                raise guard.bad_value("replicas.place", sats, "a list of satellites")
            sats = list(sats or [])
            if len(sats) != svc.replicas:
                e.driver.reject(f"replicas.place({svc.name!r}, {svc.replicas})",
                          f"returned {len(sats)} satellites, expected {svc.replicas}")
            for s in sats:
                e.driver.check_host(f"replicas.place({svc.name!r}) -> {s}", s,
                              svc.gpus_per_replica, "a replica")
                self.add_replica(k, int(s), 0.0)

    def add_replica(self, k, sat_i, t):
        e = self.e
        g = self.services[k].gpus_per_replica
        e.touch(sat_i, t)
        e.add_gpus(sat_i, g, g, g)
        self.replicas[k][sat_i] = self.replicas[k].get(sat_i, 0) + 1
        self.version[k] += 1
        st = self.stations.setdefault((k, sat_i), _Station())
        st.servers += 1
        e.rec.event(t, "replica_up", sat=sat_i, detail=self.services[k].name)
        self._serve_next(k, sat_i, st, t)
        e.apply(sat_i, t)

    def remove_replica(self, k, sat_i, t, why):
        """Take one replica of service k off a satellite (no re-apply of power: caller)."""
        e = self.e
        g = self.services[k].gpus_per_replica
        e.touch(sat_i, t)
        e.add_gpus(sat_i, -g, -g, -g)
        left = self.replicas[k][sat_i] - 1
        if left:
            self.replicas[k][sat_i] = left
        else:
            del self.replicas[k][sat_i]
        self.version[k] += 1
        st = self.stations[(k, sat_i)]
        st.servers -= 1
        e.rec.event(t, "replica_down", sat=sat_i, detail=f"{self.services[k].name}: {why}")
        if st.busy > st.servers:          # preempt the most recent request in service
            req = next(reversed(st.in_service))
            del st.in_service[req]
            st.busy -= 1
            st.queue.appendleft(req)      # it starts over on the next free server
        if st.servers == 0:
            while st.queue:
                self._finish(st.queue.popleft(), t, 3)   # brownout / replica gone
            del self.stations[(k, sat_i)]

    def shed_one(self, i: int, t: float, why: str = "brownout", keep: list | None = None) -> bool:
        """Shed one replica from satellite i; False if it holds none.  ``keep``: a list that
        receives the service index (to put it back later, after a host reboot)."""
        for k, reps in enumerate(self.replicas):
            if i in reps:
                self.remove_replica(k, i, t, why)
                if keep is not None:
                    keep.append(k)
                return True
        return False

    # ------------------------------------------------------------------------- requests
    def start(self):
        if len(self.t):
            self.e.at(self.t[0], self._on_arrival)

    def _on_arrival(self):
        e = self.e
        now = e.env.now
        t = self.t
        k = self._k
        while k < len(t) and t[k] <= now:
            self._dispatch(k, now)
            k += 1
        self._k = k
        if k < len(t):
            e.at(t[k], self._on_arrival)

    def _ingress(self, region):
        """(satellite, one-way seconds to it) for a region now, or (-1, 0): the usable ground
        link with the least light time now (lengths at this instant when they follow the
        orbits, :mod:`orbsched.network.linkranges`)."""
        g = int(self.region_station[region])
        if g < 0:
            return -1, 0.0
        net = self.e.net
        adj = net.graph._adj.get(g, {})
        sats = [s for s, a in adj.items() if a["usable"] and s < self.n_sats]
        if not sats:
            return -1, 0.0
        if net.ranges is None:
            light = [adj[s]["light_s"] for s in sats]
        else:
            light = (net.ranges.ephemeris.range_km(np.full(len(sats), g), sats, net.env.now)
                     / SPEED_OF_LIGHT_KM_S).tolist()
        best_s = min(light)
        best = sats[light.index(best_s)]
        return best, best_s + float(self.region_fibre_s[region])

    def _nearest_replica(self, k, src):
        """(replica satellite, one-way light time to it) from ``src`` now, or (-1, 0).  The
        route is the search's (cached until the network or the replicas change); its light
        time is taken with the links' lengths now."""
        net = self.e.net
        net.sync_ranges()
        key = (net._version, self.version[k], k, src)
        hit = self._route_cache.get(key)
        if hit is None:
            if len(self._route_cache) > 100_000:
                self._route_cache.clear()
            reps = self.replicas[k]
            if src in reps:
                hit = (src, 0.0, None)
            else:
                mask = np.zeros(self.n_sats, bool)
                mask[list(reps)] = True
                found = self.e.view.nearest(src, mask, k=1)
                if not found:
                    hit = (-1, 0.0, None)
                else:
                    dst = found[0][0]
                    path = None
                    if net.ranges is not None:   # the route, to time it exactly
                        pred = self.e.view.reach_buf[1]
                        path = [dst]
                        while path[-1] != src:
                            path.append(int(pred[path[-1]]))
                    hit = (dst, found[0][1], path)
            self._route_cache[key] = hit
        dst, light, path = hit
        if path is not None:
            light = net.path_light_s(path)
        return dst, light

    def _dispatch(self, i, now):
        self.e.stats["events"] += 1
        region = int(self.region[i])
        k = int(self.svc[i])
        sat, up_s = self._ingress(region)
        if sat < 0:
            self._finish(i, now, 1)
            return
        dst, isl_s = self._nearest_replica(k, sat)
        if dst < 0:
            self._finish(i, now, 2)
            return
        self.sat[i] = dst
        self.prop[i] = 2.0 * (up_s + isl_s)
        self._start[i] = now
        st = self.stations[(k, dst)]
        st.queue.append(i)
        self._serve_next(k, dst, st, now)

    def _service_time(self, k):
        svc = self.services[k]
        m, cv = svc.service_time_s, svc.service_cv
        if cv == 0:
            return m
        if cv == 1:
            return float(self.rng.exponential(m))
        shape = 1.0 / (cv * cv)
        return float(self.rng.gamma(shape, m / shape))

    def _serve_next(self, k, sat_i, st, now):
        while st.queue and st.busy < st.servers:
            i = st.queue.popleft()
            st.busy += 1
            self.wait[i] = now - self._start[i]
            s = self._service_time(k)
            self.service_s[i] = s
            token = object()
            st.in_service[i] = token
            self.e.at(now + s, self._on_done, k, sat_i, i, token)

    def _on_done(self, k, sat_i, i, token):
        self.e.stats["events"] += 1
        st = self.stations.get((k, sat_i))
        if st is None or st.in_service.get(i) is not token:
            return                          # preempted or station gone
        del st.in_service[i]
        st.busy -= 1
        now = self.e.env.now
        self._finish(i, now, 0)
        self._serve_next(k, sat_i, st, now)

    def _finish(self, i, now, code):
        self.status[i] = code

    # --------------------------------------------------------------------------- results
    def requests_frame(self):
        n = self._k
        names = np.array([s.name for s in self.services], dtype=object)
        reg = self.regions["name"].to_numpy(dtype=object)
        df = pd.DataFrame({
            "t_s": self.t[:n], "service": names[self.svc[:n]] if n else [],
            "region": reg[self.region[:n]] if n else [], "sat": self.sat[:n],
            "propagation_s": self.prop[:n], "wait_s": self.wait[:n],
            "service_s": self.service_s[:n],
            "status": np.array(STATUS, dtype=object)[self.status[:n]] if n else []})
        df["latency_s"] = df["propagation_s"] + df["wait_s"] + df["service_s"]
        return df

    def summary(self):
        df = self.requests_frame()
        out = {}
        for k, svc in enumerate(self.services):
            d = df[df["service"] == svc.name]
            served = d[d["status"] == "served"]
            per = {}
            for region, g in d.groupby("region", sort=False):
                s = g[g["status"] == "served"]["latency_s"]
                per[str(region)] = {
                    "requests": int(len(g)), "served": int(len(s)),
                    "mean_latency_s": _f(s.mean()), "p99_latency_s": _q(s, 0.99),
                    "attainment": _f((s <= svc.latency_objective_s).sum() / len(g))
                    if len(g) else None}
            lat = served["latency_s"]
            out[svc.name] = {
                "requests": int(len(d)), "served": int(len(served)),
                "dropped": {c: int((d["status"] == c).sum()) for c in STATUS[1:4]},
                "mean_latency_s": _f(lat.mean()), "p50_latency_s": _q(lat, 0.5),
                "p99_latency_s": _q(lat, 0.99),
                "mean_wait_s": _f(served["wait_s"].mean()),
                "attainment": _f((lat <= svc.latency_objective_s).sum() / len(d))
                if len(d) else None,
                "replicas_end": int(sum(self.replicas[k].values())),
                "regions": per}
        return out


def _f(x):
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _q(s, q):
    return _f(float(np.quantile(s, q))) if len(s) else None
