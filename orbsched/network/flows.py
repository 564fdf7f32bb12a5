"""Flow-level transfers over the laser network, sharing link bandwidth max-min fairly.

Model and its simplifications (each with the error it introduces):

* **Fluid flows.** A transfer is a fluid flow at a rate (Gbps) along one path; packets, queues,
  congestion control and protocol overhead are ignored, so times are lower bounds of what a real
  transport achieves (a well-tuned one gets within a few percent on a clean optical link).
* **Max-min fair sharing** by progressive filling: every flow's rate grows together until a link
  saturates; the flows crossing it are frozen at that share; repeat.  Links are **full duplex**:
  each direction of a link offers its full ``rate_gbps`` (optical ISLs use separate transmit and
  receive channels), so flows a->b and b->a do not compete.  A flow can be rate-limited only by
  links, not by its endpoints' terminals, memory or disks.
* **Timing.** A transfer of S GB over a path of light time L at a constant rate R completes at
  ``start + S*8/R + L``: the last byte leaves the source at S*8/R and arrives L later.  While the
  last byte is in flight (the "arriving" tail, at most tens of ms) the flow no longer uses
  bandwidth, and a link break during the tail is ignored.
* **Re-routing keeps bytes.** When a link of a transfer's path goes down, the bytes already sent
  count as delivered (including those in flight on the broken link, at most rate x light time,
  ~ a few MB at 100 Gbps) and the rest continues over the new shortest usable path from the
  source.  Transfers keep their path until it breaks; a shorter path appearing later is not
  taken.
* **Waiting.** With no usable path (at start, or after a break), a transfer waits up to
  ``wait_s`` for one to appear (a link becoming usable), then fails with a reason.  With
  ``wait_s = 0`` it fails at once.  Nothing is dropped silently: every transfer ends completed or
  failed with ``reason`` in {"no_path", "path_lost", "cancelled", "aborted"} and a human detail.

Rates are recomputed only at events (flow joins, leaves, path change, link rate change), once per
simulated instant, and only over the connected component (flows linked through shared link
directions) of what changed.  Finish times go in a heap; one SimPy timeout is armed for the
earliest, and a stale timeout (superseded by a recomputation) is ignored when it fires.
"""
from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from ..scenario.errors import NetworkError
from .shares import SMALL_COMPONENT, max_min_small

#: Completion tolerance of the finish timer (float rounding of now + remaining / rate), plus
#: 1e-12 relative to the clock.
_DUE_EPS_S = 1e-9
#: From this many routes needed at one instant, one csgraph call serves them all.
BULK_ROUTES_MIN = 8


def max_min_rates(capacity_gbps, flow_links) -> np.ndarray:
    """Max-min fair rates by progressive filling (water-filling).

    ``capacity_gbps`` (R,) are the capacities of R resources (link directions);
    ``flow_links`` is a list of F integer sequences, the resources each flow crosses (no
    repeats, not empty).  Returns the (F,) rates.  Each round freezes every flow crossing a
    resource whose equal share is the smallest (within 1e-12 relative), so the number of rounds
    is the number of distinct bottleneck levels.
    """
    n_f = len(flow_links)
    if n_f == 0:
        return np.zeros(0)
    lengths = np.fromiter((len(x) for x in flow_links), dtype=np.int64, count=n_f)
    rows = np.concatenate([np.asarray(x, dtype=np.int64) for x in flow_links])
    return _max_min_flat(np.asarray(capacity_gbps, dtype=float), rows, lengths)


def _max_min_flat(cap, rows, lengths):
    """Core of :func:`max_min_rates`: flow f crosses ``rows[sum(lengths[:f]):][:lengths[f]]``."""
    n_f = lengths.size
    if (lengths == 0).any():
        raise ValueError("every flow must cross at least one resource")
    n_r = cap.size
    cols = np.repeat(np.arange(n_f), lengths)
    per_res = np.bincount(rows, minlength=n_r)
    r_flows = cols[np.argsort(rows, kind="stable")]     # the flows on each resource, in a row
    r_ptr = np.zeros(n_r + 1, dtype=np.int64)
    np.cumsum(per_res, out=r_ptr[1:])
    f_ptr = np.concatenate([[0], np.cumsum(lengths)])
    rem = cap.astype(float, copy=True)
    cnt = per_res.astype(float)
    rate = np.zeros(n_f)
    frozen = np.zeros(n_f, dtype=bool)
    share = np.empty(n_r)
    n_left = n_f
    while n_left:
        share.fill(np.inf)
        np.divide(rem, cnt, out=share, where=cnt > 0.5)
        s = max(float(share.min()), 0.0)
        bott = np.flatnonzero(share <= s * (1 + 1e-12))
        hit = np.zeros(n_f, dtype=bool)
        for r in bott.tolist():
            hit[r_flows[r_ptr[r]:r_ptr[r + 1]]] = True
        hit &= ~frozen
        fl = np.flatnonzero(hit)
        rate[fl] = s
        frozen[fl] = True
        n_left -= fl.size
        rr = np.concatenate([rows[f_ptr[f]:f_ptr[f + 1]] for f in fl.tolist()])
        dec = np.bincount(rr, minlength=n_r)
        cnt -= dec
        rem -= dec * s
    return rate


