"""Satellite power: solar array, battery, and an exact event-driven power bus.

Model
    The engine changes power only at events (eclipse entry/exit, GPUs starting or stopping), so
    between two events the array power ``A`` and the demanded load ``L`` are constant.  The
    battery's stored energy ``E`` then changes linearly until it reaches one of its two bounds
    (full at ``capacity_wh``, or its floor at ``capacity_wh * (1 - max_depth_of_discharge)``)
    and stays there.  :class:`PowerBus` integrates this in closed form, splits an interval at the
    instant a bound is reached, and tells the engine when that instant is
    (:meth:`PowerBus.next_threshold_s`), so no time-stepping is ever done.

Power flows at one instant (all in W; ``S = A - L`` the surplus, ``D = L - A`` the deficit)
    * ``A >= L``: the load is served in full; the surplus charges the battery at
      ``P_c = min(S, max_charge_w)`` unless the battery is full (``P_c = 0``); the rest,
      ``S - P_c``, is curtailed (energy the array could give but nobody can take).
    * ``A < L``: the battery discharges ``P_d = min(D, max_discharge_w)`` unless it is at its
      floor (``P_d = 0``); ``served = A + P_d``; ``unserved = D - P_d`` is the deficit the engine
      must shed (brownout), see :meth:`PowerBus.deficit_w`.
    * Battery: ``dE/dt = eta_c P_c - P_d / eta_d``; conversion loss
      ``(1 - eta_c) P_c + (1/eta_d - 1) P_d``.  ``P_c`` is measured on the bus side before the
      charge loss and ``P_d`` on the bus side after the discharge loss, so ``max_charge_w`` and
      ``max_discharge_w`` limit bus-side power.

Energy ledger (Wh, integrated exactly; see :class:`EnergyLedger`)
    bus:      harvested + discharged = used + charged + curtailed
    battery:  stored_end - stored_start = charged - discharged - losses
    hence     harvested = used + curtailed + (stored_end - stored_start) + losses
    demand:   demanded = used + unserved
    The tests assert each identity to 1e-9 relative over random event sequences.

Simplifications (each a deliberate first-order model)
    * The battery is an ideal energy store with constant efficiencies: no voltage curve, no
      rate-dependent (Peukert) capacity, no temperature dependence, no self-discharge (Li-ion
      loses ~2-5 %/month: < 0.2 % over a 1-day run), no taper of the charge current near full
      (CC-CV charging slows in the last ~10-20 % of SoC; with a 75-100 % operating window the
      model charges somewhat faster than a real pack near the top).
    * Array output is constant between events: the cosine factor, cell temperature and
      degradation are applied when the engine sets the power (degradation over a 7-day run is
      < 0.06 % at 2.75 %/yr).  Penumbra enters through the illumination fraction.
    * No bus regulation losses (PCDU efficiency ~0.9-0.97): fold them into the load, or into
      ``cell_efficiency``, if they matter to a study.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..scenario.checks import check_number
from ..scenario.errors import SubsystemError
from ..scenario.hardware import BatterySpec
from .clock import Clocked

__all__ = ["EnergyLedger", "PowerBus", "PowerFlows"]

_S_PER_H = 3600.0
#: A battery within this fraction of its capacity of a bound is *at* that bound; keeps a bus
#: advanced to exactly :meth:`PowerBus.next_threshold_s` from scheduling a second, empty event.
_BOUND_RTOL = 1e-12
_INF = math.inf
_F64 = np.float64


@dataclass(frozen=True)
class PowerFlows:
    """Instantaneous bus flows (W) under the current regime; see the module docstring."""

    array_w: float
    load_w: float
    served_w: float
    charge_w: float
    discharge_w: float
    curtailed_w: float
    unserved_w: float
    loss_w: float
    #: dE/dt of the stored energy (W): eta_c * charge_w - discharge_w / eta_d.
    battery_rate_w: float


@dataclass(frozen=True)
class EnergyLedger:
    """Energy totals (Wh) of a :class:`PowerBus` from ``t_start_s`` to ``t_end_s``.

    harvested: array output (all of it, including what was curtailed).
    demanded: load asked for.  used: load served.  unserved: demanded - used.
    charged: bus-side energy into the battery (before the charge loss).
    discharged: bus-side energy out of the battery (after the discharge loss).
    losses: battery conversion losses.  curtailed: surplus nobody could take.
    Identities (exact up to rounding): see :meth:`residuals_wh`.
    """

    t_start_s: float
    t_end_s: float
    stored_start_wh: float
    stored_end_wh: float
    harvested_wh: float = 0.0
    demanded_wh: float = 0.0
    used_wh: float = 0.0
    unserved_wh: float = 0.0
    charged_wh: float = 0.0
    discharged_wh: float = 0.0
    losses_wh: float = 0.0
    curtailed_wh: float = 0.0

    @property
    def stored_change_wh(self) -> float:
        return self.stored_end_wh - self.stored_start_wh

    def residuals_wh(self) -> dict:
        """The four balances, each zero up to rounding:

        ``supply``: harvested - (used + curtailed + stored change + losses);
        ``demand``: demanded - (used + unserved);
        ``bus``: (harvested + discharged) - (used + charged + curtailed);
        ``battery``: stored change - (charged - discharged - losses).
        """
        d = self.stored_change_wh
        return {
            "supply": self.harvested_wh - (self.used_wh + self.curtailed_wh + d + self.losses_wh),
            "demand": self.demanded_wh - (self.used_wh + self.unserved_wh),
            "bus": (self.harvested_wh + self.discharged_wh)
                   - (self.used_wh + self.charged_wh + self.curtailed_wh),
            "battery": d - (self.charged_wh - self.discharged_wh - self.losses_wh),
        }

    def scale_wh(self) -> float:
        """The largest magnitude in the ledger: the reference for a relative residual."""
        return max(abs(getattr(self, f.name)) for f in fields(self) if f.name.endswith("_wh"))

    def since(self, earlier: EnergyLedger) -> EnergyLedger:
        """The flows between an earlier snapshot of the same bus and this one (a window of a
        time series)."""
        if earlier.t_end_s > self.t_end_s:
            raise SubsystemError("EnergyLedger.since: the other snapshot is later "
                                 f"({earlier.t_end_s} s > {self.t_end_s} s)")
        sums = {f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)
                if f.name.endswith("_wh") and not f.name.startswith("stored_")}
        return EnergyLedger(t_start_s=earlier.t_end_s, t_end_s=self.t_end_s,
                            stored_start_wh=earlier.stored_end_wh,
                            stored_end_wh=self.stored_end_wh, **sums)


class PowerBus(Clocked):
    """Event-driven power bus of one satellite: array -> loads, battery, curtailment.

    The engine calls :meth:`set_array_power` / :meth:`set_load` (or :meth:`set_powers`) at its
    events; each advances the state exactly to that time under the old powers, then applies the
    new ones.  After every change the engine asks :meth:`next_threshold_s` and schedules an event
    there (the battery becomes full or reaches its floor); at that event :meth:`deficit_w` says
    how much load must be shed.  Times are absolute simulation seconds and never go backwards.

    Args:
        battery: the battery.
        t_s: start time (s).
        stored_wh: initial stored energy, within ``[floor_wh, capacity_wh]``; default full.
        array_w: initial array output (W).
        load_w: initial demanded load (W).
    """

    __slots__ = ("_a", "_acc", "_battery", "_cap", "_e", "_e0", "_eps", "_fc", "_fkey",
                 "_floor", "_floor_at", "_full", "_fv", "_l", "_t0")
    _OWNER = "PowerBus"

    def __init__(self, battery: BatterySpec, *, t_s: float = 0.0,
                 stored_wh: float | None = None, array_w: float = 0.0, load_w: float = 0.0):
        if not isinstance(battery, BatterySpec):
            raise SubsystemError(f"PowerBus: battery must be a BatterySpec, got {battery!r}")
        check_number("PowerBus", "t_s", t_s)
        self._battery = battery
        e = battery.capacity_wh if stored_wh is None else stored_wh
        check_number("PowerBus", "stored_wh", e, lo=battery.floor_wh, hi=battery.capacity_wh)
        check_number("PowerBus", "array_w", array_w, lo=0.0)
        check_number("PowerBus", "load_w", load_w, lo=0.0)
        self._t = float(t_s)
        self._e = float(e)
        self._a = float(array_w)
        self._l = float(load_w)
        self._eps = _BOUND_RTOL * battery.capacity_wh
        # the battery's bounds (it is frozen), and the levels that count as at them
        self._cap = battery.capacity_wh
        self._floor = battery.floor_wh
        self._full = self._cap - self._eps
        self._floor_at = self._floor + self._eps
        self._t0 = self._t
        self._e0 = self._e
        # harvested, demanded, used, unserved, charged, discharged, losses, curtailed (W s)
        self._acc = [0.0] * 8
        # flows() cache: (array, load, full, at floor) -> PowerFlows, and its values in the
        # order of _acc followed by the battery rate (_flow_values)
        self._fkey: tuple | None = None
        self._fc: PowerFlows | None = None
        self._fv: tuple | None = None

    @property
    def battery(self) -> BatterySpec:
        """The battery (fixed at construction)."""
        return self._battery

    # ---- state (t_s: Clocked's) --------------------------------------------------------------
    @property
    def stored_wh(self) -> float:
        return self._e

    @property
    def state_of_charge(self) -> float:
        """stored / capacity (1.0 when the capacity is 0)."""
        c = self._cap
        return self._e / c if c > 0 else 1.0

    @property
    def array_w(self) -> float:
        return self._a

    @property
    def load_w(self) -> float:
        """Demanded load (W), served or not."""
        return self._l

    @property
    def is_full(self) -> bool:
        return self._e >= self._full

    @property
    def at_floor(self) -> bool:
        return self._e <= self._floor_at

    def flows(self) -> PowerFlows:
        """Instantaneous flows under the current regime (constant until the next change or
        threshold)."""
        e = self._e
        if (self._a, self._l, e >= self._full, e <= self._floor_at) != self._fkey:
            self._new_flows()
        fc = self._fc
        assert fc is not None           # set by _new_flows: the first key (None) never matches
        return fc

    def _flow_values(self) -> tuple:
        """The flows as a tuple: (array, load, served, unserved, charge, discharge, loss,
        curtailed, battery rate), W; the first eight in the order of the energy totals."""
        e = self._e
        if (self._a, self._l, e >= self._full, e <= self._floor_at) != self._fkey:
            self._new_flows()
        fv = self._fv
        assert fv is not None           # set by _new_flows: the first key (None) never matches
        return fv

    def _new_flows(self) -> None:
        b = self._battery
        a, load = self._a, self._l
        e = self._e
        full, floor = e >= self._full, e <= self._floor_at
        key = (a, load, full, floor)
        pc = pd = curt = unserved = 0.0
        if a >= load:
            served = load
            s = a - load
            if s > 0.0 and not full:
                pc = s if b.max_charge_w is None else min(s, b.max_charge_w)
            curt = s - pc
        else:
            d = load - a
            if not floor:
                pd = d if b.max_discharge_w is None else min(d, b.max_discharge_w)
            served = a + pd
            unserved = d - pd
        ec, ed = b.charge_efficiency, b.discharge_efficiency
        loss = (1.0 - ec) * pc + (1.0 / ed - 1.0) * pd
        rate = ec * pc - pd / ed
        self._fc = PowerFlows(array_w=a, load_w=load, served_w=served, charge_w=pc, discharge_w=pd,
                              curtailed_w=curt, unserved_w=unserved, loss_w=loss,
                              battery_rate_w=rate)
        self._fv = (a, load, served, unserved, pc, pd, loss, curt, rate)
        self._fkey = key

    def deficit_w(self) -> float:
        """Load that cannot be served now (W): ``load - array - discharge``.  Positive when the
        battery is at its floor (or limited by ``max_discharge_w``) and the array gives less
        than the load: the engine sheds GPUs until it is zero (brownout)."""
        return self._flow_values()[3]

    def battery_rate_w(self) -> float:
        """dE/dt of the stored energy now (W): ``flows().battery_rate_w``."""
        return self._flow_values()[8]

    def max_supply_w(self) -> float:
        """The largest load the bus could serve right now (W): array output plus the battery's
        discharge limit (``inf`` if unlimited) unless the battery is at its floor."""
        if self.at_floor:
            return self._a
        m = self.battery.max_discharge_w
        return math.inf if m is None else self._a + m

    def _time_to_bound_s(self, rate_w: float) -> float:
        """Seconds until the battery reaches the bound it heads for at ``rate_w`` (W): its
        capacity when charging, its floor when discharging; inf at 0 (fleet_core.pxd's _tau)."""
        if rate_w > 0.0:
            return (self._cap - self._e) * _S_PER_H / rate_w
        if rate_w < 0.0:
            return (self._e - self._floor) * _S_PER_H / -rate_w
        return math.inf

    def next_threshold_s(self) -> float:
        """Absolute time (s) at which the battery becomes full or reaches its floor under the
        current powers; ``inf`` if it never does (no net flow, or already at that bound)."""
        rate = self._flow_values()[8]
        return self._t + self._time_to_bound_s(rate)

    def stored_at_wh(self, t_s: float) -> float:
        """Stored energy at a time ``t_s >= t_s`` under the current powers, without changing
        the state (for read-only views)."""
        self._check_time(t_s)
        rate = self.flows().battery_rate_w
        e = self._e + rate * (float(t_s) - self._t) / _S_PER_H
        return min(max(e, self.battery.floor_wh), self.battery.capacity_wh) if rate else self._e

    # ---- evolution (times checked by Clocked._check_time) ----------------------------------
    def advance(self, t_s: float) -> None:
        """Integrate exactly from :attr:`t_s` to ``t_s`` under the current powers, splitting the
        interval where the battery becomes full or reaches its floor.

        ``advance(next_threshold_s())`` always lands the battery on its bound, even when the
        time to it is below the resolution of ``t_s`` (the clock then does not move, and the
        ledger takes that sub-resolution slice, so the balances stay exact)."""
        self._check_time(t_s)
        self._advance(float(t_s))

    def _advance(self, t_s):
        """:meth:`advance` to a checked time (a float).  The engine's hottest path, so
        :meth:`_flow_values` is written out here (the same operations in the same order), as is
        adding each slice to the energy totals."""
        # One regime change at most (charging -> full, discharging -> floor), so two passes.
        for _ in range(3):
            e, t = self._e, self._t
            if (self._a, self._l, e >= self._full, e <= self._floor_at) != self._fkey:
                self._new_flows()
            harvested, demanded, used, unserved, charged, discharged, losses, curtailed, rate \
                = self._fv
            tau = self._time_to_bound_s(rate)
            bound = t + tau <= t_s   # the battery reaches a bound on the way
            dt = tau if bound else t_s - t
            if not bound and not dt > 0.0:
                return
            acc = self._acc
            acc[0] += harvested * dt
            acc[1] += demanded * dt
            acc[2] += used * dt
            acc[3] += unserved * dt
            acc[4] += charged * dt
            acc[5] += discharged * dt
            acc[6] += losses * dt
            acc[7] += curtailed * dt
            if bound:
                self._e = self._cap if rate > 0.0 else self._floor
                self._t = t + tau
                continue
            self._e = e + rate * dt / _S_PER_H
            self._t = t_s
            return
        raise AssertionError("PowerBus.advance: more than one regime change in one interval")

    def set_powers(self, t_s: float, *, array_w: float | None = None,
                   load_w: float | None = None) -> None:
        """Advance to ``t_s``, then change the array output and/or the demanded load (W)."""
        check_number("PowerBus.set_powers", "array_w", array_w, lo=0.0, allow_none=True)
        check_number("PowerBus.set_powers", "load_w", load_w, lo=0.0, allow_none=True)
        self.advance(t_s)
        if array_w is not None:
            self._a = float(array_w)
        if load_w is not None:
            self._l = float(load_w)

    def _update(self, t_s, array_w, load_w) -> None:
        """:meth:`set_powers` for the engine's per-event calls (``Satellite.apply``): the same
        state, with the checks cut to comparisons when every argument is a float (the time
        finite and not behind, both powers finite and >= 0); anything else goes through
        :meth:`set_powers` and its errors.  The time may also be a numpy float64 (the engine's
        clock often is)."""
        tt = type(t_s)
        if (tt is float or tt is _F64) and self._t <= t_s < _INF and type(array_w) is float \
                and 0.0 <= array_w < _INF and type(load_w) is float and 0.0 <= load_w < _INF:
            self._advance(float(t_s))
            self._a = array_w
            self._l = load_w
        else:
            self.set_powers(t_s, array_w=array_w, load_w=load_w)

    def set_array_power(self, t_s: float, array_w: float) -> None:
        """Advance to ``t_s``, then set the array output (W)."""
        if array_w is None:
            raise SubsystemError("PowerBus.set_array_power: array_w must be a number, got None")
        self.set_powers(t_s, array_w=array_w)

    def set_load(self, t_s: float, load_w: float) -> None:
        """Advance to ``t_s``, then set the demanded load (W)."""
        if load_w is None:
            raise SubsystemError("PowerBus.set_load: load_w must be a number, got None")
        self.set_powers(t_s, load_w=load_w)

    def totals_ws(self) -> tuple:
        """Running energy totals up to :attr:`t_s` in W s (cheaper than :meth:`ledger`):
        ``(harvested, demanded, used, unserved, charged, discharged, losses, curtailed)``."""
        return tuple(self._acc)

    def ledger(self) -> EnergyLedger:
        """Energy totals from construction to :attr:`t_s` (call :meth:`advance` first to bring
        the bus to the current time)."""
        h, dm, u, un, c, dc, lo, cu = (x / _S_PER_H for x in self._acc)
        return EnergyLedger(t_start_s=self._t0, t_end_s=self._t, stored_start_wh=self._e0,
                            stored_end_wh=self._e, harvested_wh=h, demanded_wh=dm, used_wh=u,
                            unserved_wh=un, charged_wh=c, discharged_wh=dc, losses_wh=lo,
                            curtailed_wh=cu)

    def __repr__(self):
        return (f"PowerBus(t_s={self._t!r}, stored_wh={self._e!r}, array_w={self._a!r}, "
                f"load_w={self._l!r}, capacity_wh={self.battery.capacity_wh!r})")
