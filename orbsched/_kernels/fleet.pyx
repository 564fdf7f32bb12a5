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
from libc.math cimport INFINITY, NAN, fabs, isfinite, pow
from libc.stdlib cimport calloc, malloc, realloc
from libc.stdlib cimport free as c_free

from .heap cimport Entry, _pop, _push, i64
from .thermal cimport _temperature_after, _time_between
from . import reference as _reference
from .fleet_support import (
    ALL_ARRAYS,
    ENERGY_TERMS,
    MUST_SHED,
    SPEED_CHANGED,
    allocate,
    backwards_error,
    check_count,
    check_fraction,
    check_index,
    check_state,
    check_time,
    count_error,
    failed_twice_error,
    fleet_kinds,
    query_time,
    readonly,
    touch_backwards_error,
)
from .reference_fleet import check_search_args, relax_rk4_k
from ..scenario.checks import check_number

cnp.import_array()

cdef extern from "Python.h":
    Py_ssize_t _as_ssize "PyLong_AsSsize_t"(object o) noexcept
    void PyErr_Clear() noexcept
    double PyFloat_AS_DOUBLE(object o) noexcept

cdef object F64 = np.float64
cdef object _twin_time_between = _reference.time_between_k
cdef object _twin_temperature_after = _reference.temperature_after_k
cdef double S_PER_H = 3600.0
cdef double POWER_TOL_W = 1e-6     # orbsched.engine.core._POWER_TOL_W
cdef double THROTTLE_TOL = 1e-9    # orbsched.engine.satellite._THROTTLE_TOL
cdef double T_TOL_K = 1e-9         # orbsched.models.thermal._T_TOL_K
cdef double Q_RTOL = 1e-12         # orbsched.models.thermal._Q_RTOL
cdef int N_ENERGY = 8
_ASSERT_MSG = "PowerBus.advance: more than one regime change in one interval"


cdef struct Kind:
    # one hardware kind's constants (fleet_support.KIND_FIELDS)
    double array_full, base, k_active, start_s
    double cap, floor, full, floor_at, payload_floor, mc, md, ec, ed, e0
    bint node
    double cond, ts4, qs, dq, heat_cap, tmax, allowed, beta, temp0


cdef struct State:
    Py_ssize_t n
    Kind* kc
    int* kind
    i64* gpus
    i64* held
    i64* drawing
    i64* replica
    i64* reboot
    i64* free
    unsigned char* failed
    unsigned char* has_node
    signed char* state
    double* illum
    double* speed
    double* load
    double* array
    double* stored
    double* t_bus
    double* rate
    double* temp
    double* t_node
    double* heat_in
    double* radiated
    double* dark
    double* last
    double* threshold
    double* energy     # (8, n) row-major
    double* busy       # (3, n) row-major
    double* node_f
    double* node_p
    double* node_q
    double* node_u


# ---- the power bus (orbsched.models.power.PowerBus) -----------------------------------------
cdef inline void _flows(State* S, Py_ssize_t i, double* f) noexcept nogil:
    """PowerBus._new_flows: f = (array, load, served, unserved, charge, discharge, loss,
    curtailed, battery rate)."""
    cdef Kind* K = &S.kc[S.kind[i]]
    cdef double a = S.array[i], l = S.load[i], e = S.stored[i]
    cdef bint full = e >= K.full
    cdef bint floor = e <= K.floor_at
    cdef double pc = 0.0, pd = 0.0, curt = 0.0, unserved = 0.0, served, s, d
    if a >= l:
        served = l
        s = a - l
        if s > 0.0 and not full:
            pc = K.mc if K.mc < s else s
        curt = s - pc
    else:
        d = l - a
        if not floor:
            pd = K.md if K.md < d else d
        served = a + pd
        unserved = d - pd
    f[0] = a
    f[1] = l
    f[2] = served
    f[3] = unserved
    f[4] = pc
    f[5] = pd
    f[6] = (1.0 - K.ec) * pc + (1.0 / K.ed - 1.0) * pd
    f[7] = curt
    f[8] = K.ec * pc - pd / K.ed


cdef inline double _rate_of(State* S, Py_ssize_t i) noexcept nogil:
    cdef double f[9]
    _flows(S, i, f)
    return f[8]


