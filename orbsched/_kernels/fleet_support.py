"""Python-level parts of the fleet state (:mod:`orbsched.engine.fleet`), shared by its compiled
kernel (``fleet.pyx``) and its twin (:mod:`orbsched.engine.fleet_twin`).

* :func:`fleet_kinds` / :func:`kind_constants`: the per-hardware constants, each computed with
  the Python arithmetic the per-satellite reference (``tests/reference_satellite.py``),
  :class:`orbsched.models.power.PowerBus` and :class:`orbsched.models.thermal.ThermalNode` use
  for it (so the compiled kernel starts from the very doubles the twin's objects hold);
* the argument checks and their messages, so both implementations accept and reject the same
  inputs with the same errors.  The time checks repeat ``PowerBus._check_time`` /
  ``ThermalNode._check_time`` word for word (owner ``PowerBus`` for everything about the
  battery, ``ThermalNode`` for temperatures).

Nothing here runs per event on the compiled path except on an error.
"""
from __future__ import annotations

import math

import numpy as np

from ..scenario.checks import check_number
from ..scenario.errors import SubsystemError
from ..scenario.hardware import BatterySpec, ThermalSpec

__all__ = ["ENERGY_TERMS", "FLOAT_ARRAYS", "INT_ARRAYS", "KIND_FIELDS", "MUST_SHED",
           "PENUMBRA", "SPEED_CHANGED", "SUNLIT", "UMBRA", "allocate", "check_count",
           "check_index", "check_time", "clip_stored", "fleet_kinds", "kind_constants",
           "query_time"]

#: Rows of ``Fleet.energy_ws``: the order of :meth:`orbsched.models.power.PowerBus.totals_ws`.
ENERGY_TERMS = ("harvested", "demanded", "used", "unserved", "charged", "discharged", "losses",
                "curtailed")
#: Bits of the flags ``Fleet.apply`` returns.
SPEED_CHANGED = 1
MUST_SHED = 2
#: Illumination states (``orbsched.engine.timeline`` names them).
SUNLIT, PENUMBRA, UMBRA = 0, 1, 2

#: The constants of one hardware kind, in the order :func:`kind_constants` returns them.
KIND_FIELDS = ("gpus", "array_full_w", "base_w", "k_active_w", "start_s", "capacity_wh",
               "floor_wh", "full_wh", "floor_at_wh", "payload_floor_wh", "max_charge_w",
               "max_discharge_w", "charge_eff", "discharge_eff", "stored0_wh", "has_node",
               "conductance_w_k4", "sink4_k4", "absorbed_shadow_w", "absorbed_rise_w",
               "heat_capacity_j_k", "max_temperature_k", "allowed_heat_w", "beta",
               "temperature0_k")

_BOUND_RTOL = 1e-12   # orbsched.models.power._BOUND_RTOL
_COUNT_MAX = 2**62


def kind_constants(hw) -> tuple:
    """The constants of one satellite of hardware ``hw`` (an
    :class:`orbsched.scenario.sections.Hardware`), in :data:`KIND_FIELDS` order, as floats
    (``gpus`` an int, ``has_node`` a bool).  Each is computed as the model computes it:
    ``Satellite.__init__`` (array, base load, active power, payload floor), ``PowerBus``
    (bounds and the levels that count as at them; ``None`` limits become ``inf``, which
    ``min`` treats as no limit), ``ThermalNode`` (conductance, sink term, absorbed heats, the
    limit, ``beta = k / C``)."""
    b = hw.battery
    if not isinstance(b, BatterySpec):
        raise SubsystemError(f"Fleet: hardware.battery must be a BatterySpec, got {b!r}")
    spec = hw.thermal
    if spec is not None and not isinstance(spec, ThermalSpec):
        raise SubsystemError(f"Fleet: hardware.thermal must be a ThermalSpec or None, "
                             f"got {spec!r}")
    gpus = hw.gpus
    if isinstance(gpus, bool) or not isinstance(gpus, (int, np.integer)) or gpus < 0:
        raise SubsystemError(f"Fleet: hardware.gpus must be an integer >= 0, got {gpus!r}")
    cap = b.capacity_wh
    floor = b.floor_wh
    eps = _BOUND_RTOL * cap
    stored = cap * hw.initial_soc
    stored = min(max(stored, floor), cap)
    check_number("PowerBus", "stored_wh", stored, lo=floor, hi=cap)
    array_full = hw.solar.power_w(1.0, hw.array_age_years)
    base = hw.bus_w + hw.gpus * hw.gpu_idle_w
    mc, md = b.max_charge_w, b.max_discharge_w
    out = [int(gpus), array_full, base, hw.gpu_active_w - hw.gpu_idle_w,
           float(getattr(hw, "battery_start_s", 0.0)), cap, floor, cap - eps, floor + eps,
           floor + getattr(hw, "payload_reserve_wh", 0.0),
           math.inf if mc is None else mc, math.inf if md is None else md,
           b.charge_efficiency, b.discharge_efficiency, float(stored)]
    if spec is None:
        out += [False] + [0.0] * 8 + [math.nan]
    else:
        check_number("ThermalNode", "temperature_k", hw.initial_temperature_k, lo=0.0)
        out += [True, spec.conductance_w_k4, spec.sink_temperature_k ** 4,
                spec.absorbed_shadow_w, spec.absorbed_sun_w - spec.absorbed_shadow_w,
                spec.heat_capacity_j_k, spec.max_temperature_k, spec.allowed_heat_w,
                spec.conductance_w_k4 / spec.heat_capacity_j_k,
                float(hw.initial_temperature_k)]
    for k, name in enumerate(KIND_FIELDS):
        if name not in ("gpus", "has_node"):
            out[k] = float(out[k])   # exact: Python promotes an int operand the same way
    return tuple(out)


