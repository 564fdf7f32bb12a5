"""Constellations and their propagation to GCRS positions on time grids.

A :class:`Constellation` is an ordered list of :class:`OrbitSet` groups; satellite ``sat_id`` is
the index in that order.  Every group answers one question, vectorised over its satellites and
over times: ``propagate(timebase, t_s) -> (r_km, v_km_s)``, both ``(n_sats, n_times, 3)`` in GCRS.
The geometry layer calls it chunk by chunk, so memory stays bounded whatever the span.

Sources
    * Walker delta / star shells and sun-synchronous orbits: built with ``Satrec.sgp4init``
      (WGS84 constants), never by formatting TLE strings.  ``altitude_km`` is the SGP4 (Brouwer)
      mean semi-major axis minus the WGS84 equatorial radius; the osculating radius of a
      "circular" orbit then oscillates by a few km with J2, as a real one does.
    * 2-line / 3-line TLE files (checksums verified) and CelesTrak OMM in JSON or CSV.
    * External ephemerides (CSV of UTC time and GCRS/J2000 x, y, z km, optional vx, vy, vz
      km/s), interpolated with cubic Hermite splines when velocities are given, else cubic
      splines.  J2000 (EME2000) and GCRS differ by the 23 mas frame bias: 0.8 m at LEO radius,
      ignored.

SGP4 output (TEME) is rotated to GCRS with skyfield's own rotation (see
:mod:`orbsched.geometry.astro`).
"""
from __future__ import annotations

import csv
import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from ..scenario.checks import number_problem, parse_number
from ..scenario.constants import EARTH_EQUATORIAL_RADIUS_KM
from ..scenario.errors import DataFileError, PropagationError, ScenarioError
from ..scenario.sso import sso_inclination_deg  # noqa: F401  (re-exported, the closed form)
from ..scenario.utc import parse_utc
from . import astro

_SGP4_EPOCH0 = datetime(1949, 12, 31, tzinfo=timezone.utc)
_J2000_UTC = datetime(2000, 1, 1, 12, tzinfo=timezone.utc)  # JD 2451545.0 read as UTC, as sgp4 does
J2000_UTC = _J2000_UTC


# ----------------------------------------------------------------------------------------------
# Orbit sets
# ----------------------------------------------------------------------------------------------
class OrbitSet:
    """A group of satellites that propagate together.  Subclasses implement ``propagate``."""

    names: list
    source: str

    def __len__(self):
        return len(self.names)

    def propagate(self, timebase, t_s, frame_node_s=3600.0):  # pragma: no cover - interface
        raise NotImplementedError

    def epochs_utc(self):
        """Element-set epochs (datetimes) or ``None`` when the source has none."""
        return None


class Sgp4Set(OrbitSet):
    """Satellites propagated by SGP4 (``SatrecArray``), rotated TEME -> GCRS."""

    def __init__(self, satrecs, names, source):
        self.satrecs = list(satrecs)
        self.names = list(names)
        self.source = source
        self._array = None

    @property
    def array(self):
        from sgp4.api import SatrecArray

        if self._array is None:
            self._array = SatrecArray(self.satrecs)
        return self._array

    def subset(self, keep):
        return Sgp4Set([self.satrecs[i] for i in keep], [self.names[i] for i in keep], self.source)

    def epochs_utc(self):
        out = []
        for s in self.satrecs:
            jd = s.jdsatepoch + s.jdsatepochF
            out.append(_J2000_UTC + timedelta(days=jd - 2451545.0))
        return out

    def propagate_teme(self, timebase, t_s):
        jd, fr = timebase.sgp4_jd(np.atleast_1d(t_s))
        e, r, v = self.array.sgp4(np.ascontiguousarray(np.broadcast_to(jd, fr.shape), dtype=float),
                                  np.ascontiguousarray(fr, dtype=float))
        return e, r, v

    def propagate(self, timebase, t_s, frame_node_s=3600.0):
        t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
        e, r, v = self.propagate_teme(timebase, t_s)
        if np.any(e):
            bad = np.unique(np.nonzero(e)[0])
            from sgp4.api import SGP4_ERRORS

            details = "; ".join(
                f"{self.names[i]}: {SGP4_ERRORS.get(int(e[i][e[i] != 0][0]), 'error')}"
                for i in bad[:10])
            raise PropagationError(
                f"SGP4 failed for {len(bad)} satellite(s) of {self.source} inside the span "
                f"({details}); they passed the start-of-run check, so the span probably runs "
                f"far from their epochs")
        m = astro.teme_to_gcrs_matrices(timebase, t_s, frame_node_s)  # (T, 3, 3)
        return _rotate(m, r), _rotate(m, v)


