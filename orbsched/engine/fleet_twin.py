"""The pure-Python twin of the compiled fleet kernel: one validated model object per satellite.

Each satellite is one :class:`orbsched.models.power.PowerBus` and (with a thermal model) one
:class:`orbsched.models.thermal.ThermalNode`, driven exactly as the per-satellite reference
``Satellite.apply`` (``tests/reference_satellite.py``) drives them (its lines are repeated in
:meth:`FleetTwin._apply_one`, so the tests can hold the twin against ``Satellite`` itself), and
mirrored after every change into the arrays :class:`orbsched.engine.fleet.Fleet` documents.
The compiled kernel (``orbsched/_kernels/fleet.pyx``) must give the same doubles, bit for bit,
for every operation; this class is its oracle and its benchmark baseline, and the fleet that
runs when ``orbsched.accelerated`` is False.
"""
from __future__ import annotations

import numpy as np

from .._kernels.fleet_support import (
    ALL_ARRAYS,
    MUST_SHED,
    SPEED_CHANGED,
    SUNLIT,
    allocate,
    backwards_error,
    check_count,
    check_fraction,
    check_index,
    check_state,
    clip_stored,
    count_error,
    failed_twice_error,
    fleet_kinds,
    query_time,
    readonly,
    touch_backwards_error,
)
from ..models.power import EnergyLedger, PowerBus
from ..models.thermal import ThermalNode, temperatures_at_k
from ..scenario.checks import check_number

__all__ = ["FleetTwin"]

_S_PER_H = 3600.0
_POWER_TOL_W = 1e-6
_THROTTLE_TOL = 1e-9


