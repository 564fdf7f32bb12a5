"""Sunlight over the run, as the engine consumes it: the illumination timeline (every edge of
every satellite, in time order) and each satellite's eclipse predictions.

Built once from the geometry stage's eclipse and umbra intervals; the engine walks the
timeline (:attr:`Timeline.t` ... ; :meth:`Timeline.passed` advances a satellite's pointer) and
policies read the predictions (:attr:`Timeline.next_entry`: the next shadow entry,
:attr:`Timeline.cur_exit`: the end of the current eclipse).

Penumbra model (SIMPLIFICATION): the illumination fraction across a penumbra of duration P is
a staircase of ``n = penumbra_steps`` levels ``1 - (k + 1/2)/n`` on entry (mirrored on exit),
each lasting P/n: the energy harvested over a linear ramp is exact for any n, and the timing
of any power threshold inside a ~10 s penumbra is off by at most P/(2n).  A grazing passage
with no umbra is one level of 0.5 for its whole duration (its true depth is not known from the
intervals; grazing passages are rare, at the edges of eclipse seasons).
"""
from __future__ import annotations

import math

import numpy as np

from .._kernels.fleet_support import PENUMBRA, SUNLIT, UMBRA

__all__ = ["ILLUM_KIND_NAMES", "PENUMBRA", "STATE_NAMES", "SUNLIT", "UMBRA", "K_ENTRY", "K_EXIT",
           "K_STEP", "K_UMBRA_IN", "K_UMBRA_OUT", "Timeline", "build_illumination_events"]

#: Names of the illumination states SUNLIT, PENUMBRA, UMBRA (0, 1, 2).
STATE_NAMES = ("sunlit", "penumbra", "umbra")
# illumination edge kinds
K_ENTRY, K_STEP, K_UMBRA_IN, K_UMBRA_OUT, K_EXIT = 0, 1, 2, 3, 4
ILLUM_KIND_NAMES = ("eclipse_entry", "penumbra_step", "umbra_entry", "umbra_exit",
                    "eclipse_exit")


def build_illumination_events(eclipse, umbra, penumbra_steps: int = 1):
    """Time-ordered illumination changes from eclipse and umbra intervals: arrays ``t_s, sat,
    fraction, kind, state`` (kind: index into :data:`ILLUM_KIND_NAMES`; state:
    SUNLIT/PENUMBRA/UMBRA after the edge)."""
    n = int(penumbra_steps)
    ts, sats, fr, kinds, states = [], [], [], [], []
    # Pair each umbra with the eclipse passage that contains it.
    u_sat, u_start, u_end = umbra.sat, umbra.start_s, umbra.end_s
    order_u = np.lexsort((u_start, u_sat))
    u_sat, u_start, u_end = u_sat[order_u], u_start[order_u], u_end[order_u]
    order_e = np.lexsort((eclipse.start_s, eclipse.sat))
    e_sat, e_start, e_end = eclipse.sat[order_e], eclipse.start_s[order_e], eclipse.end_s[order_e]
    # umbra index per eclipse: the umbra of the same satellite that starts inside it
    key_e = e_sat.astype(float) * 1e9 + e_start
    key_u = u_sat.astype(float) * 1e9 + u_start
    pos = np.searchsorted(key_e, key_u, side="right") - 1
    has_u = np.full(len(e_sat), -1)
    ok = (pos >= 0)
    ok[ok] &= (e_sat[pos[ok]] == u_sat[ok]) & (u_start[ok] <= e_end[pos[ok]] + 1e-6)
    has_u[pos[ok]] = np.flatnonzero(ok)
    for k in range(len(e_sat)):
        s, e, i = float(e_start[k]), float(e_end[k]), int(e_sat[k])
        j = has_u[k]
        if j < 0:
            ts += [s, e]
            sats += [i, i]
            fr += [0.5, 1.0]
            kinds += [K_ENTRY, K_EXIT]
            states += [PENUMBRA, SUNLIT]
            continue
        us, ue = float(u_start[j]), float(u_end[j])
        for m in range(n):
            ts.append(s + m * (us - s) / n)
            fr.append(1.0 - (m + 0.5) / n)
            kinds.append(K_ENTRY if m == 0 else K_STEP)
            states.append(PENUMBRA)
        ts.append(us)
        fr.append(0.0)
        kinds.append(K_UMBRA_IN)
        states.append(UMBRA)
        for m in range(n):
            ts.append(ue + m * (e - ue) / n)
            fr.append((m + 0.5) / n)
            kinds.append(K_UMBRA_OUT if m == 0 else K_STEP)
            states.append(PENUMBRA)
        ts.append(e)
        fr.append(1.0)
        kinds.append(K_EXIT)
        states.append(SUNLIT)
        sats += [i] * (2 * n + 2)
    t = np.asarray(ts, float)
    order = np.lexsort((np.arange(len(t)), t))  # stable in time, per-passage order kept
    return (t[order], np.asarray(sats, np.int64)[order], np.asarray(fr, float)[order],
            np.asarray(kinds, np.int8)[order], np.asarray(states, np.int8)[order])