def _rotate(m, x):
    """Apply per-time rotation matrices m (T,3,3) to vectors x (N,T,3)."""
    out = np.empty_like(x)
    for i in range(3):
        out[..., i] = x[..., 0] * m[:, i, 0] + x[..., 1] * m[:, i, 1] + x[..., 2] * m[:, i, 2]
    return out


class InterpolatedSet(OrbitSet):
    """Satellites given as tabulated GCRS states, interpolated with cubic (Hermite) splines.

    Used for external ephemerides (GMAT, STK, Orekit exports).  With velocities the curve is a
    piecewise cubic Hermite; its error for LEO states tabulated every 60 s is below 1 m.
    Without velocities a not-a-knot cubic spline is fitted to the positions.
    """

    def __init__(self, names, tables, source):
        # tables: list of (t_s array, r (n,3), v (n,3) or None) in seconds since ``t_ref``
        self.names = list(names)
        self.source = source
        self._tables = tables
        self._splines = None

    def _build(self, timebase):
        from scipy.interpolate import CubicHermiteSpline, CubicSpline

        splines = []
        for dt_ref, r, v in self._tables:
            t = timebase.seconds_from_datetime(dt_ref[0]) + dt_ref[1]
            sp = CubicHermiteSpline(t, r, v, axis=0) if v is not None else CubicSpline(t, r, axis=0)
            splines.append((t[0], t[-1], sp))
        self._splines = (timebase.start_utc, splines)

    def subset(self, keep):
        keep = list(keep)
        return InterpolatedSet([self.names[i] for i in keep], [self._tables[i] for i in keep],
                               self.source)

    def coverage_utc(self):
        """``[(name, first, last), ...]``: the instants (datetimes) each table spans."""
        return [(n, t0, t0 + timedelta(seconds=float(dt[-1])))
                for n, ((t0, dt), _, _) in zip(self.names, self._tables)]

    def propagate(self, timebase, t_s, frame_node_s=3600.0):
        if self._splines is None or self._splines[0] != timebase.start_utc:
            self._build(timebase)
        t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
        n, m = len(self.names), t_s.size
        r = np.empty((n, m, 3))
        v = np.empty((n, m, 3))
        for i, (lo, hi, sp) in enumerate(self._splines[1]):
            if t_s.min() < lo - 1e-6 or t_s.max() > hi + 1e-6:
                raise PropagationError(
                    f"{self.source}: ephemeris of {self.names[i]} covers "
                    f"{timebase.iso_utc([lo])[0]} .. {timebase.iso_utc([hi])[0]}, but the run "
                    f"needs {timebase.iso_utc([t_s.min()])[0]} .. "
                    f"{timebase.iso_utc([t_s.max()])[0]}")
            r[i] = sp(t_s)
            v[i] = sp(t_s, 1)
        return r, v


# ----------------------------------------------------------------------------------------------
# Synthetic orbits
# ----------------------------------------------------------------------------------------------
def _sgp4_epoch_days(dt):
    return (dt - _SGP4_EPOCH0).total_seconds() / 86400.0


