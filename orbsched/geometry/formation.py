"""Formation clusters: compact groups of satellites flying around one reference circular orbit.

A cluster (``type: formation`` in a scenario) is a reference orbit - circular, built with
``Satrec.sgp4init`` like the Walker and SSO sets, propagated by SGP4 and rotated TEME -> GCRS by
the same path (:class:`orbsched.geometry.orbits.Sgp4Set`) - plus one offset per member in the
reference's local-vertical/local-horizontal frame (LVLH: ``x`` radial, ``y`` along-track, ``z``
cross-track along the orbit normal), rotated to GCRS at every instant.  Google's Suncatcher
design (81 satellites within 1 km, 100-200 m apart, 650 km dawn-dusk; ../shared/CONTEXT.md) is
the model.

Relative motion: Hill-Clohessy-Wiltshire
    The offsets solve the Hill-Clohessy-Wiltshire (HCW) equations
    ``x'' - 2n y' - 3n^2 x = 0,  y'' + 2n x' = 0,  z'' + n^2 z = 0`` (Clohessy & Wiltshire 1960,
    J. Aerospace Sci. 27(9); Vallado, Fundamentals of Astrodynamics, 4th ed., sec. 6.8) with the
    drift-free initial conditions ``y'(0) = -2n x(0)``, which leave only the bounded family::

        x = rho/2 sin(theta),  y = rho cos(theta),  z = c rho sin(theta),
        theta = n (t - t_epoch) + alpha

    i.e. every member flies a 2:1 relative ellipse (along-track twice radial) plus a cross-track
    oscillation ``c`` times its along-track amplitude, once per orbit, around the reference.
    A member is placed by its point ``(u, w) = rho (cos alpha, sin alpha)`` of a planar
    *layout* (``hex``, ``grid``, ``rings`` or ``random``, ``spacing_m`` apart): at any time the
    cluster is that layout rotated by ``n t`` and mapped into LVLH by ``(u, w) -> u e_y + w e``
    with ``e = (1/2, 0, c)``.  Because ``e`` is orthogonal to ``e_y`` and ``|e| = s =
    sqrt(1/4 + c^2)``, two members whose layout points are ``L`` apart are between
    ``L min(1, s)`` and ``L max(1, s)`` apart, oscillating twice per orbit, and no member is
    further than ``rho max(1, s)`` from the reference (:func:`distance_bounds`):

    * ``c = 0`` (default): in-plane 2:1 ellipses; distances swing between L/2 and L (200 m
      spacing -> neighbours 100-200 m apart, as Suncatcher's).  The cluster stays in the orbit
      plane, which in a dawn-dusk orbit faces the Sun (ASSUMPTION: a choice of this model, not
      a published Suncatcher figure).
    * ``c = sqrt(3)/2``: the "general circular orbit": a rigid disk turning once per orbit,
      distances constant.  ``c = 1``: the projected circular orbit (circle seen along radial).

    ``n`` is SGP4's secular rate of the reference's mean anomaly (the Keplerian mean motion with
    J2's secular correction: 0.06 % slower at 650 km sun-synchronous), so the in-plane ellipses
    keep the period of the SGP4 orbits they approximate.

Simplifications (and their size for a 1 km cluster at 650 km; ``tests/test_formation.py``)
    * HCW is the linearisation of two-body relative motion about a circular orbit: its error
      grows as rho^2 / a, ~0.14 m at rho = 1 km (a = 7,028 km); offsets are Cartesian, so a
      1 km along-track offset sits 7 cm off the curved orbit.  Against two-body orbits the
      offsets agree within 3 cm (in-plane) and 13 cm (c = 1) over an orbit.
    * Against SGP4 (the test propagates the reference and, for each member, an orbit with the
      matching eccentricity vector, inclination and node, and compares over one orbit): in-plane
      members (c = 0) agree within 1.7 m, and the difference stays bounded (no growth over a
      day): J2's short-period terms are slightly different on the two orbits.  Members with a
      cross-track oscillation differ by up to 14 m after one orbit at c = 1 and ~170 m after a
      day: see the next point.
    * No differential J2 drift: a member with a cross-track oscillation flies a slightly
      different inclination and node (delta i up to c rho / a = 1.4e-4 rad at 1 km), so its own
      nodal and apsidal precession; relative to the reference it drifts by ~10 m per orbit at
      c = 1, rho = 1 km.  A real cluster removes that by station-keeping or by J2-invariant
      element choices; the model flies the cluster as if station-kept.  In-plane members
      (c = 0) differ only in eccentricity (~7e-5), whose J2 effects are of second order.
    * No differential drag (equal ballistic coefficients) and no station-keeping manoeuvres:
      the cluster is exactly periodic in LVLH for the whole run.
    * SGP4 clamps the eccentricity at 1e-6, so the "circular" reference - like every synthetic
      orbit of orbsched - wobbles by 7 m radially and 14 m along-track around a true circle; the
      whole cluster moves with it, distances inside it are unaffected.
    * Velocities add the LVLH frame's rotation ``h / r^2`` about the orbit normal; the small
      rotation about the radial (from J2's cross-track acceleration, ~0.1 % of it) is left out:
      relative velocities are within 0.35 mm/s of the derivative of the relative positions.
    * Members are points: no mutual shadowing or line-of-sight blocking inside the cluster.
"""
from __future__ import annotations

