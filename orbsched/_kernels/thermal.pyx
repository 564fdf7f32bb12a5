# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled thermal integrals; the twins are ``orbsched._kernels.reference.time_between_k`` and
``temperature_after_k`` (the model: :mod:`orbsched.thermal`).

Two layers: the ``def`` wrappers take the arguments (a ``float``, or an ``int`` that converts to
one, as the twin's ``float(x)`` does) and return the ``cdef ... noexcept nogil`` functions'
result.  Those do the twin's arithmetic in the twin's order with the C functions Python calls
for it (``**`` on floats is C ``pow``, ``math.log`` / ``log1p`` / ``atan`` / ``exp`` are libm's),
so the results agree bit for bit (built with -ffp-contract=off; ``x ** 3`` is written
``pow(x, 3.0)``, not the multiplications Cython would make of it).  The GIL is kept: one call is
far shorter than releasing and taking it back.

Whatever the arithmetic does not cover is left to the twin, which then gives the same result
or raises the same error: any other argument type; a case where Python raises (``dt_s`` negative
or not finite, ``0 ** -3``, an overflow in ``**`` or ``exp``, the log of a number <= 0, a
division by zero) or would return something else than a finite float from ``**`` (a complex for
a negative base); and the rare case where Newton's method does not settle (the twin's Brent
fallback, scipy's brentq).  The cdef functions flag these through ``bad``.
"""
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsDouble
from libc.float cimport DBL_EPSILON
from libc.math cimport INFINITY, atan, exp, fabs, isfinite, log, log1p, pow

from . import reference as _reference

cdef double X_FAR = _reference._X_FAR
cdef double X_PURE = _reference._X_PURE
_twin_time_between_k = _reference.time_between_k
_twin_temperature_after_k = _reference.temperature_after_k


# ---- Python's float operations, flagging where Python would raise ---------------------------
cdef inline double _pow(double x, double y, bint* bad) noexcept nogil:
    # float ** float for a finite positive base is C pow (CPython's float_pow); leave zero,
    # negative and NaN bases, and overflows, to the twin.
    cdef double r
    if not x > 0.0:
        bad[0] = True
        return 0.0
    r = pow(x, y)
    if not isfinite(r):
        bad[0] = True
    return r


cdef inline double _div(double x, double y, bint* bad) noexcept nogil:
    if y == 0.0:  # ZeroDivisionError in Python
        bad[0] = True
        return 0.0
    return x / y


cdef inline double _log(double x, bint* bad) noexcept nogil:
    if not x > 0.0:  # math.log: ValueError for 0 and negatives (NaN: left to the twin too)
        bad[0] = True
        return 0.0
    return log(x)


cdef inline double _log1p(double x, bint* bad) noexcept nogil:
    if not x > -1.0:  # math.log1p: ValueError at -1 and below
        bad[0] = True
        return 0.0
    return log1p(x)


cdef inline double _exp(double x, bint* bad) noexcept nogil:
    cdef double r = exp(x)
    if not isfinite(r):  # math.exp: OverflowError
        bad[0] = True
    return r


cdef inline double _max(double x, double y) noexcept nogil:
    return y if y > x else x  # Python's max(x, y): the first unless the second is larger


cdef inline double _min(double x, double y) noexcept nogil:
    return y if y < x else x  # Python's min(x, y)


# ---- the twin's functions --------------------------------------------------------------------
cdef double _far_series(double y, bint* bad) noexcept nogil:
    cdef double y4 = _pow(y, 4.0, bad)
    cdef double total = 0.0
    cdef int k
    for k in range(7, -1, -1):  # Horner
        total = total * y4 + 1.0 / (4 * k + 3)
    return 2.0 * total


cdef double _time_between(double a, double b, double u, double beta,
                          bint* bad) noexcept nogil:
    cdef double mid, dtau
    if a == b:
        return 0.0
    if not ((a < b and b < u) or (u < b and b < a)):
        return INFINITY
    if u == 0.0 or b >= X_PURE * u:
        return _div(_pow(b, -3.0, bad) - _pow(a, -3.0, bad), 3.0 * beta, bad)
    if a > X_FAR * u and b >= X_FAR * u:
        return _div(_div(_far_series(_div(u, b, bad), bad), _pow(b, 3.0, bad), bad)
                    - _div(_far_series(_div(u, a, bad), bad), _pow(a, 3.0, bad), bad),
                    2.0 * beta, bad)
    if a > X_FAR * u:
        mid = X_FAR * u
        return _time_between(a, mid, u, beta, bad) + _time_between(mid, b, u, beta, bad)
    dtau = ((_log1p(_div(b - a, u + a, bad), bad) - _log1p(_div(a - b, u - a, bad), bad))
            + 2.0 * atan(_div(u * (b - a), u * u + a * b, bad)))
    return _div(dtau, 4.0 * beta * _pow(u, 3.0, bad), bad)


cdef bint _newton_z(double a, double u, double beta, double dt, double s, double z_lo,
                    double z_hi, double* z_out, bint* bad) noexcept nogil:
    """True and z in ``z_out`` when Newton settles within 30 steps (the twin's None: False)."""
    cdef double z, t, f, step, z_new
    cdef int i
    z = _min(_max(_log(fabs(u - a), bad) - 4.0 * beta * _pow(u, 3.0, bad) * dt, z_lo), z_hi)
    for i in range(30):
        if bad[0]:
            return False
        t = u - s * _exp(z, bad)
        f = (_time_between(a, t, u, beta, bad) if s * (t - a) > 0.0 else 0.0) - dt
        step = f * beta * (u + t) * (u * u + t * t)
        z_new = _min(_max(z + step, z_lo), z_hi)
        if fabs(z_new - z) * fabs(u - t) <= 1e-14 * t:
            z_out[0] = z_new
            return True
        z = z_new
    return False


cdef double _elapsed(double a, double u, double beta, double s, double z,
                     bint* bad) noexcept nogil:
    cdef double t = u - s * _exp(z, bad)
    if s * (t - a) <= 0.0:
        return 0.0
    return _time_between(a, t, u, beta, bad)


cdef double _temperature_after(double a, double dt, double u, double beta,
                               bint* bad) noexcept nogil:
    cdef double pure, s, w_min, z_hi, m, z_lo, z, t
    if dt < 0.0 or not isfinite(dt):  # the twin raises SubsystemError
        bad[0] = True
        return 0.0
    if dt == 0.0 or a == u:
        return a
    if a > u:
        pure = _pow(_pow(a, -3.0, bad) + 3.0 * beta * dt, -1.0 / 3.0, bad)
        if u == 0.0 or pure >= X_PURE * u:
            return pure
    s = 1.0 if a < u else -1.0
    w_min = 4.0 * DBL_EPSILON * u
    if fabs(u - a) <= w_min:
        return u
    if _time_between(a, u - s * w_min, u, beta, bad) <= dt:
        return u
    z_hi = _log(fabs(u - a), bad)
    m = _max(u, a)
    z_lo = _max(z_hi - dt * beta * (u + m) * (u * u + m * m), _log(w_min, bad))
    if _elapsed(a, u, beta, s, z_hi, bad) >= dt:
        return a
    if bad[0] or not _newton_z(a, u, beta, dt, s, z_lo, z_hi, &z, bad):
        bad[0] = True  # Newton did not settle: the twin's Brent fallback
        return 0.0
    t = u - s * _exp(z, bad)
    return a if s * (t - a) < 0.0 else t


# ---- def wrappers ----------------------------------------------------------------------------
cdef inline bint _as_double(object x, double* out):
    """True and ``float(x)`` for a float or an int that fits a double; False otherwise."""
    if type(x) is float:
        out[0] = PyFloat_AS_DOUBLE(x)
        return True
    if type(x) is int:
        try:
            out[0] = PyLong_AsDouble(x)
        except OverflowError:
            return False
        return True
    return False


ctypedef double (*_integral)(double, double, double, double, bint*) noexcept nogil


cdef object _compiled_or_twin(_integral kernel, object twin, object x0, object x1, object u,
                              object beta):
    """``kernel`` on the four arguments as doubles, or ``twin`` on the arguments as given where
    one is not a double (or an int that fits one) or the kernel flags ``bad``."""
    cdef double a, b, c, d, r
    cdef bint bad = False
    if _as_double(x0, &a) and _as_double(x1, &b) and _as_double(u, &c) \
            and _as_double(beta, &d):
        r = kernel(a, b, c, d, &bad)
        if not bad:
            return r
    return twin(x0, x1, u, beta)


def time_between_k(t0_k, t1_k, equilibrium_k, beta):
    """Compiled twin of :func:`orbsched._kernels.reference.time_between_k` (same contract)."""
    return _compiled_or_twin(_time_between, _twin_time_between_k, t0_k, t1_k, equilibrium_k,
                             beta)


def temperature_after_k(t0_k, dt_s, equilibrium_k, beta):
    """Compiled twin of :func:`orbsched._kernels.reference.temperature_after_k` (same
    contract)."""
    return _compiled_or_twin(_temperature_after, _twin_temperature_after_k, t0_k, dt_s,
                             equilibrium_k, beta)
