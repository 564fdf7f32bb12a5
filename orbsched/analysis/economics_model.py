"""The cost model behind :mod:`orbsched.analysis.economics` (whose docstring states it):
published launch prices and reference satellites, the satellite's parts, satellite and ground
costs, and the orbit and ground cost functions.  Every number is a parameter."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scenario.checks import check_number
from ..scenario.constants import (
    GROUND_ELECTRICITY_USD_PER_KWH,
    GROUND_PUE,
    H100_SXM_W,
    HOURS_PER_YEAR,
)
from ..scenario.errors import (
    OrbschedError,
    ScenarioError,
    SubsystemError,
)
from ..scenario.sections import Hardware

# --- Launch prices (USD per kg to LEO) --------------------------------------------------------
#: Reusable Falcon 9 today, ~$3,600/kg (../shared/CONTEXT.md; Suncatcher paper, Aguera y Arcas
#: et al. 2025, arXiv:2511.19468, which derives its $14,700/kW-yr figure from it).
FALCON9_USD_PER_KG = 3600.0
#: Suncatcher's projection for around 2035 from the launch learning curve: < $200/kg
#: (arXiv:2511.19468; ../shared/CONTEXT.md).
SUNCATCHER_2035_USD_PER_KG = 200.0
#: Starship V3 (~100 t per flight), the hoped-for $200-300/kg behind the seed's estimate that
#: launching a 200 MW orbital data centre costs $5-7.5 B (../shared/CONTEXT.md).
STARSHIP_HOPED_USD_PER_KG = (200.0, 300.0)
#: Starcloud's cost model assumes ~$30/kg (../shared/CONTEXT.md); ARK's bull case < $100/kg.
STARCLOUD_USD_PER_KG = 30.0

# --- Reference satellites ---------------------------------------------------------------------
#: Suncatcher's launched-power reference: a Starlink v2 mini class satellite of 575 kg and
#: 28 kW, over a 5-year life (arXiv:2511.19468): 575 x $200 / (28 kW x 5 yr) = $821/kW-yr,
#: quoted as ~$810/kW-yr; at $3,600/kg, $14,786/kW-yr, quoted as ~$14,700/kW-yr.
SUNCATCHER_REF_MASS_KG = 575.0
SUNCATCHER_REF_POWER_KW = 28.0
SUNCATCHER_REF_LIFETIME_YEARS = 5.0
SUNCATCHER_810_USD_PER_KW_YEAR = 810.0
SUNCATCHER_14700_USD_PER_KW_YEAR = 14700.0
#: Specific mass of a Starlink v2 mini class satellite, ~20 kg/kW (575 kg / 28 kW = 20.5;
#: ../shared/CONTEXT.md).
STARLINK_V2_MINI_KG_PER_KW = SUNCATCHER_REF_MASS_KG / SUNCATCHER_REF_POWER_KW
#: Specific mass implied by the seed's "$5-7.5 B to launch 200 MW at $200-300/kg":
#: 5e9 / (200,000 kW x $200/kg) = 7.5e9 / (200,000 x $300) = 125 kg/kW.
SEED_200MW_KG_PER_KW = 125.0

# --- Satellite parts --------------------------------------------------------------------------
#: Solar array specific mass, kg per kW of beginning-of-life full-Sun output.  ASSUMPTION:
#: 10 kg/kW (100 W/kg at array level, the class of today's deployable roll-out and flexible
#: arrays; rigid panels are heavier).  Not a figure from CONTEXT.md.
SOLAR_ARRAY_KG_PER_KW = 10.0
#: Li-ion packs store 100-160 Wh/kg (../shared/CONTEXT.md); the middle, 130 Wh/kg, is
#: 1000 / 130 = 7.69 kg per kWh of capacity.
LI_ION_WH_PER_KG = 130.0
BATTERY_KG_PER_KWH = 1000.0 / LI_ION_WH_PER_KG
#: Deployable radiator panel, kg per m^2 of panel (one face).  ASSUMPTION: 5 kg/m^2
#: (honeycomb panels with embedded heat pipes are a few kg/m^2; loop-heat-pipe deployables
#: more).  Not a figure from CONTEXT.md.
RADIATOR_KG_PER_M2 = 5.0
#: Compute mass per GPU: board, its share of the host (CPUs, memory, network), cold plate and
#: harness.  ASSUMPTION: 10 kg (an 8-GPU HGX/DGX H100 system is ~130 kg on the ground with
#: chassis and power supplies that a satellite would not fly).  Not a figure from CONTEXT.md.
COMPUTE_KG_PER_GPU = 10.0
#: Structure, avionics, attitude control, propulsion and laser terminals as a fraction of the
#: satellite's total mass.  ASSUMPTION: 0.30 (primary structure alone is typically ~20-25 % of
#: a spacecraft's dry mass).  Not a figure from CONTEXT.md.
STRUCTURE_BUS_FRACTION = 0.30

# --- Satellite and ground costs --------------------------------------------------------------
#: Price of one GPU with its share of the host.  ASSUMPTION: $30,000 for an H100-class GPU
#: (order of reported street prices; not a published list price).  Set it per study.
GPU_PRICE_USD = 30000.0
#: Manufacturing cost of everything but the GPUs, per kg of satellite.  ASSUMPTION: $1,000/kg,
#: the order of public estimates for mass-produced LEO broadband satellites (no published
#: figure).
BUS_USD_PER_KG = 1000.0
#: Design life in orbit, 5 years: the battery depth-of-discharge rule of CONTEXT.md is for a
#: 5-year LEO life, and Suncatcher's $810/kW-yr is per year of a 5-year life.
ORBIT_LIFETIME_YEARS = 5.0
#: Probability of losing a satellite at launch.  ASSUMPTION: 0.01 (a mature reusable launcher
#: loses well under 1 % of its missions; new vehicles do worse).  0 reproduces the published
#: launched-power prices, which ignore it.
LAUNCH_FAILURE_PROBABILITY = 0.01
#: Construction cost of an AI data centre per MW of IT load: about $50 B per GW
#: (../shared/CONTEXT.md), i.e. $50 M/MW.  An all-in figure that includes the IT hardware.
GROUND_USD_PER_MW_1GW = 50e9 / 1000.0
#: The seed's $15-25 B for a 200 MW data centre: $75-125 M/MW (../shared/CONTEXT.md), also
#: all-in.
GROUND_USD_PER_MW_200MW = (15e9 / 200.0, 25e9 / 200.0)
#: IT power per GPU over GPU board power: an NVIDIA DGX H100 draws up to 10.2 kW with eight
#: 700 W H100 SXM GPUs (DGX H100 datasheet): 10.2 / 5.6 = 1.82.
DGX_H100_SYSTEM_W = 10200.0
SERVER_POWER_FACTOR = DGX_H100_SYSTEM_W / (8 * H100_SXM_W)
#: Straight-line amortisation of a ground build.  ASSUMPTION: 5 years, the depreciation life
#: of the GPUs that dominate an all-in AI data-centre capex (4-6 years is usual); use a longer
#: life for a shell-only construction figure.
GROUND_LIFETIME_YEARS = 5.0


def _check(own, name, value, *, lo=0.0, lo_open=True, hi=None, hi_open=False):
    """A finite number in its range, else ScenarioError naming the owner and field."""
    try:
        check_number(own, name, value, lo=lo, lo_open=lo_open, hi=hi)
    except SubsystemError as exc:
        raise ScenarioError(str(exc)) from None
    if hi_open and hi is not None and float(value) >= hi:
        raise ScenarioError(f"{own}.{name}: expected a number in [{lo}, {hi}), got {value!r}")


def _positive(own, name, value, *, lo_open=True):
    _check(own, name, value, lo_open=lo_open)


@dataclass(frozen=True)
class OrbitEconomics:
    """Cost parameters of a compute satellite (defaults and sources: module constants)."""

    launch_usd_per_kg: float = SUNCATCHER_2035_USD_PER_KG
    solar_array_kg_per_kw: float = SOLAR_ARRAY_KG_PER_KW
    battery_kg_per_kwh: float = BATTERY_KG_PER_KWH
    radiator_kg_per_m2: float = RADIATOR_KG_PER_M2
    compute_kg_per_gpu: float = COMPUTE_KG_PER_GPU
    structure_bus_fraction: float = STRUCTURE_BUS_FRACTION
    gpu_price_usd: float = GPU_PRICE_USD
    bus_usd_per_kg: float = BUS_USD_PER_KG
    lifetime_years: float = ORBIT_LIFETIME_YEARS
    launch_failure_probability: float = LAUNCH_FAILURE_PROBABILITY
    redundancy: float = 1.0

    def __post_init__(self):
        own = "OrbitEconomics"
        for name in ("launch_usd_per_kg", "solar_array_kg_per_kw", "battery_kg_per_kwh",
                     "radiator_kg_per_m2", "compute_kg_per_gpu", "gpu_price_usd",
                     "bus_usd_per_kg"):
            _positive(own, name, getattr(self, name), lo_open=False)
        _positive(own, "lifetime_years", self.lifetime_years)
        _check(own, "structure_bus_fraction", self.structure_bus_fraction, lo_open=False,
               hi=1.0, hi_open=True)
        _check(own, "launch_failure_probability", self.launch_failure_probability,
               lo_open=False, hi=1.0, hi_open=True)
        _check(own, "redundancy", self.redundancy, lo=1.0, lo_open=False)


@dataclass(frozen=True)
class GroundEconomics:
    """Cost parameters of a ground data centre (defaults and sources: module constants)."""

    electricity_usd_per_kwh: float = GROUND_ELECTRICITY_USD_PER_KWH
    pue: float = GROUND_PUE
    construction_usd_per_mw: float = GROUND_USD_PER_MW_1GW
    construction_includes_hardware: bool = True
    gpu_price_usd: float = GPU_PRICE_USD
    server_power_factor: float = SERVER_POWER_FACTOR
    lifetime_years: float = GROUND_LIFETIME_YEARS

    def __post_init__(self):
        own = "GroundEconomics"
        for name in ("electricity_usd_per_kwh", "construction_usd_per_mw", "gpu_price_usd"):
            _positive(own, name, getattr(self, name), lo_open=False)
        _check(own, "pue", self.pue, lo=1.0, lo_open=False)
        _check(own, "server_power_factor", self.server_power_factor, lo=1.0, lo_open=False)
        _positive(own, "lifetime_years", self.lifetime_years)
        if not isinstance(self.construction_includes_hardware, (bool, np.bool_)):
            raise ScenarioError("GroundEconomics.construction_includes_hardware: expected true "
                                f"or false, got {self.construction_includes_hardware!r}")


@dataclass(frozen=True)
class SatelliteSpec:
    """What the cost model needs of one satellite: full-Sun array power (kW), battery capacity
    (kWh), radiator panel area (m^2, one face), GPUs and the board power of a busy GPU (W)."""

    array_kw: float
    battery_kwh: float
    radiator_m2: float
    gpus: int
    gpu_active_w: float = H100_SXM_W

    def __post_init__(self):
        own = "SatelliteSpec"
        _positive(own, "array_kw", self.array_kw)
        for name in ("battery_kwh", "radiator_m2", "gpus", "gpu_active_w"):
            _positive(own, name, getattr(self, name), lo_open=False)


# ----------------------------------------------------------------------------- launch
def launch_cost_per_kw_year(mass_kg, power_kw, launch_usd_per_kg, lifetime_years,
                            launch_failure_probability=0.0):
    """Launch cost per kW of satellite power per year of life (the "launched power price"):
    ``mass_kg x launch_usd_per_kg / (power_kw x lifetime_years x (1 - p_fail))``.

    Suncatcher's reference (575 kg, 28 kW, 5 years): $821/kW-yr at $200/kg (quoted ~$810) and
    $14,786/kW-yr at $3,600/kg (quoted ~$14,700).  Accepts numpy arrays.
    """
    _check("launch_cost_per_kw_year", "launch_failure_probability",
           launch_failure_probability, lo_open=False, hi=1.0, hi_open=True)
    power_kw = np.asarray(power_kw, float)
    lifetime_years = np.asarray(lifetime_years, float)
    if np.any(power_kw <= 0) or np.any(lifetime_years <= 0):
        raise OrbschedError("launch_cost_per_kw_year: power_kw and lifetime_years must be > 0, "
                            f"got {power_kw} and {lifetime_years}")
    out = (np.asarray(mass_kg, float) * np.asarray(launch_usd_per_kg, float)
           / (power_kw * lifetime_years * (1.0 - launch_failure_probability)))
    return float(out) if out.ndim == 0 else out


def launch_cost_usd(power_kw, kg_per_kw, launch_usd_per_kg):
    """Cost of launching ``power_kw`` of satellites of specific mass ``kg_per_kw``: e.g. the
    seed's 200 MW orbital data centre at 125 kg/kW costs $5.0 B at $200/kg, $7.5 B at
    $300/kg."""
    return float(power_kw) * float(kg_per_kw) * float(launch_usd_per_kg)


# ----------------------------------------------------------------------------- satellite
def satellite_from_hardware(hardware) -> SatelliteSpec:
    """A :class:`SatelliteSpec` from a scenario's ``hardware`` section (a
    :class:`orbsched.scenario.sections.Hardware` or its dict).  The array's power is its
    beginning-of-life output in full Sun with its pointing's cosine factor; the radiator area
    is the panel area (``thermal.radiator_area_m2``, 0 without a thermal model).  A
    :class:`SatelliteSpec` is returned as it is."""
    if isinstance(hardware, SatelliteSpec):
        return hardware
    if isinstance(hardware, dict):
        from pydantic import ValidationError

        try:
            hardware = Hardware.model_validate(hardware)
        except ValidationError as exc:
            raise ScenarioError(f"hardware: {exc}") from None
    array_w = hardware.solar.beginning_of_life_w
    thermal = hardware.thermal
    return SatelliteSpec(array_kw=array_w / 1000.0,
                         battery_kwh=hardware.battery.capacity_wh / 1000.0,
                         radiator_m2=thermal.radiator_area_m2 if thermal is not None else 0.0,
                         gpus=int(hardware.gpus), gpu_active_w=float(hardware.gpu_active_w))


def satellite_mass_kg(econ: OrbitEconomics, sat: SatelliteSpec) -> dict:
    """Mass of a satellite from its parts (kg): ``solar_array``, ``battery``, ``radiator``,
    ``compute``, ``structure_bus`` and ``total``."""
    parts = {"solar_array": sat.array_kw * econ.solar_array_kg_per_kw,
             "battery": sat.battery_kwh * econ.battery_kg_per_kwh,
             "radiator": sat.radiator_m2 * econ.radiator_kg_per_m2,
             "compute": sat.gpus * econ.compute_kg_per_gpu}
    subtotal = sum(parts.values())
    total = subtotal / (1.0 - econ.structure_bus_fraction)
    parts["structure_bus"] = total - subtotal
    parts["total"] = total
    return parts


def _check_utilisation(u, own):
    _check(own, "utilisation", u, hi=1.0)
    return float(u)


def orbit_costs(econ: OrbitEconomics | None = None, hardware=None, *, utilisation=1.0, mass_kg=None,
                power_kw=None, gpus=None) -> dict:
    """Cost of one compute satellite and of its useful GPU-hours.

    Give the satellite as ``hardware`` (a scenario's hardware section or a
    :class:`SatelliteSpec`; the mass then follows from its parts), or explicitly as
    ``mass_kg``, ``power_kw`` and ``gpus`` (these override what ``hardware`` gives).
    ``utilisation`` is the fraction of GPU time held by jobs (e.g. a run's ``utilisation``).

    Returns a dict (USD unless the key says otherwise): ``mass_kg``, ``mass_parts_kg``,
    ``power_kw``, ``kg_per_kw``, ``gpus``, ``launch``, ``manufacturing``, ``gpu_hardware``,
    ``capital`` (per satellite, with the launch-failure mark-up), ``launch_usd_per_kw_year``,
    ``capital_usd_per_kw_year``, ``useful_gpu_h`` (over the life), and per useful GPU-hour
    ``launch_usd_per_gpu_h``, ``manufacturing_usd_per_gpu_h``, ``gpu_usd_per_gpu_h``,
    ``energy_usd_per_gpu_h`` (0: sunlight is free once launched) and ``usd_per_gpu_h``.
    """
    econ = econ or OrbitEconomics()
    u = _check_utilisation(utilisation, "orbit_costs")
    sat = hardware if isinstance(hardware, SatelliteSpec) or hardware is None else \
        satellite_from_hardware(hardware)
    parts = satellite_mass_kg(econ, sat) if sat is not None else None
    if mass_kg is None and parts is None:
        raise OrbschedError("orbit_costs: give hardware, or mass_kg, power_kw and gpus")
    if mass_kg is not None:
        mass = float(mass_kg)
    else:
        assert parts is not None                # checked just above
        mass = parts["total"]
    power = float(power_kw) if power_kw is not None else (sat.array_kw if sat else None)
    n_gpu = int(gpus) if gpus is not None else (sat.gpus if sat else None)
    if power is None or n_gpu is None:
        raise OrbschedError("orbit_costs: power_kw and gpus are needed with mass_kg")
    _positive("orbit_costs", "mass_kg", mass)
    _positive("orbit_costs", "power_kw", power)
    _check("orbit_costs", "gpus", n_gpu, lo=1.0, lo_open=False)
    if parts is not None and mass_kg is not None:
        parts = None  # the parts no longer add up to the mass given
    markup = 1.0 / (1.0 - econ.launch_failure_probability)
    gpu_mass = n_gpu * econ.compute_kg_per_gpu
    launch = mass * econ.launch_usd_per_kg * markup
    manufacturing = max(mass - gpu_mass, 0.0) * econ.bus_usd_per_kg * markup
    gpu_hw = n_gpu * econ.gpu_price_usd * markup
    capital = launch + manufacturing + gpu_hw
    life_h = econ.lifetime_years * HOURS_PER_YEAR
    useful = n_gpu * life_h * u / econ.redundancy
    return {
        "mass_kg": mass,
        "mass_parts_kg": parts,
        "power_kw": power,
        "kg_per_kw": mass / power,
        "gpus": n_gpu,
        "launch": launch,
        "manufacturing": manufacturing,
        "gpu_hardware": gpu_hw,
        "capital": capital,
        "launch_usd_per_kw_year": launch_cost_per_kw_year(
            mass, power, econ.launch_usd_per_kg, econ.lifetime_years,
            econ.launch_failure_probability),
        "capital_usd_per_kw_year": capital / (power * econ.lifetime_years),
        "utilisation": u,
        "useful_gpu_h": useful,
        "launch_usd_per_gpu_h": launch / useful,
        "manufacturing_usd_per_gpu_h": manufacturing / useful,
        "gpu_usd_per_gpu_h": gpu_hw / useful,
        "construction_usd_per_gpu_h": 0.0,
        "energy_usd_per_gpu_h": 0.0,
        "usd_per_gpu_h": capital / useful,
    }


def ground_costs(econ: GroundEconomics | None = None, gpu_power_w=H100_SXM_W,
                 utilisation=1.0) -> dict:
    """Cost of a useful GPU-hour in a ground data centre, per GPU of board power
    ``gpu_power_w`` used a fraction ``utilisation`` of the time.

    Returns (USD unless the key says otherwise): ``it_kw_per_gpu``, ``capex_per_gpu``
    (construction plus, unless included, the GPU), ``construction_usd_per_gpu_h``,
    ``gpu_usd_per_gpu_h``, ``energy_usd_per_gpu_h``, ``usd_per_gpu_h``,
    ``electricity_usd_per_kw_year`` (the price of a kW delivered to IT all year, with PUE).
    """
    econ = econ or GroundEconomics()
    u = _check_utilisation(utilisation, "ground_costs")
    _positive("ground_costs", "gpu_power_w", gpu_power_w)
    it_kw = gpu_power_w * econ.server_power_factor / 1000.0
    construction = econ.construction_usd_per_mw * it_kw / 1000.0
    gpu_hw = 0.0 if econ.construction_includes_hardware else econ.gpu_price_usd
    useful_h = econ.lifetime_years * HOURS_PER_YEAR * u
    energy = it_kw * econ.pue * econ.electricity_usd_per_kwh
    return {
        "it_kw_per_gpu": it_kw,
        "capex_per_gpu": construction + gpu_hw,
        "utilisation": u,
        "construction_usd_per_gpu_h": construction / useful_h,
        "gpu_usd_per_gpu_h": gpu_hw / useful_h,
        "launch_usd_per_gpu_h": 0.0,
        "manufacturing_usd_per_gpu_h": 0.0,
        "energy_usd_per_gpu_h": energy,
        "usd_per_gpu_h": (construction + gpu_hw) / useful_h + energy,
        "electricity_usd_per_kw_year": econ.pue * econ.electricity_usd_per_kwh * HOURS_PER_YEAR,
    }
