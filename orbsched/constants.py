"""Physical constants used by orbsched, each with its source.

Units are in the names: ``_km``, ``_s``, ``_deg``.  Nothing here is tuned; every value is a
published figure.  Model-level defaults (grid steps, tolerances) live in :mod:`orbsched.config`.
"""
from __future__ import annotations

import math

# --- Earth ---------------------------------------------------------------------------------
#: WGS84 equatorial radius (NIMA TR8350.2, 3rd ed., table 3.1).
EARTH_EQUATORIAL_RADIUS_KM = 6378.137
#: WGS84 inverse flattening 1/f (NIMA TR8350.2, table 3.1).
WGS84_INVERSE_FLATTENING = 298.257223563
WGS84_FLATTENING = 1.0 / WGS84_INVERSE_FLATTENING
#: WGS84 polar radius b = a (1 - f) = 6356.752314 km.
EARTH_POLAR_RADIUS_KM = EARTH_EQUATORIAL_RADIUS_KM * (1.0 - WGS84_FLATTENING)
#: Earth's gravitational parameter GM (WGS84 / EGM96, including the atmosphere).
MU_EARTH_KM3_S2 = 398600.4418
#: Second zonal harmonic J2 (EGM96, unnormalised; also in ../shared/CONTEXT.md).
J2_EARTH = 1.08263e-3

# --- Sun ------------------------------------------------------------------------------------
#: Nominal solar radius (IAU 2015 Resolution B3).
SUN_RADIUS_KM = 695700.0
#: Astronomical unit (IAU 2012 Resolution B2), the same value skyfield uses.
AU_KM = 149597870.700
#: Rate of the mean Sun in right ascension: 360 deg per tropical year of 365.2421897 days
#: (Vallado, Fundamentals of Astrodynamics, 4th ed., eq. 9-41), used for sun-synchronous orbits.
TROPICAL_YEAR_DAYS = 365.2421897
SUN_MEAN_MOTION_RAD_S = 2.0 * math.pi / (TROPICAL_YEAR_DAYS * 86400.0)

# --- Light ----------------------------------------------------------------------------------
#: Speed of light in vacuum (SI definition).
SPEED_OF_LIGHT_KM_S = 299792.458

# --- Time -----------------------------------------------------------------------------------
DAY_S = 86400.0