@dataclass
class TransferRecord:
    """Outcome of one transfer (the value of its event).  Times in simulation seconds."""

    id: int
    label: object
    src: int
    dst: int
    size_gb: float
    requested_s: float
    status: str = "active"          # "completed" | "failed" once done
    reason: str | None = None    # failed: no_path | path_lost | cancelled | aborted
    detail: str = ""
    delivered_gb: float = 0.0
    start_s: float | None = None  # first byte sent
    end_s: float | None = None    # last byte arrived, or failure time
    paths: list = field(default_factory=list)
    reroutes: int = 0
    waited_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def duration_s(self) -> float | None:
        return None if self.end_s is None else self.end_s - self.requested_s


class Transfer(simpy.Event):
    """A transfer in progress; a SimPy event that succeeds with its :class:`TransferRecord`.

    It always *succeeds* (also on failure: check ``record.ok``), so an unwatched failed transfer
    never crashes the simulation.  ``state`` is routing (until the end of the instant it was
    requested in), waiting, sending, arriving or done.
    """

    def __init__(self, manager, record, wait_s):
        super().__init__(manager.env)
        self._mgr = manager
        self.record = record
        self.wait_s = wait_s
        self.state = "new"
        self.path = None
        self.res = []             # directed link resources (u, v) of the current path
        self.rids = None          # their resource ids (numpy int64), see FlowManager._rid
        self.rate_gbps = 0.0
        self.remaining_gb = record.size_gb
        self.t_mark_s = manager.env.now
        self.version = 0          # bumps when the finish time changes
        self.wait_token = 0
        self.wait_since_s = None
        self.pending_reason = None
        self.hint = None

    @property
    def id(self):
        return self.record.id

    @property
    def delivered_gb(self) -> float:
        """Bytes sent so far (live, in GB)."""
        if self.state == "sending":
            done = self.rate_gbps * (self.env.now - self.t_mark_s) / 8.0
            return self.record.size_gb - max(0.0, self.remaining_gb - done)
        return self.record.size_gb - self.remaining_gb

    def cancel(self, detail: str = "") -> bool:
        """Stop the transfer now; it fails with reason "cancelled".  False if already done."""
        return self._mgr.cancel(self, detail)

    def __repr__(self):
        r = self.record
        return (f"<Transfer {r.id} {r.label!r} {r.src}->{r.dst} {r.size_gb} GB {self.state} "
                f"rate={self.rate_gbps:g} Gbps>")


