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
    :func:`temperature_after_k` inverts it with Brent's method on ``z = ln|u - T|``, in which
    the time is almost linear (exponential approach to equilibrium), bracketed by bounds on
    ``dt/dz``; T is found to ~1e-14 relative.  No time-stepping anywhere.

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
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from .constants import (
    CMB_TEMPERATURE_K,
    RADIATOR_EMISSIVITY,
    SOLAR_CONSTANT_W_M2,
    STEFAN_BOLTZMANN_W_M2_K4,
)
from .checks import check_number
from .errors import SubsystemError

__all__ = [
    "ThermalNode",
    "ThermalSpec",
    "absorbed_solar_heat_w",
    "equilibrium_temperature_k",
    "temperature_after_k",
    "time_between_k",
]

#: Temperatures this close (K) count as equal when asking whether a threshold is reached, so a
#: node advanced to exactly :meth:`ThermalNode.next_threshold_s` does not schedule an empty event.
_T_TOL_K = 1e-9
#: Heat inputs within this relative margin of the allowed heat count as "at the limit".
_Q_RTOL = 1e-12
#: Above T/u = _X_FAR the time integral is evaluated as a series in u/T (no cancellation).
_X_FAR = 4.0
#: Above T/u = _X_PURE the sink is negligible: the series' correction 2 (u/T)^4 / 7 < 1e-16, so
#: the pure cooling law (T^-3 - T0^-3) / (3 beta) is used (and cubes of a tiny u never appear).
_X_PURE = 1e4


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


@dataclass(frozen=True)
class ThermalSpec:
    """The radiator and thermal mass of one satellite (see the module docstring for the model).

    Fields:
        heat_capacity_j_k: lumped heat capacity C (J/K), e.g. mass x specific heat
            (aluminium 897 J/(kg K), :data:`orbsched.constants.ALUMINIUM_SPECIFIC_HEAT_J_KG_K`).
        radiator_area_m2: radiator panel area (m^2), one face.
        max_temperature_k: highest allowed node (radiator-side) temperature (K).
        two_sided: True if the panel radiates from both faces (the radiating area doubles).
        emissivity: infrared emissivity (0.9, CONTEXT.md).
        sink_temperature_k: effective temperature of what the radiator sees (2.725 K, deep
            space; ~185 K reproduces Starcloud's 633 W/m^2 net at 20 C).
        absorbed_sun_w: environmental heat absorbed in full sunlight (W): direct Sun (see
            :func:`absorbed_solar_heat_w`), albedo, Earth IR.  Default 0.
        absorbed_shadow_w: environmental heat absorbed in umbra (W): Earth IR.  Default 0.
    """

    heat_capacity_j_k: float
    radiator_area_m2: float
    max_temperature_k: float
    two_sided: bool = True
    emissivity: float = RADIATOR_EMISSIVITY
    sink_temperature_k: float = CMB_TEMPERATURE_K
    absorbed_sun_w: float = 0.0
    absorbed_shadow_w: float = 0.0

    def __post_init__(self):
        own = "ThermalSpec"
        check_number(own, "heat_capacity_j_k", self.heat_capacity_j_k, lo=0.0, lo_open=True)
        check_number(own, "radiator_area_m2", self.radiator_area_m2, lo=0.0, lo_open=True)
        check_number(own, "emissivity", self.emissivity, lo=0.0, hi=1.0, lo_open=True)
        check_number(own, "sink_temperature_k", self.sink_temperature_k, lo=0.0)
        check_number(own, "max_temperature_k", self.max_temperature_k,
                      lo=float(self.sink_temperature_k), lo_open=True)
        check_number(own, "absorbed_sun_w", self.absorbed_sun_w, lo=0.0)
        check_number(own, "absorbed_shadow_w", self.absorbed_shadow_w, lo=0.0)
        if not isinstance(self.two_sided, (bool, np.bool_)):
            raise SubsystemError(f"ThermalSpec.two_sided: expected true or false, "
                                 f"got {self.two_sided!r}")

    @property
    def radiating_area_m2(self) -> float:
        """Area that radiates: the panel area, doubled when two-sided."""
        return self.radiator_area_m2 * (2.0 if self.two_sided else 1.0)

    @property
    def conductance_w_k4(self) -> float:
        """k = emissivity * sigma * radiating area (W/K^4)."""
        return self.emissivity * STEFAN_BOLTZMANN_W_M2_K4 * self.radiating_area_m2

    def net_radiated_w(self, temperature_k: float) -> float:
        """Net heat leaving to the sink at a node temperature: k (T^4 - T_sink^4) (W)."""
        return self.conductance_w_k4 * (temperature_k ** 4 - self.sink_temperature_k ** 4)

    @property
    def allowed_heat_w(self) -> float:
        """Total heat input the radiator can reject in steady state at ``max_temperature_k``."""
        return self.net_radiated_w(self.max_temperature_k)

    def absorbed_w(self, illumination_fraction: float) -> float:
        """Environmental heat absorbed at an illumination fraction in [0, 1] (W)."""
        f = illumination_fraction
        check_number("ThermalSpec.absorbed_w", "illumination_fraction", f, lo=-1e-9,
                      hi=1.0 + 1e-9)
        f = min(max(float(f), 0.0), 1.0)
        return self.absorbed_shadow_w + f * (self.absorbed_sun_w - self.absorbed_shadow_w)

    def equilibrium_temperature_k(self, heat_in_w: float) -> float:
        """Steady temperature for a constant total heat input (W)."""
        return equilibrium_temperature_k(heat_in_w, self.conductance_w_k4,
                                         self.sink_temperature_k)


