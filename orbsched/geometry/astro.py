"""The bridge to skyfield: time scale, the DE421 Sun and the rotations between frames.

Everything that needs skyfield's astronomy goes through here, so the rest of orbsched works on
plain numpy arrays of seconds and kilometres.

Time
    A run measures time as seconds since its start instant ``t0`` on the TT scale (uniform; no
    leap seconds inside a run).  :class:`TimeBase` converts those seconds to skyfield ``Time``
    objects, to the (jd, fraction) pairs sgp4 wants and to ISO-8601 UTC strings.

Frames
    Positions are GCRS kilometres.  SGP4 gives TEME; :func:`teme_to_gcrs_matrices` returns the
    same rotation skyfield's ``EarthSatellite.at()`` applies, ``(TEME.rotation_at(t))^T``.  The
    rotation (precession, nutation, the GMST1982-GAST difference) changes slowly, so on long
    grids it is evaluated at nodes ``frame_node_s`` apart (default 1 h) and interpolated
    linearly element by element.  The fastest nutation terms (13.66 d, 0.2 arcsec) make the
    interpolation error below 1e-10 rad, i.e. under a millimetre at LEO radii
    (``tests/test_astro.py`` checks this against direct evaluation).

No download
    DE421 comes from the ``skyfield-data`` package and the timescale is skyfield's built-in
    one; nothing is fetched at run time.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..scenario.constants import DAY_S


@functools.lru_cache(maxsize=1)
def timescale():
    """skyfield's timescale built from the data shipped inside skyfield (no download)."""
    from skyfield.api import load

    return load.timescale(builtin=True)


@functools.lru_cache(maxsize=1)
def ephemeris():
    """The DE421 ephemeris from the ``skyfield-data`` package (no download).

    skyfield-data warns that its own copy of ``finals2000A.all`` has expired whenever its data
    path is taken; orbsched does not use that file (the timescale is skyfield's built-in one),
    so exactly that warning is silenced here.
    """
    import skyfield_data
    from skyfield.api import Loader

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*finals2000A.*")
        warnings.filterwarnings("ignore", message=".*expired.*")
        path = skyfield_data.get_skyfield_data_path()
    return Loader(path, verbose=False)("de421.bsp")


@dataclass(frozen=True)
class TimeBase:
    """Seconds since a start instant, on the TT scale.

    ``whole`` and ``tt_fraction`` hold the start's TT Julian date split as skyfield does, so
    adding seconds keeps sub-microsecond precision over years.
    """

    start_utc: datetime

    @functools.cached_property
    def t0(self):
        return timescale().from_datetime(self.start_utc)

    def times(self, t_s):
        """skyfield ``Time`` for an array (or scalar) of seconds since the start."""
        t_s = np.asarray(t_s, dtype=float)
        return timescale().tt_jd(self.t0.whole, self.t0.tt_fraction + t_s / DAY_S)

    def seconds_since_start(self, t):
        """Seconds since the start for a skyfield ``Time``."""
        return ((t.whole - self.t0.whole) + (t.tt_fraction - self.t0.tt_fraction)) * DAY_S

    def seconds_from_datetime(self, dt):
        return self.seconds_since_start(timescale().from_datetime(dt))

    def sgp4_jd(self, t_s):
        """(jd, fraction) in UTC as skyfield feeds sgp4 (``EarthSatellite`` does the same)."""
        t = self.times(t_s)
        return t.whole, t.tai_fraction - t._leap_seconds() / DAY_S

    def iso_utc(self, t_s, places=3):
        """ISO-8601 UTC strings with ``places`` decimals of seconds, ending in ``Z``."""
        t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
        if t_s.size == 0:
            return []
        return list(np.atleast_1d(self.times(t_s).utc_iso(places=places)))


def sun_gcrs_km(t):
    """Geometric Sun position relative to the Earth's centre, GCRS km, shape (3, n).

    The same vector skyfield's ``is_sunlit`` uses: ``(sun - earth).at(t)`` from DE421, with no
    light-time or aberration correction (the shadow is cast by where the Sun is, and the
    difference in shadow edges is under 10 ms in LEO).
    """
    eph = ephemeris()
    return (eph["sun"] - eph["earth"]).at(t).xyz.km


def sun_apparent_gcrs_km(t):
    """The Sun's apparent direction from the Earth's centre, GCRS km, shape (3, n).

    skyfield's ``earth.at(t).observe(sun).apparent()``: the Sun where it was one light time
    (~499 s) earlier, displaced by the annual aberration of the Earth's barycentric velocity
    (up to 20.5 arcsec) and light deflection, as GMAT's eclipse locator applies them.  The
    vector's length is the light-time distance.  The satellite's own velocity (diurnal-like
    aberration, 7.5 km/s / c = 5 arcsec) is not applied.
    """
    eph = ephemeris()
    return eph["earth"].at(t).observe(eph["sun"]).apparent().xyz.km


def _interpolated(fn, timebase, t_s, node_s):
    """Evaluate ``fn(skyfield Time) -> (..., n)`` on nodes and interpolate linearly to t_s."""
    t_s = np.asarray(t_s, dtype=float)
    lo, hi = float(t_s.min()), float(t_s.max())
    n_nodes = max(2, int(np.ceil((hi - lo) / node_s)) + 1)
    nodes = np.linspace(lo, lo + (n_nodes - 1) * node_s, n_nodes)
    vals = fn(timebase.times(nodes))  # (..., n_nodes)
    idx = np.clip(np.searchsorted(nodes, t_s, side="right") - 1, 0, n_nodes - 2)
    w = (t_s - nodes[idx]) / node_s
    return vals[..., idx] * (1.0 - w) + vals[..., idx + 1] * w


def _teme_to_gcrs(t):
    from skyfield.sgp4lib import TEME

    r = TEME.rotation_at(t)  # GCRS -> TEME, shape (3, 3[, n])
    return np.swapaxes(r, 0, 1) if r.ndim == 3 else r.T


def teme_to_gcrs_matrices(timebase, t_s, node_s=3600.0):
    """Rotation matrices TEME -> GCRS, shape (n, 3, 3), as skyfield's ``EarthSatellite.at``."""
    m = _interpolated(_teme_to_gcrs, timebase, np.atleast_1d(t_s), node_s)
    return np.moveaxis(m, -1, 0)


def _pole(t):
    return t.M[2]  # third row of GCRS -> true-equator-of-date: the CIP axis in GCRS


def pole_gcrs(timebase, t_s, node_s=3600.0):
    """Unit vector of Earth's rotation axis (true pole of date) in GCRS, shape (n, 3)."""
    p = _interpolated(_pole, timebase, np.atleast_1d(t_s), node_s).T
    return p / np.sqrt((p * p).sum(axis=1))[:, None]


def sun_positions_km(timebase, t_s, node_s=60.0, apparent=False):
    """Sun GCRS km, shape (n, 3).  Nodes every ``node_s`` (default 60 s), linear in between:
    the chord error over 60 s of the Sun's geocentric arc is 3 m at 1 au (2e-11 rad).
    ``apparent``: the apparent direction (:func:`sun_apparent_gcrs_km`), else the geometric
    position (:func:`sun_gcrs_km`)."""
    fn = sun_apparent_gcrs_km if apparent else sun_gcrs_km
    return _interpolated(fn, timebase, np.atleast_1d(t_s), node_s).T
