# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled shadow functions; the numpy twin is ``orbsched._kernels.reference.shadow_functions``.

Two layers: the ``def`` wrapper checks shapes and allocates the outputs (through the twin's own
argument check), the ``cdef ... nogil`` loop fills them.  The arithmetic is written in the same
order as the twin so that the results agree bit for bit (built with -ffp-contract=off).
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport sqrt

from .reference import _check_shadow_args

cnp.import_array()


cdef void _shadow_loop(const double[:, :, ::1] r_sat, const double[:, ::1] r_sun,
                       const double[:, ::1] pole, double req, double rpol, double rsun,
                       double[:, ::1] g_point, double[:, ::1] g_pen,
                       double[:, ::1] g_umb) noexcept nogil:
    cdef Py_ssize_t n_sats = r_sat.shape[0], n_t = r_sat.shape[1], i, k
    cdef double q = req / rpol - 1.0
    cdef double px, py, pz, d, qd, sx, sy, sz, x, y, z, ux, uy, uz
    cdef double e2, u2, eu, en, un, cosc, sinb, sina, cosb, cosa, v
    for k in range(n_t):
        px = pole[k, 0]
        py = pole[k, 1]
        pz = pole[k, 2]
        d = (r_sun[k, 0] * px + r_sun[k, 1] * py) + r_sun[k, 2] * pz
        qd = q * d
        sx = r_sun[k, 0] + qd * px
        sy = r_sun[k, 1] + qd * py
        sz = r_sun[k, 2] + qd * pz
        for i in range(n_sats):
            x = r_sat[i, k, 0]
            y = r_sat[i, k, 1]
            z = r_sat[i, k, 2]
            d = (x * px + y * py) + z * pz
            qd = q * d
            x = x + qd * px
            y = y + qd * py
            z = z + qd * pz
            ux = sx - x
            uy = sy - y
            uz = sz - z
            e2 = (x * x + y * y) + z * z
            u2 = (ux * ux + uy * uy) + uz * uz
            eu = -((x * ux + y * uy) + z * uz)
            en = sqrt(e2)
            un = sqrt(u2)
            cosc = eu / (en * un)
            sinb = req / en
            sina = rsun / un
            v = 1.0 - sinb * sinb
            cosb = sqrt(v) if v > 0.0 else 0.0
            v = 1.0 - sina * sina
            cosa = sqrt(v) if v > 0.0 else 0.0
            g_point[i, k] = cosc - cosb
            g_pen[i, k] = cosc - (cosa * cosb - sina * sinb)
            if sinb > sina:
                g_umb[i, k] = cosc - (cosa * cosb + sina * sinb)
            else:
                g_umb[i, k] = -2.0


def shadow_functions(r_sat, r_sun, pole, eq_radius_km, polar_radius_km, sun_radius_km):
    """Compiled twin of :func:`orbsched._kernels.reference.shadow_functions` (same contract)."""
    r_sat, r_sun, pole = _check_shadow_args(r_sat, r_sun, pole)
    cdef const double[:, :, ::1] rs = r_sat
    cdef const double[:, ::1] su = r_sun
    cdef const double[:, ::1] po = pole
    cdef double req = eq_radius_km, rpol = polar_radius_km, rsun = sun_radius_km
    n, t = r_sat.shape[0], r_sat.shape[1]
    g_point = np.empty((n, t), dtype=np.float64)
    g_pen = np.empty((n, t), dtype=np.float64)
    g_umb = np.empty((n, t), dtype=np.float64)
    cdef double[:, ::1] o1 = g_point, o2 = g_pen, o3 = g_umb
    with nogil:
        _shadow_loop(rs, su, po, req, rpol, rsun, o1, o2, o3)
    return g_point, g_pen, g_umb