def fleet_kinds(hardware, n) -> tuple:
    """``(specs, kind)``: the distinct hardware objects of a fleet of ``n`` satellites and,
    per satellite, the index of its own (int32).  ``hardware`` is one spec for all, or a
    sequence of ``n`` specs (one per satellite; objects that are the same are stored once)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise SubsystemError(f"Fleet: n must be an integer >= 0, got {n!r}")
    n = int(n)
    if isinstance(hardware, (list, tuple)):
        if len(hardware) != n:
            raise SubsystemError(f"Fleet: {len(hardware)} hardware specs for {n} satellites")
        specs: list = []
        seen: dict[int, int] = {}                # id(spec) -> its index in specs
        kind = np.empty(n, dtype=np.int32)
        for i, hw in enumerate(hardware):
            k = seen.get(id(hw))
            if k is None:
                k = seen[id(hw)] = len(specs)
                specs.append(hw)
            kind[i] = k
        return specs, kind
    return [hardware], np.zeros(n, dtype=np.int32)


def initial_inputs(n, illumination, state) -> tuple:
    """Checked initial illumination fractions (float64) and states (int8) of ``n``
    satellites: defaults full Sun and SUNLIT."""
    f = np.ones(n) if illumination is None else np.array(illumination, dtype=np.float64)
    s = np.zeros(n, np.int8) if state is None else np.array(state)
    if f.shape != (n,) or s.shape != (n,):
        raise SubsystemError(f"Fleet: illumination and state must have {n} entries each")
    if not (np.all(f >= 0.0) and np.all(f <= 1.0)):
        raise SubsystemError("Fleet: illumination fractions must lie in [0, 1]")
    if s.dtype.kind not in "iu" or not np.all((s >= 0) & (s <= 2)):
        raise SubsystemError("Fleet: states must be 0 (sunlit), 1 (penumbra) or 2 (umbra)")
    return f, s.astype(np.int8)


#: The arrays of a fleet, by dtype (besides ``failed`` and ``has_thermal``, bool; ``state``,
#: int8; ``energy_ws`` (8, n) and ``busy_gpu_s`` (3, n), float64; ``kind``, int32).
INT_ARRAYS = ("gpus", "held", "drawing", "replica", "rebooting", "free")
FLOAT_ARRAYS = ("illum", "speed", "load_w", "array_w", "array_full_w", "k_active_w",
                "battery_start_s", "stored_wh", "t_bus_s", "rate_w", "capacity_wh", "floor_wh",
                "payload_floor_wh", "max_discharge_w", "temperature_k", "t_node_s",
                "heat_in_j", "radiated_j", "dark_s", "last_touch_s", "threshold_s")
ALL_ARRAYS = INT_ARRAYS + FLOAT_ARRAYS + ("failed", "has_thermal", "state", "energy_ws",
                                          "busy_gpu_s")


def allocate(specs, kind, t_s: float, illumination, state) -> tuple:
    """``(arrays, constants)``: the fleet's arrays at its start (a dict of writable numpy
    arrays, :data:`ALL_ARRAYS` and ``kind``) and the constants of each hardware kind (a list of
    dicts by :data:`KIND_FIELDS`).  The mirrored state (loads, rates, temperatures, ledgers,
    thresholds) is left for the caller to fill from its own model."""
    n = len(kind)
    f0, s0 = initial_inputs(n, illumination, state)
    kc = [dict(zip(KIND_FIELDS, kind_constants(hw))) for hw in specs]

    def per_sat(field, dtype=np.float64):
        return np.array([c[field] for c in kc], dtype=dtype)[kind] if kc \
            else np.zeros(0, dtype)

    a = {"kind": kind}
    a["gpus"] = per_sat("gpus", np.int64)
    for name in ("held", "drawing", "replica", "rebooting"):
        a[name] = np.zeros(n, np.int64)
    a["free"] = a["gpus"].copy()
    a["failed"] = np.zeros(n, np.bool_)
    a["has_thermal"] = per_sat("has_node", np.bool_)
    a["state"] = s0
    a["illum"] = f0
    a["speed"] = np.ones(n)
    for name in ("load_w", "array_w", "rate_w", "heat_in_j", "radiated_j", "dark_s"):
        a[name] = np.zeros(n)
    for name, field in (("array_full_w", "array_full_w"), ("k_active_w", "k_active_w"),
                        ("battery_start_s", "start_s"), ("capacity_wh", "capacity_wh"),
                        ("floor_wh", "floor_wh"), ("payload_floor_wh", "payload_floor_wh"),
                        ("max_discharge_w", "max_discharge_w"), ("stored_wh", "stored0_wh"),
                        ("temperature_k", "temperature0_k")):
        a[name] = per_sat(field)
    for name in ("t_bus_s", "t_node_s", "last_touch_s"):
        a[name] = np.full(n, t_s)
    a["threshold_s"] = np.full(n, math.inf)
    a["energy_ws"] = np.zeros((len(ENERGY_TERMS), n))
    a["busy_gpu_s"] = np.zeros((3, n))
    return a, kc


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (the fleet keeps the writable array)."""
    v = a.view()
    v.flags.writeable = False
    return v


