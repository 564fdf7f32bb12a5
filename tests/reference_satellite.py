"""Reference models for the fleet tests: the engine's per-satellite code before the fleet
became arrays (issue 19), kept as the oracle ``tests/test_fleet.py`` and
``benchmarks/bench_fleet.py`` hold :class:`orbsched.engine.fleet.Fleet` against.

* :class:`Satellite`: one compute satellite (illumination, power bus, thermal node, GPUs,
  throttle), exactly the engine's ``orbsched/engine/satellite.py`` at that time;
* :class:`ArraysView`: the policy view's power and host queries on the engine's per-satellite
  arrays, exactly ``orbsched/engine/view.py`` at that time.

The satellite model they implement (load, payload floor, admission margin, throttling) is
documented once, in :mod:`orbsched.engine.fleet`'s docstring, which the fleet keeps.
"""
from __future__ import annotations

import math

import numpy as np

from orbsched.models.power import PowerBus
from orbsched.models.thermal import ThermalNode

__all__ = ["ArraysView", "Satellite", "SUNLIT", "PENUMBRA", "UMBRA", "STATE_NAMES"]

SUNLIT, PENUMBRA, UMBRA = 0, 1, 2
STATE_NAMES = ("sunlit", "penumbra", "umbra")
_THROTTLE_TOL = 1e-9


class Satellite:
    """Engine-side state of one satellite (the engine owns it; policies see a read-only view).

    GPU accounting: ``held`` GPUs belong to jobs (running, checkpointing, restoring, or
    reserved for a migration on its way) and to inference replicas (``replica_gpus``, also
    reserved for a replica on its way); ``drawing`` of them draw active power.
    """

    __slots__ = ("idx", "name", "hw", "bus", "thermal", "gpus", "held", "drawing", "speed",
                 "illumination", "state", "failed", "jobs", "array_full_w", "_k_active",
                 "_base_w", "threshold_token", "replica_gpus", "rebooting", "payload_floor_wh")

    def __init__(self, idx, name, hw, *, t_s=0.0, illumination=1.0, state=SUNLIT):
        self.idx = idx
        self.name = name
        self.hw = hw
        self.gpus = hw.gpus
        self.held = 0
        self.drawing = 0
        self.speed = 1.0
        self.illumination = float(illumination)
        self.state = state
        self.failed = False
        self.jobs = {}  # job_id -> job (running, migrating out or in, restoring)
        self.replica_gpus = 0  # GPUs of inference replicas here (or reserved for one coming)
        self.rebooting = 0     # > 0 while a host reboot keeps the GPUs down
        self.array_full_w = hw.solar.power_w(1.0, hw.array_age_years)
        self._base_w = hw.bus_w + hw.gpus * hw.gpu_idle_w
        self._k_active = hw.gpu_active_w - hw.gpu_idle_w
        b = hw.battery
        stored = b.capacity_wh * hw.initial_soc
        stored = min(max(stored, b.floor_wh), b.capacity_wh)
        self.bus = PowerBus(b, t_s=t_s, stored_wh=stored,
                            array_w=self.array_full_w * self.illumination, load_w=self._base_w)
        self.thermal = None
        if hw.thermal is not None:
            self.thermal = ThermalNode(hw.thermal, temperature_k=hw.initial_temperature_k,
                                       t_s=t_s, illumination_fraction=self.illumination,
                                       dissipation_w=self._base_w)
        self.threshold_token = 0
        #: GPUs are shed when the battery falls to this while it discharges (the rest is the
        #: bus's reserve down to the hard floor of the allowed depth of discharge).
        self.payload_floor_wh = b.floor_wh + getattr(hw, "payload_reserve_wh", 0.0)

    # ------------------------------------------------------------------------------ queries
    @property
    def free(self) -> int:
        return 0 if self.failed or self.rebooting else max(0, self.gpus - self.held)

    def load_w(self, drawing=None, speed=None) -> float:
        d = self.drawing if drawing is None else drawing
        s = self.speed if speed is None else speed
        return self._base_w + self._k_active * d * s

    def at_payload_floor(self) -> bool:
        """True when the battery is at (or below) the payload floor: GPUs get array power
        only."""
        return self.bus.stored_wh <= self.payload_floor_wh + 1e-9 * self.bus.battery.capacity_wh

    def payload_short(self) -> bool:
        """GPU jobs must be shed: the battery is at the payload floor and discharging while
        GPUs draw active power."""
        return (self.drawing > 0 and self.at_payload_floor()
                and self.bus.battery_rate_w() < 0.0)

    def temperature_k(self) -> float:
        return math.nan if self.thermal is None else self.thermal.temperature_k

    # ------------------------------------------------------------------------------- update
    def apply(self, t_s: float) -> bool:
        """Bring the subsystems to ``t_s`` with the current illumination and GPU state; choose
        the throttle; return True if the speed changed (the engine then re-rates the jobs).

        Uses the subsystems' per-event paths (``_update``: ``set_inputs`` / ``set_powers``
        with cheaper argument checks, the same state)."""
        old_speed = self.speed
        array_w = self.array_full_w * self.illumination
        node = self.thermal
        if node is None:
            self.bus._update(t_s, array_w, self.load_w())
            return False
        # Unthrottled first; throttle only if that would push the node past its limit now.
        speed = 1.0
        load = self.load_w(speed=1.0)
        node._update(t_s, self.illumination, load)
        if self.drawing and node.limit_binding:
            allowed = node.allowed_dissipation_w()
            speed = (allowed - self._base_w) / (self._k_active * self.drawing) \
                if self._k_active > 0 else 1.0
            speed = min(1.0, max(0.0, speed))
            load = self.load_w(speed=speed)
            node._update(t_s, None, load)
        self.speed = speed
        self.bus._update(t_s, array_w, load)
        return abs(speed - old_speed) > _THROTTLE_TOL

    def next_threshold_s(self) -> float:
        """Next time the battery fills or reaches its floor, or the node reaches its limit."""
        t = self.bus.next_threshold_s()
        if self.drawing:
            rate = self.bus.battery_rate_w()
            above = self.bus.stored_wh - self.payload_floor_wh
            if rate < 0.0 and above > 0.0:
                t = min(t, self.bus.t_s + above * 3600.0 / -rate)
            if self.thermal is not None:
                t = min(t, self.thermal.next_threshold_s())
        return t