def equilibrium_temperature_k(heat_in_w: float, conductance_w_k4: float,
                              sink_temperature_k: float) -> float:
    """``u = (Q / k + T_sink^4) ** 0.25``: the temperature at which radiation balances Q."""
    return (heat_in_w / conductance_w_k4 + sink_temperature_k ** 4) ** 0.25


def _far_series(y: float) -> float:
    """p(y) = (artanh y - atan y) / y^3 = 2 sum_k y^(4k) / (4k + 3), for 0 <= y <= 1/_X_FAR
    (y^4 <= 1/256: eight terms leave < 1e-19)."""
    y4 = y ** 4
    total = 0.0
    for k in range(7, -1, -1):  # Horner
        total = total * y4 + 1.0 / (4 * k + 3)
    return 2.0 * total


def time_between_k(t0_k: float, t1_k: float, equilibrium_k: float, beta: float) -> float:
    """Exact time (s) for ``dT/dt = beta (u^4 - T^4)`` to take T from ``t0_k`` to ``t1_k``.

    ``u = equilibrium_k >= 0``, ``beta = k / C > 0`` (1/(K^3 s)).  Returns 0 when the two
    temperatures are equal and ``inf`` when ``t1_k`` is not reached (not between ``t0_k`` and
    ``u``, or equal to ``u`` while ``t0_k`` is not).
    """
    u = float(equilibrium_k)
    a, b = float(t0_k), float(t1_k)
    if a == b:
        return 0.0
    # reachable only moving from a towards u, never reaching u itself
    if not ((a < b < u) or (u < b < a)):
        return math.inf
    if u == 0.0 or b >= _X_PURE * u:  # (also a > b here) the sink term is below 1e-16
        return (b ** -3 - a ** -3) / (3.0 * beta)
    if a > _X_FAR * u and b >= _X_FAR * u:
        return (_far_series(u / b) / b ** 3 - _far_series(u / a) / a ** 3) / (2.0 * beta)
    if a > _X_FAR * u:  # cooling from far to near: split where the two forms meet
        mid = _X_FAR * u
        return time_between_k(a, mid, u, beta) + time_between_k(mid, b, u, beta)
    # near form: differences of ln(u+T), ln|u-T| and atan(T/u), each without cancellation
    dtau = (math.log1p((b - a) / (u + a)) - math.log1p((a - b) / (u - a))
            + 2.0 * math.atan(u * (b - a) / (u * u + a * b)))
    return dtau / (4.0 * beta * u ** 3)