cdef inline int _bus_advance(State* S, Py_ssize_t i, double t_s) noexcept nogil:
    """PowerBus._advance to a checked time; 1 if the bound logic fails (the twin's
    AssertionError), else 0.  Leaves the mirrored rate current."""
    cdef Kind* K = &S.kc[S.kind[i]]
    cdef double f[9]
    cdef double e, t, rate, tau, dt
    cdef bint bound
    cdef int it, k
    cdef Py_ssize_t n = S.n
    for it in range(3):
        e = S.stored[i]
        t = S.t_bus[i]
        _flows(S, i, f)
        rate = f[8]
        if rate > 0.0:
            tau = (K.cap - e) * S_PER_H / rate
        elif rate < 0.0:
            tau = (e - K.floor) * S_PER_H / -rate
        else:
            tau = INFINITY
        bound = t + tau <= t_s
        dt = tau if bound else t_s - t
        if not bound and not dt > 0.0:
            S.rate[i] = rate
            return 0
        for k in range(8):
            S.energy[k * n + i] += f[k] * dt
        if bound:
            S.stored[i] = K.cap if rate > 0.0 else K.floor
            S.t_bus[i] = t + tau
            continue
        S.stored[i] = e + rate * dt / S_PER_H
        S.t_bus[i] = t_s
        S.rate[i] = _rate_of(S, i)
        return 0
    S.rate[i] = _rate_of(S, i)
    return 1


cdef inline int _bus_update(State* S, Py_ssize_t i, double t_s, double a, double l) noexcept nogil:
    """PowerBus._update: advance, then the new array output and load."""
    if _bus_advance(S, i, t_s):
        return 1
    S.array[i] = a
    S.load[i] = l
    S.rate[i] = _rate_of(S, i)
    return 0


cdef inline double _bus_threshold(State* S, Py_ssize_t i) noexcept nogil:
    """Satellite.next_threshold_s without its thermal term: the bus's next bound, and the
    payload floor while GPUs draw."""
    cdef Kind* K = &S.kc[S.kind[i]]
    cdef double rate = _rate_of(S, i)
    cdef double e = S.stored[i], tau, t, above, x
    if rate > 0.0:
        tau = (K.cap - e) * S_PER_H / rate
    elif rate < 0.0:
        tau = (e - K.floor) * S_PER_H / -rate
    else:
        tau = INFINITY
    t = S.t_bus[i] + tau
    if S.drawing[i]:
        above = e - K.payload_floor
        if rate < 0.0 and above > 0.0:
            x = S.t_bus[i] + above * 3600.0 / -rate
            if x < t:
                t = x
    return t


cdef inline double _stored_at(State* S, Py_ssize_t i, double t) noexcept nogil:
    """Stored energy at t >= t_bus: THE formula (Fleet.stored_at)."""
    cdef Kind* K = &S.kc[S.kind[i]]
    cdef double x = S.stored[i] + S.rate[i] / S_PER_H * (t - S.t_bus[i])
    x = x if x > K.floor else K.floor
    return x if x < K.cap else K.cap


cdef inline bint _power(State* S, Py_ssize_t i, i64 g, double t) noexcept nogil:
    """View.can_host's power test (t already checked against t_bus).  Written without
    short-circuits (``&``, ``|`` on the comparisons; the same comparisons of the same doubles):
    in a batch over a fleet half in shadow a branch per test is a misprediction per satellite."""
    cdef Kind* K = &S.kc[S.kind[i]]
    cdef double need = S.load[i] + K.k_active * <double>g * S.speed[i] - 1e-9
    cdef double array = S.array[i]
    cdef double stored = _stored_at(S, i, t)
    cdef double above = stored - K.payload_floor
    return (array >= need) | ((above > 1e-9 * K.cap) & (array + K.md >= need)
                              & (above * 3600.0 >= (need - array) * K.start_s))


cdef inline int _host(State* S, Py_ssize_t i, i64 g, double t, bint sunlit_only) noexcept nogil:
    """Fleet.is_host: 1 or 0; -1 when t is before the satellite's bus time."""
    if t < S.t_bus[i]:
        return -1 if (S.free[i] >= g) & ((not sunlit_only) | (S.state[i] == 0)) else 0
    return (S.free[i] >= g) & ((not sunlit_only) | (S.state[i] == 0)) & _power(S, i, g, t)


cdef inline bint _payload_short(State* S, Py_ssize_t i) noexcept nogil:
    cdef Kind* K = &S.kc[S.kind[i]]
    return (S.drawing[i] > 0 and S.stored[i] <= K.payload_floor + 1e-9 * K.cap
            and _rate_of(S, i) < 0.0)


cdef inline bint _must_shed(State* S, Py_ssize_t i) noexcept nogil:
    cdef double f[9]
    _flows(S, i, f)
    return f[3] > POWER_TOL_W or _payload_short(S, i)


cdef inline void _set_free(State* S, Py_ssize_t i) noexcept nogil:
    cdef i64 x
    if S.failed[i] or S.reboot[i]:
        S.free[i] = 0
    else:
        x = S.gpus[i] - S.held[i]
        S.free[i] = x if x > 0 else 0


