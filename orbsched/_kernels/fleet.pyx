# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled fleet state: every satellite's power bus, thermal node, GPUs and illumination as
arrays (the model and the arrays: :class:`orbsched.engine.fleet.Fleet`).  The twin is
:class:`orbsched.engine.fleet_twin.FleetTwin`: one ``PowerBus`` and one ``ThermalNode`` per
satellite driven as ``Satellite.apply`` drives them.

Exactness: every operation repeats the twin's arithmetic in the twin's order (built with
-ffp-contract=off -fno-fast-math, no reassociation, no fused multiply-add), so each array and
each return value is the twin's double, bit for bit; Python's ``min(a, b)`` is written
``b if b < a else a`` and ``max(a, b)`` ``b if b > a else a`` (which of two equal values is
returned matters only for signed zeros, and keeps them too).  The thermal integrals are the
``cdef`` functions of ``thermal.pyx``; where those flag ``bad`` (an argument Python rejects, or
Newton not settling: the twin's Brent fallback) the pure-Python integral is called with the
same doubles, as ``thermal.pyx``'s wrappers do.

Layout: the physics is ``fleet_core.pxd`` (the ``State`` struct of raw pointers into the
fleet's arrays, and the model's functions on it); ``fleet_base.pyx`` holds the arrays, their
binding and the read-only queries (``FleetBase``, declared in ``fleet_base.pxd``); this module
adds the events (``FleetKernel(FleetBase)``, declared in ``fleet.pxd``); ``fleet_search.pyx``
is the nearest-host search.

Layers: ``def`` methods convert and check their arguments (the fast paths are a type test and a
comparison; anything else goes through :mod:`orbsched._kernels.fleet_support`, which raises the
twin's errors) and call module-level ``cdef inline ... noexcept nogil`` functions over a
``State`` struct of raw pointers into the fleet's numpy arrays, which the object owns (they
never reallocate).  Batch operations run those functions in ``nogil`` loops; a loop that meets
a case needing Python (an error, the Brent fallback) stops there, returns the index, and the
wrapper handles it with the GIL and resumes, so side effects happen in the twin's order.
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport fabs

from .fleet_core cimport (
    Kind,
    State,
    _bus_advance,
    _bus_update,
    _must_shed,
    _node_advance,
    _node_set,
    _set_free,
)
from .heap cimport i64
from .fleet_support import (
    MUST_SHED,
    SPEED_CHANGED,
    backwards_error,
    check_count,
    check_fraction,
    check_state,
    count_error,
    failed_twice_error,
    touch_backwards_error,
)

from .fleet_base cimport FleetBase, _qtime

cnp.import_array()

cdef double THROTTLE_TOL = 1e-9    # tests/reference_satellite.py: _THROTTLE_TOL
_ASSERT_MSG = "PowerBus.advance: more than one regime change in one interval"


cdef class FleetKernel(FleetBase):
    """Compiled twin of :class:`orbsched.engine.fleet_twin.FleetTwin` (constructor, attributes,
    methods and results the same; documented in :class:`orbsched.engine.fleet.Fleet`): the
    arrays and queries of :class:`orbsched._kernels.fleet_base.FleetBase`, and the events."""

    def touch(self, i, t):
        """Recorder.touch: GPU-seconds held (by illumination state) and seconds in eclipse
        since the satellite's last touch, added up to t."""
        cdef Py_ssize_t j = self._idx(i)
        cdef double v = _qtime(t, "Fleet.touch")
        cdef State* S = &self.S
        cdef double dt = v - S.last[j]
        cdef i64 held
        cdef int st
        if v < S.last[j]:
            raise touch_backwards_error(j, v, S.last[j])
        if dt > 0.0:
            held = S.held[j]
            st = S.state[j]
            if held:
                S.busy[st * S.n + j] += <double>held * dt
            if st != 0:
                S.dark[j] += dt
            S.last[j] = v

    def touch_all(self, t):
        """:meth:`touch` every satellite at t (Recorder._touch_all)."""
        cdef double v = _qtime(t, "Fleet.touch")
        cdef State* S = &self.S
        cdef Py_ssize_t i, bad = -1, n = S.n
        cdef double dt
        cdef i64 held
        cdef int st
        with nogil:
            for i in range(n):
                if S.last[i] > v:
                    bad = i
                    break
            if bad < 0:
                for i in range(n):
                    dt = v - S.last[i]
                    if dt > 0.0:
                        held = S.held[i]
                        st = S.state[i]
                        if held != 0:
                            S.busy[st * n + i] += <double>held * dt
                        if st != 0:
                            S.dark[i] += dt
                        S.last[i] = v
        if bad >= 0:
            raise touch_backwards_error(bad, v, S.last[bad])

    def add_gpus(self, i, held, drawing, replica):
        """Change the GPUs held, drawing active power, and held by inference replicas (by the
        given numbers, which may be negative)."""
        cdef Py_ssize_t j = self._idx(i)
        cdef State* S = &self.S
        dh = check_count("Fleet.add_gpus", "held", held, None)
        dd = check_count("Fleet.add_gpus", "drawing", drawing, None)
        dr = check_count("Fleet.add_gpus", "replica", replica, None)
        h, d, r = S.held[j] + dh, S.drawing[j] + dd, S.replica[j] + dr
        for name, x in (("held", h), ("drawing", d), ("replica", r)):
            if x < 0:
                raise count_error("Fleet.add_gpus", j, name, x)
        S.held[j] = h
        S.drawing[j] = d
        S.replica[j] = r
        _set_free(S, j)

    def fail_gpu(self, i):
        """One GPU of the satellite fails for good."""
        cdef Py_ssize_t j = self._idx(i)
        cdef State* S = &self.S
        if S.gpus[j] <= 0:
            raise count_error("Fleet.fail_gpu", j, "gpus", S.gpus[j] - 1)
        S.gpus[j] -= 1
        _set_free(S, j)

    def fail_satellite(self, i):
        """The satellite fails for good: no free GPUs from now on."""
        cdef Py_ssize_t j = self._idx(i)
        if self.S.failed[j]:
            raise failed_twice_error(j)
        self.S.failed[j] = 1
        _set_free(&self.S, j)

    def begin_reboot(self, i):
        cdef Py_ssize_t j = self._idx(i)
        self.S.reboot[j] += 1
        _set_free(&self.S, j)

    def end_reboot(self, i):
        cdef Py_ssize_t j = self._idx(i)
        if self.S.reboot[j] <= 0:
            raise count_error("Fleet.end_reboot", j, "rebooting", self.S.reboot[j] - 1)
        self.S.reboot[j] -= 1
        _set_free(&self.S, j)

    def set_illumination(self, i, fraction, state):
        """The illumination fraction (0 umbra .. 1 full Sun) and state (SUNLIT, PENUMBRA,
        UMBRA) from now on; :meth:`apply` makes them act."""
        cdef Py_ssize_t j = self._idx(i)
        cdef double f
        if type(fraction) is float and 0.0 <= <double>fraction <= 1.0:
            f = fraction
        else:
            f = check_fraction(fraction)
        if not (type(state) is int and 0 <= state <= 2):
            state = check_state(state)
        self.S.illum[j] = f
        self.S.state[j] = state

    # ---- the per-event update ---------------------------------------------------------------
    def apply(self, i, t):
        """Satellite.apply: bring bus and node to t, choose the throttle, set the new inputs;
        returns the flags SPEED_CHANGED | MUST_SHED (see :meth:`must_shed`) and stores the
        next threshold time in ``threshold_s``."""
        cdef Py_ssize_t j = self._idx(i)
        cdef State* S = &self.S
        cdef Kind* K = &S.kc[S.kind[j]]
        cdef double old = S.speed[j], illum = S.illum[j], tb, tn, load, speed, absorbed
        cdef double allowed, f
        cdef i64 d = S.drawing[j]
        cdef double array_w = K.array_full * illum
        cdef bint changed = False
        if not S.has_node[j]:
            tb = self._bus_time(t, j)
            if _bus_update(S, j, tb, array_w, K.base + K.k_active * <double>d * old):
                raise AssertionError(_ASSERT_MSG)
        else:
            tn = self._node_time(t, j)
            speed = 1.0
            load = K.base + K.k_active * <double>d * 1.0
            self._node_to(j, tn)
            _node_set(S, j, True, illum, load)
            if d and self._node_next_gil(j) <= S.t_node[j]:
                f = S.node_f[j]
                if f < 0.0:
                    f = 0.0
                elif f > 1.0:
                    f = 1.0
                absorbed = K.qs + f * K.dq
                allowed = K.allowed - absorbed
                allowed = allowed if allowed > 0.0 else 0.0
                speed = (allowed - K.base) / (K.k_active * <double>d) if K.k_active > 0 \
                    else 1.0
                speed = speed if speed > 0.0 else 0.0
                speed = speed if speed < 1.0 else 1.0
                load = K.base + K.k_active * <double>d * speed
                _node_set(S, j, False, 0.0, load)     # at the same time: nothing to advance
            S.speed[j] = speed
            tb = self._bus_time(t, j)
            if _bus_update(S, j, tb, array_w, load):
                raise AssertionError(_ASSERT_MSG)
            changed = fabs(speed - old) > THROTTLE_TOL
        S.threshold[j] = self._threshold(j)
        return (SPEED_CHANGED if changed else 0) | (MUST_SHED if _must_shed(S, j) else 0)

    def must_shed(self, i):
        """GPU load must be shed now: ``deficit_w > 1e-6`` W, or GPUs draw while the battery
        is at its payload floor and discharging (Satellite.payload_short)."""
        return _must_shed(&self.S, self._idx(i))

    def next_threshold(self, i):
        """Satellite.next_threshold_s: the battery becomes full or reaches its floor, the
        payload floor (GPUs drawing), or the node its limit (GPUs drawing); inf if never."""
        return self._threshold(self._idx(i))

    def advance(self, i, t):
        """Integrate the satellite's bus, then its node, to t under the current inputs."""
        cdef Py_ssize_t j = self._idx(i)
        cdef double v = self._bus_time(t, j)
        if _bus_advance(&self.S, j, v):
            raise AssertionError(_ASSERT_MSG)
        if self.S.has_node[j]:
            v = self._node_time(t, j)
            self._node_to(j, v)

    def advance_buses(self, t):
        """Integrate every bus to t (the recorder's samples; the energy ledger then holds the
        totals up to t)."""
        cdef State* S = &self.S
        cdef Py_ssize_t i, stop = S.n, n = S.n
        cdef double v
        cdef bint failed = False
        if n == 0:
            return
        v = _qtime(t, "PowerBus")
        with nogil:
            for i in range(n):
                if v < S.t_bus[i]:
                    stop = i
                    break
                if _bus_advance(S, i, v):
                    stop = i
                    failed = True
                    break
        if failed:
            raise AssertionError(_ASSERT_MSG)
        if stop < n:
            raise backwards_error("PowerBus", t, S.t_bus[stop])

    def advance_nodes(self, t):
        """Integrate every thermal node to t."""
        cdef State* S = &self.S
        cdef Py_ssize_t i, start = 0, stop, n = S.n
        cdef double v
        cdef bint behind
        if not len(self._node_idx):
            return
        v = _qtime(t, "ThermalNode")
        while start < n:
            stop = n
            behind = False
            with nogil:
                for i in range(start, n):
                    if not S.has_node[i]:
                        continue
                    if v < S.t_node[i]:
                        stop = i
                        behind = True
                        break
                    if _node_advance(S, i, v):
                        stop = i
                        break
            if stop == n:
                return
            if behind:
                raise backwards_error("ThermalNode", t, S.t_node[stop])
            self._node_to(stop, v)                    # the twin's integral
            start = stop + 1

    # ---- battery queries --------------------------------------------------------------------