def circular_satrec(satnum, epoch_utc, altitude_km, inclination_deg, raan_deg, mean_anomaly_deg,
                    bstar=0.0):
    """A ``Satrec`` for a circular orbit whose SGP4 mean semi-major axis is R_eq + altitude."""
    from sgp4.api import WGS84, Satrec

    if altitude_km <= 0:
        raise ScenarioError(f"altitude_km must be > 0, got {altitude_km}")
    a_target_er = (EARTH_EQUATORIAL_RADIUS_KM + altitude_km) / EARTH_EQUATORIAL_RADIUS_KM
    mu = 398600.5  # sgp4's WGS84 constant; only the starting guess depends on it
    n = math.sqrt(mu / (a_target_er * EARTH_EQUATORIAL_RADIUS_KM) ** 3) * 60.0  # rad/min
    epoch = _sgp4_epoch_days(epoch_utc)
    args = (math.radians(inclination_deg), math.radians(mean_anomaly_deg % 360.0))
    for _ in range(6):  # fixed point: Kozai mean motion whose Brouwer semi-major axis hits target
        sat = Satrec()
        sat.sgp4init(WGS84, "i", int(satnum) % 100000, epoch, bstar, 0.0, 0.0, 0.0, 0.0,
                     args[0], args[1], n, math.radians(raan_deg % 360.0))
        if sat.error:
            raise ScenarioError(f"SGP4 rejected a synthetic orbit (altitude {altitude_km} km, "
                                f"inclination {inclination_deg} deg): error {sat.error}")
        ratio = sat.a / a_target_er
        if abs(ratio - 1.0) < 1e-13:
            break
        n *= ratio ** 1.5
    return sat


def walker(name, pattern, planes, sats_per_plane, phasing, altitude_km, inclination_deg,
           raan_offset_deg, epoch_utc, first_satnum=90000, plane_range=None, members=None):
    """Walker delta (nodes over 360 deg) or star (nodes over 180 deg) shell ``i: T/P/F``.

    Plane p has RAAN ``raan_offset + p * spread / P``; satellite j of plane p has mean anomaly
    ``j * 360 / S + p * F * 360 / T`` (T = P * S), the standard Walker phasing.
    ``plane_range`` ``(start, stop)``: only those planes fly (the pattern stays that of all P).
    ``members``: build only these satellites, indices in the flown satellites' plane-major
    order (a chunk of the fleet, :func:`orbsched.geometry.constellation.build_part`); each is
    built exactly as in the whole shell (same elements and catalog number).
    """
    spread = 360.0 if pattern == "delta" else 180.0
    total = planes * sats_per_plane
    flown = range(*plane_range) if plane_range is not None else range(planes)
    everyone = members is None
    if everyone:
        members = range(len(flown) * sats_per_plane)
    sats, names = [], []
    for k in members:
        q, j = divmod(int(k), sats_per_plane)
        p = flown[q]
        raan = raan_offset_deg + p * spread / planes
        ma = j * 360.0 / sats_per_plane + p * phasing * 360.0 / total
        sats.append(circular_satrec(first_satnum + k, epoch_utc, altitude_km,
                                    inclination_deg, raan, ma))
        names.append(f"{name}-P{p:02d}-S{j:02d}")
    out = Sgp4Set(sats, names, f"walker-{pattern} {name}")
    if everyone:                                   # for +grid links
        out.walker_layout = (planes, sats_per_plane, phasing, pattern,
                             (flown.start, flown.stop))
    return out


def sun_right_ascension_teme_deg(epoch_utc):
    """Right ascension of the (true, DE421) Sun in the TEME frame at ``epoch_utc``."""
    from skyfield.sgp4lib import TEME

    t = astro.timescale().from_datetime(epoch_utc)
    s = TEME.rotation_at(t) @ astro.sun_gcrs_km(t)
    return math.degrees(math.atan2(s[1], s[0])) % 360.0


def sso(name, altitude_km, ltan_h, sats, epoch_utc, first_satnum=95000):
    """Sun-synchronous circular plane at a local time of the ascending node (LTAN).

    RAAN = RA of the true Sun at epoch + (LTAN - 12 h) * 15 deg/h.  The node then precesses at
    the mean Sun's rate, so the local time drifts with the equation of time (up to +-16 min over
    a year), as a real SSO without station keeping of the node does.
    """
    inc = sso_inclination_deg(altitude_km)
    raan = sun_right_ascension_teme_deg(epoch_utc) + (ltan_h - 12.0) * 15.0
    out = [circular_satrec(first_satnum + j, epoch_utc, altitude_km, inc, raan, j * 360.0 / sats)
           for j in range(sats)]
    return Sgp4Set(out, [f"{name}-{j:02d}" for j in range(sats)], f"sso {name}")


