"""Hardware specs of a compute satellite: the solar array, the battery and the radiator.

Frozen dataclasses that the scenario's ``hardware`` section validates (pydantic checks their
fields; each ``__post_init__`` checks its own ranges with :func:`check_number`), so each field
is defined and documented once.  The models that use them live in :mod:`orbsched.models`
(:class:`~orbsched.models.power.PowerBus`, :class:`~orbsched.models.thermal.ThermalNode`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_number
from .constants import (
    ARRAY_PACKING_FACTOR,
    BODY_FIXED_MEAN_COSINE,
    CMB_TEMPERATURE_K,
    III_V_DEGRADATION_PER_YEAR,
    LI_ION_CHARGE_EFFICIENCY,
    LI_ION_DISCHARGE_EFFICIENCY,
    LI_ION_MAX_DEPTH_OF_DISCHARGE,
    RADIATOR_EMISSIVITY,
    SOLAR_CONSTANT_W_M2,
    STEFAN_BOLTZMANN_W_M2_K4,
    TRIPLE_JUNCTION_CELL_EFFICIENCY,
)
from .errors import SubsystemError

__all__ = ["ILLUMINATION_BOUNDS", "POINTINGS", "BatterySpec", "SolarArraySpec", "ThermalSpec",
           "equilibrium_temperature_k"]

#: Accepted illumination fractions: [0, 1] with a rounding margin.
ILLUMINATION_BOUNDS = (-1e-9, 1.0 + 1e-9)
_F_LO, _F_HI = ILLUMINATION_BOUNDS
#: Array pointing modes: ``sun-tracking`` (cosine factor 1) or ``body-fixed`` (a fixed mean
#: cosine factor, :attr:`SolarArraySpec.body_fixed_mean_cosine`).
POINTINGS = ("sun-tracking", "body-fixed")


@dataclass(frozen=True)
class SolarArraySpec:
    """A solar array: ``power_w = S * area * eta * packing * cos_factor * f * (1 - d)^age``.

    Fields (defaults and sources in :mod:`orbsched.scenario.constants`):
        area_m2: array area (m^2), both wings together.
        cell_efficiency: beginning-of-life AM0 cell efficiency (0.30, triple-junction III-V;
            use 0.22 for silicon).
        packing_factor: fraction of the area covered by active cells (0.90).
        degradation_per_year: yearly loss of output, compounded (0.0275, the SMAD design value
            for GaAs-based cells; 0.0375 for silicon).
        pointing: ``"sun-tracking"`` (the array follows the Sun: cosine factor 1) or
            ``"body-fixed"`` (the array is fixed to the bus and the mean cosine of the Sun angle
            over the sunlit time is ``body_fixed_mean_cosine``).
        body_fixed_mean_cosine: used only when ``pointing == "body-fixed"``; default
            2/pi = 0.637, the mean cosine when the array normal sweeps uniformly through +/-90
            deg of the Sun while lit.  Set it from the attitude: e.g. a zenith-facing panel of a
            nadir-pointing satellite at 550 km and beta = 0 sees the Sun above its horizon only
            for 180 of the 226 lit degrees, a mean of 2 / 3.944 = 0.507 over the lit time.
        solar_constant_w_m2: solar irradiance at the satellite (1361 W/m^2, IAU 2015 B3); the
            +/-3.4 % yearly variation with the Earth-Sun distance is not applied.

    At the defaults a sun-tracking array gives 1361 * 0.30 * 0.90 = 367.5 W/m^2 (CONTEXT.md
    quotes 270-370 W/m^2).
    """

    area_m2: float
    cell_efficiency: float = TRIPLE_JUNCTION_CELL_EFFICIENCY
    packing_factor: float = ARRAY_PACKING_FACTOR
    degradation_per_year: float = III_V_DEGRADATION_PER_YEAR
    pointing: str = "sun-tracking"
    body_fixed_mean_cosine: float = BODY_FIXED_MEAN_COSINE
    solar_constant_w_m2: float = SOLAR_CONSTANT_W_M2

    def __post_init__(self):
        own = "SolarArraySpec"
        check_number(own, "area_m2", self.area_m2, lo=0.0)
        check_number(own, "cell_efficiency", self.cell_efficiency, lo=0.0, hi=1.0, lo_open=True)
        check_number(own, "packing_factor", self.packing_factor, lo=0.0, hi=1.0, lo_open=True)
        check_number(own, "degradation_per_year", self.degradation_per_year, lo=0.0, hi=1.0)
        check_number(own, "body_fixed_mean_cosine", self.body_fixed_mean_cosine, lo=0.0, hi=1.0)
        check_number(own, "solar_constant_w_m2", self.solar_constant_w_m2, lo=0.0)
        if self.pointing not in POINTINGS:
            raise SubsystemError(f"SolarArraySpec.pointing: unknown pointing {self.pointing!r}; "
                                 f"expected one of {', '.join(POINTINGS)}")

    @property
    def cosine_factor(self) -> float:
        """Mean cosine of the Sun angle: 1 when sun-tracking, else ``body_fixed_mean_cosine``."""
        return 1.0 if self.pointing == "sun-tracking" else float(self.body_fixed_mean_cosine)

    @property
    def beginning_of_life_w(self) -> float:
        """Output in full sunlight at mission age 0 (W)."""
        return (self.solar_constant_w_m2 * self.area_m2 * self.cell_efficiency
                * self.packing_factor * self.cosine_factor)

    def degradation_factor(self, age_years: float = 0.0) -> float:
        """``(1 - degradation_per_year) ** age_years`` (SMAD eq. 11-6)."""
        check_number("SolarArraySpec.degradation_factor", "age_years", age_years, lo=0.0)
        return (1.0 - self.degradation_per_year) ** float(age_years)

    def power_w(self, illumination_fraction, age_years: float = 0.0):
        """Array output (W) for an illumination fraction in [0, 1] (0 umbra, 1 full Sun,
        between: penumbra) at a mission age in years.  Accepts a scalar or an array of
        fractions; returns a float or an array of the same shape."""
        f = np.asarray(illumination_fraction, dtype=float)
        if not np.all(np.isfinite(f)) or np.any(f < -1e-9) or np.any(f > 1.0 + 1e-9):
            raise SubsystemError("SolarArraySpec.power_w: illumination_fraction must lie in "
                                 f"[0, 1], got {illumination_fraction!r}")
        p = self.beginning_of_life_w * self.degradation_factor(age_years) * np.clip(f, 0.0, 1.0)
        return float(p) if p.ndim == 0 else p


@dataclass(frozen=True)
class BatterySpec:
    """A battery pack seen as an energy store with a usable window.

    Fields (defaults and sources in :mod:`orbsched.scenario.constants`):
        capacity_wh: nameplate energy (Wh); 0 means no battery.
        max_depth_of_discharge: fraction of the capacity that may be used (0.25, Li-ion in LEO
            for a 5-year life at ~5,500 cycles/yr).  The floor is
            ``floor_wh = capacity_wh * (1 - max_depth_of_discharge)``: with the default the
            battery works between 75 % and 100 % state of charge.
        charge_efficiency: fraction of bus-side charge power that is stored (0.95).
        discharge_efficiency: fraction of stored energy drawn that reaches the bus (0.95).
        max_charge_w: largest bus-side charge power (W, before losses); ``None``: unlimited.
        max_discharge_w: largest bus-side discharge power (W, after losses); ``None``: unlimited.
    """

    capacity_wh: float
    max_depth_of_discharge: float = LI_ION_MAX_DEPTH_OF_DISCHARGE
    charge_efficiency: float = LI_ION_CHARGE_EFFICIENCY
    discharge_efficiency: float = LI_ION_DISCHARGE_EFFICIENCY
    max_charge_w: float | None = None
    max_discharge_w: float | None = None

    def __post_init__(self):
        own = "BatterySpec"
        check_number(own, "capacity_wh", self.capacity_wh, lo=0.0)
        check_number(own, "max_depth_of_discharge", self.max_depth_of_discharge, lo=0.0, hi=1.0)
        check_number(own, "charge_efficiency", self.charge_efficiency, lo=0.0, hi=1.0,
                      lo_open=True)
        check_number(own, "discharge_efficiency", self.discharge_efficiency, lo=0.0, hi=1.0,
                      lo_open=True)
        check_number(own, "max_charge_w", self.max_charge_w, lo=0.0, allow_none=True)
        check_number(own, "max_discharge_w", self.max_discharge_w, lo=0.0, allow_none=True)

    @property
    def floor_wh(self) -> float:
        """Lowest allowed stored energy, ``capacity_wh * (1 - max_depth_of_discharge)``."""
        return self.capacity_wh * (1.0 - self.max_depth_of_discharge)

    @property
    def usable_wh(self) -> float:
        """Energy between full and the floor, ``capacity_wh * max_depth_of_discharge``."""
        return self.capacity_wh - self.floor_wh


@dataclass(frozen=True)
class ThermalSpec:
    """The radiator and thermal mass of one satellite (see the module docstring for the model).

    Fields:
        heat_capacity_j_k: lumped heat capacity C (J/K), e.g. mass x specific heat
            (aluminium 897 J/(kg K),
            :data:`orbsched.scenario.constants.ALUMINIUM_SPECIFIC_HEAT_J_KG_K`).
        radiator_area_m2: radiator panel area (m^2), one face.
        max_temperature_k: highest allowed node (radiator-side) temperature (K).
        two_sided: True if the panel radiates from both faces (the radiating area doubles).
        emissivity: infrared emissivity (0.9, CONTEXT.md).
        sink_temperature_k: effective temperature of what the radiator sees (2.725 K, deep
            space; ~185 K reproduces Starcloud's 633 W/m^2 net at 20 C).
        absorbed_sun_w: environmental heat absorbed in full sunlight (W): direct Sun (see
            :func:`absorbed_solar_heat_w`), albedo, Earth IR.  Default 0.
        absorbed_shadow_w: environmental heat absorbed in umbra (W): Earth IR.  Default 0.
    """

    heat_capacity_j_k: float
    radiator_area_m2: float
    max_temperature_k: float
    two_sided: bool = True
    emissivity: float = RADIATOR_EMISSIVITY
    sink_temperature_k: float = CMB_TEMPERATURE_K
    absorbed_sun_w: float = 0.0
    absorbed_shadow_w: float = 0.0

    def __post_init__(self):
        own = "ThermalSpec"
        check_number(own, "heat_capacity_j_k", self.heat_capacity_j_k, lo=0.0, lo_open=True)
        check_number(own, "radiator_area_m2", self.radiator_area_m2, lo=0.0, lo_open=True)
        check_number(own, "emissivity", self.emissivity, lo=0.0, hi=1.0, lo_open=True)
        check_number(own, "sink_temperature_k", self.sink_temperature_k, lo=0.0)
        check_number(own, "max_temperature_k", self.max_temperature_k,
                      lo=float(self.sink_temperature_k), lo_open=True)
        check_number(own, "absorbed_sun_w", self.absorbed_sun_w, lo=0.0)
        check_number(own, "absorbed_shadow_w", self.absorbed_shadow_w, lo=0.0)
        if not isinstance(self.two_sided, (bool, np.bool_)):
            raise SubsystemError(f"ThermalSpec.two_sided: expected true or false, "
                                 f"got {self.two_sided!r}")
        if not self.conductance_w_k4 > 0.0:   # every model divides by it
            raise SubsystemError(f"ThermalSpec.radiator_area_m2: emissivity x sigma x radiating "
                                 f"area underflows to 0 W/K^4 at {self.radiator_area_m2!r} m^2")

    @property
    def radiating_area_m2(self) -> float:
        """Area that radiates: the panel area, doubled when two-sided."""
        return self.radiator_area_m2 * (2.0 if self.two_sided else 1.0)

    @property
    def conductance_w_k4(self) -> float:
        """k = emissivity * sigma * radiating area (W/K^4)."""
        return self.emissivity * STEFAN_BOLTZMANN_W_M2_K4 * self.radiating_area_m2

    def net_radiated_w(self, temperature_k: float) -> float:
        """Net heat leaving to the sink at a node temperature: k (T^4 - T_sink^4) (W)."""
        return self.conductance_w_k4 * (temperature_k ** 4 - self.sink_temperature_k ** 4)

    @property
    def allowed_heat_w(self) -> float:
        """Total heat input the radiator can reject in steady state at ``max_temperature_k``."""
        return self.net_radiated_w(self.max_temperature_k)

    def absorbed_w(self, illumination_fraction: float) -> float:
        """Environmental heat absorbed at an illumination fraction in [0, 1] (W)."""
        f = illumination_fraction
        check_number("ThermalSpec.absorbed_w", "illumination_fraction", f, lo=_F_LO, hi=_F_HI)
        f = min(max(float(f), 0.0), 1.0)
        return self.absorbed_shadow_w + f * (self.absorbed_sun_w - self.absorbed_shadow_w)

    def equilibrium_temperature_k(self, heat_in_w: float) -> float:
        """Steady temperature for a constant total heat input (W)."""
        return equilibrium_temperature_k(heat_in_w, self.conductance_w_k4,
                                         self.sink_temperature_k)


def equilibrium_temperature_k(heat_in_w: float, conductance_w_k4: float,
                              sink_temperature_k: float) -> float:
    """``u = (Q / k + T_sink^4) ** 0.25``: the temperature at which radiation balances Q."""
    return (heat_in_w / conductance_w_k4 + sink_temperature_k ** 4) ** 0.25
