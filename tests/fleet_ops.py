"""Random operation sequences on fleets (orbsched.engine.fleet), for the tests that compare the
compiled kernel with its twin and the twin with ``Satellite``.

An operation is decoded from a few numbers (``op, sat, u1, u2, k``) against the current state,
so that hypothesis can generate and shrink sequences and a seeded numpy generator can make long
ones.  Most operations are valid (GPU changes within the counts, times that never go back);
a share are invalid on purpose (NaN, inf, booleans, times going backwards, counts below zero),
and both implementations must then raise the same error.
"""
import math
import struct
from dataclasses import fields

import numpy as np

from orbsched.models.power import EnergyLedger
from orbsched.scenario.hardware import BatterySpec, SolarArraySpec, ThermalSpec
from orbsched.scenario.sections import Hardware

N_OPS = 16


def hardware_from(p) -> Hardware:
    """A Hardware from numbers in [0, 1) (``p``: 16 of them): batteries from zero capacity to
    a few kWh, with or without charge/discharge limits; arrays from nothing to twice the full
    load; radiators small enough that the thermal limit binds, or no thermal model."""
    p = [float(x) for x in p]    # specs hold Python floats, as a loaded scenario does
    gpus = int(p[0] * 6)
    cap = (0.0, 30.0, 600.0, 4000.0)[int(p[1] * 4)]
    dod = 0.05 + 0.95 * p[2]
    battery = BatterySpec(capacity_wh=cap, max_depth_of_discharge=dod,
                          charge_efficiency=0.8 + 0.2 * p[3],
                          discharge_efficiency=0.8 + 0.2 * p[4],
                          max_charge_w=None if p[5] < 0.5 else 20.0 + 800.0 * p[5],
                          max_discharge_w=None if p[6] < 0.5 else 20.0 + 800.0 * p[6])
    thermal = None if p[7] < 0.25 else ThermalSpec(
        heat_capacity_j_k=2e4 + 2e5 * p[8], radiator_area_m2=0.3 + 3.0 * p[9],
        max_temperature_k=290.0 + 50.0 * p[10], absorbed_sun_w=600.0 * p[11],
        absorbed_shadow_w=150.0 * p[11] * p[12],
        sink_temperature_k=(2.725, 185.5)[int(p[12] > 0.7)])
    return Hardware(gpus=gpus, solar=SolarArraySpec(area_m2=0.5 + 30.0 * p[13]),
                    battery=battery, thermal=thermal,
                    payload_reserve_wh=battery.usable_wh * 0.5 * p[14],
                    battery_start_s=(0.0, 60.0, 600.0)[int(p[15] * 3)],
                    initial_soc=1.0 - dod * p[14] * 0.99,
                    initial_temperature_k=250.0 + 100.0 * p[10])


def canon(x):
    """A comparable form of a result: floats by their bits, arrays by dtype, shape and bytes,
    exceptions by type and message."""
    if isinstance(x, BaseException):
        return ("exc", type(x).__name__, str(x))
    if isinstance(x, (bool, np.bool_)):
        return ("b", bool(x))
    if isinstance(x, float):
        return ("f", struct.pack("<d", x))
    if isinstance(x, (int, np.integer)):
        return ("i", int(x))
    if isinstance(x, np.ndarray):
        return ("a", x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, EnergyLedger):
        return ("L",) + tuple(canon(float(getattr(x, f.name))) for f in fields(x))
    if isinstance(x, (tuple, list)):
        return ("t",) + tuple(canon(v) for v in x)
    if isinstance(x, dict):
        return ("d",) + tuple((k, canon(v)) for k, v in sorted(x.items()))
    if x is None:
        return ("none",)
    raise TypeError(f"cannot compare {x!r}")


def call(obj, name, args):
    try:
        return getattr(obj, name)(*args)
    except Exception as exc:  # noqa: BLE001 - compared between implementations
        return exc