class Timeline:
    """The illumination timeline of ``n`` satellites and their eclipse predictions (module
    docstring); ``n_hosts`` >= n counts ground hosts too (their horizon is infinite)."""

    def __init__(self, eclipse, umbra, penumbra_steps: int, n: int, n_hosts: int) -> None:
        (self.t, self.sat, self.frac, self.kind,
         self.state) = build_illumination_events(eclipse, umbra, penumbra_steps)
        self.soc = np.full(len(self.t), np.nan)   # state of charge at each edge (recorded)
        self.applied = 0          # edges applied so far (the recorder reads it)
        # per host: its own edge times (a satellite's thresholds and job finishes beyond its
        # next edge are not scheduled: that edge re-applies)
        by_sat = np.lexsort((self.t, self.sat))
        b = np.searchsorted(self.sat[by_sat], np.arange(n + 1))
        t_sorted = self.t[by_sat]
        self._edges = [t_sorted[b[i]:b[i + 1]].tolist() + [math.inf] for i in range(n)]
        self._edges += [[math.inf] for _ in range(n_hosts - n)]
        self._ptr = [0] * n_hosts
        order = np.lexsort((eclipse.start_s, eclipse.sat))
        es, ee, esat = eclipse.start_s[order], eclipse.end_s[order], eclipse.sat[order]
        bounds = np.searchsorted(esat, np.arange(n + 1))
        self._starts = [es[bounds[i]:bounds[i + 1]].tolist() for i in range(n)]
        self._ends = [ee[bounds[i]:bounds[i + 1]].tolist() for i in range(n)]
        self._ecl_ptr = [0] * n
        #: predicted next shadow entry per satellite (inf: none before the end)
        self.next_entry = np.array([s[0] if s else math.inf for s in self._starts])
        #: end of the current eclipse per satellite (inf when sunlit)
        self.cur_exit = np.full(n, math.inf)

    def __len__(self) -> int:
        return len(self.t)

    def horizon(self, i: int) -> float:
        """Time of host i's next illumination edge (inf if none)."""
        return self._edges[i][self._ptr[i]]

    def passed(self, k: int) -> tuple:
        """Edge k happens now: advance its satellite's pointers and predictions; returns
        ``(satellite, kind)``."""
        i = int(self.sat[k])
        kind = int(self.kind[k])
        self._ptr[i] += 1
        if kind == K_ENTRY:
            p = self._ecl_ptr[i]
            if p < len(self._starts[i]):
                self.cur_exit[i] = self._ends[i][p]
                self._ecl_ptr[i] = p + 1
                self.next_entry[i] = self._starts[i][p + 1] \
                    if p + 1 < len(self._starts[i]) else math.inf
        elif kind == K_EXIT:
            self.cur_exit[i] = math.inf
        return i, kind
