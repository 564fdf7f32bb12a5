"""Satellite heat: one lumped thermal node with a radiator, integrated exactly between events.

Model
    ``C dT/dt = Q_in - k (T^4 - T_sink^4)``, ``k = emissivity * sigma * A_rad`` with ``A_rad``
    the radiator area times 2 when it radiates from both faces.  ``Q_in`` is piecewise constant
    (it changes only at events): the environmental heat absorbed for the current illumination
    fraction ``f``, ``absorbed_shadow_w + f * (absorbed_sun_w - absorbed_shadow_w)``, plus the
    electrical power dissipated inside (``dissipation_w``, set by the engine: the served load,
    and battery conversion losses if it wants them counted).

    Between events the node relaxes towards its equilibrium ``u = (Q_in / k + T_sink^4)^(1/4)``
    as ``dT/dt = beta (u^4 - T^4)``, ``beta = k / C``, whose exact integral is

        t(T) = [ln|(u + T)/(u - T)| + 2 atan(T/u)] / (4 beta u^3) + const.

    :func:`time_between_k` evaluates differences of it in a cancellation-free form (log1p and
    a single atan of the difference; far from equilibrium, ``T >> u``, a series in ``u/T`` that
    tends to the pure cooling law ``(T^-3 - T0^-3) / (3 beta)`` as ``u -> 0``).
    :func:`temperature_after_k` inverts it with Newton's method on ``z = ln|u - T|``, in which
    the time is almost linear (exponential approach to equilibrium), within bounds on ``dt/dz``
    (Brent's method if Newton does not settle); T is found to ~1e-14 relative.  No
    time-stepping anywhere.

Implementation
    :func:`time_between_k` and :func:`temperature_after_k` are taken from
    :mod:`orbsched._kernels`: the compiled Cython kernel (``orbsched/_kernels/thermal.pyx``)
    when ``orbsched.accelerated`` is True, else its pure-Python twin in
    :mod:`orbsched._kernels.reference` (``ORBSCHED_PURE=1`` forces the twin).  Both return the
    same doubles bit for bit and raise the same errors; the compiled one hands the rare Brent
    fallback to the twin.  :class:`ThermalNode` keeps its spec's constants (conductance, sink
    term, absorbed heats, limit) at construction, and :meth:`ThermalNode._update` is the
    engine's per-event path (the same state as :meth:`ThermalNode.set_inputs`, with the argument
    checks reduced to comparisons).

Limit and throttling
    At the maximum temperature the radiator sheds ``allowed_heat_w = k (T_max^4 - T_sink^4)``.
    :meth:`ThermalNode.next_threshold_s` gives the time at which T reaches ``T_max`` when
    ``Q_in`` exceeds that (``inf`` otherwise); the engine throttles GPUs there so that
    ``dissipation_w <= allowed_dissipation_w()`` and T then stays at ``T_max`` (steady state).
    The node itself never clips: if the engine does not throttle, T rises above ``T_max``.

Simplifications and their size
    * Single isothermal node: GPU junctions run hotter than the radiator by the gradient along
      cold plates, heat pipes or a pumped loop (typically 10-30 K).  ``max_temperature_k`` is
      therefore the *radiator-side* limit, i.e. the chip limit minus that gradient; no
      conduction paths, heaters or active loop control are modelled.
    * Radiator fin efficiency 1 (the whole area at node temperature); real fins reach 0.8-0.95:
      fold it into ``emissivity`` or ``radiator_area_m2``.
    * Grey, constant emissivity and constant heat capacity (aluminium's specific heat rises
      ~4 % from 250 K to 350 K, so time constants are off by that much at the extremes).
    * The environment is a uniform sink at ``sink_temperature_k`` plus constant absorbed heat
      per illumination state, linear in the penumbra fraction: the variation of Sun angle,
      albedo and Earth IR along the sunlit arc and with the beta angle is averaged out.  The
      default sink is deep space (2.725 K, no Earth in view), an upper bound on what a radiator
      sheds; CONTEXT.md's Starcloud figure (633 W/m^2 net against 754 W/m^2 emitted at 20 C,
      two-sided, emissivity 0.9) corresponds to an effective sink of 185.5 K.
    * Electrical power used by the load all becomes heat in the node (the ~1e-4 of it leaving
      as laser light or radio is neglected).
"""
from __future__ import annotations

import math

import numpy as np

from .._kernels import relax_rk4_k, temperature_after_k, time_between_k
from ..scenario.checks import check_number
from ..scenario.constants import (
    SOLAR_CONSTANT_W_M2,
)
from ..scenario.errors import SubsystemError
from ..scenario.hardware import ILLUMINATION_BOUNDS, ThermalSpec
from .clock import Clocked