class Driver:
    """Applies decoded operations to several fleets with the same start; ``compare`` checks
    every result and every array bit for bit after each operation."""

    def __init__(self, fleets, names=None):
        self.fleets = fleets
        self.names = names or [type(f).__name__ for f in fleets]
        self.ref = fleets[-1]
        self.n = fleets[0].n
        self.t = 0.0
        self.log = []

    def time_arg(self, t, k):
        """The time as a float, a numpy float64, or an int (when it is integral)."""
        if k % 5 == 3:
            return np.float64(t)
        if k % 7 == 4 and float(t).is_integer() and abs(t) < 2**53:
            return int(t)
        return float(t)

    def decode(self, op, sat, u1, u2, k):
        """(method name, args) of an operation; may move the clock forward."""
        f = self.ref
        n = self.n
        i = sat % n
        t = self.time_arg(self.t, k)
        op = op % N_OPS
        if op == 0:        # the clock moves: not at all, by a hair, seconds, or an orbit
            dt = (0.0, 1e-9 * (1 + 1e3 * u1), 1.0 + 100.0 * u1, 100.0 + 6000.0 * u1)[k % 4]
            self.t += dt
            return ("apply", (i, self.time_arg(self.t, k)))
        if op == 1:
            return ("touch", (i, t))
        if op == 2:        # hold GPUs (a job or a replica), drawing or reserved
            g = int(u1 * (int(f.free[i]) + 1))
            d = g if u2 < 0.7 else 0
            r = g if k % 3 == 0 else 0
            return ("add_gpus", (i, g, d, r))
        if op == 3:        # release some
            h = int(u1 * (int(f.held[i]) + 1))
            d = min(int(f.drawing[i]), h) if u2 < 0.7 else 0
            r = min(int(f.replica[i]), h) if k % 3 == 0 else 0
            return ("add_gpus", (i, -h, -d, -r))
        if op == 4:
            frac = (0.0, 1.0, u1, 0.5)[k % 4]
            state = 0 if frac == 1.0 else 2 if frac == 0.0 else 1
            return ("set_illumination", (i, frac, state))
        if op == 5:
            return ("apply", (i, t))
        if op == 6:        # to the satellite's next threshold, exactly, and apply there
            th = float(f.threshold_s[i])
            if math.isfinite(th) and self.t <= th < self.t + 2e5:
                self.t = th
            return ("apply", (i, self.time_arg(self.t, k)))
        if op == 7:
            name = ("next_threshold", "advance", "must_shed")[k % 3]
            return (name, (i, t) if name == "advance" else (i,))
        if op == 8:
            return (("advance_buses", "advance_nodes", "touch_all", "socs")[k % 4],
                    () if k % 4 == 3 else (t,))
        if op == 9:
            name = ("stored_at", "soc", "battery_usable_wh", "payload_energy_wh",
                    "temperature_at", "temperatures_exact_at")[k % 6]
            return (name, (t,) if name == "temperatures_exact_at" else (i, t))
        if op == 10:
            name = ("state_of_charge", "deficit_w", "battery_rate_w", "at_floor", "is_full",
                    "ledger")[k % 6]
            return (name, (i,))
        if op == 11:
            g = int(u1 * 7)
            name = ("can_host", "is_host")[k % 2]
            return (name, (i, g, t, u2 < 0.5))
        if op == 12:
            g = int(u1 * 7)
            name = ("powered", "hosts", "first_host", "temperatures_at")[k % 4]
            if name == "powered":
                return (name, (g, t))
            if name == "temperatures_at":
                return (name, (t, (30.0, 7.0, 600.0)[k % 3]))
            return (name, (g, t, u2 < 0.5))
        if op == 13:
            name = ("fail_gpu", "begin_reboot", "end_reboot", "fail_satellite")[k % 4]
            if name == "fail_satellite" and u1 > 0.3:
                name = "begin_reboot"
            return (name, (i,))
        if op == 14:       # the clock jumps to a satellite's bus threshold and all advance
            th = float(f.threshold_s[i])
            if math.isfinite(th) and self.t <= th < self.t + 2e5:
                self.t = th
            return (("advance_buses", "advance_nodes")[k % 2], (self.time_arg(self.t, k),))
        return self.invalid(i, t, u1, k)

    def invalid(self, i, t, u1, k):
        """An operation both must refuse with the same error."""
        f = self.ref
        back = float(f.t_bus_s[i]) - 1.0 - u1
        cases = [
            ("apply", (i, math.nan)), ("apply", (i, math.inf)), ("apply", (i, True)),
            ("apply", (i, back)), ("apply", (True, t)), ("apply", (n_ := self.n, t)),
            ("apply", (-1, t)), ("apply", (i, "1.0")), ("touch", (i, -math.inf)),
            ("touch", (i, float(f.last_touch_s[i]) - 1.0)), ("stored_at", (i, back)),
            ("stored_at", (i, math.nan)), ("soc", (i, False)), ("temperature_at", (i, back)),
            ("temperature_at", (i, math.inf)), ("set_illumination", (i, math.nan, 1)),
            ("set_illumination", (i, 1.5, 0)), ("set_illumination", (i, 0.5, True)),
            ("set_illumination", (i, 0.5, 3)), ("add_gpus", (i, -int(f.held[i]) - 1, 0, 0)),
            ("add_gpus", (i, True, 0, 0)), ("add_gpus", (i, 0, 1.0, 0)),
            ("can_host", (i, True, t)), ("can_host", (i, -1, t)), ("can_host", (i, 1, back)),
            ("powered", (1, back)), ("powered", (1, math.nan)), ("hosts", (2, back, True)),
            ("first_host", (0, back, False)), ("is_host", (i, 0, back, False)),
            ("temperatures_at", (back,)), ("temperatures_at", (t, 0.0)),
            ("temperatures_exact_at", (back,)), ("temperatures_exact_at", (math.nan,)),
            ("temperatures_exact_at", (True,)),
            ("advance_buses", (back,)), ("advance_buses", (math.nan,)),
            ("advance_nodes", (back,)), ("touch_all", (back,)), ("advance", (i, back)),
            ("end_reboot", (i,)), ("fail_gpu", (i,)), ("next_threshold", (1.5,)),
            ("ledger", (np.int64(i),)), ("apply", (np.int32(i), np.float32(t))),
            ("add_gpus", (i, 2**62, 0, 0)), ("can_host", (i, 2**62, t)),
            ("powered", (2**63, t)), ("apply", (2**70, t)),
        ]
        del n_
        return cases[k % len(cases)]

    def step(self, op, sat, u1, u2, k):
        name, args = self.decode(op, sat, u1, u2, k)
        self.log.append((name, args))
        results = [call(f, name, args) for f in self.fleets]
        return name, args, results

    def compare(self, name, args, results):
        want = canon(results[-1])
        for fname, got in zip(self.names, results):
            assert canon(got) == want, (fname, name, args, got, results[-1], self.log[-20:])
        sa = [f.state_arrays() for f in self.fleets]
        for fname, s in zip(self.names, sa):
            for key, arr in sa[-1].items():
                assert canon(s[key]) == canon(arr), (fname, key, name, args, s[key], arr,
                                                     self.log[-20:])


def random_fleet_hardware(rng, n):
    """One Hardware for the fleet, or (half the time) two or three kinds over it."""
    kinds = [hardware_from(rng.random(16)) for _ in range(int(rng.integers(1, 4)))]
    if len(kinds) == 1 or rng.random() < 0.5:
        return kinds[0]
    return [kinds[int(rng.integers(len(kinds)))] for _ in range(n)]