class ArraysView:
    """The policy view's power, battery and host queries over an engine's per-satellite
    arrays (``free``, ``state``, ``stored_wh``, ``rate_wh_s``, ``t_sync``, ``array_w``, ``load``,
    ``speed``, ``payload_floor_wh``, ``floor_wh``, ``capacity_wh``, ``max_discharge_w``) and
    its ``sats`` (``Satellite`` objects): the old ``View``'s code, line for line."""

    def __init__(self, engine):
        self._e = engine
        self.n_sats = engine.n_sats
        self._k_active = engine.hw.gpu_active_w - engine.hw.gpu_idle_w
        self._start_s = float(getattr(engine.hw, "battery_start_s", 0.0))

    def powered(self, gpus):
        e = self._e
        need = e.load + self._k_active * gpus * e.speed - 1e-9
        array = e.array_w
        stored = np.clip(e.stored_wh + e.rate_wh_s * (e.env.now - e.t_sync), e.floor_wh,
                         e.capacity_wh)
        above = stored - e.payload_floor_wh
        return (array >= need) | ((above > 1e-9 * e.capacity_wh)
                                  & (array + e.max_discharge_w >= need)
                                  & (above * 3600.0 >= (need - array) * self._start_s))

    def hosts(self, gpus, *, sunlit_only=False):
        mask = (self._e.free >= gpus) & self.powered(gpus)
        if sunlit_only:
            mask &= self._e.state == SUNLIT
        return np.flatnonzero(mask)

    def can_host(self, sat, gpus, check_free=True):
        e = self._e
        if check_free and e.free[sat] < gpus:
            return False
        need = float(e.load[sat]) + self._k_active * gpus * float(e.speed[sat]) - 1e-9
        array = float(e.array_w[sat])
        if array >= need:
            return True
        cap = float(e.capacity_wh[sat])
        stored = float(e.stored_wh[sat]) + float(e.rate_wh_s[sat]) * (e.env.now
                                                                   - float(e.t_sync[sat]))
        above = min(max(stored, float(e.floor_wh[sat])), cap) - float(e.payload_floor_wh[sat])
        return (above > 1e-9 * cap and array + float(e.max_discharge_w[sat]) >= need
                and above * 3600.0 >= (need - array) * self._start_s)

    def soc(self, sat):
        b = self._e.sats[sat].bus
        return b.stored_at_wh(self._e.env.now) / b.battery.capacity_wh \
            if b.battery.capacity_wh > 0 else 1.0

    def battery_usable_wh(self, sat):
        b = self._e.sats[sat].bus
        return max(0.0, b.stored_at_wh(self._e.env.now) - b.battery.floor_wh) \
            * b.battery.discharge_efficiency

    def payload_energy_wh(self, sat):
        s = self._e.sats[sat]
        b = s.bus
        return max(0.0, b.stored_at_wh(self._e.env.now) - s.payload_floor_wh) \
            * b.battery.discharge_efficiency

    def temperature_k(self, sat):
        node = self._e.sats[sat].thermal
        return math.nan if node is None else node.temperature_at_k(self._e.env.now)
