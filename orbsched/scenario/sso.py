"""Sun-synchronous inclination: the closed form the schema and the geometry share.

A circular orbit's node precesses under the Earth's oblateness (J2) at

    dOmega/dt = -3/2 n J2 (R_eq / a)^2 cos i / (1 - e^2)^2,    n = sqrt(mu / a^3),

and the orbit is sun-synchronous when that rate equals the mean Sun's motion in right
ascension, rho = 360 deg per tropical year = 0.98565 deg/day (Vallado, Fundamentals of
Astrodynamics and Applications, 4th ed., eq. 9-41).  Solving for i:

    cos i = -(2 rho a^(7/2) (1 - e^2)^2) / (3 J2 R_eq^2 sqrt(mu)).

Known values: 97.6 deg at 550 km, 98.0 deg at 650 km (tests/test_orbits.py), 104.9 deg at
2,000 km.  Only the J2 term is kept (J4 and drag move the real value by a few hundredths of
a degree in LEO); above about 5,970 km no inclination gives the Sun's rate.
"""
from __future__ import annotations

import math

from .constants import EARTH_EQUATORIAL_RADIUS_KM, J2_EARTH, MU_EARTH_KM3_S2, SUN_MEAN_MOTION_RAD_S
from .errors import ScenarioError


def sso_inclination_deg(altitude_km: float, eccentricity: float = 0.0) -> float:
    """Sun-synchronous inclination (deg) of an orbit of semi-major axis R_eq + ``altitude_km``
    (see the module docstring).  Raises :class:`ScenarioError` where none exists."""
    a = EARTH_EQUATORIAL_RADIUS_KM + altitude_km
    cos_i = -(2.0 * SUN_MEAN_MOTION_RAD_S * a ** 3.5 * (1 - eccentricity ** 2) ** 2) / (
        3.0 * J2_EARTH * EARTH_EQUATORIAL_RADIUS_KM ** 2 * math.sqrt(MU_EARTH_KM3_S2))
    if cos_i < -1.0:
        raise ScenarioError(f"no sun-synchronous orbit exists at altitude {altitude_km} km "
                            f"(J2 precession too weak above about 5,970 km)")
    return math.degrees(math.acos(cos_i))
