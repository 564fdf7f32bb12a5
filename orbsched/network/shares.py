"""Max-min fair shares of a few flows in plain Python, bit for bit those of the numpy solver.

Most re-shares in a run touch a component of one to a few transfers (the flows linked through
shared link directions with what changed: in the 10,000-satellite benchmark, at most 13 flows
send at once).  :func:`orbsched.network.flows._max_min_flat` spends tens of microseconds in
numpy calls on arrays that small; :func:`max_min_small` does the same progressive filling with
the same floating-point operations per resource (``rem / cnt``, the smallest share clipped at
0, the bottlenecks within ``1e-12`` relative, ``rem - dec * s``), so its rates are identical,
in a few microseconds.  ``tests/test_flow_shares.py`` checks the two against each other.
"""
from __future__ import annotations

import math

__all__ = ["SMALL_COMPONENT", "max_min_small"]

#: Components up to this many flows are shared by :func:`max_min_small`.
SMALL_COMPONENT = 24


def max_min_small(capacity_gbps: list[float], flow_res: list[list[int]]) -> list[float]:
    """Max-min fair rates of flows ``flow_res`` (each a list of resource indices into
    ``capacity_gbps``, no repeats, not empty), as :func:`orbsched.network.flows.max_min_rates`
    computes them."""
    n_r = len(capacity_gbps)
    n_f = len(flow_res)
    rem = [float(c) for c in capacity_gbps]
    cnt = [0.0] * n_r
    on: list[list[int]] = [[] for _ in range(n_r)]
    for f, rs in enumerate(flow_res):
        if not rs:
            raise ValueError("every flow must cross at least one resource")
        for r in rs:
            cnt[r] += 1.0
            on[r].append(f)
    rate = [0.0] * n_f
    frozen = [False] * n_f
    left = n_f
    res = range(n_r)
    while left:
        share = [rem[r] / cnt[r] if cnt[r] > 0.5 else math.inf for r in res]
        s = max(min(share), 0.0)
        lim = s * (1 + 1e-12)
        dec = [0] * n_r
        for r in res:
            if share[r] <= lim:
                for f in on[r]:
                    if not frozen[f]:
                        frozen[f] = True
                        rate[f] = s
                        left -= 1
                        for r2 in flow_res[f]:
                            dec[r2] += 1
        for r in res:
            if dec[r]:
                cnt[r] -= dec[r]
                rem[r] -= dec[r] * s
    return rate