__all__ = [
    "ThermalNode",
    "absorbed_solar_heat_w",
    "temperature_after_k",
    "time_between_k",
]

#: Temperatures this close (K) count as equal when asking whether a threshold is reached, so a
#: node advanced to exactly :meth:`ThermalNode.next_threshold_s` does not schedule an empty event.
_T_TOL_K = 1e-9
#: Heat inputs within this relative margin of the allowed heat count as "at the limit".
_Q_RTOL = 1e-12
#: Accepted illumination fractions (the range :meth:`ThermalSpec.absorbed_w` checks).
_F_LO, _F_HI = ILLUMINATION_BOUNDS
_INF = math.inf
_F64 = np.float64
# The integrals (time_between_k, temperature_after_k) and their constants (_X_FAR, _X_PURE)
# live in orbsched._kernels.reference (pure Python) and orbsched/_kernels/thermal.pyx.


def absorbed_solar_heat_w(absorptivity: float, projected_area_m2: float,
                          solar_flux_w_m2: float = SOLAR_CONSTANT_W_M2) -> float:
    """Direct solar heat absorbed by a surface: ``absorptivity * flux * projected area`` (W).

    A helper to fill :attr:`ThermalSpec.absorbed_sun_w`; add albedo and Earth IR to it (and
    to ``absorbed_shadow_w``) if the radiator sees the Earth.  E.g. a white-paint radiator
    (absorptivity ~0.2) edge-on to the Sun with 0.1 m^2 projected: 0.2 * 1361 * 0.1 = 27 W.
    """
    check_number("absorbed_solar_heat_w", "absorptivity", absorptivity, lo=0.0, hi=1.0)
    check_number("absorbed_solar_heat_w", "projected_area_m2", projected_area_m2, lo=0.0)
    check_number("absorbed_solar_heat_w", "solar_flux_w_m2", solar_flux_w_m2, lo=0.0)
    return float(absorptivity) * float(solar_flux_w_m2) * float(projected_area_m2)


