"""Pure-numpy twins of the compiled kernels.

Each function here has the same name, signature and results as its Cython counterpart in
``orbsched/_kernels/*.pyx``; it is the oracle the compiled code is tested against (exact
agreement: same operations in the same order, no reductions whose order numpy may change) and
the baseline the benchmarks measure against.  ``orbsched._kernels`` picks one of the two.
"""
from __future__ import annotations

import numpy as np


def _check_shadow_args(r_sat, r_sun, pole):
    r_sat = np.ascontiguousarray(r_sat, dtype=np.float64)
    r_sun = np.ascontiguousarray(r_sun, dtype=np.float64)
    pole = np.ascontiguousarray(pole, dtype=np.float64)
    if r_sat.ndim != 3 or r_sat.shape[2] != 3:
        raise ValueError(f"r_sat must have shape (n_sats, n_times, 3), got {r_sat.shape}")
    t = r_sat.shape[1]
    if r_sun.shape != (t, 3) or pole.shape != (t, 3):
        raise ValueError(f"r_sun and pole must have shape ({t}, 3), got {r_sun.shape} and "
                         f"{pole.shape}")
    return r_sat, r_sun, pole


def shadow_functions(r_sat, r_sun, pole, eq_radius_km, polar_radius_km, sun_radius_km):
    """Signed shadow functions of each satellite at each time (positive = in that shadow).

    Parameters
    ----------
    r_sat : (n_sats, n_times, 3) float64, GCRS km
    r_sun : (n_times, 3) float64, GCRS km (geocentric Sun)
    pole : (n_times, 3) float64, unit rotation axis of the Earth in GCRS
    eq_radius_km, polar_radius_km : Earth's ellipsoid (equal values give a sphere)
    sun_radius_km : solar radius

    Returns ``(g_point, g_pen, g_umb)``, each (n_sats, n_times):

    * ``g_point = cos c - cos b``: positive when the Sun's centre is behind the Earth (the
      point-Sun test of skyfield's ``is_sunlit``);
    * ``g_pen = cos c - cos(a + b)``: positive when the Earth's disk covers any of the Sun's
      (penumbra or umbra);
    * ``g_umb = cos c - cos(b - a)``: positive when it covers all of it (umbra);

    with ``a`` the Sun's and ``b`` the Earth's apparent angular radius and ``c`` the angle
    between their centres, seen from the satellite.  The ellipsoid is handled exactly for the
    point-Sun test by stretching space along the pole by ``eq/polar`` (which maps the ellipsoid
    onto a sphere and lines onto lines); for the Sun's disk the same stretch distorts its
    apparent radius by at most the flattening (0.34 %), i.e. under 0.05 s on a penumbra edge.
    Only +, -, *, / and sqrt are used, so the compiled twin agrees bit for bit.
    """
    r_sat, r_sun, pole = _check_shadow_args(r_sat, r_sun, pole)
    q = eq_radius_km / polar_radius_km - 1.0
    px, py, pz = pole[:, 0], pole[:, 1], pole[:, 2]
    # stretched Sun
    d = (r_sun[:, 0] * px + r_sun[:, 1] * py) + r_sun[:, 2] * pz
    qd = q * d
    sx = r_sun[:, 0] + qd * px
    sy = r_sun[:, 1] + qd * py
    sz = r_sun[:, 2] + qd * pz
    # stretched satellite
    x, y, z = r_sat[..., 0], r_sat[..., 1], r_sat[..., 2]
    d = (x * px + y * py) + z * pz
    qd = q * d
    x = x + qd * px
    y = y + qd * py
    z = z + qd * pz
    # satellite -> Sun (u) and satellite -> Earth centre (e = -r)
    ux = sx - x
    uy = sy - y
    uz = sz - z
    e2 = (x * x + y * y) + z * z
    u2 = (ux * ux + uy * uy) + uz * uz
    eu = -((x * ux + y * uy) + z * uz)
    en = np.sqrt(e2)
    un = np.sqrt(u2)
    cosc = eu / (en * un)
    sinb = eq_radius_km / en
    sina = sun_radius_km / un
    cosb = np.sqrt(np.maximum(1.0 - sinb * sinb, 0.0))
    cosa = np.sqrt(np.maximum(1.0 - sina * sina, 0.0))
    g_point = cosc - cosb
    g_pen = cosc - (cosa * cosb - sina * sinb)
    g_umb = np.where(sinb > sina, cosc - (cosa * cosb + sina * sinb), -2.0)
    return g_point, g_pen, g_umb