# ---- the thermal node (orbsched.models.thermal.ThermalNode) --------------------------------
cdef inline void _node_set(State* S, Py_ssize_t i, bint has_f, double f, double p) noexcept nogil:
    """ThermalNode._apply: new inputs (the fraction only if has_f), heat input, equilibrium."""
    cdef Kind* K = &S.kc[S.kind[i]]
    cdef double q
    if has_f:
        S.node_f[i] = f
    S.node_p[i] = p
    f = S.node_f[i]
    if f < 0.0:
        f = 0.0
    elif f > 1.0:
        f = 1.0
    q = K.qs + f * K.dq + p
    S.node_q[i] = q
    S.node_u[i] = pow(q / K.cond + K.ts4, 0.25)


cdef inline void _node_commit(State* S, Py_ssize_t i, double t_s, double new) noexcept nogil:
    """The rest of ThermalNode._advance once the new temperature is known."""
    cdef Kind* K = &S.kc[S.kind[i]]
    cdef double dt = t_s - S.t_node[i]
    cdef double temp = S.temp[i]
    cdef double q_dt = S.node_q[i] * dt
    S.heat_in[i] += q_dt
    S.radiated[i] += q_dt - K.heat_cap * (new - temp)
    S.temp[i] = new
    S.t_node[i] = t_s


cdef inline bint _node_advance(State* S, Py_ssize_t i, double t_s) noexcept nogil:
    """ThermalNode._advance to a checked time; True if the twin's integral must be used."""
    cdef double dt = t_s - S.t_node[i]
    cdef bint bad = False
    cdef double new
    if dt == 0.0:
        return False
    new = _temperature_after(S.temp[i], dt, S.node_u[i], S.kc[S.kind[i]].beta, &bad)
    if bad:
        return True
    _node_commit(S, i, t_s, new)
    return False


cdef inline double _node_next(State* S, Py_ssize_t i, bint* bad) noexcept nogil:
    """ThermalNode.next_threshold_s (bad: the twin's integral must be used)."""
    cdef Kind* K = &S.kc[S.kind[i]]
    cdef double allowed = K.allowed
    if not S.node_q[i] > allowed + Q_RTOL * fabs(allowed):
        return INFINITY
    if S.temp[i] >= K.tmax - T_TOL_K:
        return S.t_node[i]
    return S.t_node[i] + _time_between(S.temp[i], K.tmax, S.node_u[i], K.beta, bad)


cdef inline bint _fast_time(object t, double now, double* out):
    """The models' fast time check: a float (or numpy float64), finite, not before now."""
    cdef double v
    if type(t) is float or type(t) is F64:
        v = PyFloat_AS_DOUBLE(t)
        if now <= v and v < INFINITY:
            out[0] = v
            return True
    return False


cdef inline double _qtime(object t, str owner) except? -1.0:
    """A finite time (query_time's fast path)."""
    cdef double v
    if type(t) is float or type(t) is F64:
        v = PyFloat_AS_DOUBLE(t)
        if isfinite(v):
            return v
    return query_time(owner, t)


cdef inline i64 _count(object g, str owner) except? -1:
    """A GPU count >= 0 (check_count's fast path)."""
    cdef Py_ssize_t v
    if type(g) is int:
        v = _as_ssize(g)
        if v >= 0:
            return v
        PyErr_Clear()
    return check_count(owner, "gpus", g)