def clip_stored(x: float, lo: float, hi: float) -> float:
    """``np.clip(x, lo, hi)`` for one float (the same comparisons: ``x > lo``, then ``< hi``):
    the clip of the one formula of stored energy (see ``Fleet.stored_at``)."""
    x = x if x > lo else lo
    return x if x < hi else hi


# ---- argument checks -----------------------------------------------------------------------
def check_index(i, n: int) -> int:
    """A satellite index: an integer (not a boolean) in ``0 .. n - 1``."""
    if type(i) is int and 0 <= i < n:
        return i        # the common case, fast (the twin's per-event path)
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise SubsystemError(f"Fleet: a satellite index must be an integer, got {i!r}")
    if not 0 <= i < n:
        raise SubsystemError(f"Fleet: satellite index {i!r} is out of range 0..{n - 1}")
    return int(i)


def check_count(owner: str, name: str, v, lo=0) -> int:
    """An integer (not a boolean) ``>= lo`` (``lo`` None: any integer), of magnitude below
    2**62 (the compiled fleet's counts are int64)."""
    if type(v) is int and (lo is None or v >= lo) and -_COUNT_MAX < v < _COUNT_MAX:
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise SubsystemError(f"{owner}: {name} must be an integer, got {v!r}")
    if lo is not None and v < lo:
        raise SubsystemError(f"{owner}: {name} must be >= {lo}, got {v!r}")
    if not -_COUNT_MAX < v < _COUNT_MAX:
        raise SubsystemError(f"{owner}: {name} must be below 2**62 in magnitude, got {v!r}")
    return int(v)


def _thing(owner):
    return {"PowerBus": "bus", "ThermalNode": "node"}.get(owner, "fleet")


def check_time(owner: str, t_s, now: float) -> float:
    """``float(t_s)`` after ``PowerBus._check_time`` / ``ThermalNode._check_time`` (``owner``
    names which, and which messages): a finite number of seconds, not a boolean, not before
    ``now``."""
    query_time(owner, t_s)
    if t_s < now:
        raise SubsystemError(f"{owner}: time cannot go backwards: asked for t = {t_s!r} s, "
                             f"the {_thing(owner)} is already at t = {float(now)!r} s")
    return float(t_s)


def query_time(owner: str, t_s) -> float:
    """``float(t_s)`` for a finite number of seconds (not a boolean), else the models'
    error."""
    if type(t_s) is float and -math.inf < t_s < math.inf:
        return t_s
    if isinstance(t_s, bool) or not isinstance(t_s, (int, float, np.integer, np.floating)) \
            or not math.isfinite(t_s):
        raise SubsystemError(f"{owner}: time must be a finite number of seconds, got {t_s!r}")
    return float(t_s)


def backwards_error(owner: str, t_s, now: float) -> SubsystemError:
    """The error of a time before a satellite's bus (or node) time ``now``."""
    return SubsystemError(f"{owner}: time cannot go backwards: asked for t = {t_s!r} s, "
                          f"the {_thing(owner)} is already at t = {float(now)!r} s")


def touch_backwards_error(i: int, t_s, last: float) -> SubsystemError:
    return SubsystemError(f"Fleet.touch: time cannot go backwards: asked for t = {t_s!r} s, "
                          f"satellite {i} was last touched at t = {float(last)!r} s")


def check_fraction(f) -> float:
    if type(f) is float and 0.0 <= f <= 1.0:
        return f
    check_number("Fleet.set_illumination", "fraction", f, lo=0.0, hi=1.0)
    return float(f)


def check_state(s) -> int:
    if type(s) is int and 0 <= s <= 2:
        return s
    if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) \
            or not 0 <= s <= 2:
        raise SubsystemError(f"Fleet.set_illumination: state must be 0 (sunlit), 1 (penumbra) "
                             f"or 2 (umbra), got {s!r}")
    return int(s)


def failed_twice_error(i: int) -> SubsystemError:
    return SubsystemError(f"Fleet.fail_satellite: satellite {i} has failed already")


def count_error(owner: str, i: int, name: str, value: int) -> SubsystemError:
    return SubsystemError(f"{owner}: satellite {i}: {name} would become {value} "
                          f"(a GPU count cannot go below 0)")