# ----------------------------------------------------------------------------------------------
# Element-set files
# ----------------------------------------------------------------------------------------------
_TLE_TEMPLATE = {
    "1": "1 NNNNNC NNNNNAAA NNNNN.NNNNNNNN +.NNNNNNNN +NNNNN-N +NNNNN-N N NNNNN",
    "2": "2 NNNNN NNN.NNNN NNN.NNNN NNNNNNN NNN.NNNN NNN.NNNN NN.NNNNNNNNNNNNNN",
}


def tle_checksum(line):
    """TLE checksum: digits summed, each '-' counts 1, modulo 10, over the first 68 columns."""
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return total % 10


def _tle_line_error(path, lineno, line, number, what):
    return DataFileError(
        path, lineno,
        f"{what}\n  expected TLE line {number} like:\n    {_TLE_TEMPLATE[number]}\n"
        f"  got:\n    {line}")


def _check_tle_line(path, lineno, line, number):
    if not line.startswith(number + " "):
        raise _tle_line_error(path, lineno, line, number,
                              f"expected line {number} of a TLE to start with '{number} '")
    if len(line) < 69:
        raise _tle_line_error(path, lineno, line, number,
                              f"line {number} is {len(line)} characters long, a TLE line has 69")
    if not line[68].isdigit() or tle_checksum(line) != int(line[68]):
        raise _tle_line_error(path, lineno, line, number,
                              f"checksum: column 69 holds {line[68]!r}, the line sums to "
                              f"{tle_checksum(line)}")


#: Elements of a Satrec, by the name the OMM standard (and so the error message) gives them.
_SATREC_FIELDS = (("no_kozai", "MEAN_MOTION"), ("ecco", "ECCENTRICITY"),
                  ("inclo", "INCLINATION"), ("nodeo", "RA_OF_ASC_NODE"),
                  ("argpo", "ARG_OF_PERICENTER"), ("mo", "MEAN_ANOMALY"), ("bstar", "BSTAR"),
                  ("ndot", "MEAN_MOTION_DOT"), ("nddot", "MEAN_MOTION_DDOT"),
                  ("jdsatepoch", "EPOCH"), ("jdsatepochF", "EPOCH"))


def _check_elements(sat, path, line, name):
    """Raise DataFileError when an element of ``sat`` is not a finite number (a NaN mean
    motion propagates to NaN positions that no check downstream would catch: a satellite
    sunlit for the whole run).  Values SGP4 cannot propagate (decayed orbits, e >= 1, zero
    mean motion) are left to the propagation check, which excludes and reports them."""
    for attr, label in _SATREC_FIELDS:
        problem = number_problem(getattr(sat, attr))
        if problem is not None:
            raise DataFileError(path, line, f"{name}: {label}: {problem}")