import math

import numpy as np

from ..scenario.errors import ScenarioError
from .orbits import (
    OrbitSet,
    Sgp4Set,
    circular_satrec,
    sso_inclination_deg,
    sun_right_ascension_teme_deg,
)

LAYOUTS = ("hex", "grid", "rings", "random")
#: Attempts per satellite of the random layout's rejection sampling.
RANDOM_TRIES_PER_SAT = 200


# ---------------------------------------------------------------------------------- layouts
def _nearest_lattice(basis, sats, spacing_m):
    """The ``sats`` points of the lattice ``i b1 + j b2`` nearest the origin (ties by angle)."""
    k = math.ceil(math.sqrt(sats)) + 2
    i, j = np.meshgrid(np.arange(-k, k + 1), np.arange(-k, k + 1), indexing="ij")
    p = (i.reshape(-1, 1) * basis[0] + j.reshape(-1, 1) * basis[1]) * spacing_m
    dist = np.round(np.hypot(p[:, 0], p[:, 1]), 6)
    ang = np.round(np.arctan2(p[:, 1], p[:, 0]) % (2.0 * math.pi), 9)
    order = np.lexsort((ang, dist))
    return p[order[:sats]]


def layout_points_m(layout, sats, spacing_m, radius_m=None, seed=0):
    """Planar layout of a cluster: ``(sats, 2)`` points in metres around the origin.

    * ``hex``: the ``sats`` points of a triangular lattice (each point's 6 neighbours
      ``spacing_m`` away) nearest the centre - the densest packing.
    * ``grid``: the same from a square lattice.
    * ``rings``: one point at the centre, then rings ``k spacing_m`` out with ``floor(2 pi k)``
      points each (about ``spacing_m`` apart along the ring); the last ring takes the rest,
      evenly spread.
    * ``random``: uniform in the disk of ``radius_m`` with no two points closer than
      ``spacing_m`` (rejection sampling, seeded by ``seed``).
    """
    sats = int(sats)
    if sats < 1:
        raise ScenarioError(f"sats must be >= 1, got {sats}")
    if not spacing_m > 0:
        raise ScenarioError(f"spacing_m must be > 0, got {spacing_m}")
    if layout == "hex":
        return _nearest_lattice(np.array([[1.0, 0.0], [0.5, math.sqrt(3.0) / 2.0]]), sats,
                                spacing_m)
    if layout == "grid":
        return _nearest_lattice(np.eye(2), sats, spacing_m)
    if layout == "rings":
        pts = [np.zeros((1, 2))]
        left, k = sats - 1, 1
        while left > 0:
            m = min(math.floor(2.0 * math.pi * k), left)
            phi = 2.0 * math.pi * np.arange(m) / m
            pts.append(k * spacing_m * np.column_stack([np.cos(phi), np.sin(phi)]))
            left -= m
            k += 1
        return np.vstack(pts)
    if layout == "random":
        if radius_m is None or not radius_m > 0:
            raise ScenarioError("the random layout needs radius_m > 0")
        rng = np.random.default_rng(seed)
        tries = RANDOM_TRIES_PER_SAT * sats
        r = radius_m * np.sqrt(rng.random(tries))
        phi = 2.0 * math.pi * rng.random(tries)
        cand = np.column_stack([r * np.cos(phi), r * np.sin(phi)])
        pts = np.empty((sats, 2))
        k = 0
        for p in cand:
            if k == 0 or np.hypot(*(pts[:k] - p).T).min() >= spacing_m:
                pts[k] = p
                k += 1
                if k == sats:
                    break
        if k < sats:
            raise ScenarioError(f"random layout: placed only {k} of {sats} satellites "
                                f"spacing_m = {spacing_m:g} m apart within {radius_m:g} m of "
                                f"the centre; lower spacing_m or sats, or raise radius_m")
        order = np.lexsort((np.arctan2(pts[:, 1], pts[:, 0]), np.hypot(pts[:, 0], pts[:, 1])))
        return pts[order]
    raise ScenarioError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")


def distance_scale(cross_track_ratio):
    """``s = |(1/2, 0, c)| = sqrt(1/4 + c^2)``: the factor on distances at quarter phase."""
    return math.sqrt(0.25 + float(cross_track_ratio) ** 2)