cdef class FleetKernel:
    """Compiled twin of :class:`orbsched.engine.fleet_twin.FleetTwin` (constructor, attributes,
    methods and results the same; documented in :class:`orbsched.engine.fleet.Fleet`)."""

    cdef State S
    cdef readonly Py_ssize_t n
    cdef readonly object gpus, held, drawing, replica, rebooting, free, failed, has_thermal
    cdef readonly object state, illum, speed, load_w, array_w, array_full_w, k_active_w
    cdef readonly object battery_start_s, stored_wh, t_bus_s, rate_w, capacity_wh, floor_wh
    cdef readonly object payload_floor_wh, max_discharge_w, temperature_k, t_node_s, heat_in_j
    cdef readonly object radiated_j, dark_s, last_touch_s, threshold_s, energy_ws, busy_gpu_s
    cdef object _arrays, _node_idx, _node_beta
    cdef double _t0

    def __cinit__(self):
        self.S.kc = NULL

    def __dealloc__(self):
        c_free(self.S.kc)

    def __init__(self, hardware, n, *, t_s=0.0, illumination=None, state=None):
        check_number("Fleet", "t_s", t_s)
        specs, kind = fleet_kinds(hardware, n)
        a, kc = allocate(specs, kind, float(t_s), illumination, state)
        a["node_f"], a["node_p"], a["node_q"], a["node_u"] = (np.zeros(len(kind))
                                                              for _ in range(4))
        self._arrays = a
        self.n = len(kind)
        self._t0 = float(t_s)
        self.gpus = readonly(a["gpus"])
        self.held = readonly(a["held"])
        self.drawing = readonly(a["drawing"])
        self.replica = readonly(a["replica"])
        self.rebooting = readonly(a["rebooting"])
        self.free = readonly(a["free"])
        self.failed = readonly(a["failed"])
        self.has_thermal = readonly(a["has_thermal"])
        self.state = readonly(a["state"])
        self.illum = readonly(a["illum"])
        self.speed = readonly(a["speed"])
        self.load_w = readonly(a["load_w"])
        self.array_w = readonly(a["array_w"])
        self.array_full_w = readonly(a["array_full_w"])
        self.k_active_w = readonly(a["k_active_w"])
        self.battery_start_s = readonly(a["battery_start_s"])
        self.stored_wh = readonly(a["stored_wh"])
        self.t_bus_s = readonly(a["t_bus_s"])
        self.rate_w = readonly(a["rate_w"])
        self.capacity_wh = readonly(a["capacity_wh"])
        self.floor_wh = readonly(a["floor_wh"])
        self.payload_floor_wh = readonly(a["payload_floor_wh"])
        self.max_discharge_w = readonly(a["max_discharge_w"])
        self.temperature_k = readonly(a["temperature_k"])
        self.t_node_s = readonly(a["t_node_s"])
        self.heat_in_j = readonly(a["heat_in_j"])
        self.radiated_j = readonly(a["radiated_j"])
        self.dark_s = readonly(a["dark_s"])
        self.last_touch_s = readonly(a["last_touch_s"])
        self.threshold_s = readonly(a["threshold_s"])
        self.energy_ws = readonly(a["energy_ws"])
        self.busy_gpu_s = readonly(a["busy_gpu_s"])
        self._bind(a, kc)
        has = a["has_thermal"]
        self._node_idx = np.flatnonzero(has)
        self._node_beta = np.array([c["beta"] for c in kc], dtype=np.float64)[kind] \
            if kc else np.zeros(0)
        cdef State* S = &self.S
        cdef Py_ssize_t i
        cdef Kind* K
        for i in range(self.n):
            K = &S.kc[S.kind[i]]
            # PowerBus(array_w=array_full * illumination, load_w=base) and ThermalNode(...,
            # illumination_fraction, dissipation_w=base)
            S.array[i] = K.array_full * S.illum[i]
            S.load[i] = K.base
            S.rate[i] = _rate_of(S, i)
            if K.node:
                _node_set(S, i, True, S.illum[i], K.base)
        for i in range(self.n):
            S.threshold[i] = self._threshold(i)

    cdef _bind(self, dict a, list kc):
        cdef State* S = &self.S
        cdef Py_ssize_t k
        cdef Kind* K
        for name, arr in a.items():
            if not (arr.flags.c_contiguous and arr.flags.writeable):
                raise AssertionError(f"FleetKernel: array {name} is not contiguous")
        S.n = len(a["kind"])
        S.kc = <Kind*> malloc(max(1, len(kc)) * sizeof(Kind))
        if S.kc == NULL:
            raise MemoryError("FleetKernel: out of memory")
        for k, c in enumerate(kc):
            K = &S.kc[k]
            K.array_full, K.base, K.k_active = c["array_full_w"], c["base_w"], c["k_active_w"]
            K.start_s, K.cap, K.floor = c["start_s"], c["capacity_wh"], c["floor_wh"]
            K.full, K.floor_at = c["full_wh"], c["floor_at_wh"]
            K.payload_floor, K.mc, K.md = (c["payload_floor_wh"], c["max_charge_w"],
                                           c["max_discharge_w"])
            K.ec, K.ed, K.e0 = c["charge_eff"], c["discharge_eff"], c["stored0_wh"]
            K.node = c["has_node"]
            K.cond, K.ts4, K.qs = c["conductance_w_k4"], c["sink4_k4"], c["absorbed_shadow_w"]
            K.dq, K.heat_cap, K.tmax = (c["absorbed_rise_w"], c["heat_capacity_j_k"],
                                        c["max_temperature_k"])
            K.allowed, K.beta, K.temp0 = c["allowed_heat_w"], c["beta"], c["temperature0_k"]
        S.kind = <int*> cnp.PyArray_DATA(a["kind"])
        S.gpus = <i64*> cnp.PyArray_DATA(a["gpus"])
        S.held = <i64*> cnp.PyArray_DATA(a["held"])
        S.drawing = <i64*> cnp.PyArray_DATA(a["drawing"])
        S.replica = <i64*> cnp.PyArray_DATA(a["replica"])
        S.reboot = <i64*> cnp.PyArray_DATA(a["rebooting"])
        S.free = <i64*> cnp.PyArray_DATA(a["free"])
        S.failed = <unsigned char*> cnp.PyArray_DATA(a["failed"])
        S.has_node = <unsigned char*> cnp.PyArray_DATA(a["has_thermal"])
        S.state = <signed char*> cnp.PyArray_DATA(a["state"])
        S.illum = <double*> cnp.PyArray_DATA(a["illum"])
        S.speed = <double*> cnp.PyArray_DATA(a["speed"])
        S.load = <double*> cnp.PyArray_DATA(a["load_w"])
        S.array = <double*> cnp.PyArray_DATA(a["array_w"])
        S.stored = <double*> cnp.PyArray_DATA(a["stored_wh"])
        S.t_bus = <double*> cnp.PyArray_DATA(a["t_bus_s"])
        S.rate = <double*> cnp.PyArray_DATA(a["rate_w"])
        S.temp = <double*> cnp.PyArray_DATA(a["temperature_k"])
        S.t_node = <double*> cnp.PyArray_DATA(a["t_node_s"])
        S.heat_in = <double*> cnp.PyArray_DATA(a["heat_in_j"])
        S.radiated = <double*> cnp.PyArray_DATA(a["radiated_j"])
        S.dark = <double*> cnp.PyArray_DATA(a["dark_s"])
        S.last = <double*> cnp.PyArray_DATA(a["last_touch_s"])
        S.threshold = <double*> cnp.PyArray_DATA(a["threshold_s"])
        S.energy = <double*> cnp.PyArray_DATA(a["energy_ws"])
        S.busy = <double*> cnp.PyArray_DATA(a["busy_gpu_s"])
        S.node_f = <double*> cnp.PyArray_DATA(a["node_f"])
        S.node_p = <double*> cnp.PyArray_DATA(a["node_p"])
        S.node_q = <double*> cnp.PyArray_DATA(a["node_q"])
        S.node_u = <double*> cnp.PyArray_DATA(a["node_u"])

    # ---- helpers with the GIL -------------------------------------------------------------
    cdef inline Py_ssize_t _idx(self, object i) except -1:
        cdef Py_ssize_t v
        if type(i) is int:
            v = _as_ssize(i)
            if 0 <= v < self.n:
                return v
            PyErr_Clear()
        return check_index(i, self.n)

    cdef double _bus_time(self, object t, Py_ssize_t i) except? -1.0:
        cdef double v
        if _fast_time(t, self.S.t_bus[i], &v):
            return v
        return check_time("PowerBus", t, self.S.t_bus[i])

    cdef double _node_time(self, object t, Py_ssize_t i) except? -1.0:
        cdef double v
        if _fast_time(t, self.S.t_node[i], &v):
            return v
        return check_time("ThermalNode", t, self.S.t_node[i])

    cdef double _query(self, object t, Py_ssize_t i) except? -1.0:
        """A time for a battery query of satellite i: finite, not before its bus time."""
        cdef double v = _qtime(t, "PowerBus")
        if v < self.S.t_bus[i]:
            raise backwards_error("PowerBus", t, self.S.t_bus[i])
        return v

    cdef int _node_to(self, Py_ssize_t i, double t_s) except -1:
        """ThermalNode._advance with the twin's integral where the compiled one gives up."""
        cdef State* S = &self.S
        cdef double new
        if _node_advance(S, i, t_s):
            new = _twin_temperature_after(S.temp[i], t_s - S.t_node[i], S.node_u[i],
                                          S.kc[S.kind[i]].beta)
            _node_commit(S, i, t_s, new)
        return 0

    cdef double _node_next_gil(self, Py_ssize_t i) except? -1.0:
        cdef State* S = &self.S
        cdef bint bad = False
        cdef double x = _node_next(S, i, &bad)
        cdef Kind* K
        if bad:
            K = &S.kc[S.kind[i]]
            x = S.t_node[i] + _twin_time_between(S.temp[i], K.tmax, S.node_u[i], K.beta)
        return x

    cdef double _threshold(self, Py_ssize_t i) except? -1.0:
        """Satellite.next_threshold_s."""
        cdef double t = _bus_threshold(&self.S, i), x
        if self.S.drawing[i] and self.S.has_node[i]:
            x = self._node_next_gil(i)
            if x < t:
                t = x
        return t

    # ---- GPUs, illumination, utilisation --------------------------------------------------
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
        dh = check_count("Fleet.add_gpus", "held", held, None) if type(held) is not int \
            else held
        dd = check_count("Fleet.add_gpus", "drawing", drawing, None) \
            if type(drawing) is not int else drawing
        dr = check_count("Fleet.add_gpus", "replica", replica, None) \
            if type(replica) is not int else replica
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
    def stored_at(self, i, t):
        """Stored energy (Wh) at t >= the bus time: ``stored_wh + rate_w / 3600 (t - t_bus_s)``
        clipped to [floor, capacity] - the one place it is computed."""
        cdef Py_ssize_t j = self._idx(i)
        return _stored_at(&self.S, j, self._query(t, j))

    def soc(self, i, t):
        """State of charge at t (View.soc; 1 for a zero-capacity battery)."""
        cdef Py_ssize_t j = self._idx(i)
        cdef double e = _stored_at(&self.S, j, self._query(t, j))
        cdef double c = self.S.kc[self.S.kind[j]].cap
        return e / c if c > 0 else 1.0

    def battery_usable_wh(self, i, t):
        """Energy the battery can still deliver to the bus before its floor (Wh, at t)."""
        cdef Py_ssize_t j = self._idx(i)
        cdef Kind* K = &self.S.kc[self.S.kind[j]]
        cdef double x = _stored_at(&self.S, j, self._query(t, j)) - K.floor
        return (x if x > 0.0 else 0.0) * K.ed

    def payload_energy_wh(self, i, t):
        """Energy the battery can still give GPU work before the payload floor (Wh, at t)."""
        cdef Py_ssize_t j = self._idx(i)
        cdef Kind* K = &self.S.kc[self.S.kind[j]]
        cdef double x = _stored_at(&self.S, j, self._query(t, j)) - K.payload_floor
        return (x if x > 0.0 else 0.0) * K.ed

    def state_of_charge(self, i):
        """stored / capacity at the bus time (1 for a zero-capacity battery)."""
        cdef Py_ssize_t j = self._idx(i)
        cdef double c = self.S.kc[self.S.kind[j]].cap
        return self.S.stored[j] / c if c > 0 else 1.0

    def socs(self):
        """:meth:`state_of_charge` of every satellite (float64 array)."""
        cdef State* S = &self.S
        out = np.empty(S.n)
        cdef double[::1] o = out
        cdef Py_ssize_t i
        cdef double c
        with nogil:
            for i in range(S.n):
                c = S.kc[S.kind[i]].cap
                o[i] = S.stored[i] / c if c > 0 else 1.0
        return out

    def deficit_w(self, i):
        """Load the bus cannot serve now (W)."""
        cdef double f[9]
        _flows(&self.S, self._idx(i), f)
        return f[3]

    def battery_rate_w(self, i):
        """dE/dt of the stored energy now (W)."""
        return _rate_of(&self.S, self._idx(i))

    def at_floor(self, i):
        cdef Py_ssize_t j = self._idx(i)
        return self.S.stored[j] <= self.S.kc[self.S.kind[j]].floor_at

    def is_full(self, i):
        cdef Py_ssize_t j = self._idx(i)
        return self.S.stored[j] >= self.S.kc[self.S.kind[j]].full

    def ledger_values(self, i):
        """``PowerBus.ledger``'s fields, in its order (``Fleet.ledger`` makes the
        EnergyLedger)."""
        cdef Py_ssize_t j = self._idx(i)
        cdef State* S = &self.S
        cdef int k
        out = [self._t0, S.t_bus[j], S.kc[S.kind[j]].e0, S.stored[j]]
        for k in range(N_ENERGY):
            out.append(S.energy[k * S.n + j] / S_PER_H)
        return tuple(out)

    # ---- thermal queries --------------------------------------------------------------------
    def temperature_at(self, i, t):
        """Node temperature at t >= the node time (K; NaN without a thermal model)."""
        cdef Py_ssize_t j = self._idx(i)
        cdef State* S = &self.S
        cdef double v, dt, r
        cdef bint bad = False
        if not S.has_node[j]:
            query_time("ThermalNode", t)
            return NAN
        v = self._node_time(t, j)
        dt = v - S.t_node[j]
        r = _temperature_after(S.temp[j], dt, S.node_u[j], S.kc[S.kind[j]].beta, &bad)
        if bad:
            r = _twin_temperature_after(S.temp[j], dt, S.node_u[j], S.kc[S.kind[j]].beta)
        return r

    def temperatures_at(self, t, max_step_s=30.0):
        """Every node's temperature at t (NaN without a thermal model): nodes unchanged for
        more than 20 steps are first advanced exactly, then classical Runge-Kutta
        (``relax_rk4_k``), as ``temperatures_at_k`` does."""
        cdef State* S = &self.S
        cdef Py_ssize_t j
        cdef double v
        check_number("Fleet.temperatures_at", "max_step_s", max_step_s, lo=0.0, lo_open=True)
        v = _qtime(t, "ThermalNode")
        idx = self._node_idx
        t_node = self.t_node_s[idx]
        behind = idx[t_node > t]
        if len(behind):
            raise backwards_error("ThermalNode", t, S.t_node[behind[0]])
        out = np.full(S.n, np.nan)
        if not len(idx):
            return out
        for j in idx[t - t_node > 20.0 * max_step_s].tolist():
            self._node_to(j, v)
        out[idx] = relax_rk4_k(self.temperature_k[idx], self.t_node_s[idx],
                               self._arrays["node_u"][idx], self._node_beta[idx], t,
                               max_step_s)
        return out

    # ---- hosts ------------------------------------------------------------------------------
    cdef Py_ssize_t _first_behind(self, double v) noexcept:
        cdef State* S = &self.S
        cdef Py_ssize_t i, bad = -1
        with nogil:
            for i in range(S.n):
                if S.t_bus[i] > v:
                    bad = i
                    break
        return bad

    def powered(self, gpus, t):
        """Mask of satellites whose bus could serve ``gpus`` more busy GPUs at t
        (View.powered)."""
        cdef i64 g = _count(gpus, "Fleet.powered")
        cdef double v = _qtime(t, "PowerBus")
        cdef State* S = &self.S
        cdef Py_ssize_t i, bad = self._first_behind(v)
        if bad >= 0:
            raise backwards_error("PowerBus", t, S.t_bus[bad])
        out = np.empty(S.n, dtype=np.bool_)
        cdef unsigned char[::1] o = out.view(np.uint8)
        with nogil:
            for i in range(S.n):
                o[i] = _power(S, i, g, v)
        return out

    def hosts(self, gpus, t, sunlit_only=False):
        """Satellites that can take ``gpus`` more GPUs at t (free GPUs and power; sunlit
        ones only if ``sunlit_only``), by index (View.hosts)."""
        cdef i64 g = _count(gpus, "Fleet.hosts")
        cdef double v = _qtime(t, "PowerBus")
        cdef bint sun = sunlit_only
        cdef State* S = &self.S
        cdef Py_ssize_t i, bad = self._first_behind(v)
        if bad >= 0:
            raise backwards_error("PowerBus", t, S.t_bus[bad])
        mask = np.empty(S.n, dtype=np.bool_)
        cdef unsigned char[::1] o = mask.view(np.uint8)
        with nogil:
            for i in range(S.n):
                o[i] = _host(S, i, g, v, sun)      # 0 or 1: no satellite is behind t here
        return np.flatnonzero(mask)

    def first_host(self, gpus, t, sunlit_only=False):
        """The lowest-indexed satellite that can take ``gpus`` more GPUs at t (see
        :meth:`hosts`), or -1: a scan that stops at the first."""
        cdef i64 g = _count(gpus, "Fleet.first_host")
        cdef double v = _qtime(t, "PowerBus")
        cdef bint sun = sunlit_only
        cdef State* S = &self.S
        cdef Py_ssize_t i, found = -1
        cdef int r = 0
        with nogil:
            for i in range(S.n):
                r = _host(S, i, g, v, sun)
                if r != 0:
                    found = i
                    break
        if r < 0:
            raise backwards_error("PowerBus", t, S.t_bus[found])
        return found

    def is_host(self, i, gpus, t, sunlit_only):
        """Free GPUs, power (and sunlight, if ``sunlit_only``) for ``gpus`` more GPUs at t."""
        cdef Py_ssize_t j = self._idx(i)
        cdef i64 g = _count(gpus, "Fleet.is_host")
        cdef double v = _qtime(t, "PowerBus")
        cdef int r = _host(&self.S, j, g, v, sunlit_only)
        if r < 0:
            raise backwards_error("PowerBus", t, self.S.t_bus[j])
        return r == 1

    def can_host(self, i, gpus, t, check_free=True):
        """Free GPUs (unless ``check_free`` is False) and power for ``gpus`` more busy GPUs
        at t (View.can_host for a satellite)."""
        cdef Py_ssize_t j = self._idx(i)
        cdef i64 g = _count(gpus, "Fleet.can_host")
        cdef double v = _qtime(t, "PowerBus")
        if check_free and self.S.free[j] < g:
            return False
        if v < self.S.t_bus[j]:
            raise backwards_error("PowerBus", t, self.S.t_bus[j])
        return _power(&self.S, j, g, v)

    # ---- state, for the tests -----------------------------------------------------------------
    def state_arrays(self):
        """Copies of every array, and of the nodes' inputs (``node_f``, ``node_p``,
        ``node_q``, ``node_u``: 0 where there is no node)."""
        out = {name: np.array(getattr(self, name)) for name in ALL_ARRAYS}
        for name in ("node_f", "node_p", "node_q", "node_u"):
            out[name] = self._arrays[name].copy()
        return out