class FlowManager:
    """Owns the transfers of one :class:`orbsched.network.laser.LaserNetwork` (``net.flows``)."""

    def __init__(self, net):
        self.net = net
        self.env = net.env
        self._ids = itertools.count()
        self._seq = itertools.count()
        self._on_res = {}         # resource id -> set of sending Transfers
        self._rid = {}            # (u, v) directed link -> resource id (stable, never reused)
        self._cap = np.zeros(1024)  # resource id -> capacity_gbps, set when a flow joins
        self._sending = set()
        self._active = {}         # id -> Transfer not yet done
        self._waiting = {}        # id -> Transfer waiting for a path
        self._broken = {}         # Transfer -> (pair, why), handled at settle
        self._new = []            # Transfers to route at settle
        self._dirty_res = set()
        self._check_waiting = False
        self._settle_pending = False
        self._heap = []           # (finish_send_s, seq, version, Transfer)
        self._timer_token = 0
        self._timer_at = None
        self.stats = dict(rate_recomputes=0, flows_recomputed=0, max_component=0, reroutes=0,
                          completed=0, failed=0)

    # ---------------------------------------------------------------------------- queries
    def n_flows_on(self, u, v) -> int:
        rid = self._rid.get((u, v))
        return 0 if rid is None else len(self._on_res.get(rid, ()))

    def active(self):
        """Transfers not yet completed or failed."""
        return list(self._active.values())

    # ------------------------------------------------------------------------------ start
    def start(self, src, dst, size_gb, *, label=None, wait_s=0.0, path_hint=None) -> Transfer:
        """Start a transfer (routed at the end of this instant).  ``path_hint``: a shortest
        usable path ``[src, ..., dst]`` the caller already knows, with the network version it
        was found in, ``(version, path)``; used instead of a new search if the network has not
        changed since."""
        net = self.net
        net._check_node(src)
        net._check_node(dst)
        size_gb = float(size_gb)
        if not (size_gb >= 0 and math.isfinite(size_gb)):
            raise NetworkError(f"transfer {label!r}: size_gb must be finite and >= 0, "
                               f"got {size_gb}")
        wait_s = float(wait_s)
        if not wait_s >= 0:
            raise NetworkError(f"transfer {label!r}: wait_s must be >= 0, got {wait_s}")
        now = self.env.now
        rec = TransferRecord(id=next(self._ids), label=label, src=int(src), dst=int(dst),
                             size_gb=size_gb, requested_s=now)
        tr = Transfer(self, rec, wait_s)
        self._active[rec.id] = tr
        self._log("transfer_start", tr, f"size_gb={size_gb:g}")
        if src == dst:
            rec.paths.append((int(src),))
            rec.start_s = now
            tr.remaining_gb = 0.0
            self._complete(tr)
            return tr
        tr.state = "routing"      # routed at the end of this instant, with the others
        tr.hint = path_hint
        self._new.append(tr)
        self._schedule_settle()
        return tr

    def _log(self, kind, tr, detail):
        if not self.net.log_transfers:
            return
        r = tr.record
        self.net._log(kind, r.src, r.dst, f"id={r.id} label={r.label} {detail}".rstrip())

    # ------------------------------------------------------------------------ transitions
    def _begin_sending(self, tr, path):
        rec = tr.record
        tr.path = path
        rec.paths.append(tuple(int(n) for n in path))
        if rec.start_s is None:
            rec.start_s = self.env.now
        tr.state = "sending"
        tr.rate_gbps = 0.0
        tr.t_mark_s = self.env.now
        tr.version += 1
        if tr.remaining_gb <= 0.0:
            self._finish_sending(tr)
            return
        tr.res = list(zip(path[:-1], path[1:]))
        adj = self.net.graph.adj
        rids = []
        for u, v in tr.res:
            rid = self._rid.get((u, v))
            if rid is None:
                rid = self._rid[(u, v)] = len(self._rid)
                if rid >= self._cap.size:
                    self._cap = np.concatenate([self._cap, np.zeros(self._cap.size)])
            self._cap[rid] = adj[u][v]["rate_gbps"]
            rids.append(rid)
            self._on_res.setdefault(rid, set()).add(tr)
        tr.rids = np.array(rids, dtype=np.int64)
        self._dirty_res.update(rids)
        self._sending.add(tr)

    def _advance(self, tr):
        now = self.env.now
        if tr.rate_gbps > 0.0:
            tr.remaining_gb = max(0.0, tr.remaining_gb - tr.rate_gbps * (now - tr.t_mark_s) / 8.0)
        tr.t_mark_s = now

    def _unregister(self, tr):
        if tr.rids is not None:
            for r in tr.rids.tolist():
                s = self._on_res.get(r)
                if s is not None:
                    s.discard(tr)
                    if not s:
                        del self._on_res[r]
                self._dirty_res.add(r)
        self._sending.discard(tr)
        tr.res = []
        tr.rids = None
        tr.rate_gbps = 0.0
        tr.version += 1

    def _wait_or_fail(self, tr, reason, detail):
        if tr.wait_s > 0:
            tr.state = "waiting"
            tr.wait_since_s = self.env.now
            tr.wait_token += 1
            tr.pending_reason = (reason, detail)
            self._waiting[tr.id] = tr
            self._log("transfer_wait", tr, f"{reason}: {detail}; waiting up to {tr.wait_s:g} s")
            if math.isfinite(tr.wait_s):
                ev = self.env.timeout(tr.wait_s)
                ev.callbacks.append(lambda _e, tr=tr, k=tr.wait_token: self._deadline(tr, k))
        else:
            self._fail(tr, reason, detail)

    def _deadline(self, tr, token):
        if tr.state != "waiting" or tr.wait_token != token:
            return
        reason, detail = tr.pending_reason
        self._fail(tr, reason, f"{detail}; no path within {tr.wait_s:g} s")

    def _stop_waiting(self, tr):
        if self._waiting.pop(tr.id, None) is not None:
            tr.record.waited_s += self.env.now - tr.wait_since_s

    def _fail(self, tr, reason, detail):
        self._stop_waiting(tr)
        rec = tr.record
        tr.state = "done"
        rec.status = "failed"
        rec.reason = reason
        rec.detail = detail
        rec.delivered_gb = rec.size_gb - tr.remaining_gb
        rec.end_s = self.env.now
        self._active.pop(rec.id, None)
        self.stats["failed"] += 1
        self._log("transfer_fail", tr, f"reason={reason} delivered_gb={rec.delivered_gb:g} "
                                       f"{detail}")
        tr.succeed(rec)

    def _finish_sending(self, tr):
        """The last byte left the source: stop using bandwidth, arrive one light time later."""
        self._unregister(tr)
        tr.remaining_gb = 0.0
        tr.state = "arriving"
        light = self.net.path_light_s(tr.path)
        ev = self.env.timeout(light)
        ev.callbacks.append(lambda _e, tr=tr: self._complete(tr))

    def _complete(self, tr):
        if tr.state == "done":
            return  # cancelled during the tail
        rec = tr.record
        tr.state = "done"
        rec.status = "completed"
        rec.delivered_gb = rec.size_gb
        rec.end_s = self.env.now
        self._active.pop(rec.id, None)
        self.stats["completed"] += 1
        self._log("transfer_complete", tr,
                  f"duration_s={rec.end_s - rec.requested_s:.9g} reroutes={rec.reroutes}")
        tr.succeed(rec)

    def cancel(self, tr, detail=""):
        if tr.state == "done":
            return False
        if tr.state == "sending":
            self._advance(tr)
            self._unregister(tr)
            self._schedule_settle()
        self._fail(tr, "cancelled", detail or f"cancelled at t={self.env.now:g} s")  # any state
        return True

    def abort_all(self, detail="simulation ended"):
        """Fail every unfinished transfer with reason "aborted" (e.g. at the end of a run)."""
        for tr in list(self._active.values()):
            if tr.state == "sending":
                self._advance(tr)
                self._unregister(tr)
            self._fail(tr, "aborted", detail)

    # --------------------------------------------------------------- network notifications
    def on_link_down(self, pair, why):
        u, v = pair
        hit = False
        for r in ((u, v), (v, u)):
            for tr in self._on_res.get(self._rid.get(r), ()):
                self._broken.setdefault(tr, (pair, why))
                hit = True
        if hit:
            self._schedule_settle()

    def on_links_usable(self):
        if self._waiting:
            self._check_waiting = True
            self._schedule_settle()

    def on_link_rate_changed(self, pair):
        rate = self.net.graph.adj[pair[0]][pair[1]]["rate_gbps"]
        for r in (pair, pair[::-1]):
            rid = self._rid.get(r)
            if rid is not None:
                self._cap[rid] = rate
                self._dirty_res.add(rid)
        self._schedule_settle()

    # ------------------------------------------------------------------------- settle
    def _schedule_settle(self):
        if not self._settle_pending:
            self._settle_pending = True
            self.env.timeout(0).callbacks.append(self._settle)

    def _settle(self, _ev=None):
        """Once per instant: route new, broken and waiting flows, re-share, re-arm the timer."""
        now = self.env.now
        jobs = []
        broken, self._broken = self._broken, {}
        for tr, info in broken.items():
            if tr.state == "sending":
                self._advance(tr)
                self._unregister(tr)
                jobs.append((tr, "reroute", info))
        new, self._new = self._new, []
        jobs.extend((tr, "start", None) for tr in new if tr.state == "routing")
        if self._check_waiting:
            self._check_waiting = False
            jobs.extend((tr, "resume", None) for tr in self._waiting.values())
        ver = self.net._version
        todo = [i for i, (tr, kind, _) in enumerate(jobs)
                if not (kind == "start" and tr.hint is not None and tr.hint[0] == ver)]
        found = self._find_paths([(jobs[i][0].record.src, jobs[i][0].record.dst) for i in todo])
        paths = [list(tr.hint[1]) if tr.hint is not None and kind == "start" else None
                 for tr, kind, _ in jobs]
        for i, p in zip(todo, found):
            paths[i] = p
        for (tr, kind, info), path in zip(jobs, paths):
            rec = tr.record
            if kind == "start":
                if path is None:
                    self._wait_or_fail(tr, "no_path",
                                       f"no usable path {rec.src}->{rec.dst} at t={now:g} s")
                else:
                    self._begin_sending(tr, path)
            elif kind == "reroute":
                pair, why = info
                if path is None:
                    self._wait_or_fail(tr, "path_lost",
                                       f"link {pair[0]}-{pair[1]} down ({why}) at t={now:g} s, "
                                       f"no usable path {rec.src}->{rec.dst}")
                else:
                    rec.reroutes += 1
                    self.stats["reroutes"] += 1
                    self._log("transfer_reroute", tr,
                              f"link {pair[0]}-{pair[1]} down ({why}); new path {path}")
                    self._begin_sending(tr, path)
            elif path is not None:  # resume after waiting
                self._stop_waiting(tr)
                if rec.paths:  # it had a path that broke: this is a re-route
                    rec.reroutes += 1
                    self.stats["reroutes"] += 1
                self._log("transfer_resume", tr, f"path {path}")
                self._begin_sending(tr, path)
        if self._dirty_res:
            self._recompute()
        self._settle_pending = False
        self._arm_timer()

    def _find_paths(self, pairs):
        """Routes for (src, dst) pairs: networkx one by one, or one csgraph call when many."""
        net = self.net
        if len(pairs) < BULK_ROUTES_MIN:
            return [net.route(s, d) for s, d in pairs]
        table = net.routes_from(sorted({s for s, _ in pairs}))
        return [table.path(s, d) for s, d in pairs]

    def _recompute(self):
        """Max-min rates over the component of flows reachable from the dirty resources.

        The component is found by a search over flows and the link directions they share;
        once it holds more than 30 % of the sending flows, all of them are recomputed instead
        (same result, the search would cost more than it saves).
        """
        on_res = self._on_res
        stack = list(self._dirty_res)
        seen = set(stack)
        self._dirty_res.clear()
        comp = set()
        limit = 0.3 * len(self._sending)
        while stack:
            r = stack.pop()
            for tr in on_res.get(r, ()):
                if tr not in comp:
                    comp.add(tr)
                    for r2 in tr.rids.tolist():
                        if r2 not in seen:
                            seen.add(r2)
                            stack.append(r2)
            if len(comp) > limit:
                comp = self._sending
                break
        if not comp:
            return
        flows = list(comp)
        for tr in flows:
            self._advance(tr)
        if len(flows) == 1:   # alone on its links: the bottleneck capacity (same result)
            rates = [max(float(self._cap[flows[0].rids].min()), 0.0)]
        elif len(flows) <= SMALL_COMPONENT:   # plain Python, the same arithmetic
            index: dict = {}
            flow_res = [[index.setdefault(r, len(index)) for r in tr.rids.tolist()]
                        for tr in flows]
            cap = self._cap
            rates = max_min_small([float(cap[r]) for r in index], flow_res)
        else:
            lengths = np.fromiter((tr.rids.size for tr in flows), dtype=np.int64,
                                  count=len(flows))
            rids = np.concatenate([tr.rids for tr in flows])
            uniq, inv = np.unique(rids, return_inverse=True)
            rates = _max_min_flat(self._cap[uniq], inv.ravel(), lengths).tolist()
        now = self.env.now
        heap = self._heap
        seq = self._seq
        for tr, rate in zip(flows, rates):
            tr.rate_gbps = rate
            tr.version += 1
            heapq.heappush(heap, (now + tr.remaining_gb * 8.0 / rate, next(seq), tr.version, tr))
        if len(heap) > 4 * len(self._active) + 256:
            self._heap = [e for e in heap if self._valid(e)]  # drop superseded entries
            heapq.heapify(self._heap)
        st = self.stats
        st["rate_recomputes"] += 1
        st["flows_recomputed"] += len(flows)
        st["max_component"] = max(st["max_component"], len(flows))

    # -------------------------------------------------------------------------- timer
    def _valid(self, entry):
        tr = entry[3]
        return tr.state == "sending" and tr.version == entry[2]

    def _arm_timer(self):
        heap = self._heap
        while heap and not self._valid(heap[0]):
            heapq.heappop(heap)
        if not heap:
            return
        t = heap[0][0]
        if self._timer_at is not None and self._timer_at <= t:
            return  # the armed timer fires first and re-arms
        self._timer_token += 1
        self._timer_at = t
        ev = self.env.timeout(max(0.0, t - self.env.now))
        ev.callbacks.append(lambda _e, k=self._timer_token: self._on_timer(k))

    def _on_timer(self, token):
        if token != self._timer_token:
            return  # superseded by an earlier finish time
        self._timer_at = None
        now = self.env.now
        heap = self._heap
        finished = False
        while heap and heap[0][0] <= now + _DUE_EPS_S + 1e-12 * abs(now):
            entry = heapq.heappop(heap)
            if self._valid(entry):
                self._finish_sending(entry[3])
                finished = True
        if finished:
            self._schedule_settle()
        else:
            self._arm_timer()
