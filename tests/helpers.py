"""Test helpers: an analytic two-body circular orbit set (independent of SGP4)."""
import math

import numpy as np

from orbsched.geometry import astro
from orbsched.geometry.orbits import OrbitSet
from orbsched.scenario.constants import EARTH_EQUATORIAL_RADIUS_KM, MU_EARTH_KM3_S2


class KeplerCircular(OrbitSet):
    """Circular two-body orbits in GCRS with given plane normals (unit vectors) and phases."""

    def __init__(self, altitude_km, normals, phases_rad=None, names=None):
        self.a_km = EARTH_EQUATORIAL_RADIUS_KM + altitude_km
        self.n_rad_s = math.sqrt(MU_EARTH_KM3_S2 / self.a_km ** 3)
        self.normals = np.atleast_2d(np.asarray(normals, float))
        self.normals /= np.linalg.norm(self.normals, axis=1)[:, None]
        k = len(self.normals)
        self.phases = np.zeros(k) if phases_rad is None else np.asarray(phases_rad, float)
        self.names = names or [f"kepler-{i}" for i in range(k)]
        self.source = "kepler"
        # in-plane basis: p = any unit vector normal to n, q = n x p
        ref = np.where(np.abs(self.normals[:, 2:3]) < 0.9, [[0, 0, 1.0]], [[1.0, 0, 0]])
        self.p = np.cross(ref, self.normals)
        self.p /= np.linalg.norm(self.p, axis=1)[:, None]
        self.q = np.cross(self.normals, self.p)

    @property
    def period_s(self):
        return 2 * math.pi / self.n_rad_s

    def propagate(self, timebase, t_s, frame_node_s=3600.0):
        t_s = np.atleast_1d(np.asarray(t_s, float))
        ang = self.phases[:, None] + self.n_rad_s * t_s[None, :]
        c, s = np.cos(ang)[..., None], np.sin(ang)[..., None]
        p, q = self.p[:, None, :], self.q[:, None, :]
        r = self.a_km * (c * p + s * q)
        v = self.a_km * self.n_rad_s * (-s * p + c * q)
        return r, v


def normal_for_beta(sun_unit, beta_deg):
    """An orbit normal making the Sun direction lie beta_deg out of the orbit plane."""
    sun_unit = np.asarray(sun_unit, float) / np.linalg.norm(sun_unit)
    perp = np.cross(sun_unit, [0.0, 0.0, 1.0])
    perp /= np.linalg.norm(perp)
    b = math.radians(beta_deg)
    # normal = cos(90-b) * sun + sin(90-b) * perp  -> angle(sun, plane) = b
    return math.sin(b) * sun_unit + math.cos(b) * perp


def sun_unit_at(timebase, t_s=0.0):
    s = astro.sun_positions_km(timebase, [t_s])[0]
    return s / np.linalg.norm(s)