class ThermalNode(Clocked):
    """Event-driven temperature of one satellite.

    The engine calls :meth:`set_illumination` / :meth:`set_dissipation` (or :meth:`set_inputs`)
    at its events; each advances the temperature exactly to that time under the old heat input,
    then applies the new one.  After each change it asks :meth:`next_threshold_s` and, at that
    time, throttles the GPUs to :meth:`allowed_dissipation_w`.

    Args:
        spec: the radiator and thermal mass.
        temperature_k: initial temperature (K).
        t_s: start time (s).
        illumination_fraction: initial illumination fraction in [0, 1].
        dissipation_w: initial internal dissipation (W).
    """

    __slots__ = (
        "_allowed",
        "_beta",
        "_cap",
        "_dq",
        "_f",
        "_heat_in_j",
        "_k",
        "_p",
        "_q",
        "_qs",
        "_radiated_j",
        "_spec",
        "_t0",
        "_temp",
        "_temp0",
        "_tmax",
        "_ts4",
        "_u",
    )
    _OWNER = "ThermalNode"

    def __init__(self, spec: ThermalSpec, *, temperature_k: float, t_s: float = 0.0,
                 illumination_fraction: float = 1.0, dissipation_w: float = 0.0):
        if not isinstance(spec, ThermalSpec):
            raise SubsystemError(f"ThermalNode: spec must be a ThermalSpec, got {spec!r}")
        check_number("ThermalNode", "temperature_k", temperature_k, lo=0.0)
        check_number("ThermalNode", "t_s", t_s)
        self._spec = spec
        # The spec's constants, each computed as the spec computes it (the spec is frozen):
        # conductance k, sink term T_sink^4, absorbed heat in shadow and its rise in full Sun,
        # heat capacity, the limit and the heat input the radiator sheds there.
        self._k = spec.conductance_w_k4
        self._ts4 = spec.sink_temperature_k ** 4
        self._qs = spec.absorbed_shadow_w
        self._dq = spec.absorbed_sun_w - spec.absorbed_shadow_w
        self._cap = spec.heat_capacity_j_k
        self._tmax = spec.max_temperature_k
        self._allowed = spec.allowed_heat_w
        self._t = self._t0 = float(t_s)
        self._temp = self._temp0 = float(temperature_k)
        self._beta = spec.conductance_w_k4 / spec.heat_capacity_j_k
        self._heat_in_j = 0.0
        self._radiated_j = 0.0
        self._f = 0.0
        self._p = 0.0
        self._set(illumination_fraction, dissipation_w)

    @property
    def spec(self) -> ThermalSpec:
        """The radiator and thermal mass (fixed at construction)."""
        return self._spec

    def _set(self, illumination_fraction, dissipation_w):
        """Check, then apply new inputs (None: unchanged) at the current time."""
        if illumination_fraction is not None:
            self._spec.absorbed_w(float(illumination_fraction))  # validates
        if dissipation_w is not None:
            check_number("ThermalNode", "dissipation_w", dissipation_w, lo=0.0)
        self._apply(illumination_fraction, dissipation_w)

    def _apply(self, illumination_fraction, dissipation_w):
        """Apply checked inputs (None: unchanged): heat input and equilibrium, as
        :meth:`ThermalSpec.absorbed_w` and :func:`equilibrium_temperature_k` compute them."""
        if illumination_fraction is not None:
            self._f = float(illumination_fraction)
        if dissipation_w is not None:
            self._p = float(dissipation_w)
        f = self._f
        if f < 0.0:    # min(max(f, 0), 1), as absorbed_w clips
            f = 0.0
        elif f > 1.0:
            f = 1.0
        q = self._q = self._qs + f * self._dq + self._p
        self._u = (q / self._k + self._ts4) ** 0.25

    # ---- state (t_s: Clocked's) --------------------------------------------------------------
    @property
    def temperature_k(self) -> float:
        return self._temp

    @property
    def illumination_fraction(self) -> float:
        return self._f

    @property
    def dissipation_w(self) -> float:
        return self._p

    @property
    def absorbed_w(self) -> float:
        """Environmental heat absorbed now (W)."""
        return self.spec.absorbed_w(self._f)

    @property
    def heat_in_w(self) -> float:
        """Total heat input now: absorbed + dissipated (W)."""
        return self._q

    @property
    def equilibrium_temperature_k(self) -> float:
        """Temperature the node tends to under the current heat input."""
        return self._u

    @property
    def heat_in_j(self) -> float:
        """Heat put in since construction (J)."""
        return self._heat_in_j

    @property
    def radiated_j(self) -> float:
        """Net heat radiated to the sink since construction (J), exact:
        ``heat_in_j - C (T_now - T_start)``."""
        return self._radiated_j

    def allowed_heat_w(self) -> float:
        """Total heat input that holds the node steady at ``max_temperature_k`` (W):
        ``emissivity * sigma * A_rad * (T_max^4 - T_sink^4)``."""
        return self._allowed

    def allowed_dissipation_w(self) -> float:
        """Internal dissipation that holds the node at ``max_temperature_k`` under the current
        illumination (W): ``allowed_heat_w() - absorbed_w``, at least 0.  The GPU budget when
        throttling."""
        return max(0.0, self._allowed - self.absorbed_w)

    def _over_limit_input(self) -> bool:
        allowed = self._allowed
        return self._q > allowed + _Q_RTOL * abs(allowed)

    @property
    def limit_binding(self) -> bool:
        """True when the node is at (or above) ``max_temperature_k``, or will be within the
        time resolution of :attr:`t_s`, and the heat input exceeds what the radiator sheds
        there: the engine must throttle now.  Same as ``next_threshold_s() <= t_s``."""
        return self.next_threshold_s() <= self._t

    def time_to_reach_s(self, temperature_k: float) -> float:
        """Absolute time (s) at which the node reaches ``temperature_k`` under the current heat
        input: :attr:`t_s` if it is there already, ``inf`` if it never gets there."""
        check_number("ThermalNode.time_to_reach_s", "temperature_k", temperature_k, lo=0.0)
        if abs(self._temp - temperature_k) <= _T_TOL_K:
            return self._t
        return self._t + time_between_k(self._temp, temperature_k, self._u, self._beta)

    def next_threshold_s(self) -> float:
        """Absolute time (s) at which the node reaches ``max_temperature_k`` while its heat
        input exceeds :meth:`allowed_heat_w`; :attr:`t_s` if it is there already; ``inf`` if the
        input is within the limit (the node then never rises past ``max(T, T_max)``)."""
        if not self._over_limit_input():
            return math.inf
        t_max = self._tmax
        if self._temp >= t_max - _T_TOL_K:
            return self._t
        return self._t + time_between_k(self._temp, t_max, self._u, self._beta)

    def temperature_at_k(self, t_s: float) -> float:
        """Temperature at ``t_s >= t_s`` under the current heat input, without changing the
        state (for read-only views)."""
        self._check_time(t_s)
        return temperature_after_k(self._temp, float(t_s) - self._t, self._u, self._beta)

    # ---- evolution (times checked by Clocked._check_time) ----------------------------------
    def advance(self, t_s: float) -> None:
        """Integrate exactly from :attr:`t_s` to ``t_s`` under the current heat input."""
        self._check_time(t_s)
        self._advance(float(t_s))

    def _advance(self, t_s):
        """:meth:`advance` to a checked time (a float)."""
        dt = t_s - self._t
        if dt == 0.0:
            return
        temp = self._temp
        new = temperature_after_k(temp, dt, self._u, self._beta)
        q_dt = self._q * dt
        self._heat_in_j += q_dt
        self._radiated_j += q_dt - self._cap * (new - temp)
        self._temp = new
        self._t = t_s

    def set_inputs(self, t_s: float, *, illumination_fraction: float | None = None,
                   dissipation_w: float | None = None) -> None:
        """Advance to ``t_s``, then change the illumination fraction and/or the dissipation."""
        if illumination_fraction is not None:
            self._spec.absorbed_w(illumination_fraction)  # validate before advancing
        if dissipation_w is not None:
            check_number("ThermalNode.set_inputs", "dissipation_w", dissipation_w, lo=0.0)
        self.advance(t_s)
        self._apply(illumination_fraction, dissipation_w)

    def _update(self, t_s, illumination_fraction, dissipation_w) -> None:
        """:meth:`set_inputs` for the engine's per-event calls (``Satellite.apply``): the same
        state, with the checks cut to comparisons when every argument is a float (the time
        finite and not behind, the fraction None or within [-1e-9, 1 + 1e-9], the dissipation
        finite and >= 0); anything else goes through :meth:`set_inputs` and its errors.  The
        time may also be a numpy float64 (the engine's clock often is)."""
        f = illumination_fraction
        p = dissipation_w
        tt = type(t_s)
        if (tt is float or tt is _F64) and self._t <= t_s < _INF and type(p) is float \
                and 0.0 <= p < _INF and (f is None or type(f) is float and _F_LO <= f <= _F_HI):
            self._advance(float(t_s))
            self._apply(f, p)
        else:
            self.set_inputs(t_s, illumination_fraction=f, dissipation_w=p)

    def set_illumination(self, t_s: float, illumination_fraction: float) -> None:
        """Advance to ``t_s``, then set the illumination fraction (0 umbra .. 1 full Sun)."""
        if illumination_fraction is None:
            raise SubsystemError("ThermalNode.set_illumination: illumination_fraction must be "
                                 "a number, got None")
        self.set_inputs(t_s, illumination_fraction=illumination_fraction)

    def set_dissipation(self, t_s: float, dissipation_w: float) -> None:
        """Advance to ``t_s``, then set the internal dissipation (W)."""
        if dissipation_w is None:
            raise SubsystemError("ThermalNode.set_dissipation: dissipation_w must be a number, "
                                 "got None")
        self.set_inputs(t_s, dissipation_w=dissipation_w)

    def __repr__(self):
        return (f"ThermalNode(t_s={self._t!r}, temperature_k={self._temp!r}, "
                f"heat_in_w={self._q!r}, equilibrium_k={self._u!r})")


