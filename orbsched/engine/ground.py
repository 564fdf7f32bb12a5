"""Ground data centres as hosts of the engine, beside the satellites.

A data centre sits at a ground station (``datacentres[].station``); its host index is that
station's node in the laser network (``n_sats + station index``), so jobs reach it and leave it
over the station's ground links, only while a satellite is in view, like any transfer.  Its
GPUs run on grid power at their nominal speed: no eclipse, no battery, no throttle, no
radiation.

Energy and money, integrated exactly between changes (power is piecewise constant):

* ``busy_energy_wh``: the busy GPUs' board power (what the jobs used); ``idle_energy_wh``: the
  idle GPUs' (a facility's GPUs draw idle power whether or not the fleet uses them);
* facility energy = (busy + idle) x ``pue`` (cooling and power distribution, 1.3-1.4);
* cost = facility energy x ``price_usd_per_kwh``; carbon = facility energy x
  ``carbon_g_per_kwh`` (when given).

SIMPLIFICATION: the PUE is constant (real PUE varies with load and weather by a few percent).
Ground stations without a data centre are hosts with no GPUs.
"""
from __future__ import annotations

__all__ = ["GroundSite"]


class GroundSite:
    """A ground station as an engine host (after the satellites: host index ``n_sats +
    station``); a data centre when ``spec`` is given, else a host with no GPUs.  It has no
    eclipse, battery, heat or faults, and keeps its own energy and utilisation totals."""

    __slots__ = ("idx", "name", "station", "spec", "gpus", "held", "drawing", "speed",
                 "replica_gpus", "active_w", "idle_w", "t_s", "busy_gpu_s", "busy_energy_wh",
                 "idle_energy_wh", "jobs_completed")

    def __init__(self, idx: int, station: str, spec=None, hw=None) -> None:
        self.idx = idx
        self.station = station
        self.spec = spec
        self.name = spec.name if spec is not None else station
        self.gpus = spec.gpus if spec is not None else 0
        self.held = 0
        self.drawing = 0
        # the engine's progress rate is gpus x hardware.gpu_speed x speed
        self.speed = (spec.gpu_speed / hw.gpu_speed) if spec is not None else 1.0
        self.replica_gpus = 0
        if spec is not None:
            self.active_w = hw.gpu_active_w if spec.gpu_active_w is None else spec.gpu_active_w
            self.idle_w = hw.gpu_idle_w if spec.gpu_idle_w is None else spec.gpu_idle_w
        else:
            self.active_w = self.idle_w = 0.0
        self.t_s = 0.0
        self.busy_gpu_s = 0.0
        self.busy_energy_wh = 0.0
        self.idle_energy_wh = 0.0
        self.jobs_completed = 0

    @property
    def is_datacentre(self) -> bool:
        return self.spec is not None

    @property
    def free(self) -> int:
        return max(0, self.gpus - self.held)

    # -------------------------------------------------------------------- engine interface
    def touch(self, t_s: float) -> None:
        """Integrate energy and busy GPU time up to t_s (before the GPU counts change)."""
        dt = t_s - self.t_s
        if dt > 0.0:
            self.busy_gpu_s += self.held * dt
            self.busy_energy_wh += self.active_w * self.drawing * dt / 3600.0
            self.idle_energy_wh += self.idle_w * (self.gpus - self.drawing) * dt / 3600.0
            self.t_s = t_s

    def load_w(self) -> float:
        """Electrical load of its GPUs now (W; the facility's overhead is the PUE's)."""
        d = self.drawing
        return self.active_w * d + self.idle_w * (self.gpus - d)

    # ----------------------------------------------------------------------------- results
    def summary(self) -> dict:
        """Energy, cost and carbon of the data centre so far (see the module docstring)."""
        s = self.spec
        it_kwh = (self.busy_energy_wh + self.idle_energy_wh) / 1000.0
        fac = it_kwh * s.pue
        return {
            "name": self.name, "station": self.station, "host": self.idx, "gpus": self.gpus,
            "busy_gpu_h": self.busy_gpu_s / 3600.0,
            "busy_energy_kwh": self.busy_energy_wh / 1000.0,
            "idle_energy_kwh": self.idle_energy_wh / 1000.0,
            "busy_facility_kwh": self.busy_energy_wh / 1000.0 * s.pue,
            "facility_energy_kwh": fac, "pue": s.pue,
            "cost_usd": fac * s.price_usd_per_kwh,
            "busy_cost_usd": self.busy_energy_wh / 1000.0 * s.pue * s.price_usd_per_kwh,
            "carbon_kg": (fac * s.carbon_g_per_kwh / 1000.0
                          if s.carbon_g_per_kwh is not None else None),
            "jobs_completed": self.jobs_completed,
        }
