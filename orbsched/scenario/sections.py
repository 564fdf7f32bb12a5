"""Scenario sections that describe what is simulated: hardware, workload, policy, recording.

The geometry half of a scenario (constellations, stations, network) lives in
:mod:`orbsched.scenario.schema`; this module holds the sections the engine reads.  Subsystem specs
reuse the frozen dataclasses of :mod:`orbsched.models.power`, :mod:`orbsched.models.thermal`,
:mod:`orbsched.workload.jobs` and :mod:`orbsched.workload.traces` directly (pydantic validates them,
rejects unknown keys and reports their own range checks with the field path), so each field is
defined and documented once.
"""
from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, model_validator

from .constants import (
    BUS_BASE_W,
    DEFAULT_HEAT_CAPACITY_J_K,
    DEFAULT_MAX_RADIATOR_K,
    DOSE_RAD_PER_YEAR,
    GPU_ANNUAL_FAILURE_RATE,
    GROUND_ELECTRICITY_USD_PER_KWH,
    GROUND_PUE,
    H100_IDLE_W,
    H100_SXM_W,
    RAD_PER_CRASH,
    RAD_PER_HBM_UE,
    RAD_PER_HOST_REBOOT,
    RAD_PER_SDC,
    SAA_LAT_DEG,
    SAA_LON_DEG,
    SAA_MULTIPLIER,
)
from .hardware import BatterySpec, SolarArraySpec, ThermalSpec
from .schema_base import StrictModel
from .workload_specs import ColumnMap, SyntheticParams, TraceOptions


class _Strict(StrictModel):
    """Frozen, unknown keys rejected; NaN, infinities and booleans refused for numbers."""


#: Default array: 17 m^2 of 30 % cells at 90 % packing, sun-tracking = 6.25 kW in full Sun,
#: about twice the 3.1 kW load of 4 busy H100s plus the bus (CONTEXT.md: size the array near 2x
#: the load so that sunlight also recharges what an eclipse drained).
DEFAULT_SOLAR = SolarArraySpec(area_m2=17.0)
#: Default battery: 4 kWh at 25 % depth of discharge = 1 kWh usable, enough for the bus and
#: idle GPUs through a 36-minute eclipse (0.35 kWh) but not for 4 busy GPUs (1.9 kWh): the
#: regime where scheduling decides what runs in shadow.
DEFAULT_BATTERY = BatterySpec(capacity_wh=4000.0)
#: Default radiator: 3 m^2 two-sided at emissivity 0.9 sheds 3.6 kW at 330 K, a little less
#: than 4 busy GPUs + bus + 600 W absorbed in full Sun, so throttling binds late in a sunlit arc.
DEFAULT_THERMAL = ThermalSpec(heat_capacity_j_k=DEFAULT_HEAT_CAPACITY_J_K, radiator_area_m2=3.0,
                              max_temperature_k=DEFAULT_MAX_RADIATOR_K, absorbed_sun_w=600.0,
                              absorbed_shadow_w=150.0)


