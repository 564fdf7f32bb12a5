# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled fleet state, part one: :class:`FleetBase` owns the arrays and their ``State``
binding and answers the read-only questions (stored energy, state of charge, temperatures,
hosts); :class:`orbsched._kernels.fleet.FleetKernel` adds the events that change the state.
The exactness rules and the layers are in ``fleet.pyx``'s docstring.
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport INFINITY, NAN, isfinite
from libc.stdlib cimport free as c_free
from libc.stdlib cimport malloc

from .fleet_core cimport (
    Kind,
    State,
    _bus_threshold,
    _flows,
    _host,
    _node_advance,
    _node_commit,
    _node_next,
    _node_set,
    _power,
    _rate_of,
    _stored_at,
)
from .heap cimport i64
from .thermal cimport _temperature_after
from . import reference as _reference
from .fleet_support import (
    ALL_ARRAYS,
    allocate,
    backwards_error,
    check_count,
    check_index,
    check_time,
    fleet_kinds,
    query_time,
    readonly,
)
from .reference_fleet import relax_rk4_k
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
cdef int N_ENERGY = 8


cdef inline bint _fast_time(object t, double now, double* out):
    """The models' fast time check: a float (or numpy float64), finite, not before now."""
    cdef double v
    if type(t) is float or type(t) is F64:
        v = PyFloat_AS_DOUBLE(t)
        if now <= v and v < INFINITY:
            out[0] = v
            return True
    return False


cdef double _qtime(object t, str owner) except? -1.0:
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
        if 0 <= v < 4611686018427387904:     # 2**62, check_count's bound
            return v
        PyErr_Clear()
    return check_count(owner, "gpus", g)


cdef class FleetBase:
    """The arrays, their binding and the read-only queries of
    :class:`orbsched._kernels.fleet.FleetKernel` (module docstring)."""

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
    cdef Py_ssize_t _idx(self, object i) except -1:
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
        if not self.S.has_node[j]:
            query_time("ThermalNode", t)
            return NAN
        return self._temperature_now(j, t)

    def temperatures_exact_at(self, t):
        """Every node's temperature at t by :meth:`temperature_at`'s exact integral (its very
        doubles, in one call; NaN without a thermal model)."""
        cdef State* S = &self.S
        cdef Py_ssize_t j
        _qtime(t, "ThermalNode")
        out = np.full(S.n, NAN)
        cdef double[::1] o = out
        for j in range(S.n):
            if S.has_node[j]:
                o[j] = self._temperature_now(j, t)
        return out

    cdef double _temperature_now(self, Py_ssize_t j, object t) except? -1.0:
        """Node j's temperature at t (checked against its node time): the exact integral,
        the twin's where the compiled one gives up."""
        cdef State* S = &self.S
        cdef double v = self._node_time(t, j)
        cdef double dt = v - S.t_node[j]
        cdef bint bad = False
        cdef double r = _temperature_after(S.temp[j], dt, S.node_u[j], S.kc[S.kind[j]].beta,
                                           &bad)
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
    cdef double _query_all(self, object t) except? -1.0:
        """A time for a battery query of every satellite (:meth:`_query` for all): finite, not
        before any bus time (the first satellite behind it is named)."""
        cdef State* S = &self.S
        cdef double v = _qtime(t, "PowerBus")
        cdef Py_ssize_t i, bad = -1
        with nogil:
            for i in range(S.n):
                if S.t_bus[i] > v:
                    bad = i
                    break
        if bad >= 0:
            raise backwards_error("PowerBus", t, S.t_bus[bad])
        return v

    def powered(self, gpus, t):
        """Mask of satellites whose bus could serve ``gpus`` more busy GPUs at t
        (View.powered)."""
        cdef i64 g = _count(gpus, "Fleet.powered")
        cdef double v = self._query_all(t)
        cdef State* S = &self.S
        cdef Py_ssize_t i
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
        cdef double v = self._query_all(t)
        cdef bint sun = sunlit_only
        cdef State* S = &self.S
        cdef Py_ssize_t i
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