def _newton_z(a, u, beta, dt, s, z_lo, z_hi):
    """Newton's method on z = ln|u - T| for ``time_between_k(a, T) = dt``; the time is almost
    linear in z (``dt/dz = -1 / (beta (u + T)(u^2 + T^2))``, smooth and bounded), so 2-4 steps
    from the linearised relaxation ``|u - T| = |u - a| exp(-4 beta u^3 dt)`` move T by less
    than 1e-14 relative.
    Returns None (caller falls back to Brent) if it does not settle in 30 steps."""
    z = min(max(math.log(abs(u - a)) - 4.0 * beta * u ** 3 * dt, z_lo), z_hi)
    for _ in range(30):
        t = u - s * math.exp(z)
        f = (time_between_k(a, t, u, beta) if s * (t - a) > 0.0 else 0.0) - dt
        step = f * beta * (u + t) * (u * u + t * t)   # = -f / (dt/dz)
        z_new = min(max(z + step, z_lo), z_hi)
        if abs(z_new - z) * abs(u - t) <= 1e-14 * t:   # T moves by < 1e-14 relative
            return z_new
        z = z_new
    return None


def temperature_after_k(t0_k: float, dt_s: float, equilibrium_k: float, beta: float) -> float:
    """Temperature (K) after ``dt_s`` seconds of ``dT/dt = beta (u^4 - T^4)`` from ``t0_k``:
    the inverse of :func:`time_between_k`, exact to ~1e-14 relative."""
    a, u, dt = float(t0_k), float(equilibrium_k), float(dt_s)
    if dt < 0.0 or not math.isfinite(dt):
        raise SubsystemError(f"temperature_after_k: dt_s must be finite and >= 0, got {dt_s!r}")
    if dt == 0.0 or a == u:
        return a
    if a > u:
        pure = (a ** -3 + 3.0 * beta * dt) ** (-1.0 / 3.0)
        if u == 0.0 or pure >= _X_PURE * u:  # the same branch as time_between_k takes
            return pure
    s = 1.0 if a < u else -1.0  # T = u - s * exp(z), z = ln|u - T|
    w_min = 4.0 * np.finfo(float).eps * u
    if abs(u - a) <= w_min:
        return u
    if time_between_k(a, u - s * w_min, u, beta) <= dt:
        return u  # indistinguishable from equilibrium in double precision
    z_hi = math.log(abs(u - a))
    # |dt/dz| = 1 / (beta (u + T)(u^2 + T^2)) >= 1 / (beta (u + m)(u^2 + m^2)), m = max(u, T0)
    m = max(u, a)
    z_lo = max(z_hi - dt * beta * (u + m) * (u * u + m * m), math.log(w_min))

    def elapsed(z):
        t = u - s * math.exp(z)
        if s * (t - a) <= 0.0:  # rounding put T at or behind the start: no time elapsed
            return 0.0
        return time_between_k(a, t, u, beta)

    if elapsed(z_hi) >= dt:
        return a  # dt below what one rounding step of T represents

    def g(z):
        return elapsed(z) - dt

    z = _newton_z(a, u, beta, dt, s, z_lo, z_hi)
    if z is None:  # Newton did not settle: bracketing fallback
        if g(z_lo) <= 0.0:
            z = z_lo
        else:
            z = brentq(g, z_lo, z_hi, xtol=1e-15, rtol=4.0 * np.finfo(float).eps, maxiter=200)
    t = u - s * math.exp(z)
    return a if s * (t - a) < 0.0 else t  # never behind the start by a rounding