class Hardware(_Strict):
    """One compute satellite (every satellite of the fleet is alike)."""

    gpus: int = Field(4, ge=0, description="GPUs per satellite")
    gpu_active_w: float = Field(H100_SXM_W, ge=0, description="board power of a busy GPU, W")
    gpu_idle_w: float = Field(H100_IDLE_W, ge=0, description="board power of an idle GPU, W")
    gpu_speed: float = Field(1.0, gt=0, description="speed relative to the nominal GPU-hour")
    bus_w: float = Field(BUS_BASE_W, ge=0, description="base load of the bus, W")
    solar: SolarArraySpec = DEFAULT_SOLAR
    array_age_years: float = Field(0.0, ge=0, description="age at the start (degradation)")
    battery: BatterySpec = DEFAULT_BATTERY
    initial_soc: float = Field(1.0, ge=0, le=1, description="state of charge at the start")
    payload_reserve_wh: float = Field(400.0, ge=0, description="battery energy above the floor "
                                      "kept for the bus: GPU jobs are shed at floor + reserve "
                                      "(400 Wh carries the 300 W bus and 4 idle GPUs, 580 W, "
                                      "through a 36-minute eclipse: 348 Wh)")
    battery_start_s: float = Field(60.0, ge=0, description="new GPU work that the array alone "
                                   "cannot carry starts only if the battery holds, above the "
                                   "payload floor, the energy for this many seconds of the "
                                   "shortfall (0: any energy above the floor; a start that is "
                                   "shed at once would repeat)")
    thermal: ThermalSpec | None = DEFAULT_THERMAL
    initial_temperature_k: float = Field(293.15, gt=0, description="node temperature at start")

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data):
        """A partial ``solar`` / ``battery`` / ``thermal`` mapping changes only the fields it
        names; the others keep the defaults above (``thermal: null`` turns the model off)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key, default in (("solar", DEFAULT_SOLAR), ("battery", DEFAULT_BATTERY),
                             ("thermal", DEFAULT_THERMAL)):
            if isinstance(data.get(key), dict):
                data[key] = {**dataclasses.asdict(default), **data[key]}
        return data

    @model_validator(mode="after")
    def _cross(self):
        if self.gpu_idle_w > self.gpu_active_w:
            raise ValueError(f"gpu_idle_w ({self.gpu_idle_w}) must not exceed gpu_active_w "
                             f"({self.gpu_active_w})")
        if self.payload_reserve_wh > self.battery.usable_wh + 1e-9:
            raise ValueError(f"payload_reserve_wh ({self.payload_reserve_wh}) exceeds the "
                             f"battery's usable energy ({self.battery.usable_wh:g} Wh)")
        floor_soc = 1.0 - self.battery.max_depth_of_discharge
        if self.battery.capacity_wh > 0 and self.initial_soc < floor_soc - 1e-12:
            raise ValueError(f"initial_soc ({self.initial_soc}) is below the battery floor "
                             f"1 - max_depth_of_discharge = {floor_soc}")
        return self

    @property
    def full_load_w(self) -> float:
        return self.bus_w + self.gpus * self.gpu_active_w


class SyntheticWorkload(_Strict):
    """Synthetic training jobs (:func:`orbsched.workload.jobs.synthetic_training`).

    ``n_jobs`` jobs arriving at ``rate_per_h``; without ``n_jobs``, every arrival within the
    run.  ``rate_per_h`` defaults to ``params.rate_per_h``.
    """

    type: Literal["synthetic"]
    #: exactly this many jobs (they may arrive after the run ends); default: every arrival of the
    #: run
    n_jobs: int | None = Field(None, ge=0)
    #: mean arrival rate; default params.rate_per_h
    rate_per_h: float | None = Field(None, gt=0)
    params: SyntheticParams = SyntheticParams()


TraceFormat = Literal["philly-csv", "philly-json", "alibaba-pai", "alibaba-openb", "helios", "csv"]
TRACE_FORMATS: tuple[str, ...] = get_args(TraceFormat)


class TraceWorkload(_Strict):
    """Jobs read from a GPU-cluster trace (:mod:`orbsched.workload.traces`)."""

    type: Literal["trace"]
    #: the trace's format (orbsched.workload.traces reads each)
    format: TraceFormat
    path: str = Field(min_length=1, description="relative to the scenario file")
    task_path: str | None = Field(None, description="alibaba-pai: the pai_task_table file")
    columns: ColumnMap | None = Field(None, description="csv: which column holds what")
    options: TraceOptions = TraceOptions()

    @model_validator(mode="after")
    def _cross(self):
        if self.format == "alibaba-pai" and not self.task_path:
            raise ValueError("format 'alibaba-pai' needs task_path (the pai_task_table file)")
        if self.format == "csv" and self.columns is None:
            raise ValueError("format 'csv' needs columns (submit, gpus and duration or end)")
        if self.format != "csv" and self.columns is not None:
            raise ValueError(f"columns applies to format 'csv' only, not {self.format!r}")
        return self


class PresetWorkload(_Strict):
    """Jobs shaped like a headline training run (:mod:`orbsched.workload.presets`: bloom, gpt3,
    meena): ``count`` of them, one every ``interval_h`` from the start."""

    type: Literal["preset"]
    #: the headline training run: bloom (176 B parameters, 384 GPUs), gpt3 (175 B, 10,000
    #: V100), meena (2.6 B, 1,024 TPU v3); sources in orbsched.workload.presets
    name: Literal["bloom", "gpt3", "meena"]
    #: jobs, one every interval_h from the start
    count: int = Field(1, ge=1)
    interval_h: float = Field(0.0, ge=0, description="between arrivals")
    work_scale: float = Field(1.0, gt=0, description="fraction of the published training "
                              "work (e.g. 0.01 for 1 %)")
    gpus: int | None = Field(None, ge=1, description="accelerators (default: the published "
                                "count; the work in GPU-hours is kept)")
    min_gpus_fraction: float = Field(1.0, gt=0, le=1, description="elastic minimum")
    #: computing time between checkpoints
    checkpoint_interval_s: float = Field(1800.0, gt=0)


class NoWorkload(_Strict):
    """No jobs: a run of the power and thermal state of an idle fleet."""

    type: Literal["none"]


Workload = Annotated[SyntheticWorkload | TraceWorkload | PresetWorkload | NoWorkload,
                     Field(discriminator="type")]
WORKLOAD_TAGS = {"synthetic": SyntheticWorkload, "trace": TraceWorkload,
                 "preset": PresetWorkload, "none": NoWorkload}


class Datacentre(_Strict):
    """A ground data centre, reached through its ground station's links to satellites.

    Its GPUs run on grid power at nominal speed (no eclipse, no battery, no radiation); the
    facility draws the GPUs' power times ``pue`` (cooling and distribution), paid at
    ``price_usd_per_kwh`` and, when given, emitting ``carbon_g_per_kwh``."""

    #: data centre name
    name: str = Field(min_length=1)
    station: str = Field(min_length=1, description="name of its ground station (uplink)")
    gpus: int = Field(ge=1, description="GPUs available to the fleet's jobs")
    gpu_active_w: float | None = Field(None, ge=0, description="busy GPU, W (default: "
                                          "hardware.gpu_active_w)")
    gpu_idle_w: float | None = Field(None, ge=0, description="idle GPU, W (default: "
                                        "hardware.gpu_idle_w)")
    gpu_speed: float = Field(1.0, gt=0, description="speed relative to the nominal GPU-hour")
    pue: float = Field(GROUND_PUE, ge=1.0, description="power usage effectiveness (1.3-1.4)")
    price_usd_per_kwh: float = Field(GROUND_ELECTRICITY_USD_PER_KWH, ge=0,
                                     description="electricity price at the facility")
    carbon_g_per_kwh: float | None = Field(None, ge=0, description="grid carbon intensity")


class PolicySpec(_Strict):
    """The scheduling policy: a registered name (``orbsched policies`` lists them) or a user
    class as ``module:Class`` (or ``path/to/file.py:Class``, relative to the scenario)."""

    #: a registered policy (reference/policies.md), module:Class or path/to/file.py:Class
    #: (relative to the file that names it); 'policy: NAME' is shorthand for 'policy: {name:
    #: NAME}'
    name: str = Field("greedy-sunlit", min_length=1)
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="keyword arguments of the policy's constructor")
    tick_s: float | None = Field(None, gt=0, description="period of on_tick calls, s")
    hook_budget_s: float | None = Field(
        60.0, gt=0, description="wall-clock seconds one hook call may take before the run "
                                "stops with an error naming the hook (null: no limit)")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v):
        return {"name": v} if isinstance(v, str) else v


class EngineOptions(_Strict):
    """Modelling choices of the engine."""

    penumbra_steps: int = Field(2, ge=1, le=10, description="illumination steps per penumbra")
    transfer_wait_s: float = Field(60.0, ge=0, description="a migration waits this long for "
                                   "a path before it fails")


class RecordOptions(_Strict):
    """What the results hold."""

    sample_s: float = Field(300.0, gt=0, description="time-series sample period, s")
    per_satellite: bool = Field(True, description="per-satellite rows in timeseries.parquet")
    link_events: bool = Field(False, description="link up/down rows in events.parquet")
    snapshot_s: float | None = Field(None, ge=0, description="instant of the world-map "
                                        "snapshot, s from the start; default mid-run")
    positions_s: float | None = Field(None, gt=0, description="period of positions.parquet "
                                         "(sub-satellite points for orbsched view), s; default "
                                         "none: the viewer recomputes them from the scenario")


class InferenceService(_Strict):
    """One inference service: replicas on satellites serve requests from ground regions.

    Requests arrive from the ``regions`` largest cities (:mod:`orbsched.workload.cities`) at a total
    ``rate_per_s`` split by population, modulated by local solar time:
    ``rate * (1 + diurnal_amplitude * cos(2 pi (local_hour - peak_local_hour) / 24))``.
    Service times have mean ``service_time_s`` and coefficient of variation ``service_cv``
    (1: exponential, 0: deterministic, otherwise gamma).
    """

    #: service name (unique)
    name: str = Field(min_length=1)
    replicas: int = Field(1, ge=0, description="replicas placed at the start")
    #: GPUs a replica holds (drawing active power while placed)
    gpus_per_replica: int = Field(1, ge=1)
    replica_gb: float = Field(140.0, ge=0, description="weights moved when a replica moves "
                              "(140 GB: a 70B-parameter model at 2 bytes per parameter)")
    service_time_s: float = Field(gt=0, description="mean service time of one request")
    service_cv: float = Field(1.0, ge=0, description="coefficient of variation of it")
    latency_objective_s: float = Field(gt=0, description="latency objective per request")
    rate_per_s: float = Field(ge=0, description="mean request rate over all regions")
    regions: int = Field(20, ge=1, le=40, description="the N largest cities")
    #: A in 1 + A cos(2 pi (local solar hour - peak) / 24)
    diurnal_amplitude: float = Field(0.5, ge=0, le=1)
    peak_local_hour: float = Field(20.0, ge=0, lt=24, description="local solar hour of peak")


class InferenceOptions(_Strict):
    """Inference demand (see :mod:`orbsched.engine.inference`)."""

    #: the services (inference.services below)
    services: list[InferenceService] = Field(default_factory=list)
    fibre_speed_km_s: float = Field(203940.0, gt=0, description="signal speed from a city to "
                                    "its nearest ground station: c / 1.47 (silica fibre)")
    record_requests: bool = Field(True, description="one row per request in requests.parquet")

    @model_validator(mode="after")
    def _unique(self):
        names = [s.name for s in self.services]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"inference service names must be unique, repeated: {dup}")
        return self


class SaaRegion(_Strict):
    """The South Atlantic Anomaly as a latitude/longitude box, or a polygon of
    ``[lat_deg, lon_deg]`` vertices (which then replaces the box)."""

    #: South Atlantic Anomaly box: southern latitude (AP-8 / SAMPEX maps, rounded)
    lat_min_deg: float = Field(SAA_LAT_DEG[0], ge=-90, le=90)
    #: northern latitude of the box
    lat_max_deg: float = Field(SAA_LAT_DEG[1], ge=-90, le=90)
    #: western longitude of the box
    lon_min_deg: float = Field(SAA_LON_DEG[0], ge=-180, le=180)
    #: eastern longitude of the box
    lon_max_deg: float = Field(SAA_LON_DEG[1], ge=-180, le=180)
    #: [[lat, lon], ...] vertices instead of the box
    polygon: list[tuple[float, float]] | None = None
    multiplier: float = Field(SAA_MULTIPLIER, ge=1, description="upset rate inside / outside")

    @model_validator(mode="after")
    def _order(self):
        if self.lat_min_deg >= self.lat_max_deg or self.lon_min_deg >= self.lon_max_deg:
            raise ValueError("the box needs lat_min_deg < lat_max_deg and lon_min_deg < "
                             "lon_max_deg")
        if self.polygon is not None and len(self.polygon) < 3:
            raise ValueError("a polygon needs at least 3 [lat_deg, lon_deg] vertices")
        return self


class Radiation(_Strict):
    """Per-GPU upset processes; the mean dose rate is kept, the SAA concentrates it."""

    #: radiation upsets on or off
    enabled: bool = True
    #: mean dose behind ~10 mm Al in LEO (Suncatcher's TPU v6e proton tests)
    dose_rad_per_year: float = Field(DOSE_RAD_PER_YEAR, ge=0)
    rad_per_sdc: float = Field(RAD_PER_SDC, gt=0, description="silent data corruption")
    rad_per_hbm_ue: float = Field(RAD_PER_HBM_UE, gt=0, description="uncorrectable HBM error")
    rad_per_crash: float = Field(RAD_PER_CRASH, gt=0, description="chip crash")
    rad_per_host_reboot: float = Field(RAD_PER_HOST_REBOOT, gt=0, description="host reboot")
    host_reboot_s: float = Field(300.0, ge=0, description="GPUs down after a host reboot "
                                 "(ASSUMPTION: 5 minutes)")
    saa: SaaRegion | None = SaaRegion()


class ScriptedFault(_Strict):
    """``satellite_fail`` (sat, at_s), ``gpu_fail`` (sat, at_s), ``host_reboot`` (sat, at_s),
    ``link_down`` (a, b, at_s, until_s: none = for good)."""

    #: satellite_fail, gpu_fail, host_reboot (sat, at_s) or link_down (a, b, at_s, until_s)
    kind: Literal["satellite_fail", "gpu_fail", "host_reboot", "link_down"]
    #: when, s from the start
    at_s: float = Field(ge=0)
    #: the satellite (satellite_fail, gpu_fail, host_reboot)
    sat: int | None = Field(None, ge=0)
    #: link_down: one end
    a: int | None = Field(None, ge=0)
    #: link_down: the other end
    b: int | None = Field(None, ge=0)
    #: link_down: back up at this time; none = for good
    until_s: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _fields(self):
        if self.kind == "link_down":
            if self.a is None or self.b is None or self.a == self.b:
                raise ValueError("link_down needs two different satellites a and b")
            if self.until_s is not None and self.until_s <= self.at_s:
                raise ValueError("until_s must be later than at_s")
        elif self.sat is None:
            raise ValueError(f"{self.kind} needs sat")
        return self


class Faults(_Strict):
    """Radiation upsets, permanent failures and a fault script (see orbsched.models.faults)."""

    #: all faults on or off
    enabled: bool = True
    radiation: Radiation = Radiation()
    #: permanent GPU failures per GPU-year (Llama 3: 220 GPU/HBM failures on 16,384 H100s in 54
    #: days)
    gpu_annual_failure_rate: float = Field(GPU_ANNUAL_FAILURE_RATE, ge=0)
    satellite_annual_failure_rate: float = Field(0.0, ge=0, description="whole satellite")
    terminal_annual_failure_rate: float = Field(0.0, ge=0, description="per laser terminal")
    #: laser terminals per satellite (terminal failures)
    terminals_per_sat: int = Field(4, ge=1)
    space_multiplier: float = Field(1.0, ge=0, description="on the ground failure rates "
                                    "(ASSUMPTION: 1, no evidence either way yet)")
    remote_checkpoints: bool = Field(False, description="checkpoints survive the loss of "
                                     "their satellite (replicated elsewhere)")
    #: scripted faults (faults.script below)
    script: list[ScriptedFault] = Field(default_factory=list)
