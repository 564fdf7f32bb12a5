"""Physical constants used by orbsched, each with its source.

Units are in the names: ``_km``, ``_s``, ``_deg``.  Nothing here is tuned; every value is a
published figure.  Model-level defaults (grid steps, tolerances) live in
:mod:`orbsched.scenario.schema`.
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
#: Earth's rotation rate relative to the equinox (the rate of sidereal time):
#: 1.00273781191135448 x 2 pi per UT1 day (IERS Conventions 2010, eq. 5.15 via the ERA rate).
EARTH_ROTATION_RAD_S = 1.00273781191135448 * 2.0 * math.pi / 86400.0

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
#: A Julian year (365.25 days), s: the unit of annual rates (radiation dose, failure rates).
YEAR_S = 365.25 * DAY_S

# --- Radiation physics ------------------------------------------------------------------------
#: Stefan-Boltzmann constant sigma, W m^-2 K^-4 (CODATA 2018; exact since the 2019 SI).
STEFAN_BOLTZMANN_W_M2_K4 = 5.670374419e-8
#: Temperature of the cosmic microwave background (Fixsen 2009, ApJ 707, 916): the sink seen by
#: a radiator that views deep space only.
CMB_TEMPERATURE_K = 2.72548
#: Nominal total solar irradiance at 1 au (IAU 2015 Resolution B3; Kopp & Lean 2011, GRL 38,
#: L01706, measured 1360.8 +/- 0.5 W/m^2; ../shared/CONTEXT.md).  The yearly variation with the
#: Earth-Sun distance is +/-3.4 %.
SOLAR_CONSTANT_W_M2 = 1361.0

# --- Satellite hardware reference figures (defaults of orbsched.models.power / .thermal) -------
# Published figures, not tuned values; every one stays a parameter of the scenario.
#: Beginning-of-life efficiency of triple-junction III-V (GaInP/GaAs/Ge) space cells, ~30 %
#: (Spectrolab XTJ Prime 30.7 %, Azur Space 3G30C 29.8 % AM0 datasheets; ../shared/CONTEXT.md).
TRIPLE_JUNCTION_CELL_EFFICIENCY = 0.30
#: Efficiency of space-grade silicon cells, ~22 % (../shared/CONTEXT.md).
SILICON_CELL_EFFICIENCY = 0.22
#: Fraction of an array's area covered by active cells (../shared/CONTEXT.md: 90 % packing).
ARRAY_PACKING_FACTOR = 0.90
#: Yearly loss of array output, compounded: P(age) = P_BOL (1 - d)^age (Wertz & Larson, Space
#: Mission Analysis and Design, 3rd ed. 1999, sec. 11.4, eq. 11-6 and its design rule of 2.75 %
#: per year for GaAs-based cells, 3.75 % for silicon).  A conservative design value: GEO
#: telemetry of GaAs arrays shows 0.44-1.03 %/yr (Lohmeyer et al. 2018, IJSPACESE 5(1)).
III_V_DEGRADATION_PER_YEAR = 0.0275
SILICON_DEGRADATION_PER_YEAR = 0.0375
#: Mean cosine of the Sun angle for a body-fixed array whose normal sweeps uniformly through
#: +/-90 deg of the Sun direction while lit: (1/pi) * integral_{-pi/2}^{pi/2} cos = 2/pi.
BODY_FIXED_MEAN_COSINE = 2.0 / math.pi
#: Allowed depth of discharge of a LEO Li-ion battery, 20-30 % for a 5-year life at ~5,500
#: cycles a year (../shared/CONTEXT.md); the middle of that range.
LI_ION_MAX_DEPTH_OF_DISCHARGE = 0.25
#: Li-ion charge and discharge efficiency, ~0.95 each way (../shared/CONTEXT.md).
LI_ION_CHARGE_EFFICIENCY = 0.95
LI_ION_DISCHARGE_EFFICIENCY = 0.95
#: Hemispherical infrared emissivity of a radiator surface, 0.9 (white paint / optical solar
#: reflectors are 0.8-0.9; ../shared/CONTEXT.md radiator figures use 0.9).
RADIATOR_EMISSIVITY = 0.9
#: Specific heat of aluminium at 25 C, 897 J/(kg K) (CRC Handbook of Chemistry and Physics), to
#: turn a structural mass into a heat capacity C = m c.
ALUMINIUM_SPECIFIC_HEAT_J_KG_K = 897.0

# --- Compute hardware defaults of the scenario's `hardware:` section --------------------------
#: NVIDIA H100 SXM board power, 700 W (NVIDIA H100 datasheet; ../shared/CONTEXT.md).
H100_SXM_W = 700.0
#: Idle board power of an H100 SXM, ~70 W (about 10 % of TDP; nvidia-smi readings of idle
#: HGX nodes are 60-90 W).  ASSUMPTION: an order-of-magnitude default, set it per study.
H100_IDLE_W = 70.0
#: Bus load (avionics, attitude control, terminals, heaters) of a compute satellite with a few
#: GPUs.  ASSUMPTION: 300 W, the scale of a small LEO bus (SMAD 3rd ed. table 10-9: 100-1,000 W
#: for power subsystems of small satellites); not a published figure for a compute satellite.
BUS_BASE_W = 300.0
#: Structural/thermal mass that stores heat in the lumped model, as C = m * c for ~500 kg of
#: aluminium (a Starlink v2 mini class satellite is ~800 kg; ../shared/CONTEXT.md).
DEFAULT_HEAT_CAPACITY_J_K = 500.0 * ALUMINIUM_SPECIFIC_HEAT_J_KG_K
#: Radiator-side temperature limit: 330 K (57 C), which keeps junctions under ~85 C with a
#: 20-30 K gradient (see orbsched.models.thermal's docstring).  ASSUMPTION, a design choice.
DEFAULT_MAX_RADIATOR_K = 330.0

# --- Radiation and failures (defaults of the scenario's `faults:` section) -------------------
#: Total ionising dose behind ~10 mm of aluminium in LEO, ~150 rad(Si) per year (Suncatcher's
#: proton tests on TPU v6e, arXiv:2511.19468; ../shared/CONTEXT.md).
DOSE_RAD_PER_YEAR = 150.0
#: Dose per event per chip from the same proton tests (../shared/CONTEXT.md): silent data
#: corruption ~1 per 17 rad, HBM uncorrectable error ~1 per 44 rad, chip crash ~1 per 5 krad,
#: host reboot ~1 per 400 rad.
RAD_PER_SDC = 17.0
RAD_PER_HBM_UE = 44.0
RAD_PER_CRASH = 5000.0
RAD_PER_HOST_REBOOT = 400.0
#: South Atlantic Anomaly: a box around the low of the geomagnetic field over South America
#: and the South Atlantic (roughly 50 S - 0, 90 W - 40 E at LEO altitudes; e.g. the AP-8 /
#: SAMPEX maps), and the factor by which upsets are more frequent inside it (CONTEXT.md:
#: 10-100x; 30 here, an ASSUMPTION within that range).
SAA_LAT_DEG = (-50.0, 0.0)
SAA_LON_DEG = (-90.0, 40.0)
SAA_MULTIPLIER = 30.0
#: Annual failure rate of data-centre GPUs: Meta's Llama 3 training on 16,384 H100s saw 148
#: faulty-GPU and 72 HBM3 interruptions in 54 days (Llama Team, "The Llama 3 Herd of Models",
#: 2024, table 5): 220 / 16,384 / 54 d x 365 d = 9.1 % per GPU-year.
GPU_ANNUAL_FAILURE_RATE = 0.091

# --- Optical inter-satellite links in a formation (defaults of network.isl_rate) -------------
#: Data rate of one free-space optical link between formation neighbours: 9.6 Tbps per 10 cm
#: aperture by design (Suncatcher, arXiv:2511.19468; ../shared/CONTEXT.md: ~10 Tbps per link
#: targeted over < 1 km, 1.6 Tbps shown on a bench).
SUNCATCHER_LINK_GBPS = 9600.0
#: Range up to which such a link stays in the near field at its full rate (~5 km, Suncatcher;
#: ../shared/CONTEXT.md); beyond it the received power, and so the rate, falls as 1/d^2.
OPTICAL_NEAR_FIELD_KM = 5.0
#: Suncatcher's cluster (arXiv:2511.19468; ../shared/CONTEXT.md): 81 satellites within a 1 km
#: radius, neighbours 100-200 m apart, at 650 km in a dawn-dusk sun-synchronous orbit.
SUNCATCHER_CLUSTER_SATS = 81
SUNCATCHER_CLUSTER_RADIUS_M = 1000.0
SUNCATCHER_NEIGHBOUR_SPACING_M = (100.0, 200.0)

# --- Ground data centres (the comparison the economics and hybrid runs make) ----------------
#: Hours in a year of 365.25 days.
HOURS_PER_YEAR = 8766.0
#: Suncatcher's range for the cost of ground data-centre electricity, $570-3,000 per kW-year
#: (arXiv:2511.19468; ../shared/CONTEXT.md).
GROUND_ELECTRICITY_USD_PER_KW_YEAR = (570.0, 3000.0)
#: Ground data-centre power usage effectiveness: 30-40 % of the power goes to cooling and
#: distribution, PUE about 1.3-1.4 (../shared/CONTEXT.md); the middle.
GROUND_PUE = 1.35
#: Electricity price: $570 per kW-year, the low end of Suncatcher's range for ground
#: data-centre electricity (arXiv:2511.19468; ../shared/CONTEXT.md), = 570 / 8,766 h =
#: $0.065/kWh.  The high end, $3,000/kW-yr, is $0.34/kWh.
GROUND_ELECTRICITY_USD_PER_KWH = GROUND_ELECTRICITY_USD_PER_KW_YEAR[0] / HOURS_PER_YEAR
# --- Dates the Sun's ephemeris covers ----------------------------------------------------------
#: JPL DE421 (skyfield-data's de421.bsp) spans JD 2414864.5 .. 2471184.5 TDB, i.e. 1899-07-29 to
#: 2053-10-09 (skyfield: "ephemeris segment only covers dates 1899-07-29 through 2053-10-09").
#: A run must lie inside, one day clear of each end (TDB - UTC is about a minute; the day is a
#: margin for interpolation nodes beyond the span's ends).
EPHEMERIS_FIRST_UTC = "1899-07-30T00:00:00Z"
EPHEMERIS_LAST_UTC = "2053-10-08T00:00:00Z"