class FleetTwin:
    """Twin of :class:`orbsched._kernels.fleet.FleetKernel` (same constructor, attributes,
    methods and results; see :class:`orbsched.engine.fleet.Fleet` for the documentation)."""

    def __init__(self, hardware, n: int, *, t_s: float = 0.0, illumination=None, state=None):
        check_number("Fleet", "t_s", t_s)
        specs, kind = fleet_kinds(hardware, n)
        n = self.n = len(kind)
        a, kc = allocate(specs, kind, float(t_s), illumination, state)
        # the energy totals by satellite (n, 8), so that mirroring one bus is a row; the
        # public energy_ws is its (8, n) transpose
        self._energy_by_sat = np.ascontiguousarray(a["energy_ws"].T)
        a["energy_ws"] = self._energy_by_sat.T
        for name in ALL_ARRAYS:                 # the public, read-only views
            setattr(self, name, readonly(a[name]))
        self._kind = kind
        (self._gpus, self._held, self._drawing, self._replica, self._reboot, self._free,
         self._failed, self._state, self._illum, self._speed, self._load, self._array,
         self._stored, self._t_bus, self._rate, self._cap, self._floor, self._md, self._start,
         self._kact, self._pfloor, self._temp, self._t_node, self._heat_in, self._radiated,
         self._energy, self._busy, self._dark, self._last, self._threshold) = (
            a[k] for k in ("gpus", "held", "drawing", "replica", "rebooting", "free", "failed",
                           "state", "illum", "speed", "load_w", "array_w", "stored_wh",
                           "t_bus_s", "rate_w", "capacity_wh", "floor_wh", "max_discharge_w",
                           "battery_start_s", "k_active_w", "payload_floor_wh", "temperature_k",
                           "t_node_s", "heat_in_j", "radiated_j", "energy_ws", "busy_gpu_s",
                           "dark_s", "last_touch_s", "threshold_s"))
        self._node_idx = np.flatnonzero(a["has_thermal"])
        # Python lists of what the per-event code reads (plain ints and floats, as Satellite
        # holds them: numpy scalars would take the models' slow argument paths)
        self._illum_l = self._illum.tolist()
        self._state_l = self._state.tolist()
        self._gpus_l = self._gpus.tolist()
        self._held_l = [0] * n
        self._drawing_l = [0] * n
        self._speed_l = [1.0] * n
        ks = kind.tolist()
        self._afull_l = [kc[k]["array_full_w"] for k in ks]
        self._base_l = [kc[k]["base_w"] for k in ks]
        self._kact_l = [kc[k]["k_active_w"] for k in ks]
        self._pfloor_l = [kc[k]["payload_floor_wh"] for k in ks]
        self._buses, self._nodes = [], []
        for i in range(n):
            hw = specs[ks[i]]
            illum = self._illum_l[i]
            # Satellite.__init__'s lines
            array_full_w = hw.solar.power_w(1.0, hw.array_age_years)
            base_w = hw.bus_w + hw.gpus * hw.gpu_idle_w
            b = hw.battery
            stored = b.capacity_wh * hw.initial_soc
            stored = min(max(stored, b.floor_wh), b.capacity_wh)
            self._buses.append(PowerBus(b, t_s=t_s, stored_wh=stored,
                                        array_w=array_full_w * illum, load_w=base_w))
            self._nodes.append(None if hw.thermal is None else
                               ThermalNode(hw.thermal, temperature_k=hw.initial_temperature_k,
                                           t_s=t_s, illumination_fraction=illum,
                                           dissipation_w=base_w))
        for i in range(n):
            self._mirror(i)
            self._threshold[i] = self._next_threshold_one(i)

    # ---- mirroring --------------------------------------------------------------------------
    def _mirror(self, i):
        b = self._buses[i]
        self._stored[i] = b.stored_wh
        self._t_bus[i] = b.t_s
        self._rate[i] = b.battery_rate_w()
        self._array[i] = b.array_w
        self._load[i] = b.load_w
        self._energy_by_sat[i] = b.totals_ws()
        self._speed[i] = self._speed_l[i]
        node = self._nodes[i]
        if node is not None:
            self._temp[i] = node.temperature_k
            self._t_node[i] = node.t_s
            self._heat_in[i] = node.heat_in_j
            self._radiated[i] = node.radiated_j

    def _free_of(self, i):
        self._free[i] = 0 if self._failed[i] or self._reboot[i] \
            else max(0, self._gpus_l[i] - self._held_l[i])

    # ---- GPUs, illumination, utilisation ----------------------------------------------------
    def touch(self, i, t) -> None:
        i = check_index(i, self.n)
        t = query_time("Fleet.touch", t)
        last = self._last[i]
        if t < last:
            raise touch_backwards_error(i, t, last)
        dt = t - last
        if dt > 0.0:                    # Recorder.touch
            held = self._held_l[i]
            state = self._state_l[i]
            if held:
                self._busy[state, i] += held * dt
            if state != SUNLIT:
                self._dark[i] += dt
            self._last[i] = t

    def touch_all(self, t) -> None:
        t = query_time("Fleet.touch", t)
        behind = np.flatnonzero(self._last > t)
        if len(behind):
            i = int(behind[0])
            raise touch_backwards_error(i, t, self._last[i])
        # Recorder._touch_all: the operations of touch, element by element
        held = np.array(self._held_l, dtype=np.float64)
        state = self._state.astype(np.intp)
        dt = t - self._last
        go = dt > 0.0
        take = go & (held != 0.0)
        for k in range(3):
            m = take & (state == k)
            self._busy[k][m] += held[m] * dt[m]
        m = go & (state != SUNLIT)
        self._dark[m] += dt[m]
        self._last[go] = t

    def add_gpus(self, i, held, drawing, replica) -> None:
        i = check_index(i, self.n)
        dh = check_count("Fleet.add_gpus", "held", held, None)
        dd = check_count("Fleet.add_gpus", "drawing", drawing, None)
        dr = check_count("Fleet.add_gpus", "replica", replica, None)
        h, d, r = self._held_l[i] + dh, self._drawing_l[i] + dd, int(self._replica[i]) + dr
        for name, v in (("held", h), ("drawing", d), ("replica", r)):
            if v < 0:
                raise count_error("Fleet.add_gpus", i, name, v)
        self._held_l[i] = h
        self._drawing_l[i] = d
        self._held[i], self._drawing[i], self._replica[i] = h, d, r
        self._free_of(i)

    def fail_gpu(self, i) -> None:
        i = check_index(i, self.n)
        if self._gpus_l[i] <= 0:
            raise count_error("Fleet.fail_gpu", i, "gpus", self._gpus_l[i] - 1)
        self._gpus_l[i] -= 1
        self._gpus[i] = self._gpus_l[i]
        self._free_of(i)

    def fail_satellite(self, i) -> None:
        i = check_index(i, self.n)
        if self._failed[i]:
            raise failed_twice_error(i)
        self._failed[i] = True
        self._free_of(i)

    def begin_reboot(self, i) -> None:
        i = check_index(i, self.n)
        self._reboot[i] += 1
        self._free_of(i)

    def end_reboot(self, i) -> None:
        i = check_index(i, self.n)
        if self._reboot[i] <= 0:
            raise count_error("Fleet.end_reboot", i, "rebooting", int(self._reboot[i]) - 1)
        self._reboot[i] -= 1
        self._free_of(i)

    def set_illumination(self, i, fraction, state) -> None:
        i = check_index(i, self.n)
        f = check_fraction(fraction)
        s = check_state(state)
        self._illum_l[i] = f
        self._state_l[i] = s
        self._illum[i] = f
        self._state[i] = s

    # ---- the per-event update: Satellite.apply ---------------------------------------------
    def _apply_one(self, i, t_s):
        """``Satellite.apply``, line for line (the state in lists instead of attributes)."""
        old_speed = self._speed_l[i]
        illumination = self._illum_l[i]
        base_w, k_active, drawing = self._base_l[i], self._kact_l[i], self._drawing_l[i]
        array_w = self._afull_l[i] * illumination
        bus, node = self._buses[i], self._nodes[i]
        if node is None:
            bus._update(t_s, array_w, base_w + k_active * drawing * old_speed)
            return False
        speed = 1.0
        load = base_w + k_active * drawing * 1.0
        node._update(t_s, illumination, load)
        if drawing and node.limit_binding:
            allowed = node.allowed_dissipation_w()
            speed = (allowed - base_w) / (k_active * drawing) if k_active > 0 else 1.0
            speed = min(1.0, max(0.0, speed))
            load = base_w + k_active * drawing * speed
            node._update(t_s, None, load)
        self._speed_l[i] = speed
        bus._update(t_s, array_w, load)
        return abs(speed - old_speed) > _THROTTLE_TOL

    def _payload_short(self, i):
        """``Satellite.payload_short``."""
        b = self._buses[i]
        return (self._drawing_l[i] > 0
                and b.stored_wh <= self._pfloor_l[i] + 1e-9 * b.battery.capacity_wh
                and b.battery_rate_w() < 0.0)

    def _next_threshold_one(self, i):
        """``Satellite.next_threshold_s``."""
        b = self._buses[i]
        t = b.next_threshold_s()
        if self._drawing_l[i]:
            rate = b.battery_rate_w()
            above = b.stored_wh - self._pfloor_l[i]
            if rate < 0.0 and above > 0.0:
                t = min(t, b.t_s + above * 3600.0 / -rate)
            if self._nodes[i] is not None:
                t = min(t, self._nodes[i].next_threshold_s())
        return t

    def apply(self, i, t) -> int:
        i = check_index(i, self.n)
        try:
            changed = self._apply_one(i, t)
        finally:
            self._mirror(i)
        self._threshold[i] = self._next_threshold_one(i)
        return (SPEED_CHANGED if changed else 0) | (MUST_SHED if self.must_shed(i) else 0)

    def must_shed(self, i) -> bool:
        i = check_index(i, self.n)
        return self._buses[i].deficit_w() > _POWER_TOL_W or self._payload_short(i)

    def next_threshold(self, i) -> float:
        return self._next_threshold_one(check_index(i, self.n))

    def advance(self, i, t) -> None:
        i = check_index(i, self.n)
        try:
            self._buses[i].advance(t)
            if self._nodes[i] is not None:
                self._nodes[i].advance(t)
        finally:
            self._mirror(i)

    def advance_buses(self, t: float) -> None:
        k = 0                       # buses advanced so far (the one that raised is mirrored too)
        try:
            for b in self._buses:
                b.advance(t)
                k += 1
        finally:
            for i in range(min(k + 1, self.n)):
                self._mirror(i)

    def advance_nodes(self, t: float) -> None:
        k = 0                       # nodes advanced so far (the one that raised is mirrored too)
        try:
            for node in self._nodes:
                if node is not None:
                    node.advance(t)
                k += 1
        finally:
            for i in range(min(k + 1, self.n)):
                self._mirror(i)

    # ---- battery queries ----------------------------------------------------------------------
    def _stored_at(self, i, t_s):
        t = query_time("PowerBus", t_s)
        tb = float(self._t_bus[i])
        if t < tb:
            raise backwards_error("PowerBus", t_s, tb)
        return clip_stored(float(self._stored[i]) + float(self._rate[i]) / _S_PER_H * (t - tb),
                           float(self._floor[i]), float(self._cap[i]))

    def stored_at(self, i, t) -> float:
        return self._stored_at(check_index(i, self.n), t)

    def soc(self, i, t) -> float:
        i = check_index(i, self.n)
        e = self._stored_at(i, t)
        c = float(self._cap[i])
        return e / c if c > 0 else 1.0

    def battery_usable_wh(self, i, t) -> float:
        i = check_index(i, self.n)
        return max(0.0, self._stored_at(i, t) - float(self._floor[i])) \
            * self._buses[i].battery.discharge_efficiency

    def payload_energy_wh(self, i, t) -> float:
        i = check_index(i, self.n)
        return max(0.0, self._stored_at(i, t) - self._pfloor_l[i]) \
            * self._buses[i].battery.discharge_efficiency

    def state_of_charge(self, i) -> float:
        return self._buses[check_index(i, self.n)].state_of_charge

    def socs(self) -> np.ndarray:
        return np.array([b.state_of_charge for b in self._buses], dtype=np.float64)

    def deficit_w(self, i) -> float:
        return self._buses[check_index(i, self.n)].deficit_w()

    def battery_rate_w(self, i) -> float:
        return self._buses[check_index(i, self.n)].battery_rate_w()

    def at_floor(self, i) -> bool:
        return self._buses[check_index(i, self.n)].at_floor

    def is_full(self, i) -> bool:
        return self._buses[check_index(i, self.n)].is_full

    def ledger(self, i) -> EnergyLedger:
        return self._buses[check_index(i, self.n)].ledger()

    # ---- thermal queries ----------------------------------------------------------------------
    def temperature_at(self, i, t) -> float:
        i = check_index(i, self.n)
        node = self._nodes[i]
        if node is None:
            query_time("ThermalNode", t)
            return float("nan")
        return node.temperature_at_k(t)

    def temperatures_exact_at(self, t) -> np.ndarray:
        """Every node's temperature at t by :meth:`temperature_at` (NaN without a model)."""
        query_time("ThermalNode", t)
        return np.array([self.temperature_at(i, t) for i in range(self.n)], dtype=float)

    def temperatures_at(self, t, max_step_s: float = 30.0) -> np.ndarray:
        check_number("Fleet.temperatures_at", "max_step_s", max_step_s, lo=0.0, lo_open=True)
        query_time("ThermalNode", t)
        idx = self._node_idx
        behind = idx[self._t_node[idx] > t]
        if len(behind):
            i = int(behind[0])
            raise backwards_error("ThermalNode", t, self._t_node[i])
        out = np.full(self.n, np.nan)
        if not len(idx):
            return out
        nodes = [self._nodes[i] for i in idx.tolist()]
        try:
            out[idx] = temperatures_at_k(nodes, t, max_step_s)
        finally:
            for i in idx.tolist():
                self._mirror(i)
        return out

    # ---- hosts ----------------------------------------------------------------------------------
    def powered(self, gpus, t) -> np.ndarray:
        g = check_count("Fleet.powered", "gpus", gpus)
        self._check_all_behind(t)
        return self._powered_mask(g, t)

    def hosts(self, gpus, t, sunlit_only=False) -> np.ndarray:
        g = check_count("Fleet.hosts", "gpus", gpus)
        self._check_all_behind(t)
        mask = (self._free >= g) & self._powered_mask(g, t)
        if sunlit_only:
            mask &= self._state == SUNLIT
        return np.flatnonzero(mask)

    def first_host(self, gpus, t, sunlit_only=False) -> int:
        g = check_count("Fleet.first_host", "gpus", gpus)
        query_time("PowerBus", t)
        mask = self._free >= g
        if sunlit_only:
            mask &= self._state == SUNLIT
        cand = np.flatnonzero(mask)
        # the scan's answer: the first candidate that is behind t (an error) or powered
        stop = (self._t_bus[cand] > t) | self._powered_mask(g, t)[cand]
        if not stop.any():
            return -1
        i = int(cand[int(np.argmax(stop))])
        if self._t_bus[i] > t:
            raise backwards_error("PowerBus", t, self._t_bus[i])
        return i

    def is_host(self, i, gpus, t, sunlit_only) -> bool:
        i = check_index(i, self.n)
        g = check_count("Fleet.is_host", "gpus", gpus)
        query_time("PowerBus", t)
        if self._free[i] < g or (sunlit_only and self._state_l[i] != SUNLIT):
            return False
        return self._power_one(i, g, t)

    def can_host(self, i, gpus, t, check_free=True) -> bool:
        i = check_index(i, self.n)
        g = check_count("Fleet.can_host", "gpus", gpus)
        query_time("PowerBus", t)
        if check_free and self._free[i] < g:
            return False
        return self._power_one(i, g, t)

    def _power_one(self, i, g, t_s):
        """``View.can_host``'s power test for satellite i (stored energy from
        :meth:`stored_at`)."""
        need = float(self._load[i]) + self._kact_l[i] * g * float(self._speed[i]) - 1e-9
        array = float(self._array[i])
        stored = self._stored_at(i, t_s)
        if array >= need:
            return True
        cap = float(self._cap[i])
        above = stored - self._pfloor_l[i]
        return bool(above > 1e-9 * cap and array + float(self._md[i]) >= need
                    and above * 3600.0 >= (need - array) * float(self._start[i]))

    def _check_all_behind(self, t_s):
        query_time("PowerBus", t_s)
        behind = np.flatnonzero(self._t_bus > t_s)
        if len(behind):
            raise backwards_error("PowerBus", t_s, self._t_bus[int(behind[0])])

    def _powered_mask(self, g, t_s):
        """``View.powered``'s formula on the fleet's arrays."""
        need = self._load + self._kact * g * self._speed - 1e-9
        array = self._array
        stored = np.clip(self._stored + self._rate / _S_PER_H * (t_s - self._t_bus),
                         self._floor, self._cap)
        above = stored - self._pfloor
        return (array >= need) | ((above > 1e-9 * self._cap) & (array + self._md >= need)
                                  & (above * 3600.0 >= (need - array) * self._start))

    # ---- state, for the tests ----------------------------------------------------------------
    def state_arrays(self) -> dict:
        """Copies of every array, and of the nodes' inputs (``node_f``, ``node_p``,
        ``node_q``, ``node_u``: 0 where there is no node)."""
        out = {name: np.array(getattr(self, name)) for name in ALL_ARRAYS}
        nodes = self._nodes

        def col(get):
            return np.array([get(x) if x is not None else 0.0 for x in nodes], dtype=np.float64)
        out.update(node_f=col(lambda x: x.illumination_fraction),
                   node_p=col(lambda x: x.dissipation_w),
                   node_q=col(lambda x: x.heat_in_w),
                   node_u=col(lambda x: x.equilibrium_temperature_k))
        return out