cdef class HostSearch:
    """Compiled twin of :class:`orbsched._kernels.reference_fleet.HostSearch` (same
    contract); it searches a compiled :class:`FleetKernel`."""

    cdef readonly Py_ssize_t n_nodes
    cdef readonly object dist, pred
    cdef object _dist, _pred
    cdef i64* _touched
    cdef Py_ssize_t _ntouched
    cdef unsigned char* _done
    cdef Entry* _heap
    cdef Py_ssize_t _cap

    def __cinit__(self):
        self._touched = NULL
        self._done = NULL
        self._heap = NULL

    def __dealloc__(self):
        c_free(self._touched)
        c_free(self._done)
        c_free(self._heap)

    def __init__(self, n_nodes):
        n_nodes = check_count("HostSearch", "n_nodes", n_nodes)
        self.n_nodes = n_nodes
        self._dist = np.full(n_nodes, np.inf)
        self._pred = np.full(n_nodes, -1, dtype=np.int64)
        self.dist = readonly(self._dist)
        self.pred = readonly(self._pred)
        self._touched = <i64*> malloc(max(1, n_nodes) * sizeof(i64))
        self._done = <unsigned char*> calloc(max(1, n_nodes), 1)
        self._cap = 1024
        self._heap = <Entry*> malloc(self._cap * sizeof(Entry))
        if self._touched == NULL or self._done == NULL or self._heap == NULL:
            raise MemoryError("HostSearch: out of memory")
        self._ntouched = 0

    def nearest(self, nbr, light, usable, deg, fleet, src, gpus, t_s, sunlit_only, k,
                max_hops=None):
        """See :meth:`orbsched._kernels.reference_fleet.HostSearch.nearest`."""
        src, g, k, max_hops = check_search_args(self.n_nodes, nbr, light, usable, deg, fleet,
                                                src, gpus, k, max_hops, self._dist,
                                                self._pred)
        cdef double v = query_time("PowerBus", t_s)
        if not isinstance(fleet, FleetKernel):
            raise TypeError("HostSearch (compiled) searches a compiled fleet; got "
                            f"{type(fleet).__name__}")
        cdef FleetKernel fk = fleet
        cdef const i64[:, ::1] nb = nbr
        cdef const double[:, ::1] li = light
        cdef const unsigned char[:, ::1] us = usable
        cdef const i64[::1] dg = deg
        cdef double[::1] dist = self._dist
        cdef i64[::1] pred = self._pred
        cdef Py_ssize_t kk = min(k, self.n_nodes), nf = 0, err = -1
        cdef i64* out_u = <i64*> malloc(max(1, kk) * sizeof(i64))
        cdef double* out_d = <double*> malloc(max(1, kk) * sizeof(double))
        cdef i64* out_h = <i64*> malloc(max(1, kk) * sizeof(i64))
        cdef bint sun = sunlit_only
        cdef i64 c_src = src, c_g = g, c_hops = max_hops
        if out_u == NULL or out_d == NULL or out_h == NULL:
            c_free(out_u); c_free(out_d); c_free(out_h)
            raise MemoryError("HostSearch: out of memory")
        try:
            with nogil:
                nf = self._search(&fk.S, nb, li, us, dg, dist, pred, c_src, c_g, v, sun, kk,
                                  c_hops, &err, out_u, out_d, out_h)
            if nf == -2:
                raise MemoryError("HostSearch: out of memory")
            if err >= 0:
                raise backwards_error("PowerBus", t_s, fk.S.t_bus[err])
            return [(int(out_u[i]), float(out_d[i]), int(out_h[i])) for i in range(nf)]
        finally:
            c_free(out_u); c_free(out_d); c_free(out_h)

    cdef Py_ssize_t _search(self, State* S, const i64[:, ::1] nbr, const double[:, ::1] light,
                            const unsigned char[:, ::1] usable, const i64[::1] deg,
                            double[::1] dist, i64[::1] pred, i64 src, i64 g, double t,
                            bint sunlit_only, Py_ssize_t k, i64 max_hops, Py_ssize_t* err,
                            i64* out_u, double* out_d, i64* out_h) noexcept nogil:
        cdef Py_ssize_t j, nfound = 0, n_sats = S.n
        cdef i64 u, v, h, size = 0
        cdef double d, nd
        cdef Entry e
        cdef Entry* grown
        cdef int r
        for j in range(self._ntouched):          # what the last search wrote
            u = self._touched[j]
            dist[u] = INFINITY
            pred[u] = -1
            self._done[u] = 0
        self._ntouched = 0
        dist[src] = 0.0
        self._touched[self._ntouched] = src
        self._ntouched += 1
        _push(self._heap, &size, 0.0, 0, src)
        while size > 0:
            e = _pop(self._heap, &size)
            d = e.d
            h = e.h
            u = e.u
            if self._done[u]:
                continue
            self._done[u] = 1
            if u != src:
                r = _host(S, u, g, t, sunlit_only)
                if r < 0:
                    err[0] = u
                    return nfound
                if r:
                    out_u[nfound] = u
                    out_d[nfound] = d
                    out_h[nfound] = h
                    nfound += 1
                    if nfound >= k:
                        break
            if max_hops >= 0 and h >= max_hops:
                continue
            for j in range(deg[u]):
                v = nbr[u, j]
                if v >= n_sats or self._done[v] or not usable[u, j]:
                    continue
                nd = d + light[u, j] + 1e-9
                if nd < dist[v]:
                    if dist[v] == INFINITY:
                        self._touched[self._ntouched] = v
                        self._ntouched += 1
                    dist[v] = nd
                    pred[v] = u
                    if size == self._cap:
                        grown = <Entry*> realloc(self._heap, 2 * self._cap * sizeof(Entry))
                        if grown == NULL:
                            return -2
                        self._heap = grown
                        self._cap *= 2
                    _push(self._heap, &size, nd, h + 1, v)
        return nfound