def read_tle(path):
    """Read a 2-line or 3-line TLE file into an :class:`Sgp4Set`.

    Every line is checked (start, length, checksum, matching catalog numbers); the first bad line
    raises :class:`DataFileError` with the file, the line number and the expected template.
    Two-line sets are named by catalog number ("NORAD 25544").
    """
    from sgp4.api import Satrec

    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataFileError(path, None, f"cannot read TLE file: {exc.strerror}") from None
    lines = [(i + 1, ln.rstrip()) for i, ln in enumerate(raw) if ln.strip()]
    sats, names = [], []
    k = 0
    while k < len(lines):
        lineno, line = lines[k]
        name = None
        if not line.startswith("1 "):
            if line.startswith("2 "):
                raise _tle_line_error(path, lineno, line, "1", "line 2 of a TLE without its line 1")
            name = line[2:].strip() if line.startswith("0 ") else line.strip()
            k += 1
            if k >= len(lines):
                raise DataFileError(path, lineno, f"name line {name!r} is not followed by a TLE")
            lineno, line = lines[k]
        _check_tle_line(path, lineno, line, "1")
        if k + 1 >= len(lines):
            raise DataFileError(path, lineno, "TLE line 1 is not followed by line 2")
        lineno2, line2 = lines[k + 1]
        _check_tle_line(path, lineno2, line2, "2")
        if line[2:7] != line2[2:7]:
            raise DataFileError(path, lineno2, f"catalog number {line2[2:7]!r} of line 2 does "
                                               f"not match {line[2:7]!r} of line 1")
        try:
            sat = Satrec.twoline2rv(line[:69], line2[:69])
        except Exception as exc:  # sgp4 raises ValueError on unparsable fields
            raise DataFileError(path, lineno, f"cannot parse TLE: {exc}") from None
        _check_elements(sat, path, lineno, name or f"NORAD {line[2:7].strip()}")
        sats.append(sat)
        names.append(name or f"NORAD {line[2:7].strip()}")
        k += 2
    if not sats:
        raise DataFileError(path, None, "no TLE found in the file")
    return Sgp4Set(sats, names, str(path))


_OMM_REQUIRED = ("OBJECT_NAME", "EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION",
                 "RA_OF_ASC_NODE", "ARG_OF_PERICENTER", "MEAN_ANOMALY", "NORAD_CAT_ID", "BSTAR",
                 "MEAN_MOTION_DOT", "MEAN_MOTION_DDOT")
_OMM_DEFAULTS = {"CLASSIFICATION_TYPE": "U", "OBJECT_ID": "0000-000A", "EPHEMERIS_TYPE": "0",
                 "ELEMENT_SET_NO": "999", "REV_AT_EPOCH": "0"}


def _omm_satrec(fields, path, where):
    from sgp4 import omm
    from sgp4.api import Satrec

    missing = [k for k in _OMM_REQUIRED if fields.get(k) in (None, "")]
    if missing:
        raise DataFileError(path, where, f"OMM record lacks {', '.join(missing)}")
    f = {k: str(v) for k, v in fields.items() if v is not None}
    for k, v in _OMM_DEFAULTS.items():
        if f.get(k) in (None, ""):
            f[k] = v
    epoch = f["EPOCH"].rstrip("Z")
    f["EPOCH"] = epoch if "." in epoch else epoch + ".000000"
    sat = Satrec()
    try:
        omm.initialize(sat, f)
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise DataFileError(path, where, f"OMM record {f.get('OBJECT_NAME')!r}: {exc}") from None
    _check_elements(sat, path, where, f"OMM record {f.get('OBJECT_NAME')!r}")
    return sat