def distance_bounds(cross_track_ratio):
    """``(lo, hi)`` factors: a pair ``L`` apart in the layout stays between ``lo L`` and
    ``hi L`` apart (both reached twice per orbit); a member stays within ``hi rho`` of the
    reference."""
    s = distance_scale(cross_track_ratio)
    return min(1.0, s), max(1.0, s)


def check_layout(layout, sats, spacing_m, radius_m, cross_track_ratio, seed=0):
    """The layout of a cluster, checked to stay within ``radius_m``; ``ScenarioError`` naming
    the fields otherwise.  Returns the layout points (m) in the plane of the motion."""
    hi = distance_bounds(cross_track_ratio)[1]
    pts = layout_points_m(layout, sats, spacing_m, radius_m / hi, seed)
    reach = float(np.hypot(pts[:, 0], pts[:, 1]).max()) * hi
    if reach > radius_m * (1.0 + 1e-9):
        why = (f" (cross_track_ratio = {cross_track_ratio:g} stretches the layout by "
               f"{hi:.3f})" if hi > 1.0 else "")
        raise ScenarioError(
            f"radius_m = {radius_m:g} is too small: {sats} satellites in a {layout} layout "
            f"spacing_m = {spacing_m:g} apart reach {reach:,.0f} m from the centre{why}; "
            f"raise radius_m or lower spacing_m or sats")
    return pts


# ---------------------------------------------------------------------------------- HCW
def hcw_bounded(rho_km, alpha_rad, cross_track_ratio, n_rad_s, t_s):
    """Drift-free HCW relative states in LVLH: positions (km) and velocities (km/s).

    ``rho_km``, ``alpha_rad``: (n,) amplitudes and phases; ``t_s`` (T,) seconds since the
    epoch.  Returns two ``(n, T, 3)`` arrays (x radial, y along-track, z cross-track).
    """
    rho = np.asarray(rho_km, dtype=float)[:, None]
    th = float(n_rad_s) * np.asarray(t_s, dtype=float)[None, :] + np.asarray(alpha_rad)[:, None]
    s, c = np.sin(th), np.cos(th)
    k = float(cross_track_ratio)
    pos = np.stack([0.5 * rho * s, rho * c, k * rho * s], axis=-1)
    nr = float(n_rad_s) * rho
    vel = np.stack([0.5 * nr * c, -nr * s, k * nr * c], axis=-1)
    return pos, vel


def cw_propagate(r0, v0, n_rad_s, t_s):
    """General closed-form solution of the HCW equations (Vallado 4th ed., eq. 6-66).

    ``r0``, ``v0``: (..., 3) LVLH state at t = 0 (x radial, y along-track, z cross-track);
    ``t_s``: scalar or array broadcast against them.  Returns ``(r, v)`` at ``t_s``.  The
    along-track secular term is ``-(6 n x0 + 3 y'0) t``: zero exactly when ``y'0 = -2 n x0``.
    """
    r0 = np.asarray(r0, dtype=float)
    v0 = np.asarray(v0, dtype=float)
    n = float(n_rad_s)
    t = np.asarray(t_s, dtype=float)
    x0, y0, z0 = r0[..., 0], r0[..., 1], r0[..., 2]
    vx, vy, vz = v0[..., 0], v0[..., 1], v0[..., 2]
    s, c = np.sin(n * t), np.cos(n * t)
    x = 4 * x0 - 3 * x0 * c + vx / n * s + 2 * vy / n * (1 - c)
    y = 6 * x0 * (s - n * t) + y0 - 2 * vx / n * (1 - c) + 4 * vy / n * s - 3 * vy * t
    z = z0 * c + vz / n * s
    dx = 3 * x0 * n * s + vx * c + 2 * vy * s
    dy = 6 * x0 * n * (c - 1) - 2 * vx * s + 4 * vy * c - 3 * vy
    dz = -z0 * n * s + vz * c
    return np.stack([x, y, z], axis=-1), np.stack([dx, dy, dz], axis=-1)


def lvlh_frame(r_km, v_km_s):
    """Unit radial, along-track and cross-track axes (each (T, 3)) of orbits at states
    ``(T, 3)``, and the frame's angular velocity ``h / r^2`` (T, 3) in rad/s."""
    r = np.asarray(r_km, dtype=float)
    v = np.asarray(v_km_s, dtype=float)
    h = np.cross(r, v)
    rr = np.einsum("ti,ti->t", r, r)
    e_r = r / np.sqrt(rr)[:, None]
    e_w = h / np.linalg.norm(h, axis=1)[:, None]
    e_s = np.cross(e_w, e_r)
    return e_r, e_s, e_w, h / rr[:, None]


def lvlh_to_inertial(e_r, e_s, e_w, x):
    """LVLH components ``x`` (n, T, 3) -> inertial vectors (n, T, 3) with axes (T, 3)."""
    return (x[..., 0:1] * e_r[None] + x[..., 1:2] * e_s[None] + x[..., 2:3] * e_w[None])