class ThermalNode:
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
        "_beta",
        "_f",
        "_heat_in_j",
        "_p",
        "_q",
        "_radiated_j",
        "_t",
        "_t0",
        "_temp",
        "_temp0",
        "_u",
        "spec",
    )

    def __init__(self, spec: ThermalSpec, *, temperature_k: float, t_s: float = 0.0,
                 illumination_fraction: float = 1.0, dissipation_w: float = 0.0):
        if not isinstance(spec, ThermalSpec):
            raise SubsystemError(f"ThermalNode: spec must be a ThermalSpec, got {spec!r}")
        check_number("ThermalNode", "temperature_k", temperature_k, lo=0.0)
        check_number("ThermalNode", "t_s", t_s)
        self.spec = spec
        self._t = self._t0 = float(t_s)
        self._temp = self._temp0 = float(temperature_k)
        self._beta = spec.conductance_w_k4 / spec.heat_capacity_j_k
        self._heat_in_j = 0.0
        self._radiated_j = 0.0
        self._f = 0.0
        self._p = 0.0
        self._set(illumination_fraction, dissipation_w)

    def _set(self, illumination_fraction, dissipation_w):
        if illumination_fraction is not None:
            self._f = float(illumination_fraction)
            self.spec.absorbed_w(self._f)  # validates
        if dissipation_w is not None:
            check_number("ThermalNode", "dissipation_w", dissipation_w, lo=0.0)
            self._p = float(dissipation_w)
        self._q = self.spec.absorbed_w(self._f) + self._p
        self._u = equilibrium_temperature_k(self._q, self.spec.conductance_w_k4,
                                            self.spec.sink_temperature_k)

    # ---- state -----------------------------------------------------------------------------
    @property
    def t_s(self) -> float:
        return self._t

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
        return self.spec.allowed_heat_w

    def allowed_dissipation_w(self) -> float:
        """Internal dissipation that holds the node at ``max_temperature_k`` under the current
        illumination (W): ``allowed_heat_w() - absorbed_w``, at least 0.  The GPU budget when
        throttling."""
        return max(0.0, self.spec.allowed_heat_w - self.absorbed_w)

    def _over_limit_input(self) -> bool:
        allowed = self.spec.allowed_heat_w
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
        t_max = self.spec.max_temperature_k
        if self._temp >= t_max - _T_TOL_K:
            return self._t
        return self._t + time_between_k(self._temp, t_max, self._u, self._beta)

    def temperature_at_k(self, t_s: float) -> float:
        """Temperature at ``t_s >= t_s`` under the current heat input, without changing the
        state (for read-only views)."""
        self._check_time(t_s)
        return temperature_after_k(self._temp, float(t_s) - self._t, self._u, self._beta)

    # ---- evolution -------------------------------------------------------------------------
    def _check_time(self, t_s):
        if isinstance(t_s, bool) or not isinstance(t_s, (int, float, np.integer, np.floating)) \
                or not math.isfinite(t_s):
            raise SubsystemError(f"ThermalNode: time must be a finite number of seconds, "
                                 f"got {t_s!r}")
        if t_s < self._t:
            raise SubsystemError(f"ThermalNode: time cannot go backwards: asked for "
                                 f"t = {t_s!r} s, the node is already at t = {self._t!r} s")

    def advance(self, t_s: float) -> None:
        """Integrate exactly from :attr:`t_s` to ``t_s`` under the current heat input."""
        self._check_time(t_s)
        dt = float(t_s) - self._t
        if dt == 0.0:
            return
        new = temperature_after_k(self._temp, dt, self._u, self._beta)
        self._heat_in_j += self._q * dt
        self._radiated_j += self._q * dt - self.spec.heat_capacity_j_k * (new - self._temp)
        self._temp = new
        self._t = float(t_s)

    def set_inputs(self, t_s: float, *, illumination_fraction: float | None = None,
                   dissipation_w: float | None = None) -> None:
        """Advance to ``t_s``, then change the illumination fraction and/or the dissipation."""
        if illumination_fraction is not None:
            self.spec.absorbed_w(illumination_fraction)  # validate before advancing
        if dissipation_w is not None:
            check_number("ThermalNode.set_inputs", "dissipation_w", dissipation_w, lo=0.0)
        self.advance(t_s)
        self._set(illumination_fraction, dissipation_w)

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
    below 1e-6 K.
    """
    if not nodes:
        return np.zeros(0)
    for n in nodes:              # long-unchanged nodes: advance exactly (rare, keeps RK4 short)
        if t_s - n._t > 20.0 * max_step_s:
            n.advance(t_s)
    temp = np.array([n._temp for n in nodes])
    dt = t_s - np.array([n._t for n in nodes])
    u4 = np.array([n._u for n in nodes]) ** 4
    beta = np.array([n._beta for n in nodes])
    steps = max(1, int(math.ceil(float(dt.max(initial=0.0)) / max_step_s)))
    h = dt / steps

    def f(x):
        return beta * (u4 - x ** 4)

    for _ in range(steps):
        k1 = f(temp)
        k2 = f(temp + 0.5 * h * k1)
        k3 = f(temp + 0.5 * h * k2)
        k4 = f(temp + h * k3)
        temp = temp + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return temp