def read_omm(path):
    """Read CelesTrak OMM as JSON (a list of records) or CSV (header row) into an Sgp4Set.

    OMM carries catalog numbers beyond 99999, which 2-line TLEs cannot.  Errors name the file and
    the line (CSV) or the record's line in the JSON text.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, None, f"cannot read OMM file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(path, None, f"not a UTF-8 text file (byte at offset {exc.start}): "
                                        f"OMM is JSON or CSV text") from None
    sats, names = [], []
    if text.lstrip().startswith("[") or text.lstrip().startswith("{"):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFileError(path, exc.lineno, f"not valid JSON: {exc.msg}") from None
        if isinstance(records, dict):
            records = [records]
        # line of each record: the n-th opening brace at top level
        starts = [m.start() for m in re.finditer(r"\{", text)]
        for i, rec in enumerate(records):
            where = text.count("\n", 0, starts[i]) + 1 if i < len(starts) else None
            if not isinstance(rec, dict):
                raise DataFileError(path, where, f"record {i} is not a JSON object")
            sats.append(_omm_satrec(rec, path, where))
            names.append(str(rec["OBJECT_NAME"]).strip())
    else:
        reader = csv.DictReader(text.splitlines())
        missing = [k for k in _OMM_REQUIRED if k not in (reader.fieldnames or [])]
        if missing:
            raise DataFileError(path, 1, f"OMM CSV header lacks column(s) {', '.join(missing)}")
        for i, row in enumerate(reader):
            sats.append(_omm_satrec(row, path, i + 2))
            names.append(row["OBJECT_NAME"].strip())
    if not sats:
        raise DataFileError(path, None, "no OMM record found in the file")
    return Sgp4Set(sats, names, str(path))


_EPH_COLUMNS = ("time_utc", "x_km", "y_km", "z_km")
_EPH_VEL = ("vx_km_s", "vy_km_s", "vz_km_s")


def _parse_eph_time(s):
    s = s.strip()
    for fmt in ("%d %b %Y %H:%M:%S.%f", "%d %b %Y %H:%M:%S"):  # GMAT / STK UTCGregorian
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return parse_utc(s, "time_utc")


def read_ephemeris_csv(path):
    """Read an external ephemeris CSV into an :class:`InterpolatedSet`.

    Columns: ``time_utc`` (ISO-8601, or GMAT/STK "01 Jan 2024 00:00:00.000"), ``x_km, y_km,
    z_km`` in GCRS/J2000, optional ``vx_km_s, vy_km_s, vz_km_s`` and optional ``name`` for several
    satellites in one file.  Times must increase strictly for each satellite.
    """
    path = Path(path)
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, None, f"cannot read ephemeris file: {exc.strerror}") from None
    try:
        with fh:
            return _read_ephemeris_rows(path, fh)
    except UnicodeDecodeError as exc:
        raise DataFileError(path, None, f"not a UTF-8 text file (byte at offset {exc.start}): "
                                        f"an ephemeris is CSV text") from None
    except csv.Error as exc:
        raise DataFileError(path, None, f"not a readable CSV file: {exc}") from None


def _read_ephemeris_rows(path, fh):
    """The rows of an open ephemeris CSV as an :class:`InterpolatedSet` (errors name the
    file's own line numbers, comment lines counted)."""
    last = [0]

    def lines():
        for number, line in enumerate(fh, 1):
            if not line.lstrip().startswith("#"):
                last[0] = number
                yield line

    reader = csv.DictReader(lines())
    cols = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = cols
    missing = [c for c in _EPH_COLUMNS if c not in cols]
    if missing:
        raise DataFileError(path, last[0] or 1,
                            f"missing column(s) {', '.join(missing)}; expected "
                            f"{', '.join(_EPH_COLUMNS)} [, {', '.join(_EPH_VEL)}] [, name]")
    has_v = all(c in cols for c in _EPH_VEL)
    per_sat = {}
    for row in reader:
        lineno = last[0]
        name = (row.get("name") or path.stem).strip()
        try:
            t = _parse_eph_time(row["time_utc"] or "")
        except (ScenarioError, AttributeError, TypeError):
            raise DataFileError(path, lineno, f"column time_utc: cannot read time "
                                              f"{row['time_utc']!r}") from None
        vals = [parse_number(row[c], path, lineno, c)
                for c in _EPH_COLUMNS[1:] + (_EPH_VEL if has_v else ())]
        rows = per_sat.setdefault(name, [])
        if rows and t <= rows[-1][0]:
            raise DataFileError(path, lineno, f"times of {name} must increase strictly: "
                                              f"{t.isoformat()} follows {rows[-1][0].isoformat()}")
        rows.append((t, vals))
    if not per_sat:
        raise DataFileError(path, None, "no ephemeris rows")
    names, tables = [], []
    for name, rows in per_sat.items():
        if len(rows) < 4:
            raise DataFileError(path, None, f"{name}: at least 4 rows are needed to interpolate")
        t_first = rows[0][0]
        dt = np.array([(r[0] - t_first).total_seconds() for r in rows])
        arr = np.array([r[1] for r in rows])
        names.append(name)
        tables.append(((t_first, dt), arr[:, :3], arr[:, 3:6] if has_v else None))
    return InterpolatedSet(names, tables, str(path))