# ---------------------------------------------------------------------------------- orbit set
class FormationSet(OrbitSet):
    """A cluster: SGP4 reference orbit plus drift-free HCW offsets (see the module docstring).

    ``layout_m`` (n, 2) are the members' layout points in metres; member ``i`` flies
    ``rho_i = |layout_i|``, ``alpha_i = atan2(w_i, u_i)``.
    """

    def __init__(self, reference_satrec, names, layout_m, cross_track_ratio, epoch_utc, source):
        self.names = list(names)
        self.source = source
        self.reference = Sgp4Set([reference_satrec], [f"{source} reference"], source)
        self.layout_m = np.asarray(layout_m, dtype=float).reshape(-1, 2)
        if len(self.layout_m) != len(self.names):
            raise ScenarioError(f"{source}: {len(self.names)} names for "
                                f"{len(self.layout_m)} layout points")
        self.cross_track_ratio = float(cross_track_ratio)
        self.epoch_utc = epoch_utc
        self.rho_km = np.hypot(self.layout_m[:, 0], self.layout_m[:, 1]) / 1000.0
        self.alpha_rad = np.arctan2(self.layout_m[:, 1], self.layout_m[:, 0])
        #: HCW mean motion, rad/s: SGP4's secular mean-anomaly rate (rad/min in sgp4).
        self.n_rad_s = float(reference_satrec.mdot) / 60.0

    @property
    def period_s(self):
        """Period of the relative motion, 2 pi / n."""
        return 2.0 * math.pi / self.n_rad_s

    def epochs_utc(self):
        return [self.epoch_utc] * len(self.names)

    def subset(self, keep):
        keep = list(keep)
        return FormationSet(self.reference.satrecs[0], [self.names[i] for i in keep],
                            self.layout_m[keep], self.cross_track_ratio, self.epoch_utc,
                            self.source)

    def offsets_lvlh(self, timebase, t_s):
        """HCW offsets of every member from the reference, LVLH km and km/s, (n, T, 3)."""
        t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
        dt = t_s - timebase.seconds_from_datetime(self.epoch_utc)
        return hcw_bounded(self.rho_km, self.alpha_rad, self.cross_track_ratio, self.n_rad_s,
                           dt)

    def propagate(self, timebase, t_s, frame_node_s=3600.0):
        t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
        r0, v0 = self.reference.propagate(timebase, t_s, frame_node_s)
        r0, v0 = r0[0], v0[0]
        e_r, e_s, e_w, omega = lvlh_frame(r0, v0)
        p, dp = self.offsets_lvlh(timebase, t_s)
        rho = lvlh_to_inertial(e_r, e_s, e_w, p)
        drho = lvlh_to_inertial(e_r, e_s, e_w, dp) + np.cross(omega[None], rho)
        return r0[None] + rho, v0[None] + drho


def formation(name, altitude_km, sats, epoch_utc, *, inclination_deg=None, ltan_h=None,
              raan_deg=None, mean_anomaly_deg=0.0, layout="hex", spacing_m=200.0,
              radius_m=1000.0, cross_track_ratio=0.0, layout_seed=0, satnum=97000):
    """Build a :class:`FormationSet` (the fields of ``type: formation`` in a scenario).

    The reference orbit is circular at ``altitude_km`` (SGP4 mean semi-major axis minus
    R_eq, as :func:`orbsched.geometry.orbits.circular_satrec`), inclined ``inclination_deg``
    (default sun-synchronous for the altitude), with its node at ``raan_deg`` (default 0) or,
    given ``ltan_h``, at the local time of the ascending node as
    :func:`orbsched.geometry.orbits.sso` places it; ``mean_anomaly_deg`` is its argument of
    latitude at ``epoch_utc``.
    """
    if ltan_h is not None and raan_deg is not None:
        raise ScenarioError(f"formation {name}: give ltan_h or raan_deg, not both")
    inc = sso_inclination_deg(altitude_km) if inclination_deg is None else float(inclination_deg)
    if ltan_h is not None:
        raan = sun_right_ascension_teme_deg(epoch_utc) + (float(ltan_h) - 12.0) * 15.0
    else:
        raan = 0.0 if raan_deg is None else float(raan_deg)
    pts = check_layout(layout, sats, spacing_m, radius_m, cross_track_ratio, layout_seed)
    ref = circular_satrec(satnum, epoch_utc, altitude_km, inc, raan, mean_anomaly_deg)
    width = len(str(max(int(sats) - 1, 1)))
    width = max(width, 2)
    names = [f"{name}-{i:0{width}d}" for i in range(int(sats))]
    return FormationSet(ref, names, pts, cross_track_ratio, epoch_utc, f"formation {name}")
