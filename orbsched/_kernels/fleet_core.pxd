# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# The fleet's physics on raw arrays: the structs and the ``cdef inline ... noexcept nogil``
# functions of fleet.pyx (FleetKernel) and fleet_search.pyx (HostSearch).  Each repeats the
# arithmetic of its model, in its order (orbsched.models.power.PowerBus,
# orbsched.models.thermal.ThermalNode, tests/reference_satellite.py, View.can_host); the
# constants are the models': 3600 s/h, the engine's 1e-6 W brownout tolerance, the node's
# 1e-9 K and 1e-12 relative tolerances.  See fleet.pyx's docstring for the exactness rules.
# The directives are the .pyx files' (a .pxd does not inherit them).  cdivision drops the
# zero-divisor checks, not a bit of any quotient: every divisor here is non-zero (K.ed > 0 by
# BatterySpec, rate by its sign test, K.cond > 0 by ThermalSpec, 3600.0).
from libc.math cimport INFINITY, fabs, pow

from .heap cimport i64
from .thermal cimport _temperature_after, _time_between


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


cdef inline double _tau(Kind* K, double e, double rate) noexcept nogil:
    """PowerBus._time_to_bound_s: seconds until the stored energy e (Wh), changing at rate (W),
    reaches its bound (the capacity when charging, the floor when discharging); inf at rate 0."""
    if rate > 0.0:
        return (K.cap - e) * 3600.0 / rate
    if rate < 0.0:
        return (e - K.floor) * 3600.0 / -rate
    return INFINITY


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
        tau = _tau(K, e, rate)
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
        S.stored[i] = e + rate * dt / 3600.0
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
    cdef double e = S.stored[i], t, above, x
    t = S.t_bus[i] + _tau(K, e, rate)
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
    cdef double x = S.stored[i] + S.rate[i] / 3600.0 * (t - S.t_bus[i])
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
    return f[3] > 1e-6 or _payload_short(S, i)


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
    if not S.node_q[i] > allowed + 1e-12 * fabs(allowed):
        return INFINITY
    if S.temp[i] >= K.tmax - 1e-9:
        return S.t_node[i]
    return S.t_node[i] + _time_between(S.temp[i], K.tmax, S.node_u[i], K.beta, bad)