def temperatures_at_k(nodes, t_s: float, max_step_s: float = 30.0) -> np.ndarray:
    """Temperatures of many nodes at ``t_s`` (>= each node's time) without changing them.

    Vectorised classical Runge-Kutta on ``dT/dt = beta (u^4 - T^4)`` with steps of at most
    ``max_step_s``: for the recorder's samples only.  A node whose inputs have not changed for
    more than 20 steps is first advanced exactly to ``t_s`` (its state stays exact).  With
    time constants ``1 / (4 beta T^3)`` of hours for satellite-sized masses, the error is far
    below 1e-6 K.  The steps are :func:`orbsched._kernels.relax_rk4_k` (the fleet's batch
    temperatures use it too).
    """
    if not nodes:
        return np.zeros(0)
    t_node = np.array([n._t for n in nodes])
    # long-unchanged nodes: advance exactly (rare, keeps RK4 short)
    for i in np.flatnonzero(t_s - t_node > 20.0 * max_step_s).tolist():
        nodes[i].advance(t_s)
        t_node[i] = nodes[i]._t
    temp = np.array([n._temp for n in nodes])
    u = np.array([n._u for n in nodes])
    beta = np.array([n._beta for n in nodes])
    return relax_rk4_k(temp, t_node, u, beta, t_s, max_step_s)
