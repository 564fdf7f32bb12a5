"""Vectorised one-dimensional searches shared by the geometry stages.

Eclipse edges (:mod:`orbsched.geometry.illumination`) and link and ground-pass edges
(:mod:`orbsched.geometry.contacts`) are all found the same way: a smooth function of time is
sampled on the grid, sign changes are bracketed, and each bracket is refined on a cubic Hermite
interpolation of the satellites' positions and velocities between its two grid points.  Every
function here works on many items at once (one bracket per item); ``fn(tau)`` receives one time
per item and returns one value per item.
"""
from __future__ import annotations

import math

import numpy as np


def hermite_coefficients(r0, v0, r1, v1, h):
    """Coefficients (c0, c1, c2, c3) of the cubic Hermite ``r(s) = c0 + c1 s + c2 s^2 + c3 s^3``,
    s in [0, 1], through states (r0, v0) and (r1, v1) a time ``h`` apart (h broadcast to r)."""
    m0, m1 = v0 * h, v1 * h
    return r0, m0, -3 * r0 - 2 * m0 + 3 * r1 - m1, 2 * r0 + m0 - 2 * r1 + m1


def hermite(t0, t1, r0, v0, r1, v1, tau):
    """Cubic Hermite position at ``tau`` (m,) between states (t0, r0, v0) and (t1, r1, v1).

    Rows are items: times (m,), vectors (m, 3).  For LEO states 60 s apart the position error is
    below 1 m (the fourth derivative of a circular orbit is n^4 r; error ~ h^4 n^4 r / 384).
    """
    c0, c1, c2, c3 = hermite_coefficients(r0, v0, r1, v1, (t1 - t0)[:, None])
    s = ((tau - t0) / (t1 - t0))[:, None]
    return c0 + s * (c1 + s * (c2 + s * c3))


def find_roots(fn, lo, hi, tol_s, pos_lo=None, bracket=False, subset=False):
    """Sign change of ``fn`` inside each bracket [lo, hi], to within ``tol_s``.

    Illinois (modified false position): superlinear on smooth, nearly linear functions (4-6
    evaluations from a 60 s bracket to 0.01 s) while keeping a bracket, so each result is
    guaranteed within ``tol_s`` of a sign change; halves the bracket when false position
    stalls.  ``pos_lo`` (bool per item) is the sign known at ``lo`` (``fn > 0``) when the caller
    has it from the grid; it wins over a recomputed value that disagrees by rounding.
    With ``subset``, ``fn(tau, idx)`` is called for the unconverged items ``idx`` only (else
    ``fn(tau)`` for all items).  Returns the midpoints, or the brackets ``(lo, hi)``.
    """
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    if len(lo) == 0:
        return (lo, hi) if bracket else lo
    every = np.arange(len(lo))

    def call(tau, idx):
        if subset:
            return np.asarray(fn(tau, idx), dtype=float)
        full = 0.5 * (lo + hi)
        full[idx] = tau
        return np.asarray(fn(full), dtype=float)[idx]

    g_lo = call(lo, every).copy()
    g_hi = call(hi, every).copy()
    if pos_lo is not None:
        pos_lo = np.asarray(pos_lo, bool)
        tiny = np.where(pos_lo, 1e-300, -1e-300)
        g_lo = np.where((g_lo > 0) == pos_lo, g_lo, tiny)
        g_hi = np.where((g_hi > 0) != pos_lo, g_hi, -tiny)
    side = np.zeros(len(lo), np.int8)  # the end kept last time (-1 lo, +1 hi)
    act = every[hi - lo > tol_s]
    for _ in range(200):
        if not len(act):
            break
        a, b, ga, gb = lo[act], hi[act], g_lo[act], g_hi[act]
        x = (a * gb - b * ga) / (gb - ga)
        stall = ~((x > a) & (x < b)) | (b - a < 4 * tol_s)
        x = np.where(stall, 0.5 * (a + b), x)
        gx = call(x, act)
        right = (gx > 0) == (ga > 0)          # the sign change lies in [x, b]
        sd = side[act]
        g_hi[act] = np.where(right, np.where(sd == 1, 0.5 * gb, gb), gx)   # Illinois: halve
        g_lo[act] = np.where(right, gx, np.where(sd == -1, 0.5 * ga, ga))  # the end kept twice
        lo[act] = np.where(right, x, a)
        hi[act] = np.where(right, b, x)
        side[act] = np.where(right, 1, -1)
        act = act[hi[act] - lo[act] > tol_s]
    return (lo, hi) if bracket else 0.5 * (lo + hi)


def golden_max(fn, lo, hi, tol_s):
    """Maximum of a unimodal ``fn`` on each [lo, hi] by golden-section search.

    Returns ``(argmax, max)`` per item, the argmax within ``tol_s``.
    """
    inv = (math.sqrt(5) - 1) / 2
    a = np.array(lo, dtype=float)
    b = np.array(hi, dtype=float)
    if len(a) == 0:
        return a, a.copy()
    n_iter = int(np.ceil(math.log(max(np.max(b - a), tol_s) / tol_s) / -math.log(inv))) + 1
    c, d = b - inv * (b - a), a + inv * (b - a)
    gc, gd = fn(c), fn(d)
    for _ in range(n_iter):
        left = gc > gd  # the maximum lies in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        c, d = b - inv * (b - a), a + inv * (b - a)
        gc, gd = fn(c), fn(d)
    x = 0.5 * (a + b)
    return x, fn(x)
