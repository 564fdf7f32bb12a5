"""The fleet's physical state as one component: power buses, thermal nodes, GPUs and
illumination of every satellite, as arrays, advanced by a compiled kernel.

:class:`Fleet` is the compiled ``orbsched._kernels.fleet.FleetKernel`` when
``orbsched.accelerated`` is True, else :class:`orbsched.engine.fleet_twin.FleetTwin` (the
validated models, one object per satellite); the choice is made once, in
:mod:`orbsched._kernels`.  Both give the same doubles, bit for bit, for every operation
(``tests/test_fleet_kernel.py``).  :data:`HostSearch` is the matching nearest-host search.
Ground hosts are not satellites and are not in a fleet.

The satellite model.  A satellite turns its state into the two inputs of its subsystems: the
array power (the illumination fraction times the array's full-Sun output) and the electrical
load

    load_w = bus_w + gpus * gpu_idle_w + (gpu_active_w - gpu_idle_w) * drawing * speed

where ``drawing`` counts GPUs held by a job that is computing, checkpointing or restoring (GPUs
reserved for an incoming migration, and free GPUs, draw idle power) and ``speed`` in (0, 1] is
the thermal throttle factor.  All of the load is dissipated as heat in the thermal node.

Payload floor: the battery's allowed depth of discharge is a hard floor for the whole bus;
GPU work may use the battery only down to ``floor + hardware.payload_reserve_wh``, where its
jobs are shed (brownout), so the bus and idle GPUs keep a reserve for the rest of an eclipse
(load shedding, as an EPS does).  New GPU work that the array alone cannot carry is admitted
(``powered`` / ``can_host``, which the engine's checks and the policy view use) only while
the battery holds, above the payload floor, ``hardware.battery_start_s`` seconds of the
shortfall: without that margin a satellite a hair above its floor looked powered, took a job,
shed it milliseconds later, and a policy could repeat that without end.  Load that finds the
battery at the hard floor is recorded as unserved energy.

Throttling: when the node is at its maximum temperature and the heat input exceeds what the
radiator sheds there, ``speed`` is set so that the dissipation equals
:meth:`orbsched.models.thermal.ThermalNode.allowed_dissipation_w`, which holds the node at the
limit.  SIMPLIFICATION: GPU power is taken linear in speed between idle and active power (real
DVFS power falls faster than linearly with clock, so a real GPU loses less speed for the same
power cut: this model is pessimistic about throttled throughput).  If even ``speed = 0``
cannot hold the limit (bus and idle load alone exceed it), the temperature rises above it and
the run records it.
"""
from __future__ import annotations

from .._kernels import FleetKernel, HostSearch, compiled_kernels
from .._kernels.fleet_support import (
    ENERGY_TERMS,
    MUST_SHED,
    PENUMBRA,
    SPEED_CHANGED,
    SUNLIT,
    UMBRA,
)
from ..models.power import EnergyLedger
from .fleet_twin import FleetTwin

__all__ = [
    "ENERGY_TERMS",
    "MUST_SHED",
    "PENUMBRA",
    "SPEED_CHANGED",
    "SUNLIT",
    "UMBRA",
    "Fleet",
    "FleetTwin",
    "HostSearch",
    "compiled_fleet_class",
]


def _with_ledger(kernel: type) -> type:
    """The compiled kernel with :meth:`ledger` (an :class:`EnergyLedger`, a class the kernel
    module cannot import: it sits below the models)."""

    class CompiledFleet(kernel):
        __slots__ = ()

        def ledger(self, i: int) -> EnergyLedger:
            """Energy totals of satellite i's bus from the start to its bus time."""
            return EnergyLedger(*self.ledger_values(i))

    CompiledFleet.__qualname__ = CompiledFleet.__name__ = "CompiledFleet"
    return CompiledFleet


_COMPILED = None if FleetKernel is None else _with_ledger(FleetKernel)


def compiled_fleet_class() -> type | None:
    """The compiled fleet class even when the twins are selected (for tests and benchmarks),
    or None if the kernels are not built."""
    if _COMPILED is not None:
        return _COMPILED
    kernels = compiled_kernels()
    return None if kernels is None else _with_ledger(kernels["FleetKernel"])


# the base is chosen at import (compiled kernel or its numpy twin), which mypy cannot follow
class Fleet(_COMPILED if _COMPILED is not None else FleetTwin):  # type: ignore[misc]
    """Power, battery, thermal, GPU and illumination state of ``n`` satellites.

    ``Fleet(hardware, n, *, t_s=0.0, illumination=None, state=None)``: ``hardware`` is one
    :class:`orbsched.scenario.sections.Hardware` for all, or a sequence of ``n`` (satellites
    whose specs are the same object share their constants); ``illumination`` (fractions in
    [0, 1]) and ``state`` (SUNLIT, PENUMBRA, UMBRA) default to full Sun.  Satellites are
    ``0 .. n - 1``.

    Model (per satellite, the module docstring's; exactly the per-satellite objects the engine
    kept before, ``tests/reference_satellite.py``): a
    :class:`orbsched.models.power.PowerBus` (array ``array_full_w * illum``, load
    ``base + gpus_at_start * idle + (active - idle) * drawing * speed``, battery between its
    floor and capacity, integrated in closed form between events) and, unless
    ``hardware.thermal`` is None, a :class:`orbsched.models.thermal.ThermalNode` (all the load
    dissipated inside; exact integral between events).  :meth:`apply` is ``Satellite.apply``:
    bus and node brought to t, the throttle ``speed`` chosen (unthrottled first; throttled so
    the dissipation holds the node at its limit when it would exceed it), the new inputs set.

    Arrays (length n unless stated; read-only views, current after every operation; the
    recorder, the engine and policies read them):

    * GPUs (int64): ``gpus`` (working), ``held`` (by jobs, replicas, reservations),
      ``drawing`` (of those, drawing active power), ``replica`` (held by inference replicas),
      ``rebooting`` (reboots in progress), ``free`` (0 if ``failed`` or rebooting, else
      ``max(0, gpus - held)``); ``failed`` (bool);
    * illumination: ``illum`` (fraction, 0 umbra .. 1 full Sun), ``state`` (int8 SUNLIT /
      PENUMBRA / UMBRA); ``speed`` (throttle factor in [0, 1]);
    * power: ``load_w`` (demanded load at the bus, W), ``array_w`` (array output, W),
      ``array_full_w`` (W in full Sun), ``k_active_w`` (W one busy GPU adds),
      ``stored_wh`` (battery energy, Wh) at ``t_bus_s`` (s), ``rate_w`` (its dE/dt, W),
      ``capacity_wh``, ``floor_wh`` (allowed depth of discharge), ``payload_floor_wh`` (floor
      plus the bus reserve: GPU work is shed there), ``max_discharge_w`` (inf: no limit),
      ``battery_start_s`` (``hardware.battery_start_s``);
    * energy ledger: ``energy_ws`` (8, n), W s up to ``t_bus_s``, rows :data:`ENERGY_TERMS`
      (``PowerBus.totals_ws``: harvested, demanded, used, unserved, charged, discharged,
      losses, curtailed); :meth:`ledger` gives one satellite's as an EnergyLedger (Wh);
    * heat: ``temperature_k`` (K, NaN without a thermal model) at ``t_node_s`` (s),
      ``heat_in_j`` and ``radiated_j`` (J since the start), ``has_thermal`` (bool);
    * utilisation (``Recorder.touch``): ``busy_gpu_s`` (3, n) GPU-seconds held by illumination
      state, ``dark_s`` seconds in eclipse, ``last_touch_s``;
    * ``threshold_s``: the next threshold time, stored by :meth:`apply` (:meth:`next_threshold`
      computes it afresh).

    Operations (``i`` a satellite, ``t`` a time in s, never before the satellite's bus /
    node time; every argument is checked and a bad one raises SubsystemError with the models'
    messages):

    * per satellite: ``touch(i, t)``; ``add_gpus(i, held, drawing, replica)`` (changes, may be
      negative; counts never go below 0); ``fail_gpu(i)``, ``fail_satellite(i)``,
      ``begin_reboot(i)``, ``end_reboot(i)``; ``set_illumination(i, fraction, state)``;
      ``apply(i, t) -> flags`` (``SPEED_CHANGED | MUST_SHED``); ``must_shed(i)`` (deficit
      above 1e-6 W, or GPUs drawing at the payload floor while the battery discharges);
      ``next_threshold(i)``; ``advance(i, t)``;
    * battery (at t, from :meth:`stored_at`): ``stored_at(i, t)``, ``soc(i, t)``,
      ``battery_usable_wh(i, t)``, ``payload_energy_wh(i, t)``; at the bus time:
      ``state_of_charge(i)``, ``deficit_w(i)``, ``battery_rate_w(i)``, ``at_floor(i)``,
      ``is_full(i)``, ``ledger(i)``; heat: ``temperature_at(i, t)`` (exact integral),
      ``temperatures_exact_at(t)`` (the same for every node);
    * hosts: ``can_host(i, gpus, t, check_free=True)`` (``View.can_host``),
      ``is_host(i, gpus, t, sunlit_only)`` (free GPUs, power, sunlit if asked),
      ``powered(gpus, t)`` (mask, ``View.powered``), ``hosts(gpus, t, sunlit_only=False)``
      (indices), ``first_host(gpus, t, sunlit_only=False)`` (lowest index or -1: a scan that
      stops at the first, so its cost does not grow with n when hosts are common);
      :data:`HostSearch` finds the nearest hosts over the laser network testing each node it
      settles, without an n-long mask;
    * batch: ``touch_all(t)``, ``advance_buses(t)`` (the recorder's samples: every bus to t,
      ``energy_ws`` then holds the totals to t), ``advance_nodes(t)``, ``socs()`` (state of
      charge at each bus time), ``temperatures_at(t, max_step_s=30.0)``;
      ``state_arrays()`` copies everything, for tests.

    Stored energy at t is computed in one place, :meth:`stored_at`:
    ``clip(stored_wh + rate_w / 3600 * (t - t_bus_s), floor_wh, capacity_wh)`` - the formula
    (and rounding) of today's ``View.powered``.  ``View.soc`` / ``payload_energy_wh`` used
    ``PowerBus.stored_at_wh`` (``rate * dt / 3600``), which can differ in the last bit.

    What is exact: the bus and node states, ledgers, thresholds and throttles are the models'
    closed forms, in the compiled kernel the twin's very doubles.  The batch temperatures of
    :meth:`temperatures_at` (recorder samples only) advance nodes unchanged for more than 20
    steps exactly, then take classical Runge-Kutta steps of at most ``max_step_s`` (error far
    below 1e-6 K for satellite time constants of hours), in numpy in both implementations
    (``orbsched._kernels.relax_rk4_k``), as ``temperatures_at_k`` does.

    Cost (``benchmarks/bench_fleet.py``, 2-core shared machine): a compiled per-satellite
    operation costs about one Python call (``can_host`` ~0.06 us; an illumination event -
    touch, set_illumination, apply - ~0.7 us), independent of n except for cache misses at
    100,000 satellites (~2x); ``first_host`` stops at the first hit; ``powered`` / ``hosts`` /
    ``touch_all`` / ``advance_buses`` / ``socs`` are O(n) loops without the GIL (``powered``
    ~0.4 ms at 100,000).  Memory: ~360 bytes per satellite (today's Satellite objects and
    engine arrays: ~1,830).  The twin costs what today's per-satellite code costs, plus the
    mirroring (~1.3x).  Not picklable (it holds raw pointers): build it where it runs.
    """

    __slots__ = ()
